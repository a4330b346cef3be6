"""The notebooks are thin, clean and documented (style.md rule 10), and run as saved (nbval)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
#: Parameters each notebook must take (the packet notebook's are the batch's contract).
PARAMETERS = {
    "lea_packet.ipynb": (
        "lea_id", "data_dir", "out_dir", "profile", "results_path", "indicators_path",
        "annotations_db", "annotations_json", "monitoring_path", "audience", "lea_tables",
    ),
    "state_overview.ipynb": (
        "data_dir", "profile", "results_path", "out_dir", "monitoring_path", "lea_tables",
    ),
}  # fmt: skip


def _code_cells(path: Path) -> list:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def test_both_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= set(PARAMETERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in _code_cells(path):
        assert cell.outputs == [], cell.source[:60]
        assert cell.execution_count is None, cell.source[:60]
    assert "papermill" not in nb.metadata  # not an executed copy


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_logic_in_notebooks(path):
    """No def, class or loop: every step is a call into cimrca."""
    for cell in _code_cells(path):
        tree = ast.parse(cell.source)
        kinds = {type(node).__name__ for node in ast.walk(tree)}
        banned = kinds & {
            "FunctionDef", "AsyncFunctionDef", "ClassDef", "For", "AsyncFor", "While",
            "ListComp", "DictComp", "SetComp", "GeneratorExp", "Lambda", "If",
        }  # fmt: skip
        assert not banned, f"{path.name}: {banned} in\n{cell.source}"
        assert not re.search(r"^\s*(def|class|for) ", cell.source, flags=re.MULTILINE)
        if "parameters" not in cell.metadata.get("tags", []):  # declarations, one per line
            assert len(cell.source.splitlines()) <= 12, cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_typed_parameters(path):
    first = _code_cells(path)[0]
    assert "parameters" in first.metadata.get("tags", [])
    lines = [ln for ln in first.source.splitlines() if ln.strip() and not ln.startswith("#")]
    names = []
    for line in lines:
        m = re.match(r'^(\w+): str = "[^"]*"  # \S.*$', line)
        assert m, f"not a typed, commented literal: {line!r}"
        names.append(m.group(1))
    assert tuple(names) == PARAMETERS[path.name]


def test_packet_parameter_defaults():
    first = _code_cells(REPO / "notebooks" / "lea_packet.ipynb")[0].source
    assert 'lea_id: str = "2071593"  # CDE 7-digit LEA code' in first
    assert 'data_dir: str = "../data/sample"' in first
    assert 'out_dir: str = "../out/hand"' in first  # out/ is git-ignored
    assert 'annotations_db: str = ""  #' in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_documents_every_parameter(path):
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name in PARAMETERS[path.name]:
        # "  name: str (default ...)" followed by the comment as help text (on the same line
        # when the name is short)
        block = re.search(rf"^\s+{name}: str \(default [^)]*\)\s+(\S.*)$", done.stdout, re.M)
        assert block, f"{name} missing from:\n{done.stdout}"
        assert block.group(1).strip()


@pytest.mark.slow
def test_notebooks_run_as_saved_with_nbval():
    """``pytest --nbval-lax notebooks/``: both notebooks run from notebooks/ with defaults."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "notebooks/",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-q",
            "--nbval-cell-timeout=600",
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", done.stdout), done.stdout[-2000:]
    assert (REPO / "out" / "hand" / "2071593_workbook.xlsx").is_file()
    assert (REPO / "out" / "hand" / "state_overview_leas.csv").is_file()
