"""Monitoring levels in the batch, the packet, the workbook and the state overview.

monitoring.md sections 3 and 4: every batch writes ``monitoring.csv``; ``--cim-only``; the
packet, the workbook's Summary and the findings JSON state the level; indicator findings get
Root Causes and Action Plan rows whose annotations survive re-runs; the state overview counts
LEAs by level. Reference values are the sample's designed levels (data/sample/README.md,
"Monitoring levels in 2024-25").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cimrca import packet as cp
from cimrca.annotations import AnnotationStore, read_workbook_keys
from cimrca.batch import select_leas
from cimrca.dataset import load_dataset
from cimrca.indicators import compute_indicators
from cimrca.layout import DISPLAY_HEADERS, KEY_HEADER, KEY_PATTERNS, display_header
from cimrca.methodology import compute_results
from cimrca.monitoring import OFFICIAL_LEVEL_NOTE, compute_monitoring
from cimrca.profiles import load_profile
from cimrca.workbook import plan_workbook, write_workbook
from cimrca.workbook.prompts import load_prompts

from .conftest import SAMPLE

ROOT = Path(__file__).resolve().parent.parent
YEAR = "2024-25"
#: Designed levels of the sample in 2024-25 (data/sample/README.md, cimrca/sample.py).
UNIVERSAL, TARGETED_1 = "0161810", "4271214"
#: Intensive 1 on the composite (percentile 9.5); CHRONIC_SWD and SUSP_SWD pull it down.
INTENSIVE = "4764943"
#: sd_ident_ed_bl: significantly disproportionate, Targeted 3 (five years in a row).
SD_LEA = "2071593"
#: A cyclical LEA (58 students with disabilities).
CYCLICAL = "0110017"


@pytest.fixture(scope="module")
def state():
    ds, profile = load_dataset(SAMPLE), load_profile("california")
    results = compute_results(ds, profile)
    ir = compute_indicators(ds.indicators, ds.targets)
    return ds, profile, results, ir, compute_monitoring(ds, results, ir, profile)


def _packet(state, lea):
    ds, profile, results, ir, mon = state
    return cp.build_packet(lea, ds, results, ir, profile, monitoring=mon)


def _rows(ws) -> list[tuple]:
    return [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)]


def _header(ws) -> dict[str, int]:
    for row in ws.iter_rows(min_col=1, max_col=ws.max_column):
        if row[0].value == display_header(KEY_HEADER):
            shown = {c.value: c.column for c in row if c.value is not None}
            shown |= {k[:1].lower() + k[1:]: v for k, v in shown.items()}
            return shown | {k: shown[v] for k, v in DISPLAY_HEADERS.items() if v in shown}
    raise AssertionError("no header row")


def _row_of(ws, key: str) -> int:
    for row in ws.iter_rows(min_col=1, max_col=1):
        if row[0].value == key:
            return row[0].row
    raise AssertionError(key)


# --- the sample's designed levels (monitoring.md section 3; data/sample/README.md) ------------


def test_the_sample_shows_every_designed_level(state):
    *_, mon = state
    now = mon[mon["school_year"] == YEAR].set_index("lea_id")
    level = now["level"]
    assert level[UNIVERSAL] == "universal" and now.loc[UNIVERSAL, "elements_missed"] == 0
    assert level[TARGETED_1] == "targeted_1"
    assert now.loc[TARGETED_1, "elements_missed_list"] == "3B_MATH"  # the one designed miss
    # targeted_3 through two years of disproportionality, not significantly disproportionate
    # (recent_two_ident_ohi_wh), and through the bottom 10% on an LRE indicator
    # (sd_place_separate_hi: Hispanic students in separate schools put it low on 5C)
    assert level["0173141"] == "targeted_3" and now.loc["0173141", "disproportionate_two_years"]
    assert not now.loc["0173141", "significantly_disproportionate"]
    assert level["2067073"] == "targeted_3" and now.loc["2067073", "lre_bottom_list"] == "5C"
    assert level[INTENSIVE] == "intensive_1"
    assert level[CYCLICAL] == "cyclical"
    counts = level.value_counts()
    # every level but intensive_3 appears (the README lists them)
    assert {"universal", "targeted_1", "targeted_2", "targeted_3", "intensive_1", "intensive_2",
            "cyclical"} <= set(counts.index)  # fmt: skip
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert f"| Universal | 1 | `{UNIVERSAL}` |" in readme
    assert f"| Targeted 1 | 1 | `{TARGETED_1}` |" in readme
    assert f"| Cyclical (small LEA) | {counts['cyclical']} |" in readme


def test_compliance_indicators_mostly_at_100_percent(state):
    *_, ir, _ = state
    now = ir[(ir["school_year"] == YEAR) & ir["indicator"].isin(["11", "12", "13"])]
    at_full = (now["rate"] == 1.0).groupby(now["indicator"]).mean()
    # COMPLIANCE_FULL_SHARE is 0.85 of LEA-years; small denominators add some at 100% by chance
    assert (at_full >= 0.7).all(), at_full
    assert (now["met"] == False).sum() < 0.2 * len(now)  # noqa: E712


# --- packet, workbook plan, findings JSON ---------------------------------------------------


def test_packet_carries_the_lea_monitoring_rows_and_reason_indicators(state):
    p = _packet(state, INTENSIVE)
    assert set(p.monitoring["lea_id"]) == {INTENSIVE}
    assert p.monitoring_row["level"] == "intensive_1" and p.monitoring_row["cim_required"]
    ri = p.reason_indicators
    # the composite's lowest percentiles (climate, 19.0) are the reasons, first
    assert ri["indicator"].tolist()[:2] == ["CHRONIC_SWD", "SUSP_SWD"]
    assert ri["level_reason"].tolist()[:2] == [True, True]
    assert not ri["level_reason"].iloc[2:].any()
    # without the monitoring frame, build_packet computes the same rows
    ds, profile, results, ir, _ = state
    again = cp.build_packet(INTENSIVE, ds, results, ir, profile)
    pd.testing.assert_frame_equal(again.monitoring, p.monitoring)
    assert again.workbook_keys == p.workbook_keys


def test_plan_orders_blocks_and_keys_indicator_findings(state):
    p = _packet(state, INTENSIVE)
    plan = plan_workbook(p.workbook_inputs(with_figures=False))
    ids = [b.finding["finding_id"] for b in plan.root_causes]
    expected = [f"{YEAR}:indicator:{c}" for c in p.reason_indicators["indicator"]]
    assert ids == expected  # not significantly disproportionate, no flagged finding
    prompts = load_prompts()
    n_rc = 1 + len(prompts["fishbone"]) + len(prompts["five_whys"]) + len(prompts["hypotheses"])
    for block in plan.root_causes:
        keys = [r.key for r in block.rows]
        assert keys == [f"{block.finding['finding_id']}:rc:{n}" for n in range(1, n_rc + 1)]
        assert all(KEY_PATTERNS["Root Causes"].fullmatch(k) for k in keys)
    ap = [r.key for b in plan.action_plan for r in b.rows]
    assert f"{YEAR}:indicator:SUSP_SWD:ap:1" in ap
    assert all(KEY_PATTERNS["Action Plan"].fullmatch(k) for k in ap)
    # the discipline family's fishbone prompts on SUSP_SWD, the LRE family's on 5A
    susp = next(b for b in plan.root_causes if b.finding["indicator"] == "SUSP_SWD")
    assert "manifestation determinations" in susp.rows[1].prompt
    five_a = next(b for b in plan.root_causes if b.finding["indicator"] == "5A")
    assert "continuum of placements" in five_a.rows[1].prompt
    # the statement's numbers: the LEA's and the State's 5A of indicators.csv, the target of
    # targets.csv (0.56 + 4 x 0.005), one year missed (2023-24 met it)
    ir = state[3].set_index(["school_year", "lea_id", "indicator"])
    row = ir.loc[(YEAR, INTENSIVE, "5A")]
    assert row["target"] == 0.58 and row["consecutive_missed"] == 1
    statement = five_a.rows[0].prompt.split("\n\n")[0]
    assert statement == (
        f"In {YEAR}, Arrowweed Creek Unified School District's rate on indicator 5A (Regular "
        f"class 80% or more of the day) was {row['rate']:.1%} against a target of 58.0% (State "
        f"rate {row['state_rate']:.1%}). The target has been missed 1 year in a row. The trend "
        f"over the years of data: no clear trend ({100 * row['trend_slope']:+.1f} percentage "
        "points a year). Why it is a finding: target missed."
    )


def test_order_disproportionate_then_level_reasons_then_rest(state):
    # 2071593: identified in ident_ed BL (first); its level, targeted_3, comes from that
    # same row's years; its missed indicators are not reasons for the level (the rest).
    p = _packet(state, SD_LEA)
    plan = plan_workbook(p.workbook_inputs(with_figures=False))
    ids = [b.finding["finding_id"] for b in plan.root_causes]
    assert ids[0] == f"{YEAR}:ident_ed:BL"
    assert ids[1:] == [f"{YEAR}:indicator:{c}" for c in p.reason_indicators["indicator"]]
    # 0170955, intensive_2: 5A and 5B (LRE bottom and composite) come before 3A_ELA (missed)
    q = _packet(state, "0170955")
    order = [b.finding.get("indicator") for b in plan_workbook(
        q.workbook_inputs(with_figures=False)).root_causes]  # fmt: skip
    assert order.index("5A") < order.index("3A_ELA") and order.index("5B") < order.index("3A_ELA")


def test_workbook_keys_round_trip_and_summary_states_the_level(state, tmp_path):
    p = _packet(state, INTENSIVE)
    path = write_workbook(tmp_path / "wb.xlsx", p.workbook_inputs(with_figures=False))
    planned = set(p.workbook_keys)
    assert read_workbook_keys(path) == planned
    assert (  # indicator findings' entry rows are among them
        ("Root Causes", f"{YEAR}:indicator:SUSP_SWD:rc:1") in planned
        and ("Action Plan", f"{YEAR}:indicator:13:ap:3") in planned
    )
    rows = _rows(openpyxl.load_workbook(path)["Summary"])
    text = {r[0]: r[1] for r in rows if r[0]}
    assert text["Monitoring level"] == "Intensive 1 in 2024-25. Required to complete CIM."
    assert text["Reasons"].startswith(
        "- composite percentile of achievement, placement, climate 9.5, at or under 10"
    )
    assert any(r[1] == OFFICIAL_LEVEL_NOTE for r in rows)


def test_note_on_an_indicator_finding_survives_a_rerun(state, tmp_path):
    ds, profile, results, ir, mon = state
    db = tmp_path / "a.sqlite"
    AnnotationStore(db).close()
    out = tmp_path / "out"
    key = f"{YEAR}:indicator:SUSP_SWD:rc:1"

    def run():
        p = cp.load_packet(INTENSIVE, data_dir=SAMPLE, annotations_db=db)
        return cp.write_packet_workbook(p, out)

    path = run()
    wb = openpyxl.load_workbook(path)
    ws = wb["Root Causes"]
    ws.cell(_row_of(ws, key), _header(ws)["response"]).value = "Suspensions rise at two sites"
    wb.save(path)
    path = run()  # harvests the typed note, then writes it into the new workbook
    ws = openpyxl.load_workbook(path)["Root Causes"]
    assert ws.cell(_row_of(ws, key), _header(ws)["response"]).value == (
        "Suspensions rise at two sites"
    )
    with AnnotationStore(db) as store:
        assert ("Root Causes", key, "response") in set(
            map(tuple, store.current_frame(INTENSIVE)[["sheet", "finding_id", "column"]].values)
        )


def test_findings_json_and_markdown_state_the_level(state, tmp_path):
    p = _packet(state, SD_LEA)
    payload = cp.findings_payload(p)
    m = payload["monitoring"]
    assert m["level"] == "targeted_3" and m["cim_required"] is True
    assert m["school_year"] == YEAR and m["note"] == OFFICIAL_LEVEL_NOTE
    assert m["reasons"][0].startswith("significantly disproportionate (34 CFR 300.647)")
    json.loads(cp.write_findings_json(p, tmp_path).read_text(encoding="utf-8"))
    text = cp.monitoring_markdown(p)
    assert (
        "**Monitoring level in 2024-25: Targeted 3.** The LEA is required to complete CIM." in text
    )
    assert OFFICIAL_LEVEL_NOTE in text
    universal = cp.monitoring_markdown(_packet(state, UNIVERSAL))
    assert "Universal.** The LEA is not required to complete CIM." in universal
    assert "met every indicator target (Universal)" in universal  # the level in words


def test_a_profile_without_monitoring_levels(state, tmp_path):
    ds, _, _, ir, _ = state
    plain = load_profile({"name": "plain", "threshold": 3.0})
    p = cp.build_packet(SD_LEA, ds, compute_results(ds, plain), ir, plain)
    assert p.monitoring is None and p.reason_indicators is None
    assert "defines no monitoring levels" in cp.monitoring_markdown(p)
    assert cp.findings_payload(p)["monitoring"] is None
    path = write_workbook(tmp_path / "wb.xlsx", p.workbook_inputs(with_figures=False))
    text = {r[0]: r[1] for r in _rows(openpyxl.load_workbook(path)["Summary"]) if r[0]}
    assert text["Monitoring level"].startswith("The profile plain defines no monitoring levels")
    # no indicator finding without levels: Root Causes has the disproportionality block only
    assert not [k for s, k in p.workbook_keys if s == "Root Causes" and ":indicator:" in k]


# --- batch selection, state overview ---------------------------------------------------------


def test_select_leas_cim_only_is_an_intersection_after_the_shard():
    leas = pd.DataFrame({"lea_id": ["01", "02", "03", "04", "05"], "selpa": list("AABBA")})
    assert select_leas(leas, cim_required=["02", "05", "99"]) == ["02", "05"]
    assert select_leas(leas, selpa="A", cim_required=["02", "03"]) == ["02"]
    # an LEA keeps its shard with or without --cim-only
    assert select_leas(leas, shard=(2, 2)) == ["02", "04"]
    assert select_leas(leas, shard=(2, 2), cim_required=["02", "05"]) == ["02"]
    assert select_leas(leas, cim_required=[]) == []


def test_state_overview_counts_leas_by_level(state):
    import matplotlib.axes
    from matplotlib.figure import Figure

    *_, mon = state
    overview = cp.load_state_overview(data_dir=SAMPLE)
    levels = overview.tables["levels"].set_index("level")
    now = mon[mon["school_year"] == YEAR]
    assert levels.loc["Universal", "leas"] == 1 and levels.loc["Targeted 1", "leas"] == 1
    assert levels["leas"].sum() == now["lea_id"].nunique()
    assert levels.loc["Cyclical (small LEA)", "cim_required"] == 0
    cim = overview.tables["cim"]
    assert sorted(cim["lea_id"]) == sorted(now.loc[now["cim_required"], "lea_id"])
    assert INTENSIVE in set(cim["lea_id"]) and UNIVERSAL not in set(cim["lea_id"])
    text = cp.state_monitoring_markdown(overview)
    assert f"**{len(cim)} LEAs must complete CIM**" in text and "Universal: 1" in text
    ax = Figure().subplots()
    assert cp.level_counts_plot(mon, ax=ax) is ax
    heights = {p.get_gid(): p.get_height() for p in ax.patches}
    assert heights["level_universal"] == 1 and heights["level_intensive_3"] == 0
    assert isinstance(cp.level_counts_plot(mon), matplotlib.axes.Axes)


# --- end to end: a real batch subprocess --------------------------------------------------------


@pytest.mark.slow
def test_cim_only_batch_runs_the_intensive_packet_only(tmp_path):
    """--cim-only with three LEAs: a cyclical one, the Universal one, and the Intensive one.

    The one packet run is a real notebook run of an Intensive LEA whose workbook has indicator
    findings in Root Causes.
    """
    out = tmp_path / "out"
    args = [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--cim-only",
            "--jobs", "1"]  # fmt: skip
    for lea in (CYCLICAL, UNIVERSAL, INTENSIVE):
        args += ["--lea", lea]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ),
                          timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 LEAs left out by --cim-only: not required to complete CIM in 2024-25" in proc.stdout
    assert sorted(p.name for p in (out / "leas").iterdir()) == [INTENSIVE]
    mon = pd.read_csv(out / "monitoring.csv", dtype={"lea_id": str})
    assert len(mon) == len(mon[["school_year", "lea_id"]].drop_duplicates()) > 200
    folder = out / "leas" / INTENSIVE
    ws = openpyxl.load_workbook(folder / f"{INTENSIVE}_workbook.xlsx")["Root Causes"]
    keys = [r[0] for r in ws.iter_rows(values_only=True, max_col=1) if r[0]]
    assert f"{YEAR}:indicator:CHRONIC_SWD:rc:1" in keys and f"{YEAR}:indicator:5A:rc:15" in keys
    html = (folder / f"{INTENSIVE}.html").read_text(encoding="utf-8")
    assert "Monitoring level in 2024-25: Intensive 1" in html
    assert "the Annual Determination Letter is the official level" in html
    findings = json.loads((folder / f"{INTENSIVE}_findings.json").read_text(encoding="utf-8"))
    assert findings["monitoring"]["level"] == "intensive_1"
    import nbformat

    nb = nbformat.read(folder / f"{INTENSIVE}.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters["monitoring_path"] == str(out / "monitoring.csv")
    overview = (out / "state_overview.html").read_text(encoding="utf-8")
    assert "LEAs by monitoring level" in overview


@pytest.mark.slow
def test_batch_with_a_profile_without_monitoring_levels(tmp_path):
    profile = tmp_path / "plain.yaml"
    profile.write_text("name: plain\nthreshold: 3.0\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--lea",
            SD_LEA, "--profile", str(profile), "--jobs", "1"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (out / "monitoring.csv").exists()
    html = (out / "leas" / SD_LEA / f"{SD_LEA}.html").read_text(encoding="utf-8")
    assert "defines no monitoring levels" in html
    # --cim-only needs levels: a user error, exit 2, no traceback
    proc = subprocess.run([*args, "--cim-only"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2 and "defines no monitoring levels" in proc.stderr
    assert "Traceback" not in proc.stderr
