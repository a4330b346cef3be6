"""Faults a user meets, each answered by one plain line and exit status 2 (issue 16, points 7-8).

Each test reproduces a scenario that used to end in a traceback (exit 1) or a misleading
message. The batch-side faults (disk full during a batch, read-only OUT_DIR, SIGINT mid-run)
belong with the batch tests.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cimrca import annotations as ann
from cimrca.errors import AnnotationError, UsageError

from .conftest import SAMPLE, run_cli

LEA = "0100001"
IND = "2024-25:indicator:5A"


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    return folder


def one_line_exit_2(res: subprocess.CompletedProcess, *expected: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    for text in expected:
        assert text in res.stderr, res.stderr


def write_notes(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ann.CSV_COLUMNS[:5]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.slow
def test_leas_csv_with_only_a_header(data):
    # Before: IndexError traceback, exit 1.
    (data / "leas.csv").write_text("lea_id,lea_name,county,selpa\n", encoding="utf-8")
    res = run_cli("validate", data)
    one_line_exit_2(res, "leas.csv: no LEA rows, only a header")
    assert len(res.stderr.splitlines()) == 2  # the summary line and the problem


@pytest.mark.slow
def test_row_with_an_extra_field_is_one_message(data):
    # Before: 9,101 "unknown race_ethnicity code" problems (columns shifted by one).
    path = data / "enrollment.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] += ",7"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run_cli("validate", data)
    one_line_exit_2(res, "1 problem found", "row 2: the row has 5 fields but the header has 4")
    assert "unknown race_ethnicity" not in res.stderr


@pytest.mark.slow
def test_annotations_export_to_missing_folder_or_onto_a_folder(tmp_path):
    # Before: FileNotFoundError / IsADirectoryError tracebacks, exit 1.
    db = tmp_path / "a.sqlite"
    ann.AnnotationStore(db).close()
    res = run_cli("annotations", "export", db, "--csv", tmp_path / "missing" / "a.csv")
    one_line_exit_2(res, "missing does not exist")
    res = run_cli("annotations", "export", db, "--csv", tmp_path)
    one_line_exit_2(res, "is a folder")
    res = run_cli("annotations", "export", db, "--xlsx", tmp_path / "missing" / "a.xlsx")
    one_line_exit_2(res, "missing does not exist")


@pytest.mark.slow
def test_annotations_import_into_a_mistyped_path_needs_create(tmp_path):
    # Before: a new, empty store was created silently at the mistyped path.
    notes = write_notes(
        tmp_path / "n.csv",
        [dict(lea_id=LEA, sheet="Indicators", finding_id=IND, column="status", value="Done")],
    )
    typo = tmp_path / "anotations.sqlite"
    res = run_cli("annotations", "import", typo, "--csv", notes)
    one_line_exit_2(res, f"{typo}: no annotation store there", "--create")
    assert not typo.exists()
    res = run_cli("annotations", "import", typo, "--csv", notes, "--create")
    one_line_exit_2(res, "row 2, column 'value': not a status of the drop-down list")


def test_store_locked_longer_than_the_timeout(tmp_path, monkeypatch):
    # Before: "not a usable annotation store ... restore the file from a backup".
    db = tmp_path / "a.sqlite"
    ann.AnnotationStore(db).close()
    monkeypatch.setattr(ann, "BUSY_TIMEOUT_SECONDS", 0.1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(AnnotationError, match="locked by another program") as info:
            with ann.AnnotationStore(db) as store:
                ann.export_csv(store, tmp_path / "a.csv")
        assert "backup" not in str(info.value) and "unusable" not in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _read_only_mount(tmp_path: Path, files: list[Path]) -> Path | None:
    """A read-only tmpfs holding copies of ``files``, or None where mounting is not allowed."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if shutil.which("mount") is None:
        return None
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                        capture_output=True)  # fmt: skip
    if ok.returncode != 0:
        return None
    for f in files:
        shutil.copy2(f, mnt / f.name)
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
    return mnt


def test_store_on_a_read_only_medium(tmp_path, monkeypatch):
    # Before: "not a usable annotation store (unable to open database file) ... restore the
    # file from a backup", which invites overwriting a good store.
    db = tmp_path / "a.sqlite"
    ann.AnnotationStore(db).close()
    mnt = _read_only_mount(tmp_path, [db])
    try:
        if mnt is None:  # no mount allowed here: the error SQLite gives on a read-only medium

            def read_only(*args, **kwargs):
                raise sqlite3.OperationalError("attempt to write a readonly database")

            monkeypatch.setattr(ann.sqlite3, "connect", read_only)
            target = db
        else:
            target = mnt / db.name
        with pytest.raises(AnnotationError, match="read-only medium") as info:
            ann.AnnotationStore(target)
        assert "backup" not in str(info.value) and "not damaged" in str(info.value)
    finally:
        if mnt is not None:
            gone = subprocess.run(["umount", str(mnt)], capture_output=True)
            if gone.returncode != 0:  # still in use: detach it anyway, then fail
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
            assert gone.returncode == 0, gone.stderr  # the store let go of the file


def test_lea_listed_without_data_rows_is_told_so(tmp_path):
    # Before: "LEA '0999999' has no rows in the results. Check the 7-digit code." although the
    # code was right: leas.csv listed the LEA, but no count table had a row for it.
    from cimrca import compute_results, load_dataset, load_profile
    from cimrca.methodology import lea_slice

    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    leas = pd.read_csv(data / "leas.csv", dtype=str, keep_default_na=False)
    extra = leas.iloc[[0]].assign(lea_id="0999999", lea_name="No Data USD")
    pd.concat([leas, extra]).to_csv(data / "leas.csv", index=False)
    results = compute_results(load_dataset(data), load_profile("california"))
    with pytest.raises(UsageError, match="has no rows in the results: the data set has no") as e:
        lea_slice(results, "0999999")
    assert "Check the 7-digit code" not in str(e.value)
