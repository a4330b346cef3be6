"""cimrca installed from a wheel, without the checkout: notebooks, templates and prompts travel
inside the package, and ``cimrca batch`` runs from a folder outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLE

IDENTIFIED = "2071593"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )  # fmt: skip
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        ROOT,
    )
    (built,) = folder.glob("cimrca-*.whl")
    return built


@pytest.mark.slow
def test_wheel_carries_notebooks_templates_and_prompts(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "cimrca/_resources/notebooks/lea_packet.ipynb",
        "cimrca/_resources/notebooks/state_overview.ipynb",
        "cimrca/_resources/templates/packet/index.html.j2",
        "cimrca/_resources/templates/root_cause_prompts.yaml",
        "cimrca/state_profiles/california.yaml",
    ):
        assert needed in names, needed


@pytest.mark.slow
def test_installed_wheel_runs_a_batch_outside_the_checkout(wheel, tmp_path):
    # A fresh virtual environment holding only the wheel (no -e, no kernel spec, no copied
    # files); its dependencies are the test environment's, reached through a .pth line, which
    # adds that folder without running its .pth files (so the checkout's editable cimrca stays
    # out of reach).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
          str(wheel)], tmp_path)  # fmt: skip
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
             tmp_path).stdout.strip()
    )  # fmt: skip
    deps = sysconfig.get_paths()["purelib"]
    (site / "test_environment_dependencies.pth").write_text(deps + "\n", encoding="utf-8")

    # nbconvert's own templates are data files of that environment, found on JUPYTER_PATH (an
    # installed nbconvert puts them in its environment's share/jupyter)
    data = tmp_path / "dependency-data"
    data.mkdir()
    (data / "nbconvert").symlink_to(Path(sys.prefix) / "share" / "jupyter" / "nbconvert")

    work = tmp_path / "elsewhere"
    shutil.copytree(SAMPLE, work / "data")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CIMRCA_", "PYTHON", "JUPYTER"))
    }
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "")
    env["JUPYTER_PATH"] = str(data)
    where = _run([str(python), "-c", "import cimrca, cimrca.resources as r; "
                  "print(cimrca.__file__); print(r.resource_root())"], work, env)  # fmt: skip
    module, root = where.stdout.split()
    assert Path(module).is_relative_to(venv) and Path(root).is_relative_to(venv)

    cli = bindir / ("cimrca.exe" if os.name == "nt" else "cimrca")
    _run([str(cli), "batch", "data", "--out", "out", "--lea", IDENTIFIED, "--jobs", "1"], work, env)
    files = work / "out" / "leas" / IDENTIFIED
    for name in (f"{IDENTIFIED}_workbook.xlsx", f"{IDENTIFIED}.html", f"{IDENTIFIED}.ipynb",
                 f"{IDENTIFIED}_findings.json"):  # fmt: skip
        assert (files / name).is_file(), name
    assert "SYNTHETIC DATA" in (files / f"{IDENTIFIED}.html").read_text(encoding="utf-8")
    _assert_no_path(work / "out", ROOT)
    _assert_no_path(work / "out", venv)


def _assert_no_path(out: Path, machine_path: Path) -> None:
    """No file the batch wrote (xlsx parts included) names ``machine_path``."""
    needles = {str(machine_path), machine_path.as_posix(), str(machine_path).replace("\\", "\\\\")}
    for path in out.rglob("*"):
        if not path.is_file() or path.suffix in (".sqlite", ".parquet", ".lock"):
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                texts = {f"{path}!{n}": z.read(n).decode("utf-8", "replace") for n in z.namelist()}
        else:
            texts = {str(path): path.read_text(encoding="utf-8", errors="replace")}
        for where, text in texts.items():
            assert not any(n in text for n in needles), f"{where} names {machine_path}"


@pytest.mark.slow
def test_batch_outputs_name_no_path_of_the_checkout(tmp_path):
    # the development install: notebooks, templates and prompts come from the checkout, and
    # still no output names where the checkout lives (README decision 14)
    shutil.copytree(SAMPLE, tmp_path / "data")
    _run([sys.executable, "-m", "cimrca", "batch", "data", "--out", "out", "--lea", IDENTIFIED,
          "--jobs", "1"], tmp_path)  # fmt: skip
    _assert_no_path(tmp_path / "out", ROOT)
