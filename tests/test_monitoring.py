"""Monitoring levels (monitoring.md sections 2-3): every rule and every band edge, by hand.

Each small State below is built so that its percentiles can be worked out on paper; the
comments give the arithmetic. Percentile = 100 * (average rank, ascending goodness) / n
(monitoring.md rule 5).
"""

from __future__ import annotations

import pandas as pd
import pytest

from cimrca.dataset import dataset_from_frames
from cimrca.errors import ProfileError, UsageError
from cimrca.indicators import RESULT_COLUMNS, compute_indicators
from cimrca.monitoring import (
    REASON_INDICATOR_COLUMNS,
    compute_monitoring,
    indicator_percentiles,
    monitoring_columns,
    read_monitoring,
    reason_indicators,
    write_monitoring,
)
from cimrca.profiles import load_profile

from .conftest import lea_id, run_cli

YEAR = "2024-25"
RULES = {
    "small_lea_max_swd": 100,
    "min_denominator": 30,
    "domains": {"achievement": ["3B_ELA"]},
    "min_domains": 1,
    "intensive_bands": [4, 8, 10],
    "targeted_3_band": 20,
    "lre_indicators": [],
    "lre_bottom": 10,
}


def make_profile(**rules):
    return load_profile(
        {"name": "test", "threshold": 3.0, "years_required": 3, "monitoring": {**RULES, **rules}}
    )


def make_state(swd, indicators=(), targets=(), disproportionate=(), *, year=YEAR):
    """A State of LEAs 1..n: ``swd`` {lea: students with disabilities}.

    ``indicators``: (lea, code, numerator, denominator); ``targets``: (code, target,
    higher_is_better); ``disproportionate``: (lea, consecutive_years, significantly
    disproportionate). Returns the data set, a results table and the indicator results.
    """
    leas = [lea_id(i) for i in swd]
    child = pd.DataFrame(
        {"school_year": year, "lea_id": leas, "race_ethnicity": "HI", "disability": "SLD",
         "count": [float(n) for n in swd.values()]}
    )  # fmt: skip
    enrollment = child.drop(columns="disability").assign(count=child["count"] * 10 + 10)
    empty = {
        "environments": ["school_year", "lea_id", "race_ethnicity", "environment", "count"],
        "discipline": ["school_year", "lea_id", "race_ethnicity", "removal_type", "count"],
    }
    ds = dataset_from_frames(
        {
            "leas": pd.DataFrame({"lea_id": leas, "lea_name": [f"LEA {x}" for x in leas]}),
            "enrollment": enrollment,
            "child_count": child,
            **{name: pd.DataFrame(columns=cols) for name, cols in empty.items()},
        }
    )
    results = pd.DataFrame(
        [
            {"school_year": year, "lea_id": lea_id(i), "category": "ident_ed",
             "race_ethnicity": "BL", "consecutive_years": n,
             "significantly_disproportionate": sd, "profile": "test"}
            for i, n, sd in disproportionate
        ],
        columns=["school_year", "lea_id", "category", "race_ethnicity", "consecutive_years",
                 "significantly_disproportionate", "profile"],
    )  # fmt: skip
    results["consecutive_years"] = results["consecutive_years"].astype("int64")
    results["significantly_disproportionate"] = results["significantly_disproportionate"].astype(
        bool
    )
    ind = pd.DataFrame(
        [(year, lea_id(i), c, float(n), float(d)) for i, c, n, d in indicators],
        columns=["school_year", "lea_id", "indicator", "numerator", "denominator"],
    )
    tgt = pd.DataFrame(
        [(year, c, t, h) for c, t, h in targets],
        columns=["school_year", "indicator", "target", "higher_is_better"],
    )
    if ind.empty:  # a State without indicator rows: an empty indicator table
        return ds, results, pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS})
    return ds, results, compute_indicators(ind, tgt if len(tgt) else None)


def levels(out):
    return dict(zip(out["lea_id"], out["level"], strict=True))


def ranked_state(n, **rules):
    """n LEAs of 200 students with disabilities; LEA i has 3B_ELA rate i/100 (higher better).

    With one domain of one indicator, the composite is LEA i's percentile 100 i / n, and the
    composite percentile ranks those again: 100 i / n.
    """
    indicators = [(i, "3B_ELA", i, 100) for i in range(1, n + 1)]
    ds, res, ir = make_state(dict.fromkeys(range(1, n + 1), 200), indicators,
                             [("3B_ELA", 0.0, True)])  # fmt: skip
    return compute_monitoring(ds, res, ir, make_profile(**rules))


# --- columns, bands -----------------------------------------------------------------------------


def test_columns_are_those_of_section_3_one_row_per_year_and_lea_sorted():
    out = ranked_state(5)
    assert tuple(out.columns) == monitoring_columns(make_profile())
    assert list(out.columns) == [
        "school_year", "lea_id", "level", "significantly_disproportionate", "cim_required",
        "students_with_disabilities", "elements_missed", "elements_missed_list",
        "composite_score", "composite_percentile", "domain_achievement",
        "lre_bottom_list", "disproportionate_two_years", "reasons",
    ]  # fmt: skip
    assert out["lea_id"].tolist() == [lea_id(i) for i in range(1, 6)]


def test_band_edges_at_25_leas_percentiles_exactly_4_8_and_20():
    # 25 LEAs: LEA i's composite percentile is 100 i / 25 = 4 i: 4, 8, 12, 16, 20, 24, ...
    out = ranked_state(25)
    assert out["composite_percentile"].tolist()[:6] == [4.0, 8.0, 12.0, 16.0, 20.0, 24.0]
    got = levels(out)
    assert got[lea_id(1)] == "intensive_3"  # 4 <= 4
    assert got[lea_id(2)] == "intensive_2"  # 8 <= 8
    assert [got[lea_id(i)] for i in (3, 4, 5)] == ["targeted_3"] * 3  # 12, 16, 20 <= 20
    assert got[lea_id(6)] == "universal"  # 24 > 20; the target 0 is met by everyone
    assert out["cim_required"].tolist()[:6] == [True] * 5 + [False]


def test_band_edge_exactly_10_is_intensive_1():
    # 10 LEAs: LEA 1 at 100 * 1 / 10 = 10 (<= 10: intensive_1); LEA 2 at 20 (targeted_3).
    got = levels(ranked_state(10))
    assert (got[lea_id(1)], got[lea_id(2)], got[lea_id(3)]) == (
        "intensive_1",
        "targeted_3",
        "universal",
    )


def test_bands_come_from_the_profile():
    # The same 10 LEAs with bands [5, 15, 25] and Targeted 3 at 35: 10 -> intensive_2,
    # 20 -> intensive_1, 30 -> targeted_3, 40 -> universal.
    out = ranked_state(10, intensive_bands=[5, 15, 25], targeted_3_band=35)
    assert out["level"].tolist()[:4] == ["intensive_2", "intensive_1", "targeted_3", "universal"]


# --- ranking rules ------------------------------------------------------------------------------


def test_ties_share_the_mean_rank():
    # 5B (lower is better) rates 0.10, 0.30, 0.30, 0.20: goodness -0.1, -0.3, -0.3, -0.2.
    # Ascending: the two -0.3 take ranks 1 and 2 -> mean 1.5 -> 100 * 1.5 / 4 = 37.5;
    # -0.2 rank 3 -> 75; -0.1 rank 4 -> 100.
    indicators = [(1, "5B", 10, 100), (2, "5B", 30, 100), (3, "5B", 30, 100), (4, "5B", 20, 100)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 5), 200), indicators,
                             [("5B", 1.0, False)])  # fmt: skip
    profile = make_profile(domains={"placement": ["5B"]})
    pct = indicator_percentiles(ir, profile)
    assert pct["percentile"].tolist() == [100.0, 37.5, 37.5, 75.0]
    out = compute_monitoring(ds, res, ir, profile)
    # The composite is the same percentile; ranked again it gives the same numbers.
    assert out["composite_percentile"].tolist() == [100.0, 37.5, 37.5, 75.0]
    assert out["domain_placement"].tolist() == [100.0, 37.5, 37.5, 75.0]


def test_min_denominator_leaves_an_lea_out_of_the_ranking():
    # LEA 5 has the worst rate but 29 students (< 30): not ranked, so the other four rank
    # among themselves: 1/100, 2/100, 3/100, 4/100 -> 25, 50, 75, 100.
    indicators = [(i, "3B_ELA", i, 100) for i in range(1, 5)] + [(5, "3B_ELA", 0, 29)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 6), 200), indicators)
    out = compute_monitoring(ds, res, ir, make_profile())
    assert out["composite_percentile"].tolist()[:4] == [25.0, 50.0, 75.0, 100.0]
    assert pd.isna(out["composite_percentile"].iloc[4]) and pd.isna(out["composite_score"].iloc[4])
    assert out["level"].iloc[4] == "universal"
    # exactly 30 is enough: LEA 5 then ranks first of five (percentile 20 -> targeted_3)
    indicators[-1] = (5, "3B_ELA", 0, 30)
    ds, res, ir = make_state(dict.fromkeys(range(1, 6), 200), indicators)
    out = compute_monitoring(ds, res, ir, make_profile())
    assert (out["composite_percentile"].iloc[4], out["level"].iloc[4]) == (20.0, "targeted_3")


def test_domains_composite_and_min_domains():
    # Two domains. Achievement: 3B_ELA and 3B_MATH (higher better); climate: SUSP_SWD (lower).
    # LEA   3B_ELA  3B_MATH  SUSP_SWD
    #  1     10/100  20/100   30/100
    #  2     20/100  10/100   10/100
    #  3     30/100  30/100   20/100
    #  4     40/100   -        -        (one indicator only: achievement only)
    # 3B_ELA percentiles over 4 LEAs: 25, 50, 75, 100. 3B_MATH over 3: LEA2 33.33, LEA1 66.67,
    # LEA3 100. SUSP_SWD over 3 (goodness -0.3, -0.1, -0.2): LEA1 33.33, LEA3 66.67, LEA2 100.
    # achievement: LEA1 (25 + 66.67) / 2 = 45.83; LEA2 (50 + 33.33) / 2 = 41.67;
    #              LEA3 (75 + 100) / 2 = 87.5; LEA4 100.
    # climate: LEA1 33.33, LEA2 100, LEA3 66.67; LEA4 none.
    # composite (min_domains 2): LEA1 (45.83 + 33.33) / 2 = 39.58; LEA2 (41.67 + 100) / 2 =
    # 70.83; LEA3 (87.5 + 66.67) / 2 = 77.08; LEA4 not ranked (one domain).
    # composite percentile over 3: LEA1 33.33, LEA2 66.67, LEA3 100.
    rows = [(1, "3B_ELA", 10, 100), (1, "3B_MATH", 20, 100), (1, "SUSP_SWD", 30, 100),
            (2, "3B_ELA", 20, 100), (2, "3B_MATH", 10, 100), (2, "SUSP_SWD", 10, 100),
            (3, "3B_ELA", 30, 100), (3, "3B_MATH", 30, 100), (3, "SUSP_SWD", 20, 100),
            (4, "3B_ELA", 40, 100)]  # fmt: skip
    ds, res, ir = make_state(dict.fromkeys(range(1, 5), 200), rows)
    profile = make_profile(
        domains={"achievement": ["3B_ELA", "3B_MATH"], "climate": ["SUSP_SWD"]}, min_domains=2
    )
    out = compute_monitoring(ds, res, ir, profile)
    assert out["domain_achievement"].tolist() == pytest.approx([275 / 6, 125 / 3, 87.5, 100.0])
    assert out["domain_climate"].tolist()[:3] == pytest.approx([100 / 3, 100.0, 200 / 3])
    assert out["composite_score"].tolist()[:3] == pytest.approx([475 / 12, 425 / 6, 925 / 12])
    assert out["composite_percentile"].tolist()[:3] == pytest.approx([100 / 3, 200 / 3, 100.0])
    assert pd.isna(out["composite_score"].iloc[3]) and pd.isna(out["domain_climate"].iloc[3])
    # min_domains 1: LEA 4 is ranked too, on achievement alone (100): composites 39.58,
    # 70.83, 77.08, 100 -> percentiles 25, 50, 75, 100.
    out = compute_monitoring(ds, res, ir, make_profile(**{**profile.monitoring.to_dict(),
                                                          "min_domains": 1}))  # fmt: skip
    assert out["composite_percentile"].tolist() == [25.0, 50.0, 75.0, 100.0]


# --- cyclical -----------------------------------------------------------------------------------


def test_exactly_100_students_is_cyclical_101_is_not_and_cyclical_leas_are_not_ranked():
    # LEA 1 (100 students with disabilities) has the worst rate; it is cyclical and left out,
    # so LEAs 2..6 rank among five: 20, 40, 60, 80, 100. LEA 2 (101) is ranked: 20 -> targeted_3.
    swd = {1: 100, 2: 101, 3: 500, 4: 500, 5: 500, 6: 500}
    rows = [(i, "3B_ELA", i, 100) for i in swd] + [(1, "11", 5, 10)]
    ds, res, ir = make_state(swd, rows, [("3B_ELA", 0.0, True), ("11", 1.0, True)],
                             disproportionate=[(1, 2, False)])  # fmt: skip
    out = compute_monitoring(ds, res, ir, make_profile())
    got = levels(out)
    assert (got[lea_id(1)], got[lea_id(2)]) == ("cyclical", "targeted_3")
    assert out["composite_percentile"].tolist()[1:] == [20.0, 40.0, 60.0, 80.0, 100.0]
    first = out.iloc[0]
    # elements missed are still reported for information; percentiles empty; rule 7 not applied
    assert (first["elements_missed"], first["elements_missed_list"]) == (1, "11")
    assert pd.isna(first["composite_score"]) and pd.isna(first["domain_achievement"])
    assert not first["cim_required"]
    assert first["students_with_disabilities"] == 100
    assert first["reasons"] == (
        "students with disabilities 100, at most 100: a small LEA, monitored on a cycle (cyclical)"
    )


def test_students_with_disabilities_sum_every_race_and_disability_skipping_missing():
    ds, res, ir = make_state({1: 60, 2: 200})
    child = ds.child_count
    extra = pd.concat(
        [child, child.assign(race_ethnicity="NR", disability="AUT", count=[41.0, float("nan")])]
    )
    ds2 = dataset_from_frames(
        {"leas": ds.leas, "enrollment": pd.concat([ds.enrollment,
         ds.enrollment.assign(race_ethnicity="NR")]), "child_count": extra,
         "environments": ds.environments, "discipline": ds.discipline}
    )  # fmt: skip
    out = compute_monitoring(ds2, res, ir, make_profile())
    # LEA 1: 60 + 41 (NR counts) = 101 -> not cyclical; LEA 2: 200 + missing (skipped) = 200.
    assert out["students_with_disabilities"].tolist() == [101, 200]
    assert out["level"].tolist() == ["universal", "universal"]


# --- elements missed, LRE, disproportionality ---------------------------------------------------


def test_elements_missed_one_or_two_targeted_1_three_or_more_targeted_2():
    # targets: 11, 12, 13 at 1.0 (higher better); 4A has no target (never counted).
    targets = [("11", 1.0, True), ("12", 1.0, True), ("13", 1.0, True)]
    rows = [
        (1, "11", 9, 10),  # one missed
        (2, "11", 9, 10), (2, "12", 9, 10), (2, "4A", 5, 10),  # two missed; 4A not counted
        (3, "11", 9, 10), (3, "12", 9, 10), (3, "13", 9, 10),  # three missed
        (4, "11", 10, 10), (4, "13", 0, 0),  # met, and 13 with no rate (not counted)
    ]  # fmt: skip
    ds, res, ir = make_state(dict.fromkeys(range(1, 5), 200), rows, targets)
    out = compute_monitoring(ds, res, ir, make_profile())
    assert out["elements_missed"].tolist() == [1, 2, 3, 0]
    assert out["elements_missed_list"].tolist() == ["11", "11;12", "11;12;13", ""]
    assert out["level"].tolist() == ["targeted_1", "targeted_1", "targeted_2", "universal"]
    assert out["reasons"].iloc[2] == "missed the target on 3 indicators: 11, 12, 13 (targeted_2)"
    assert out["reasons"].iloc[3] == "met every indicator target (universal)"
    assert out["cim_required"].tolist() == [True, True, True, False]


def test_lre_bottom_places_an_lea_at_targeted_3():
    # 10 LEAs; 5B (lower better) rate (11 - i) / 100: LEA 1 worst -> percentile 10 <= 10;
    # LEA 2 -> 20 (not). Achievement is tied for all (ranks 1..10 share 5.5 -> 55): no band.
    rows = [(i, "5B", 11 - i, 100) for i in range(1, 11)]
    rows += [(i, "3B_ELA", 50, 100) for i in range(1, 11)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 11), 200), rows)
    out = compute_monitoring(ds, res, ir, make_profile(lre_indicators=["5A", "5B"]))
    assert out["composite_percentile"].tolist() == [55.0] * 10
    assert out["lre_bottom_list"].tolist()[:2] == ["5B", ""]
    assert out["level"].tolist()[:2] == ["targeted_3", "universal"]
    assert (
        "bottom 10% on a least restrictive environment indicator: 5B (percentile 10.0)"
        in (out["reasons"].iloc[0])
    )


def test_two_years_disproportionate_is_targeted_3_one_year_is_not():
    dis = [(1, 2, False), (2, 1, False), (3, 3, True)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 4), 200), disproportionate=dis)
    out = compute_monitoring(ds, res, ir, make_profile())
    assert out["disproportionate_two_years"].tolist() == [True, False, True]
    assert out["level"].tolist() == ["targeted_3", "universal", "targeted_3"]
    assert out["significantly_disproportionate"].tolist() == [False, False, True]
    assert out["reasons"].iloc[0] == (
        "disproportionate two or more years in a row: Black or African American students, "
        "identification, emotional disturbance (2 years) (targeted_3)"
    )


def test_significantly_disproportionate_requires_cim_beside_any_level():
    # years_required 1 (a results table where one year identifies): LEA 1 universal but
    # significantly disproportionate; LEA 2 cyclical and significantly disproportionate.
    dis = [(1, 1, True), (2, 1, True)]
    ds, res, ir = make_state({1: 200, 2: 50}, disproportionate=dis)
    out = compute_monitoring(ds, res, ir, make_profile())
    assert out["level"].tolist() == ["universal", "cyclical"]
    assert out["significantly_disproportionate"].tolist() == [True, True]
    assert out["cim_required"].tolist() == [True, True]
    assert out["reasons"].iloc[0].startswith("significantly disproportionate (34 CFR 300.647)")


def test_the_highest_level_wins_and_every_reason_is_listed():
    # 25 LEAs ranked as in the band test; LEA 1 (intensive_3) also missed 3 targets and was
    # disproportionate 2 years: level intensive_3, with four reasons.
    rows = [(i, "3B_ELA", i, 100) for i in range(1, 26)]
    rows += [(1, c, 9, 10) for c in ("11", "12", "13")]
    targets = [("3B_ELA", 0.0, True), ("11", 1.0, True), ("12", 1.0, True), ("13", 1.0, True)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 26), 200), rows, targets,
                             disproportionate=[(1, 2, False)])  # fmt: skip
    out = compute_monitoring(ds, res, ir, make_profile())
    first = out.iloc[0]
    assert first["level"] == "intensive_3"
    assert first["reasons"].split("; ") == [
        "composite percentile of achievement 4.0, at or under 4: bottom of the Intensive "
        "evaluation (intensive_3)",
        "disproportionate two or more years in a row: Black or African American students, "
        "identification, emotional disturbance (2 years) (targeted_3)",
        "missed the target on 3 indicators: 11, 12, 13 (targeted_2)",
    ]


# --- errors, purity, storage --------------------------------------------------------------------


def test_a_profile_without_monitoring_says_so():
    ds, res, ir = make_state({1: 200})
    plain = load_profile({"name": "plain", "threshold": 3.0})
    with pytest.raises(ProfileError, match="profile plain defines no monitoring levels"):
        compute_monitoring(ds, res, ir, plain)


def test_results_of_another_profile_are_refused():
    ds, res, ir = make_state({1: 200}, disproportionate=[(1, 1, False)])
    with pytest.raises(UsageError, match="computed with profile test but monitoring uses other"):
        compute_monitoring(ds, res, ir, load_profile({"name": "other", "threshold": 3.0,
                                                       "monitoring": RULES}))  # fmt: skip


def test_inputs_are_not_mutated():
    rows = [(i, "3B_ELA", i, 100) for i in range(1, 6)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 6), 200), rows,
                             disproportionate=[(1, 2, False)])  # fmt: skip
    before = (ds.child_count.copy(), res.copy(), ir.copy())
    compute_monitoring(ds, res, ir, make_profile())
    pd.testing.assert_frame_equal(ds.child_count, before[0])
    pd.testing.assert_frame_equal(res, before[1])
    pd.testing.assert_frame_equal(ir, before[2])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_and_read_round_trip(tmp_path, suffix):
    out = ranked_state(25)
    path = write_monitoring(out, tmp_path / f"monitoring{suffix}")
    back = read_monitoring(path)
    pd.testing.assert_frame_equal(back, out, check_dtype=suffix == ".parquet")
    assert back["lea_id"].iloc[0] == "0100001"
    with pytest.raises(UsageError, match="must end in .csv or .parquet"):
        write_monitoring(out, tmp_path / "monitoring.xlsx")


def test_reason_indicators_of_an_intensive_lea():
    # LEA 1 of the 25: intensive_3 on the composite (3B_ELA percentile 4), and it missed 11.
    rows = [(i, "3B_ELA", i, 100) for i in range(1, 26)] + [(1, "11", 9, 10), (1, "12", 10, 10)]
    targets = [("3B_ELA", 0.05, True), ("11", 1.0, True), ("12", 1.0, True)]
    ds, res, ir = make_state(dict.fromkeys(range(1, 26), 200), rows, targets)
    profile = make_profile()
    mon = compute_monitoring(ds, res, ir, profile)
    got = reason_indicators(mon, ir, profile, lea_id(1))
    assert tuple(got.columns) == REASON_INDICATOR_COLUMNS
    # 3B_ELA: behind the level (composite) and missed (0.01 < 0.05); 11: missed, not the level.
    assert got["indicator"].tolist() == ["3B_ELA", "11"]
    assert got["level_reason"].tolist() == [True, False]
    assert got["why"].tolist() == [
        "target missed; pulls the composite down (percentile 4.0)",
        "target missed",
    ]
    # A targeted_1 LEA: its missed indicators are the reasons for its level.
    got = reason_indicators(mon, ir, profile, lea_id(2))  # 0.02 < 0.05: missed, percentile 8
    assert got["indicator"].tolist() == ["3B_ELA"] and got["level_reason"].tolist() == [True]
    assert reason_indicators(mon, ir, profile, lea_id(20)).empty
    with pytest.raises(UsageError, match="no row in the monitoring table"):
        reason_indicators(mon, ir, profile, "9999999")


def test_doctests_run():
    import doctest

    from cimrca import monitoring as monitoring_module

    failures, tried = doctest.testmod(monitoring_module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


# --- the command line ---------------------------------------------------------------------------


def test_cli_writes_monitoring_csv(tmp_path, capsys):
    from cimrca.cli import main

    from .conftest import SAMPLE

    out = tmp_path / "monitoring.csv"
    assert main(["monitoring", str(SAMPLE), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Annual Determination Letter is the official level" in printed
    table = read_monitoring(out)
    assert tuple(table.columns) == monitoring_columns(load_profile("california"))
    assert len(table) == table[["school_year", "lea_id"]].drop_duplicates().shape[0] == 250


def test_cli_exits_2_for_a_profile_without_monitoring(tmp_path):
    done = run_cli("monitoring", "data/sample", "--out", tmp_path / "m.csv",
                   "--profile", "federal_defaults")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "cimrca monitoring: error: profile federal_defaults defines no monitoring levels: it has "
        "no `monitoring` section. Use a profile that has one (california), or add the section "
        "(example_state.yaml documents its keys)."
    ]
    assert not (tmp_path / "m.csv").exists()


def test_command_help_and_package_exports():
    import cimrca

    done = run_cli("monitoring", "--help")
    assert done.returncode == 0 and "usage: cimrca monitoring" in done.stdout
    assert cimrca.compute_monitoring is compute_monitoring
    assert {"compute_monitoring", "read_monitoring", "reason_indicators"} <= set(dir(cimrca))


def test_designed_disproportionality_cases_of_the_sample():
    """data/sample/README.md's built-in cases, as monitoring sees them in 2024-25."""
    from cimrca.dataset import load_dataset
    from cimrca.methodology import compute_results

    from .conftest import SAMPLE

    ds, profile = load_dataset(SAMPLE), load_profile("california")
    out = compute_monitoring(ds, compute_results(ds, profile), None, profile)
    latest = out[out["school_year"] == "2024-25"].set_index("lea_id")
    # the four significantly disproportionate LEAs of the README need CIM
    identified = ["2071593", "2067073", "2067160", "2075725"]
    assert sorted(latest.index[latest["significantly_disproportionate"]]) == sorted(identified)
    assert latest.loc[identified, "cim_required"].all()
    # recent_two_ident_ohi_wh: flagged 2023-24 and 2024-25 -> disproportionate two years
    assert latest.loc["0173141", "disproportionate_two_years"]
    assert latest.loc["0173141", "level"] in {"targeted_3", "intensive_1", "intensive_2",
                                              "intensive_3"}  # fmt: skip
    # last_year_ident_sli_as: flagged in 2024-25 only -> not two years in a row
    assert not latest.loc["2866298", "disproportionate_two_years"]
    # cyclical LEAs are exactly those with at most 100 students with disabilities
    small = latest["students_with_disabilities"] <= 100
    assert (latest.loc[small, "level"] == "cyclical").all() and small.any()
    assert not (latest.loc[~small, "level"] == "cyclical").any()
