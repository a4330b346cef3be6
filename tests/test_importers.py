"""Tests of cimrca.importers on real slices and header-faithful hand-made CDE fixtures.

Fixtures are described in tests/fixtures/README.md. Expected values of hand-made fixtures are
the counts written into them (see the README); real-slice values are quoted from the files.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cimrca.codes import DISABILITIES, ENVIRONMENTS, RACES
from cimrca.errors import ImportError_
from cimrca.importers import IMPORT_KINDS, import_files
from cimrca.importers.common import decode_bytes, normalise_header
from cimrca.importers.registry import KINDS, resolve_reader
from cimrca.importers.roster import aggregate_roster

FIXTURES = Path(__file__).parent / "fixtures"
ENROLL_NEW = FIXTURES / "cdenroll2324_handmade_bom.txt"
ENROLL_OLD = FIXTURES / "cdenroll1819_handmade_cp1252.txt"
SPEDPS = FIXTURES / "spedps2324_handmade.txt"
SUSPENSION = FIXTURES / "suspension24_handmade.txt"
CHRONIC = FIXTURES / "chronicabsenteeism24_handmade.txt"
PUBSCHLS = FIXTURES / "pubschls_head_alameda_coe.txt"
IDEA_STATE = FIXTURES / "idea618_state_childcount_edenv_2017-18_CA_slice.csv"
ROOT = Path(__file__).resolve().parents[1]


def read(out: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{table}.csv", dtype=str, keep_default_na=False)


def value(frame: pd.DataFrame, column: str = "count", **keys: str) -> str:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        mask &= frame[k].eq(v).to_numpy()
    hit = frame.loc[mask, column]
    if len(hit) != 1:
        raise LookupError(f"{len(hit)} rows for {keys}")
    return hit.iloc[0]


# --- module surface -------------------------------------------------------------------------


def test_import_kinds_are_the_documented_seven():
    assert IMPORT_KINDS == (
        "cde-enrollment",
        "cde-spedps",
        "cde-suspension",
        "cde-chronic",
        "cde-directory",
        "idea618-state-environments",
        "roster",
    )


def test_package_init_does_not_import_pandas():
    code = (
        "import sys; import cimrca.importers as m; "
        "print('pandas' in sys.modules, len(m.IMPORT_KINDS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["False", "7"]


def test_every_registered_kind_resolves_to_a_reader():
    assert tuple(KINDS) == IMPORT_KINDS
    for kind, entry in KINDS.items():
        reader = resolve_reader(kind)
        assert callable(reader), kind
        assert entry.description and "\n" not in entry.description, kind
        assert set(entry.options) <= {"lea_ids", "level", "mapping"}, kind
        params = inspect.signature(reader).parameters
        assert set(entry.options) <= set(params), kind


def test_common_imports_none_of_its_readers():
    code = (
        "import sys; import cimrca.importers.common; "
        "print(*sorted(m for m in ('cde', 'idea618', 'roster') "
        "if f'cimrca.importers.{m}' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


def test_import_help_lists_every_kind():
    done = run_cli("--help")
    assert done.returncode == 0, done.stderr
    for entry in KINDS.values():
        assert f"\n  {entry.name}\n" in done.stdout, entry.name


def test_unknown_kind_is_one_line_error(tmp_path):
    expected = (
        "unknown import kind 'cde-nope'; expected one of cde-enrollment, cde-spedps, "
        "cde-suspension, cde-chronic, cde-directory, idea618-state-environments, roster."
    )
    with pytest.raises(ImportError_) as caught:
        import_files("cde-nope", [IDEA_STATE], tmp_path)
    assert str(caught.value) == expected
    with pytest.raises(ImportError_, match="unknown import kind 'x'"):
        resolve_reader("x")


def test_mapping_is_refused_for_other_kinds(tmp_path):
    with pytest.raises(ImportError_, match=r"^--mapping applies to the roster kind only\.$"):
        import_files("cde-directory", [PUBSCHLS], tmp_path, mapping=tmp_path / "m.yaml")


def test_decode_and_header_normalisation():
    assert decode_bytes("La Cañada".encode("cp1252")) == ("La Cañada", "cp1252")
    assert decode_bytes("\ufeffLa Cañada".encode()) == ("La Cañada", "utf-8-sig")
    assert decode_bytes("La Cañada".encode()) == ("La Cañada", "utf-8")
    assert normalise_header("\ufeff Academic Year") == normalise_header("AcademicYear")


# --- cde-enrollment ---------------------------------------------------------------------------


def test_enrollment_without_leas_uses_all_rows(tmp_path):
    lines = import_files("cde-enrollment", [ENROLL_NEW], tmp_path)
    assert "encoding utf-8-sig" in lines[0]
    assert "wrote 16 rows to enrollment.csv, 8 to state_totals.csv" in lines[0]
    assert any("no leas.csv" in line for line in lines)
    enr = read(tmp_path, "enrollment")
    # fixture README: ACOE 'All' rows = N + Y; RE_H 400 + 300 + 60 = 760
    assert value(enr, school_year="2023-24", lea_id="0110017", race_ethnicity="HI") == "760"
    # Filipino folds into Asian: RE_A 50+20+250 = 320, RE_F 25+10+30 = 65 -> 385
    assert value(enr, lea_id="0110017", race_ethnicity="AS") == "385"
    assert value(enr, lea_id="0110017", race_ethnicity="NR") == "17"  # RE_D 9+5+3
    assert set(enr["lea_id"]) == {"0110017", "0161119"}
    assert set(enr["race_ethnicity"]) == {*RACES, "NR"}  # SG_SD, SG_DS, TA, GN_F skipped
    totals = read(tmp_path, "state_totals")
    assert set(totals["table"]) == {"enrollment"} and set(totals["code"]) == {""}
    assert value(totals, race_ethnicity="AS") == "730000"  # 600000 + 130000


def test_enrollment_charter_lea_counts_from_school_rows(tmp_path):
    import_files("cde-directory", [PUBSCHLS], tmp_path)
    lines = import_files("cde-enrollment", [ENROLL_NEW], tmp_path)
    assert "1 suppressed counts treated as missing" in lines[0]
    enr = read(tmp_path, "enrollment")
    # district-operated (N) rows for ACOE, school rows for its charters
    assert value(enr, lea_id="0110017", race_ethnicity="HI") == "400"
    assert value(enr, lea_id="0112607", race_ethnicity="HI") == "300"
    assert value(enr, lea_id="0114363", race_ethnicity="AS") == "280"  # 250 + 30 Filipino
    # Envision's RE_P is '*': the suppressed cell is missing, not zero
    assert value(enr, lea_id="0112607", race_ethnicity="PI") == ""
    # a district without charter LEAs keeps its 'all' rows
    assert value(enr, lea_id="0161119", race_ethnicity="AS") == "3400"
    # no child counted twice: ACOE N + the two charters = ACOE 'All' (HI: 760)
    hi = enr[enr["race_ethnicity"].eq("HI") & enr["lea_id"].str.startswith("01")]
    assert hi.loc[hi["lea_id"].ne("0161119"), "count"].astype(int).sum() == 760


def test_enrollment_old_vocabulary_cp1252(tmp_path):
    lines = import_files("cde-enrollment", [ENROLL_OLD], tmp_path)
    assert "encoding cp1252" in lines[0]
    enr = read(tmp_path, "enrollment")
    assert set(enr["school_year"]) == {"2018-19"}
    # fixture: RA 900 + RF 40; SD (old: students with disabilities) is not a race row
    assert value(enr, lea_id="1964659", race_ethnicity="AS") == "940"
    assert value(enr, lea_id="1964659", race_ethnicity="WH") == "2200"
    assert len(enr) == 8


def test_enrollment_rejects_a_directory_file(tmp_path):
    with pytest.raises(ImportError_, match=r"pubschls_head.*does not look like a CDE Census Day"):
        import_files("cde-enrollment", [PUBSCHLS], tmp_path)
    assert not any(tmp_path.iterdir())


def test_reimport_is_idempotent_and_conflict_names_both_sources(tmp_path):
    import_files("cde-directory", [PUBSCHLS], tmp_path)
    import_files("cde-enrollment", [ENROLL_NEW], tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")}
    lines = import_files("cde-enrollment", [ENROLL_NEW], tmp_path)
    assert "wrote 0 rows to enrollment.csv (32 already present)" in lines[0]
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")} == before
    # the same file with one count changed
    changed = tmp_path / "changed.txt"
    text = ENROLL_NEW.read_bytes().decode("utf-8-sig")
    needle = "\tAlameda Unified\t\tAll\tRE_W\t2400\t"
    assert needle in text
    changed.write_text(text.replace(needle, "\tAlameda Unified\t\tAll\tRE_W\t2401\t"))
    with pytest.raises(ImportError_, match=r"(?s)enrollment\.csv, row \d+.*changed\.txt, row \d+"):
        import_files("cde-enrollment", [changed], tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")} == before


def test_conflict_within_one_run_writes_nothing(tmp_path):
    changed = tmp_path / "other.txt"
    text = ENROLL_NEW.read_bytes().decode("utf-8-sig")
    changed.write_text(text.replace("\tAll\tRE_W\t2400\t", "\tAll\tRE_W\t2399\t"))
    with pytest.raises(ImportError_, match="nothing was written"):
        import_files("cde-enrollment", [ENROLL_NEW, changed], tmp_path / "out")
    assert not (tmp_path / "out" / "enrollment.csv").exists()


def test_bad_count_names_file_row_and_column(tmp_path):
    bad = tmp_path / "bad.txt"
    text = ENROLL_NEW.read_bytes().decode("utf-8-sig")
    bad.write_text(text.replace("\tAll\tRE_W\t2400\t", "\tAll\tRE_W\t24x0\t"))
    with pytest.raises(ImportError_, match=r"bad\.txt, column 'total_enr'.*row \d+ value '24x0'"):
        import_files("cde-enrollment", [bad], tmp_path / "out")


# --- cde-spedps -------------------------------------------------------------------------------


def test_spedps_child_count_and_environments(tmp_path):
    lines = import_files("cde-spedps", [SPEDPS], tmp_path)
    text = "\n".join(lines)
    assert "3-22" in text and "TK-12" in text
    assert "residential, homebound and correctional" in text
    # ACOE's RI row is suppressed: 6 settings + SPED_ENR_N -> 7 cells, but only the 5 imported
    # columns count (SPED_ENR_N and the 4 school-age settings)
    assert "5 suppressed counts treated as missing" in lines[0]
    cc = read(tmp_path, "child_count")
    assert set(cc["disability"]) == {"ALL"}
    # Alameda Unified RH: 250+80+60+20+25+3 = 438 (SPED_ENR_N is every setting)
    assert value(cc, lea_id="0161119", race_ethnicity="HI") == "438"
    # AS = RA + RF: (150+40+30+10+12+2) + (30+8+6+2+3+0) = 244 + 49
    assert value(cc, lea_id="0161119", race_ethnicity="AS") == "293"
    assert value(cc, lea_id="0110017", race_ethnicity="AM") == ""
    env = read(tmp_path, "environments")
    assert set(env["environment"]) == {"RC80", "RC40_79", "RC_LT40", "SEP_SCHOOL"}
    assert value(env, lea_id="0161119", race_ethnicity="HI", environment="SEP_SCHOOL") == "20"
    assert value(env, lea_id="0161119", race_ethnicity="AS", environment="RC80") == "180"
    totals = read(tmp_path, "state_totals")
    assert set(totals["table"]) == {"child_count", "environments"}
    # state RW: each setting x 1000 + 7 -> RC80 200007
    assert value(totals, table="environments", race_ethnicity="WH", code="RC80") == "200007"


def test_spedps_level_a(tmp_path):
    import_files("cde-spedps", [SPEDPS], tmp_path, spedps_level="A")
    cc = read(tmp_path, "child_count")
    # fixture: A rows are the D rows plus one in each cell: RH 438 + 6
    assert value(cc, lea_id="0161119", race_ethnicity="HI") == "444"
    assert "0110017" not in set(cc["lea_id"])


# --- cde-suspension, cde-chronic ----------------------------------------------------------------


def test_suspension_and_chronic_indicators(tmp_path):
    import_files("cde-directory", [PUBSCHLS], tmp_path)
    lines = import_files("cde-suspension", [SUSPENSION], tmp_path)
    assert "1 suppressed counts" in lines[0]
    import_files("cde-chronic", [CHRONIC], tmp_path)
    ind = read(tmp_path, "indicators")
    susp = ind[ind["indicator"].eq("SUSP_SWD")]
    # ACOE from its 'No' rows (charters are LEAs): 19 of 150
    assert value(susp, "numerator", lea_id="0110017") == "19"
    assert value(susp, "denominator", lea_id="0110017") == "150"
    assert value(susp, "numerator", lea_id="0112607") == ""  # '*'
    assert value(susp, "denominator", lea_id="0161119") == "1300"
    chronic = ind[ind["indicator"].eq("CHRONIC_SWD")]
    # Charter School = No, DASS = All: 55 of 140
    assert value(chronic, "numerator", lea_id="0110017") == "55"
    assert value(chronic, "denominator", lea_id="0110017") == "140"
    assert value(chronic, "numerator", lea_id="0112607") == "30"
    assert len(chronic) == 4


def test_suspension_rejects_enrollment_file(tmp_path):
    with pytest.raises(ImportError_, match=r"not look like a CDE suspension.*cumulativeenrollment"):
        import_files("cde-suspension", [ENROLL_NEW], tmp_path)


# --- cde-directory --------------------------------------------------------------------------------


def test_directory_real_slice(tmp_path):
    lines = import_files("cde-directory", [PUBSCHLS], tmp_path)
    leas = read(tmp_path, "leas")
    # real slice: the COE record and 16 charter schools (Charter = Y)
    assert len(leas) == 17
    coe = leas[leas["lea_id"].eq("0110017")].iloc[0]
    assert coe["lea_name"] == "Alameda County Office of Education"
    assert coe["lea_type"] == "County Office of Education (COE)"
    envision = leas[leas["lea_id"].eq("0112607")].iloc[0]
    assert envision["lea_name"] == "Envision Academy for Arts & Technology"
    assert envision["parent_lea_id"] == "0110017" and envision["charter"] == "Y"
    fame = leas[leas["lea_id"].eq("0109835")].iloc[0]
    assert fame["status"] == "Closed"  # closed entities are kept
    assert "No Data" not in leas.to_numpy()
    assert any("closed or merged" in line for line in lines)


def test_directory_cp1252_names(tmp_path):
    text = PUBSCHLS.read_text(encoding="utf-8").replace("Yu Ming Charter", "Escuela Cañada")
    src = tmp_path / "pubschls.txt"
    src.write_bytes(text.encode("cp1252"))
    lines = import_files("cde-directory", [src], tmp_path / "out")
    assert "encoding cp1252" in lines[0]
    leas = read(tmp_path / "out", "leas")
    assert value(leas, "lea_name", lea_id="0124172") == "Escuela Cañada"


def test_directory_keeps_existing_columns_and_rows(tmp_path):
    pd.DataFrame(
        {
            "lea_id": ["0110017", "9999999"],
            "lea_name": ["Alameda County Office of Education", "X"],
            "selpa": ["Alameda County SELPA", "Y"],
        }  # fmt: skip
    ).to_csv(tmp_path / "leas.csv", index=False)
    import_files("cde-directory", [PUBSCHLS], tmp_path)
    leas = read(tmp_path, "leas")
    assert value(leas, "selpa", lea_id="0110017") == "Alameda County SELPA"
    assert value(leas, "county", lea_id="0110017") == "Alameda"  # filled
    assert "9999999" in set(leas["lea_id"])
    assert len(leas) == 18


# --- idea618-state-environments -----------------------------------------------------------------


def test_idea618_state_environments_sum_to_the_file_total(tmp_path):
    lines = import_files("idea618-state-environments", [IDEA_STATE], tmp_path)
    assert "683,709" in "\n".join(lines)
    totals = read(tmp_path, "state_totals")
    assert set(totals["school_year"]) == {"2017-18"}
    assert set(totals["table"]) == {"environments"}
    assert set(totals["code"]) == set(ENVIRONMENTS)
    assert len(totals) == 8 * 7
    # the file's own "Total, Age 6-21" for All Disabilities: Ages 6-21 = 683,709
    assert totals["count"].astype(int).sum() == 683_709
    # Hispanic/Latino Age 6 to21 of "Inside regular class 80% or more of the day": 213811
    assert value(totals, race_ethnicity="HI", code="RC80") == "213811"
    # "Separate School, Age 6-21", White: 5861; "Residential Facility, Age 6-21", Asian: 23
    assert value(totals, race_ethnicity="WH", code="SEP_SCHOOL") == "5861"
    assert value(totals, race_ethnicity="AS", code="RESIDENTIAL") == "23"
    # race totals equal the file's total row: Black or African American Age 6 to21 = 58195
    bl = totals[totals["race_ethnicity"].eq("BL")]["count"].astype(int).sum()
    assert bl == 58_195


def test_idea618_rejects_cde_file(tmp_path):
    with pytest.raises(ImportError_, match="IDEA 618 state child count"):
        import_files("idea618-state-environments", [SPEDPS], tmp_path)


# --- roster -------------------------------------------------------------------------------------

N_STUDENTS = 4000
SEED = 20240611
CALPADS_RACE = {"500": "HI", "100": "AM", "200": "AS", "400": "AS", "300": "PI", "600": "BL",
                "700": "WH", "900": "MU", "": "NR"}  # fmt: skip


def make_roster(seed: int = SEED, n: int = N_STUDENTS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race_codes = np.array(list(CALPADS_RACE))
    weights = np.array([0.55, 0.01, 0.10, 0.02, 0.005, 0.05, 0.21, 0.04, 0.015])
    age = rng.integers(3, 23, n)
    has_dis = rng.random(n) < 0.25
    disability = np.where(has_dis, rng.choice(np.array(DISABILITIES), n), "")
    grade = np.where(age == 5, rng.choice(["KN", "TK"], n), "")
    environment = np.where(has_dis, rng.choice(np.array([*ENVIRONMENTS, "PRESCHOOL"]), n), "")
    removed = has_dis & (rng.random(n) < 0.3)
    oss_count = np.where(removed, rng.integers(0, 4, n), 0)
    oss_days = np.where(oss_count > 0, rng.integers(1, 20, n), 0)
    iss_count = np.where(removed, rng.integers(0, 3, n), 0)
    iss_days = np.where(iss_count > 0, rng.integers(1, 15, n), 0)
    other = np.where(removed, rng.integers(0, 2, n), 0)
    return pd.DataFrame(
        {
            "Year": rng.choice(["2022-23", "2023-24"], n),
            "District_Code": rng.choice(["0110017", "0161119", "0112607", "1964659"], n),
            "Race": rng.choice(race_codes, n, p=weights / weights.sum()),
            "Primary_Disability": disability,
            "Age": age,
            "Grade": grade,
            "Setting": environment,
            "OSS_N": oss_count,
            "OSS_Days": oss_days,
            "ISS_N": iss_count,
            "ISS_Days": iss_days,
            "Other_Removals": other,
        }
    )


MAPPING_YAML = """\
columns:
  school_year: Year
  lea_id: District_Code
  race_ethnicity: Race
  disability: Primary_Disability
  age: Age
  grade: Grade
  environment: Setting
  oss_count: OSS_N
  oss_days: OSS_Days
  iss_count: ISS_N
  iss_days: ISS_Days
  other_removals: Other_Removals
values:
  race_ethnicity: {"500": HI, "100": AM, "200": AS, "400": AS, "300": PI, "600": BL, "700": WH,
                   "900": MU}
"""


def expected_tables(roster: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The canonical tables computed directly with groupby, independent of the importer."""
    r = roster.assign(
        school_year=roster["Year"],
        lea_id=roster["District_Code"],
        race_ethnicity=roster["Race"].map(CALPADS_RACE),
    )
    keys = ["school_year", "lea_id", "race_ethnicity"]
    out = {"enrollment": r.groupby(keys).size().rename("count").reset_index()}
    cwd = r[(r["Primary_Disability"] != "") & r["Age"].between(3, 21)]
    out["child_count"] = (
        cwd.groupby([*keys, "Primary_Disability"]).size().rename("count").reset_index()
        .rename(columns={"Primary_Disability": "disability"})
    )  # fmt: skip
    sa = cwd[(cwd["Age"].between(6, 21) | ((cwd["Age"] == 5) & (cwd["Grade"] == "KN")))]
    sa = sa[sa["Setting"].isin(ENVIRONMENTS)]
    out["environments"] = (
        sa.groupby([*keys, "Setting"]).size().rename("count").reset_index()
        .rename(columns={"Setting": "environment"})
    )  # fmt: skip
    rows = []
    for kind, n_col, d_col in (("OSS", "OSS_N", "OSS_Days"), ("ISS", "ISS_N", "ISS_Days")):
        hit = cwd[cwd[n_col] > 0]
        for suffix, sel in (("LE10", hit[d_col] <= 10), ("GT10", hit[d_col] > 10)):
            g = hit[sel].groupby(keys).size().rename("count").reset_index()
            rows.append(g.assign(removal_type=f"{kind}_{suffix}"))
    tdr = cwd.assign(n=cwd["OSS_N"] + cwd["ISS_N"] + cwd["Other_Removals"])
    tdr = tdr[tdr["n"] > 0].groupby(keys)["n"].sum().rename("count").reset_index()
    rows.append(tdr.assign(removal_type="TDR"))
    out["discipline"] = pd.concat(rows)
    return out


def canonical_sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    f = frame[[*keys, "count"]].astype({"count": "int64"})
    for k in keys:
        f[k] = f[k].astype(str)
    return f.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def roster_import(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roster")
    roster = make_roster()
    path = tmp / "roster.csv"
    roster.to_csv(path, index=False)
    mapping = tmp / "mapping.yaml"
    mapping.write_text(MAPPING_YAML)
    lines = import_files("roster", [path], tmp / "out", mapping=mapping)
    return roster, tmp / "out", lines, path, mapping


@pytest.mark.parametrize(
    ("table", "code"),
    [
        ("enrollment", None),
        ("child_count", "disability"),
        ("environments", "environment"),
        ("discipline", "removal_type"),
    ],  # fmt: skip
)
def test_roster_equals_independent_groupby(roster_import, table, code):
    roster, out, lines, _, _ = roster_import
    keys = ["school_year", "lea_id", "race_ethnicity"] + ([code] if code else [])
    got = canonical_sorted(read(out, table), keys)
    want = canonical_sorted(expected_tables(roster)[table], keys)
    assert len(want) > 20
    pd.testing.assert_frame_equal(got, want)


def test_roster_summary_and_reimport(roster_import):
    _, out, lines, path, mapping = roster_import
    assert f"read {N_STUDENTS:,} rows of roster" in lines[0]
    assert any("leas.csv must list" in line for line in lines)
    again = import_files("roster", [path], out, mapping=mapping)
    assert "wrote 0 rows to enrollment.csv" in again[0]


def test_aggregate_roster_does_not_mutate_input():
    s = pd.DataFrame(
        {
            "school_year": ["2023-24"] * 3,
            "lea_id": ["0110017"] * 3,
            "race_ethnicity": ["HI", "WH", "HI"],
            "disability": ["SLD", "", "AUT"],
            "age": [9.0, 10.0, 5.0],
            "grade": ["04", "05", "KN"],
            "environment": ["RC80", "", "RC_LT40"],
            "oss_count": [1.0, 0.0, 2.0],
            "oss_days": [12.0, 0.0, 3.0],
        }  # fmt: skip
    )
    copy = s.copy(deep=True)
    tables = aggregate_roster(s)
    pd.testing.assert_frame_equal(s, copy)
    disc = tables["discipline"].set_index("removal_type")["count"]
    # one child >10 days (12), one <=10 (3); TDR 1 + 2 = 3 removals (both HI)
    assert disc["OSS_GT10"] == 1 and disc["OSS_LE10"] == 1 and disc["TDR"] == 3
    env = tables["environments"].set_index("environment")["count"]
    assert env["RC_LT40"] == 1  # the 5-year-old in kindergarten counts


def test_roster_unknown_code_is_reported(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(
        {
            "school_year": ["2023-24"],
            "lea_id": ["0110017"],
            "race_ethnicity": ["Martian"],
            "disability": [""],
            "age": [9],
        }  # fmt: skip
    ).to_csv(path, index=False)
    with pytest.raises(ImportError_, match=r"r\.csv, row 2, column 'race_ethnicity'.*'Martian'"):
        import_files("roster", [path], tmp_path / "out")


def test_roster_rejects_cde_file(tmp_path):
    with pytest.raises(ImportError_, match="does not look like a student roster"):
        import_files("roster", [SUSPENSION], tmp_path)


def test_roster_results_equal_compute_results(roster_import, tmp_path):
    """Results from the imported tables equal results from the independently built tables."""
    methodology = pytest.importorskip("cimrca.methodology")
    dataset = pytest.importorskip("cimrca.dataset")
    from cimrca.profiles import load_profile

    roster, out, _, _, _ = roster_import
    leas = pd.DataFrame({"lea_id": sorted(roster["District_Code"].unique())})
    leas["lea_name"] = "LEA " + leas["lea_id"]
    expected_dir = tmp_path / "expected"
    imported_dir = tmp_path / "imported"
    shutil.copytree(out, imported_dir)
    expected_dir.mkdir()
    for name, frame in expected_tables(roster).items():
        frame.to_csv(expected_dir / f"{name}.csv", index=False)
    for d in (expected_dir, imported_dir):
        leas.to_csv(d / "leas.csv", index=False)
    profile = load_profile("california")
    a = methodology.compute_results(dataset.load_dataset(imported_dir), profile)
    b = methodology.compute_results(dataset.load_dataset(expected_dir), profile)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


# --- command line -------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "cimrca", "import", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_cli_import_ok(tmp_path):
    done = run_cli("idea618-state-environments", str(IDEA_STATE), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "wrote 56 rows to state_totals.csv" in done.stdout
    assert (tmp_path / "state_totals.csv").exists()


def test_cli_import_bad_file_exits_2(tmp_path):
    done = run_cli("cde-spedps", str(PUBSCHLS), "--out", str(tmp_path))
    assert done.returncode == 2
    assert "does not look like a CDE special education enrollment" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "child_count.csv").exists()


def test_charter_school_not_in_leas_is_reported(tmp_path):
    pd.DataFrame(
        {"lea_id": ["0110017", "0112607"], "lea_name": ["ACOE", "Envision Academy"]}
    ).to_csv(tmp_path / "leas.csv", index=False)
    lines = import_files("cde-enrollment", [ENROLL_NEW], tmp_path)
    assert any("1 charter school(s)" in line for line in lines)
    enr = read(tmp_path, "enrollment")
    assert "0114363" not in set(enr["lea_id"])
    assert value(enr, lea_id="0110017", race_ethnicity="HI") == "400"


def test_parse_counts_markers():
    from cimrca.importers.common import parse_counts

    cells = pd.Series(["12", "*", "-8", "-9", "", "No Data", "1,234", "-"])
    rows = pd.Series(range(2, 10))
    counts, suppressed = parse_counts(
        cells, rows, path=Path("f.csv"), column="c", not_applicable=True
    )
    assert suppressed == 3  # '*', '-8', '-9'
    assert counts.tolist()[0] == 12 and counts.tolist()[6] == 1234
    assert counts.isna().sum() == 6
    with pytest.raises(ImportError_, match=r"f\.csv, column 'c'.*row 3 value '-5'"):
        parse_counts(pd.Series(["1", "-5"]), pd.Series([2, 3]), path=Path("f.csv"), column="c")


def test_lea_name_conflict(tmp_path):
    pd.DataFrame({"lea_id": ["0112607"], "lea_name": ["Envision"]}).to_csv(
        tmp_path / "leas.csv", index=False
    )
    with pytest.raises(ImportError_, match=r"(?s)lea_name='Envision'.*leas\.csv, row 2.*pubschls"):
        import_files("cde-directory", [PUBSCHLS], tmp_path)


def test_roster_mapping_unknown_field(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("district: District_Code\n")
    roster = tmp_path / "r.csv"
    roster.write_text("school_year,lea_id,race_ethnicity,disability,age\n2023-24,0110017,HI,,9\n")
    with pytest.raises(ImportError_, match="unknown roster field.*district"):
        import_files("roster", [roster], tmp_path / "out", mapping=mapping)
