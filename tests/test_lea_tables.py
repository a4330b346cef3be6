"""A batch's per-LEA tables (issue 13): a worker reads its LEA's rows, and what it reads equals
the same filter of the whole table; results.csv written in the background is the same file;
per-LEA digests; the default number of workers."""

from __future__ import annotations

import os
from dataclasses import replace

import pandas as pd
import pytest

from cimrca.batch.plan import per_lea_digest
from cimrca.batch.run import BatchSummary, default_jobs
from cimrca.batch.statewide import ResultsCsv, prepare_statewide, write_results_csv
from cimrca.charts import lea_figures
from cimrca.dataset import load_dataset
from cimrca.drilldown import compute_drilldown
from cimrca.findings import findings
from cimrca.lea_tables import (
    ROW_GROUP_ROWS,
    LeaTables,
    light_dataset,
    packet_results,
    read_lea,
    read_where,
    write_by_lea,
)
from cimrca.methodology import compute_results, read_results, write_results
from cimrca.outputs import OutputLayout
from cimrca.profiles import load_profile

from .conftest import SAMPLE

IDENTIFIED = "2071593"  # data/sample/README.md: identified in ident_ed for BL


@pytest.fixture(scope="module")
def sample():
    ds = load_dataset(SAMPLE)
    profile = load_profile("california")
    return ds, profile, compute_results(ds, profile)


@pytest.fixture(scope="module")
def batch_files(sample, tmp_path_factory):
    ds, profile, results = sample
    out = OutputLayout(tmp_path_factory.mktemp("out"))
    state = prepare_statewide(
        ds, profile, "california", out, lea_ids=[IDENTIFIED], keep_results=False,
        write_csv=False,
    )  # fmt: skip
    return out, state


def test_one_lea_read_back_is_the_filter_of_the_whole_table(sample, tmp_path):
    _, _, results = sample
    path = write_by_lea(results, tmp_path / "r.parquet")
    for lea in (IDENTIFIED, results["lea_id"].iloc[0], results["lea_id"].iloc[-1]):
        expected = results[results["lea_id"] == lea].reset_index(drop=True)
        pd.testing.assert_frame_equal(read_lea(path, lea), expected)
    # the whole file, read as cimrca reads results, is the table in its own order
    pd.testing.assert_frame_equal(read_results(path), results)


def test_row_groups_are_modest_so_a_filtered_read_skips_most(sample, tmp_path):
    import pyarrow.parquet as pq

    _, _, results = sample
    big = pd.concat([results] * 4, ignore_index=True)  # 4 x the sample's rows
    path = write_by_lea(big, tmp_path / "r.parquet")
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == -(-len(big) // ROW_GROUP_ROWS) > 1
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) <= ROW_GROUP_ROWS


def test_packet_results_hold_the_lea_and_its_funnel_rows(sample, batch_files):
    _, profile, results = sample
    out, _ = batch_files
    rows = packet_results(out.results_parquet, LeaTables(out.lea_tables), IDENTIFIED)
    own = results[results["lea_id"] == IDENTIFIED].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows[rows["lea_id"] == IDENTIFIED].reset_index(drop=True), own)
    year = own["school_year"].max()
    flagged = own[(own["school_year"] == year) & own["exceeds_threshold"]]
    assert len(flagged), "the identified LEA exceeds the threshold somewhere"
    for category in flagged["category"].unique():
        whole = results[(results["school_year"] == year) & (results["category"] == category)]
        part = rows[(rows["school_year"] == year) & (rows["category"] == category)]
        pd.testing.assert_frame_equal(part.reset_index(drop=True), whole.reset_index(drop=True))
    # the charts drawn from these rows are the charts drawn from the whole table
    assert list(lea_figures(rows, None, IDENTIFIED)) == list(lea_figures(results, None, IDENTIFIED))
    assert len(rows) < len(results) / 4


def test_light_dataset_gives_the_same_drilldown(sample, batch_files):
    ds, profile, results = sample
    out, state = batch_files
    light = light_dataset(SAMPLE, LeaTables(out.lea_tables), IDENTIFIED)
    assert (light.name, light.is_synthetic, light.notes) == (ds.name, ds.is_synthetic, ds.notes)
    pd.testing.assert_frame_equal(light.leas, ds.leas)
    assert set(light.detail["lea_id"]) == {IDENTIFIED}
    import pyarrow.parquet as pq

    groups = pq.ParquetFile(LeaTables(out.lea_tables).detail).metadata.num_row_groups
    assert groups == -(-len(ds.detail) // ROW_GROUP_ROWS) > 1  # read a row group at a time
    own = results[results["lea_id"] == IDENTIFIED]
    found = findings(own, profile)
    expected = compute_drilldown(ds, own, profile=profile, findings=found)
    assert len(expected)
    pd.testing.assert_frame_equal(
        compute_drilldown(light, own, profile=profile, findings=found), expected
    )
    # the parent keeps no State-sized table
    assert state.results is None and len(state.dataset.child_count) == 0


def test_light_dataset_without_detail_has_none(sample, tmp_path):
    ds, profile, results = sample
    out = OutputLayout(tmp_path)
    no_detail = replace(ds, detail=None, schools=None)
    prepare_statewide(no_detail, profile, "california", out, write_csv=False)
    light = light_dataset(SAMPLE, LeaTables(out.lea_tables), IDENTIFIED)
    assert light.detail is None and light.schools is None


def test_results_csv_from_parquet_is_the_same_file(sample, batch_files, tmp_path):
    _, _, results = sample
    out, _ = batch_files
    write_results(results, tmp_path / "whole.csv")
    assert write_results_csv(out) is True
    assert out.results_csv.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    # unchanged results: not written again; a touched file is
    assert write_results_csv(out) is False
    out.results_csv.write_text("edited\n", encoding="utf-8")
    writer = ResultsCsv(out)
    writer.wait()
    assert out.results_csv.read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_results_csv_not_year_major_falls_back_to_the_whole_table(sample, tmp_path):
    _, _, results = sample
    out = OutputLayout(tmp_path)
    shuffled = results.sort_values(["lea_id", "school_year"], kind="stable", ignore_index=True)
    write_by_lea(shuffled, out.results_parquet)
    write_results(shuffled, tmp_path / "whole.csv")
    write_results_csv(out)
    assert out.results_csv.read_bytes() == (tmp_path / "whole.csv").read_bytes()


def test_per_lea_digest_depends_on_its_own_rows_only(sample):
    _, _, results = sample
    other = results["lea_id"].iloc[0]
    alone = per_lea_digest(results, [IDENTIFIED])[IDENTIFIED]
    assert per_lea_digest(results, [other, IDENTIFIED])[IDENTIFIED] == alone
    changed = results.copy()
    changed.loc[changed["lea_id"] == other, "numerator"] += 1
    assert per_lea_digest(changed, [IDENTIFIED])[IDENTIFIED] == alone
    assert per_lea_digest(changed, [other])[other] != per_lea_digest(results, [other])[other]
    mine = results.copy()
    mine.loc[mine.index[mine["lea_id"] == IDENTIFIED][0], "ratio"] = 99.0
    assert per_lea_digest(mine, [IDENTIFIED])[IDENTIFIED] != alone


def test_read_where_prunes_by_filter(sample, batch_files):
    out, _ = batch_files
    rows = read_where(LeaTables(out.lea_tables).funnels, [("school_year", "==", "2024-25")])
    assert set(rows["school_year"]) == {"2024-25"}


def test_default_jobs_from_cores_and_memory(monkeypatch):
    import psutil

    jobs, words = default_jobs()
    assert 1 <= jobs <= (os.cpu_count() or 1)
    assert "core" in words and "GB free" in words and words.startswith(f"{jobs} worker")

    class Tight:
        available = 1800 * 2**20  # room for the batch itself and no more than one worker

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight())
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert default_jobs() == (1, "1 worker (8 cores, 2 GB free, limited by memory: 600 MB each)")
    # an explicit --jobs is lowered to what memory holds, and the summary says so
    assert default_jobs(500) == (
        1, "1 worker (8 cores, 2 GB free, limited by memory: 600 MB each; --jobs 500 asked)"
    )  # fmt: skip
    assert default_jobs(1) == (1, "1 worker (8 cores, 2 GB free)")
    summary = BatchSummary(out_dir=SAMPLE, workers=default_jobs()[1])
    assert "  1 worker (8 cores" in summary.text()


def test_csv_rows_writes_what_pandas_writes():
    import io

    import numpy as np

    from cimrca.batch.statewide import csv_rows

    floats = [0.1 + 0.2, 1.0, -0.0, 1e-05, 0.0001, 123.456, 1e16, 1.5e17, 12345678901234.0,
              np.nan, np.inf, -np.inf, 2.5e-300, -7.0, 0.5, 1234567.5, 1e15, 999999999999999.9,
              5e-324, 0.00012345678901234567, 1e21, 3.0e22]  # fmt: skip
    n = len(floats)
    frame = pd.DataFrame(
        {
            "text": ["a", "", "ID", *["x"] * (n - 3)],
            "ratio": floats,
            "count": pd.array([1, None, *range(n - 2)], dtype="Int64"),
            "years": np.arange(n, dtype="int64"),
            "flag": [i % 2 == 0 for i in range(n)],
            "maybe": pd.array([True, None, False, *[None] * (n - 3)], dtype="boolean"),
        }
    )
    for part in (frame, frame.assign(text=["needs, quotes", *frame["text"][1:]])):
        fh = io.StringIO()
        csv_rows(part, fh, header=True)
        assert fh.getvalue() == part.to_csv(index=False, lineterminator="\n")


def test_latest_year_read_is_the_filter_of_the_whole_table(sample, batch_files):
    from cimrca.lea_tables import read_in_table_order
    from cimrca.packet.state import OVERVIEW_COLUMNS, state_overview

    _, profile, results = sample
    out, _ = batch_files
    latest = results["school_year"].max()
    rows = read_in_table_order(out.results_parquet, OVERVIEW_COLUMNS, latest_year=True)
    whole = results.loc[results["school_year"] == latest, list(OVERVIEW_COLUMNS)]
    pd.testing.assert_frame_equal(rows, whole.reset_index(drop=True))
    # the overview's tables from those rows are the tables from the whole table
    ds = sample[0]
    mine = state_overview(rows, profile, leas=ds.leas)
    expected = state_overview(results, profile, leas=ds.leas)
    assert list(mine) == list(expected)
    for name in expected:
        pd.testing.assert_frame_equal(
            mine[name].reset_index(drop=True), expected[name].reset_index(drop=True)
        )


INTENSIVE = "4764943"  # data/sample/README.md: Intensive 1 in 2024-25, indicator reasons


def _same_packet(mine, whole) -> None:
    """What a packet shows of the indicators is the same from either table."""
    pd.testing.assert_frame_equal(mine.indicator_rows, whole.indicator_rows)
    if whole.reason_indicators is None:
        assert mine.reason_indicators is None
    else:
        pd.testing.assert_frame_equal(mine.reason_indicators, whole.reason_indicators)
    assert mine.workbook_keys == whole.workbook_keys
    assert mine.figures == whole.figures


@pytest.mark.parametrize("lea", [IDENTIFIED, INTENSIVE])
def test_packet_indicators_make_the_packet_of_the_whole_table(sample, batch_files, lea):
    from cimrca.indicators import read_indicator_results
    from cimrca.monitoring import read_monitoring
    from cimrca.packet import build_packet, load_packet

    _, profile, _ = sample
    out, _ = batch_files
    mine = load_packet(
        lea, data_dir=SAMPLE, results_path=out.results_parquet, indicators_path=out.indicators,
        monitoring_path=out.monitoring, lea_tables=out.lea_tables,
    )  # fmt: skip
    whole_table = read_indicator_results(out.indicators)
    whole = build_packet(
        mine.lea_id, mine.dataset, mine.results, whole_table, profile,
        parameters=mine.parameters, monitoring=read_monitoring(out.monitoring),
    )  # fmt: skip
    _same_packet(mine, whole)
    assert mine.reason_indicators is not None or lea != INTENSIVE
    # the packet's review year for every LEA (for the ranks), the LEA's own rows otherwise
    assert len(mine.indicator_results) < len(whole_table) / 3


def test_packet_indicators_keep_a_year_the_lea_has_no_row_in(sample, batch_files, tmp_path):
    """An LEA without indicator rows in one year still sees that year (a column of the
    Indicators sheet), with every LEA's rows of it."""
    import shutil

    from cimrca.lea_tables import packet_indicators, write_indicators
    from cimrca.monitoring import read_monitoring
    from cimrca.packet import build_packet, load_packet

    _, profile, _ = sample
    out, _ = batch_files
    table = pd.read_parquet(out.indicators)
    first = table["school_year"].min()
    table = table[~((table["lea_id"] == INTENSIVE) & (table["school_year"] == first))]
    table = table.reset_index(drop=True)
    tables = LeaTables(tmp_path / "lea_tables")
    shutil.copytree(out.lea_tables, tables.folder)
    write_indicators(table, tables)
    mine_rows = packet_indicators(tables, INTENSIVE, ["2024-25"])
    # the filter of the whole table: the LEA's rows, and every row of 2024-25 and of `first`
    expected = table[
        (table["lea_id"] == INTENSIVE) | table["school_year"].isin(["2024-25", first])
    ].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine_rows, expected)
    base = load_packet(
        INTENSIVE, data_dir=SAMPLE, results_path=out.results_parquet,
        indicators_path=out.indicators, monitoring_path=out.monitoring, lea_tables=tables.folder,
    )  # fmt: skip
    pd.testing.assert_frame_equal(base.indicator_results, mine_rows)
    whole = build_packet(
        base.lea_id, base.dataset, base.results, table, profile,
        parameters=base.parameters, monitoring=read_monitoring(out.monitoring),
    )  # fmt: skip
    _same_packet(base, whole)
    assert f"rate {first}" in whole.indicator_rows.columns


def test_funnel_rows_of_an_lea_whose_latest_year_is_earlier(sample, tmp_path):
    """The funnels table holds the school years that are some LEA's latest: an LEA without
    rows in the State's latest year (one that closed) still gets its funnel plots' rows."""
    from cimrca.lea_tables import write_lea_tables

    ds, _, results = sample
    latest = results["school_year"].max()
    closed = results.loc[results["exceeds_threshold"].fillna(False).astype(bool)]
    closed = closed.loc[closed["school_year"] < latest, "lea_id"].iloc[0]
    shortened = results[~((results["lea_id"] == closed) & (results["school_year"] == latest))]
    shortened = shortened.reset_index(drop=True)
    out = OutputLayout(tmp_path)
    write_by_lea(shortened, out.results_parquet)
    tables = LeaTables(out.lea_tables)
    write_lea_tables(ds, shortened, tables)
    funnels = pd.read_parquet(tables.funnels)
    own_latest = shortened.loc[shortened["lea_id"] == closed, "school_year"].max()
    assert set(funnels["school_year"]) == {latest, own_latest} and own_latest < latest
    for lea in (closed, IDENTIFIED):
        rows = packet_results(out.results_parquet, tables, lea)
        own = shortened[shortened["lea_id"] == lea]
        year = own["school_year"].max()
        categories = own.loc[
            (own["school_year"] == year) & own["exceeds_threshold"].fillna(False).astype(bool),
            "category",
        ].unique()
        assert len(categories)
        for category in categories:
            whole = shortened[
                (shortened["school_year"] == year) & (shortened["category"] == category)
            ]
            part = rows[(rows["school_year"] == year) & (rows["category"] == category)]
            pd.testing.assert_frame_equal(part.reset_index(drop=True), whole.reset_index(drop=True))


def test_early_workers_never_outnumber_the_notebooks(tmp_path):
    """Workers started before the LEAs are known are capped by what the run can hold: the LEAs
    asked for, or the LEAs of leas.csv (of one shard), plus the state overview."""
    from cimrca.batch.run import _most_notebooks

    (tmp_path / "leas.csv").write_text(
        "lea_id,lea_name\n" + "".join(f"{i:07d},LEA {i}\n" for i in range(230)), encoding="utf-8"
    )
    assert _most_notebooks(tmp_path, ["0000001", "0000002"], None, None) == 3
    assert _most_notebooks(tmp_path, [], None, (1, 100)) == 4  # 230 LEAs: 3 in a shard
    assert _most_notebooks(tmp_path, [], "North", None) == 231
    assert _most_notebooks(tmp_path / "missing", [], None, None) == 1
