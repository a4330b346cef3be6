"""Issue 16, batch side (outputs.md section 5.1): conflicts in view, baselines relative to
OUT_DIR, the re-check before a workbook is replaced, bounded cells, no litter.

Each test reproduces a scenario of the issue and fails on the code before the change. The fast
ones call the batch's pieces for one LEA of ``data/sample`` in the order the batch does (the
parent's harvest and hand-over file, then what the packet notebook runs:
``load_packet(annotations_json=...)`` and ``write_packet_workbook``, then the parent's record of
the new baseline); the slow ones run ``cimrca batch`` as a real subprocess. Workbooks are edited
with openpyxl and saved, as a spreadsheet program would.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cimrca import annotations as ann
from cimrca import packet as cp
from cimrca.atomic import temp_files_for
from cimrca.errors import WorkbookError
from cimrca.layout import (
    CONFLICTS_SHEET,
    GLOSSARY_SHEET,
    KEY_HEADER,
    ORPHANS_SHEET,
    SHEETS,
    display_header,
)
from cimrca.outputs import OutputLayout
from cimrca.workbook.writer import CUT_MARKER

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
#: Significantly disproportionate in ident_ed for BL (data/sample/README.md): its workbook has a
#: Disproportionality row with that key.
LEA = "2071593"
FINDING = "2024-25:ident_ed:BL"
NOTE = ("Disproportionality", FINDING, "consultant_note")
#: Excel's largest cell text (Excel specifications and limits).
EXCEL_CELL_LIMIT = 32_767

pytestmark = pytest.mark.xdist_group("batch")


# ------------------------------------------------------------------------------------------------
# helpers: the batch's steps for one LEA, and a consultant's edit
# ------------------------------------------------------------------------------------------------


def prepare(store: ann.AnnotationStore, out: OutputLayout) -> ann.Rewrite:
    """What ``_Run.prepare`` does in the parent: harvest, then write the hand-over file."""
    files = out.lea(LEA)
    keys = cp.load_packet(LEA, data_dir=SAMPLE).workbook_keys
    rewrite = ann.prepare_rewrite(store, LEA, files.workbook, keys, command="batch")
    ann.write_annotations_json(rewrite, files.annotations_json)
    return rewrite


def notebook_writes(out: OutputLayout) -> Path:
    """What the packet notebook does with the hand-over file."""
    files = out.lea(LEA)
    packet = cp.load_packet(LEA, data_dir=SAMPLE, annotations_json=files.annotations_json)
    return cp.write_packet_workbook(packet, files.folder)


def rebuild(store: ann.AnnotationStore, out: OutputLayout) -> ann.Rewrite:
    rewrite = prepare(store, out)
    notebook_writes(out)
    assert ann.finish_rewrite(store, LEA, out.lea(LEA).workbook, rewrite) == []
    return rewrite


def _note_cell(ws) -> tuple[int, int]:
    header = next(r for r in ws.iter_rows() if r[0].value == display_header(KEY_HEADER))
    col = next(c.column for c in header if c.value == display_header(NOTE[2]))
    row = next(r[0].row for r in ws.iter_rows() if r[0].value == FINDING)
    return row, col


def type_note(path: Path, text: str) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb[NOTE[0]]
    ws.cell(*_note_cell(ws)).value = text
    wb.save(path)


def note_in(path: Path) -> str | None:
    ws = openpyxl.load_workbook(path)[NOTE[0]]
    return ws.cell(*_note_cell(ws)).value


def import_note(store: ann.AnnotationStore, folder: Path, text: str, key=NOTE) -> None:
    path = folder / f"import_{len(list(folder.glob('import_*.csv')))}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["lea_id", "sheet", "finding_id", "column", "value"])
        writer.writerow([LEA, *key, text])
    ann.import_csv(store, path)


@pytest.fixture
def out(tmp_path) -> OutputLayout:
    layout = OutputLayout(tmp_path / "out")
    layout.lea(LEA).folder.mkdir(parents=True)
    return layout


# ------------------------------------------------------------------------------------------------
# 1. A conflict never hides a value
# ------------------------------------------------------------------------------------------------


def test_conflict_keeps_the_typed_value_and_lists_the_other(out, tmp_path):
    """Issue 16 point 1: A typed, re-run, B imported, C typed, re-run: the cell shows C (before:
    B, with C only in the history), B is on a Conflicts sheet after the eight."""
    with ann.AnnotationStore(out.annotations_store) as store:
        rebuild(store, out)
        type_note(out.lea(LEA).workbook, "A")
        rebuild(store, out)
        import_note(store, tmp_path, "B")
        type_note(out.lea(LEA).workbook, "C")
        rewrite = rebuild(store, out)
        (found,) = rewrite.harvest.conflicts
        assert (found.workbook_value, found.store_value) == ("C", "B")
        history = store.history_frame(LEA)
        kinds = dict(zip(history["kind"], history["value"], strict=False))
        assert kinds["conflict_workbook"] == "C" and kinds["conflict_store"] == "B"
        ann.write_conflicts_csv(store, out.conflicts_csv)
    path = out.lea(LEA).workbook
    assert note_in(path) == "C"
    wb = openpyxl.load_workbook(path)
    # after the eight, the CIM sheets and the glossary; before the orphans and the lists
    names = wb.sheetnames
    assert names[: len(SHEETS)] == list(SHEETS)
    assert names.index(GLOSSARY_SHEET) + 1 == names.index(CONFLICTS_SHEET)
    rows = [
        [c for c in r if c is not None] for r in wb[CONFLICTS_SHEET].iter_rows(values_only=True)
    ]
    assert ["Disproportionality", FINDING, "Note", "C", "B"] in [r[:5] for r in rows]
    listed = pd.read_csv(out.conflicts_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(listed.columns) == list(ann.CONFLICT_COLUMNS)
    assert listed[["lea_id", "workbook_value", "store_value"]].values.tolist() == [[LEA, "C", "B"]]
    assert listed.loc[0, "store_source"].startswith("import:")


def test_conflict_sheet_goes_once_the_cell_changes_again(out, tmp_path):
    with ann.AnnotationStore(out.annotations_store) as store:
        rebuild(store, out)
        type_note(out.lea(LEA).workbook, "A")
        rebuild(store, out)
        import_note(store, tmp_path, "B")
        type_note(out.lea(LEA).workbook, "C")
        rebuild(store, out)
        rebuild(store, out)  # nothing changed: still listed
        assert CONFLICTS_SHEET in openpyxl.load_workbook(out.lea(LEA).workbook).sheetnames
        type_note(out.lea(LEA).workbook, "B")  # the consultant takes the other value
        rebuild(store, out)
    assert note_in(out.lea(LEA).workbook) == "B"
    assert CONFLICTS_SHEET not in openpyxl.load_workbook(out.lea(LEA).workbook).sheetnames


# ------------------------------------------------------------------------------------------------
# 2. Baselines relative to OUT_DIR
# ------------------------------------------------------------------------------------------------


def test_moved_out_dir_keeps_the_revision(tmp_path):
    """Issue 16 point 2: build to o1, type A, re-run, mv o1 o2, type A2, re-run: A2 (before: A)."""
    o1, o2 = OutputLayout(tmp_path / "o1"), OutputLayout(tmp_path / "o2")
    o1.lea(LEA).folder.mkdir(parents=True)
    with ann.AnnotationStore(o1.annotations_store) as store:
        rebuild(store, o1)
        type_note(o1.lea(LEA).workbook, "A")
        rebuild(store, o1)
    shutil.move(o1.root, o2.root)
    type_note(o2.lea(LEA).workbook, "A2")
    with ann.AnnotationStore(o2.annotations_store) as store:
        rewrite = rebuild(store, o2)
        assert rewrite.harvest.conflicts == () and rewrite.harvest.changed == 1
        assert ann.annotations_for(store, LEA)[NOTE] == "A2"
        ids = {w for (w,) in store._conn.execute("SELECT workbook FROM harvested")}
    assert note_in(o2.lea(LEA).workbook) == "A2"
    assert ids == {f"leas/{LEA}/{LEA}_workbook.xlsx"}  # relative to OUT_DIR, no absolute path


def test_store_of_an_earlier_version_keyed_by_absolute_path(tmp_path):
    """A store written before this change names workbooks by absolute path: still read, after a
    move too, and re-keyed by the next harvest."""
    o1, o2 = OutputLayout(tmp_path / "o1"), OutputLayout(tmp_path / "o2")
    o1.lea(LEA).folder.mkdir(parents=True)
    with ann.AnnotationStore(o1.annotations_store) as store:
        rebuild(store, o1)
        type_note(o1.lea(LEA).workbook, "A")
        rebuild(store, o1)
        with store.transaction() as conn:  # what the earlier version recorded
            conn.execute(
                "UPDATE harvested SET workbook = ?", (str(o1.lea(LEA).workbook.resolve()),)
            )
    shutil.move(o1.root, o2.root)
    type_note(o2.lea(LEA).workbook, "A2")
    with ann.AnnotationStore(o2.annotations_store) as store:
        rewrite = rebuild(store, o2)
        assert rewrite.harvest.conflicts == ()
        ids = {w for (w,) in store._conn.execute("SELECT workbook FROM harvested")}
    assert note_in(o2.lea(LEA).workbook) == "A2"
    assert ids == {f"leas/{LEA}/{LEA}_workbook.xlsx"}


# ------------------------------------------------------------------------------------------------
# 3. Re-check before replacing
# ------------------------------------------------------------------------------------------------


def test_edit_saved_while_the_lea_is_rebuilt_is_kept(out):
    """Issue 16 point 3: a save after the harvest and before the notebook replaces the workbook
    was lost (in neither the workbook, the store nor the history)."""
    with ann.AnnotationStore(out.annotations_store) as store:
        rebuild(store, out)
        type_note(out.lea(LEA).workbook, "A")
        prepare(store, out)  # the parent harvested "A"
        type_note(out.lea(LEA).workbook, "saved during the rebuild")
        with pytest.raises(WorkbookError, match="was not replaced and keeps that edit"):
            notebook_writes(out)
        assert note_in(out.lea(LEA).workbook) == "saved during the rebuild"
        assert not temp_files_for(out.lea(LEA).workbook)  # the new file was not left beside it
        # the next run harvests it
        rebuild(store, out)
        assert ann.annotations_for(store, LEA)[NOTE] == "saved during the rebuild"
    assert note_in(out.lea(LEA).workbook) == "saved during the rebuild"


def test_workbook_created_during_the_first_build_is_kept(out):
    with ann.AnnotationStore(out.annotations_store) as store:
        prepare(store, out)  # no workbook yet
        out.lea(LEA).workbook.write_bytes(b"a file saved there meanwhile")
        with pytest.raises(WorkbookError, match="not replaced"):
            notebook_writes(out)
    assert out.lea(LEA).workbook.read_bytes() == b"a file saved there meanwhile"


def test_untouched_workbook_is_replaced(out):
    """The check passes when the file is the one harvested, even if only its time changed."""
    with ann.AnnotationStore(out.annotations_store) as store:
        rebuild(store, out)
        type_note(out.lea(LEA).workbook, "A")
        rewrite = prepare(store, out)
        os.utime(out.lea(LEA).workbook)  # touched, same bytes
        notebook_writes(out)
        assert ann.finish_rewrite(store, LEA, out.lea(LEA).workbook, rewrite) == []
    assert note_in(out.lea(LEA).workbook) == "A"


# ------------------------------------------------------------------------------------------------
# 4. History never breaks a packet
# ------------------------------------------------------------------------------------------------


def test_long_revised_orphan_note_fits_and_export_has_it_all(out, tmp_path):
    """Issue 16 point 4: eleven revisions of a 3,000-character note for 2023-24:ident_ed:BL
    (an earlier year: orphaned) put 33,000+ characters of history in one cell and failed the LEA
    on every run; now the cell is cut with a marker and the export has every revision."""
    key = ("Disproportionality", "2023-24:ident_ed:BL", "consultant_note")
    revisions = [(f"revision {i:02d} " + "x" * 3000)[:3000] for i in range(11)]
    with ann.AnnotationStore(out.annotations_store) as store:
        for text in revisions:
            import_note(store, tmp_path, text, key=key)
        rebuild(store, out)
        export = tmp_path / "history.csv"
        ann.export_csv(store, export, history=True)
    wb = openpyxl.load_workbook(out.lea(LEA).workbook)
    ws = wb[ORPHANS_SHEET]
    texts = [str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert max(len(t) for t in texts) <= EXCEL_CELL_LIMIT
    history = next(t for t in texts if CUT_MARKER in t)
    assert history.startswith(CUT_MARKER)  # the oldest lines were cut, the latest kept
    assert "revision 10 " in history and "revision 00 " not in history
    assert revisions[-1] in texts  # the orphan's current value, whole
    rows = pd.read_csv(export, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert rows.loc[rows["finding_id"] == key[1], "value"].tolist() == revisions


# ------------------------------------------------------------------------------------------------
# 1 and 2 end to end: `cimrca batch` subprocesses
# ------------------------------------------------------------------------------------------------


def _batch(
    out: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--lea", LEA,
         "--jobs", "1", *extra],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.slow
def test_batch_conflict_scenario(tmp_path):
    """The issue's steps with `cimrca batch` and `annotations import`: the cell keeps C, exit 0,
    the summary counts the conflict, conflicts.csv lists B."""
    out = OutputLayout(tmp_path / "O")
    assert _batch(out.root).returncode == 0
    type_note(out.lea(LEA).workbook, "A")
    assert _batch(out.root).returncode == 0
    csv_path = tmp_path / "b.csv"
    csv_path.write_text(
        f"lea_id,sheet,finding_id,column,value\n{LEA},Disproportionality,{FINDING},"
        "consultant_note,B\n",
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "cimrca", "annotations", "import", str(out.annotations_store),
         "--csv", str(csv_path)], check=True, cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    type_note(out.lea(LEA).workbook, "C")
    proc = _batch(out.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert note_in(out.lea(LEA).workbook) == "C"
    assert "1 annotation conflict(s) found in this run" in proc.stdout
    assert "'C' kept in its cell" in proc.stdout and "'B'" in proc.stdout
    listed = pd.read_csv(out.conflicts_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert listed[["workbook_value", "store_value"]].values.tolist() == [["C", "B"]]
    assert CONFLICTS_SHEET in openpyxl.load_workbook(out.lea(LEA).workbook).sheetnames


@pytest.mark.slow
def test_batch_moved_out_dir_scenario(tmp_path):
    o1, o2 = OutputLayout(tmp_path / "o1"), OutputLayout(tmp_path / "o2")
    assert _batch(o1.root).returncode == 0
    type_note(o1.lea(LEA).workbook, "A")
    assert _batch(o1.root).returncode == 0
    shutil.move(o1.root, o2.root)
    type_note(o2.lea(LEA).workbook, "A2")
    proc = _batch(o2.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert note_in(o2.lea(LEA).workbook) == "A2"
    assert "conflict" not in proc.stdout


# ------------------------------------------------------------------------------------------------
# 5. No litter
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_batch_leaves_nothing_in_the_temporary_folder(tmp_path):
    """Issue 16 point 9: every worker left cimrca-kernel-<pid>.log in the system's temporary
    folder, and killed kernels their connection files."""
    tmp = Path(tempfile.mkdtemp(prefix="t", dir="/tmp" if os.name == "posix" else None))
    try:
        out = tmp_path / "out"
        proc = _batch(out, env={"TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        left = sorted(p.name for p in tmp.rglob("*"))
        assert not [n for n in left if n.startswith("cimrca-kernel-") or n.startswith("kernel-")]
        assert left == [], left
        assert not [p for p in out.rglob("*") if "kernel" in p.name]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
