"""``cimrca batch``: layout, manifest, skip/force, shards, failures, Dask, kill, annotations.

The end-to-end tests run the real packet notebook in real ``cimrca batch`` subprocesses on a
few LEAs of ``data/sample`` (marked slow). The kill-in-the-middle check is run once here; it was
looped 20 times by hand (see benchmarks/README.md).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cimrca.batch import (
    MANIFEST_COLUMNS,
    parse_shard,
    read_manifest,
    select_leas,
    update_manifest,
)
from cimrca.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
#: Three LEAs of the sample: one significantly disproportionate in ident_ed for BL
#: (data/sample/README.md), and the first two of leas.csv.
LEAS = ["0110017", "0121093", "2071593"]
IDENTIFIED = "2071593"

pytestmark = pytest.mark.xdist_group("batch")


def _batch(out: Path, *extra: str, leas=LEAS, env=None, check=None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out)]
    for lea in leas:
        args += ["--lea", lea]
    proc = subprocess.run(
        [*args, "--jobs", "2", *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    if check is not None:
        assert proc.returncode == check, proc.stdout + proc.stderr
    return proc


def _manifest(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False).set_index("lea_id")


# ------------------------------------------------------------------------------------------------
# Fast unit tests
# ------------------------------------------------------------------------------------------------


def test_parse_shard():
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard("3/4") == (3, 4)
    assert parse_shard(None) is None
    for bad in ("0/2", "3/2", "a/b", "1", "1/2/3", "1/0"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(UsageError, match="N \\(the number of shards\\) must be at least 1"):
        parse_shard("1/0")


def test_select_leas_shards_disjoint_and_complete():
    leas = pd.DataFrame(
        {"lea_id": ["05", "01", "03", "02", "04"], "selpa": ["A", "B", "A", "A", "B"]}
    )
    before = leas.copy()
    shards = [select_leas(leas, shard=(i, 2)) for i in (1, 2)]
    assert shards == [["01", "03", "05"], ["02", "04"]]  # sorted, every 2nd
    assert sorted(shards[0] + shards[1]) == ["01", "02", "03", "04", "05"]
    assert select_leas(leas, selpa="A") == ["02", "03", "05"]
    assert select_leas(leas, lea_ids=["04", "01"]) == ["01", "04"]
    with pytest.raises(UsageError, match="unknown LEA 99"):
        select_leas(leas, lea_ids=["99"])
    with pytest.raises(UsageError, match="no LEA has selpa 'Z'"):
        select_leas(leas, selpa="Z")
    pd.testing.assert_frame_equal(leas, before)  # input not mutated


def test_update_manifest_keeps_other_rows(tmp_path):
    update_manifest(tmp_path, [{"lea_id": "02", "status": "ok", "seconds": "1.0"}])
    update_manifest(tmp_path, [{"lea_id": "01", "status": "failed", "error": "x"}])
    update_manifest(tmp_path, [{"lea_id": "02", "status": "skipped"}])
    m = read_manifest(tmp_path)
    assert list(m.columns) == list(MANIFEST_COLUMNS)
    assert m["lea_id"].tolist() == ["01", "02"]
    assert m["status"].tolist() == ["failed", "skipped"]
    assert not list(tmp_path.glob(".manifest.csv*"))  # no temporary file left


def test_usage_errors_exit_2(tmp_path):
    for extra, message in (
        (["--lea", "9999999"], "unknown LEA 9999999"),
        (["--shard", "3/2"], "--shard"),
        (["--selpa", "No Such SELPA"], "no LEA has selpa"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(tmp_path), *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------
# End to end
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "out"
    started = time.monotonic()
    proc = _batch(out, check=0)
    return out, proc, time.monotonic() - started


@pytest.mark.slow
def test_layout_and_manifest(first_run):
    out, proc, _ = first_run
    for name in ("manifest.csv", "results.csv", "state_overview.ipynb", "state_overview.html"):
        assert (out / name).is_file(), name
    for lea in LEAS:
        folder = out / "leas" / lea
        for name in (f"{lea}_workbook.xlsx", f"{lea}.ipynb", f"{lea}.html", f"{lea}_findings.json"):
            assert (folder / name).is_file(), name
        assert not list(folder.glob(".*running*"))
    m = _manifest(out)
    assert sorted(m.index) == LEAS
    assert set(m["status"]) == {"ok"}
    assert m["inputs_sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert (m["seconds"].astype(float) > 0).all()
    assert "0 failed" in proc.stdout
    # the notebook got the precomputed statewide results (computed once per run)
    import nbformat

    nb = nbformat.read(out / "leas" / IDENTIFIED / f"{IDENTIFIED}.ipynb", as_version=4)
    params = nb.metadata.papermill.parameters
    assert params["lea_id"] == IDENTIFIED
    assert params["results_path"].startswith(str(out))
    assert params["annotations_db"] == ""
    assert params["annotations_json"].endswith(".json")
    results = pd.read_csv(out / "results.csv", dtype={"lea_id": str})
    assert set(LEAS) <= set(results["lea_id"])


@pytest.mark.slow
def test_rerun_skips_then_force_redoes(first_run):
    out, _, first_seconds = first_run
    before = {lea: (out / "leas" / lea / f"{lea}.html").stat().st_mtime_ns for lea in LEAS}
    started = time.monotonic()
    proc = _batch(out, check=0)
    assert time.monotonic() - started < first_seconds
    assert "3 skipped" in proc.stdout, proc.stdout
    assert "no workers: nothing to run" in proc.stdout, proc.stdout
    assert set(_manifest(out)["status"]) == {"skipped"}
    after = {lea: (out / "leas" / lea / f"{lea}.html").stat().st_mtime_ns for lea in LEAS}
    assert after == before
    # a fractional --timeout works (papermill takes whole seconds); workers beyond the
    # notebooks to run are not started, and the summary says how many were
    proc = _batch(out, "--force", "--timeout", "599.5", "--jobs", "4", leas=[IDENTIFIED], check=0)
    assert "4 workers (" in proc.stdout and "; 2 started for 2 notebook(s)" in proc.stdout, (
        proc.stdout
    )
    m = _manifest(out)
    assert m.loc[IDENTIFIED, "status"] == "ok"
    assert (out / "leas" / IDENTIFIED / f"{IDENTIFIED}.html").stat().st_mtime_ns > before[
        IDENTIFIED
    ]


@pytest.mark.slow
def test_note_typed_in_workbook_survives_force(first_run, tmp_path):
    import openpyxl

    out, _, _ = first_run
    path = out / "leas" / IDENTIFIED / f"{IDENTIFIED}_workbook.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["Disproportionality"]
    header = next(r for r in ws.iter_rows() if r[0].value == "Finding ID")
    col = next(c.column for c in header if c.value == "Note")
    status_col = next(c.column for c in header if c.value == "Status")
    row = next(r[0].row for r in ws.iter_rows(min_row=header[0].row + 1) if r[0].value)
    finding = ws.cell(row=row, column=1).value
    note = "Checked with the district: referral data confirmed (batch test)"
    ws.cell(row=row, column=col).value = note
    ws.cell(row=row, column=status_col).value = "Confirmed"
    wb.save(path)

    _batch(out, "--force", leas=[IDENTIFIED], check=0)
    again = openpyxl.load_workbook(out / "leas" / IDENTIFIED / f"{IDENTIFIED}_workbook.xlsx")
    ws = again["Disproportionality"]
    cells = [r for r in ws.iter_rows() if r[0].value == finding]
    assert cells and cells[0][col - 1].value == note
    assert cells[0][status_col - 1].value == "Confirmed"
    export = tmp_path / "notes.csv"
    subprocess.run(
        [sys.executable, "-m", "cimrca", "annotations", "export", str(out / "annotations.sqlite"),
         "--csv", str(export)],
        check=True, cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    rows = list(csv.DictReader(export.open(encoding="utf-8-sig")))
    assert any(r["lea_id"] == IDENTIFIED and r["value"] == note for r in rows)
    assert any(r["column"] == "status" and r["value"] == "Confirmed" for r in rows)
    html = (out / "leas" / IDENTIFIED / f"{IDENTIFIED}.html").read_text(encoding="utf-8")
    assert "referral data confirmed" in html and "Confirmed" in html


@pytest.mark.slow
def test_corrupted_workbook_fails_that_lea_only(tmp_path):
    out = tmp_path / "out"
    _batch(out, leas=LEAS[:2], check=0)
    bad = out / "leas" / LEAS[0] / f"{LEAS[0]}_workbook.xlsx"
    bad.write_bytes(b"this is not a workbook")
    proc = _batch(out, "--force", leas=LEAS[:2], check=1)
    assert f"FAILED {LEAS[0]}" in proc.stdout
    m = _manifest(out)
    assert m.loc[LEAS[0], "status"] == "failed"
    assert m.loc[LEAS[0], "error"] != ""
    assert m.loc[LEAS[1], "status"] == "ok"
    assert bad.read_bytes() == b"this is not a workbook"  # not overwritten


@pytest.mark.slow
def test_two_shards_build_one_manifest(tmp_path):
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cimrca",
                "batch",
                str(SAMPLE),
                "--out",
                str(out),
                *sum((["--lea", x] for x in LEAS), []),
                "--jobs",
                "1",
                "--shard",
                f"{i}/2",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in (1, 2)
    ]
    for p in procs:
        p.communicate(timeout=600)
        assert p.returncode == 0
    m = _manifest(out)
    assert sorted(m.index) == LEAS  # each LEA exactly once
    assert set(m["status"]) == {"ok"}


@pytest.mark.slow
def test_dask_local_cluster_same_files(tmp_path):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        out = tmp_path / "out"
        _batch(out, "--scheduler", cluster.scheduler_address, leas=LEAS[:2], check=0)
        for lea in LEAS[:2]:
            for name in (f"{lea}_workbook.xlsx", f"{lea}.ipynb", f"{lea}.html"):
                assert (out / "leas" / lea / name).is_file()
        assert set(_manifest(out)["status"]) == {"ok"}
    finally:
        cluster.close()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL does not exist on Windows")
def test_killed_run_then_rerun_loses_nothing(first_run, tmp_path):
    import shutil

    src, _, _ = first_run
    out = tmp_path / "out"
    shutil.copytree(src, out)
    store = out / "annotations.sqlite"
    export_before = tmp_path / "before.csv"
    subprocess.run(
        [sys.executable, "-m", "cimrca", "annotations", "export", str(store), "--csv",
         str(export_before)], check=True, cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    args = [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--force"]
    for lea in LEAS:
        args += ["--lea", lea]
    proc = subprocess.Popen(args + ["--jobs", "2"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(12)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # the orphaned workers notice and stop
    _batch(out, check=0)
    export_after = tmp_path / "after.csv"
    subprocess.run(
        [sys.executable, "-m", "cimrca", "annotations", "export", str(store), "--csv",
         str(export_after)], check=True, cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    before = pd.read_csv(export_before, dtype=str, keep_default_na=False)
    after = pd.read_csv(export_after, dtype=str, keep_default_na=False)
    keys = ["lea_id", "sheet", "finding_id", "column", "value"]
    merged = before[keys].merge(after[keys], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()  # no annotation lost
    leftovers = [p for p in out.rglob("*") if ".tmp" in p.name or "running" in p.name]
    assert not leftovers, leftovers
    assert set(_manifest(out)["status"]) <= {"ok", "skipped"}
