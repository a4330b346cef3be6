"""Loading and validating a canonical data set (data.md section 1).

A data set is a folder of CSV files. :func:`load_dataset` reads every table with string code
columns, checks every rule of data.md section 1, and either returns a frozen :class:`Dataset` or
raises :class:`~cimrca.errors.DataValidationError` listing every problem of every file (file,
row as a spreadsheet numbers it, column, value, what to do). Files are only read, never modified,
and no row is ever dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .codes import (
    ALL_DISABILITIES,
    ALL_RACE_CODES,
    DIMENSIONS,
    DISABILITIES,
    ENVIRONMENTS,
    GENDERS,
    GRADE_BANDS,
    REMOVAL_TYPES,
    STATE_TABLES,
    UNKNOWN_SLICE,
    YES_NO,
)
from .errors import DataValidationError, Problem
from .values import as_bool, is_school_year

__all__ = ["Dataset", "TABLES", "MAX_COUNT_PER_ROW", "load_dataset", "dataset_from_frames"]


@dataclass(frozen=True)
class TableSpec:
    """What one canonical CSV holds: its key columns, count columns and code vocabularies."""

    file: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    counts: tuple[str, ...] = ("count",)
    required: bool = True
    codes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    optional_columns: tuple[str, ...] = ()


#: The canonical tables, by name (data.md section 1).
TABLES: dict[str, TableSpec] = {
    "leas": TableSpec(
        "leas.csv",
        ("lea_id", "lea_name"),
        key=("lea_id",),
        counts=(),
        optional_columns=("county", "selpa", "lea_type"),
    ),
    "enrollment": TableSpec(
        "enrollment.csv",
        ("school_year", "lea_id", "race_ethnicity", "count"),
        key=("school_year", "lea_id", "race_ethnicity"),
        codes={"race_ethnicity": ALL_RACE_CODES},
    ),
    "child_count": TableSpec(
        "child_count.csv",
        ("school_year", "lea_id", "race_ethnicity", "disability", "count"),
        key=("school_year", "lea_id", "race_ethnicity", "disability"),
        codes={"race_ethnicity": ALL_RACE_CODES, "disability": DISABILITIES + (ALL_DISABILITIES,)},
    ),
    "environments": TableSpec(
        "environments.csv",
        ("school_year", "lea_id", "race_ethnicity", "environment", "count"),
        key=("school_year", "lea_id", "race_ethnicity", "environment"),
        required=False,
        codes={"race_ethnicity": ALL_RACE_CODES, "environment": ENVIRONMENTS},
    ),
    "discipline": TableSpec(
        "discipline.csv",
        ("school_year", "lea_id", "race_ethnicity", "removal_type", "count"),
        key=("school_year", "lea_id", "race_ethnicity", "removal_type"),
        required=False,
        codes={"race_ethnicity": ALL_RACE_CODES, "removal_type": REMOVAL_TYPES},
    ),
    "indicators": TableSpec(
        "indicators.csv",
        ("school_year", "lea_id", "indicator", "numerator", "denominator"),
        key=("school_year", "lea_id", "indicator"),
        counts=("numerator", "denominator"),
        required=False,
    ),
    "targets": TableSpec(
        "targets.csv",
        ("school_year", "indicator", "target", "higher_is_better"),
        key=("school_year", "indicator"),
        counts=(),
        required=False,
        optional_columns=("label",),
    ),
    "state_totals": TableSpec(
        "state_totals.csv",
        ("school_year", "table", "race_ethnicity", "code", "count"),
        key=("school_year", "table", "race_ethnicity", "code"),
        required=False,
        codes={"race_ethnicity": ALL_RACE_CODES, "table": tuple(STATE_TABLES)},
    ),
    "detail": TableSpec(
        "detail.csv",
        ("school_year", "lea_id", "race_ethnicity", "dimension", "value", "table", "code", "count"),
        key=("school_year", "lea_id", "race_ethnicity", "dimension", "value", "table", "code"),
        required=False,
        codes={
            "race_ethnicity": ALL_RACE_CODES,
            "dimension": DIMENSIONS,
            "table": tuple(STATE_TABLES),
        },
    ),  # fmt: skip
    "schools": TableSpec(
        "schools.csv",
        ("school_code", "school_name", "lea_id"),
        key=("school_code",),
        counts=(),
        required=False,
    ),
}
COUNT_TABLES = ("enrollment", "child_count", "environments", "discipline")
#: The largest count one row may hold. California enrols about 5.9 million children in all, so
#: no LEA, race or State total row can reach 10 million; a larger value is a typing or export
#: error (a count of 99999999999999999999 would otherwise give ratios near 1e305).
MAX_COUNT_PER_ROW = 10_000_000
_LEA_ID = re.compile(r"^\d{7}$")


@dataclass(frozen=True)
class Dataset:
    """A validated canonical data set.

    Code columns are strings; count columns are float64 with NaN for a missing (suppressed or
    empty) count, so that missing and zero stay distinct. ``environments``, ``discipline``,
    ``state_totals``, ``indicators`` and ``targets`` are ``None`` when their files are absent
    (public CDE files give no discipline by race for students with disabilities): the categories
    an absent table feeds are not calculated, reason ``missing_input``. ``detail`` (counts below
    the LEA) and ``schools`` (school names) are ``None`` without ``detail.csv`` and
    ``schools.csv``: there is then no drill-down (drilldown.md section 1).
    """

    path: Path | None
    leas: pd.DataFrame
    enrollment: pd.DataFrame
    child_count: pd.DataFrame
    environments: pd.DataFrame | None
    discipline: pd.DataFrame | None
    indicators: pd.DataFrame | None = None
    targets: pd.DataFrame | None = None
    state_totals: pd.DataFrame | None = None
    detail: pd.DataFrame | None = None
    schools: pd.DataFrame | None = None
    name: str = ""
    is_synthetic: bool = False
    description: str = ""
    notes: tuple[str, ...] = ()

    @property
    def school_years(self) -> tuple[str, ...]:
        """Every school year present in a count table, sorted."""
        years = set()
        for table in COUNT_TABLES:
            frame = getattr(self, table)
            if frame is not None:
                years.update(frame["school_year"].unique())
        return tuple(sorted(years))

    def table(self, name: str) -> pd.DataFrame | None:
        return getattr(self, name)

    def lea_name(self, lea_id: str) -> str:
        match = self.leas.loc[self.leas["lea_id"] == lea_id, "lea_name"]
        return str(match.iloc[0]) if len(match) else lea_id

    def describe(self) -> str:
        """A short human summary: what was loaded."""
        years = self.school_years
        span = f"{years[0]} to {years[-1]}" if years else "no school years"
        lines = [
            f"{self.name or self.path}: valid. {len(self.leas):,} LEAs, {len(years)} school "
            f"year(s) ({span}){' - SYNTHETIC DATA' if self.is_synthetic else ''}.",
        ]
        for table in TABLES:
            frame = getattr(self, table)
            if frame is not None:
                missing = sum(int(frame[c].isna().sum()) for c in TABLES[table].counts)
                extra = f", {missing:,} missing counts" if missing else ""
                lines.append(f"  {TABLES[table].file}: {len(frame):,} rows{extra}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def load_dataset(data_dir: str | Path) -> Dataset:
    """Read and validate the canonical data set in ``data_dir``.

    Parameters
    ----------
    data_dir
        Folder holding ``leas.csv``, ``enrollment.csv``, ``child_count.csv``,
        ``environments.csv``, ``discipline.csv`` and optionally ``indicators.csv``,
        ``targets.csv``, ``state_totals.csv`` and ``dataset.yaml`` (``name``, ``synthetic``).

    Returns
    -------
    Dataset

    Raises
    ------
    DataValidationError
        With every problem of every file (missing file or column, unknown code, negative or
        non-integer count, duplicate key, unknown LEA, outcome larger than its base, malformed
        school year, ``ALL`` mixed with disability rows).

    Examples
    --------
    >>> ds = load_dataset("data/sample")
    >>> ds.is_synthetic, len(ds.school_years)
    (True, 5)
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DataValidationError(
            [
                Problem(
                    str(folder), None, None, None, "data folder not found",
                    "Give the folder that holds leas.csv, enrollment.csv and the other tables.",
                )
            ]
        )  # fmt: skip
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame | None] = {}
    for name, spec in TABLES.items():
        path = folder / spec.file
        if not path.is_file():
            if spec.required:
                problems.append(
                    Problem(
                        str(path), None, None, None, "required file is missing",
                        f"Add {spec.file} with columns {', '.join(spec.columns)}.",
                    )
                )  # fmt: skip
            frames[name] = None
            continue
        frames[name] = _read_csv(path, spec, problems)
    meta = _read_meta(folder, problems)
    # Keep validating after a bad cell, so that every problem of every file is reported at once.
    return _validated(frames, path=folder, meta=meta, file_prefix=str(folder), problems=problems)


def dataset_from_frames(
    tables: Mapping[str, pd.DataFrame], *, name: str = "in-memory", is_synthetic: bool = False
) -> Dataset:
    """Validate in-memory tables (keyed like :data:`TABLES`) exactly as :func:`load_dataset` does.

    Code columns are converted to strings and counts to float; the frames given are not modified.
    """
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame | None] = {}
    for table, spec in TABLES.items():
        frame = tables.get(table)
        if frame is None:
            if spec.required:
                problems.append(
                    Problem(spec.file, None, None, None, "required table is missing",
                            f"Provide {table} with columns {', '.join(spec.columns)}.")
                )  # fmt: skip
            frames[table] = None
            continue
        text = frame.astype(object).where(frame.notna(), "").astype(str)
        frames[table] = _typed(text, spec, spec.file, problems)
    meta = {"name": name, "synthetic": is_synthetic}
    return _validated(frames, path=None, meta=meta, file_prefix="", problems=problems)


# --- reading ----------------------------------------------------------------------------------


def _read_meta(folder: Path, problems: list[Problem]) -> dict:
    path = folder / "dataset.yaml"
    if not path.is_file():
        return {"name": folder.name}
    import yaml

    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        problems.append(Problem(str(path), None, None, None, f"not valid YAML ({exc})",
                                "Fix the file or remove it."))  # fmt: skip
        return {}
    if not isinstance(meta, dict):
        problems.append(Problem(str(path), None, None, None, "must be a mapping",
                                "Use keys name, synthetic, description, source."))  # fmt: skip
        return {}
    meta.setdefault("name", folder.name)
    return meta


def _read_csv(path: Path, spec: TableSpec, problems: list[Problem]) -> pd.DataFrame | None:
    """Read one CSV: codes as text (leading zeros kept), counts as numbers (empty = missing).

    Counts are parsed as numbers directly when every cell is numeric or empty (the fast path);
    otherwise, or when a count is refused, the file is read as text so that every bad cell is
    reported as written. Counts are read as Arrow doubles so that an empty cell (null) and the
    text ``nan`` (NaN) stay distinct.
    """
    fast_types = dict.fromkeys(spec.counts, "double[pyarrow]")
    for types in (fast_types, {}):
        try:
            raw = pd.read_csv(
                path, dtype=lambda_types(types), keep_default_na=False, na_values=[""],
                engine="pyarrow",
            )  # fmt: skip
        except Exception:  # a non-numeric count, or a layout pyarrow cannot parse
            continue
        found: list[Problem] = []
        frame = _typed(_stripped_header(raw), spec, str(path), found)
        if found and types:  # read again as text, so each refused count shows as written
            continue
        problems.extend(found)
        return frame
    ragged = _ragged_rows(path)
    if ragged:
        problems.extend(ragged)
        return None
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except Exception as exc:
        problems.append(
            Problem(str(path), None, None, None, f"cannot be read as CSV ({exc})",
                    "Save it as UTF-8 comma-separated text with a header row.")
        )  # fmt: skip
        return None
    return _typed(_stripped_header(raw), spec, str(path), problems)


def _stripped_header(raw: pd.DataFrame) -> pd.DataFrame:
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    return raw


def _ragged_rows(path: Path) -> list[Problem]:
    """A problem for each row whose number of fields differs from the header's.

    Without this, a first data row with one extra field makes pandas take the first column as
    an index, which shifts every column and reports every row's codes as unknown.
    """
    import csv

    problems: list[Problem] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = csv.reader(f)
            header = next(rows, [])
            for number, row in enumerate(rows, start=2):
                if row and len(row) != len(header):
                    problems.append(
                        Problem(str(path), number, None, None,
                                f"the row has {len(row)} fields but the header has {len(header)}",
                                "Remove the extra field, or quote a value that holds a comma.")
                    )  # fmt: skip
    except (OSError, UnicodeDecodeError, csv.Error):
        return []  # reported by the reader that follows
    return problems


def lambda_types(count_types: dict[str, str]):
    """A ``dtype`` mapping for ``read_csv``: text for every column but the given counts."""
    from collections import defaultdict

    return defaultdict(lambda: str, count_types)


def _typed(raw: pd.DataFrame, spec: TableSpec, file: str, problems: list[Problem]):
    """Check columns and convert counts to float (NaN = missing); codes stay strings."""
    missing = [c for c in spec.columns if c not in raw.columns]
    if missing:
        for column in missing:
            problems.append(
                Problem(file, 1, column, None, "required column is missing",
                        f"The header must include {', '.join(spec.columns)}.")
            )  # fmt: skip
        return None
    frame = raw.copy()
    for column in frame.columns:
        if column in spec.counts:
            frame[column] = _to_count(frame[column], file, column, problems)
        else:
            frame[column] = _text(frame[column])
    return frame


def _text(values: pd.Series) -> pd.Series:
    """Codes and names as stripped text; empty cells become empty strings."""
    values = values.fillna("").astype(str)
    uniques = pd.Series(values.unique())
    if (uniques != uniques.str.strip()).any():
        values = values.str.strip()
    return values


def _to_count(values: pd.Series, file: str, column: str, problems: list[Problem]) -> pd.Series:
    """Non-negative integer counts as float64; an empty cell is missing (NaN).

    Refused: text that is not a number (``nan`` included), non-finite numbers (``inf``), negative
    or fractional counts, and counts above :data:`MAX_COUNT_PER_ROW`.
    """
    if pd.api.types.is_numeric_dtype(values):
        numbers = pd.Series(
            values.to_numpy(dtype=float, na_value=np.nan), index=values.index, dtype=float
        )
        text = None
        if isinstance(values.dtype, pd.ArrowDtype):  # null = empty cell, NaN = the text "nan"
            import pyarrow as pa

            written = ~pa.array(values.array).is_null().to_numpy(zero_copy_only=False)
            _report(problems, written & np.isnan(numbers.to_numpy()), file, column,
                    numbers.map("{:g}".format), "count is not a number",
                    "Use a whole number, or leave the cell empty if the count is missing.")  # fmt: skip
    else:
        text = values.fillna("").astype(str).str.strip()
        numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
        bad_number = numbers.isna() & (text != "")
        _report(problems, bad_number, file, column, text, "count is not a number",
                "Use a whole number, or leave the cell empty if the count is missing.")  # fmt: skip
    infinite = np.isinf(numbers)
    negative = (numbers < 0) & ~infinite
    fractional = numbers.notna() & ~infinite & (np.floor(numbers) != numbers)
    too_large = (numbers > MAX_COUNT_PER_ROW) & ~infinite
    if (infinite | negative | fractional | too_large).any():
        shown = text if text is not None else numbers.map("{:.15g}".format)
        _report(problems, infinite, file, column, shown, "count is not a finite number",
                "Use a whole number, or leave the cell empty if the count is missing.")  # fmt: skip
        _report(problems, negative, file, column, shown, "count is negative",
                "Counts are zero or more.")  # fmt: skip
        _report(problems, fractional, file, column, shown, "count is not a whole number",
                "Counts are whole numbers of children.")  # fmt: skip
        _report(problems, too_large, file, column, shown,
                f"count is larger than {MAX_COUNT_PER_ROW:,}, more than a State could have in "
                "one row", "Correct the count (a typing or export error).")  # fmt: skip
    return numbers


def _report(problems, mask, file, column, values, what, fix) -> None:
    for i in np.flatnonzero(np.asarray(mask)):
        problems.append(Problem(file, int(i) + 2, column, str(values.iloc[i]), what, fix))


# --- validation -------------------------------------------------------------------------------


def positions(values: pd.Series, vocabulary) -> np.ndarray:
    """Position of each value in ``vocabulary`` (-1 when absent), computed in Arrow (fast)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.index_in(
        pa.array(values, pa.string()), value_set=pa.array(list(vocabulary), pa.string())
    )
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _validated(
    frames: dict, *, path: Path | None, meta: dict, file_prefix: str, problems: list[Problem]
) -> Dataset:

    def fname(table: str) -> str:
        file = TABLES[table].file
        return str(Path(file_prefix) / file) if file_prefix else file

    leas = frames["leas"]
    if leas is not None and leas.empty:
        problems.append(
            Problem(fname("leas"), None, None, None, "no LEA rows, only a header",
                    "List every LEA of the data set, one per row (lea_id, lea_name).")
        )  # fmt: skip
        leas = frames["leas"] = None  # nothing to check LEA codes against
    if leas is not None:
        _check_leas(leas, fname("leas"), problems)
    lea_ids = pd.unique(leas["lea_id"]) if leas is not None else None
    years = sorted(
        set().union(
            *(
                frames[t]["school_year"].unique()
                for t in TABLES
                if frames[t] is not None and "school_year" in frames[t]
            )
        )
    )
    vocabularies = {"school_year": years, "lea_id": lea_ids}
    coded: dict[str, dict[str, np.ndarray]] = {}
    for table, frame in frames.items():
        if frame is None or table in ("leas", "schools"):
            continue
        spec = TABLES[table]
        file = fname(table)
        codes = {}
        for column in spec.key:
            vocabulary = spec.codes.get(column)
            if vocabulary is None:
                vocabulary = vocabularies.get(column)
            if vocabulary is None:  # open vocabularies (indicator codes): their own uniques
                vocabulary = pd.unique(frame[column])
            codes[column] = positions(frame[column], vocabulary)
            if column in spec.codes:
                _report(problems, codes[column] < 0, file, column, frame[column],
                        f"unknown {column} code", f"Use one of {', '.join(spec.codes[column])}.")  # fmt: skip
            if column in ("lea_id", "indicator"):
                empty = frame[column] == ""
                _report(problems, empty, file, column, frame[column], f"{column} is empty",
                        f"Every row needs a {column}.")  # fmt: skip
        coded[table] = codes
        _check_years(frame, file, problems)
        _check_duplicates(frame, spec, codes, file, problems)
        if "lea_id" in codes and lea_ids is not None:
            unknown = (codes["lea_id"] < 0) & (frame["lea_id"] != "").to_numpy()
            _report(problems, unknown, file, "lea_id", frame["lea_id"], "LEA is not in leas.csv",
                    "Add the LEA to leas.csv or correct the code.")  # fmt: skip
    if frames["child_count"] is not None:
        _check_all_mixed(
            frames["child_count"], coded["child_count"], fname("child_count"), problems
        )
    if all(frames[t] is not None for t in ("leas", "enrollment", "child_count")):
        _check_outcomes(
            frames, coded, (len(years), len(lea_ids), len(ALL_RACE_CODES)), fname, problems
        )
    _check_indicators(frames["indicators"], fname("indicators"), problems)
    targets = frames["targets"]
    if targets is not None:
        frames["targets"] = _check_targets(targets, fname("targets"), problems)
    if frames["state_totals"] is not None:
        _check_state_codes(frames["state_totals"], fname("state_totals"), problems)
    if frames["schools"] is not None:
        _check_schools(frames["schools"], lea_ids, fname("schools"), problems)
    if frames["detail"] is not None:
        _check_detail(frames, fname, problems)
    if problems:
        raise DataValidationError(problems)

    notes = [
        f"no {TABLES[t].file}: the categories it feeds are not calculated (missing_input)."
        for t in ("environments", "discipline")
        if frames[t] is None
    ]
    if frames["state_totals"] is None:
        notes.append(
            'no state_totals.csv: "the State" means the LEAs of this data set (their sums).'
        )
    known = {spec.file for spec in TABLES.values()}
    notes.extend(
        f"{f.name} is not a table of the canonical data set and was not read (expected names: "
        f"{', '.join(sorted(known))})."
        for f in (sorted(path.glob("*.csv")) if path is not None else [])
        if f.name not in known
    )
    return Dataset(
        path=path,
        leas=frames["leas"],
        enrollment=frames["enrollment"],
        child_count=frames["child_count"],
        environments=frames["environments"],
        discipline=frames["discipline"],
        indicators=frames["indicators"],
        targets=frames["targets"],
        state_totals=frames["state_totals"],
        detail=frames["detail"],
        schools=frames["schools"],
        name=str(meta.get("name", "")),
        is_synthetic=bool(meta.get("synthetic", False)),
        description=str(meta.get("description", "") or ""),
        notes=tuple(notes),
    )


def _check_leas(leas: pd.DataFrame, file: str, problems: list[Problem]) -> None:
    bad = ~leas["lea_id"].str.fullmatch(_LEA_ID.pattern)
    _report(problems, bad, file, "lea_id", leas["lea_id"], "lea_id is not a 7-digit CDE code",
            "Use the 7-digit code (county 2 + district 5, or a charter's 7-digit school code), "
            "keeping leading zeros.")  # fmt: skip
    dup = leas["lea_id"].duplicated(keep="first")
    _report(problems, dup, file, "lea_id", leas["lea_id"], "duplicate LEA",
            "List each LEA once.")  # fmt: skip
    empty = leas["lea_name"] == ""
    _report(problems, empty, file, "lea_name", leas["lea_name"], "LEA name is empty",
            "Give every LEA a name.")  # fmt: skip


def _check_years(frame, file, problems) -> None:
    years = frame["school_year"]
    unique = pd.Series(years.unique())
    ok = unique.map(is_school_year).astype(bool)
    bad_values = set(unique[~ok.to_numpy()])
    if bad_values:
        _report(problems, years.isin(bad_values), file, "school_year", years,
                "school year is not in YYYY-YY form", "Write school years like 2023-24.")  # fmt: skip


def _combined_key(codes: dict[str, np.ndarray], columns) -> np.ndarray:
    """One int64 per row from the positions of several key columns (-1 kept distinct)."""
    key = np.zeros(len(next(iter(codes.values()))), dtype=np.int64)
    for column in columns:
        c = codes[column] + 1
        key = key * (int(c.max(initial=0)) + 1) + c
    return key


def _check_duplicates(frame, spec: TableSpec, codes, file, problems) -> None:
    dup = pd.Series(_combined_key(codes, spec.key)).duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        key = ", ".join(f"{k}={frame[k].iloc[i]}" for k in spec.key)
        problems.append(Problem(file, int(i) + 2, None, key, "duplicate key row",
                                "Keep one row per key; sum or correct the duplicates."))  # fmt: skip


def _check_all_mixed(child_count, codes, file, problems) -> None:
    is_all = (child_count["disability"] == ALL_DISABILITIES).to_numpy()
    if not is_all.any():
        return
    key = _combined_key(codes, ("school_year", "lea_id", "race_ethnicity"))
    mixed = np.isin(key, key[is_all]) & np.isin(key, key[~is_all]) & is_all
    _report(problems, mixed, file, "disability", child_count["disability"],
            "ALL rows are mixed with disability rows for the same LEA, year and race",
            "Give either ALL or the disability categories for an LEA, year and race, not both.")  # fmt: skip


def _check_outcomes(frames, coded, shape, fname: Callable[[str], str], problems) -> None:
    """An outcome count larger than its base population is an error (TDR is exempt).

    Missing counts are skipped (a sum of the known counts is a lower bound); an absent base row
    means zero. Sums are accumulated with ``bincount`` over (year, LEA, race) positions.
    """
    size = int(np.prod(shape))

    def cell(table):
        c = coded[table]
        ok = (c["school_year"] >= 0) & (c["lea_id"] >= 0) & (c["race_ethnicity"] >= 0)
        flat = np.where(ok, 0, 0)
        flat[ok] = np.ravel_multi_index(
            (c["school_year"][ok], c["lea_id"][ok], c["race_ethnicity"][ok]), shape
        )
        return flat, ok

    def sums(table, where=None):
        flat, ok = cell(table)
        keep = ok if where is None else ok & where
        weights = np.nan_to_num(frames[table]["count"].to_numpy(dtype=float))
        return np.bincount(flat[keep], weights=weights[keep], minlength=size)

    enrolled = sums("enrollment")
    cwd = sums("child_count")
    checks = [
        (
            "child_count",
            cwd,
            enrolled,
            None,
            "children with disabilities (summed over disabilities) exceed the children enrolled",
        ),
    ]
    if frames["environments"] is not None:
        checks.append(
            (
                "environments",
                sums("environments"),
                cwd,
                None,
                "children counted in environments exceed the children with disabilities "
                "in child_count.csv",
            )
        )
    if frames["discipline"] is not None:
        is_tdr = (frames["discipline"]["removal_type"] == "TDR").to_numpy()
        checks.append(
            (
                "discipline",
                None,
                cwd,
                ~is_tdr,
                "children removed exceed the children with disabilities in child_count.csv",
            )
        )
    for table, outcome_sums, base, rows_own, what in checks:
        rows = frames[table]
        flat, ok = cell(table)
        if outcome_sums is not None:  # the outcome is the sum over the table's codes
            outcome = outcome_sums[flat]
            first = ~pd.Series(flat).duplicated(keep="first").to_numpy()
            over = ok & first & (outcome > base[flat])
        else:  # each row is an outcome of its own
            outcome = np.nan_to_num(rows["count"].to_numpy(dtype=float))
            over = ok & rows_own & (outcome > base[flat])
        for i in np.flatnonzero(over):
            key = " ".join(
                str(rows[k].iloc[i]) for k in ("school_year", "lea_id", "race_ethnicity")
            )
            problems.append(
                Problem(fname(table), int(i) + 2, "count",
                        f"{key}: {outcome[i]:g} > {base[flat[i]]:g}", what,
                        "Correct the counts: an outcome cannot be larger than its base population "
                        "(an absent base row counts as zero).")
            )  # fmt: skip


def _check_indicators(indicators, file, problems) -> None:
    if indicators is None:
        return
    over = indicators["numerator"] > indicators["denominator"]
    _report(problems, over, file, "numerator", indicators["numerator"].astype(str),
            "numerator is larger than the denominator",
            "An indicator rate is numerator / denominator; correct the counts.")  # fmt: skip


def _check_targets(targets, file, problems) -> pd.DataFrame:
    out = targets.copy()
    target = pd.to_numeric(targets["target"].where(targets["target"] != "", None), errors="coerce")
    bad = (target.isna() & (targets["target"] != "")) | (target < 0) | (target > 1)
    _report(problems, bad, file, "target", targets["target"], "target is not a proportion",
            "Write targets as proportions between 0 and 1 (0.512, not 51.2).")  # fmt: skip
    hib = as_bool(targets["higher_is_better"])
    bad_hib = hib.isna().to_numpy(dtype=bool)
    _report(problems, bad_hib, file, "higher_is_better", targets["higher_is_better"],
            "higher_is_better is not true or false", "Write true or false.")  # fmt: skip
    out["target"] = target.astype(float)
    out["higher_is_better"] = hib.fillna(False).astype(bool)
    if "label" not in out.columns:
        out["label"] = out["indicator"]
    return out


def _check_state_codes(state_totals, file, problems) -> None:
    for table, column in STATE_TABLES.items():
        rows = state_totals["table"] == table
        if column is None:
            bad = rows & (state_totals["code"] != "")
            fix = "Leave code empty for enrollment rows."
        else:
            allowed = TABLES[table].codes[column]
            bad = rows & ~state_totals["code"].isin(allowed)
            fix = f"Use one of {', '.join(allowed)} for {table} rows."
        _report(problems, bad, file, "code", state_totals["code"], f"unknown code for {table}", fix)


# --- the drill-down tables (drilldown.md section 1) -------------------------------------------

#: Slice codes of each dimension of ``detail.csv`` (``school``: a 7-digit CDE school code);
#: every dimension also has the slice ``UNKNOWN`` (students without a value).
SLICE_VALUES: dict[str, tuple[str, ...]] = {
    "grade_band": GRADE_BANDS,
    "gender": GENDERS,
    "english_learner": YES_NO,
    "socioeconomically_disadvantaged": YES_NO,
    "disability": DISABILITIES,
}
_SCHOOL_CODE = r"\d{7}"


def _check_schools(schools, lea_ids, file, problems) -> None:
    """``schools.csv``: 7-digit codes, each school once, with a known LEA and a name."""
    code = schools["school_code"]
    _report(problems, ~code.str.fullmatch(_SCHOOL_CODE), file, "school_code", code,
            "school_code is not a 7-digit CDE school code",
            "Use the last 7 digits of the 14-digit CDS code, keeping leading zeros.")  # fmt: skip
    _report(problems, code.duplicated(keep="first"), file, "school_code", code,
            "duplicate school", "List each school once, with the LEA it belongs to.")  # fmt: skip
    if lea_ids is not None:
        unknown = ~schools["lea_id"].isin(lea_ids)
        _report(problems, unknown, file, "lea_id", schools["lea_id"], "LEA is not in leas.csv",
                "Add the LEA to leas.csv or correct the code.")  # fmt: skip
    empty = schools["school_name"] == ""
    _report(problems, empty, file, "school_name", schools["school_name"],
            "school name is empty", "Give every school its name.")  # fmt: skip


def _check_detail(frames, fname: Callable[[str], str], problems: list[Problem]) -> None:
    """Every rule of ``detail.csv`` beyond the generic ones (codes, duplicates, LEAs, years).

    Slice codes by dimension; table codes (as in ``state_totals.csv``); no ``disability``
    slices of enrollment (drilldown.md section 2); a school of another LEA than
    ``schools.csv`` gives; and the partition rule: for every (school year, LEA, dimension,
    group, table, code) the slices sum to the LEA table's count (an absent LEA row is zero).
    A suppressed (empty) slice makes the sum a lower bound: the known slices may then not
    exceed the LEA's count. Where the LEA's own count is missing nothing can be checked.
    """
    detail = frames["detail"]
    file = fname("detail")
    dimension, value = detail["dimension"], detail["value"]
    ok = value.eq(UNKNOWN_SLICE) | (dimension.eq("school") & value.str.fullmatch(_SCHOOL_CODE))
    for name, values in SLICE_VALUES.items():
        ok |= dimension.eq(name) & value.isin(values)
    for name in DIMENSIONS:  # six dimensions: a loop over rules, not over rows
        allowed = ("a 7-digit CDE school code",) if name == "school" else SLICE_VALUES[name]
        _report(problems, dimension.eq(name) & ~ok, file, "value", value,
                f"unknown {name} slice",
                f"Use {', '.join(allowed)} or {UNKNOWN_SLICE} (no value).")  # fmt: skip
    _check_state_codes(detail, file, problems)
    no_disability = dimension.eq("disability") & detail["table"].eq("enrollment")
    _report(problems, no_disability, file, "dimension", dimension,
            "enrollment has no disability slices",
            "Slice child_count, environments and discipline by disability, not enrollment.")  # fmt: skip
    schools = frames["schools"]
    if schools is not None:
        owner = value.map(dict(zip(schools["school_code"], schools["lea_id"], strict=False)))
        other = dimension.eq("school") & owner.notna() & owner.ne(detail["lea_id"])
        _report(problems, other, file, "value",
                value + " (LEA " + detail["lea_id"] + "; schools.csv: LEA " + owner.fillna("") + ")",
                "school belongs to another LEA in schools.csv",
                "Correct the school code or the LEA, or schools.csv.")  # fmt: skip
    _check_partition(frames, fname, problems)


def _lea_counts_long(frames) -> pd.DataFrame:
    """The four LEA count tables as one long frame (school_year, lea_id, race, table, code)."""
    parts = []
    for table, column in STATE_TABLES.items():
        frame = frames[table]
        if frame is None:
            continue
        code = frame[column] if column is not None else ""
        parts.append(
            frame[["school_year", "lea_id", "race_ethnicity", "count"]].assign(
                table=table, code=code
            )
        )
    return pd.concat(parts, ignore_index=True)


def _check_partition(frames, fname: Callable[[str], str], problems: list[Problem]) -> None:
    """The slices of each dimension sum to the LEA table's count (drilldown.md section 1).

    Keys are integer-coded column by column and summed with ``bincount`` (no string groupby):
    the check stays a small part of loading at statewide size.
    """
    detail = frames["detail"]
    lea = _lea_counts_long(frames)
    columns = ["school_year", "lea_id", "race_ethnicity", "table", "code"]
    d_codes, l_codes = {}, {}
    for column in columns:  # five key columns: a loop over columns, not rows
        codes, uniques = pd.factorize(pd.concat([detail[column], lea[column]], ignore_index=True))
        d_codes[column], l_codes[column] = codes[: len(detail)], codes[len(detail) :]
        d_codes[f"n_{column}"] = len(uniques) + 1
    n_dim = len(DIMENSIONS)
    dim = positions(detail["dimension"], DIMENSIONS)
    have = [t for t in STATE_TABLES if frames[t] is not None]
    # unknown dimensions are reported elsewhere; slices of an absent table cannot be checked
    known = (dim >= 0) & detail["table"].isin(have).to_numpy()

    def combine(codes, dimension, outer=("school_year", "lea_id"), inner=("table",)):
        key = np.zeros(len(dimension), dtype=np.int64)
        for column in outer:
            key = key * d_codes[f"n_{column}"] + codes[column]
        key = key * (n_dim + 1) + dimension
        for column in inner:
            key = key * d_codes[f"n_{column}"] + codes[column]
        return key

    full = ("race_ethnicity", "table", "code")
    d_key = combine(d_codes, dim, inner=full)[known]
    scope = np.unique(combine(d_codes, dim)[known])
    l_keys, l_rows, l_dims = [], [], []
    for i in range(n_dim):  # six dimensions: the LEA rows each one must partition
        dimension = np.full(len(lea), i)
        inside = np.isin(combine(l_codes, dimension), scope)
        l_keys.append(combine(l_codes, dimension, inner=full)[inside])
        l_rows.append(np.flatnonzero(inside))
        l_dims.append(dimension[inside])
    l_key, l_row, l_dim = (np.concatenate(a) for a in (l_keys, l_rows, l_dims))
    keys, inverse = np.unique(np.concatenate([d_key, l_key]), return_inverse=True)
    d_at, l_at = inverse[: len(d_key)], inverse[len(d_key) :]
    size = len(keys)
    d_count = detail["count"].to_numpy(dtype=float)[known]
    l_count = lea["count"].to_numpy(dtype=float)[l_row]
    sliced = np.bincount(d_at, weights=np.nan_to_num(d_count), minlength=size)
    suppressed = np.bincount(d_at, weights=np.isnan(d_count), minlength=size) > 0
    lea_count = np.bincount(l_at, weights=np.nan_to_num(l_count), minlength=size)
    lea_missing = np.bincount(l_at, weights=np.isnan(l_count), minlength=size) > 0
    first_row = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(first_row, d_at, np.flatnonzero(known))
    wrong = ~lea_missing & np.where(suppressed, sliced > lea_count, sliced != lea_count)
    if not wrong.any():
        return
    # name each key that does not add up from a row of its own (detail's first, else the LEA's)
    lea_at = np.full(size, -1)
    lea_at[l_at] = np.arange(len(l_at))
    order = np.flatnonzero(wrong)
    order = order[np.argsort(first_row[order], kind="stable")]
    for k in order:  # only the keys in error, to name them
        if first_row[k] != np.iinfo(np.int64).max:
            source, i = detail, int(first_row[k])
            dimension = str(detail["dimension"].iloc[i])
            row = i + 2
        else:
            j = lea_at[k]
            source, i = lea, int(l_row[j])
            dimension = DIMENSIONS[int(l_dim[j])]
            row = None
        table, code = str(source["table"].iloc[i]), str(source["code"].iloc[i])
        key = " ".join(str(source[c].iloc[i]) for c in ("school_year", "lea_id", "race_ethnicity"))
        key += f" {table}" + (f" {code}" if code else "")
        what = "known slices" if suppressed[k] else "slices"
        found = (
            f"{key} by {dimension}: {what} sum to {sliced[k]:g}, {table}.csv has {lea_count[k]:g}"
        )
        problems.append(
            Problem(fname("detail"), row, "count", found,
                    "slices of a dimension do not add up to the LEA's count",
                    f"Every student counted in {table}.csv is in exactly one slice of each "
                    f"dimension given (slice {UNKNOWN_SLICE} when the value is not known); "
                    "correct the slices or the LEA count.")
        )  # fmt: skip
