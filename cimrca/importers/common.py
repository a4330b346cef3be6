"""What every importer shares: reading, header and code normalisation, merging, writing.

Reading (data.md section 2): a file is decoded as UTF-8 when it starts with a UTF-8 byte-order
mark or is valid UTF-8, else as cp1252 (the encoding of CDE's older downloads). Header spelling
is normalised (BOM, surrounding spaces, inner spaces, case) so ``Academic Year`` and
``AcademicYear`` are the same column. Cells ``*``, ``-8`` and ``-9`` are suppressed counts and
``No Data`` and empty cells are missing; all arrive as missing (NaN) and suppressed cells are
counted for the summary.

Merging: every canonical table has key columns and value columns (:data:`TABLES`). New keys are
added; a key already present with the same values is a no-op (re-importing the same file changes
nothing); a key present with different values raises :class:`~cimrca.errors.ImportError_`
naming both sources, and nothing is written. ``leas.csv`` is lenient about descriptive
columns: only ``lea_name`` must agree, and empty cells of an existing row are filled from the
new row. Existing rows are never dropped. Tables are written atomically (temporary file in the
same folder, then :func:`os.replace`).
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ImportError_
from ..values import SCHOOL_YEAR_PATTERN
from .registry import KINDS, import_kind, resolve_reader

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SUPPRESSED_MARKERS",
    "MISSING_MARKERS",
    "NOT_APPLICABLE_MARKER",
    "CDE_RACE_CODES",
    "TABLES",
    "TABLE_COLUMNS",
    "RawTable",
    "ImportedFile",
    "decode_bytes",
    "normalise_header",
    "read_delimited",
    "require_columns",
    "parse_counts",
    "normalise_school_year",
    "fold_sum",
    "finalise",
    "load_existing",
    "merge_table",
    "write_table_atomic",
    "run_import",
]

#: Cells a public file uses for a suppressed count (CDE ``*``; IDEA 618 ``-8`` small cell and
#: ``-9`` questionable data quality). Counted in the summary and imported as missing.
SUPPRESSED_MARKERS: frozenset[str] = frozenset({"*", "-8", "-9"})
#: Cells that mean "no value": empty, and ``No Data`` in CDE's directory file.
MISSING_MARKERS: frozenset[str] = frozenset({"", "no data"})
#: IDEA 618 state files mark a cell that does not apply to its row with ``-``.
NOT_APPLICABLE_MARKER = "-"

#: CDE ReportingCategory race codes, 2023-24 on (``RE_*``) and before (``R*``), to canonical
#: codes. Filipino (``RE_F``/``RF``) folds into ``AS``; not reported (``RE_D``/``RD``) is ``NR``.
#: Every other category (totals, ``SD``, ``SG_*``, gender, grade spans) is not a race row.
CDE_RACE_CODES: dict[str, str] = {
    "RE_H": "HI", "RH": "HI",
    "RE_I": "AM", "RI": "AM",
    "RE_A": "AS", "RA": "AS",
    "RE_F": "AS", "RF": "AS",
    "RE_P": "PI", "RP": "PI",
    "RE_B": "BL", "RB": "BL",
    "RE_W": "WH", "RW": "WH",
    "RE_T": "MU", "RT": "MU",
    "RE_D": "NR", "RD": "NR",
}  # fmt: skip

#: Canonical tables: (key columns, value columns), data.md section 1.
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "leas": (("lea_id",), ("lea_name",)),
    "enrollment": (("school_year", "lea_id", "race_ethnicity"), ("count",)),
    "child_count": (("school_year", "lea_id", "race_ethnicity", "disability"), ("count",)),
    "environments": (("school_year", "lea_id", "race_ethnicity", "environment"), ("count",)),
    "discipline": (("school_year", "lea_id", "race_ethnicity", "removal_type"), ("count",)),
    "indicators": (("school_year", "lea_id", "indicator"), ("numerator", "denominator")),
    "state_totals": (("school_year", "table", "race_ethnicity", "code"), ("count",)),
    # drilldown.md section 1
    "detail": (
        ("school_year", "lea_id", "race_ethnicity", "dimension", "value", "table", "code"),
        ("count",),
    ),
    # the LEA is part of the key so that its code is stored as text, leading zeros kept
    "schools": (("school_code", "lea_id"), ("school_name",)),
}
#: Column order each table is written in (extra columns of ``leas.csv`` follow).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    name: keys + values for name, (keys, values) in TABLES.items()
}
TABLE_COLUMNS["leas"] = ("lea_id", "lea_name", "county", "selpa", "lea_type")
TABLE_COLUMNS["schools"] = ("school_code", "school_name", "lea_id")

_UTF8_BOM = b"\xef\xbb\xbf"
_SCHOOL_YEAR_LONG = re.compile(r"^(\d{4})-(\d{4})$")
_YEAR_ONLY = re.compile(r"^(\d{4})$")
#: How many conflicting keys an error message lists before summarising the rest.
MAX_CONFLICTS_SHOWN = 5
_COUNT_COLUMNS = frozenset({"count", "numerator", "denominator"})
#: Source column carried by rows while they are merged ("FILE, row N").
SOURCE = "_src"
#: Spreadsheet row number of each input row, carried until :func:`finalise`.
ROW = "_row"


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a file's bytes: UTF-8 with BOM, else UTF-8 when valid, else cp1252.

    Returns
    -------
    (text, encoding)
        ``encoding`` is ``"utf-8-sig"``, ``"utf-8"`` or ``"cp1252"``.

    Examples
    --------
    >>> decode_bytes("Cañada".encode("cp1252"))
    ('Cañada', 'cp1252')
    >>> decode_bytes(b"\\xef\\xbb\\xbfA")
    ('A', 'utf-8-sig')
    """
    if data.startswith(_UTF8_BOM):
        return data[len(_UTF8_BOM) :].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def normalise_header(name: str) -> str:
    """Lower-case a header and drop a BOM and all whitespace.

    Examples
    --------
    >>> normalise_header("\\ufeffAcademic Year ")
    'academicyear'
    >>> normalise_header("Reporting Category") == normalise_header("ReportingCategory")
    True
    """
    name = name.replace("\ufeff", "").replace("ï»¿", "")
    return re.sub(r"\s+", "", name).lower()


@dataclass(frozen=True)
class RawTable:
    """A delimited file read as text: every cell a stripped string, headers normalised.

    ``header_row`` is the spreadsheet row number of the header line, so data row ``i``
    (0-based) is spreadsheet row ``header_row + 1 + i``.
    """

    frame: pd.DataFrame
    path: Path
    encoding: str
    header_row: int
    original_headers: tuple[str, ...]

    def rows(self) -> pd.Series:
        """Spreadsheet row numbers of the data rows, aligned with ``frame``."""
        import pandas as pd

        return pd.Series(self.frame.index + self.header_row + 1, index=self.frame.index)


def read_delimited(
    path: Path, *, sep: str, header_starts: str | None = None, max_preamble: int = 20
) -> RawTable:
    """Read a delimited text file into a :class:`RawTable` of strings.

    Parameters
    ----------
    path : Path
        The file.
    sep : str
        ``"\\t"`` for CDE files, ``","`` for federal CSV files.
    header_starts : str, optional
        When given, the header is the first line (within ``max_preamble`` lines) whose first
        cell, normalised, equals this; lines before it are a preamble. Otherwise line 1.
    max_preamble : int
        How many lines are searched for the header.
    """
    import pandas as pd

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportError_(
            f"{path}: cannot read the file ({exc.strerror}). Check the path.", file=path
        ) from exc
    text, encoding = decode_bytes(data)
    lines = text.splitlines()
    header_index = 0
    if header_starts is not None:
        wanted = normalise_header(header_starts)
        for i, line in enumerate(lines[:max_preamble]):
            first = next(csv.reader([line], delimiter=sep), [""])
            if first and normalise_header(first[0]) == wanted:
                header_index = i
                break
        else:
            header_index = -1
    if not lines or header_index < 0:
        return RawTable(pd.DataFrame(), path, encoding, 1, ())
    body = "\n".join(lines[header_index:])
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    try:
        frame = pd.read_csv(
            io.StringIO(body),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quoting=quoting,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ImportError_(
            f"{path}: not a readable {'tab' if sep == chr(9) else 'comma'}-delimited file "
            f"({exc}). Check the file and the KIND given.",
            file=path,
        ) from exc
    original = tuple(str(c) for c in frame.columns)
    frame.columns = [normalise_header(str(c)) for c in frame.columns]
    frame = frame.apply(lambda s: s.str.strip())
    return RawTable(frame, path, encoding, header_index + 1, original)


def require_columns(raw: RawTable, wanted: dict[str, tuple[str, ...]], what: str) -> dict[str, str]:
    """Find each wanted column by its accepted spellings; fail naming what is missing.

    Parameters
    ----------
    raw : RawTable
        The file read.
    wanted : dict
        Canonical name -> accepted normalised spellings (the first is shown in messages).
    what : str
        What the file should be, e.g. ``"CDE Census Day enrollment file (cdenroll*.txt)"``.

    Returns
    -------
    dict
        Canonical name -> the column's normalised name in ``raw.frame``.
    """
    found: dict[str, str] = {}
    missing: list[str] = []
    for name, spellings in wanted.items():
        hit = next((s for s in spellings if s in raw.frame.columns), None)
        if hit is None:
            missing.append(spellings[0])
        else:
            found[name] = hit
    if missing:
        head = ", ".join(raw.original_headers[:8]) or "(no header line found)"
        raise ImportError_(
            f"{raw.path} does not look like a {what}: column(s) {', '.join(missing)} not found; "
            f"its header begins {head}. Check the KIND given to `cimrca import` and that the "
            "file is the unmodified download.",
            file=raw.path,
            column=missing[0],
        )
    return found


def parse_counts(
    values: pd.Series,
    rows: pd.Series,
    *,
    path: Path,
    column: str,
    not_applicable: bool = False,
) -> tuple[pd.Series, int]:
    """Convert count cells to floats: suppressed and missing cells become NaN.

    Parameters
    ----------
    values : Series of str
        Stripped cells.
    rows : Series of int
        Spreadsheet row numbers, for messages.
    path, column
        Named in error messages.
    not_applicable : bool
        Accept ``-`` (IDEA 618 "not applicable") as missing without counting it as suppressed.

    Returns
    -------
    (counts, n_suppressed)

    Raises
    ------
    ImportError_
        A cell that is neither a marker nor a non-negative whole number; every bad cell of the
        column is listed (up to a few) with its row.
    """
    import numpy as np
    import pandas as pd

    text = values.astype(str).str.strip()
    lowered = text.str.lower()
    suppressed = text.isin(SUPPRESSED_MARKERS)
    missing = lowered.isin(MISSING_MARKERS) | suppressed
    if not_applicable:
        missing |= text.eq(NOT_APPLICABLE_MARKER)
    cleaned = text.where(~missing, "").str.replace(",", "", regex=False)
    numbers = pd.to_numeric(cleaned.where(~missing, None), errors="coerce")
    bad = ~missing & (numbers.isna() | (numbers < 0) | (numbers != np.floor(numbers)))
    if bad.any():
        shown = [
            f"row {int(r)} value {v!r}"
            for r, v in zip(
                rows[bad].head(MAX_CONFLICTS_SHOWN),
                text[bad].head(MAX_CONFLICTS_SHOWN),
                strict=True,
            )
        ]
        more = int(bad.sum()) - len(shown)
        raise ImportError_(
            f"{path}, column {column!r}: expected a non-negative whole number, '*' or empty; "
            f"found {'; '.join(shown)}{f' and {more} more' if more > 0 else ''}. "
            "Check that the file is the unmodified download.",
            file=path,
            row=int(rows[bad].iloc[0]),
            column=column,
        )
    return numbers.astype(float), int(suppressed.sum())


def normalise_school_year(
    values: pd.Series, rows: pd.Series, *, path: Path, column: str
) -> pd.Series:
    """Return school years as ``YYYY-YY``; accept ``YYYY-YY``, ``YYYY-YYYY`` and ``YYYY``.

    A bare year ``YYYY`` (IDEA 618 ``Year`` column) is the fall of the school year:
    ``2017`` -> ``2017-18``. The two halves must be consecutive years.
    """
    import pandas as pd

    text = values.astype(str).str.strip()
    short = text.str.extract(SCHOOL_YEAR_PATTERN)
    long_ = text.str.extract(_SCHOOL_YEAR_LONG)
    start = short[0].fillna(long_[0]).fillna(text.str.extract(_YEAR_ONLY)[0])
    start_num = pd.to_numeric(start, errors="coerce")
    expected_end = ((start_num.fillna(0).astype("int64") + 1) % 100).map("{:02d}".format)
    end = short[1].fillna(long_[1].str[2:]).fillna(expected_end)
    good = start_num.notna() & end.eq(expected_end)
    if not good.all():
        r = int(rows[~good].iloc[0])
        v = text[~good].iloc[0]
        raise ImportError_(
            f"{path}, row {r}, column {column!r}: expected a school year like 2023-24, found "
            f"{v!r}. Check that the file is the unmodified download.",
            file=path,
            row=r,
            column=column,
        )
    return (start.astype(str) + "-" + expected_end).astype(object)


def fold_sum(frame: pd.DataFrame, keys: list[str], value_columns: list[str]) -> pd.DataFrame:
    """Sum value columns within keys; a sum with any missing part is missing.

    Used where two source rows make one canonical row (Filipino folded into Asian). Carries
    the first spreadsheet row of each group in ``_row``.
    """
    agg = {c: (c, "sum") for c in value_columns}
    agg.update({f"_na_{c}": (f"_na_{c}", "any") for c in value_columns})
    agg[ROW] = (ROW, "min")
    marked = frame.assign(**{f"_na_{c}": frame[c].isna() for c in value_columns})
    out = marked.groupby(keys, sort=False, dropna=False).agg(**agg).reset_index()
    for c in value_columns:
        out[c] = out[c].where(~out.pop(f"_na_{c}"))
    return out


def _number_text(values: pd.Series) -> pd.Series:
    """Format counts as whole-number text; NaN as empty; keep other text as it is."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    whole = numbers.notna() & (numbers == numbers.round())
    text = values.astype(object).where(values.notna(), "").astype(str)
    text = text.where(~whole, numbers.where(whole, 0).astype("int64").astype(str))
    return text.where(~(numbers.isna() & values.isna()), "")


def finalise(frame: pd.DataFrame, table: str, path: Path) -> pd.DataFrame:
    """Canonical string columns of ``table`` plus the source column, from a reader's frame.

    Code columns become strings, counts whole-number text (missing = empty), and ``_src``
    names the file and spreadsheet row each row came from.
    """
    columns = list(TABLE_COLUMNS[table]) if table != "leas" else list(frame.columns)
    columns = [c for c in columns if c != ROW]
    out = frame.reindex(columns=columns).copy()
    for c in out.columns:
        if c in _COUNT_COLUMNS:
            out[c] = _number_text(out[c])
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str)
    out[SOURCE] = [f"{path}, row {int(r)}" for r in frame[ROW]]
    return out.reset_index(drop=True)


def load_existing(out_dir: Path, table: str) -> pd.DataFrame | None:
    """Read ``out_dir/<table>.csv`` as strings with a source column, or None when absent."""
    import pandas as pd

    path = Path(out_dir) / f"{table}.csv"
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as exc:
        raise ImportError_(
            f"{path}: the existing table cannot be read ({exc}). Fix or move it, then import "
            "again.",
            file=path,
        ) from exc
    keys, values = TABLES[table]
    missing = [c for c in keys + values if c not in frame.columns]
    if missing:
        raise ImportError_(
            f"{path}: the existing table lacks column(s) {', '.join(missing)}. Fix or move it, "
            "then import again.",
            file=path,
            column=missing[0],
        )
    frame = frame.apply(lambda s: s.str.strip())
    for c in values:
        if c != "lea_name":
            frame[c] = _number_text(frame[c].where(frame[c] != "", None))
    frame[SOURCE] = [f"{path}, row {i + 2}" for i in range(len(frame))]
    return frame


def _describe_key(row: pd.Series, keys: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={row[k]!r}" for k in keys)


def merge_table(
    table: str, existing: pd.DataFrame | None, new: pd.DataFrame
) -> tuple[pd.DataFrame, int, int]:
    """Merge new canonical rows into existing ones.

    Returns
    -------
    (merged, added, already_present)
        ``merged`` keeps every existing row in its order, then the added rows.

    Raises
    ------
    ImportError_
        A key of ``new`` is present with a different value (in ``existing`` or earlier in
        ``new``); the message names both sources.
    """
    import pandas as pd

    keys, values = TABLES[table]
    if existing is None:
        existing = pd.DataFrame(columns=[*TABLE_COLUMNS[table], SOURCE], dtype=object)
    columns = list(dict.fromkeys([*existing.columns, *new.columns]))
    origin = pd.Series([0] * len(existing) + [1] * len(new))
    combined = pd.concat(
        [existing.reindex(columns=columns), new.reindex(columns=columns)], ignore_index=True
    )
    combined = combined.astype(object).fillna("")
    same = combined.duplicated(subset=list(keys + values), keep="first") & origin.eq(1)
    kept = combined[~same]
    kept_origin = origin[~same]
    key_dup = kept.duplicated(subset=list(keys), keep=False)
    new_keys = kept.loc[key_dup & kept_origin.eq(1), list(keys)].drop_duplicates()
    if len(new_keys):
        clash = kept.loc[key_dup].merge(new_keys, on=list(keys))
        messages = []
        for _, group in list(clash.groupby(list(keys), sort=False))[:MAX_CONFLICTS_SHOWN]:
            first, second = group.iloc[0], group.iloc[1]
            vals = " / ".join(f"{v}={first[v]!r}" for v in values)
            vals2 = " / ".join(f"{v}={second[v]!r}" for v in values)
            messages.append(
                f"  {table}.csv key ({_describe_key(first, keys)}): {vals} from "
                f"{first[SOURCE]}, but {vals2} from {second[SOURCE]}"
            )
        n = len(new_keys)
        raise ImportError_(
            f"{n} key{'s' if n != 1 else ''} of {table}.csv would get a value different from "
            "one already stored; nothing was written.\n"
            + "\n".join(messages)
            + ("\n  ..." if n > MAX_CONFLICTS_SHOWN else "")
            + "\nCheck which file is right; remove the wrong rows (or the older file's rows) "
            "and import again.",
            file=str(second[SOURCE]).rsplit(", row", 1)[0],
        )
    added = int(kept_origin.eq(1).sum())
    return kept.reset_index(drop=True), added, len(new) - added


def merge_leas(existing: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Merge LEA rows: ``lea_name`` must agree; empty cells of existing rows are filled."""
    import pandas as pd

    if existing is None:
        merged, added, same = merge_table("leas", None, new.drop_duplicates(subset=["lea_id"]))
        return merged, added, same + len(new) - len(new.drop_duplicates(subset=["lea_id"]))
    known = new["lea_id"].isin(existing["lea_id"])
    columns = list(dict.fromkeys([*existing.columns, *new.columns]))
    old = existing.reindex(columns=columns).astype(object).fillna("")
    # the name check (raises on a different name)
    merge_table("leas", old[["lea_id", "lea_name", SOURCE]], new[["lea_id", "lea_name", SOURCE]])
    incoming = new.drop_duplicates(subset=["lea_id"]).set_index("lea_id")
    idx = old["lea_id"].isin(incoming.index)
    if idx.any():
        fill = incoming.reindex(old.loc[idx, "lea_id"]).reindex(columns=columns)
        fill = fill.astype(object).fillna("")
        fill.index = old.index[idx]
        block = old.loc[idx]
        filled = block.where(block.ne(""), fill)
        filled[SOURCE] = block[SOURCE]
        old.loc[idx] = filled
    fresh = new.loc[~known].drop_duplicates(subset=["lea_id"]).reindex(columns=columns)
    merged = pd.concat([old, fresh.astype(object).fillna("")], ignore_index=True)
    return merged, len(fresh), len(new) - len(fresh)


def write_table_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV (UTF-8, LF) through a temporary file in the same folder and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class ImportedFile:
    """What one importer read from one file: canonical tables (strings) and its summary facts.

    ``tables`` maps a table name (``enrollment``, ``state_totals``, ...) to rows made by
    :func:`finalise`.
    """

    kind: str
    path: Path
    encoding: str
    rows_read: int
    tables: dict[str, pd.DataFrame]
    suppressed: int = 0
    notes: list[str] = field(default_factory=list)


def _table_order(name: str) -> int:
    order = ("leas", "enrollment", "child_count", "environments", "discipline", "indicators")
    return order.index(name) if name in order else len(order)


def run_import(
    kind: str,
    paths: list[Path],
    out_dir: Path,
    *,
    mapping: Path | None = None,
    spedps_level: str = "D",
) -> list[str]:
    """Read, merge and write; the engine of :func:`cimrca.importers.import_files`."""
    spec = import_kind(kind)
    if mapping is not None and "mapping" not in spec.options:
        takers = [k.name for k in KINDS.values() if "mapping" in k.options]
        raise ImportError_(f"--mapping applies to the {', '.join(takers)} kind only.")
    if spedps_level not in ("D", "A"):
        raise ImportError_(f"spedps_level must be 'D' or 'A', found {spedps_level!r}.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ImportError_(f"{out_dir} exists and is not a folder; give a data folder to --out.")
    reader = resolve_reader(kind)
    current: dict[str, pd.DataFrame | None] = {}
    changed: set[str] = set()
    lines: list[str] = []
    for path in paths:
        path = Path(path)
        options: dict[str, object] = {"level": spedps_level, "mapping": mapping}
        if "lea_ids" in spec.options:
            known = current.get("leas") if "leas" in current else load_existing(out_dir, "leas")
            options["lea_ids"] = frozenset(known["lea_id"]) if known is not None else None
        result = reader(path, **{name: options[name] for name in spec.options})
        parts = []
        for name in sorted(result.tables, key=_table_order):
            new = result.tables[name]
            if name not in current:
                current[name] = load_existing(out_dir, name)
            if name == "leas":
                merged, added, same = merge_leas(current[name], new)
            else:
                merged, added, same = merge_table(name, current[name], new)
            if added or (
                name == "leas" and current[name] is not None and not merged.equals(current[name])
            ):
                changed.add(name)
            current[name] = merged
            part = f"{added} to {name}.csv"
            if same:
                part += f" ({same} already present)"
            parts.append(part)
        if parts:
            parts[0] = "wrote " + parts[0].replace(" to ", " rows to ", 1)
            body = ", ".join(parts)
        else:
            body = "wrote nothing"
        lines.append(
            f"read {result.rows_read:,} rows of {kind} from {path} (encoding {result.encoding}): "
            f"{body}; {result.suppressed} suppressed counts treated as missing"
        )
        lines.extend(f"  note: {note}" for note in result.notes)
    for name in sorted(changed, key=_table_order):
        frame = current[name]
        if frame is None:  # a changed table always holds rows; nothing to write otherwise
            continue
        columns = [c for c in frame.columns if c != SOURCE]
        if name == "leas":
            lead = [c for c in TABLE_COLUMNS["leas"] if c in columns]
            columns = lead + [c for c in columns if c not in lead]
        write_table_atomic(frame[columns], out_dir / f"{name}.csv")
    return lines
