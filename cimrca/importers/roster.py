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
                              are in the school-age environment count); also the grade band
                              of ``detail.csv``
``school_code``   no          7-digit CDE school code (a 14-digit CDS code: its last 7 digits)
``gender``        no          ``F``, ``M``, ``X`` (nonbinary); other or empty -> ``UNKNOWN``
``english_learner`` no        ``Y``/``N``, ``Yes``/``No``, ``1``/``0``, ``true``/``false``
``socioeconomically_disadvantaged`` no   as ``english_learner``
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

Drill-down (:func:`aggregate_detail`, drilldown.md section 1): when the roster has any of
``school_code``, ``grade``, ``gender``, ``english_learner`` or
``socioeconomically_disadvantaged``, ``detail.csv`` gets every count above split by each of
them and, for children with disabilities, by disability. Grade bands: ``PS``/``PK``/``P3``/``P4``
-> ``PK``; ``TK``, ``KN``, ``K``, ``1``-``5`` -> ``K-5``; ``6``-``8`` -> ``6-8``; ``9``-``12`` ->
``9-12``; ``UE``/``US``/``UG``/other -> ``UG``; empty -> ``UNKNOWN``. Only aggregated counts are
written: student rows never leave the import.

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

from ..codes import DISABILITIES, ENVIRONMENTS, GENDERS, NOT_REPORTED, RACES, UNKNOWN_SLICE
from ..errors import ImportError_
from .common import (
    CDE_RACE_CODES,
    ROW,
    TABLES,
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
    "DETAIL_FIELDS",
    "GRADE_BAND_CODES",
    "YES_NO_VALUES",
    "load_mapping",
    "aggregate_roster",
    "aggregate_detail",
    "grade_bands",
    "read_roster",
]

#: Canonical roster fields and their default column names.
ROSTER_FIELDS: tuple[str, ...] = (
    "school_year", "lea_id", "lea_name", "race_ethnicity", "disability", "age", "grade",
    "environment", "oss_count", "oss_days", "iss_count", "iss_days", "other_removals",
    "school_code", "gender", "english_learner", "socioeconomically_disadvantaged",
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
#: Optional roster columns that make the import write ``detail.csv`` (drilldown.md section 1).
DETAIL_FIELDS: tuple[str, ...] = (
    "school_code", "grade", "gender", "english_learner", "socioeconomically_disadvantaged",
)  # fmt: skip
#: Grade values by band (numbers 1-12 are read as numbers, so ``01`` is grade 1).
GRADE_BAND_CODES: dict[str, frozenset[str]] = {
    "PK": frozenset({"PS", "PK", "P3", "P4"}),
    "K-5": frozenset({"TK", "KN", "K", "KG"}),
}
#: Yes/no cells (upper case) and their canonical codes.
YES_NO_VALUES: dict[str, str] = {
    "Y": "Y", "YES": "Y", "1": "Y", "TRUE": "Y",
    "N": "N", "NO": "N", "0": "N", "FALSE": "N",
}  # fmt: skip
_DETAIL_KEY = TABLES["detail"][0]
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


def grade_bands(grades: pd.Series) -> pd.Series:
    """Grade bands of drilldown.md section 1 from CALPADS-like grade values.

    ``PS``/``PK``/``P3``/``P4`` -> ``PK``; ``TK``, ``KN``, ``K`` (``KG``), ``1``-``5`` -> ``K-5``;
    ``6``-``8`` -> ``6-8``; ``9``-``12`` -> ``9-12``; ``UE``/``US``/``UG`` and any other value ->
    ``UG``; empty -> ``UNKNOWN``.
    """
    import numpy as np
    import pandas as pd

    text = grades.fillna("").astype(str).str.strip().str.upper()
    number = pd.to_numeric(text.where(text.str.fullmatch(r"\d{1,2}"), None), errors="coerce")
    band = np.select(
        [
            text.eq(""),
            text.isin(GRADE_BAND_CODES["PK"]),
            text.isin(GRADE_BAND_CODES["K-5"]) | number.between(1, 5),
            number.between(6, 8),
            number.between(9, 12),
        ],
        [UNKNOWN_SLICE, "PK", "K-5", "6-8", "9-12"],
        default="UG",
    )
    return pd.Series(band, index=grades.index, dtype=object)


def _memberships(
    s: pd.DataFrame, *, days_threshold: int, kindergarten_grades: frozenset[str]
) -> pd.DataFrame:
    """Which counts each student is in: ``_i`` (position), ``table``, ``code``, ``_w``.

    The rules of :func:`aggregate_roster` (ages, settings, removals), one row per student and
    count, so that any split of the students splits every count the same way.
    """
    import numpy as np
    import pandas as pd

    i = np.arange(len(s))
    age = pd.to_numeric(s["age"]).to_numpy()
    disability = s["disability"].astype(str).to_numpy()
    cwd = (disability != "") & (age >= CHILD_COUNT_AGES[0]) & (age <= CHILD_COUNT_AGES[1])
    parts = [
        pd.DataFrame({"_i": i, "table": "enrollment", "code": "", "_w": 1.0}),
        pd.DataFrame({"_i": i[cwd], "table": "child_count", "code": disability[cwd], "_w": 1.0}),
    ]
    if "environment" in s.columns:
        grade = s["grade"].astype(str).str.upper() if "grade" in s.columns else None
        kinder = grade.isin(kindergarten_grades).to_numpy() if grade is not None else False
        school_age = ((age >= ENVIRONMENT_AGES[0]) & (age <= ENVIRONMENT_AGES[1])) | (
            (age == KINDERGARTEN_AGE) & kinder
        )
        env = s["environment"].astype(str).to_numpy()
        placed = cwd & school_age & np.isin(env, ENVIRONMENTS)
        parts.append(
            pd.DataFrame({"_i": i[placed], "table": "environments", "code": env[placed], "_w": 1.0})
        )
    if any(c in s.columns for c in _COUNT_FIELDS):
        get = {
            c: s[c].astype(float).to_numpy() if c in s.columns else np.zeros(len(s))
            for c in _COUNT_FIELDS
        }
        for prefix in ("oss", "iss"):
            removed = cwd & ((get[f"{prefix}_count"] > 0) | (get[f"{prefix}_days"] > 0))
            long_ = get[f"{prefix}_days"] > days_threshold
            for suffix, mask in (("LE10", removed & ~long_), ("GT10", removed & long_)):
                code = f"{prefix.upper()}_{suffix}"
                parts.append(
                    pd.DataFrame({"_i": i[mask], "table": "discipline", "code": code, "_w": 1.0})
                )
        tdr = get["oss_count"] + get["iss_count"] + get["other_removals"]
        some = cwd & (tdr > 0)
        parts.append(
            pd.DataFrame({"_i": i[some], "table": "discipline", "code": "TDR", "_w": tdr[some]})
        )
    return pd.concat(parts, ignore_index=True)


def aggregate_detail(
    students: pd.DataFrame,
    *,
    days_threshold: int = DAYS_THRESHOLD,
    kindergarten_grades: frozenset[str] = KINDERGARTEN_GRADES,
) -> pd.DataFrame:
    """Aggregate one-row-per-student data into ``detail.csv`` rows (drilldown.md section 1).

    Parameters
    ----------
    students : DataFrame
        As for :func:`aggregate_roster`, plus any of the dimension columns ``school``,
        ``grade_band``, ``gender``, ``english_learner``, ``socioeconomically_disadvantaged``
        holding canonical slice codes (``UNKNOWN`` for no value).
    days_threshold, kindergarten_grades
        As for :func:`aggregate_roster`.

    Returns
    -------
    DataFrame
        ``school_year``, ``lea_id``, ``race_ethnicity``, ``dimension``, ``value``, ``table``,
        ``code``, ``count`` (float) and ``_row`` (the first spreadsheet row of each count).
        Children with disabilities are also split by ``disability``. The slices of every
        dimension sum to the counts :func:`aggregate_roster` gives; no student row is kept.
    """
    import numpy as np
    import pandas as pd

    s = students
    row = s[ROW] if ROW in s.columns else pd.Series(np.arange(len(s)) + 2, index=s.index)
    given = [d for d in _DIMENSION_COLUMNS if d in s.columns]
    members = _memberships(
        s, days_threshold=days_threshold, kindergarten_grades=kindergarten_grades
    )
    values = {d: s[d].astype(str).to_numpy() for d in given}
    values["disability"] = s["disability"].astype(str).to_numpy()
    where = members["_i"].to_numpy()
    long = pd.concat(
        [
            members.assign(dimension=d, value=v[where])
            for d, v in values.items()  # at most six dimensions: a loop over columns
        ],
        ignore_index=True,
    )
    long = long[~(long["dimension"].eq("disability") & long["table"].eq("enrollment"))]
    at = long["_i"].to_numpy()
    long = long.assign(
        school_year=s["school_year"].to_numpy()[at],
        lea_id=s["lea_id"].to_numpy()[at],
        race_ethnicity=s["race_ethnicity"].to_numpy()[at],
        **{ROW: row.to_numpy()[at]},
    )
    out = long.groupby(list(_DETAIL_KEY), sort=True).agg(count=("_w", "sum"), **{ROW: (ROW, "min")})
    out["count"] = out["count"].astype(float)
    return out.reset_index()


#: Canonical dimension column of the students frame for each optional roster field.
_DIMENSION_COLUMNS: dict[str, str] = {
    "school": "school_code",
    "grade_band": "grade",
    "gender": "gender",
    "english_learner": "english_learner",
    "socioeconomically_disadvantaged": "socioeconomically_disadvantaged",
}


def _dimensions(
    s: pd.DataFrame,
    raw: pd.DataFrame,
    where: dict[str, str],
    rows: pd.Series,
    *,
    path: Path,
    original: dict[str, str],
) -> pd.DataFrame:
    """Canonical slice codes of the roster's optional dimension columns (module docstring)."""
    import pandas as pd

    out = pd.DataFrame(index=s.index)
    if "school_code" in s.columns:
        code = s["school_code"].fillna("").astype(str).str.strip()
        code = code.where(~code.str.fullmatch(r"\d{14}"), code.str[-7:])
        code = code.where(~code.str.fullmatch(r"\d{1,7}"), code.str.zfill(7))
        ok = code.str.fullmatch(r"\d{7}") | code.eq("")
        _bad_values(
            raw[where["school_code"]], ok, rows, path=path, column=original["school_code"],
            field="school_code", expected="7-digit CDE school codes (or 14-digit CDS codes)",
        )  # fmt: skip
        out["school"] = code.where(code.ne(""), UNKNOWN_SLICE)
    if "grade" in s.columns:
        out["grade_band"] = grade_bands(s["grade"])
    if "gender" in s.columns:
        gender = s["gender"].fillna("").astype(str).str.strip().str.upper()
        out["gender"] = gender.where(gender.isin(GENDERS), UNKNOWN_SLICE)
    for field in ("english_learner", "socioeconomically_disadvantaged"):
        if field not in s.columns:
            continue
        text = s[field].fillna("").astype(str).str.strip().str.upper()
        yes_no = text.map(YES_NO_VALUES)
        _bad_values(
            raw[where[field]], yes_no.notna() | text.eq(""), rows, path=path,
            column=original[field], field=field,
            expected="Y/N, Yes/No, 1/0 or true/false (empty: not known)",
        )  # fmt: skip
        out[field] = yes_no.fillna(UNKNOWN_SLICE)
    return out


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
    if any(field in where for field in DETAIL_FIELDS):
        dims = _dimensions(s, f, where, rows, path=path, original=original)
        students = s.drop(columns=[c for c in DETAIL_FIELDS if c != "grade" and c in s.columns])
        detail = aggregate_detail(pd.concat([students, dims], axis=1))
        tables["detail"] = finalise(detail, "detail", path)
        notes.append(
            f"detail.csv: counts by {', '.join([*dims.columns, 'disability'])} "
            "(drill-down below the LEA); no student row is written"
        )
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
