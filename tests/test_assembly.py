"""One assembly path: the keys the batch plans are the keys the notebook writes (issue: a note
typed on a row must be handed back to that row, whatever the indicators' school years)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cimrca.annotations import read_workbook_keys
from cimrca.batch.statewide import prepare_statewide
from cimrca.dataset import load_dataset
from cimrca.outputs import OutputLayout
from cimrca.packet import build_packet, load_packet
from cimrca.profiles import load_profile
from cimrca.workbook import write_workbook

from .conftest import ROOT, SAMPLE

IDENTIFIED = "2071593"  # data/sample/README.md: identified in ident_ed for BL


def _shift_indicators(src: Path, dst: Path, years: int) -> Path:
    """A copy of the sample whose indicators run ``years`` school years past the counts
    (positive: the latest year copied forward, as when CDE publishes indicators before the
    child count) or stop ``-years`` short of them (negative: the latest years dropped)."""
    shutil.copytree(src, dst)
    for name in ("indicators.csv", "targets.csv"):
        frame = pd.read_csv(dst / name, dtype=str, keep_default_na=False)
        latest = max(frame["school_year"])
        if years > 0:
            start = int(latest[:4])
            extra = [
                frame[frame["school_year"] == latest].assign(
                    school_year=f"{start + k}-{(start + k + 1) % 100:02d}"
                )
                for k in range(1, years + 1)
            ]
            frame = pd.concat([frame, *extra], ignore_index=True)
        else:
            kept = sorted(frame["school_year"].unique())[:years]
            frame = frame[frame["school_year"].isin(kept)]
        frame.to_csv(dst / name, index=False)
    return dst


def _planned_and_written(
    data: Path, out: Path, leas: list[str], *, write: set[str] | None = None
) -> list[tuple]:
    """For each LEA: the keys the batch's parent plans (build_packet over the statewide tables,
    as ``cimrca.batch.run._Run.prepare`` does) and the keys of the workbook the notebook's path
    writes (load_packet from the files the batch wrote, then the workbook read back, for the
    LEAs of ``write``; all when ``None``)."""
    profile = load_profile("california")
    layout = OutputLayout(out)
    # as a batch: the parent keeps neither the results table nor the data set, and plans
    # each LEA from its own rows; the notebook reads the per-LEA tables
    state = prepare_statewide(
        load_dataset(data), profile, "california", layout, lea_ids=leas, keep_results=False
    )
    assert state.results is None
    monitoring_path = layout.monitoring if state.monitoring is not None else ""
    pairs = []
    for lea in leas:
        planned = build_packet(
            lea, state.dataset, state.lea_results(lea), state.indicators, profile,
            monitoring=state.monitoring,
        ).workbook_keys  # fmt: skip
        files = {
            "data_dir": data,
            "results_path": layout.results_parquet,
            "indicators_path": layout.indicators if state.indicators is not None else "",
            "monitoring_path": monitoring_path,
        }
        packet = load_packet(lea, **files, lea_tables=layout.lea_tables)
        # a hand run over the same files (the whole data set and results table) agrees
        assert load_packet(lea, **files).workbook_keys == packet.workbook_keys, lea
        written = packet.workbook_keys
        if write is None or lea in write:
            path = layout.lea(lea).workbook
            path.parent.mkdir(parents=True, exist_ok=True)
            write_workbook(path, packet.workbook_inputs(with_figures=False))
            written = read_workbook_keys(path)
        pairs.append((lea, sorted(set(planned)), sorted(written), sorted(packet.workbook_keys)))
    return pairs


def test_planned_keys_equal_written_keys_for_every_sample_lea(tmp_path):
    leas = pd.read_csv(SAMPLE / "leas.csv", dtype=str)["lea_id"].tolist()
    # every LEA's plan against the notebook's packet; the workbook itself written and read back
    # for the identified LEA and two others (the writer checks its rows against the plan)
    write = {IDENTIFIED, leas[0], leas[-1]}
    for lea, planned, written, notebook in _planned_and_written(
        SAMPLE, tmp_path, leas, write=write
    ):
        assert planned == notebook, lea
        assert planned == written, lea


@pytest.mark.parametrize("years", [1, -1], ids=["indicators-a-year-ahead", "a-year-short"])
def test_planned_keys_equal_written_keys_when_indicator_years_differ(tmp_path, years):
    data = _shift_indicators(SAMPLE, tmp_path / "data", years)
    pairs = _planned_and_written(data, tmp_path / "out", [IDENTIFIED, "0110017"])
    for lea, planned, written, notebook in pairs:
        assert planned == notebook == written, lea
        indicator_rows = [f for s, f in planned if s == "Indicators"]
        assert indicator_rows, lea
    # a year ahead: the review year is the counts' latest (2024-25), not the indicators' 2025-26
    expected_year = "2024-25" if years > 0 else "2023-24"
    assert {f.split(":")[0] for s, f in pairs[0][1] if s == "Indicators"} == {expected_year}


@pytest.mark.slow
def test_note_on_indicators_row_stays_when_indicators_run_a_year_ahead(tmp_path):
    import openpyxl

    data = _shift_indicators(SAMPLE, tmp_path / "data", 1)
    out = tmp_path / "out"

    def batch(*extra: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "cimrca", "batch", str(data), "--out", str(out),
             "--lea", IDENTIFIED, "--jobs", "1", *extra],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    batch()
    path = OutputLayout(out).lea(IDENTIFIED).workbook
    wb = openpyxl.load_workbook(path)
    ws = wb["Indicators"]
    header = next(r for r in ws.iter_rows() if r[0].value == "Finding ID")
    note_col = next(c.column for c in header if c.value == "Note")
    row = header[0].row + 1
    finding = ws.cell(row=row, column=1).value
    ws.cell(row=row, column=note_col).value = "Rate checked against CALPADS (indicator note)"
    wb.save(path)

    batch("--force")
    again = openpyxl.load_workbook(path)
    rows = [r for r in again["Indicators"].iter_rows() if r[0].value == finding]
    assert rows and rows[0][note_col - 1].value == "Rate checked against CALPADS (indicator note)"
    assert "Orphaned annotations" not in again.sheetnames or not any(
        "indicator note" in str(c.value or "")
        for r in again["Orphaned annotations"].iter_rows()
        for c in r
    )
