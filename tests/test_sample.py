"""Tests of the synthetic sample generator (cimrca/sample.py, data.md sections 1 and 3)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cimrca.codes import ALL_RACE_CODES, DISABILITIES, ENVIRONMENTS, RACES, REMOVAL_TYPES
from cimrca.errors import UsageError
from cimrca.sample import (
    BUILT_IN_CASES,
    CANONICAL_FILES,
    built_in_cases,
    generate_sample,
    school_years,
    write_sample,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
#: The arguments data/sample was made with (data/sample/README.md, Makefile `sample` target).
SAMPLE_ARGS = {"n_leas": 50, "n_years": 5, "seed": 2024}
WRITTEN = ("leas", "enrollment", "child_count", "environments", "discipline", "indicators",
           "targets")  # fmt: skip
COLUMNS = {  # data.md section 1
    "leas": ["lea_id", "lea_name", "county", "selpa", "lea_type"],
    "enrollment": ["school_year", "lea_id", "race_ethnicity", "count"],
    "child_count": ["school_year", "lea_id", "race_ethnicity", "disability", "count"],
    "environments": ["school_year", "lea_id", "race_ethnicity", "environment", "count"],
    "discipline": ["school_year", "lea_id", "race_ethnicity", "removal_type", "count"],
    "indicators": ["school_year", "lea_id", "indicator", "numerator", "denominator"],
    "targets": ["school_year", "indicator", "target", "higher_is_better", "label"],
}
KEYS = {name: [c for c in cols if c not in ("count", "numerator", "denominator", "target",
                                             "higher_is_better", "label", "lea_name", "county",
                                             "selpa", "lea_type")]
        for name, cols in COLUMNS.items()}  # fmt: skip
CASE_LEAS = {row.case: row.lea_id for row in built_in_cases(**{
    k: v for k, v in SAMPLE_ARGS.items() if k != "n_years"}).itertuples()}  # fmt: skip
#: The california profile's decision parameters (methodology.md section 6).
THRESHOLD, MIN_CELL, MIN_N = 3.0, 10, 20


@pytest.fixture(scope="module")
def sample() -> dict[str, pd.DataFrame]:
    return generate_sample(**SAMPLE_ARGS)


@pytest.fixture(scope="module")
def statewide() -> dict[str, pd.DataFrame]:
    """A larger state, so that statewide shares do not hinge on one district."""
    return generate_sample(n_leas=600, n_years=3, seed=11)


# --- determinism, shape, vocabularies ------------------------------------------------------------


def test_same_seed_gives_identical_tables_and_another_seed_does_not():
    first = generate_sample(n_leas=30, n_years=3, seed=5)
    second = generate_sample(n_leas=30, n_years=3, seed=5)
    for name in WRITTEN:
        pd.testing.assert_frame_equal(first[name], second[name])
    other = generate_sample(n_leas=30, n_years=3, seed=6)
    assert not first["enrollment"].equals(other["enrollment"])


def test_every_table_has_the_canonical_columns_and_string_codes(sample):
    assert sorted(sample) == sorted(WRITTEN)
    for name, columns in COLUMNS.items():
        frame = sample[name]
        assert list(frame.columns) == columns, name
        assert len(frame) > 0, name
        for column in KEYS[name]:
            assert pd.api.types.is_string_dtype(frame[column]), (name, column)


def test_codes_come_from_the_vocabularies(sample):
    leas = sample["leas"]
    assert leas["lea_id"].str.fullmatch(r"\d{7}").all()
    assert set(leas["lea_type"]) == {"district", "county_office", "charter"}
    assert leas["lea_name"].is_unique
    assert set(sample["enrollment"]["race_ethnicity"]) == set(ALL_RACE_CODES)
    assert set(sample["child_count"]["disability"]) <= set(DISABILITIES)  # no ALL rows
    assert set(sample["environments"]["environment"]) == set(ENVIRONMENTS)
    assert set(sample["discipline"]["removal_type"]) == set(REMOVAL_TYPES)
    years = school_years(5, "2024-25")
    for name in ("enrollment", "child_count", "environments", "discipline", "indicators"):
        assert set(sample[name]["school_year"]) == set(years), name
    indicators = set(sample["indicators"]["indicator"])
    assert {"1", "2", "3A_ELA", "3B_MATH", "4A", "5A", "5B", "5C", "6A", "6B", "11", "12", "13",
            "SUSP_SWD", "CHRONIC_SWD"} <= indicators  # fmt: skip
    assert set(sample["targets"]["indicator"]) == indicators


def test_county_offices_and_districts_have_cde_shaped_ids(sample):
    leas = sample["leas"]
    coe = leas[leas["lea_type"] == "county_office"]
    assert coe["lea_id"].str.endswith("10017").all()  # CDE: county code + 10017
    counties = leas["lea_id"].str[:2].astype(int)
    non_charter = leas["lea_type"] != "charter"
    assert counties[non_charter].between(1, 58).all()


def test_school_years_end_with_the_last_year():
    assert school_years(5, "2024-25") == ("2020-21", "2021-22", "2022-23", "2023-24", "2024-25")
    assert school_years(2, "2000-01") == ("1999-00", "2000-01")
    tables = generate_sample(n_leas=10, n_years=2, seed=1, last_year="2019-20")
    assert set(tables["enrollment"]["school_year"]) == {"2018-19", "2019-20"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_leas": 0}, "--leas must be at least 1"),
        ({"n_years": 0}, "--years must be at least 1"),
        ({"last_year": "2024-26"}, "not of the form YYYY-YY"),
        ({"last_year": "24-25"}, "not of the form YYYY-YY"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs, match):
    with pytest.raises(UsageError, match=match):
        generate_sample(**kwargs)


def test_tiny_states_work_and_place_fewer_cases():
    tables = generate_sample(n_leas=3, n_years=1, seed=3)
    assert len(tables["leas"]) == 3
    assert len(built_in_cases(n_leas=3, seed=3)) < len(BUILT_IN_CASES)
    assert len(built_in_cases(n_leas=50, seed=2024)) == len(BUILT_IN_CASES)


# --- validation invariants (data.md section 1) ---------------------------------------------------


def test_no_duplicate_keys_and_every_lea_is_listed(sample):
    listed = set(sample["leas"]["lea_id"])
    for name in WRITTEN:
        assert not sample[name].duplicated(KEYS[name]).any(), name
        if "lea_id" in sample[name] and name != "leas":
            assert set(sample[name]["lea_id"]) <= listed, name


def test_counts_are_non_negative_integers_or_missing(sample):
    for name in ("enrollment", "child_count", "environments", "discipline"):
        count = sample[name]["count"]
        known = count.dropna()
        assert (known >= 0).all() and (known == np.round(known)).all(), name
    assert sample["enrollment"]["count"].notna().all()
    assert sample["child_count"]["count"].notna().all()
    assert sample["discipline"]["count"].isna().sum() > 0  # the missing_input case


def _per_group(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby(["school_year", "lea_id", "race_ethnicity"])["count"].sum()


def test_outcomes_never_exceed_their_base_except_removals(sample):
    enrolled = _per_group(sample["enrollment"])
    cwd = _per_group(sample["child_count"])
    assert (cwd <= enrolled.reindex(cwd.index).fillna(0)).all()
    env = _per_group(sample["environments"])
    assert (env <= cwd.reindex(env.index).fillna(0)).all()
    disc = sample["discipline"]
    removed = disc[disc["removal_type"] != "TDR"].dropna(subset=["count"])
    base = cwd.reindex(pd.MultiIndex.from_frame(removed[["school_year", "lea_id",
                                                         "race_ethnicity"]])).fillna(0)  # fmt: skip
    assert (removed["count"].to_numpy() <= base.to_numpy()).all()
    ind = sample["indicators"]
    assert ((ind["numerator"] <= ind["denominator"]) & (ind["denominator"] > 0)).all()
    targets = sample["targets"]["target"].dropna()
    assert targets.between(0, 1).all()


def test_the_project_validator_accepts_the_tables(sample):
    from cimrca.dataset import dataset_from_frames

    ds = dataset_from_frames(sample, name="sample", is_synthetic=True)
    assert len(ds.leas) == SAMPLE_ARGS["n_leas"]
    assert ds.school_years == school_years(5)


# --- realism (data.md section 3) ------------------------------------------------------------------


def test_statewide_race_shares_are_near_californias(statewide, sample):
    # California Census Day enrollment shares (data.md section 3): HI 56, WH 21, AS 12, BL 5,
    # MU 4, AM and PI under 1 (percent). Tolerance: 2 points for the large groups.
    expected = {"HI": 0.56, "WH": 0.21, "AS": 0.12, "BL": 0.05, "MU": 0.04}
    for tables in (statewide, sample):
        enrollment = tables["enrollment"]
        first = enrollment[enrollment["school_year"] == enrollment["school_year"].min()]
        shares = first.groupby("race_ethnicity")["count"].sum() / first["count"].sum()
        for race, share in expected.items():
            assert shares[race] == pytest.approx(share, abs=0.02), race
        assert shares["AM"] < 0.01 and shares["PI"] < 0.01


def test_lea_race_shares_vary(statewide):
    enrollment = statewide["enrollment"]
    per_lea = enrollment.pivot_table(index=["school_year", "lea_id"], columns="race_ethnicity",
                                     values="count", aggfunc="sum")  # fmt: skip
    hispanic = per_lea["HI"] / per_lea.sum(axis=1)
    assert hispanic.quantile(0.1) < 0.35 and hispanic.quantile(0.9) > 0.75


def test_identification_near_13_percent_with_a_realistic_mix(statewide):
    cwd = statewide["child_count"]["count"].sum()
    assert cwd / statewide["enrollment"]["count"].sum() == pytest.approx(0.13, abs=0.01)
    mix = statewide["child_count"].groupby("disability")["count"].sum() / cwd
    # California child count (data.md section 3): SLD ~35%, SLI ~20%, AUT ~15%, OHI ~13%,
    # ID ~6%, ED ~3%, the rest small.
    for code, share, tolerance in [("SLD", 0.35, 0.05), ("SLI", 0.20, 0.03), ("AUT", 0.15, 0.03),
                                   ("OHI", 0.13, 0.03), ("ID", 0.06, 0.015),
                                   ("ED", 0.03, 0.01)]:  # fmt: skip
        assert mix[code] == pytest.approx(share, abs=tolerance), code
    rest = mix.drop(["SLD", "SLI", "AUT", "OHI", "ID", "ED"])
    assert rest.max() < 0.03


def test_many_small_leas_and_a_few_large_ones():
    tables = generate_sample(n_leas=2300, n_years=1, seed=2024)
    leas = tables["leas"]
    kinds = leas["lea_type"].value_counts()
    # data.md section 3: about 1,000 districts plus about 1,300 charter LEAs
    assert kinds["charter"] == pytest.approx(1300, abs=30)
    assert kinds["district"] + kinds["county_office"] == pytest.approx(1000, abs=30)
    size = tables["enrollment"].groupby("lea_id")["count"].sum()
    charter = size[leas.set_index("lea_id")["lea_type"].reindex(size.index) == "charter"]
    assert charter.median() < 1000
    assert size.median() < 2000
    large = size[size >= 30_000]
    assert 5 <= len(large) <= 60 and size.max() > 300_000


def test_placement_and_discipline_vary_by_lea_and_discipline_dips_in_2020_21(statewide):
    env = statewide["environments"]
    per_lea = env.pivot_table(index=["school_year", "lea_id"], columns="environment",
                              values="count", aggfunc="sum", fill_value=0)  # fmt: skip
    big = per_lea[per_lea.sum(axis=1) >= 200]
    rc80 = big["RC80"] / big.sum(axis=1)
    assert rc80.quantile(0.9) - rc80.quantile(0.1) > 0.15
    tables = generate_sample(n_leas=200, n_years=5, seed=4)
    disc = tables["discipline"]
    oss = disc[disc["removal_type"] == "OSS_LE10"].groupby("school_year")["count"].sum()
    cwd = tables["child_count"].groupby("school_year")["count"].sum()
    rate = oss / cwd
    assert rate["2020-21"] < 0.3 * rate["2024-25"]
    assert rate["2024-25"] == pytest.approx(0.045, rel=0.35)
    tdr = disc[disc["removal_type"] == "TDR"].groupby("school_year")["count"].sum()
    assert (tdr >= disc[disc["removal_type"] != "TDR"].groupby("school_year")["count"].sum()).all()


# --- built-in cases, checked on the counts directly ----------------------------------------------


def _category_counts(tables, lea_id: str, category: str) -> pd.DataFrame:
    """Numerator and base per year and group for one LEA (methodology.md section 1, data.md)."""
    from cimrca.codes import CATEGORIES

    cat = {c.code: c for c in CATEGORIES}[category]
    num_frame = tables[cat.numerator_table]
    code_column = {"child_count": "disability", "environments": "environment",
                   "discipline": "removal_type"}[cat.numerator_table]  # fmt: skip
    rows = num_frame[(num_frame["lea_id"] == lea_id)]
    if cat.numerator_codes:
        rows = rows[rows[code_column].isin(cat.numerator_codes)]
    num = rows.groupby(["school_year", "race_ethnicity"])["count"].sum(min_count=1)
    base_frame = tables[cat.denominator]
    base = (base_frame[base_frame["lea_id"] == lea_id]
            .groupby(["school_year", "race_ethnicity"])["count"].sum())  # fmt: skip
    out = pd.DataFrame({"num": num, "den": base}).fillna(0.0).unstack("race_ethnicity", 0.0)
    return out


def _lea_ratios(tables, lea_id: str, category: str, race: str) -> pd.Series:
    counts = _category_counts(tables, lea_id, category)
    others = [r for r in RACES if r != race]
    comp = counts["num"][others].sum(axis=1) / counts["den"][others].sum(axis=1)
    return counts["num"][race] / counts["den"][race] / comp


@pytest.mark.parametrize("case", [c for c in BUILT_IN_CASES if c.kind == "ratio"],
                         ids=lambda c: c.key)  # fmt: skip
def test_designed_ratios_land_on_the_designed_side_of_the_threshold(sample, case):
    ratios = _lea_ratios(sample, CASE_LEAS[case.key], case.category, case.race)
    designed = pd.Series(case.ratios, index=school_years(5))
    # the sd_disc case's 2020-21 counts are tiny (distance learning): only later years are designed
    years = designed.index[1:] if case.category.startswith("disc") else designed.index
    for year in years:
        assert (ratios[year] > THRESHOLD) == (designed[year] > THRESHOLD), year
        assert ratios[year] == pytest.approx(designed[year], rel=0.05), year


def test_comparison_case_has_too_few_removals_elsewhere(sample):
    lea = CASE_LEAS["comparison_iss_gt10_hi"]
    counts = _category_counts(sample, lea, "disc_iss_gt10")
    assert (counts["num"]["HI"] >= MIN_CELL).all() and (counts["den"]["HI"] >= MIN_N).all()
    disc = sample["discipline"]
    iss = disc[(disc["removal_type"] == "ISS_GT10") & disc["race_ethnicity"].isin(RACES)]
    state_others = iss[~((iss["lea_id"] == lea) & (iss["race_ethnicity"] == "HI"))]
    hispanic_elsewhere = state_others[state_others["race_ethnicity"] == "HI"]
    not_hispanic = state_others[state_others["race_ethnicity"] != "HI"]
    assert (not_hispanic.groupby("school_year")["count"].sum() < MIN_CELL).all()
    assert len(hispanic_elsewhere) + len(not_hispanic) > 0  # removals are rare, not absent


def test_below_min_n_case_meets_min_cell_with_a_small_base(sample):
    counts = _category_counts(sample, CASE_LEAS["below_min_n_tdr_am"], "disc_tdr")
    assert (counts["num"]["AM"] >= MIN_CELL).all()
    assert ((counts["den"]["AM"] > 0) & (counts["den"]["AM"] < MIN_N)).all()


def test_missing_case_has_empty_discipline_counts_in_the_last_two_years(sample):
    disc = sample["discipline"]
    missing = disc[disc["count"].isna()]
    assert set(missing["lea_id"]) == {CASE_LEAS["missing_disc_am_pi"]}
    assert set(missing["race_ethnicity"]) == {"AM", "PI"}
    assert set(missing["school_year"]) == {"2023-24", "2024-25"}
    assert set(missing["removal_type"]) == set(REMOVAL_TYPES)


def test_alternate_case_has_a_small_comparison_group(sample):
    counts = _category_counts(sample, CASE_LEAS["alternate_hi"], "ident_sld")
    others = [r for r in RACES if r != "HI"]
    assert (counts["num"][others].sum(axis=1) < MIN_CELL).all()
    assert (counts["num"]["HI"] >= MIN_CELL).all()


# --- the committed sample and the methodology -----------------------------------------------------


def test_committed_sample_is_the_generators_current_output(tmp_path):
    write_sample(tmp_path / "s", **SAMPLE_ARGS)
    for path in sorted((tmp_path / "s").iterdir()):
        committed = SAMPLE / path.name
        assert committed.is_file(), f"{path.name} missing: run `make sample`"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{path.name} is stale: run `make sample`"
        )


def test_committed_sample_readme_names_every_case():
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in text
    assert "cimrca sample OUT_DIR --leas 50 --years 5 --seed 2024" in text
    for key, lea_id in CASE_LEAS.items():
        assert re.search(rf"`{key}` \| `{lea_id}`", text), key


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> pd.DataFrame:
    from cimrca.dataset import load_dataset
    from cimrca.methodology import compute_results
    from cimrca.profiles import load_profile

    # the sample is designed for the california profile's values; pin them here rather than
    # rely on the shipped file (methodology.md section 6)
    path = tmp_path_factory.mktemp("profile") / "designed.yaml"
    path.write_text(
        f"name: designed\nthreshold: {THRESHOLD}\nmin_cell: {MIN_CELL}\nmin_n: {MIN_N}\n"
        "years_required: 3\n"
    )
    return compute_results(load_dataset(SAMPLE), load_profile(path))


def _row(results, case_key: str, year: str = "2024-25") -> pd.Series:
    case = {c.key: c for c in BUILT_IN_CASES}[case_key]
    rows = results[(results["lea_id"] == CASE_LEAS[case_key])
                   & (results["category"] == case.category)
                   & (results["race_ethnicity"] == case.race)
                   & (results["school_year"] == year)]  # fmt: skip
    assert len(rows) == 1
    return rows.iloc[0]


def test_compute_on_the_sample_exercises_every_path(results):
    assert results["significantly_disproportionate"].astype(bool).any()
    assert (results["ratio_type"] == "alternate_risk_ratio").any()
    assert (results["ratio_type"] == "risk_ratio").any()
    reasons = set(results["reason"].dropna()) - {""}
    assert reasons == {"missing_input", "group_below_min_cell", "group_below_min_n",
                       "comparison_below_min"}  # fmt: skip


@pytest.mark.parametrize(
    ("case_key", "consecutive", "identified"),
    [
        ("sd_ident_ed_bl", 5, True),
        ("sd_place_separate_hi", 3, True),
        ("sd_disc_oss_le10_bl", 4, True),
        ("sd_ident_aut_as", 5, True),
        ("recent_two_ident_ohi_wh", 2, False),
        ("last_year_ident_sli_as", 1, False),
        ("broken_run_ident_sld_bl", 2, False),
        ("near_threshold_ident_id_bl", 0, False),
    ],
)
def test_designed_cases_get_their_determination(results, case_key, consecutive, identified):
    row = _row(results, case_key)
    assert row["ratio_type"] == "risk_ratio"
    assert int(row["consecutive_years"]) == consecutive
    assert bool(row["significantly_disproportionate"]) is identified


def test_near_threshold_case_stays_in_the_watch_band(results):
    case = "near_threshold_ident_id_bl"
    ratios = [_row(results, case, year)["ratio"] for year in school_years(5)]
    assert all(2.4 <= r <= THRESHOLD for r in ratios)


def test_not_calculated_cases_get_their_reason(results):
    assert _row(results, "comparison_iss_gt10_hi")["reason"] == "comparison_below_min"
    assert _row(results, "below_min_n_tdr_am")["reason"] == "group_below_min_n"
    assert _row(results, "missing_disc_am_pi")["reason"] == "missing_input"
    assert _row(results, "alternate_hi")["ratio_type"] == "alternate_risk_ratio"


# --- writing, refusing to clobber, the command line ----------------------------------------------


def test_write_sample_writes_every_table_and_marks_it_synthetic(tmp_path):
    lines = write_sample(tmp_path / "out", n_leas=15, n_years=2, seed=3)
    assert lines[0].startswith("Wrote a synthetic data set")
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert files == {f"{t}.csv" for t in (*WRITTEN, "detail", "schools")} | {
        "dataset.yaml",
        "README.md",
    }
    meta = yaml.safe_load((tmp_path / "out" / "dataset.yaml").read_text())
    assert meta["synthetic"] is True
    assert meta["source"] == "cimrca sample --leas 15 --years 2 --seed 3"
    # read back: codes keep their leading zeros, counts round-trip
    back = pd.read_csv(tmp_path / "out" / "enrollment.csv", dtype={"lea_id": str})
    original = generate_sample(n_leas=15, n_years=2, seed=3)["enrollment"]
    assert back["lea_id"].tolist() == original["lea_id"].tolist()
    assert back["count"].tolist() == original["count"].tolist()


def test_write_sample_replaces_its_own_earlier_output(tmp_path):
    write_sample(tmp_path, n_leas=12, n_years=2, seed=1)
    write_sample(tmp_path, n_leas=14, n_years=2, seed=2)
    assert len(pd.read_csv(tmp_path / "leas.csv")) == 14


def test_write_sample_refuses_to_overwrite_a_users_data(tmp_path):
    user = "lea_id,lea_name\n0100001,Real District\n"
    (tmp_path / "leas.csv").write_text(user)
    with pytest.raises(UsageError, match=r"already holds leas\.csv.*refusing to overwrite"):
        write_sample(tmp_path, n_leas=12, n_years=2, seed=1)
    assert (tmp_path / "leas.csv").read_text() == user
    assert not (tmp_path / "enrollment.csv").exists()


def test_write_sample_refuses_a_non_synthetic_dataset_yaml(tmp_path):
    write_sample(tmp_path, n_leas=12, n_years=2, seed=1)
    (tmp_path / "dataset.yaml").write_text("name: ours\nsynthetic: false\n")
    with pytest.raises(UsageError, match="not output of `cimrca sample`"):
        write_sample(tmp_path, n_leas=12, n_years=2, seed=2)


def test_write_sample_refuses_a_state_totals_file_it_did_not_write(tmp_path):
    write_sample(tmp_path, n_leas=12, n_years=2, seed=1)
    (tmp_path / "state_totals.csv").write_text("school_year,table,race_ethnicity,code,count\n")
    assert "state_totals.csv" in CANONICAL_FILES
    with pytest.raises(UsageError, match="state_totals.csv"):
        write_sample(tmp_path, n_leas=12, n_years=2, seed=1)


def test_identical_files_are_not_a_conflict(tmp_path):
    write_sample(tmp_path / "a", n_leas=12, n_years=2, seed=1)
    (tmp_path / "b").mkdir()
    text = (tmp_path / "a" / "leas.csv").read_text()
    (tmp_path / "b" / "leas.csv").write_text(text)
    write_sample(tmp_path / "b", n_leas=12, n_years=2, seed=1)
    assert (tmp_path / "b" / "enrollment.csv").is_file()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimrca", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)  # fmt: skip


def test_cli_sample_then_validate(tmp_path):
    out = tmp_path / "cli"
    done = _cli("sample", str(out), "--leas", "12", "--years", "3", "--seed", "9")
    assert done.returncode == 0, done.stderr
    assert "Wrote a synthetic data set" in done.stdout and "12 LEAs" in done.stdout
    assert (out / "child_count.csv").is_file()
    checked = _cli("validate", str(out))
    assert checked.returncode == 0, checked.stderr
    assert "SYNTHETIC" in checked.stdout


def test_cli_sample_refusal_is_a_plain_error_with_status_2(tmp_path):
    (tmp_path / "enrollment.csv").write_text("school_year,lea_id,race_ethnicity,count\n")
    done = _cli("sample", str(tmp_path), "--leas", "12", "--years", "2")
    assert done.returncode == 2
    assert "refusing to overwrite" in done.stderr and "Traceback" not in done.stderr
