"""Tests of the drill-down below the LEA (cimrca/drilldown.py, drilldown.md).

Reference values are computed by hand from the small LEAs below; each test quotes the arithmetic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimrca.dataset import dataset_from_frames, load_dataset
from cimrca.drilldown import (
    DRILLDOWN_COLUMNS,
    NO_DETAIL_MESSAGE,
    compute_drilldown,
    concentration,
    concentration_sentence,
    finding_rows,
    top_slices,
)
from cimrca.errors import DataValidationError
from cimrca.methodology import compute_results
from cimrca.profiles import load_profile

from .conftest import ident_tables, write_tables

YEAR = "2023-24"
LEA_RR, LEA_ARR = "0100001", "0100002"
PROFILE = load_profile(
    {"name": "test", "threshold": 3.0, "min_cell": 10, "min_n": 20, "years_required": 1,
     "watch_fraction": 0.8}
)  # fmt: skip

#: LEA 0100001 (risk ratio): emotional disturbance (ED) / enrolled, by group, and by school and
#: grade band. LEA 0100002 (alternate risk ratio): 300 Black students and 10 White students.
LEA_COUNTS = {
    (YEAR, LEA_RR): {"BL": (30, 200), "WH": (10, 800), "HI": (10, 1000)},
    (YEAR, LEA_ARR): {"BL": (30, 300), "WH": (0, 10)},
}
#: (lea, dimension, value, race): (ED children, enrolled)
SLICES = {
    (LEA_RR, "school", "0100011", "BL"): (25, 50),
    (LEA_RR, "school", "0100012", "BL"): (5, 150),
    (LEA_RR, "school", "0100011", "WH"): (10, 400),
    (LEA_RR, "school", "0100012", "WH"): (0, 400),
    (LEA_RR, "school", "0100011", "HI"): (2, 200),
    (LEA_RR, "school", "0100012", "HI"): (8, 800),
    (LEA_RR, "grade_band", "K-5", "BL"): (6, 120),
    (LEA_RR, "grade_band", "6-8", "BL"): (24, 80),
    (LEA_RR, "grade_band", "K-5", "WH"): (4, 500),
    (LEA_RR, "grade_band", "6-8", "WH"): (6, 300),
    (LEA_RR, "grade_band", "K-5", "HI"): (5, 600),
    (LEA_RR, "grade_band", "6-8", "HI"): (5, 400),
    (LEA_ARR, "school", "0100021", "BL"): (28, 250),
    (LEA_ARR, "school", "UNKNOWN", "BL"): (2, 50),
    (LEA_ARR, "school", "0100021", "WH"): (0, 10),
}


def detail_frame(slices=SLICES) -> pd.DataFrame:
    rows = []
    for (lea, dimension, value, race), (n, d) in slices.items():
        base = {"school_year": YEAR, "lea_id": lea, "race_ethnicity": race,
                "dimension": dimension, "value": value}  # fmt: skip
        rows.append({**base, "table": "enrollment", "code": "", "count": d})
        rows.append({**base, "table": "child_count", "code": "ED", "count": n})
    return pd.DataFrame(rows)


def small_tables(detail: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    tables = ident_tables(LEA_COUNTS, disability="ED")
    tables["detail"] = detail_frame() if detail is None else detail
    tables["schools"] = pd.DataFrame(
        {"school_code": ["0100011", "0100012", "0100021"],
         "school_name": ["Alder Elementary", "Birch Middle", "Cedar High"],
         "lea_id": [LEA_RR, LEA_RR, LEA_ARR]}
    )  # fmt: skip
    return tables


@pytest.fixture(scope="module")
def small():
    dataset = dataset_from_frames(small_tables())
    results = compute_results(dataset, PROFILE)
    return dataset, results, compute_drilldown(dataset, results, profile=PROFILE)


def _slice(drill, lea, dimension, value, category="ident_ed", race="BL"):
    rows = drill[
        drill["lea_id"].eq(lea) & drill["dimension"].eq(dimension) & drill["value"].eq(value)
        & drill["category"].eq(category) & drill["race_ethnicity"].eq(race)
    ]  # fmt: skip
    assert len(rows) == 1, (lea, dimension, value)
    return rows.iloc[0]


# --- the decomposition, by hand -----------------------------------------------------------------


def test_risk_ratio_finding_by_school_matches_hand_computation(small):
    _, results, drill = small
    lea = results[results["lea_id"].eq(LEA_RR) & results["category"].eq("ident_ed")
                  & results["race_ethnicity"].eq("BL")].iloc[0]  # fmt: skip
    # LEA: risk 30/200 = 0.15; comparison (10+10)/(800+1000) = 1/90; RR = 0.15 * 90 = 13.5
    assert lea["ratio_type"] == "risk_ratio"
    assert lea["ratio"] == pytest.approx(13.5)
    a = _slice(drill, LEA_RR, "school", "0100011")
    # school 0100011: 25/50 = 0.5; comparison (10+2)/(400+200) = 0.02; ratio 0.5/0.02 = 25;
    # over = 25 - 3 * 50 * (1/90) = 25 - 1.6667 = 23.3333, the whole LEA excess (share 1.0)
    assert (a["numerator"], a["denominator"]) == (25, 50)
    assert (a["comparison_numerator"], a["comparison_denominator"]) == (12, 600)
    assert a["risk"] == pytest.approx(0.5)
    assert a["comparison_risk"] == pytest.approx(0.02)
    assert a["ratio"] == pytest.approx(25.0)
    assert a["over_threshold"] == pytest.approx(25 - 150 / 90)
    assert a["share"] == pytest.approx(1.0)
    assert a["label"] == "Alder Elementary"
    b = _slice(drill, LEA_RR, "school", "0100012")
    # school 0100012: 5 < min_cell 10, so no ratio; over = 5 - 3 * 150 / 90 = 0
    assert np.isnan(b["ratio"])
    assert b["over_threshold"] == pytest.approx(0.0)
    assert b["share"] == pytest.approx(0.0)


def test_grade_bands_share_of_the_excess(small):
    _, _, drill = small
    middle = _slice(drill, LEA_RR, "grade_band", "6-8")
    # 6-8: over = 24 - 3 * 80 / 90 = 21.3333; LEA excess 30 - 3 * 200 / 90 = 23.3333;
    # share 21.3333 / 23.3333 = 64/70 = 0.9142857
    assert middle["over_threshold"] == pytest.approx(24 - 240 / 90)
    assert middle["share"] == pytest.approx(64 / 70)
    assert middle["label"] == "Grades 6-8"
    early = _slice(drill, LEA_RR, "grade_band", "K-5")
    assert early["over_threshold"] == pytest.approx(6 - 360 / 90)  # = 2


def test_alternate_risk_ratio_finding_uses_the_states_comparison_risk(small):
    _, results, drill = small
    lea = results[results["lea_id"].eq(LEA_ARR) & results["category"].eq("ident_ed")
                  & results["race_ethnicity"].eq("BL")].iloc[0]  # fmt: skip
    # State comparison: ED 10 + 10 + 0 = 20 of 800 + 1000 + 10 = 1810 enrolled (the LEAs' sums);
    # ARR = (30/300) / (20/1810) = 9.05
    assert lea["ratio_type"] == "alternate_risk_ratio"
    assert lea["ratio"] == pytest.approx(9.05)
    c = _slice(drill, LEA_ARR, "school", "0100021")
    unknown = _slice(drill, LEA_ARR, "school", "UNKNOWN")
    # over_C = 28 - 3 * 250 * 20/1810 = 19.7127; over_UNKNOWN = 2 - 3 * 50 * 20/1810 = 0.3425
    assert c["over_threshold"] == pytest.approx(28 - 3 * 250 * 20 / 1810)
    assert unknown["over_threshold"] == pytest.approx(2 - 3 * 50 * 20 / 1810)
    assert unknown["label"] == "Not recorded"
    # in the slice the comparison is the LEA's own other students (10 enrolled, 0 ED)
    assert (c["comparison_numerator"], c["comparison_denominator"]) == (0, 10)
    assert np.isnan(c["ratio"])


def test_parts_add_up_to_the_leas_excess_and_students_over_threshold(small):
    _, results, drill = small
    findings = finding_rows(results, profile=PROFILE)
    keys = ["school_year", "lea_id", "category", "race_ethnicity"]
    sums = drill.groupby([*keys, "dimension"])[["numerator", "denominator", "over_threshold"]]
    sums = sums.sum().reset_index().merge(findings, on=keys, suffixes=("", "_lea"))
    excess = sums["numerator_lea"] - sums["threshold"] * sums["denominator_lea"] * np.where(
        sums["ratio_type"].eq("risk_ratio"),
        sums["lea_comparison_numerator"] / sums["lea_comparison_denominator"],
        sums["state_comparison_numerator"] / sums["state_comparison_denominator"],
    )
    assert (sums["numerator"] == sums["numerator_lea"]).all()
    assert (sums["denominator"] == sums["denominator_lea"]).all()
    np.testing.assert_allclose(sums["over_threshold"], excess)
    np.testing.assert_array_equal(
        np.ceil(sums["over_threshold"] - 1e-9), sums["students_over_threshold"].astype(float)
    )


def test_columns_order_and_input_not_modified():
    tables = small_tables()
    copies = {k: v.copy() for k, v in tables.items()}
    dataset = dataset_from_frames(tables)
    detail_before = dataset.detail.copy()
    results = compute_results(dataset, PROFILE)
    drill = compute_drilldown(dataset, results, profile=PROFILE)
    assert tuple(drill.columns) == DRILLDOWN_COLUMNS
    pd.testing.assert_frame_equal(dataset.detail, detail_before)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, copies[name])
    # largest part first within a finding and dimension
    school = drill[drill["lea_id"].eq(LEA_RR) & drill["dimension"].eq("school")
                   & drill["category"].eq("ident_ed") & drill["race_ethnicity"].eq("BL")]  # fmt: skip
    assert school["value"].tolist() == ["0100011", "0100012"]


def test_a_given_findings_frame_and_no_detail():
    dataset = dataset_from_frames(small_tables())
    results = compute_results(dataset, PROFILE)
    one = pd.DataFrame({"school_year": [YEAR], "lea_id": [LEA_ARR], "category": ["ident_ed"],
                        "race_ethnicity": ["BL"]})  # fmt: skip
    drill = compute_drilldown(dataset, results, profile=PROFILE, findings=one)
    assert set(drill["lea_id"]) == {LEA_ARR}
    tables = small_tables()
    del tables["detail"]
    bare = dataset_from_frames(tables)
    empty = compute_drilldown(bare, compute_results(bare, PROFILE), profile=PROFILE)
    assert empty.empty and tuple(empty.columns) == DRILLDOWN_COLUMNS
    assert empty.attrs["message"] == NO_DETAIL_MESSAGE


def test_concentration_sentence_and_top_slices(small):
    _, _, drill = small
    summary = concentration(drill)
    school = summary[summary["lea_id"].eq(LEA_RR) & summary["dimension"].eq("school")].iloc[0]
    # one of the two schools holds every student over the threshold (23.33 of 23.33)
    assert (school["slices"], school["top_slices"]) == (2, 1)
    assert school["top_share"] == pytest.approx(1.0)
    assert school["top_labels"] == ["Alder Elementary"]
    sentence = concentration_sentence(summary[summary.index == school.name]).iloc[0]
    assert sentence == (
        "1 of 2 schools accounts for 100% of the students over the threshold in the schools "
        "above its level."
    )
    top = top_slices(drill, n=1)
    assert set(top["value"]) >= {"0100011", "6-8"}


# --- the sum property over random detail tables ---------------------------------------------


@st.composite
def random_lea(draw):
    """One LEA: per group (ED, enrolled) and a random split of both over 1 to 5 schools."""
    n_schools = draw(st.integers(1, 5))
    slices, counts = {}, {}
    for race in ("BL", "WH", "HI"):
        enrolled = draw(st.lists(st.integers(0, 400), min_size=n_schools, max_size=n_schools))
        ed = [draw(st.integers(0, e)) for e in enrolled]
        counts[race] = (sum(ed), sum(enrolled))
        for i in range(n_schools):
            slices[(LEA_RR, "school", f"01000{i + 10}", race)] = (ed[i], enrolled[i])
    return counts, slices


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_lea())
def test_slices_of_a_dimension_always_add_up_to_the_lea(lea):
    counts, slices = lea
    tables = ident_tables({(YEAR, LEA_RR): counts}, disability="ED")
    tables["detail"] = detail_frame(slices)
    dataset = dataset_from_frames(tables)
    results = compute_results(dataset, PROFILE)
    calculated = results[results["ratio"].notna()]
    drill = compute_drilldown(dataset, results, profile=PROFILE, findings=calculated)
    if drill.empty:
        return
    keys = ["school_year", "lea_id", "category", "race_ethnicity"]
    sums = drill.groupby(keys)[["numerator", "denominator", "over_threshold"]].sum()
    lea_rows = calculated.set_index(keys).loc[sums.index]
    comparison = np.where(
        lea_rows["ratio_type"].eq("risk_ratio"),
        lea_rows["lea_comparison_numerator"].astype(float)
        / lea_rows["lea_comparison_denominator"].astype(float),
        lea_rows["state_comparison_numerator"].astype(float)
        / lea_rows["state_comparison_denominator"].astype(float),
    )
    expected = lea_rows["numerator"].astype(float) - 3.0 * lea_rows["denominator"] * comparison
    np.testing.assert_allclose(sums["over_threshold"], expected, atol=1e-9)
    assert (sums["numerator"].to_numpy() == lea_rows["numerator"].to_numpy()).all()


# --- validation of detail.csv and schools.csv ---------------------------------------------------


def _problems(tables, tmp_path):
    folder = write_tables(tables, tmp_path / "data")
    with pytest.raises(DataValidationError) as caught:
        load_dataset(folder)
    return caught.value.problems


def test_valid_detail_loads(tmp_path):
    dataset = load_dataset(write_tables(small_tables(), tmp_path / "data"))
    assert len(dataset.detail) == 2 * len(SLICES)
    assert dataset.schools["school_code"].tolist() == ["0100011", "0100012", "0100021"]


def test_slices_not_adding_up_are_named_with_their_first_row(tmp_path):
    detail = detail_frame()
    detail.loc[1, "count"] = 24  # school 0100011 BL ED: 25 -> 24 (spreadsheet row 3)
    problems = _problems(small_tables(detail), tmp_path)
    [p] = [p for p in problems if "do not add up" in p.message]
    assert p.file.endswith("detail.csv") and p.row == 3 and p.column == "count"
    assert "2023-24 0100001 BL child_count ED by school: slices sum to 29" in p.value
    assert "child_count.csv has 30" in p.value


def test_missing_slices_of_a_counted_group_do_not_add_up(tmp_path):
    detail = detail_frame()
    detail = detail[~(detail["race_ethnicity"].eq("HI") & detail["dimension"].eq("school"))]
    problems = _problems(small_tables(detail), tmp_path)
    found = [p for p in problems if "do not add up" in p.message]
    assert len(found) == 2 and all(p.row is None for p in found)  # no HI rows to point at
    assert any("HI enrollment by school: slices sum to 0, enrollment.csv has 1000" in p.value
               for p in found)  # fmt: skip


def test_suppressed_slice_makes_the_sum_a_lower_bound(tmp_path):
    detail = detail_frame().astype({"count": float})
    detail.loc[3, "count"] = np.nan  # a suppressed slice: the rest may not exceed the LEA count
    dataset = load_dataset(write_tables(small_tables(detail), tmp_path / "ok"))
    assert dataset.detail["count"].isna().sum() == 1
    detail.loc[1, "count"] = 999  # now the known slices exceed the LEA's enrollment
    problems = _problems(small_tables(detail), tmp_path)
    assert any("known slices sum to" in (p.value or "") for p in problems)


@pytest.mark.parametrize(
    ("column", "row_index", "bad", "message"),
    [
        ("dimension", 0, "ethnicity", "unknown dimension code"),
        ("value", 0, "7-8", "unknown school slice"),
        ("value", 12, "G7", "unknown grade_band slice"),
        ("count", 0, "-5", "count is negative"),
        ("count", 0, "many", "count is not a number"),
        ("code", 1, "XYZ", "unknown code for child_count"),
    ],
)
def test_bad_cells_name_file_row_column_and_value(tmp_path, column, row_index, bad, message):
    detail = detail_frame().astype(str)
    detail.loc[row_index, column] = bad
    tables = small_tables()
    del tables["detail"]
    folder = write_tables(tables, tmp_path / "data")
    detail.to_csv(folder / "detail.csv", index=False)  # text as a person typed it
    with pytest.raises(DataValidationError, match=message) as caught:
        load_dataset(folder)
    [p] = [p for p in caught.value.problems if p.message.startswith(message)]
    assert p.file.endswith("detail.csv") and p.row == row_index + 2 and p.column == column
    assert p.value == bad


def test_school_of_another_lea_and_disability_of_enrollment(tmp_path):
    detail = detail_frame()
    detail.loc[detail["value"].eq("0100011"), "value"] = "0100021"  # a school of LEA 0100002
    extra = detail.iloc[[0]].assign(dimension="disability", value="ED")
    problems = _problems(small_tables(pd.concat([detail, extra], ignore_index=True)), tmp_path)
    other = [p for p in problems if p.message == "school belongs to another LEA in schools.csv"]
    assert other and other[0].row == 2 and other[0].column == "value"
    assert other[0].value.startswith("0100021 (LEA 0100001; schools.csv: LEA 0100002)")
    assert any(p.message == "enrollment has no disability slices" for p in problems)


def test_bad_schools_csv(tmp_path):
    tables = small_tables()
    tables["schools"] = pd.DataFrame(
        {"school_code": ["100011", "0100012", "0100012"], "school_name": ["A", "B", ""],
         "lea_id": [LEA_RR, "0999999", LEA_RR]}
    )  # fmt: skip
    messages = {p.message for p in _problems(tables, tmp_path)}
    assert {"school_code is not a 7-digit CDE school code", "duplicate school",
            "LEA is not in leas.csv", "school name is empty"} <= messages  # fmt: skip


# --- the sample's designed drill-down cases (data/sample/README.md, drilldown.md section 4) ----


@pytest.fixture(scope="module")
def sample_summary():
    from .conftest import SAMPLE

    dataset = load_dataset(SAMPLE)
    profile = load_profile("california")
    results = compute_results(dataset, profile)
    drill = compute_drilldown(dataset, results, profile=profile)
    summary = concentration(drill)
    return dataset, drill, summary.set_index(["lea_id", "category", "race_ethnicity", "dimension"])


def test_sample_ident_ed_is_concentrated_in_two_middle_schools_and_grades_6_8(sample_summary):
    _, _, summary = sample_summary
    school = summary.loc[("2071593", "ident_ed", "BL", "school")]
    assert school["top_slices"] == 2 and school["top_share"] >= 0.75
    assert all(label.endswith("Middle School") for label in school["top_labels"])
    grade = summary.loc[("2071593", "ident_ed", "BL", "grade_band")]
    assert grade["top_values"] == ["6-8"]


def test_sample_discipline_is_concentrated_in_one_high_school(sample_summary):
    _, _, summary = sample_summary
    school = summary.loc[("2067160", "disc_oss_le10", "BL", "school")]
    assert school["top_slices"] == 1 and school["top_share"] >= 0.9
    assert school["top_labels"][0].endswith("High School")


def test_sample_autism_finding_is_spread_evenly(sample_summary):
    _, _, summary = sample_summary
    school = summary.loc[("2075725", "ident_aut", "AS", "school")]
    assert school["max_share"] < 0.3 and school["slices"] >= 10


def test_sample_parts_add_up_for_every_finding(sample_summary):
    dataset, drill, summary = sample_summary
    assert dataset.detail is not None and not drill.empty
    per = summary.groupby(level=["lea_id", "category", "race_ethnicity"])["lea_over_threshold"]
    # every dimension of a finding sums to the same LEA value n - T d R
    np.testing.assert_allclose(per.max(), per.min(), atol=1e-9)


# --- the roster import writes detail.csv ---------------------------------------------------------


def test_grade_bands_follow_drilldown_md():
    from cimrca.importers.roster import grade_bands

    grades = pd.Series(["PS", "p3", "TK", "KN", "K", "01", "5", "6", "08", "9", "12", "UE",
                        "US", "UG", "13", "", " 7 "])  # fmt: skip
    assert grade_bands(grades).tolist() == [
        "PK", "PK", "K-5", "K-5", "K-5", "K-5", "K-5", "6-8", "6-8", "9-12", "9-12", "UG",
        "UG", "UG", "UG", "UNKNOWN", "6-8",
    ]  # fmt: skip


def _roster(n: int = 600, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "StudentID": [f"S{i:05d}" for i in range(n)],
        "Year": "2023-24",
        "LEA": rng.choice(["0110017", "0161119"], n),
        "Race": rng.choice(["HI", "BL", "WH", "AS", ""], n),
        "disability": np.where(rng.random(n) < 0.2, rng.choice(["ED", "SLD", "AUT"], n), ""),
        "age": rng.integers(4, 19, n),
        "Grade": rng.choice(["KN", "3", "07", "11", "UG", ""], n),
        "Site": rng.choice(["0112607", "112608", "01100170112609", ""], n),
        "gender": rng.choice(["F", "M", "X", "", "Q"], n),
        "english_learner": rng.choice(["Y", "No", "1", "false", ""], n),
        "socioeconomically_disadvantaged": rng.choice(["Yes", "N", "TRUE", "0"], n),
        "oss_count": np.where(rng.random(n) < 0.1, rng.integers(1, 4, n), 0),
        "oss_days": rng.integers(0, 15, n),
    })  # fmt: skip


def test_roster_import_writes_detail_that_adds_up_and_no_student_rows(tmp_path):
    from cimrca.importers import import_files

    roster = _roster()
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  school_year: Year\n  lea_id: LEA\n  race_ethnicity: Race\n"
                       "  grade: Grade\n  school_code: Site\n")  # fmt: skip
    out = tmp_path / "out"
    lines = import_files("roster", [path], out, mapping=mapping)
    assert any("detail.csv: counts by school, grade_band, gender" in line for line in lines)
    pd.DataFrame({"lea_id": ["0110017", "0161119"], "lea_name": ["A", "B"]}).to_csv(
        out / "leas.csv", index=False
    )
    dataset = load_dataset(out)  # validation: every dimension adds up to the LEA counts
    detail = dataset.detail
    # no student row anywhere: no file holds a student id, and detail is aggregated
    for file in out.iterdir():
        assert "S00001" not in file.read_text(encoding="utf-8")
    assert set(detail.columns) == {"school_year", "lea_id", "race_ethnicity", "dimension",
                                   "value", "table", "code", "count"}  # fmt: skip
    # school slices of enrollment equal counts made from the roster directly
    site = roster["Site"].astype(str).str[-7:].str.zfill(7).where(roster["Site"].ne(""), "UNKNOWN")
    race = roster["Race"].replace("", "NR")
    direct = roster.assign(value=site, race_ethnicity=race).groupby(
        ["LEA", "race_ethnicity", "value"]).size()  # fmt: skip
    got = detail[detail["dimension"].eq("school") & detail["table"].eq("enrollment")]
    got = got.set_index(["lea_id", "race_ethnicity", "value"])["count"]
    assert sorted(got.index) == sorted(direct.index)
    assert (got.loc[direct.index].to_numpy() == direct.to_numpy()).all()
    assert set(got.index.get_level_values("value")) == {"0112607", "0112608", "0112609",
                                                        "UNKNOWN"}  # fmt: skip
    gender = detail.loc[detail["dimension"].eq("gender"), "value"]
    assert set(gender) == {"F", "M", "X", "UNKNOWN"}  # "Q" and empty are UNKNOWN
    el = detail.loc[detail["dimension"].eq("english_learner"), "value"]
    assert set(el) == {"Y", "N", "UNKNOWN"}
    grade = detail.loc[detail["dimension"].eq("grade_band"), "value"]
    assert set(grade) == {"K-5", "6-8", "9-12", "UG", "UNKNOWN"}
    assert not detail[detail["dimension"].eq("disability")]["table"].eq("enrollment").any()


def test_roster_bad_yes_no_value_names_row_and_column(tmp_path):
    from cimrca.errors import ImportError_
    from cimrca.importers import import_files

    roster = _roster(n=20)
    roster.loc[4, "english_learner"] = "maybe"
    path = tmp_path / "roster.csv"
    roster.rename(columns={"Year": "school_year", "LEA": "lea_id", "Race": "race_ethnicity",
                           "Grade": "grade", "Site": "school_code"}).to_csv(path, index=False)  # fmt: skip
    with pytest.raises(ImportError_, match=r"row 6, column 'english_learner'.*'maybe'"):
        import_files("roster", [path], tmp_path / "out")


def test_cde_directory_writes_schools_with_their_lea(tmp_path):
    from pathlib import Path

    from cimrca.importers import import_files

    pubschls = Path(__file__).parent / "fixtures" / "pubschls_head_alameda_coe.txt"
    import_files("cde-directory", [pubschls], tmp_path)
    schools = pd.read_csv(tmp_path / "schools.csv", dtype=str, keep_default_na=False)
    assert list(schools.columns) == ["school_code", "school_name", "lea_id"]
    # real slice: 31 rows, the COE record and 30 schools (16 of them charters, LEAs of their own)
    assert len(schools) == 30
    envision = schools[schools["school_code"].eq("0112607")].iloc[0]
    assert envision["school_name"] == "Envision Academy for Arts & Technology"
    assert envision["lea_id"] == "0112607"  # a charter school is its own LEA
    assert set(schools["lea_id"]) - set(schools["school_code"]) == {"0110017"}
    # every school's LEA is an LEA of the leas.csv the same file gives: the table validates
    leas = pd.read_csv(tmp_path / "leas.csv", dtype=str, keep_default_na=False)
    empty = ident_tables({})
    dataset = dataset_from_frames({**empty, "leas": leas, "schools": schools})
    assert len(dataset.schools) == 30


def test_cimrca_validate_exits_2_naming_file_row_column_and_value(tmp_path):
    from .conftest import run_cli

    detail = detail_frame()
    detail.loc[1, "count"] = 24
    folder = write_tables(small_tables(detail), tmp_path / "data")
    done = run_cli("validate", folder)
    assert done.returncode == 2
    assert "detail.csv, row 3, column 'count': slices of a dimension do not add up" in done.stderr
    assert "slices sum to 29, child_count.csv has 30" in done.stderr


@pytest.mark.slow
def test_roster_round_trip_through_a_batch(tmp_path):
    """A roster written here, imported, batched: the findings JSON's school slices equal counts
    made from the roster directly (drilldown.md sections 1-3)."""
    import json
    import subprocess
    import sys

    from cimrca.importers import import_files

    # 2023-24, one LEA: 200 Black students (30 with emotional disturbance, 20 of them at one
    # school) and 800 White students (10 with ED): ratio (30/200)/(10/800) = 12, a finding.
    rows = []
    for i in range(1000):
        black = i < 200
        ed = (i < 30) if black else (200 <= i < 210)
        school = ("0112607" if i < 20 else "0112608") if black else ("0112609", "0112608")[i % 2]
        rows.append({"student": f"S{i:05d}", "school_year": "2023-24", "lea_id": "0110017",
                     "race_ethnicity": "BL" if black else "WH", "disability": "ED" if ed else "",
                     "age": 10, "grade": "5", "school_code": school})  # fmt: skip
    roster = pd.DataFrame(rows)
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    data = tmp_path / "data"
    import_files("roster", [path], data)
    pd.DataFrame({"lea_id": ["0110017"], "lea_name": ["Roster Unified"]}).to_csv(
        data / "leas.csv", index=False
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "cimrca", "batch", str(data), "--out", str(out), "--jobs", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads((out / "leas" / "0110017" / "0110017_findings.json").read_text("utf-8"))
    finding = next(f for f in payload["findings"] if f["key"] == "2023-24:ident_ed:BL")
    schools = {s["value"]: s for s in finding["drilldown"] if s["dimension"] == "school"}
    black = roster[roster["race_ethnicity"] == "BL"]
    direct_n = black[black["disability"] == "ED"].groupby("school_code").size()
    direct_d = black.groupby("school_code").size()
    # every school of the LEA is a slice; one with no Black student has 0 of 0
    assert set(schools) == set(roster["school_code"])
    for code, slice_ in schools.items():
        assert slice_["numerator"] == direct_n.get(code, 0), code
        assert slice_["denominator"] == direct_d.get(code, 0), code
    # the parts add up to the LEA's own numerator and denominator
    assert sum(s["numerator"] for s in schools.values()) == 30
    assert sum(s["denominator"] for s in schools.values()) == 200
