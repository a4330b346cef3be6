"""Tests of cimrca.annotations and cimrca.atomic with real workbooks, databases and processes.

Workbooks follow the layout contract of cimrca.layout: a header row whose column A reads
``finding_id`` and the annotation headers of ``layout.ANNOTATION_COLUMNS``. "Regenerated"
workbooks are written with xlsxwriter (as cimrca.workbook does); consultants' edits are made with
openpyxl the way a spreadsheet program saves them (load, set cell values, save).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from cimrca import annotations as ann
from cimrca.atomic import atomic_path, atomic_write_bytes, remove_stale_temps, temp_files_for
from cimrca.codes import CATEGORY_CODES
from cimrca.errors import AnnotationError, UsageError, WorkbookError
from cimrca.layout import (
    ANNOTATION_COLUMNS,
    KEY_HEADER,
    ORPHANS_SHEET,
    PREVIOUS_NOTE_HEADER,
    header_names,
)

LEA = "0100001"
OTHER_LEA = "0100002"
Y1, Y2 = "2023-24", "2024-25"
F1 = f"{Y2}:ident_all:HI"  # finding keys: <school_year>:<category>:<race_ethnicity> (outputs.md s4)
F2 = f"{Y2}:ident_ed:BL"
IND = f"{Y2}:indicator:B05A"
RC1 = f"{F1}:rc:1"
ROWS = {
    "Disproportionality": [F1, F2],
    "Indicators": [IND],
    "Root Causes": [RC1],
    "Action Plan": [f"{F1}:ap:1"],
}
LONG_NOTE = ("Überprüfung – niño, 学区; " * 250)[:5000]  # 5,000 characters, non-ASCII


def current_keys(rows: dict[str, list[str]] = ROWS) -> list[tuple[str, str]]:
    return [(sheet, fid) for sheet, fids in rows.items() for fid in fids]


def write_layout_workbook(
    path: Path,
    rows: dict[str, list[str]] = ROWS,
    values: dict[tuple[str, str, str], str] | None = None,
    previous: dict[str, str] | None = None,
) -> None:
    """A workbook in the layout contract, written with xlsxwriter the way the writer does."""
    import xlsxwriter

    values = values or {}
    previous = previous or {}
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Summary").write_string(0, 0, f"LEA {LEA}")
    for sheet, columns in ANNOTATION_COLUMNS.items():
        ws = wb.add_worksheet(sheet)
        ws.write_string(0, 0, f"{sheet} - LEA {LEA}")  # a title row above the header row
        headers = [KEY_HEADER, "ratio", *columns, PREVIOUS_NOTE_HEADER]
        for col, header in enumerate(headers):
            ws.write_string(2, col, header)
        for r, fid in enumerate(rows.get(sheet, []), start=3):
            ws.write_string(r, 0, fid)
            ws.write_number(r, 1, 2.5 + r)
            for col, column in enumerate(columns, start=2):
                value = values.get((sheet, fid, column))
                if value is not None:
                    ws.write_string(r, col, value)
            if fid in previous:
                ws.write_string(r, len(headers) - 1, previous[fid])
    wb.add_worksheet(ORPHANS_SHEET).write_string(0, 0, KEY_HEADER)
    wb.close()


def consultant_edit(path: Path, edits: dict[tuple[str, str, str], object]) -> None:
    """Edit annotation cells with openpyxl and save, as a spreadsheet program would.

    A string value starting with "=" is stored as text (what typing '=1+1 does), not a formula.
    ``None`` clears the cell.
    """
    from openpyxl import load_workbook

    wb = load_workbook(path)
    for (sheet, fid, column), value in edits.items():
        ws = wb[sheet]
        header_row = next(r for r in ws.iter_rows() if r[0].value in header_names(KEY_HEADER))
        col = next(c.column for c in header_row if c.value in header_names(column))
        row = next(
            r[0].row for r in ws.iter_rows(min_row=header_row[0].row + 1) if r[0].value == fid
        )
        cell = ws.cell(row=row, column=col)
        cell.value = value
        if isinstance(value, str) and value.startswith("="):
            cell.data_type = "s"
    wb.save(path)


@pytest.fixture
def store(tmp_path):
    with ann.AnnotationStore(tmp_path / "annotations.sqlite") as s:
        yield s


@pytest.fixture
def out_dir(tmp_path):
    out = tmp_path / "out"
    (out / "leas" / LEA).mkdir(parents=True)
    return out


def regenerate(store, path: Path, rows=ROWS) -> ann.Rewrite:
    """The batch's sequence for one LEA: prepare, write atomically, finish."""
    rewrite = ann.prepare_rewrite(store, LEA, path, current_keys(rows))
    with atomic_path(path) as tmp:
        write_layout_workbook(tmp, rows, rewrite.annotations, rewrite.previous_notes)
    assert ann.finish_rewrite(store, LEA, path, rewrite) == []
    return rewrite


EDITS = {
    ("Disproportionality", F1, "status"): "Confirmed",
    ("Disproportionality", F1, "consultant_note"): LONG_NOTE,
    ("Disproportionality", F1, "reviewer"): "Zoë O'Brien",
    ("Disproportionality", F1, "reviewed_on"): dt.date(2024, 10, 3),
    ("Disproportionality", F2, "consultant_note"): "=1+1",
    ("Indicators", IND, "consultant_note"): "line one\nline two\n\nline four",
    ("Root Causes", RC1, "response"): "Referral practices differ by site",
    ("Action Plan", f"{F1}:ap:1", "owner"): "Director, Student Services",
}
EXPECTED = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in EDITS.items()}


# --------------------------------------------------------------------------------------------
# round trip


def test_edit_harvest_regenerate_round_trip(store, out_dir):
    path = ann.workbook_path(out_dir, LEA)
    regenerate(store, path)  # first run: no workbook yet, nothing stored
    consultant_edit(path, EDITS)
    assert ann.read_workbook_annotations(path) == EXPECTED

    rewrite = regenerate(store, path)
    assert rewrite.harvest is not None
    assert (rewrite.harvest.new, rewrite.harvest.changed, rewrite.harvest.conflicts) == (8, 0, ())
    assert rewrite.annotations == EXPECTED
    assert rewrite.orphans.empty
    # the regenerated workbook carries every value back, exactly
    back = ann.read_workbook_annotations(path)
    assert back == EXPECTED
    assert len(back[("Disproportionality", F1, "consultant_note")]) == 5000
    # a second harvest finds nothing new
    again = ann.harvest_workbook(store, LEA, path, command="test")
    assert (again.new, again.changed, again.unchanged, again.conflicts) == (0, 0, 8, ())


def test_text_round_trips_exactly_through_xlsxwriter(tmp_path):
    path = tmp_path / "w.xlsx"
    tricky = {
        ("Disproportionality", F1, "consultant_note"): "a\r\nb\rc\n",  # Excel writes \r as _x000D_
        ("Disproportionality", F1, "reviewer"): "literal _x0041_ text",
        ("Disproportionality", F2, "consultant_note"): "=SUM(A1:A3)",
        ("Indicators", IND, "status"): "  leading and trailing spaces  ",
        ("Root Causes", RC1, "evidence"): "emoji 📊 and tab\there",
    }
    write_layout_workbook(tmp_path / "w.xlsx", values=tricky)
    assert ann.read_workbook_annotations(path) == tricky


def test_formula_typed_by_consultant_reads_as_its_text(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "w.xlsx"
    write_layout_workbook(path)
    wb = load_workbook(path)
    wb["Disproportionality"]["C4"] = "=1+1"  # a real formula cell (no cached value)
    wb["Disproportionality"]["D4"] = 3  # a number typed into the note
    wb["Disproportionality"]["F4"] = dt.datetime(2024, 10, 3, 14, 30)
    wb.save(path)
    got = ann.read_workbook_annotations(path)
    assert got[("Disproportionality", F1, "status")] == "=1+1"
    assert got[("Disproportionality", F1, "consultant_note")] == "3"
    assert got[("Disproportionality", F1, "reviewed_on")] == "2024-10-03T14:30:00"


def test_harvest_does_not_modify_the_workbook(store, tmp_path):
    path = tmp_path / "w.xlsx"
    write_layout_workbook(path, values={("Indicators", IND, "status"): "Confirmed"})
    before = path.read_bytes()
    ann.harvest_workbook(store, LEA, path, command="test")
    assert path.read_bytes() == before


def test_cleared_cell_clears_the_value_and_is_not_written_back(store, out_dir):
    path = ann.workbook_path(out_dir, LEA)
    regenerate(store, path)
    consultant_edit(path, EDITS)
    regenerate(store, path)
    key = ("Disproportionality", F1, "reviewer")
    consultant_edit(path, {key: None})
    rewrite = regenerate(store, path)
    assert rewrite.harvest.changed == 1
    assert key not in rewrite.annotations
    assert key not in ann.read_workbook_annotations(path)
    hist = store.history_frame(LEA)
    assert hist.loc[hist["column"] == "reviewer", "value"].tolist() == ["Zoë O'Brien", ""]


def test_missing_row_is_not_read_as_cleared(store, tmp_path):
    path = tmp_path / "w.xlsx"
    key = ("Disproportionality", F2, "status")
    write_layout_workbook(path, values={key: "Confirmed"})
    ann.harvest_workbook(store, LEA, path, command="test")
    write_layout_workbook(path, rows={"Disproportionality": [F1]})  # F2's row is gone
    report = ann.harvest_workbook(store, LEA, path, command="test")
    assert report.changed == 0
    assert ann.annotations_for(store, LEA) == {key: "Confirmed"}


# --------------------------------------------------------------------------------------------
# conflicts


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ann.CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def test_conflict_store_changed_by_import_and_workbook_changed(store, out_dir, tmp_path):
    path = ann.workbook_path(out_dir, LEA)
    key = ("Disproportionality", F1, "consultant_note")
    consultant_first = {key: "first note"}
    regenerate(store, path)
    consultant_edit(path, consultant_first)
    regenerate(store, path)  # store and workbook both hold "first note"

    # the store changes through an import, the workbook changes too
    csv_path = tmp_path / "edit.csv"
    _write_csv(
        csv_path,
        [dict(lea_id=LEA, sheet=key[0], finding_id=F1, column=key[2], value="from import")],
    )
    imported = ann.import_csv(store, csv_path)
    assert (imported.new, imported.changed, imported.unchanged) == (0, 1, 0)
    consultant_edit(path, {key: "from workbook"})

    report = ann.harvest_workbook(store, LEA, path, command="test")
    (found,) = report.conflicts
    assert found == ann.Conflict(
        LEA, *key, store_value="from import", workbook_value="from workbook",
        baseline_value="first note", store_source=f"import:{csv_path}",
        detected_at=found.detected_at,
    )  # fmt: skip
    assert "from import" in str(found) and "from workbook" in str(found)
    # outputs.md 5.1: the workbook's value (typed there last) is kept; the other is listed
    assert ann.annotations_for(store, LEA)[key] == "from workbook"
    listed = ann.open_conflicts(store, LEA)
    assert listed[["workbook_value", "store_value", "store_source"]].values.tolist() == [
        ["from workbook", "from import", f"import:{csv_path}"]
    ]
    kinds = store.history_frame(LEA).set_index("kind")["value"]
    assert kinds["conflict_store"] == "from import"
    assert kinds["conflict_workbook"] == "from workbook"
    assert kinds["import"] == "from import"
    # detected once: the next harvest of the same workbook is quiet, the conflict stays listed
    assert ann.harvest_workbook(store, LEA, path, command="test").conflicts == ()
    assert len(ann.open_conflicts(store, LEA)) == 1
    # resolved when the cell changes again: the consultant copies the other value in
    consultant_edit(path, {key: "from import"})
    assert ann.harvest_workbook(store, LEA, path, command="test").changed == 1
    assert ann.open_conflicts(store, LEA).empty
    assert ann.annotations_for(store, LEA)[key] == "from import"


def test_store_change_elsewhere_wins_over_unedited_workbook(store, tmp_path):
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"  # two copies of the same LEA's workbook
    key = ("Indicators", IND, "status")
    for p in (a, b):
        write_layout_workbook(p)
        ann.record_written(store, LEA, p, {})
    consultant_edit(a, {key: "Confirmed"})
    assert ann.harvest_workbook(store, LEA, a, command="test").new == 1
    report = ann.harvest_workbook(store, LEA, b, command="test")  # b was not edited
    assert (report.new, report.changed, report.conflicts) == (0, 0, ())
    assert ann.annotations_for(store, LEA) == {key: "Confirmed"}
    consultant_edit(b, {key: "Data question"})  # now b is edited too, from an old baseline
    report = ann.harvest_workbook(store, LEA, b, command="test")
    assert [(c.store_value, c.workbook_value) for c in report.conflicts] == [
        ("Confirmed", "Data question")
    ]


def test_unknown_baseline_with_different_value_is_a_conflict(store, tmp_path):
    path = tmp_path / "w.xlsx"
    key = ("Indicators", IND, "status")
    ann.import_csv(store, _csv_with(tmp_path, key, "Confirmed"))
    write_layout_workbook(path, values={key: "Addressed"})  # never recorded: no baseline
    report = ann.harvest_workbook(store, LEA, path, command="test")
    assert len(report.conflicts) == 1
    assert ann.annotations_for(store, LEA)[key] == "Addressed"  # the cell's value is kept
    assert ann.open_conflicts(store, LEA)["store_value"].tolist() == ["Confirmed"]


def _csv_with(tmp_path: Path, key, value: str, lea: str = LEA) -> Path:
    p = tmp_path / f"one_{abs(hash((key, value)))}.csv"
    _write_csv(p, [dict(lea_id=lea, sheet=key[0], finding_id=key[1], column=key[2], value=value)])
    return p


# --------------------------------------------------------------------------------------------
# orphans and previous notes


def test_orphans_are_kept_with_history_and_reason(store, out_dir):
    path = ann.workbook_path(out_dir, LEA)
    regenerate(store, path)
    consultant_edit(path, EDITS)
    regenerate(store, path)
    # next regeneration: F2 is no longer a finding; everything else stays
    rows = {**ROWS, "Disproportionality": [F1]}
    rewrite = regenerate(store, path, rows)
    orphans = rewrite.orphans
    assert list(orphans.columns) == list(ann.ORPHAN_COLUMNS)
    assert orphans[["sheet", "finding_id", "column", "value"]].values.tolist() == [
        ["Disproportionality", F2, "consultant_note", "=1+1"]
    ]
    assert orphans["reason"].tolist() == [ann.REASON_GONE]
    assert "new '=1+1'" in orphans["history"].iloc[0]
    assert ("Disproportionality", F2, "consultant_note") not in ann.read_workbook_annotations(path)
    # never dropped: still stored, and back in the workbook when the finding returns
    assert ann.annotations_for(store, LEA)[("Disproportionality", F2, "consultant_note")] == "=1+1"
    regenerate(store, path, ROWS)
    assert (
        ann.read_workbook_annotations(path)[("Disproportionality", F2, "consultant_note")] == "=1+1"
    )


def test_split_orphans_earlier_year_reason_and_input_not_mutated():
    stored = pd.DataFrame(
        [
            [
                LEA,
                "Disproportionality",
                f"{Y1}:ident_all:HI",
                "status",
                "Confirmed",
                "t",
                "s",
                "h1",
            ],
            [LEA, "Disproportionality", F1, "status", "Data question", "t", "s", "h2"],
            [
                LEA,
                "Disproportionality",
                "2025-26:ident_all:HI",
                "status",
                "Confirmed",
                "t",
                "s",
                "h3",
            ],
        ],
        columns=list(ann.STORED_COLUMNS),
    )
    copy = stored.copy()
    matching, orphans = ann.split_orphans(stored, [("Disproportionality", F1)])
    pd.testing.assert_frame_equal(stored, copy)
    assert matching == {("Disproportionality", F1, "status"): "Data question"}
    assert orphans["finding_id"].tolist() == [f"{Y1}:ident_all:HI", "2025-26:ident_all:HI"]
    assert orphans["reason"].tolist() == [ann.REASON_EARLIER_YEAR, ann.REASON_GONE]
    assert orphans["history"].tolist() == ["h1", "h3"]


def test_previous_notes_take_the_latest_earlier_year(store, tmp_path):
    rows = [
        ("Disproportionality", "2022-23:ident_all:HI", "status", "Data question"),
        ("Disproportionality", "2022-23:ident_all:HI", "consultant_note", "old note"),
        ("Disproportionality", f"{Y1}:ident_all:HI", "status", "Confirmed"),
        ("Disproportionality", f"{Y1}:ident_all:HI", "consultant_note", "check site B"),
        ("Disproportionality", F1, "consultant_note", "this year's own note"),  # same year: no
        ("Disproportionality", f"{Y1}:ident_ed:BL", "status", "Not reviewed"),  # says nothing
        ("Disproportionality", "2022-23:ident_ed:BL", "consultant_note", "only a note"),
        ("Indicators", f"{Y1}:indicator:B05A", "status", "Addressed"),
        ("Root Causes", f"{Y1}:ident_all:HI:rc:1", "response", "not a review"),
    ]
    p = tmp_path / "prev.csv"
    _write_csv(
        p, [dict(lea_id=LEA, sheet=s, finding_id=f, column=c, value=v) for s, f, c, v in rows]
    )
    ann.import_csv(store, p)
    got = ann.previous_notes_for(store, LEA, [F1, F2, IND, f"{Y2}:ident_all:WH", f"{F1}:rc:1"])
    assert got == {
        F1: "2023-24 - Confirmed: check site B",
        F2: "2022-23: only a note",
        IND: "2023-24 - Addressed",
    }
    assert ann.previous_notes_for(store, OTHER_LEA, [F1]) == {}


def test_prepare_rewrite_hands_previous_notes_to_the_writer(store, out_dir, tmp_path):
    path = ann.workbook_path(out_dir, LEA)
    old = f"{Y1}:ident_all:HI"
    ann.import_csv(store, _csv_with(tmp_path, ("Disproportionality", old, "status"), "Confirmed"))
    rewrite = regenerate(store, path)
    assert rewrite.previous_notes == {F1: "2023-24 - Confirmed"}
    assert rewrite.orphans["reason"].tolist() == [ann.REASON_EARLIER_YEAR]


# --------------------------------------------------------------------------------------------
# unreadable workbooks


def _corrupt_copies(tmp_path: Path) -> dict[str, bytes]:
    good = tmp_path / "good.xlsx"
    write_layout_workbook(good, values={("Indicators", IND, "status"): "Confirmed"})
    data = good.read_bytes()
    return {
        "random": os.urandom(4096),
        "truncated": data[: len(data) // 2],
        "empty": b"",
    }


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_corrupted_workbook_raises_and_is_not_replaced(store, out_dir, tmp_path, kind):
    path = ann.workbook_path(out_dir, LEA)
    data = _corrupt_copies(tmp_path)[kind]
    path.write_bytes(data)
    with pytest.raises(WorkbookError, match=rf"{LEA}_workbook\.xlsx.*cannot be read"):
        ann.read_workbook_annotations(path)
    with pytest.raises(WorkbookError, match="not replaced"):
        ann.prepare_rewrite(store, LEA, path, current_keys())
    assert path.read_bytes() == data
    assert store.history_frame().empty


def test_workbook_without_header_row_is_an_error(tmp_path):
    import xlsxwriter

    path = tmp_path / "w.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    wb.add_worksheet("Disproportionality").write_string(0, 0, "key")
    wb.close()
    with pytest.raises(WorkbookError, match="sheet 'Disproportionality': no header row"):
        ann.read_workbook_annotations(path)


def test_duplicate_finding_id_is_an_error(tmp_path):
    path = tmp_path / "w.xlsx"
    write_layout_workbook(path, rows={"Disproportionality": [F1, F1]})
    with pytest.raises(WorkbookError, match=r"appears in rows 4 and 5") as info:
        ann.read_workbook_annotations(path)
    assert info.value.row == 5


def test_workbook_open_elsewhere_is_not_replaced(store, out_dir):
    path = ann.workbook_path(out_dir, LEA)
    write_layout_workbook(path)
    (path.parent / f".~lock.{path.name}#").write_text("user,host")
    with pytest.raises(WorkbookError, match="open in another program"):
        ann.prepare_rewrite(store, LEA, path, current_keys())


def test_harvest_out_dir_reports_failed_lea_and_harvests_the_rest(store, out_dir, tmp_path):
    good = ann.workbook_path(out_dir, LEA)
    write_layout_workbook(good, values={("Indicators", IND, "status"): "Confirmed"})
    bad = ann.workbook_path(out_dir, OTHER_LEA)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    reports = ann.harvest_out_dir(out_dir, store)
    assert [(r.lea_id, r.ok, r.new) for r in reports] == [(LEA, True, 1), (OTHER_LEA, False, 0)]
    assert "cannot be read" in reports[1].summary()


# --------------------------------------------------------------------------------------------
# the store


def test_history_is_append_only(store, out_dir, tmp_path):
    path = ann.workbook_path(out_dir, LEA)
    sizes = [len(store.history_frame())]
    regenerate(store, path)
    consultant_edit(path, EDITS)
    for step in range(3):
        regenerate(store, path)
        consultant_edit(path, {("Indicators", IND, "status"): f"step {step}"})
        sizes.append(len(store.history_frame()))
    ann.import_csv(store, _csv_with(tmp_path, ("Indicators", IND, "status"), "Addressed"))
    sizes.append(len(store.history_frame()))
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    first = store.history_frame().iloc[: sizes[1]]
    pd.testing.assert_frame_equal(store.history_frame().iloc[: sizes[1]], first)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE history SET value = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM history")
    conn.close()


def test_store_uses_wal_and_records_schema_version(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(ann.SCHEMA_VERSION,)]
    conn.close()


def test_foreign_sqlite_file_and_missing_store_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(AnnotationError, match="not an annotation store"):
        ann.AnnotationStore(other)
    with pytest.raises(AnnotationError, match="no annotation store there"):
        ann.AnnotationStore(tmp_path / "missing.sqlite", create=False)
    (tmp_path / "junk.sqlite").write_bytes(b"x" * 2048)
    with pytest.raises(AnnotationError, match="not a usable annotation store"):
        ann.AnnotationStore(tmp_path / "junk.sqlite")


def test_import_rejects_bad_rows_with_file_row_column_value(store, tmp_path):
    p = tmp_path / "bad.csv"
    _write_csv(
        p,
        [
            dict(
                lea_id=LEA, sheet="Indicators", finding_id=IND, column="status", value="Confirmed"
            ),
            dict(
                lea_id="12", sheet="Indicators", finding_id=IND, column="status", value="Confirmed"
            ),
            dict(lea_id=LEA, sheet="Charts", finding_id=IND, column="status", value="Confirmed"),
            dict(lea_id=LEA, sheet="Indicators", finding_id=IND, column="owner", value="x"),
            dict(
                lea_id=LEA, sheet="Indicators", finding_id=IND, column="status", value="Addressed"
            ),
        ],
    )
    with pytest.raises(AnnotationError, match=r"4 problem\(s\)") as info:
        ann.import_csv(store, p)
    msg = str(info.value)
    assert "bad.csv, row 3, column 'lea_id': not a 7-digit CDE LEA code (value '12')" in msg
    assert "row 4, column 'sheet'" in msg and "row 5, column 'column'" in msg
    assert "row 6, column 'finding_id': the same key is also in row 2" in msg
    assert store.current_frame().empty  # nothing imported
    (tmp_path / "hdr.csv").write_text("lea_id,sheet,value\n", encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"lacks column\(s\) \['finding_id', 'column'\]"):
        ann.import_csv(store, tmp_path / "hdr.csv")


def test_export_import_handlers_in_process(store, out_dir, tmp_path):
    path = ann.workbook_path(out_dir, LEA)
    regenerate(store, path)
    consultant_edit(path, EDITS)
    ann.harvest_workbook(store, LEA, path, command="test")
    csv1 = tmp_path / "a.csv"
    assert ann.export_cli(argparse.Namespace(db=store.path, csv=csv1)) == 0
    fresh = tmp_path / "fresh.sqlite"
    # Before: a mistyped store path silently created a new store.
    with pytest.raises(UsageError, match=f"{fresh}: no annotation store there.*--create"):
        ann.import_cli(argparse.Namespace(db=fresh, csv=csv1))
    assert not fresh.exists()
    assert ann.import_cli(argparse.Namespace(db=fresh, csv=csv1, create=True)) == 0
    with ann.AnnotationStore(fresh) as other:
        assert ann.annotations_for(other, LEA) == EXPECTED
        assert set(other.current_frame()["source"]) == {f"import:{csv1}"}


# --------------------------------------------------------------------------------------------
# command line (real subprocesses)

_CLI_READY = importlib.util.find_spec("cimrca.importers") is not None
needs_cli = pytest.mark.skipif(
    not _CLI_READY, reason="cimrca.cli builds its parser with cimrca.importers (not written yet)"
)


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cimrca", *argv], capture_output=True, text=True, timeout=120
    )


@needs_cli
@pytest.mark.slow
def test_cli_harvest_export_import_round_trip(out_dir, tmp_path):
    path = ann.workbook_path(out_dir, LEA)
    write_layout_workbook(path)
    consultant_edit(path, EDITS)
    bad = ann.workbook_path(out_dir, OTHER_LEA)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(os.urandom(100))

    res = run_cli("annotations", "harvest", str(out_dir))
    assert res.returncode == 1, res.stderr
    assert f"{LEA}: 8 new, 0 changed, 0 unchanged, 0 conflicts" in res.stdout
    assert f"{OTHER_LEA}: FAILED" in res.stdout
    db = out_dir / ann.DEFAULT_STORE_NAME

    csv1, csv2 = tmp_path / "one.csv", tmp_path / "two.csv"
    res = run_cli("annotations", "export", str(db), "--csv", str(csv1))
    assert res.returncode == 0, res.stderr
    res = run_cli(
        "annotations", "import", str(tmp_path / "new.sqlite"), "--csv", str(csv1), "--create"
    )
    assert res.returncode == 0 and "8 new, 0 changed, 0 unchanged" in res.stdout, res.stderr
    res = run_cli("annotations", "export", str(tmp_path / "new.sqlite"), "--csv", str(csv2))
    assert res.returncode == 0, res.stderr
    cols = list(ann.CSV_COLUMNS[:5])
    a = pd.read_csv(csv1, dtype=str, keep_default_na=False)[cols]
    b = pd.read_csv(csv2, dtype=str, keep_default_na=False)[cols]
    pd.testing.assert_frame_equal(a, b)
    got = {
        (s, f, c): ann.formula_unsafe(v)
        for s, f, c, v in a[cols[1:]].itertuples(index=False, name=None)
    }
    assert got == EXPECTED
    assert "'=1+1" in set(a["value"])  # written formula-safe


@needs_cli
@pytest.mark.slow
def test_cli_import_bad_csv_exits_2(tmp_path):
    p = tmp_path / "bad.csv"
    _write_csv(p, [dict(lea_id=LEA, sheet="Nope", finding_id=F1, column="status", value="x")])
    res = run_cli("annotations", "import", str(tmp_path / "db.sqlite"), "--csv", str(p), "--create")
    assert res.returncode == 2
    assert "bad.csv, row 2, column 'sheet': not an annotatable sheet (value 'Nope')" in res.stderr
    assert "Traceback" not in res.stderr


# --------------------------------------------------------------------------------------------
# atomic writes


def test_atomic_path_replaces_on_success_and_keeps_old_on_error(tmp_path):
    target = tmp_path / "f.xlsx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp.suffix == ".xlsx"
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert temp_files_for(target) == []
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert temp_files_for(target) == []


def test_atomic_path_keeps_a_live_process_temp(tmp_path):
    target = tmp_path / "f.bin"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from cimrca import atomic as atomic_mod

        host = atomic_mod._host_tag()
        live = tmp_path / f".f.bin~{host}~{sleeper.pid}~abcdef.tmp.bin"
        live.write_bytes(b"in progress")
        assert remove_stale_temps(target) == []
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temps(target) == [live]


_KILL_WRITER = textwrap.dedent(
    """
    import sys, time
    from cimrca.atomic import atomic_path
    target = sys.argv[1]
    chunk = b"n" * (1 << 20)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            for i in range(10_000):
                fh.write(chunk)
                fh.flush()
                if i == 2:
                    print("writing", flush=True)
                time.sleep(0.01)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL does not exist on Windows")
def test_sigkill_during_atomic_write_leaves_old_file(tmp_path):
    target = tmp_path / "workbook.xlsx"
    old = b"old content " * 1000
    target.write_bytes(old)
    env = {**os.environ, "PYTHONPATH": str(Path(ann.__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_WRITER, str(target)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == old
    stray = temp_files_for(target)
    assert len(stray) == 1 and stray[0].stat().st_size >= 3 << 20
    atomic_write_bytes(target, b"new")  # the next successful write cleans up
    assert target.read_bytes() == b"new"
    assert temp_files_for(target) == []


# --------------------------------------------------------------------------------------------
# with the real workbook writer


@pytest.mark.slow
def test_round_trip_with_the_real_workbook_writer(store, tmp_path):
    from openpyxl import load_workbook

    from cimrca.dataset import load_dataset
    from cimrca.methodology import compute_results
    from cimrca.profiles import load_profile
    from cimrca.sample import write_sample
    from cimrca.workbook import WorkbookInputs, workbook_keys, write_workbook

    list(write_sample(tmp_path / "data", n_leas=6, n_years=3, seed=7))
    profile = load_profile("california")
    results = compute_results(load_dataset(tmp_path / "data"), profile)
    inputs = {
        lea: WorkbookInputs(lea_id=lea, lea_name="Sample LEA", results=results, profile=profile)
        for lea in sorted(results["lea_id"].unique())
    }
    lea = max(inputs, key=lambda k: len(workbook_keys(inputs[k])))
    keys = workbook_keys(inputs[lea])
    path = ann.workbook_path(tmp_path / "out", lea)

    def run() -> ann.Rewrite:
        rewrite = ann.prepare_rewrite(store, lea, path, keys)
        write_workbook(
            path,
            inputs[lea],
            annotations=rewrite.annotations,
            previous_notes=rewrite.previous_notes,
            orphans=rewrite.orphans,
        )
        assert ann.finish_rewrite(store, lea, path, rewrite) == []
        return rewrite

    run()
    assert ann.read_workbook_annotations(path) == {}
    first = next(f for s, f in keys if s == "Disproportionality")
    rc = next(f for s, f in keys if s == "Root Causes")
    edits = {
        ("Disproportionality", first, "status"): "Confirmed",
        ("Disproportionality", first, "consultant_note"): LONG_NOTE,
        ("Disproportionality", first, "reviewed_on"): dt.date(2024, 10, 3),
        ("Root Causes", rc, "response"): "=1+1",
    }
    consultant_edit(path, edits)
    vanished = next(
        f"2024-25:{c}:PI"
        for c in CATEGORY_CODES
        if ("Disproportionality", f"2024-25:{c}:PI") not in keys
    )
    gone = ("Disproportionality", vanished, "consultant_note")
    assert (
        ann.import_csv(store, _csv_with(tmp_path, gone, "note on a vanished finding", lea)).new == 1
    )

    rewrite = run()
    assert rewrite.harvest.new == len(edits)
    expected = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in edits.items()}
    assert ann.read_workbook_annotations(path) == expected
    wb = load_workbook(path, read_only=True)
    orphan_cells = [v for row in wb[ORPHANS_SHEET].iter_rows(values_only=True) for v in row]
    wb.close()
    assert "note on a vanished finding" in orphan_cells
    assert ann.harvest_workbook(store, lea, path, command="test").new == 0


# --------------------------------------------------------------------------------------------
# checked imports and formula-safe exports (outputs.md section 5.1)


def _known(store, lea: str = LEA) -> None:
    """Make ``lea`` known to the store: a batch wrote its workbook beside the store."""
    ann.workbook_path(store.path.parent, lea).parent.mkdir(parents=True, exist_ok=True)


BAD_IMPORT_ROWS = [
    (dict(sheet="Indicators", finding_id=IND, column="status", value="Done"),
     "row 2, column 'value': not a status of the drop-down list (value 'Done')"),
    (dict(sheet="Indicators", finding_id=IND, column="reviewed_on", value="last Tuesday"),
     "row 2, column 'value': reviewed_on is not a date (value 'last Tuesday')"),
    (dict(sheet="Indicators", finding_id=IND, column="reviewed_on", value="2024-02-30"),
     "reviewed_on is not a date (value '2024-02-30')"),
    (dict(sheet="Disproportionality", finding_id="2024-25:ident_ed", column="status",
          value="Confirmed"),
     "row 2, column 'finding_id': not a finding key of sheet 'Disproportionality' "
     "(value '2024-25:ident_ed')"),
    (dict(sheet="Disproportionality", finding_id="2024-25:ident_zz:BL", column="status",
          value="Confirmed"), "not a finding key of sheet 'Disproportionality'"),
    (dict(sheet="Indicators", finding_id=F1, column="status", value="Confirmed"),
     "not a finding key of sheet 'Indicators'"),
    (dict(sheet="Root Causes", finding_id=f"{F1}:ap:1", column="response", value="x"),
     "not a finding key of sheet 'Root Causes'"),
    (dict(sheet="Indicators", finding_id=IND, column="status", value="Confirmed",
          lea_id=OTHER_LEA), f"row 2, column 'lea_id': LEA is not in the store (value '{OTHER_LEA}')"),
    (dict(sheet="Indicators", finding_id=IND, column="status", value="Confirmed",
          lea_id="0100010"), "LEA is not in the store (value '0100010')"),
]  # fmt: skip


@pytest.mark.parametrize(("row", "message"), BAD_IMPORT_ROWS)
def test_import_refuses_what_the_workbook_would_not_allow(store, tmp_path, row, message):
    # Before: each of these rows was stored as it was.
    _known(store)
    p = tmp_path / "bad.csv"
    _write_csv(p, [{"lea_id": LEA, **row}])
    with pytest.raises(AnnotationError, match=r"1 problem\(s\)") as info:
        ann.import_csv(store, p)
    assert message in str(info.value)
    assert store.current_frame().empty


def test_import_accepts_dates_statuses_and_keys_of_the_right_shape(store, tmp_path):
    _known(store)
    rows = [
        dict(sheet="Disproportionality", finding_id=F1, column="reviewed_on", value="2024-10-03"),
        dict(sheet="Disproportionality", finding_id=F1, column="status", value="Addressed"),
        dict(sheet="Indicators", finding_id=IND, column="reviewed_on", value="2024-10-03T14:30:00"),
        dict(sheet="Root Causes", finding_id=RC1, column="response", value="yes"),
        dict(sheet="Action Plan", finding_id=f"{F1}:ap:12", column="owner", value="Director"),
    ]
    p = tmp_path / "ok.csv"
    _write_csv(p, [{"lea_id": LEA, **r} for r in rows])
    assert ann.import_csv(store, p).new == len(rows)


def test_import_refuses_an_lea_outside_the_data_set(store, tmp_path):
    p = _csv_with(tmp_path, ("Indicators", IND, "status"), "Confirmed", lea=OTHER_LEA)
    with pytest.raises(
        AnnotationError, match="LEA is not in the store nor in the data set's leas.csv"
    ):
        ann.import_csv(store, p, data_leas={LEA})
    data = tmp_path / "data"
    data.mkdir()
    (data / "leas.csv").write_text(f"lea_id,lea_name\n{LEA},One\n", encoding="utf-8")
    assert ann.dataset_leas(data) == {LEA}
    with pytest.raises(
        AnnotationError, match="column 'lea_id': LEA is not in the store nor in the data set"
    ):
        ann.import_cli(argparse.Namespace(db=store.path, csv=p, data=data))
    assert (
        ann.import_cli(
            argparse.Namespace(
                db=store.path,
                csv=_csv_with(tmp_path, ("Indicators", IND, "status"), "Confirmed"),
                data=data,
            )
        )
        == 0
    )


FORMULA_LIKE = {
    ("Disproportionality", F1, "consultant_note"): "=1+1",
    ("Disproportionality", F2, "consultant_note"): "-5",
    ("Indicators", IND, "consultant_note"): "@x",
    ("Root Causes", RC1, "response"): "'quoted from a letter'",
    ("Action Plan", f"{F1}:ap:1", "owner"): "+1 555 0100",
    ("Action Plan", f"{F1}:ap:1", "activity"): "\tindented",
    ("Action Plan", f"{F1}:ap:1", "timeline"): "1/2",
    ("Action Plan", f"{F1}:ap:1", "resources"): "007",
    ("Action Plan", f"{F1}:ap:1", "progress_measure"): "1.50",
}


def _store_holding(tmp_path, values) -> Path:
    p = tmp_path / "seed.csv"
    _write_csv(
        p,
        [
            dict(lea_id=LEA, sheet=s, finding_id=f, column=c, value=v)
            for (s, f, c), v in values.items()
        ],
    )
    db = tmp_path / "seed.sqlite"
    with ann.AnnotationStore(db) as seed:
        # the seed file is written without escapes: put the values in exactly
        rows = [(LEA, s, f, c, v, "t", "test") for (s, f, c), v in values.items()]
        with seed.transaction() as conn:
            ann._upsert_current(conn, rows)
    return db


def test_export_is_formula_safe_and_round_trips_exactly(tmp_path):
    # Before: "=1+1" was written as a live formula; a leading apostrophe would not survive.
    db = _store_holding(tmp_path, FORMULA_LIKE)
    out = tmp_path / "export.csv"
    with ann.AnnotationStore(db, create=False) as store:
        ann.export_csv(store, out)
    cells = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    written = dict(zip(cells["value"].map(ann.formula_unsafe), cells["value"], strict=True))
    assert written["=1+1"] == "'=1+1" and written["-5"] == "'-5" and written["@x"] == "'@x"
    assert written["'quoted from a letter'"] == "''quoted from a letter'"
    assert written["\tindented"] == "'\tindented" and written["007"] == "007"
    assert not cells["value"].str.match(r"^[=+\-@\t\r]").any()
    with ann.AnnotationStore(tmp_path / "back.sqlite") as back:
        ann.import_csv(back, out)
        assert ann.annotations_for(back, LEA) == FORMULA_LIKE


def test_export_xlsx_writes_text_cells_that_stay_as_typed(tmp_path):
    from openpyxl import load_workbook

    db = _store_holding(tmp_path, FORMULA_LIKE)
    out = tmp_path / "export.xlsx"
    assert ann.export_cli(argparse.Namespace(db=db, csv=None, xlsx=out, history=False)) == 0
    wb = load_workbook(out)
    ws = wb.active
    header = [c.value for c in ws[1]]
    got = {}
    for row in ws.iter_rows(min_row=2):
        assert all(c.data_type == "s" and c.number_format == "@" for c in row)
        v = dict(zip(header, (c.value for c in row), strict=True))
        got[(v["sheet"], v["finding_id"], v["column"])] = v["value"]
    assert got == FORMULA_LIKE  # 007, 1/2, 1.50 and =1+1 are text, exactly as stored


def test_export_history_writes_every_value(store, out_dir, tmp_path):
    key = ("Disproportionality", F1, "consultant_note")
    for note in ("A", "B", "C"):
        ann.import_csv(store, _csv_with(tmp_path, key, note))
    out = tmp_path / "history.csv"
    current = tmp_path / "current.csv"
    assert ann.export_cli(argparse.Namespace(db=store.path, csv=out, xlsx=None, history=True)) == 0
    ann.export_csv(store, current)
    hist = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(hist.columns) == list(ann.HISTORY_CSV_COLUMNS)
    assert hist["value"].tolist() == ["A", "B", "C"]
    assert set(hist["kind"]) == {"import"} and hist["recorded_at"].str.len().min() > 0
    assert pd.read_csv(current, dtype=str)["value"].tolist() == ["C"]


def test_export_into_a_missing_folder_or_onto_a_folder_is_one_line(store, tmp_path):
    # Before: FileNotFoundError / IsADirectoryError tracebacks, exit 1.
    with pytest.raises(AnnotationError, match="the folder .*nowhere does not exist"):
        ann.export_csv(store, tmp_path / "nowhere" / "a.csv")
    with pytest.raises(AnnotationError, match="is a folder. Give a file name"):
        ann.export_csv(store, tmp_path)
    with pytest.raises(AnnotationError, match="is a folder"):
        ann.export_xlsx(store, tmp_path)


def test_store_locked_too_long_says_locked_not_damaged(tmp_path, monkeypatch):
    # Before: "not a usable annotation store ... restore the file from a backup" at open, and a
    # sqlite3.OperationalError traceback when the lock came mid-run.
    db = tmp_path / "a.sqlite"
    ann.AnnotationStore(db).close()
    monkeypatch.setattr(ann, "BUSY_TIMEOUT_SECONDS", 0.1)
    with ann.AnnotationStore(db) as store:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(AnnotationError, match="locked by another program") as info:
                ann.import_csv(
                    store, _csv_with(tmp_path, ("Indicators", IND, "status"), "Confirmed")
                )
            assert "backup" not in str(info.value) and "Try again" in str(info.value)
            with pytest.raises(AnnotationError, match="locked by another program.*not damaged"):
                ann.AnnotationStore(db)
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (
            ann.import_csv(
                store, _csv_with(tmp_path, ("Indicators", IND, "status"), "Confirmed")
            ).new
            == 1
        )


def test_junk_file_is_still_called_unusable(tmp_path):
    (tmp_path / "junk.sqlite").write_bytes(b"x" * 2048)
    with pytest.raises(AnnotationError, match="not a usable annotation store.*backup"):
        ann.AnnotationStore(tmp_path / "junk.sqlite")


def test_status_typed_outside_the_list_round_trips(tmp_path):
    """A status pasted into a workbook outside the drop-down is stored as typed; its export
    imports back into the same store unchanged, while a new off-list status is refused."""
    store = ann.AnnotationStore(tmp_path / "a.sqlite")
    with store.transaction() as conn:
        conn.execute(
            'INSERT INTO current (lea_id, sheet, finding_id, "column", value, updated_at, source)'
            " VALUES (?, 'Disproportionality', ?, 'status', 'done!!', '2026-01-01T00:00:00Z',"
            " 'workbook')",
            (LEA, F2),
        )
    export = tmp_path / "notes.csv"
    ann.export_csv(store, export)
    report = ann.import_csv(store, export)
    assert (report.new, report.changed, report.unchanged) == (0, 0, 1)
    text = export.read_text(encoding="utf-8-sig").replace("done!!", "finished??")
    export.write_text(text, encoding="utf-8")
    with pytest.raises(AnnotationError, match="not a status of the drop-down list"):
        ann.import_csv(store, export)
    store.close()
