"""Importer for a student-level roster: one row per student, aggregated into canonical tables.

A roster is a CSV (comma- or tab-separated, by its header line) with one row per student
enrolled in an LEA in a school year. Default column names (each can be renamed with a YAML
mapping, ``cimrca import roster FILE --out DIR --mapping map.yaml``):

================  ==========  ==============================================================
column            required    meaning
================  ==========  ==============================================================
``school_year``   yes         ``YYYY-YY`` (``YYYY-YYYY`` accepted)
``lea_id``        yes         CDE 7-digit LEA code (shorter all-digit codes are zero-padded)
``lea_name``      no          written to ``leas.csv`` when given
``race_ethnicity`` yes        ``HI AM AS BL PI WH MU`` or CDE codes (``RE_H``/``RH`` ...;
                              Filipino -> ``AS``); empty -> ``NR``
``disability``    yes         one of the 13 federal codes (``AUT`` ... ``VI``); empty or
                              ``NONE`` = no disability
``age``           yes         whole years on the count date
``grade``         no          ``KN``/``K`` marks kindergarten (5-year-olds in kindergarten
                              are in the school-age environment count)
``environment``   no          ``RC80 RC40_79 RC_LT40 SEP_SCHOOL RESIDENTIAL
                              HOMEBOUND_HOSPITAL CORRECTIONAL PRIVATE_PARENT``; other values
                              (e.g. a preschool setting) and empty are left out
``oss_count``     no          out-of-school suspensions and expulsions (removals) this year
``oss_days``      no          cumulative days of out-of-school suspension and expulsion
``iss_count``     no          in-school suspensions (removals)
``iss_days``      no          cumulative days of in-school suspension
``other_removals`` no         other removals (to an interim alternative setting)
================  ==========  ==============================================================

Aggregation (:func:`aggregate_roster`): ``enrollment`` counts every student; ``child_count``
students with a disability aged 3-21 by disability; ``environments`` students with a disability
aged 6-21, or 5 in kindergarten, by setting; ``discipline`` children with a disability aged
3-21 with out-of-school (``OSS_*``) or in-school (``ISS_*``) removals, split at 10 cumulative
days (``LE10``/``GT10``), and ``TDR`` the number of removals
(``oss_count + iss_count + other_removals``).

The mapping file::

    columns:                       # canonical field: the roster's column
      lea_id: District_Code
      race_ethnicity: Race
      disability: Primary_Disability
    school_year: "2023-24"         # a field given a school year, not a column: a constant
    values:                        # code maps applied before validation
      race_ethnicity: {"500": HI, "100": AM, "200": AS, "400": AS, "300": PI,
                       "600": BL, "700": WH}
      disability: {"320": AUT, "290": SLD, "240": SLI}

Field names may also sit at the top level (``lea_id: District_Code``). A value map for
California's Established Medical Disability (CALPADS 281) is a State decision and must be
given explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..codes import DISABILITIES, ENVIRONMENTS, NOT_REPORTED, RACES
from ..errors import ImportError_
from .common import (
    CDE_RACE_CODES,
    ROW,
    ImportedFile,
    finalise,
    normalise_school_year,
    parse_counts,
    read_delimited,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ROSTER_FIELDS",
    "REQUIRED_FIELDS",
    "KINDERGARTEN_GRADES",
    "DAYS_THRESHOLD",
    "CHILD_COUNT_AGES",
    "ENVIRONMENT_AGES",
    "KINDERGARTEN_AGE",
    "load_mapping",
    "aggregate_roster",
    "read_roster",
]

#: Canonical roster fields and their default column names.
ROSTER_FIELDS: tuple[str, ...] = (
    "school_year", "lea_id", "lea_name", "race_ethnicity", "disability", "age", "grade",
    "environment", "oss_count", "oss_days", "iss_count", "iss_days", "other_removals",
)  # fmt: skip
REQUIRED_FIELDS: tuple[str, ...] = ("school_year", "lea_id", "race_ethnicity", "disability", "age")
_COUNT_FIELDS = ("oss_count", "oss_days", "iss_count", "iss_days", "other_removals")
#: Grade values that mean kindergarten.
KINDERGARTEN_GRADES: frozenset[str] = frozenset({"KN", "K", "KG"})
#: Discipline splits children at this many cumulative days (10 or fewer / more than 10;
#: EDFacts FS088, 34 CFR 300.647(b)(4)).
DAYS_THRESHOLD = 10
#: The child count covers ages 3 through 21 (IDEA Part B, data.md section 1).
CHILD_COUNT_AGES: tuple[int, int] = (3, 21)
#: School-age educational environments cover ages 6 through 21 ...
ENVIRONMENT_AGES: tuple[int, int] = (6, 21)
#: ... and 5-year-olds in kindergarten.
KINDERGARTEN_AGE = 5
#: Disability cells that mean "no disability".
NO_DISABILITY: frozenset[str] = frozenset({"", "NONE", "NO", "N"})
_RACE_VALUES: dict[str, str] = {
    **{r: r for r in (*RACES, NOT_REPORTED)},
    **CDE_RACE_CODES,
    "": NOT_REPORTED,
}


def load_mapping(
    path: Path | None,
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, str]]]:
    """Read a roster mapping YAML.

    Returns
    -------
    (columns, constants, values)
        ``columns``: field -> roster column; ``constants``: field -> fixed value (a school
        year); ``values``: field -> {roster value: canonical code}.
    """
    import yaml

    if path is None:
        return {}, {}, {}
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ImportError_(f"{path}: cannot read the roster mapping ({exc}).", file=path) from exc
    if not isinstance(data, dict):
        raise ImportError_(f"{path}: the roster mapping must be a YAML mapping.", file=path)
    data = dict(data)
    values = data.pop("values", {}) or {}
    columns = dict(data.pop("columns", {}) or {})
    unknown = [k for k in data if k not in ROSTER_FIELDS]
    unknown += [k for k in columns if k not in ROSTER_FIELDS]
    unknown += [k for k in values if k not in ROSTER_FIELDS]
    if unknown:
        raise ImportError_(
            f"{path}: unknown roster field(s) {', '.join(map(str, unknown))}; expected some of "
            f"{', '.join(ROSTER_FIELDS)} (and 'columns', 'values').",
            file=path,
        )
    columns.update(data)
    constants: dict[str, str] = {}
    for field in list(columns):
        if field == "school_year" and str(columns[field])[:4].isdigit():
            constants[field] = str(columns.pop(field))
    cols = {k: str(v) for k, v in columns.items()}
    vals = {k: {str(a): str(b) for a, b in (m or {}).items()} for k, m in values.items()}
    return cols, constants, vals


def aggregate_roster(
    students: pd.DataFrame,
    *,
    days_threshold: int = DAYS_THRESHOLD,
    kindergarten_grades: frozenset[str] = KINDERGARTEN_GRADES,
) -> dict[str, pd.DataFrame]:
    """Aggregate one-row-per-student data into canonical count tables.

    Parameters
    ----------
    students : DataFrame
        Canonical roster fields (:data:`ROSTER_FIELDS`): codes already canonical,
        ``disability`` empty for students without one, ``age`` and removal columns numeric.
        Optional ``_row`` (spreadsheet row) is carried as the first row of each group.
    days_threshold : int
        Children with at most this many cumulative days are ``*_LE10``, more ``*_GT10``.
    kindergarten_grades : frozenset of str
        Grade values meaning kindergarten.

    Returns
    -------
    dict of DataFrame
        ``enrollment``, ``child_count``, ``environments`` (when an ``environment`` column is
        given), ``discipline`` (when any removal column is given); float ``count`` columns.
        Absent combinations are absent rows (zero).

    Notes
    -----
    Child count ages 3-21; environments ages 6-21 or 5 in kindergarten (34 CFR 300.647(b)(3)
    placement categories); discipline children with disabilities ages 3-21 by removal type,
    ``TDR`` the total number of removals. The input is not modified.
    """
    import numpy as np
    import pandas as pd

    s = students
    row = s[ROW] if ROW in s.columns else pd.Series(np.arange(len(s)) + 2, index=s.index)
    s = s.assign(**{ROW: row})
    tables: dict[str, pd.DataFrame] = {}
    base = ["school_year", "lea_id", "race_ethnicity"]

    def count(frame: pd.DataFrame, keys: list[str], weight: str | None = None) -> pd.DataFrame:
        g = frame.groupby(keys, sort=True)
        out = g.agg(count=(weight, "sum") if weight else (ROW, "size"), **{ROW: (ROW, "min")})
        out["count"] = out["count"].astype(float)
        return out.reset_index()

    tables["enrollment"] = count(s, base)
    age = pd.to_numeric(s["age"])
    cwd = s["disability"].astype(str).ne("") & age.between(*CHILD_COUNT_AGES)
    tables["child_count"] = count(s[cwd], [*base, "disability"])
    if "environment" in s.columns:
        grade = (
            s["grade"].astype(str).str.upper()
            if "grade" in s.columns
            else pd.Series("", index=s.index)
        )
        school_age = age.between(*ENVIRONMENT_AGES) | (
            age.eq(KINDERGARTEN_AGE) & grade.isin(kindergarten_grades)
        )
        placed = cwd & school_age & s["environment"].isin(ENVIRONMENTS)
        tables["environments"] = count(s[placed], [*base, "environment"])
    present = [c for c in _COUNT_FIELDS if c in s.columns]
    if present:
        r = s.loc[cwd, [*base, ROW]].copy()
        zero = pd.Series(0.0, index=r.index)
        get = {c: s.loc[cwd, c].astype(float) if c in s.columns else zero for c in _COUNT_FIELDS}
        parts = []
        for prefix in ("oss", "iss"):
            removed = (get[f"{prefix}_count"] > 0) | (get[f"{prefix}_days"] > 0)
            long_ = get[f"{prefix}_days"] > days_threshold
            for suffix, mask in (("LE10", removed & ~long_), ("GT10", removed & long_)):
                part = r[mask].assign(removal_type=f"{prefix.upper()}_{suffix}", _w=1.0)
                parts.append(part)
        tdr = get["oss_count"] + get["iss_count"] + get["other_removals"]
        parts.append(r[tdr > 0].assign(removal_type="TDR", _w=tdr[tdr > 0]))
        long_frame = pd.concat(parts)
        tables["discipline"] = count(long_frame, [*base, "removal_type"], weight="_w")
    return tables


def _apply_values(values: pd.Series, field: str, maps: dict[str, dict[str, str]]) -> pd.Series:
    table = maps.get(field)
    return values.replace(table) if table else values


def _bad_values(
    raw_values: pd.Series,
    ok: pd.Series,
    rows: pd.Series,
    *,
    path: Path,
    column: str,
    field: str,
    expected: str,
) -> None:
    if ok.all():
        return
    bad = sorted(set(raw_values[~ok]))[:10]
    r = int(rows[~ok].iloc[0])
    raise ImportError_(
        f"{path}, row {r}, column {column!r}: {int((~ok).sum())} value(s) are not {expected}: "
        f"{', '.join(map(repr, bad))}. Map them under 'values: {field}:' in a --mapping YAML "
        "(see `cimrca import --help` and the roster module's documentation).",
        file=path,
        row=r,
        column=column,
    )


def read_roster(path: Path, *, mapping: Path | None = None) -> ImportedFile:
    """Read a roster file and aggregate it into canonical tables (module docstring).

    Parameters
    ----------
    path : Path
        CSV or tab-separated roster.
    mapping : Path, optional
        YAML mapping of column names, constants and code values.

    Returns
    -------
    ImportedFile
        ``enrollment``, ``child_count``, and ``environments``/``discipline`` when the roster
        has those columns; ``leas`` when it has ``lea_name``.
    """
    import pandas as pd

    columns, constants, values = load_mapping(mapping)
    path = Path(path)
    try:
        first = path.read_bytes().split(b"\n", 1)[0]
    except OSError as exc:
        raise ImportError_(f"{path}: cannot read the file ({exc.strerror}).", file=path) from exc
    raw = read_delimited(path, sep="\t" if b"\t" in first else ",")
    f, rows = raw.frame, raw.rows()
    from .common import normalise_header

    where: dict[str, str] = {}
    for field in ROSTER_FIELDS:
        if field in constants:
            continue
        name = normalise_header(columns.get(field, field))
        if name in f.columns:
            where[field] = name
        elif field in columns:
            raise ImportError_(
                f"{path}: the mapping names column {columns[field]!r} for {field}, but the "
                "roster has no such column. Fix the mapping or the file.",
                file=path,
                column=columns[field],
            )
    missing = [c for c in REQUIRED_FIELDS if c not in where and c not in constants]
    if missing:
        head = ", ".join(raw.original_headers[:8]) or "(no header)"
        raise ImportError_(
            f"{path} does not look like a student roster: column(s) {', '.join(missing)} not "
            f"found; its header begins {head}. Name them in a --mapping YAML "
            "(e.g. `lea_id: District_Code`) or check the KIND given.",
            file=path,
            column=missing[0],
        )
    s = pd.DataFrame(index=f.index)
    for field, column in where.items():
        s[field] = _apply_values(f[column], field, values)
    for field, value in constants.items():
        s[field] = value
    original = {k: columns.get(k, k) for k in ROSTER_FIELDS}
    s["school_year"] = normalise_school_year(
        s["school_year"], rows, path=path, column=original["school_year"]
    )
    lea = s["lea_id"].astype(str)
    s["lea_id"] = lea.where(~lea.str.fullmatch(r"\d{1,6}"), lea.str.zfill(7))
    race = s["race_ethnicity"].str.upper().map(_RACE_VALUES)
    _bad_values(
        f[where["race_ethnicity"]], race.notna(), rows, path=path,
        column=original["race_ethnicity"], field="race_ethnicity",
        expected=f"race codes ({', '.join(RACES)}, CDE codes, empty for not reported)",
    )  # fmt: skip
    s["race_ethnicity"] = race
    dis = s["disability"].str.upper()
    dis = dis.where(~dis.isin(NO_DISABILITY), "")
    _bad_values(
        f[where["disability"]], dis.isin({*DISABILITIES, ""}), rows, path=path,
        column=original["disability"], field="disability",
        expected="one of the 13 federal disability codes or empty",
    )  # fmt: skip
    s["disability"] = dis
    age, _ = parse_counts(s["age"], rows, path=path, column=original["age"])
    _bad_values(
        f[where["age"]], age.notna(), rows, path=path, column=original["age"], field="age",
        expected="whole numbers of years",
    )  # fmt: skip
    s["age"] = age
    notes: list[str] = []
    if "environment" in s.columns:
        env = s["environment"].str.upper()
        s["environment"] = env
        other = s["disability"].ne("") & age.ge(ENVIRONMENT_AGES[0]) & ~env.isin(ENVIRONMENTS)
        if other.any():
            notes.append(
                f"{int(other.sum())} school-age student(s) with a disability have no school-age "
                "environment code (empty or another setting) and are not in environments.csv"
            )
    for field in _COUNT_FIELDS:
        if field in s.columns:
            values_, _ = parse_counts(s[field], rows, path=path, column=original[field])
            s[field] = values_.fillna(0.0)
    outside = s["disability"].ne("") & ~age.between(*CHILD_COUNT_AGES)
    if outside.any():
        notes.append(
            f"{int(outside.sum())} student(s) with a disability outside ages 3-21 are left out of "
            "child_count, environments and discipline"
        )
    s[ROW] = rows
    tables = {name: finalise(frame, name, path) for name, frame in aggregate_roster(s).items()}
    if "lea_name" in s.columns:
        leas = (
            s[s["lea_name"].ne("")]
            .groupby("lea_id", sort=True)
            .agg(lea_name=("lea_name", "first"), **{ROW: (ROW, "min")})
            .reset_index()
        )
        tables["leas"] = finalise(leas, "leas", path)
    else:
        notes.append(
            f"{s['lea_id'].nunique()} LEA(s) in the roster; leas.csv must list them "
            "(add a lea_name column or import cde-directory)"
        )
    return ImportedFile("roster", raw.path, raw.encoding, len(f), tables, 0, notes)
