"""Tests of cimrca.workbook: the per-LEA root-cause workbook (outputs.md sections 4 and 5).

Workbooks are written to real files and read back with openpyxl; the LibreOffice smoke test
converts one to PDF with the real ``libreoffice`` binary.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from cimrca import layout
from cimrca.errors import WorkbookError
from cimrca.profiles import load_profile
from cimrca.workbook import (
    RATIO_PREFIX,
    WorkbookInputs,
    findings,
    load_prompts,
    plan_workbook,
    previous_note_key,
    workbook_filename,
    workbook_keys,
    write_workbook,
)

YEARS = ("2019-20", "2020-21", "2021-22", "2022-23", "2023-24")
LEA = "0100001"
THRESHOLD = 3.0
# A test profile pinned here, not the shipped California values (methodology.md section 6).
PROFILE = load_profile(
    {"name": "test_profile", "threshold": THRESHOLD, "min_cell": 10, "min_n": 30,
     "years_required": 3, "watch_fraction": 0.8}
)  # fmt: skip

# Ratios by (category, group), year by year, for LEA 0100001 (hand-made, realistic shapes):
#   ident_id BL: above 3.0 for 2021-22..2023-24 -> identified (3 consecutive years)
#   disc_oss_gt10 HI: above 3.0 only in 2023-24 -> flagged, 1 year
#   place_separate WH: 2.5 in 2023-24 (>= 0.8 x 3.0 = 2.4) -> watch
#   ident_sld AS: 2.3 in 2023-24 (< 2.4) -> not a finding
#   ident_aut MU: not calculated in 2023-24 (group below min cell) -> not a finding
RATIOS = {
    ("ident_id", "BL"): [2.1, 2.8, 3.2, 3.5, 3.41],
    ("disc_oss_gt10", "HI"): [1.2, np.nan, 2.0, 2.9, 3.7],
    ("place_separate", "WH"): [2.0, 2.2, 2.6, 2.45, 2.5],
    ("ident_sld", "AS"): [1.0, 1.1, 1.4, 1.8, 2.3],
    ("ident_aut", "MU"): [0.9, 1.1, 1.2, 1.5, np.nan],
    ("ident_all", "PI"): [0.8, 0.7, 0.9, 1.1, 1.0],
}


def make_results(lea_ids=(LEA, "0100002")) -> pd.DataFrame:
    """A results table (outputs.md section 2) for a few LEAs, built by hand."""
    rows = []
    for lea in lea_ids:
        scale = 1.0 if lea == LEA else 0.5  # the second LEA has no findings at 0.8 x 3.0
        for (cat, race), ratios in RATIOS.items():
            run = 0
            for year, ratio in zip(YEARS, ratios, strict=True):
                ratio = ratio * scale
                calculated = not np.isnan(ratio)
                flagged = calculated and ratio > THRESHOLD
                run = run + 1 if flagged else 0
                den, cden = 1200.0, 30000.0
                crisk = 0.02
                num = round(ratio * crisk * den) if calculated else 4.0
                alt = cat.startswith("disc") and year == "2023-24"
                rows.append(
                    {
                        "school_year": year, "lea_id": lea, "category": cat,
                        "race_ethnicity": race, "numerator": float(num), "denominator": den,
                        "risk": num / den, "lea_comparison_numerator": crisk * cden,
                        "lea_comparison_denominator": cden,
                        "state_comparison_numerator": crisk * cden * 40,
                        "state_comparison_denominator": cden * 40,
                        "ratio_type": ("alternate_risk_ratio" if alt else "risk_ratio")
                        if calculated else "not_calculated",
                        "ratio": ratio if calculated else np.nan,
                        "reason": "" if calculated else "group_below_min_cell",
                        "exceeds_threshold": flagged, "consecutive_years": run,
                        "significantly_disproportionate": run >= 3,
                        "reasonable_progress": np.nan, "threshold": THRESHOLD,
                        "weighted_risk_ratio": ratio * 0.98 if calculated else np.nan,
                        "risk_difference": num / den - crisk,
                        "composition": 0.25, "e_formula_upper": 0.13,
                        "students_over_threshold": float(np.ceil(num - THRESHOLD * crisk * den))
                        if flagged else np.nan,
                        "ci_low": ratio * 0.85 if calculated else np.nan,
                        "ci_high": ratio * 1.15 if calculated else np.nan,
                        "profile": "test_profile",
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def make_indicators() -> pd.DataFrame:
    """Rows shaped like cimrca.indicators.indicator_sheet's output."""
    return pd.DataFrame(
        {
            "finding_id": ["2023-24:indicator:4A", "2023-24:indicator:5A"],
            "indicator": ["4A", "5A"],
            "label": ["Suspension and expulsion rate", "Regular class 80% or more of the day"],
            "rate 2022-23": [0.021, 0.55],
            "rate 2023-24": [0.034, 0.58],
            "numerator": [34.0, 580.0],
            "denominator": [1000.0, 1000.0],
            "state_rate": [0.012, 0.57],
            "target": [0.02, 0.6],
            "met": ["not met", "not met"],
            "consecutive_missed": [2, 1],
            "change": [0.013, 0.03],
            "change_p_value": [0.07, 0.2],
            "trend_direction": ["worsening", "improving"],
            "trend_slope": [0.013, 0.03],
            "trend_ci_low": [np.nan, np.nan],
            "trend_ci_high": [np.nan, np.nan],
            "small_denominator": pd.array([False, False], dtype="boolean"),
            "small_denominator_years": [0, 0],
        }
    )


def png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    ax.plot(range(5), [2.1, 2.8, 3.2, 3.5, 3.41], marker="o")
    ax.axhline(THRESHOLD, color="red")
    ax.set_title("ident_id BL ratio")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def make_inputs(**changes) -> WorkbookInputs:
    base = {
        "lea_id": LEA,
        "lea_name": "Alameda Test Unified",
        "results": make_results(),
        "indicator_rows": make_indicators(),
        "figures": {"Ratio trend": png_bytes()},
        "profile": PROFILE,
        "dataset_name": "hand-made test data",
        "is_synthetic": True,
        "code_version": "0.1.0",
        "generated_at": "2025-01-15T10:00:00+00:00",
    }
    base.update(changes)
    return WorkbookInputs(**base)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


KEY_SHOWN = layout.display_header(layout.KEY_HEADER)  # "Finding ID"


def header_row(ws) -> int:
    """1-based row whose column A reads Finding ID (the layout contract)."""
    for row in ws.iter_rows(min_col=1, max_col=1):
        if row[0].value == KEY_SHOWN:
            return row[0].row
    raise AssertionError(f"no {KEY_SHOWN} header on {ws.title}")


def headers(ws) -> dict[str, int]:
    """Column of each header, by the text shown and by the machine name it displays."""
    r = header_row(ws)
    shown = {c.value: c.column for c in ws[r] if c.value is not None}
    names = {*layout.DISPLAY_HEADERS, *(c for cols in layout.ANNOTATION_COLUMNS.values()
                                        for c in cols)}  # fmt: skip
    machine = {k: shown[layout.display_header(k)] for k in names
               if layout.display_header(k) in shown}  # fmt: skip
    lower = {k[:1].lower() + k[1:]: v for k, v in shown.items() if isinstance(k, str)}
    return lower | shown | machine


def keyed_rows(ws) -> dict[str, int]:
    r = header_row(ws)
    return {
        ws.cell(i, 1).value: i
        for i in range(r + 1, ws.max_row + 1)
        if ws.cell(i, 1).value not in (None, "")
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One workbook written with annotations, previous notes and orphans, read back."""
    folder = tmp_path_factory.mktemp("wb")
    long_note = ("Línea uno: año escolar, niños — ✓ 検討\n" * 200)[:5000]
    annotations = {
        ("Disproportionality", "2023-24:ident_id:BL", "consultant_note"): "=1+1",
        ("Disproportionality", "2023-24:ident_id:BL", "status"): "Confirmed",
        ("Disproportionality", "2023-24:disc_oss_gt10:HI", "consultant_note"): long_note,
        ("Indicators", "2023-24:indicator:4A", "reviewer"): "M. Lopez",
        ("Root Causes", "2023-24:ident_id:BL:rc:1", "response"): "Team statement",
        ("Action Plan", "2023-24:ident_id:BL:ap:2", "resources"): "CCEIS 15%",
        ("Disproportionality", "2023-24:ident_sld:AS", "consultant_note"): "not a finding now",
    }
    orphans = pd.DataFrame(
        {
            "finding_id": ["2021-22:ident_ed:WH"],
            "sheet": ["Disproportionality"],
            "column": ["consultant_note"],
            "value": ["=SUM(A1:A3)"],
            "history": ["2022-01-01 new '=SUM(A1:A3)' (old.xlsx)"],
        }
    )
    inputs = make_inputs()
    before = inputs.results.copy(deep=True)
    path = write_workbook(
        folder,
        inputs,
        annotations=annotations,
        previous_notes={
            "ident_id:BL": "2022-23 - Confirmed: carried on",
            "2023-24:indicator:4A": "2022-23: full-key note",
        },  # fmt: skip
        orphans=orphans,
    )
    return {
        "path": path,
        "folder": folder,
        "wb": load_workbook(path),
        "inputs": inputs,
        "before": before,
        "long_note": long_note,
    }


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------


def test_findings_levels_order_and_ratio_columns():
    res = make_results()
    f = findings(res[res["lea_id"] == LEA], PROFILE)
    # identified first, then flagged, then watch (see RATIOS above)
    assert f["finding_id"].tolist() == [
        "2023-24:ident_id:BL",
        "2023-24:disc_oss_gt10:HI",
        "2023-24:place_separate:WH",
    ]
    assert f["level"].tolist() == ["identified", "flagged", "watch"]
    assert list(f.columns[:6]) == [
        "finding_id", "lea_id", "school_year", "category", "race_ethnicity", "level",
    ]  # fmt: skip
    assert [c for c in f.columns if c.startswith(RATIO_PREFIX)] == [f"ratio {y}" for y in YEARS]
    row = f.iloc[0]
    assert [row[f"ratio {y}"] for y in YEARS] == pytest.approx(RATIOS[("ident_id", "BL")])
    assert np.isnan(f.iloc[1]["ratio 2020-21"])  # not calculated that year stays empty
    assert f.iloc[0]["consecutive_years"] == 3


def test_findings_watch_boundary_is_inclusive():
    res = make_results([LEA])
    latest = res["school_year"] == "2023-24"
    target = latest & (res["category"] == "ident_sld") & (res["race_ethnicity"] == "AS")
    res.loc[target, "ratio"] = 0.8 * THRESHOLD  # exactly watch_fraction x threshold
    assert "2023-24:ident_sld:AS" in set(findings(res, PROFILE)["finding_id"])
    res.loc[target, "ratio"] = 0.8 * THRESHOLD - 1e-9
    assert "2023-24:ident_sld:AS" not in set(findings(res, PROFILE)["finding_id"])


def test_findings_does_not_mutate_input_and_handles_empty():
    res = make_results()
    before = res.copy(deep=True)
    findings(res, PROFILE)
    pd.testing.assert_frame_equal(res, before)
    empty = findings(res.iloc[0:0], PROFILE)
    assert empty.empty and "finding_id" in empty.columns


def test_findings_missing_column_is_an_error():
    with pytest.raises(WorkbookError, match="lacks column.*ratio_type"):
        findings(make_results().drop(columns="ratio_type"), PROFILE)


def test_findings_duplicate_key_is_an_error():
    res = make_results([LEA])
    with pytest.raises(WorkbookError, match="more than one row"):
        findings(pd.concat([res, res.iloc[:1]]), PROFILE)


# --------------------------------------------------------------------------------------------
# the workbook
# --------------------------------------------------------------------------------------------


def test_sheet_order_names_and_file_name(written):
    wb = written["wb"]
    assert written["path"].name == workbook_filename(LEA) == "0100001_workbook.xlsx"
    assert tuple(wb.sheetnames[:8]) == layout.SHEETS
    assert wb.sheetnames[8:] == [*layout.CIM_SHEETS, layout.GLOSSARY_SHEET, layout.ORPHANS_SHEET,
                                 layout.LISTS_SHEET]  # fmt: skip
    assert wb[layout.LISTS_SHEET].sheet_state == "hidden"
    assert wb.active.title == "Summary"


def test_input_not_mutated(written):
    pd.testing.assert_frame_equal(written["inputs"].results, written["before"])


def test_keys_in_column_a_match_workbook_keys(written):
    wb = written["wb"]
    expected = workbook_keys(written["inputs"])
    got = [(sheet, key) for sheet in layout.ANNOTATION_COLUMNS for key in keyed_rows(wb[sheet])]
    assert got == expected
    dis = keyed_rows(wb["Disproportionality"])
    assert list(dis) == [
        "2023-24:ident_id:BL", "2023-24:disc_oss_gt10:HI", "2023-24:place_separate:WH",
    ]  # fmt: skip
    rc = keyed_rows(wb["Root Causes"])
    # problem of practice, fishbone, five whys, hypotheses, then the 300.646(d)(1)(ii) factors
    n_rc = 2 + sum(len(load_prompts()[k]) for k in ("fishbone", "five_whys", "hypotheses"))
    # identified and flagged findings get a block; the watch finding does not
    assert len(rc) == 2 * n_rc
    assert "2023-24:ident_id:BL:rc:1" in rc and "2023-24:place_separate:WH:rc:1" not in rc
    assert list(keyed_rows(wb["Action Plan"]))[0] == "2023-24:ident_id:BL:ap:1"


def test_annotation_headers_exact(written):
    wb = written["wb"]
    for sheet, columns in layout.ANNOTATION_COLUMNS.items():
        h = headers(wb[sheet])
        assert all(c in h for c in columns), (sheet, columns, list(h))
    assert layout.PREVIOUS_NOTE_HEADER in headers(wb["Disproportionality"])


def test_protection_and_unlocked_annotation_cells(written):
    wb = written["wb"]
    for sheet in layout.SHEETS:
        assert wb[sheet].protection.sheet, sheet
        assert not wb[sheet].protection.password, sheet
    ws = wb["Disproportionality"]
    h, rows = headers(ws), keyed_rows(ws)
    r = rows["2023-24:ident_id:BL"]
    for col in layout.REVIEW_COLUMNS:
        assert ws.cell(r, h[col]).protection.locked is False, col
    for col in ("finding_id", "ratio 2023-24", layout.PREVIOUS_NOTE_HEADER, "category"):
        assert ws.cell(r, h[col]).protection.locked is True, col
    rc = wb["Root Causes"]
    hr, rr = headers(rc), keyed_rows(rc)
    cell = rc.cell(rr["2023-24:ident_id:BL:rc:2"], hr["response"])
    assert cell.protection.locked is False
    assert rc.cell(rr["2023-24:ident_id:BL:rc:2"], hr["prompt"]).protection.locked is True


def test_ratio_cells_are_numbers_equal_to_results(written):
    ws = written["wb"]["Disproportionality"]
    h, rows = headers(ws), keyed_rows(ws)
    res = written["inputs"].results
    for cat, race in RATIOS:
        key = f"2023-24:{cat}:{race}"
        if key not in rows:
            continue
        for year in YEARS:
            cell = ws.cell(rows[key], h[f"ratio {year}"])
            want = res.loc[
                (res["lea_id"] == LEA) & (res["school_year"] == year) & (res["category"] == cat)
                & (res["race_ethnicity"] == race), "ratio"
            ].iloc[0]  # fmt: skip
            if np.isnan(want):
                assert cell.value is None
            else:
                assert cell.data_type == "n" and cell.value == want  # full precision
                assert cell.number_format == "0.00"


def test_formula_like_note_stays_a_string(written):
    wb = written["wb"]
    ws = wb["Disproportionality"]
    cell = ws.cell(keyed_rows(ws)["2023-24:ident_id:BL"], headers(ws)["consultant_note"])
    assert cell.value == "=1+1" and cell.data_type == "s"
    status = ws.cell(keyed_rows(ws)["2023-24:ident_id:BL"], headers(ws)["status"])
    assert status.value == "Confirmed"
    orphan = wb[layout.ORPHANS_SHEET]
    values = [c.value for row in orphan.iter_rows() for c in row]
    assert "=SUM(A1:A3)" in values
    assert all(c.data_type != "f" for row in orphan.iter_rows() for c in row)


def test_long_note_with_line_breaks_and_non_ascii_survives(written):
    ws = written["wb"]["Disproportionality"]
    cell = ws.cell(keyed_rows(ws)["2023-24:disc_oss_gt10:HI"], headers(ws)["consultant_note"])
    assert len(written["long_note"]) == 5000
    assert cell.value == written["long_note"]
    assert cell.alignment.wrap_text


def test_status_drop_down_validation(written):
    ws = written["wb"]["Disproportionality"]
    col = headers(ws)["status"]
    rows = keyed_rows(ws)
    from openpyxl.utils import get_column_letter

    letter = get_column_letter(col)
    dvs = ws.data_validations.dataValidation
    status_dv = [dv for dv in dvs if any(letter in str(r) for r in dv.sqref.ranges)]
    assert status_dv and status_dv[0].type == "list"
    covered = str(status_dv[0].sqref)
    assert covered == f"{letter}{min(rows.values())}:{letter}{max(rows.values())}"
    lists = written["wb"][layout.LISTS_SHEET]
    source = status_dv[0].formula1  # e.g. Lists!$A$2:$A$6
    col_letter = source.split("!$")[1][0]
    choices = [lists[f"{col_letter}{i}"].value for i in range(2, 2 + len(layout.STATUS_CHOICES))]
    assert tuple(choices) == layout.STATUS_CHOICES
    ind = written["wb"]["Indicators"]
    assert ind.data_validations.dataValidation  # status drop-down there too


def test_previous_notes_short_and_full_keys(written):
    wb = written["wb"]
    ws = wb["Disproportionality"]
    cell = ws.cell(keyed_rows(ws)["2023-24:ident_id:BL"], headers(ws)["previous_note"])
    assert cell.value == "2022-23 - Confirmed: carried on"
    ind = wb["Indicators"]
    cell = ind.cell(keyed_rows(ind)["2023-24:indicator:4A"], headers(ind)["previous_note"])
    assert cell.value == "2022-23: full-key note"
    assert previous_note_key("2024-25:ident_id:BL") == "ident_id:BL"


def test_orphans_sheet_keeps_given_and_unplaced_annotations(written):
    ws = written["wb"][layout.ORPHANS_SHEET]
    r = header_row(ws)
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=r + 1)]
    keys = [row[0] for row in rows]
    # the given orphan, and the annotation whose row is not in this workbook
    assert keys == ["2021-22:ident_ed:WH", "2023-24:ident_sld:AS"]
    assert rows[1][3] == "not a finding now"


def test_indicators_rows_and_formats(written):
    ws = written["wb"]["Indicators"]
    h, rows = headers(ws), keyed_rows(ws)
    assert list(rows) == ["2023-24:indicator:4A", "2023-24:indicator:5A"]
    cell = ws.cell(rows["2023-24:indicator:4A"], h["rate 2023-24"])
    assert cell.value == pytest.approx(0.034) and cell.number_format == "0.0%"
    assert ws.cell(rows["2023-24:indicator:4A"], h["reviewer"]).value == "M. Lopez"


def test_summary_states_status_and_synthetic_banner(written, tmp_path):
    ws = written["wb"]["Summary"]
    text = "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value)
    assert "SYNTHETIC DATA" in text
    assert "Significantly disproportionate in 2023-24" in text
    assert "Identification, intellectual disability, Black or African American" in text
    assert "3 consecutive years" in text and "test_profile" in text
    path = write_workbook(tmp_path / "real.xlsx", make_inputs(is_synthetic=False))
    text = "\n".join(
        str(c.value) for row in load_workbook(path)["Summary"].iter_rows() for c in row if c.value
    )
    assert "SYNTHETIC" not in text


def test_drill_down_counts_and_charts(written):
    wb = written["wb"]
    ws = wb["Drill-Down"]
    hdr = [c.value for c in ws[4]]
    assert hdr[:2] == ["Finding", "School year"]
    data = [[c.value for c in row] for row in ws.iter_rows(min_row=5)]
    # five years for each of the three findings
    assert len(data) == 15
    first = dict(zip(hdr, data[0], strict=True))
    assert first["Numerator"] == 50 and first["Denominator"] == 1200  # round(2.1 * 0.02 * 1200)
    assert len(wb["Charts"]._images) == 1


def test_atomic_write_leaves_no_temp_and_failure_keeps_old(tmp_path):
    path = write_workbook(tmp_path / "a.xlsx", make_inputs())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx"]
    old = path.read_bytes()
    with pytest.raises(WorkbookError, match="not a readable image"):
        write_workbook(path, make_inputs(figures={"broken": b"not a png"}))
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx"]


def test_no_findings_workbook(tmp_path):
    inputs = make_inputs(lea_id="0100002", indicator_rows=None, figures={})
    path = write_workbook(tmp_path / "b.xlsx", inputs)
    wb = load_workbook(path)
    # no finding: no CIM activity sheet (cim_workbook.md section 1)
    assert tuple(wb.sheetnames) == (*layout.SHEETS, layout.GLOSSARY_SHEET, layout.LISTS_SHEET)
    for sheet in layout.ANNOTATION_COLUMNS:
        if sheet not in layout.CIM_SHEETS:
            assert keyed_rows(wb[sheet]) == {}
    text = "\n".join(str(c.value) for row in wb["Summary"].iter_rows() for c in row if c.value)
    assert "Not significantly disproportionate in 2023-24" in text


def test_bad_prompts_file_is_an_error(tmp_path):
    bad = tmp_path / "prompts.yaml"
    bad.write_text("fishbone: []\n", encoding="utf-8")
    with pytest.raises(WorkbookError, match="problem_statement"):
        load_prompts(bad)
    with pytest.raises(WorkbookError, match="does not exist"):
        load_prompts(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_libreoffice_opens_the_workbook(written, tmp_path):
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice (`libreoffice` or `soffice`) is not on PATH")
    profile_dir = tmp_path / "lo_profile"  # own profile: no clash with other LibreOffice runs
    proc = subprocess.run(
        [office, f"-env:UserInstallation=file://{profile_dir}", "--headless", "--convert-to",
         "pdf", "--outdir", str(tmp_path), str(written["path"])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    pdf = tmp_path / (Path(written["path"]).stem + ".pdf")
    assert proc.returncode == 0, proc.stderr
    assert pdf.is_file() and pdf.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-"


# --------------------------------------------------------------------------------------------
# the plan: decided first, its keys are the keys written and read back
# --------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
SAMPLE_IDENTIFIED_LEA = "2071593"  # data/sample/README.md, "Built-in cases"
SAMPLE_CLEAN_LEA = "0110017"  # no finding in the sample


@pytest.fixture(scope="module")
def sample_inputs():
    """WorkbookInputs of two sample LEAs, built from the package's own functions."""
    from cimrca import compute_indicators, compute_results, indicator_sheet, load_dataset

    profile = load_profile("california")
    dataset = load_dataset(SAMPLE)
    results = compute_results(dataset, profile)
    indicator_results = compute_indicators(dataset.indicators, dataset.targets)
    return {
        lea: WorkbookInputs(
            lea_id=lea,
            lea_name=f"Sample LEA {lea}",
            results=results,
            profile=profile,
            indicator_rows=indicator_sheet(indicator_results, lea),
            dataset_name=dataset.name,
            is_synthetic=True,
        )
        for lea in (SAMPLE_IDENTIFIED_LEA, SAMPLE_CLEAN_LEA)
    }


@pytest.mark.parametrize("lea", [SAMPLE_IDENTIFIED_LEA, SAMPLE_CLEAN_LEA])
def test_plan_keys_are_the_keys_the_harvester_reads_back(sample_inputs, tmp_path, lea):
    from cimrca.annotations import read_workbook_annotations

    inputs = sample_inputs[lea]
    plan = plan_workbook(inputs)
    assert plan.keys() == workbook_keys(inputs)
    has = {a.name for a in plan.activities}
    assert [s.name for s in plan.sheets] == [
        n for n in layout.ANNOTATION_COLUMNS if n not in layout.CIM_SHEETS or n in has
    ]
    assert has == (set(layout.CIM_SHEETS) if lea == SAMPLE_IDENTIFIED_LEA else set())
    assert all(s.annotation_columns == layout.ANNOTATION_COLUMNS[s.name] for s in plan.sheets)
    # every annotation cell of every planned row filled, so the harvester reports each row
    filled = {
        (s.name, key, col): f"{key} {col}"
        for s in plan.sheets
        for key in s.keys
        for col in s.annotation_columns
    }
    path = write_workbook(tmp_path, inputs, annotations=filled, plan=plan)
    read = read_workbook_annotations(path)
    assert read == filled
    assert list(dict.fromkeys((sheet, key) for sheet, key, _ in read)) == plan.keys()
    assert layout.ORPHANS_SHEET not in load_workbook(path, read_only=True).sheetnames
    identified = lea == SAMPLE_IDENTIFIED_LEA
    assert any(s == "Root Causes" for s, _ in plan.keys()) is identified
    assert any(s == "Indicators" for s, _ in plan.keys())


def test_writer_refuses_rows_that_differ_from_the_plan(tmp_path, monkeypatch):
    from cimrca.workbook import writer

    path = write_workbook(tmp_path / "a.xlsx", make_inputs())
    old = path.read_bytes()
    monkeypatch.setitem(writer.SHEET_WRITERS, "Action Plan", lambda c, ws, plan: None)
    with pytest.raises(WorkbookError, match="annotatable rows, but its plan has"):
        write_workbook(path, make_inputs())
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xlsx"]


def test_plan_of_other_inputs_is_refused(tmp_path):
    with pytest.raises(WorkbookError, match="made from other inputs"):
        write_workbook(tmp_path, make_inputs(), plan=plan_workbook(make_inputs()))


def test_a_sheet_writer_for_every_sheet_in_order():
    from cimrca.workbook.writer import SHEET_WRITERS

    assert tuple(SHEET_WRITERS) == layout.SHEETS


def test_no_cell_names_a_path_of_this_machine(written, tmp_path):
    """README decision 14: the prompts file by name and content hash, no checkout path."""
    import hashlib
    import zipfile

    shipped = REPO / "templates" / "root_cause_prompts.yaml"
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()[:12]
    paths = {str(REPO), str(Path.cwd()), str(REPO.resolve()), str(Path.cwd().resolve())}
    own = tmp_path / "own_prompts.yaml"
    own.write_bytes(shipped.read_bytes())
    custom = write_workbook(tmp_path / "c.xlsx", make_inputs(prompts_path=own))
    for path, label in [
        (written["path"], f"root_cause_prompts.yaml (sha256 {digest})"),
        (custom, f"own_prompts.yaml (sha256 {digest})"),
    ]:
        wb = load_workbook(path)
        texts = [str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value]
        assert label in texts
        for text in texts:
            assert not any(p in text for p in paths), text
        with zipfile.ZipFile(path) as z:
            xml = b"".join(z.read(n) for n in z.namelist() if n.endswith((".xml", ".rels")))
        assert not any(p.encode() in xml for p in paths | {str(tmp_path)})


# --------------------------------------------------------------------------------------------
# the drill-down: "Where in the LEA" on Drill-Down, the top slices in the Root Causes draft
# --------------------------------------------------------------------------------------------

#: data/sample/README.md, "Designed drill-down cases": 2071593's ident_ed BL finding sits in
#: its two largest middle schools and in grades 6-8.
SD_MIDDLE_SCHOOLS = ("Bittercress Grove Middle School", "Greenmoss Creek Middle School")


@pytest.fixture(scope="module")
def drill_inputs(sample_inputs):
    """2071593's inputs with its findings' drill-down (what a packet passes)."""
    from dataclasses import replace

    from cimrca import load_dataset
    from cimrca.drilldown import compute_drilldown
    from cimrca.findings import findings

    inputs = sample_inputs[SAMPLE_IDENTIFIED_LEA]
    lea = inputs.results[inputs.results["lea_id"] == SAMPLE_IDENTIFIED_LEA]
    found = findings(lea, inputs.profile)
    drill = compute_drilldown(load_dataset(SAMPLE), lea, profile=inputs.profile, findings=found)
    return replace(inputs, findings=found, drilldown=drill)


@pytest.fixture(scope="module")
def drill_book(drill_inputs, tmp_path_factory):
    return write_workbook(tmp_path_factory.mktemp("drill") / "drill.xlsx", drill_inputs)


def _block(ws, title_end: str) -> tuple[str, list[tuple]]:
    """The sentence and the slice rows (as cells) of the block whose title ends so."""
    rows = list(ws.iter_rows())
    start = next(i for i, r in enumerate(rows) if str(r[1].value or "").endswith(title_end))
    sentence = rows[start + 1][1].value
    assert rows[start + 2][0].value == "Part of the LEA"
    body = []
    for r in rows[start + 3 :]:
        if r[0].value is None:
            break
        body.append(r[:11])
    return sentence, body


def test_where_in_the_lea_block_read_back(drill_book, drill_inputs):
    ws = load_workbook(drill_book)["Drill-Down"]
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert "Where in the LEA" in texts
    sentence, body = _block(ws, "(2024-25:ident_ed:BL): by school")
    assert sentence == (
        "2 of 38 schools account for 81% of the students over the threshold in the schools "
        "above its level."
    )
    assert len(body) == 38
    names = [r[0].value for r in body]
    assert tuple(names[:2]) == SD_MIDDLE_SCHOOLS and all(names)
    assert all(isinstance(r[1].value, str) and len(r[1].value) == 7 for r in body)  # codes
    over = [r[2].value for r in body]
    assert all(isinstance(v, float) for v in over)  # numbers as numbers
    assert over == sorted(over, reverse=True)  # largest part first
    assert all(isinstance(r[c].value, int) for r in body for c in (4, 5, 7, 8))  # counts
    assert (body[0][2].number_format, body[0][3].number_format) == ("0.0", "0.0%")
    assert (body[0][4].number_format, body[0][6].number_format) == ("#,##0", "0.00%")
    # the cells are the drill-down at full precision, and the parts add up to the LEA's
    drill = drill_inputs.drilldown
    school = drill[drill["dimension"] == "school"]
    assert over == pytest.approx(school["over_threshold"].tolist(), rel=1e-12)
    assert sum(over) == pytest.approx(school["over_threshold"].sum(), rel=1e-12)
    assert sum(r[4].value for r in body) == int(drill_inputs.findings.iloc[0]["numerator"])
    grade_sentence, grades = _block(ws, "(2024-25:ident_ed:BL): by grade band")
    assert grades[0][0].value == "Grades 6-8" and "97%" in grade_sentence


def test_where_in_the_lea_rows_are_not_annotatable(drill_book, drill_inputs):
    from cimrca.annotations import read_workbook_keys

    keys = read_workbook_keys(drill_book)
    assert not [k for k in keys if k[0] == "Drill-Down"]
    assert keys == set(workbook_keys(drill_inputs))
    # the drill-down adds no row the harvester would read
    assert workbook_keys(drill_inputs) == workbook_keys(replace_drill(drill_inputs, None))


def replace_drill(inputs, drill):
    from dataclasses import replace

    return replace(inputs, drilldown=drill)


def test_root_causes_draft_names_the_two_middle_schools(drill_book, drill_inputs):
    plan = plan_workbook(drill_inputs)
    draft = plan.root_causes[0].rows[0].prompt
    assert (
        "Where in the LEA: the students over the threshold are concentrated in "
        "Bittercress Grove Middle School and Greenmoss Creek Middle School (2 of 38 schools; "
        "81% of the students over the threshold in the schools above its level); grades 6-8 hold 97%."
        in draft
    )
    # the existing sentence is kept, and the workbook shows the same draft
    plain = plan_workbook(replace_drill(drill_inputs, None)).root_causes[0].rows[0].prompt
    assert draft.startswith(plain.split("\n\n")[0] + " Where in the LEA:")
    ws = load_workbook(drill_book)["Root Causes"]
    [cell] = [r[2] for r in ws.iter_rows() if r[1].value == "Problem of practice"]
    assert cell.value == draft


def test_without_a_drilldown_the_sheet_is_unchanged(sample_inputs, tmp_path):
    inputs = sample_inputs[SAMPLE_IDENTIFIED_LEA]
    plan = plan_workbook(inputs)
    assert plan.drill_blocks == () and plan.drill_note == ""
    assert "Where in the LEA" not in plan.root_causes[0].rows[0].prompt
    ws = load_workbook(write_workbook(tmp_path / "a.xlsx", inputs))["Drill-Down"]
    assert "Where in the LEA" not in [c.value for row in ws.iter_rows() for c in row]
