"""Loading and validation (data.md section 1): every kind of bad input is named and explained."""

from __future__ import annotations

import hashlib
import shutil

import pandas as pd
import pytest

from cimrca.dataset import TABLES, dataset_from_frames, load_dataset
from cimrca.errors import DataValidationError

from .conftest import SAMPLE, ident_tables, lea_id, run_cli


@pytest.fixture
def data(tmp_path):
    """A copy of the sample data set to break."""
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    return folder


def edit(folder, table, change):
    """Rewrite one CSV as text, the way a person editing it would."""
    path = folder / TABLES[table].file
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)
    return path


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_sample_loads_with_string_codes_and_float_counts():
    ds = load_dataset(SAMPLE)
    assert ds.is_synthetic and ds.school_years[-1] == "2024-25"
    assert ds.leas["lea_id"].str.fullmatch(r"\d{7}").all()
    assert ds.enrollment["count"].dtype == float
    assert ds.enrollment["lea_id"].str.startswith("0").any()  # leading zeros survive


def set_cell(table, row, column, value):
    def change(frame):
        frame.loc[row, column] = value

    return table, change


CASES = [
    (set_cell("enrollment", 4, "race_ethnicity", "XX"), "enrollment.csv, row 6, column 'race_ethnicity': unknown race_ethnicity code \\(value 'XX'\\)"),
    (set_cell("child_count", 0, "disability", "EMD"), "child_count.csv, row 2, column 'disability': unknown disability code \\(value 'EMD'\\)"),
    (set_cell("environments", 1, "environment", "RC_40"), "environments.csv, row 3, column 'environment': unknown environment code"),
    (set_cell("discipline", 2, "removal_type", "EXP"), "discipline.csv, row 4, column 'removal_type': unknown removal_type code"),
    (set_cell("enrollment", 0, "count", "-3"), "enrollment.csv, row 2, column 'count': count is negative \\(value '-3'\\)"),
    (set_cell("enrollment", 0, "count", "12.5"), "count is not a whole number \\(value '12.5'\\)"),
    (set_cell("enrollment", 0, "count", "twelve"), "count is not a number \\(value 'twelve'\\)"),
    (set_cell("enrollment", 0, "school_year", "2023-2024"), "column 'school_year': school year is not in YYYY-YY form \\(value '2023-2024'\\)"),
    (set_cell("enrollment", 0, "school_year", "2023-25"), "school year is not in YYYY-YY form"),
    (set_cell("enrollment", 0, "lea_id", "9999999"), "enrollment.csv, row 2, column 'lea_id': LEA is not in leas.csv \\(value '9999999'\\)"),
    (set_cell("leas", 0, "lea_id", "123"), "leas.csv, row 2, column 'lea_id': lea_id is not a 7-digit CDE code"),
    (set_cell("targets", 0, "target", "51.2"), "targets.csv, row 2, column 'target': target is not a proportion \\(value '51.2'\\)"),
    (set_cell("targets", 0, "higher_is_better", "maybe"), "higher_is_better is not true or false"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "message"), CASES)
def test_each_bad_value_is_named(data, case, message):
    table, change = case
    edit(data, table, change)
    before = digest(data)
    with pytest.raises(DataValidationError, match=message):
        load_dataset(data)
    assert digest(data) == before  # files are never modified


def test_duplicate_key_row(data):
    def duplicate_first_row(frame):
        frame.iloc[1] = frame.iloc[0]

    edit(data, "enrollment", duplicate_first_row)
    with pytest.raises(DataValidationError, match="enrollment.csv, row 3: duplicate key row"):
        load_dataset(data)


def test_missing_file_and_missing_column(data):
    (data / "child_count.csv").unlink()
    path = data / "enrollment.csv"
    pd.read_csv(path, dtype=str).drop(columns=["count"]).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        load_dataset(data)
    text = str(err.value)
    assert "child_count.csv: required file is missing. Add child_count.csv with columns" in text
    assert "enrollment.csv, row 1, column 'count': required column is missing" in text


def test_outcome_larger_than_base_and_tdr_exempt():
    y, lea = "2023-24", lea_id(1)
    tables = ident_tables({(y, lea): {"BL": (12, 10), "WH": (5, 100)}}, disability="AUT")
    with pytest.raises(DataValidationError, match=r"child_count.csv, row 2, column 'count': children with disabilities \(summed over disabilities\) exceed the children enrolled \(value '2023-24 0100001 BL: 12 > 10'\)"):  # fmt: skip
        dataset_from_frames(tables)
    ok = ident_tables({(y, lea): {"BL": (8, 10), "WH": (5, 100)}})
    ok["discipline"] = pd.DataFrame({"school_year": y, "lea_id": lea, "race_ethnicity": ["BL", "BL"],
                                     "removal_type": ["TDR", "OSS_LE10"], "count": [40, 3]})  # fmt: skip
    dataset_from_frames(ok)  # 40 removals among 8 children is allowed: TDR counts events
    ok["discipline"].loc[1, "count"] = 9
    with pytest.raises(
        DataValidationError, match="children removed exceed the children with disabilities"
    ):
        dataset_from_frames(ok)


def test_all_mixed_with_disability_rows():
    y, lea = "2023-24", lea_id(1)
    tables = ident_tables({(y, lea): {"BL": (8, 100)}})
    extra = pd.DataFrame(
        [{"school_year": y, "lea_id": lea, "race_ethnicity": "BL", "disability": "ALL", "count": 8}]
    )
    tables["child_count"] = pd.concat([tables["child_count"], extra], ignore_index=True)
    with pytest.raises(DataValidationError, match="ALL rows are mixed with disability rows"):
        dataset_from_frames(tables)


def test_all_problems_of_a_file_are_reported_together(data):
    def change(frame):
        frame.loc[0, "count"] = "-1"
        frame.loc[5, "race_ethnicity"] = "ZZ"
        frame.loc[9, "count"] = "x"

    edit(data, "enrollment", change)
    with pytest.raises(DataValidationError) as err:
        load_dataset(data)
    assert len(err.value.problems) >= 3
    assert {p.row for p in err.value.problems} >= {2, 7, 11}


def test_absent_optional_tables_are_noted(data):
    (data / "discipline.csv").unlink()
    ds = load_dataset(data)
    assert ds.discipline is None
    assert any("discipline.csv" in n and "missing_input" in n for n in ds.notes)


def test_validate_cli_exit_codes_and_no_traceback(data):
    ok = run_cli("validate", str(data))
    assert ok.returncode == 0 and "valid" in ok.stdout
    edit(data, "enrollment", set_cell("enrollment", 0, "count", "-5")[1])
    bad = run_cli("validate", str(data))
    assert bad.returncode == 2
    assert "enrollment.csv, row 2, column 'count': count is negative (value '-5')" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = run_cli("compute", str(data / "nowhere"), "--out", str(data / "r.csv"))
    assert missing.returncode == 2 and "data folder not found" in missing.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "count is not a finite number \\(value 'inf'\\)"),
        ("-inf", "count is not a finite number \\(value '-inf'\\)"),
        ("nan", "count is not a number \\(value 'nan'\\)"),
        ("NaN", "count is not a number \\(value 'NaN'\\)"),
        ("99999999999999999999", "count is larger than .* \\(value '99999999999999999999'\\)"),
        (
            "10000001",
            "count is larger than 10,000,000, more than a State .* \\(value '10000001'\\)",
        ),
    ],
)
def test_non_finite_and_absurd_counts_are_refused(data, value, message):
    # Before: inf and 99999999999999999999 validated (ratios near 1e305), nan became "missing".
    edit(data, "enrollment", set_cell("enrollment", 3, "count", value)[1])
    with pytest.raises(
        DataValidationError, match="enrollment.csv, row 5, column 'count': " + message
    ):
        load_dataset(data)


def test_largest_plausible_count_is_accepted(data):
    from cimrca.dataset import MAX_COUNT_PER_ROW

    edit(data, "enrollment", set_cell("enrollment", 3, "count", str(MAX_COUNT_PER_ROW))[1])
    load_dataset(data)


def test_non_finite_count_in_frames_is_refused():
    tables = ident_tables({("2023-24", lea_id(1)): {"BL": (8, 100), "WH": (5, 100)}})
    tables["enrollment"]["count"] = tables["enrollment"]["count"].astype(float)
    tables["enrollment"].loc[0, "count"] = float("inf")
    with pytest.raises(DataValidationError, match="row 2, column 'count': count is not a finite"):
        dataset_from_frames(tables)


def test_leas_csv_with_only_a_header_is_one_problem(data):
    # Before: an IndexError traceback from the outcome check.
    (data / "leas.csv").write_text("lea_id,lea_name\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="leas.csv: no LEA rows, only a header") as err:
        load_dataset(data)
    assert len(err.value.problems) == 1


@pytest.mark.parametrize("line", [2, 5])
def test_row_with_an_extra_field_is_named_once(data, line):
    # Before, in the first data row: thousands of "unknown race_ethnicity code" (the columns
    # shifted because pandas took the first column as an index).
    path = data / "enrollment.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] += ",7"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        load_dataset(data)
    assert len(err.value.problems) == 1, str(err.value)
    assert f"enrollment.csv, row {line}: the row has 5 fields but the header has 4" in str(
        err.value
    )


def test_row_with_a_missing_field_is_named(data):
    path = data / "enrollment.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[6] = lines[6].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        DataValidationError, match="row 7: the row has 3 fields but the header has 4"
    ):
        load_dataset(data)


def test_a_misnamed_table_is_named_in_the_notes(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    (data / "discipline.csv").rename(data / "discipline.csv.csv")
    ds = load_dataset(data)
    assert any("no discipline.csv" in n for n in ds.notes)
    assert any(n.startswith("discipline.csv.csv is not a table") for n in ds.notes)
