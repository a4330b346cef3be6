"""Tests of small-cell suppression for public packets (cimrca/suppression.py, issue 14).

The hand-made cases quote their arithmetic. California's rule (profile key
``suppress_public_counts_below: 11``) hides counts from 1 to 10 ("10 or fewer").
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimrca.dataset import load_dataset
from cimrca.drilldown import compute_drilldown
from cimrca.errors import UsageError
from cimrca.methodology import compute_results
from cimrca.profiles import load_profile
from cimrca.suppression import (
    COMPLEMENTARY_TEXT,
    PUBLIC_COLUMNS,
    WITHHELD_TEXT,
    overlap_text,
    recoverable,
    scan_public_text,
    suppress_indicators,
    suppress_packet,
    suppress_results,
    suppress_slices,
    suppressed_text,
)

from .conftest import RACES, SAMPLE

PROFILE = load_profile({"name": "test", "threshold": 3.0, "min_cell": 10, "min_n": 20,
                        "suppress_public_counts_below": 11})  # fmt: skip
BELOW = 11
SMALL = "10 or fewer"
YEAR, LEA = "2024-25", "0100001"
NUMBER = re.compile(r"\d{1,3}(,\d{3})*")


def results_rows(counts, *, category="ident_ed", year=YEAR, lea=LEA):
    """Results rows of one LEA-year-category: counts {race: (numerator, denominator)} for the
    seven groups; comparisons are the LEA's other groups, measures as methodology.md."""
    n = np.array([counts[g][0] for g in RACES], dtype=float)
    d = np.array([counts[g][1] for g in RACES], dtype=float)
    cn, cd = n.sum() - n, d.sum() - d
    with np.errstate(divide="ignore", invalid="ignore"):
        risk, comp = n / d, cn / cd
        meets = (n >= 10) & (d >= 20) & (cn >= 10) & (cd >= 20)
        ratio = np.where(meets, risk / comp, np.nan)
        exceeds = ratio > 3.0
        over = np.where(exceeds, np.ceil(n - 3.0 * comp * d), np.nan)
        composition, share = n / n.sum(), d / d.sum()
    return pd.DataFrame(
        {
            "school_year": year, "lea_id": lea, "category": category, "race_ethnicity": RACES,
            "numerator": pd.array(n.astype(int), dtype="Int64"),
            "denominator": pd.array(d.astype(int), dtype="Int64"),
            "risk": risk,
            "lea_comparison_numerator": pd.array(cn.astype(int), dtype="Int64"),
            "lea_comparison_denominator": pd.array(cd.astype(int), dtype="Int64"),
            "state_comparison_numerator": pd.array((cn * 100).astype(int), dtype="Int64"),
            "state_comparison_denominator": pd.array((cd * 100).astype(int), dtype="Int64"),
            "ratio_type": np.where(meets, "risk_ratio", "not_calculated"),
            "ratio": ratio, "threshold": 3.0, "exceeds_threshold": exceeds,
            "weighted_risk_ratio": ratio, "risk_difference": risk - comp,
            "composition": composition, "e_formula_upper": share,
            "students_over_threshold": pd.arrays.IntegerArray(
                np.nan_to_num(over).astype(np.int64), np.isnan(over)
            ),
            "ci_low": ratio * 0.8, "ci_high": ratio * 1.2,
        }
    )  # fmt: skip


def slice_rows(slices, *, dimension="school", category="ident_ed", group="BL"):
    """Drill-down rows of one finding and dimension: slices {value: (n, d, cn, cd)}."""
    values = list(slices)
    n, d, cn, cd = (np.array([slices[v][i] for v in values], dtype=float) for i in range(4))
    with np.errstate(divide="ignore", invalid="ignore"):
        risk, comp = n / d, cn / cd
        over = n - 3.0 * d * (cn.sum() / cd.sum())
        ratio, share = risk / comp, over / over.sum()
    return pd.DataFrame(
        {
            "school_year": YEAR, "lea_id": LEA, "category": category, "race_ethnicity": group,
            "dimension": dimension, "value": values, "label": values,
            **{k: pd.array(v.astype(int), dtype="Int64") for k, v in
               {"numerator": n, "denominator": d, "comparison_numerator": cn,
                "comparison_denominator": cd}.items()},
            "risk": risk, "comparison_risk": comp, "ratio": ratio,
            "over_threshold": over, "share": share,
        }
    )  # fmt: skip


def shown(table, column):
    """The display texts of one column, in input row order."""
    return table.display()[column].tolist()


def leaks(*tables):
    frame = pd.concat([t.to_frame() for t in tables], ignore_index=True)
    relations = pd.concat([t.relations for t in tables]).drop_duplicates()
    return recoverable(frame, relations, below=BELOW)


def small_numbers(frame):
    """Displays of counts that are a number from 1 to 10 (must be none)."""
    counts = frame[frame["cell"] != ""]
    numbers = counts["display"].where(counts["display"].str.fullmatch(NUMBER.pattern), "")
    values = pd.to_numeric(numbers.str.replace(",", ""), errors="coerce")
    return counts[values.between(1, BELOW - 1)]


# --- hand-made cases --------------------------------------------------------------------------

#: BL is a group of 7 students with emotional disturbance out of 400 enrolled; the LEA has
#: 7 + 12 + 30 + 45 + 0 + 20 + 15 = 129 in all.
SEVEN = {"HI": (45, 5000), "AM": (0, 60), "AS": (12, 900), "BL": (7, 400), "PI": (20, 300),
         "WH": (30, 2000), "MU": (15, 500)}  # fmt: skip


def test_a_group_of_seven_is_shown_as_ten_or_fewer_and_its_complements_hidden():
    table = suppress_results(results_rows(SEVEN), profile=PROFILE)
    out = table.display().set_index("race_ethnicity")
    assert out.loc["BL", "numerator"] == SMALL
    # BL's comparison, 129 - 7 = 122, with the LEA total 129 would give 7 back
    assert out.loc["BL", "lea_comparison_numerator"] == COMPLEMENTARY_TEXT
    # the seven groups add up to 129: the smallest other positive part, AS (12), is hidden;
    # then AS's own comparison (117) too, since AS + its comparison = 129
    assert out.loc["AS", "numerator"] == COMPLEMENTARY_TEXT
    assert out.loc["AS", "lea_comparison_numerator"] == COMPLEMENTARY_TEXT
    assert out.loc["AM", "numerator"] == "0"  # zero is shown
    assert out.loc["HI", "numerator"] == "45" and out.loc["WH", "denominator"] == "2,000"
    # risk 7 / 400: banded by what "10 or fewer of 400" says: ceil(100 * 10 / 400) = 3
    assert out.loc["BL", "risk"] == "3% or less"
    assert out.loc["AS", "risk"] == WITHHELD_TEXT  # AS is not small, so no band
    assert out.loc["HI", "risk"] == "0.9%"  # 45 / 5000
    assert leaks(table).empty


def test_reasons_and_notes_name_each_kind_of_suppression():
    table = suppress_results(results_rows(SEVEN), profile=PROFILE)
    f = table.to_frame()
    assert list(f.columns) == ["school_year", "lea_id", "category", "race_ethnicity",
                               *PUBLIC_COLUMNS]  # fmt: skip
    bl = f[f["race_ethnicity"].eq("BL")].set_index("column")
    assert bl.loc["numerator", ["status", "reason"]].tolist() == ["suppressed", "small_count"]
    assert bl.loc["lea_comparison_numerator", "status"] == "complementary"
    assert bl.loc["risk", ["status", "reason"]].tolist() == ["banded", "reveals_hidden_count"]
    notes = table.notes()
    assert notes[0].startswith('Counts from 1 to 10 are shown as "10 or fewer"')
    assert len(notes) == 3


def test_the_label_comes_from_the_profile():
    profile = load_profile({"name": "t", "threshold": 3.0, "min_cell": 10, "min_n": 20,
                            "suppress_public_counts_below": 6})  # fmt: skip
    out = suppress_results(results_rows(SEVEN), profile=profile).display()
    assert suppressed_text(6) == "5 or fewer"
    assert (out["numerator"] == "5 or fewer").sum() == 0  # 7 and 12 are above 5
    assert out.loc[out["race_ethnicity"].eq("BL"), "numerator"].item() == "7"


def test_a_flagged_ratio_with_a_hidden_count_shows_only_its_side_of_the_threshold():
    # BL: 10 of 100 (10%); the rest of the LEA 20 of 1000 (2%): ratio 5.0 > 3, flagged, but
    # 10 is in the suppressed range, so the ratio and the students over the threshold
    # (ceil(10 - 3 * 0.02 * 100) = 4) would give it back
    counts = {g: (4, 100) for g in RACES} | {"BL": (10, 100), "HI": (0, 500)}
    table = suppress_results(results_rows(counts), profile=PROFILE)
    bl = table.display().set_index("race_ethnicity").loc["BL"]
    assert bl["numerator"] == SMALL
    assert bl["ratio"] == "above the threshold (3.0)"
    assert bl["students_over_threshold"] == SMALL
    assert bl["ci_low"] == WITHHELD_TEXT and bl["risk_difference"] == WITHHELD_TEXT
    assert leaks(table).empty


def test_hidden_parts_pinned_by_their_sum_get_a_complement():
    # AM 1 and PI 1 hidden, every other part and the total shown: the reader gets AM + PI = 2,
    # so both are 1; one more part must go
    counts = {"HI": (50, 900), "AM": (1, 40), "AS": (30, 600), "BL": (40, 500),
              "PI": (1, 30), "WH": (60, 900), "MU": (20, 300)}  # fmt: skip
    table = suppress_results(results_rows(counts), profile=PROFILE)
    out = table.display().set_index("race_ethnicity")
    assert out.loc["MU", "numerator"] == COMPLEMENTARY_TEXT  # the smallest shown part, 20
    assert leaks(table).empty


def test_a_school_slice_of_three_and_its_complement():
    # a finding's 30 students in three schools: 3, 12, 15; the whole 30 is the LEA's count
    rows = slice_rows({"0100011": (3, 60, 2, 600), "0100012": (12, 200, 30, 2000),
                       "0100013": (15, 240, 40, 2400)})  # fmt: skip
    table = suppress_slices(rows, profile=PROFILE)
    out = table.display().set_index("value")
    assert out.loc["0100011", "numerator"] == SMALL
    assert out.loc["0100012", "numerator"] == COMPLEMENTARY_TEXT  # 30 - 3 - 15 = 12 hidden
    assert out.loc["0100013", "numerator"] == "15"
    assert out.loc["0100011", "comparison_numerator"] == SMALL  # 2
    assert out.loc["0100012", "comparison_numerator"] == COMPLEMENTARY_TEXT  # 30 < 40
    assert out.loc["0100011", "risk"] == "17% or less"  # ceil(100 * 10 / 60)
    assert out.loc["0100012", "over_threshold"] == WITHHELD_TEXT
    assert out.loc["0100013", "over_threshold"] != WITHHELD_TEXT
    assert leaks(table).empty


def test_slices_and_results_are_suppressed_together():
    # BL's 7 students in two schools (3 + 4) of 400 enrolled (100 + 300); the comparison:
    # 122 = 50 + 72 of 8,760 = 3,000 + 5,760 (SEVEN's totals 129 and 9,160 less BL's)
    rows = slice_rows({"0100011": (3, 100, 50, 3000), "0100012": (4, 300, 72, 5760)})
    tables = suppress_packet(results_rows(SEVEN), profile=PROFILE, drilldown=rows)
    bl = tables["results"].to_frame()
    bl = bl[bl["race_ethnicity"].eq("BL")].set_index("column")
    wholes = tables["drilldown"].to_frame()
    wholes = wholes[wholes["column"].eq("total")].set_index("cell")["display"]
    # the slices' wholes are the results' own cells, with the same display
    for column in ("numerator", "lea_comparison_numerator", "denominator"):
        assert wholes[bl.loc[column, "cell"]] == bl.loc[column, "display"]
    assert bl.loc["numerator", "display"] == SMALL
    assert bl.loc["lea_comparison_numerator", "display"] == COMPLEMENTARY_TEXT
    assert shown(tables["drilldown"], "numerator") == [SMALL, SMALL]
    assert leaks(tables["results"], tables["drilldown"]).empty


def test_a_rate_that_would_reveal_a_suppressed_numerator():
    rows = pd.DataFrame(
        {
            "school_year": ["2022-23", "2023-24", "2024-25"], "lea_id": LEA, "indicator": "5A",
            "numerator": [40, 4, 30], "denominator": [50, 50, 8],
            "rate": [0.8, 0.08, 30 / 8], "prior_rate": [np.nan, 0.8, 0.08],
            "change": [np.nan, -0.72, 30 / 8 - 0.08], "change_z": [np.nan, -7.2, 1.0],
            "change_p_value": [np.nan, 0.0, 0.3], "trend_slope": -0.1, "trend_se": 0.05,
            "trend_ci_low": -0.2, "trend_ci_high": 0.0, "trend_p_value": 0.04,
        }
    )  # fmt: skip
    before = rows.copy()
    out = suppress_indicators(rows, profile=PROFILE).display()
    assert out["numerator"].tolist() == ["40", SMALL, "30"]
    assert out["denominator"].tolist() == ["50", "50", SMALL]
    # 4 of 50: "10 or fewer of 50" = 20% or less; 30 of 8 hides the denominator: withheld
    assert out["rate"].tolist() == ["80.0%", "20% or less", WITHHELD_TEXT]
    assert out["prior_rate"].tolist() == ["", "80.0%", WITHHELD_TEXT]
    assert out["change"].tolist()[1:] == [WITHHELD_TEXT, WITHHELD_TEXT]
    assert set(out["trend_slope"]) == {WITHHELD_TEXT}  # the series has hidden counts
    pd.testing.assert_frame_equal(rows, before)


def test_a_grade_band_is_not_shown_exactly_beside_hidden_schools():
    # a finding's 40 students: two middle schools of 4 and 18 (together grades 6-8: 22) and a
    # high school of 18 (grades 9-12: 18). Alone, 6-8 = 22 and the shown 18 would give the
    # hidden school's 4 back (22 - 18): the suppressor has no school x grade table, so a
    # grade band's exact count beside hidden schools is withheld ("11 or more").
    schools = slice_rows({"0100021": (4, 80, 10, 800), "0100022": (18, 90, 40, 900),
                          "0100031": (18, 200, 60, 2000)})  # fmt: skip
    grades = slice_rows({"6-8": (22, 170, 50, 1700), "9-12": (18, 200, 60, 2000)},
                        dimension="grade_band")  # fmt: skip
    gender = slice_rows({"F": (20, 180, 55, 1850), "M": (20, 190, 55, 1850), "X": (0, 0, 0, 0)},
                        dimension="gender")  # fmt: skip
    table = suppress_slices(pd.concat([schools, grades, gender], ignore_index=True),
                            profile=PROFILE)  # fmt: skip
    out = table.display().set_index(["dimension", "value"])
    assert out.loc[("school", "0100021"), "numerator"] == SMALL
    assert out.loc[("school", "0100022"), "numerator"] == COMPLEMENTARY_TEXT
    assert out.loc[("grade_band", "6-8"), "numerator"] == overlap_text(BELOW) == "11 or more"
    assert out.loc[("grade_band", "9-12"), "numerator"] == "11 or more"
    assert out.loc[("gender", "F"), "numerator"] == "11 or more"
    assert out.loc[("gender", "X"), "numerator"] == "0"  # a zero overlaps nothing
    # the denominators hide nothing in any dimension, so they stay exact
    assert out.loc[("grade_band", "6-8"), "denominator"] == "170"
    assert out.loc[("grade_band", "6-8"), "risk"] == WITHHELD_TEXT
    assert out.loc[("grade_band", "6-8"), "over_threshold"] == WITHHELD_TEXT
    assert "overlap" in set(table.to_frame()["reason"])
    assert any("11 or more" in n for n in table.notes())
    assert leaks(table).empty
    # a finding whose dimensions hide nothing keeps every exact count
    big = slice_rows({"0100021": (40, 80, 100, 800), "0100022": (30, 90, 100, 900)})
    big_grades = slice_rows({"6-8": (70, 170, 200, 1700)}, dimension="grade_band")
    out = suppress_slices(pd.concat([big, big_grades], ignore_index=True), profile=PROFILE)
    assert shown(out, "numerator") == ["40", "30", "70"]


def test_target_met_and_trend_withheld_when_a_count_is_hidden():
    # LEA 0161810 of the sample, 3B_MATH 2024-25: "10 or fewer of 55", "19% or less", target
    # 16%: "met" would say the count is 9 or 10 (ceil(0.16 * 55) = 9)
    rows = pd.DataFrame(
        {
            "school_year": ["2023-24", "2024-25"], "lea_id": LEA, "indicator": "3B_MATH",
            "numerator": [20, 10], "denominator": [55, 55], "rate": [20 / 55, 10 / 55],
            "prior_rate": [np.nan, 20 / 55], "change": [np.nan, -10 / 55],
            "change_z": [np.nan, -1.0], "change_p_value": [np.nan, 0.3], "trend_slope": 0.01,
            "trend_se": 0.01, "trend_ci_low": 0.0, "trend_ci_high": 0.02, "trend_p_value": 0.5,
            "target": 0.16, "target_status": ["met", "met"], "trend_direction": "improving",
        }
    )  # fmt: skip
    table = suppress_indicators(rows, profile=PROFILE)
    out = table.display()
    assert out["rate"].tolist() == ["36.4%", "19% or less"]
    assert out["target_status"].tolist() == ["met", WITHHELD_TEXT]
    assert out["trend_direction"].tolist() == [WITHHELD_TEXT, WITHHELD_TEXT]
    assert out["target"].tolist() == [0.16, 0.16]  # the State's target is no count
    cells = table.to_frame()
    reason = cells.loc[cells["column"].eq("target_status") & cells["row"].eq(1), "reason"]
    assert reason.item() == "reveals_hidden_count"
    # "no target" compares nothing with the count
    rows["target_status"] = "no target"
    assert suppress_indicators(rows, profile=PROFILE).display()["target_status"].tolist() == [
        "no target",
        "no target",
    ]


def test_errors_name_what_to_do():
    rows = results_rows(SEVEN)
    with pytest.raises(UsageError, match="have 6 of the 7 groups; suppress the LEA's whole"):
        suppress_results(rows.iloc[1:], profile=PROFILE)
    with pytest.raises(UsageError, match=r"lacks column\(s\) ratio_type"):
        suppress_results(rows.drop(columns="ratio_type"), profile=PROFILE)
    with pytest.raises(UsageError, match="unknown kind 'xml'"):
        scan_public_text("", below=BELOW, kind="xml")


# --- the checks can fail ----------------------------------------------------------------------


def test_recoverable_finds_a_complement_shown_by_mistake():
    table = suppress_results(results_rows(SEVEN), profile=PROFILE)
    frame = table.to_frame()
    undone = frame["status"].eq("complementary") & frame["race_ethnicity"].eq("BL")
    frame.loc[undone, "display"] = "122"  # BL's comparison numerator: 129 - 7
    found = recoverable(frame, table.relations, below=BELOW)
    assert 7 in found["recovered"].tolist()
    assert set(found["how"]) == {"subtraction"}


def test_recoverable_finds_parts_pinned_by_bounds():
    frame = pd.DataFrame({"cell": ["a", "b", "c", "t"], "display": [SMALL, SMALL, "20", "22"]})
    relations = pd.DataFrame({"relation": "r", "cell": ["a", "b", "c", "t"],
                              "role": ["part", "part", "part", "total"]})  # fmt: skip
    found = recoverable(frame, relations, below=BELOW)
    assert found[["cell", "recovered", "how"]].values.tolist() == [
        ["a", 1, "bounds"], ["b", 1, "bounds"]
    ]  # fmt: skip
    frame.loc[3, "display"] = "23"  # a + b = 3: 1 + 2 or 2 + 1
    assert recoverable(frame, relations, below=BELOW).empty


@pytest.mark.parametrize(
    "text",
    [
        "7 students",
        "BL: 7 of 400",
        "count was 10.",
        "(3)",
        "3, 4 and 5",
        "alt 9",
    ],
)
def test_scanner_flags_small_counts(text):
    found = scan_public_text(text, below=BELOW)
    assert found and 1 <= int(found[0].value) <= 10


@pytest.mark.parametrize(
    "text",
    [
        "school year 2024-25",
        "Grades 6-8 and K-5",
        "ratio 3.62",
        "threshold 3.0",
        "7%",
        "LEA 0128242",
        "Indicator 4A",
        "Indicator 1",
        "34 CFR 300.647(b)(5)",
        "10 or fewer",
        "1,702 students",
        "2026-11-29",
        "12:30",
        "21% or less",
        "+1.2 points",
        "0 students",
        "11 students",
    ],
)
def test_scanner_passes_numbers_that_are_not_small_counts(text):
    assert scan_public_text(text, below=BELOW) == []


def test_scanner_reads_html_and_json():
    page = (
        "<html><head><style>p {margin: 2px}</style></head><body>\n"
        '<p>2024-25: 12 students</p>\n<img alt="7 students" src="data:image/png;base64,AA9">\n'
        "<script>var x = 3;</script></body></html>"
    )
    found = scan_public_text(page, below=BELOW, kind="html", name="p.html")
    assert [(p.row, p.column, p.value) for p in found] == [
        (3, "<img alt>", "7"), (4, "<script>", None)
    ]  # fmt: skip
    doc = {"threshold": 3.0, "years": 3, "rows": [{"numerator": 7, "note": "of 4 schools"},
                                                   {"lea_comparison_denominator": 2000}]}  # fmt: skip
    found = scan_public_text(json.dumps(doc), below=BELOW, kind="json")
    assert [(p.column, p.value) for p in found] == [
        ("$.rows[0].numerator", "7"), ("$.rows[0].note", "4")
    ]  # fmt: skip


# --- property: random LEAs and partitions -----------------------------------------------------

group_counts = st.tuples(st.integers(0, 60), st.integers(0, 400)).map(
    lambda t: (min(t), max(t))
)  # (numerator, denominator), numerator <= denominator


@st.composite
def lea_with_slices(draw):
    counts = {g: draw(group_counts) for g in RACES}
    other = {g: draw(group_counts) for g in RACES}
    n, d = counts["BL"]
    # partition BL's counts and the comparison's over a few schools
    k = draw(st.integers(1, 5))
    cn = sum(c[0] for g, c in counts.items() if g != "BL")
    cd = sum(c[1] for g, c in counts.items() if g != "BL")
    parts = []
    for total in (n, d, cn, cd):
        cuts = sorted(draw(st.lists(st.integers(0, total), min_size=k - 1, max_size=k - 1)))
        parts.append(np.diff([0, *cuts, total]))
    slices = {f"01000{i:02d}": tuple(int(p[i]) for p in parts) for i in range(k)}
    return counts, other, slices


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lea_with_slices())
def test_property_nothing_small_shown_and_nothing_recoverable(case):
    counts, other, slices = case
    results = pd.concat(
        [results_rows(counts), results_rows(other, category="ident_aut")], ignore_index=True
    )
    # ident_aut shares the enrollment (the denominator) with ident_ed: same cells
    results.loc[results["category"].eq("ident_aut"), "denominator"] = results.loc[
        results["category"].eq("ident_ed"), "denominator"
    ].to_numpy()
    aut = results["category"].eq("ident_aut")
    results.loc[aut, "lea_comparison_denominator"] = results.loc[
        ~aut, "lea_comparison_denominator"
    ].to_numpy()
    drill = slice_rows(slices)
    before_r, before_d = results.copy(), drill.copy()
    tables = suppress_packet(results, profile=PROFILE, drilldown=drill)
    pd.testing.assert_frame_equal(results, before_r)
    pd.testing.assert_frame_equal(drill, before_d)
    frames = [t.to_frame() for t in tables.values()]
    for f in frames:
        assert small_numbers(f).empty
    assert leaks(*tables.values()).empty
    # a shared count is displayed the same everywhere
    every = pd.concat(frames)
    every = every[every["cell"] != ""]
    assert every.groupby("cell")["display"].nunique().max() == 1
    # the public tables pass the scanner
    for t in tables.values():
        text = t.display().to_json(orient="records")
        assert scan_public_text(text, below=BELOW, kind="json") == []
    # a measure is a number only when every count it uses is shown
    r = tables["results"].display()
    hidden = ~r["numerator"].str.fullmatch(NUMBER.pattern) | ~r["denominator"].str.fullmatch(
        NUMBER.pattern
    )
    assert not r.loc[hidden, "risk"].str.fullmatch(r"\d+\.\d%").any()


# --- the sample's small cases -----------------------------------------------------------------


@pytest.fixture(scope="module")
def rushmere():
    """LEA 2071593 of the sample (README: sd_ident_ed_bl) and its drill-down."""
    dataset, profile = load_dataset(SAMPLE), load_profile("california")
    results = compute_results(dataset, profile)
    drill = compute_drilldown(dataset, results, profile=profile)
    lea = results[results["lea_id"].eq("2071593")].reset_index(drop=True)
    return lea, drill[drill["lea_id"].eq("2071593")].reset_index(drop=True), profile


def test_sample_group_of_seven_and_slice_of_three(rushmere):
    lea, drill, profile = rushmere
    tables = suppress_packet(lea, profile=profile, drilldown=drill)
    r = tables["results"].display()
    # 2024-25, in-school suspensions of 10 days or fewer: 7 of the 128 multiracial children
    # with disabilities (the sample's numbers)
    mu = r[r["school_year"].eq("2024-25") & r["category"].eq("disc_iss_le10")
           & r["race_ethnicity"].eq("MU")]  # fmt: skip
    assert lea.loc[mu.index, "numerator"].item() == 7
    assert mu[["numerator", "denominator", "risk"]].values.tolist() == [
        [SMALL, "128", "8% or less"]  # ceil(100 * 10 / 128) = 8
    ]
    # the finding ident_ed BL: grades 9-12 hold 3 of its 31 students
    d = tables["drilldown"].display()
    nine = d[d["dimension"].eq("grade_band") & d["value"].eq("9-12")]
    assert drill.loc[nine.index, "numerator"].item() == 3
    assert nine["numerator"].item() == SMALL
    for f in (tables["results"].to_frame(), tables["drilldown"].to_frame()):
        assert small_numbers(f).empty
    assert leaks(*tables.values()).empty
    text = pd.concat([r, d]).to_json(orient="records")
    assert scan_public_text(text, below=11, kind="json") == []
    # the students over the threshold of the flagged finding (9) are a count too
    bl = r[r["school_year"].eq("2024-25") & r["category"].eq("ident_ed")
           & r["race_ethnicity"].eq("BL")]  # fmt: skip
    assert bl["students_over_threshold"].item() == SMALL
    assert math.isclose(lea.loc[bl.index, "ratio"].item(), 4.091069, rel_tol=1e-6)


def test_doctests_run(monkeypatch):
    import doctest

    from cimrca import suppression as suppression_module

    monkeypatch.chdir(SAMPLE.parents[1])  # the docstring reads data/sample
    failures, tried = doctest.testmod(suppression_module)
    assert tried > 0 and failures == 0
