"""Importers for California Department of Education (CDE) downloadable files.

All CDE files are tab-delimited text (data.md section 2). Each reader takes one file and
returns an :class:`~cimrca.importers.common.ImportedFile` of canonical rows:

- :func:`read_enrollment`: Census Day enrollment ``cdenroll*.txt`` -> ``enrollment`` and
  ``state_totals`` (table ``enrollment``).
- :func:`read_spedps`: special education enrollment by program setting ``spedps*.txt`` ->
  ``child_count`` (disability ``ALL``), ``environments`` and ``state_totals``.
- :func:`read_suspension`, :func:`read_chronic`: students-with-disabilities rows ->
  ``indicators`` (``SUSP_SWD``, ``CHRONIC_SWD``).
- :func:`read_directory`: ``pubschls.txt`` -> ``leas`` and ``schools`` (every school, named,
  with the LEA it belongs to: drilldown.md section 1).

Charter schools (data.md section 2): every district appears once per charter filter
(``ALL``/``All``, ``Y``/``Yes``, ``N``/``No``). No child may be counted in two LEAs, so when
``leas.csv`` lists a charter school as an LEA of its own (its 7-digit school code as
``lea_id``), the district's counts come from its ``N`` (district-operated) rows and the
charter's from its school rows (``AggregateLevel`` ``S``); every other district's counts are
its "all" rows. State rows (``AggregateLevel`` ``T``, charter filter "all") go to
``state_totals.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..codes import ALL_DISABILITIES
from ..errors import ImportError_
from .common import (
    CDE_RACE_CODES,
    ROW,
    ImportedFile,
    RawTable,
    finalise,
    fold_sum,
    normalise_school_year,
    parse_counts,
    read_delimited,
    require_columns,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SPEDPS_ENVIRONMENTS",
    "SWD_CODES",
    "read_enrollment",
    "read_spedps",
    "read_suspension",
    "read_chronic",
    "read_directory",
]

#: spedps setting columns -> canonical school-age environments (data.md section 2).
#: ``PS_SSOS_N`` ("separate school and other settings") also holds residential, homebound and
#: correctional placements. Preschool (``PS_PSS_N``) and missing/unknown (``PS_MUK_N``) are
#: outside the school-age base and are not imported.
SPEDPS_ENVIRONMENTS: dict[str, str] = {
    "ps_rcgt80_n": "RC80",
    "ps_rc4079_n": "RC40_79",
    "ps_rcl40_n": "RC_LT40",
    "ps_ssos_n": "SEP_SCHOOL",
}
#: ReportingCategory of students with disabilities: ``SD`` in files with the older
#: vocabulary (``R*`` race codes); ``SG_DS`` in files with the 2023-24 vocabulary (``RE_*``,
#: ``SG_*``), where ``SG_SD`` means socioeconomically disadvantaged instead.
SWD_CODES: dict[str, str] = {"old": "SD", "new": "SG_DS"}

#: CDE district codes are 2 (county) + 5 (district) digits; school codes 7 digits.
COUNTY_DIGITS, DISTRICT_DIGITS, SCHOOL_DIGITS = 2, 5, 7
#: CDS code of a district record ends in seven zeros (no school).
NO_SCHOOL = "0" * SCHOOL_DIGITS

_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "year": ("academicyear",),
    "level": ("aggregatelevel",),
    "county": ("countycode",),
    "district": ("districtcode",),
    "school": ("schoolcode",),
    "district_name": ("districtname",),
    "school_name": ("schoolname",),
    "charter": ("charter", "charteryn", "charterschool"),
    "category": ("reportingcategory",),
}

_ENROLLMENT_WHAT = "CDE Census Day enrollment file (cdenroll*.txt)"
_SPEDPS_WHAT = "CDE special education enrollment by program setting file (spedps*.txt)"
_SUSPENSION_WHAT = "CDE suspension data file (suspension*.txt)"
_CHRONIC_WHAT = "CDE chronic absenteeism file (chronicabsenteeism*.txt)"
_DIRECTORY_WHAT = "CDE Public Schools and Districts file (pubschls.txt)"


def _charter_filter(values: pd.Series) -> pd.Series:
    """``ALL``/``All`` -> ``all``, ``Y``/``Yes`` -> ``y``, ``N``/``No`` -> ``n``."""
    lowered = values.str.lower()
    return lowered.map({"all": "all", "y": "y", "yes": "y", "n": "n", "no": "n"}).fillna("")


def _lea_rows(
    raw: RawTable,
    cols: dict[str, str],
    lea_ids: frozenset[str] | None,
    *,
    level: str = "D",
    extra_filter: pd.Series | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Rows that give each LEA's counts, with an ``lea_id`` column (charter rule above).

    Parameters
    ----------
    lea_ids : frozenset of str or None
        LEAs listed in ``leas.csv`` (None: no ``leas.csv`` yet).
    level : str
        The district ``AggregateLevel`` read (``D``; spedps also ``A``).
    extra_filter : Series of bool, optional
        Further condition on district rows (chronic absenteeism: ``DASS`` = all).
    """
    import pandas as pd

    f = raw.frame
    agg = f[cols["level"]].str.upper()
    charter = _charter_filter(f[cols["charter"]])
    district_id = f[cols["county"]].str.zfill(COUNTY_DIGITS) + f[cols["district"]].str.zfill(
        DISTRICT_DIGITS
    )
    school = f[cols["school"]].str.zfill(SCHOOL_DIGITS)
    known = lea_ids or frozenset()
    is_school = agg.eq("S")
    charter_school = is_school & charter.eq("y")
    own = charter_school & school.isin(known) & ~school.eq(NO_SCHOOL)
    parents = frozenset(district_id[own])
    dist = agg.eq(level)
    if extra_filter is not None:
        dist &= extra_filter
    use_n = district_id.isin(parents)
    pick = dist & ((use_n & charter.eq("n")) | (~use_n & charter.eq("all")))
    notes: list[str] = []
    if lea_ids is None:
        notes.append(
            "no leas.csv in the output folder: each district's counts are its 'all' rows "
            "(its charter schools included); import cde-directory first to make charter "
            "schools LEAs of their own"
        )
    orphans = charter_school & use_n & ~own
    if orphans.any():
        n = school[orphans].nunique()
        notes.append(
            f"{n} charter school(s) of districts read from their district-operated (N) rows are "
            "not LEAs in leas.csv, so their students are in no LEA; add them to leas.csv "
            "(cde-directory) and import again"
        )
    district_rows = f[pick].assign(lea_id=district_id[pick], _agg="D")
    school_rows = f[own].assign(lea_id=school[own], _agg="S")
    rows = pd.concat([district_rows, school_rows])
    rows[ROW] = raw.rows()[rows.index]
    return rows, notes


def _state_rows(
    raw: RawTable, cols: dict[str, str], extra_filter: pd.Series | None = None
) -> pd.DataFrame:
    f = raw.frame
    pick = f[cols["level"]].str.upper().eq("T") & _charter_filter(f[cols["charter"]]).eq("all")
    if extra_filter is not None:
        pick &= extra_filter
    rows = f[pick].copy()
    rows[ROW] = raw.rows()[pick]
    return rows


def _race_rows(rows: pd.DataFrame, category: str) -> pd.DataFrame:
    race = rows[category].str.upper().map(CDE_RACE_CODES)
    return rows.loc[race.notna()].assign(race_ethnicity=race[race.notna()])


def _school_years(rows: pd.DataFrame, column: str, path: Path) -> pd.Series:
    return normalise_school_year(rows[column], rows[ROW], path=path, column=column)


def _counts(rows: pd.DataFrame, column: str, path: Path) -> tuple[pd.Series, int]:
    return parse_counts(rows[column], rows[ROW], path=path, column=column)


def _check_levels(raw: RawTable, cols: dict[str, str], what: str) -> None:
    levels = set(raw.frame[cols["level"]].str.upper())
    if not levels & {"T", "C", "D", "S", "A"}:
        raise ImportError_(
            f"{raw.path} does not look like a {what}: column AggregateLevel holds none of "
            "T, C, D, S, A. Check the KIND given to `cimrca import`.",
            file=raw.path,
            column="AggregateLevel",
        )


def read_enrollment(path: Path, *, lea_ids: frozenset[str] | None = None) -> ImportedFile:
    """Read a Census Day enrollment file into ``enrollment`` and ``state_totals`` rows.

    Parameters
    ----------
    path : Path
        ``cdenrollYYYY.txt`` (any year: both ReportingCategory vocabularies are read).
    lea_ids : frozenset of str, optional
        The LEAs of ``leas.csv``; decides the charter rule (module docstring).

    Returns
    -------
    ImportedFile

    Notes
    -----
    Only race rows are used (``RE_*`` from 2023-24, ``R*`` before); ``TA``, ``SD`` (old:
    students with disabilities), ``SG_*`` (new student groups) and others are skipped.
    Filipino folds into ``AS`` (a sum with a suppressed part is missing); ``RD``/``RE_D`` is
    ``NR``. The count is ``TOTAL_ENR`` (TK-12). ``AcademicYear`` like ``2023-24`` is kept.
    """
    raw = read_delimited(path, sep="\t")
    cols = require_columns(raw, {**_ID_COLUMNS, "count": ("total_enr",)}, _ENROLLMENT_WHAT)
    _check_levels(raw, cols, _ENROLLMENT_WHAT)
    lea, notes = _lea_rows(raw, cols, lea_ids)
    tables, suppressed = {}, 0
    lea = _race_rows(lea, cols["category"])
    count, n = _counts(lea, cols["count"], raw.path)
    suppressed += n
    lea = lea.assign(school_year=_school_years(lea, cols["year"], raw.path), count=count)
    lea = fold_sum(lea, ["school_year", "lea_id", "race_ethnicity"], ["count"])
    tables["enrollment"] = finalise(lea, "enrollment", raw.path)
    state = _race_rows(_state_rows(raw, cols), cols["category"])
    if len(state):
        count, n = _counts(state, cols["count"], raw.path)
        suppressed += n
        state = state.assign(
            school_year=_school_years(state, cols["year"], raw.path),
            count=count,
            table="enrollment",
            code="",
        )
        state = fold_sum(state, ["school_year", "table", "race_ethnicity", "code"], ["count"])
        tables["state_totals"] = finalise(state, "state_totals", raw.path)
    return ImportedFile(
        "cde-enrollment", raw.path, raw.encoding, len(raw.frame), tables, suppressed, notes
    )


def read_spedps(
    path: Path, *, lea_ids: frozenset[str] | None = None, level: str = "D"
) -> ImportedFile:
    """Read a special education enrollment by program setting file.

    Parameters
    ----------
    path : Path
        ``spedpsYYYY.txt`` (2022-23 on).
    lea_ids : frozenset of str, optional
        The LEAs of ``leas.csv`` (charter rule, module docstring).
    level : {"D", "A"}
        ``D``: the reporting district (default); ``A``: the district of special-education
        accountability.

    Returns
    -------
    ImportedFile
        ``child_count`` rows with disability ``ALL`` (children with an IEP by race, all
        disabilities only: the file never crosses race with disability), ``environments``
        rows (:data:`SPEDPS_ENVIRONMENTS`) and their ``state_totals``.

    Notes
    -----
    ``PS_SSOS_N`` ("separate school and other settings") is imported as ``SEP_SCHOOL``; it
    also holds residential, homebound and correctional placements, so ``place_separate``
    from this file counts them too. Preschool (``PS_PSS_N``) and missing or unknown
    (``PS_MUK_N``) settings are outside the school-age base. spedps counts every age with
    an IEP (3-22), while Census Day enrollment is TK-12.
    """
    import pandas as pd

    raw = read_delimited(path, sep="\t")
    wanted = {**_ID_COLUMNS, "count": ("sped_enr_n",)}
    wanted.update({c: (c,) for c in SPEDPS_ENVIRONMENTS})
    cols = require_columns(raw, wanted, _SPEDPS_WHAT)
    _check_levels(raw, cols, _SPEDPS_WHAT)
    lea, notes = _lea_rows(raw, cols, lea_ids, level=level)
    state = _state_rows(raw, cols)
    suppressed = 0
    tables: dict[str, pd.DataFrame] = {}
    for scope, rows in (("lea", lea), ("state", state)):
        rows = _race_rows(rows, cols["category"])
        if scope == "state" and not len(rows):
            continue
        rows = rows.assign(school_year=_school_years(rows, cols["year"], raw.path))
        count, n = _counts(rows, cols["count"], raw.path)
        suppressed += n
        cc = rows.assign(count=count, disability=ALL_DISABILITIES)
        env_parts = []
        for column, env in SPEDPS_ENVIRONMENTS.items():
            values, n = _counts(rows, cols[column], raw.path)
            suppressed += n
            env_parts.append(rows.assign(count=values, environment=env))
        env = pd.concat(env_parts)
        if scope == "lea":
            cc = fold_sum(cc, ["school_year", "lea_id", "race_ethnicity", "disability"], ["count"])
            env = fold_sum(
                env, ["school_year", "lea_id", "race_ethnicity", "environment"], ["count"]
            )
            tables["child_count"] = finalise(cc, "child_count", raw.path)
            tables["environments"] = finalise(env, "environments", raw.path)
        else:
            cc = cc.assign(table="child_count", code=ALL_DISABILITIES)
            env = env.assign(table="environments", code=env["environment"])
            both = pd.concat([cc, env])
            both = fold_sum(both, ["school_year", "table", "race_ethnicity", "code"], ["count"])
            tables["state_totals"] = finalise(both, "state_totals", raw.path)
    notes.append(
        "spedps counts every age with an IEP (3-22) while Census Day enrollment is TK-12; "
        "identification rates from these two files mix the two age ranges"
    )
    notes.append(
        "child_count rows carry disability ALL (this file gives race or disability, never "
        "both): the six disability categories are not calculated (missing_input)"
    )
    notes.append(
        "SEP_SCHOOL is PS_SSOS_N, separate school and other settings, which also holds "
        "residential, homebound and correctional placements; preschool and missing/unknown "
        "settings are left out of the school-age environments"
    )
    if level == "A":
        notes.append("read at AggregateLevel A (district of special-education accountability)")
    return ImportedFile(
        "cde-spedps", raw.path, raw.encoding, len(raw.frame), tables, suppressed, notes
    )


def _read_indicator(
    path: Path,
    lea_ids: frozenset[str] | None,
    *,
    kind: str,
    what: str,
    indicator: str,
    numerator: tuple[str, ...],
    denominator: tuple[str, ...],
    dass: bool,
) -> ImportedFile:
    raw = read_delimited(path, sep="\t")
    wanted = {**_ID_COLUMNS, "numerator": numerator, "denominator": denominator}
    if dass:
        wanted["dass"] = ("dass",)
    cols = require_columns(raw, wanted, what)
    _check_levels(raw, cols, what)
    categories = raw.frame[cols["category"]].str.upper()
    new_vocabulary = categories.str.startswith(("RE_", "SG_")).any()
    swd = SWD_CODES["new" if new_vocabulary else "old"]
    extra = _charter_filter(raw.frame[cols["dass"]]).eq("all") if dass else None
    rows, notes = _lea_rows(raw, cols, lea_ids, extra_filter=extra)
    rows = rows[rows[cols["category"]].str.upper().eq(swd)]
    if not len(rows):
        notes.append(f"no students-with-disabilities rows ({swd}) at district or charter level")
    num, n1 = _counts(rows, cols["numerator"], raw.path)
    den, n2 = _counts(rows, cols["denominator"], raw.path)
    out = rows.assign(
        school_year=_school_years(rows, cols["year"], raw.path),
        indicator=indicator,
        numerator=num,
        denominator=den,
    )
    tables = {"indicators": finalise(out, "indicators", raw.path)}
    return ImportedFile(kind, raw.path, raw.encoding, len(raw.frame), tables, n1 + n2, notes)


def read_suspension(path: Path, *, lea_ids: frozenset[str] | None = None) -> ImportedFile:
    """Read a suspension file into ``indicators`` rows ``SUSP_SWD``.

    Notes
    -----
    Numerator: ``Unduplicated Count of Students Suspended (Total)``; denominator:
    ``CumulativeEnrollment``; rows of students with disabilities (:data:`SWD_CODES`). The
    charter rule of the module docstring applies.
    """
    return _read_indicator(
        path,
        lea_ids,
        kind="cde-suspension",
        what=_SUSPENSION_WHAT,
        indicator="SUSP_SWD",
        numerator=("unduplicatedcountofstudentssuspended(total)",),
        denominator=("cumulativeenrollment",),
        dass=False,
    )


def read_chronic(path: Path, *, lea_ids: frozenset[str] | None = None) -> ImportedFile:
    """Read a chronic absenteeism file into ``indicators`` rows ``CHRONIC_SWD``.

    Notes
    -----
    Numerator: ``ChronicAbsenteeismCount``; denominator:
    ``ChronicAbsenteeismEligibleCumulativeEnrollment``; students-with-disabilities rows;
    district rows with ``DASS`` = All (DASS is a second All/Yes/No filter). The charter rule
    of the module docstring applies.
    """
    return _read_indicator(
        path,
        lea_ids,
        kind="cde-chronic",
        what=_CHRONIC_WHAT,
        indicator="CHRONIC_SWD",
        numerator=("chronicabsenteeismcount",),
        denominator=("chronicabsenteeismeligiblecumulativeenrollment",),
        dass=True,
    )


def read_directory(path: Path) -> ImportedFile:
    """Read ``pubschls.txt`` into ``leas`` and ``schools`` rows.

    Returns
    -------
    ImportedFile
        ``leas`` with ``lea_id``, ``lea_name``, ``county``, ``lea_type``, ``status``,
        ``charter`` (``Y``/``N``), ``parent_lea_id`` (a charter's district) and
        ``funding_type``; ``schools`` (``school_code``, ``school_name``, ``lea_id``) for every
        school record: the last 7 digits of its CDS code, its name, and its LEA (a charter
        school is its own LEA, any other school belongs to its district or county office).

    Notes
    -----
    District and county office records (CDS code ending ``0000000``) become LEAs with the
    first 7 digits as ``lea_id`` and ``DOCType`` as ``lea_type``. Every charter school
    (``Charter`` = ``Y``, directly or locally funded) becomes an LEA of its own with its
    7-digit school code, ``lea_type`` "Charter school". Closed and merged entities are kept
    (with their ``status``): earlier school years need them. ``No Data`` is missing.
    """
    import pandas as pd

    raw = read_delimited(path, sep="\t")
    wanted = {
        "cds": ("cdscode",),
        "status": ("statustype",),
        "county": ("county",),
        "district": ("district",),
        "school": ("school",),
        "charter": ("charter",),
        "funding": ("fundingtype",),
        "doctype": ("doctype",),
    }
    cols = require_columns(raw, wanted, _DIRECTORY_WHAT)
    f = raw.frame.apply(lambda s: s.where(~s.str.lower().eq("no data"), ""))
    rows = raw.rows()
    cds = f[cols["cds"]]
    bad = ~cds.str.fullmatch(r"\d{14}")
    if bad.any():
        r = int(rows[bad].iloc[0])
        raise ImportError_(
            f"{raw.path}, row {r}, column 'CDSCode': expected a 14-digit CDS code, found "
            f"{cds[bad].iloc[0]!r}. Read the file as text (leading zeros matter) and check it "
            "is the unmodified download.",
            file=raw.path,
            row=r,
            column="CDSCode",
        )
    district = cds.str[COUNTY_DIGITS + DISTRICT_DIGITS :].eq(NO_SCHOOL)
    charter = ~district & f[cols["charter"]].str.upper().eq("Y")
    d = pd.DataFrame(
        {
            "lea_id": cds[district].str[: COUNTY_DIGITS + DISTRICT_DIGITS],
            "lea_name": f.loc[district, cols["district"]],
            "county": f.loc[district, cols["county"]],
            "lea_type": f.loc[district, cols["doctype"]],
            "status": f.loc[district, cols["status"]],
            "charter": "N",
            "parent_lea_id": "",
            "funding_type": "",
            ROW: rows[district],
        }
    )
    c = pd.DataFrame(
        {
            "lea_id": cds[charter].str[COUNTY_DIGITS + DISTRICT_DIGITS :],
            "lea_name": f.loc[charter, cols["school"]],
            "county": f.loc[charter, cols["county"]],
            "lea_type": "Charter school",
            "status": f.loc[charter, cols["status"]],
            "charter": "Y",
            "parent_lea_id": cds[charter].str[: COUNTY_DIGITS + DISTRICT_DIGITS],
            "funding_type": f.loc[charter, cols["funding"]],
            ROW: rows[charter],
        }
    )
    leas = pd.concat([d, c], ignore_index=True)
    notes = []
    closed = leas["status"].ne("Active") & leas["status"].ne("")
    if closed.any():
        notes.append(
            f"{int(closed.sum())} closed or merged LEA(s) kept with their status: earlier "
            "school years need them"
        )
    skipped = len(f) - len(leas)
    if skipped:
        notes.append(
            f"{skipped} school record(s) that are not charter schools are not LEAs (they are "
            "in schools.csv)"
        )
    tables = {"leas": finalise(leas, "leas", raw.path)}
    school = ~district
    if school.any():
        code = cds[school].str[COUNTY_DIGITS + DISTRICT_DIGITS :]
        schools = pd.DataFrame(
            {
                "school_code": code,
                "school_name": f.loc[school, cols["school"]],
                "lea_id": code.where(
                    charter[school], cds[school].str[: COUNTY_DIGITS + DISTRICT_DIGITS]
                ),
                ROW: rows[school],
            }
        )
        tables["schools"] = finalise(schools, "schools", raw.path)
    return ImportedFile("cde-directory", raw.path, raw.encoding, len(raw.frame), tables, 0, notes)
