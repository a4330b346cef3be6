"""Consultants' annotations that survive every re-run (outputs.md sections 4 and 5).

Consultants write their review (status, note, reviewer, date, root causes, action plan) into the
annotation cells of each LEA's workbook. Those cells are read back ("harvested") into a SQLite
store before a workbook is regenerated, and the stored values are written into the new workbook,
so a re-run can never lose a note.

The store (default ``OUT_DIR/annotations.sqlite``) has four tables:

``current``
    The value of every annotation cell, keyed by ``(lea_id, sheet, finding_id, column)``, with
    ``updated_at`` and ``source`` (``workbook:PATH`` or ``import:PATH``). A value the consultant
    cleared is kept as an empty string, so that it is not written back.
``history``
    Append-only (triggers refuse UPDATE and DELETE): every value ever recorded, when, from which
    file (path and SHA-256), by which command, and its ``kind``: ``new``, ``changed``,
    ``conflict_store``, ``conflict_workbook`` or ``import``.
``harvested``
    The baseline of each workbook file: the values it was generated with (set by
    :func:`record_written`) or last harvested from. It tells who changed a value. A workbook is
    named by its path relative to the store's folder (for the default store, relative to
    OUT_DIR: ``leas/<lea_id>/<lea_id>_workbook.xlsx``), so moving or copying the folder changes
    nothing (outputs.md section 5.1); baselines recorded by earlier versions under an absolute
    path are still found, by the path's last parts, and re-keyed at the next harvest.
``conflicts``
    Every conflict a harvest found (see below): the value kept in the workbook, the store's
    other value and where that came from, when, and which workbook.
``schema_version``
    One row with the schema version.

Conflict rule of a harvest, cell by cell, with ``w`` the workbook's value, ``b`` the baseline and
``c`` the store's current value (an empty cell, a missing baseline and a missing value all count
as the empty string):

- ``w == b``: the workbook was not edited there; nothing changes (if ``c`` differs, the store
  changed elsewhere and the next regeneration writes ``c``);
- ``w != b`` and ``c == w``: both already agree; nothing changes;
- ``w != b`` and ``c == b``: only the workbook changed; ``w`` becomes current (``new`` when there
  was no value, else ``changed``; an emptied cell clears the value);
- ``w != b`` and ``c`` differs from both: both changed since the workbook was written (another
  workbook or an import changed the store). This is a conflict (outputs.md section 5.1: a
  conflict never hides a value): both values go to history (``conflict_store``,
  ``conflict_workbook``), the workbook's value becomes current (the consultant typed it in that
  cell last, so the regenerated workbook keeps it there), and the store's other value is
  recorded in the ``conflicts`` table. It stays listed (:func:`open_conflicts`: the
  ``Conflicts`` sheet of the workbook, ``OUT_DIR/conflicts.csv``) until the value changes
  again. The baseline then becomes ``w``, so the conflict is detected once.

Cells are considered only where the workbook has them: a row or annotation column that is not
in the workbook at all is not read as "cleared". Edits on the ``Orphaned annotations`` sheet and
in the read-only ``previous_note`` column are not harvested.

A batch re-run per LEA is :func:`prepare_rewrite` (harvest the old workbook, collect what to
write back), then ``cimrca.workbook.write_workbook`` (atomic), then :func:`finish_rewrite`
(record the new baseline).

Text limits of the .xlsx format as read here: a literal ``_x000D_``-style escape of a control
character typed as text reads back as that character, and openpyxl removes any ``x005F_`` from
shared strings. openpyxl (unlike Excel and xlsxwriter) cannot write a carriage return.

Keep the store on a local disk: SQLite locking is unreliable on network file systems. Under a
distributed scheduler only the submitting process opens it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .atomic import atomic_write_bytes, atomic_write_text
from .errors import AnnotationError, Problem, UsageError, WorkbookError
from .layout import (
    ANNOTATION_COLUMNS,
    KEY_HEADER,
    KEY_PATTERNS,
    KEY_SHAPES,
    STATUS_CHOICES,
    header_names,
)

__all__ = [
    "annotations_payload",
    "write_annotations_json",
    "read_annotations_json",
    "read_handover_checks",
    "check_workbook_unchanged",
    "SCHEMA_VERSION",
    "DEFAULT_STORE_NAME",
    "HISTORY_KINDS",
    "CSV_COLUMNS",
    "STORED_COLUMNS",
    "ORPHAN_COLUMNS",
    "AnnotationKey",
    "AnnotationStore",
    "Conflict",
    "CONFLICT_COLUMNS",
    "open_conflicts",
    "write_conflicts_csv",
    "HarvestReport",
    "ImportReport",
    "Rewrite",
    "read_workbook_annotations",
    "read_workbook_keys",
    "harvest_workbook",
    "harvest_out_dir",
    "workbook_path",
    "annotations_for",
    "stored_annotations",
    "previous_notes_for",
    "split_orphans",
    "record_written",
    "prepare_rewrite",
    "finish_rewrite",
    "FORMULA_PREFIXES",
    "HISTORY_CSV_COLUMNS",
    "formula_safe",
    "formula_unsafe",
    "export_csv",
    "export_xlsx",
    "import_csv",
    "known_leas",
    "dataset_leas",
    "harvest_cli",
    "export_cli",
    "import_cli",
]

#: Version of the store's schema; a store made by a newer version is refused.
SCHEMA_VERSION = 1
#: File name of the store inside an output folder.
DEFAULT_STORE_NAME = "annotations.sqlite"
#: Seconds a writer waits for another process's lock on the store before giving up.
BUSY_TIMEOUT_SECONDS = 30.0
#: The ``kind`` of a history row.
HISTORY_KINDS: tuple[str, ...] = (
    "new",
    "changed",
    "conflict_store",
    "conflict_workbook",
    "import",
)
HistoryKind = Literal["new", "changed", "conflict_store", "conflict_workbook", "import"]
#: Columns of the CSV written by ``annotations export`` (``import`` needs the first five).
CSV_COLUMNS: tuple[str, ...] = (
    "lea_id",
    "sheet",
    "finding_id",
    "column",
    "value",
    "updated_at",
    "source",
)
_CSV_REQUIRED = CSV_COLUMNS[:5]
#: Columns of :func:`stored_annotations`.
STORED_COLUMNS: tuple[str, ...] = CSV_COLUMNS + ("history",)
#: Columns of the orphans frame handed to the workbook writer.
ORPHAN_COLUMNS: tuple[str, ...] = STORED_COLUMNS[:-1] + ("reason", "history")
#: ``reason`` of an orphan whose finding belongs to an earlier school year than the workbook's.
REASON_EARLIER_YEAR = (
    "earlier school year (its notes show as previous_note where the finding recurs)"
)
#: ``reason`` of an orphan whose finding is not in the regenerated workbook.
REASON_GONE = "finding no longer in the workbook"
#: An LEA code: the CDE 7-digit code (data.md section 1).
LEA_ID_PATTERN = re.compile(r"^\d{7}$")
#: Sheets whose rows carry ``previous_note`` (the year's review of a finding or indicator).
PREVIOUS_NOTE_SHEETS: tuple[str, ...] = ("Disproportionality", "Indicators")
#: The review columns summarised in ``previous_note``.
STATUS_COLUMN = "status"
NOTE_COLUMN = "consultant_note"
REVIEWED_ON_COLUMN = "reviewed_on"
#: A status that says nothing by itself (the drop-down's first choice).
UNREVIEWED_STATUS = STATUS_CHOICES[0]
#: Lock files spreadsheet programs keep beside an open workbook: Excel, LibreOffice.
LOCK_FILE_PATTERNS: tuple[str, ...] = ("~${name}", ".~lock.{name}#")

#: ``(sheet, finding_id, column)``: the key of an annotation cell within one LEA's workbook.
AnnotationKey = tuple[str, str, str]

#: An OOXML-escaped control character (ECMA-376 Part 1, 22.9.2.19 ST_Xstring), e.g. _x000D_.
_OOXML_CONTROL_ESCAPE = re.compile(r"_x(00[01][0-9A-Fa-f])_")
_MIDNIGHT = dt.time(0, 0)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS current (
    lea_id TEXT NOT NULL,
    sheet TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    "column" TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (lea_id, sheet, finding_id, "column")
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lea_id TEXT NOT NULL,
    sheet TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    "column" TEXT NOT NULL,
    value TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    command TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in HISTORY_KINDS)}))
);
CREATE INDEX IF NOT EXISTS history_key ON history (lea_id, sheet, finding_id, "column");
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TABLE IF NOT EXISTS harvested (
    workbook TEXT NOT NULL,
    lea_id TEXT NOT NULL,
    sheet TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    "column" TEXT NOT NULL,
    value TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (workbook, lea_id, sheet, finding_id, "column")
);
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lea_id TEXT NOT NULL,
    sheet TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    "column" TEXT NOT NULL,
    workbook_value TEXT NOT NULL,
    store_value TEXT NOT NULL,
    store_source TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    workbook TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conflicts_key ON conflicts (lea_id, sheet, finding_id, "column");
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class AnnotationStore:
    """The SQLite annotation store (see the module docstring for its tables).

    Parameters
    ----------
    path
        The database file; created with its tables on first use when ``create`` is true.
    create
        When false, a missing file is an :class:`~cimrca.errors.AnnotationError` (for commands
        that only read a store).

    Notes
    -----
    WAL journal mode; every harvest, import or baseline update is one ``BEGIN IMMEDIATE``
    transaction, so a crash leaves the store as before or after it. Use as a context manager or
    call :meth:`close`.

    Examples
    --------
    >>> import tempfile
    >>> with AnnotationStore(Path(tempfile.mkdtemp()) / "a.sqlite") as store:
    ...     store.current_frame().shape[0]
    0
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise AnnotationError(
                f"{self.path}: no annotation store there. Give the path of an existing store "
                f"(a batch writes OUT_DIR/{DEFAULT_STORE_NAME}).",
                file=self.path,
            )
        if not self.path.parent.is_dir():
            raise AnnotationError(
                f"{self.path}: the folder {self.path.parent} does not exist. Create it first.",
                file=self.path,
            )
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._init_schema()
        except (sqlite3.DatabaseError, AnnotationError) as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()  # do not keep the file open (a busy mount, a Windows lock)
            if isinstance(exc, AnnotationError):
                raise
            raise _store_error(self.path, exc) from None

    def _init_schema(self) -> None:
        tables = {
            r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "schema_version" not in tables:
            raise AnnotationError(
                f"{self.path}: this SQLite file is not an annotation store (it has tables "
                f"{sorted(tables)} but no schema_version). Give the path of an annotation store.",
                file=self.path,
            )
        with self.transaction() as conn:
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise AnnotationError(
                    f"{self.path}: store schema version {row[0]} was made by a newer cimrca "
                    f"(this one reads version {SCHEMA_VERSION}). Upgrade cimrca.",
                    file=self.path,
                )

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction; rolled back on any exception.

        A store locked by another process for longer than :data:`BUSY_TIMEOUT_SECONDS`, or one on
        a read-only medium, raises :class:`~cimrca.errors.AnnotationError` saying so.
        """
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _store_error(self.path, exc) from None
        try:
            yield self._conn
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _is_locked_or_read_only(exc):
                raise _store_error(self.path, exc) from None
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise _store_error(self.path, exc) from None

    # -- reading -------------------------------------------------------------------------------
    def current_values(
        self, lea_id: str, *, include_cleared: bool = False
    ) -> dict[AnnotationKey, str]:
        """Current values of one LEA, by ``(sheet, finding_id, column)``.

        Cleared values (empty strings) are left out unless ``include_cleared``.
        """
        rows = self._conn.execute(
            'SELECT sheet, finding_id, "column", value FROM current WHERE lea_id = ?', (lea_id,)
        ).fetchall()
        return {(s, f, c): v for s, f, c, v in rows if include_cleared or v != ""}

    def workbook_id(self, workbook: str | Path) -> str:
        """How the ``harvested`` table names ``workbook``: its path relative to the store's folder.

        For the default store ``OUT_DIR/annotations.sqlite`` that is the path relative to
        OUT_DIR (``leas/2071593/2071593_workbook.xlsx``), so moving or copying OUT_DIR keeps every
        baseline (outputs.md section 5.1). An absolute path only where no relative one exists
        (another drive on Windows).
        """
        return _workbook_id(workbook, self.path.parent)

    def baseline_ids(self, workbook: str | Path, lea_id: str) -> tuple[str, ...]:
        """The id the baseline of ``workbook`` is recorded under, then a legacy id to replace.

        A store written by an earlier version names workbooks by absolute path. When no baseline
        has the relative id, the one legacy (absolute) id of this LEA whose last parts (for a
        batch: ``leas/<lea_id>/<lea_id>_workbook.xlsx``) match is used: the folder was moved.
        When several match (one store for several folders), only the one at the workbook's
        current absolute path is taken; otherwise none (then an edited cell that differs from the
        store is a conflict, kept in view, never a silent overwrite).
        """
        wid = self.workbook_id(workbook)
        found = self._conn.execute(
            "SELECT 1 FROM harvested WHERE workbook = ? AND lea_id = ? LIMIT 1", (wid, lea_id)
        ).fetchone()
        if found is not None:
            return (wid,)
        tail = Path(workbook).resolve().parts[-3:]
        legacy = [
            w
            for (w,) in self._conn.execute(
                "SELECT DISTINCT workbook FROM harvested WHERE lea_id = ?", (lea_id,)
            )
            if Path(w).is_absolute() and Path(w).parts[-len(tail) :] == tail
        ]
        here = str(Path(workbook).resolve())
        if here in legacy:
            return (wid, here)
        return (wid, legacy[0]) if len(legacy) == 1 else (wid,)

    def baseline(self, workbook: str | Path, lea_id: str) -> dict[AnnotationKey, str]:
        """The values workbook ``workbook`` of ``lea_id`` was last written with or harvested from."""
        ids = self.baseline_ids(workbook, lea_id)
        rows = self._conn.execute(
            'SELECT sheet, finding_id, "column", value FROM harvested '
            "WHERE workbook = ? AND lea_id = ?",
            (ids[-1], lea_id),
        ).fetchall()
        return {(s, f, c): v for s, f, c, v in rows}

    def current_frame(self, lea_id: str | None = None) -> pd.DataFrame:
        """The ``current`` table (non-empty values) as a frame with :data:`CSV_COLUMNS`, sorted."""
        sql = 'SELECT lea_id, sheet, finding_id, "column", value, updated_at, source FROM current'
        sql += " WHERE value != ''"
        params: tuple[str, ...] = ()
        if lea_id is not None:
            sql += " AND lea_id = ?"
            params = (lea_id,)
        sql += ' ORDER BY lea_id, sheet, finding_id, "column"'
        return pd.DataFrame(self._conn.execute(sql, params).fetchall(), columns=list(CSV_COLUMNS))

    def history_frame(self, lea_id: str | None = None) -> pd.DataFrame:
        """The ``history`` table, oldest first (optionally of one LEA)."""
        cols = [
            "id", "lea_id", "sheet", "finding_id", "column", "value", "recorded_at",
            "source_file", "source_sha256", "command", "kind",
        ]  # fmt: skip
        sql = "SELECT " + ", ".join(f'"{c}"' for c in cols) + " FROM history"
        params: tuple[str, ...] = ()
        if lea_id is not None:
            sql += " WHERE lea_id = ?"
            params = (lea_id,)
        return pd.DataFrame(
            self._conn.execute(sql + " ORDER BY id", params).fetchall(), columns=cols
        )


_LOCKED_MESSAGES = ("database is locked", "database table is locked", "database is busy")
_READ_ONLY_MESSAGES = ("readonly database", "read-only", "unable to open database file")


_FULL_MESSAGES = ("database or disk is full", "disk i/o error")


def _is_locked_or_read_only(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return any(m in text for m in _LOCKED_MESSAGES + _READ_ONLY_MESSAGES + _FULL_MESSAGES)


def _store_error(path: Path, exc: sqlite3.Error) -> AnnotationError:
    """One plain line naming the real cause: locked, read-only, or not a usable store.

    A store that is only locked or read-only is not damaged, so the message must not suggest
    restoring a backup (which would overwrite a good store).
    """
    text = str(exc).lower()
    if any(m in text for m in _LOCKED_MESSAGES):
        message = (
            f"{path}: the annotation store is locked by another program (another cimrca run, "
            f"or a program that has it open) for more than {BUSY_TIMEOUT_SECONDS:g} seconds. "
            "Try again when that program has finished; the store is not damaged."
        )
    elif any(m in text for m in _READ_ONLY_MESSAGES):
        folder_writable = os.access(path.parent, os.W_OK)
        file_writable = not path.exists() or os.access(path, os.W_OK)
        if "unable to open" in text and folder_writable and file_writable:
            message = (
                f"{path}: the annotation store cannot be opened ({exc}). Check the path and its "
                "permissions."
            )
        else:
            message = (
                f"{path}: the annotation store is on a read-only medium or folder ({exc}); it "
                "is not damaged. Copy it to a writable local folder (or make this one "
                "writable) and give that path."
            )
    elif any(m in text for m in _FULL_MESSAGES):
        message = (
            f"{path}: the annotation store could not be written ({exc}): the disk is full or "
            "failing. Free space on it and re-run; the store is not damaged (the unfinished "
            "change was rolled back)."
        )
    else:
        message = (
            f"{path}: not a usable annotation store ({exc}). Check the path; restore the file "
            "from a backup if it was damaged."
        )
    return AnnotationError(message, file=path)


def _workbook_id(path: str | Path, folder: Path) -> str:
    """How a workbook file is named in the ``harvested`` table: relative to ``folder``."""
    target = Path(path).resolve()
    try:
        return Path(os.path.relpath(target, folder.resolve())).as_posix()
    except ValueError:  # pragma: no cover - another drive (Windows): no relative path exists
        return str(target)


# --------------------------------------------------------------------------------------------
# Reading workbooks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cells:
    """Annotation cells of one workbook: every cell present, and the non-empty values."""

    present: frozenset[AnnotationKey]
    values: dict[AnnotationKey, str]


def _cell_text(value: object) -> str:
    """A cell value as text: ISO dates, integral numbers without ``.0``, OOXML escapes decoded."""
    if value is None:
        return ""
    if isinstance(value, str):
        # ECMA-376 Part 1, 22.9.2.19 (ST_Xstring): Excel and xlsxwriter write a control
        # character such as a carriage return as _x000D_, and a literal "_xHHHH_" as
        # "_x005F_xHHHH_". openpyxl already turns "_x005F_" back into "_" but leaves the
        # control escapes, so only those are decoded here (a literal "_x0041_" stays as typed).
        if "_x" in value:
            return _OOXML_CONTROL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == _MIDNIGHT and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _header_index(headers: list[str], columns: tuple[str, ...]) -> dict[str, int]:
    """Where each annotation column sits in a header row, by its display name or its machine
    name (workbooks written before plain headers, cim_workbook.md section 3)."""
    found = {c: next((headers.index(h) for h in header_names(c) if h in headers), None)
             for c in columns}  # fmt: skip
    return {c: at for c, at in found.items() if at is not None}


def _read_cells(data: bytes, path: Path) -> _Cells:
    """Read the annotation cells of a workbook's bytes; :class:`WorkbookError` if unreadable."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # any failure to parse the package means "unreadable"
        raise WorkbookError(
            f"{path}: the workbook cannot be read ({type(exc).__name__}: {exc}). It is corrupted "
            "or not an .xlsx file; restore it from a backup or remove it, then re-run. It was "
            "not replaced.",
            file=path,
        ) from exc
    present: set[AnnotationKey] = set()
    values: dict[AnnotationKey, str] = {}
    try:
        for sheet, columns in ANNOTATION_COLUMNS.items():
            if sheet not in wb.sheetnames:
                continue
            rows = wb[sheet].iter_rows(values_only=True)
            header_at = None
            index: dict[str, int] = {}
            seen: dict[str, int] = {}
            for excel_row, row in enumerate(rows, start=1):
                first = _cell_text(row[0]).strip() if row else ""
                if header_at is None:
                    if first in header_names(KEY_HEADER):
                        header_at = excel_row
                        index = _header_index([_cell_text(v).strip() for v in row], columns)
                    continue
                if not first:
                    continue
                if first in seen:
                    raise WorkbookError(
                        f"{path}, sheet {sheet!r}: finding_id {first!r} appears in rows "
                        f"{seen[first]} and {excel_row}. Keep one of the two rows (move its "
                        "notes into the other), save, and re-run.",
                        file=path,
                        row=excel_row,
                        column=KEY_HEADER,
                    )
                seen[first] = excel_row
                for column, at in index.items():
                    key = (sheet, first, column)
                    present.add(key)
                    text = _cell_text(row[at]) if at < len(row) else ""
                    if text.strip():
                        values[key] = text
            if header_at is None:
                raise WorkbookError(
                    f"{path}, sheet {sheet!r}: no header row with 'Finding ID' in column A, so "
                    "its annotations cannot be found. Restore the header row (or the workbook "
                    "from a backup) and re-run. It was not replaced.",
                    file=path,
                )
    except WorkbookError:
        raise
    except Exception as exc:  # damaged sheet XML shows up only while iterating
        raise WorkbookError(
            f"{path}: the workbook cannot be read ({type(exc).__name__}: {exc}). Restore it from "
            "a backup or remove it, then re-run. It was not replaced.",
            file=path,
        ) from exc
    finally:
        wb.close()
    return _Cells(frozenset(present), values)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WorkbookError(
            f"{path}: the workbook cannot be read ({exc.strerror or exc}). Close it in any other "
            "program, check its permissions, and re-run. It was not replaced.",
            file=path,
        ) from exc


def read_workbook_annotations(path: str | Path) -> dict[AnnotationKey, str]:
    """Read the non-empty annotation cells of a workbook.

    Parameters
    ----------
    path
        An .xlsx workbook following :mod:`cimrca.layout`.

    Returns
    -------
    dict
        ``{(sheet, finding_id, column): text}`` for every non-empty annotation cell. Values are
        text: strings exactly as stored (line breaks, non-ASCII, ``=1+1``), dates as ISO dates,
        integral numbers without ``.0``, ``TRUE``/``FALSE``; a formula reads as its text.

    Raises
    ------
    WorkbookError
        The file cannot be read, is not an .xlsx workbook, or an annotatable sheet has no
        ``finding_id`` header row or a repeated ``finding_id``.

    Notes
    -----
    outputs.md section 4: each annotatable row carries its key in column A under the header
    row whose column A reads ``finding_id``; the annotation columns are named by
    :data:`cimrca.layout.ANNOTATION_COLUMNS`.
    """
    p = Path(path)
    return _read_cells(_read_bytes(p), p).values


def read_workbook_keys(path: str | Path) -> set[tuple[str, str]]:
    """``(sheet, finding_id)`` of every annotatable row of a workbook, empty or not.

    What the harvester sees as the workbook's rows (:func:`read_workbook_annotations` for
    their values).
    """
    p = Path(path)
    return {(sheet, finding) for sheet, finding, _ in _read_cells(_read_bytes(p), p).present}


# --------------------------------------------------------------------------------------------
# Harvest
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    """A value changed both in the store and in a workbook since the workbook was written."""

    lea_id: str
    sheet: str
    finding_id: str
    column: str
    store_value: str
    workbook_value: str
    baseline_value: str
    store_source: str = ""
    detected_at: str = ""

    def __str__(self) -> str:
        source = f" from {self.store_source}" if self.store_source else ""
        return (
            f"conflict {self.lea_id} {self.sheet} {self.finding_id} {self.column}: "
            f"workbook {_clip(self.workbook_value)!r} kept in its cell; the other value "
            f"{_clip(self.store_value)!r}{source} is listed on the workbook's Conflicts sheet "
            f"and in conflicts.csv (both are in the history)"
        )


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class HarvestReport:
    """What one harvest of one LEA's workbook did.

    ``changed`` includes values the consultant cleared. ``error`` is set (and the counts are 0)
    when the workbook could not be read.
    """

    lea_id: str
    workbook: Path
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    conflicts: tuple[Conflict, ...] = ()
    error: str | None = None
    file_state: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the workbook was read."""
        return self.error is None

    def summary(self) -> str:
        """One line: ``LEA: n new, n changed, n unchanged, n conflicts`` (or the failure)."""
        if self.error is not None:
            return f"{self.lea_id}: FAILED - {self.error}"
        n = len(self.conflicts)
        return (
            f"{self.lea_id}: {self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{n} conflict{'s' if n != 1 else ''}"
        )


def _classify(
    cells: _Cells, baseline: Mapping[AnnotationKey, str], current: Mapping[AnnotationKey, str]
) -> pd.DataFrame:
    """One row per annotation cell present in the workbook, with its action (module docstring)."""
    keys = sorted(cells.present)
    frame = pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=object),
            "w": [cells.values.get(k, "") for k in keys],
            "b": [baseline.get(k, "") for k in keys],
            "c": [current.get(k, "") for k in keys],
        }
    )
    w, b, c = frame["w"], frame["b"], frame["c"]
    edited = w != b
    frame["action"] = np.select(
        [~edited | (c == w), c == b],
        ["unchanged", np.where(c == "", "new", "changed")],
        default="conflict",
    )
    # empty cells that stay empty are not "unchanged values"
    frame.loc[(frame["action"] == "unchanged") & (w == ""), "action"] = "empty"
    return frame


def harvest_workbook(
    store: AnnotationStore, lea_id: str, path: str | Path, *, command: str
) -> HarvestReport:
    """Record the consultant's edits in one LEA's workbook into the store.

    Parameters
    ----------
    store
        The annotation store.
    lea_id
        The workbook's LEA.
    path
        The workbook.
    command
        The command recorded in history (e.g. ``"annotations harvest"``, ``"batch"``).

    Returns
    -------
    HarvestReport
        Counts of new, changed and unchanged values and the conflicts.

    Raises
    ------
    WorkbookError
        The workbook cannot be read (nothing is recorded then).

    Notes
    -----
    outputs.md section 5. One transaction; the conflict rule is in the module docstring. The
    workbook's baseline becomes the values just read.
    """
    p = Path(path)
    before = _stat(p)
    data = _read_bytes(p)
    cells = _read_cells(data, p)
    digest = _sha256(data)
    state = {"size": len(data), "mtime_ns": before[1] if before else 0, "sha256": digest}
    source = f"workbook:{p}"
    stamp = _now()
    with store.transaction() as conn:
        ids = store.baseline_ids(p, lea_id)
        sources = {
            (s, f, c): src
            for s, f, c, src in conn.execute(
                'SELECT sheet, finding_id, "column", source FROM current WHERE lea_id = ?',
                (lea_id,),
            )
        }
        frame = _classify(
            cells,
            store.baseline(p, lea_id),
            store.current_values(lea_id, include_cleared=True),
        )
        # a conflict keeps the workbook's value (typed there last) and lists the store's
        apply = frame[frame["action"].isin(["new", "changed", "conflict"])]
        conflicts = frame[frame["action"] == "conflict"]
        history: list[tuple[str, ...]] = []
        for key, value, kind in zip(apply["key"], apply["w"], apply["action"], strict=True):
            if kind != "conflict":
                history.append((lea_id, *key, value, stamp, str(p), digest, command, kind))
        found = [
            Conflict(
                lea_id,
                *key,
                store_value=c,
                workbook_value=w,
                baseline_value=b,
                store_source=sources.get(key, ""),
                detected_at=stamp,
            )  # fmt: skip
            for key, c, w, b in zip(
                conflicts["key"], conflicts["c"], conflicts["w"], conflicts["b"], strict=True
            )
        ]
        for k in found:
            key = (k.sheet, k.finding_id, k.column)
            history.append(
                (lea_id, *key, k.store_value, stamp, str(p), digest, command, "conflict_store")
            )
            history.append(
                (
                    lea_id,
                    *key,
                    k.workbook_value,
                    stamp,
                    str(p),
                    digest,
                    command,
                    "conflict_workbook",
                )
            )
        _append_history(conn, history)
        _upsert_current(
            conn,
            [(lea_id, *k, v, stamp, source) for k, v in zip(apply["key"], apply["w"], strict=True)],
        )
        conn.executemany(
            'INSERT INTO conflicts (lea_id, sheet, finding_id, "column", workbook_value, '
            "store_value, store_source, detected_at, workbook) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    lea_id,
                    k.sheet,
                    k.finding_id,
                    k.column,
                    k.workbook_value,
                    k.store_value,
                    k.store_source,
                    stamp,
                    ids[0],
                )
                for k in found
            ],  # fmt: skip
        )
        _set_baseline(conn, ids, lea_id, cells.values, stamp)
    counts = frame["action"].value_counts()
    return HarvestReport(
        lea_id=lea_id,
        workbook=p,
        new=int(counts.get("new", 0)),
        changed=int(counts.get("changed", 0)),
        unchanged=int(counts.get("unchanged", 0)),
        conflicts=tuple(found),
        file_state=state,
    )


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def check_workbook_unchanged(path: str | Path, state: Mapping[str, Any] | None) -> None:
    """Check that ``path`` is still the workbook a harvest read (``HarvestReport.file_state``).

    Parameters
    ----------
    path
        The workbook about to be replaced.
    state
        ``{"size", "mtime_ns", "sha256"}`` recorded by the harvest, or ``None`` when there was
        no workbook to harvest.

    Raises
    ------
    WorkbookError
        The file was saved (or created) since the harvest: replacing it would lose that edit.
        The caller leaves it as it is and fails the LEA; the next run harvests it.

    Notes
    -----
    outputs.md section 5.1: an edit saved while its LEA is being rebuilt is never lost. Size and
    modification time are the quick check; when either differs, the SHA-256 decides (a file
    touched but not changed may be replaced).
    """
    p = Path(path)
    now = _stat(p)
    if now is None:
        return  # removed meanwhile: nothing in it can be lost
    if state is None:
        changed = True
    elif (now[0], now[1]) == (state.get("size"), state.get("mtime_ns")):
        changed = False
    else:
        try:
            changed = _sha256(p.read_bytes()) != state.get("sha256")
        except OSError:
            changed = True
    if changed:
        when = dt.datetime.fromtimestamp(now[1] / 1e9).strftime("%H:%M:%S")
        raise WorkbookError(
            f"{p}: the workbook was saved at {when}, after this run read its annotations, so it "
            "was not replaced and keeps that edit. Re-run the batch for this LEA to harvest it.",
            file=p,
        )


#: Columns of :func:`open_conflicts` and of ``OUT_DIR/conflicts.csv`` (outputs.md section 5.1).
CONFLICT_COLUMNS: tuple[str, ...] = (
    "lea_id",
    "sheet",
    "finding_id",
    "column",
    "workbook_value",
    "store_value",
    "store_source",
    "detected_at",
)


def open_conflicts(store: AnnotationStore, lea_id: str | None = None) -> pd.DataFrame:
    """The conflicts still to look at: those whose cell has not changed since.

    Parameters
    ----------
    store
        The annotation store.
    lea_id
        One LEA, or every LEA.

    Returns
    -------
    DataFrame
        Columns :data:`CONFLICT_COLUMNS`, oldest first: a conflict is listed while the store's
        current value is still the workbook's value it kept, recorded by that harvest. Once the
        cell changes (the consultant copies the other value in, or writes a third), it is
        resolved and no longer listed; it stays in the ``conflicts`` table and the history.

    Notes
    -----
    outputs.md section 5.1: a conflict never hides a value. The batch writes these rows on the
    ``Conflicts`` sheet of the LEA's workbook and in ``OUT_DIR/conflicts.csv``.
    """
    cols = ", ".join(f'k."{c}"' for c in CONFLICT_COLUMNS)
    sql = (
        f"SELECT {cols} FROM conflicts k JOIN current c ON c.lea_id = k.lea_id AND "
        'c.sheet = k.sheet AND c.finding_id = k.finding_id AND c."column" = k."column" '
        "WHERE c.value = k.workbook_value AND c.updated_at = k.detected_at"
    )
    params: tuple[str, ...] = ()
    if lea_id is not None:
        sql += " AND k.lea_id = ?"
        params = (lea_id,)
    rows = store._conn.execute(sql + " ORDER BY k.id", params).fetchall()
    return pd.DataFrame(rows, columns=list(CONFLICT_COLUMNS), dtype=object)


def write_conflicts_csv(store: AnnotationStore, path: str | Path) -> int:
    """Write :func:`open_conflicts` of every LEA to ``path`` (``OUT_DIR/conflicts.csv``).

    UTF-8 with a byte-order mark, formula-safe like an export, written atomically; a header only
    when there is no conflict. Returns the number of rows.
    """
    frame = open_conflicts(store)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(frame.columns)
    writer.writerows(
        [formula_safe(str(v)) for v in row] for row in frame.itertuples(index=False, name=None)
    )
    atomic_write_bytes(Path(path), buf.getvalue().encode("utf-8-sig"))
    return len(frame)


def _append_history(conn: sqlite3.Connection, rows: list[tuple[str, ...]]) -> None:
    conn.executemany(
        'INSERT INTO history (lea_id, sheet, finding_id, "column", value, recorded_at, '
        "source_file, source_sha256, command, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _upsert_current(conn: sqlite3.Connection, rows: list[tuple[str, ...]]) -> None:
    conn.executemany(
        'INSERT INTO current (lea_id, sheet, finding_id, "column", value, updated_at, source) '
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        'ON CONFLICT (lea_id, sheet, finding_id, "column") DO UPDATE SET '
        "value = excluded.value, updated_at = excluded.updated_at, source = excluded.source",
        rows,
    )


def _set_baseline(
    conn: sqlite3.Connection,
    ids: tuple[str, ...],
    lea_id: str,
    values: Mapping[AnnotationKey, str],
    stamp: str,
) -> None:
    """Record ``values`` under ``ids[0]`` (:meth:`AnnotationStore.baseline_ids`); drop the rest."""
    wid = ids[0]
    for old in ids:
        conn.execute("DELETE FROM harvested WHERE workbook = ? AND lea_id = ?", (old, lea_id))
    conn.executemany(
        'INSERT INTO harvested (workbook, lea_id, sheet, finding_id, "column", value, '
        "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(wid, lea_id, *k, v, stamp) for k, v in values.items()],
    )


def workbook_path(out_dir: str | Path, lea_id: str) -> Path:
    """The workbook of ``lea_id`` in output folder ``out_dir`` (outputs.md section 3)."""
    from .outputs import OutputLayout

    return OutputLayout(Path(out_dir)).lea(lea_id).workbook


def harvest_out_dir(
    out_dir: str | Path, store: AnnotationStore, *, command: str = "annotations harvest"
) -> list[HarvestReport]:
    """Harvest every ``OUT_DIR/leas/<lea_id>/<lea_id>_workbook.xlsx``, in LEA order.

    A workbook that cannot be read gives a report with ``error`` set; the others are still
    harvested (one transaction each).
    """
    from .outputs import OutputLayout

    leas_dir = OutputLayout(Path(out_dir)).leas_folder
    if not leas_dir.is_dir():
        return []
    reports = []
    for folder in sorted(p for p in leas_dir.iterdir() if p.is_dir()):
        path = workbook_path(out_dir, folder.name)
        if not path.is_file():
            continue
        try:
            reports.append(harvest_workbook(store, folder.name, path, command=command))
        except WorkbookError as exc:
            reports.append(HarvestReport(lea_id=folder.name, workbook=path, error=str(exc)))
    return reports


# --------------------------------------------------------------------------------------------
# Writing back: current values, previous notes, orphans, baseline
# --------------------------------------------------------------------------------------------


def annotations_for(store: AnnotationStore, lea_id: str) -> dict[AnnotationKey, str]:
    """Current non-empty values of one LEA, ``{(sheet, finding_id, column): value}``."""
    return store.current_values(lea_id)


def stored_annotations(store: AnnotationStore, lea_id: str) -> pd.DataFrame:
    """Current non-empty values of one LEA with their history as text.

    Returns
    -------
    DataFrame
        Columns :data:`STORED_COLUMNS`; ``history`` has one line per history row of the key,
        oldest first: ``recorded_at kind 'value' (source_file)``.
    """
    cur = store.current_frame(lea_id)
    hist = store.history_frame(lea_id)
    keys = ["lea_id", "sheet", "finding_id", "column"]
    if hist.empty:
        return cur.assign(history="")
    hist = hist.assign(
        line=hist["recorded_at"]
        + " "
        + hist["kind"]
        + " "
        + hist["value"].map(repr)
        + " ("
        + hist["source_file"]
        + ")"
    )
    text = hist.groupby(keys, sort=False)["line"].agg("\n".join).rename("history").reset_index()
    out = cur.merge(text, on=keys, how="left")
    out["history"] = out["history"].fillna("")
    return out[list(STORED_COLUMNS)]


def _year_of(finding_ids: pd.Series) -> pd.Series:
    return finding_ids.str.split(":", n=1).str[0]


def split_orphans(
    stored: pd.DataFrame, current_keys: Iterable[tuple[str, str]]
) -> tuple[dict[AnnotationKey, str], pd.DataFrame]:
    """Split stored annotations into those the regenerated workbook has rows for, and orphans.

    Parameters
    ----------
    stored
        :func:`stored_annotations` of one LEA.
    current_keys
        ``(sheet, finding_id)`` of every annotatable row of the regenerated workbook.

    Returns
    -------
    matching : dict
        ``{(sheet, finding_id, column): value}`` to write into the annotation cells.
    orphans : DataFrame
        Columns :data:`ORPHAN_COLUMNS`: every other stored annotation, with ``reason``
        (:data:`REASON_EARLIER_YEAR` when its finding's school year is before the workbook's
        latest, else :data:`REASON_GONE`) and its history. Never dropped: shown on the
        ``Orphaned annotations`` sheet (outputs.md section 5).
    """
    keys = pd.DataFrame(list(current_keys), columns=["sheet", "finding_id"]).drop_duplicates()
    merged = stored.merge(keys.assign(_in=True), on=["sheet", "finding_id"], how="left")
    found = merged["_in"].eq(True)
    match_rows = merged[found]
    matching = {
        (s, f, c): v
        for s, f, c, v in zip(
            match_rows["sheet"],
            match_rows["finding_id"],
            match_rows["column"],
            match_rows["value"],
            strict=True,
        )
    }
    orphans = merged[~found].drop(columns="_in").reset_index(drop=True)
    latest = _year_of(keys["finding_id"]).max() if len(keys) else None
    earlier = _year_of(orphans["finding_id"]) < latest if latest is not None else False
    orphans["reason"] = np.where(earlier, REASON_EARLIER_YEAR, REASON_GONE)
    return matching, orphans[list(ORPHAN_COLUMNS)]


def previous_notes_for(
    store: AnnotationStore, lea_id: str, finding_ids: Iterable[str]
) -> dict[str, str]:
    """The latest earlier school year's status and note for each finding's category and group.

    Parameters
    ----------
    store
        The annotation store.
    lea_id
        The LEA.
    finding_ids
        Keys ``<school_year>:<category>:<race_ethnicity>`` (or ``<school_year>:indicator:<code>``)
        of the regenerated workbook; other keys are ignored.

    Returns
    -------
    dict
        ``{finding_id: "2023-24 - Confirmed: note text"}`` for findings with an earlier year's
        review (``"2023-24: note"`` without a status, ``"2023-24 - Confirmed"`` without a note).
        A year whose only entry is the status "Not reviewed" does not count.

    Notes
    -----
    README decision 8 and outputs.md section 4: annotations belong to a school year's finding;
    the latest earlier year's review shows beside the new row, read-only.
    """
    wanted = pd.DataFrame({"finding_id": pd.Series(list(finding_ids), dtype=object)})
    cur = store.current_frame(lea_id)
    cur = cur[
        cur["sheet"].isin(PREVIOUS_NOTE_SHEETS) & cur["column"].isin([STATUS_COLUMN, NOTE_COLUMN])
    ]
    if cur.empty or wanted.empty:
        return {}
    parts = cur["finding_id"].str.split(":", n=1, expand=True).reindex(columns=[0, 1])
    cur = cur.assign(year=parts[0], rest=parts[1])
    reviews = (
        cur.pivot_table(index=["year", "rest"], columns="column", values="value", aggfunc="first")
        .reindex(columns=[STATUS_COLUMN, NOTE_COLUMN], fill_value="")
        .fillna("")
        .reset_index()
    )
    meaningful = (reviews[NOTE_COLUMN] != "") | ~reviews[STATUS_COLUMN].isin(
        ["", UNREVIEWED_STATUS]
    )
    reviews = reviews[meaningful & reviews["rest"].notna()]
    wparts = wanted["finding_id"].str.split(":", n=1, expand=True).reindex(columns=[0, 1])
    wanted = wanted.assign(this_year=wparts[0], rest=wparts[1]).dropna(subset=["rest"])
    pairs = wanted.merge(reviews, on="rest")
    pairs = pairs[pairs["year"] < pairs["this_year"]]
    if pairs.empty:
        return {}
    latest = pairs.sort_values(["finding_id", "year"]).groupby("finding_id").tail(1)
    status_part = np.where(latest[STATUS_COLUMN] != "", " - " + latest[STATUS_COLUMN], "")
    note_part = np.where(latest[NOTE_COLUMN] != "", ": " + latest[NOTE_COLUMN], "")
    text = latest["year"] + status_part + note_part
    return dict(zip(latest["finding_id"], text, strict=True))


def record_written(
    store: AnnotationStore, lea_id: str, path: str | Path, values: Mapping[AnnotationKey, str]
) -> None:
    """Set the baseline of workbook ``path``: it was (re)generated with ``values`` written in.

    Notes
    -----
    The next harvest of ``path`` treats a cell that still holds its baseline value as not
    edited (module docstring), so a value changed meanwhile in the store is not overwritten.
    """
    with store.transaction() as conn:
        _set_baseline(conn, store.baseline_ids(path, lea_id), lea_id, values, _now())


def _lock_files(path: Path) -> list[Path]:
    return [
        path.parent / pattern.format(name=path.name)
        for pattern in LOCK_FILE_PATTERNS
        if (path.parent / pattern.format(name=path.name)).exists()
    ]


@dataclass(frozen=True)
class Rewrite:
    """What to write into an LEA's regenerated workbook (from :func:`prepare_rewrite`).

    ``annotations``, ``previous_notes`` and ``orphans`` are the keyword arguments of
    ``cimrca.workbook.write_workbook``; ``harvest`` is the report of the harvest of the old
    workbook (``None`` when there was none).
    """

    lea_id: str
    workbook: Path
    annotations: dict[AnnotationKey, str]
    previous_notes: dict[str, str]
    orphans: pd.DataFrame = field(repr=False)
    harvest: HarvestReport | None
    conflicts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(CONFLICT_COLUMNS), dtype=object),
        repr=False,
    )


def prepare_rewrite(
    store: AnnotationStore,
    lea_id: str,
    workbook_path: str | Path,
    current_keys: Iterable[tuple[str, str]],
    *,
    command: str = "batch",
) -> Rewrite:
    """Before regenerating an LEA's workbook: harvest the old one, collect what to write back.

    Parameters
    ----------
    store
        The annotation store.
    lea_id
        The LEA.
    workbook_path
        The workbook about to be replaced (it need not exist yet).
    current_keys
        ``(sheet, finding_id)`` of every annotatable row of the workbook about to be written.
    command
        Recorded in history.

    Returns
    -------
    Rewrite
        Stored values for the new workbook's rows, previous notes, orphans, harvest report.

    Raises
    ------
    WorkbookError
        The old workbook is open in a spreadsheet program (its lock file is there) or cannot be
        read. The caller must then not replace it and reports the LEA as failed with this
        message (outputs.md section 5).

    Notes
    -----
    The batch, per LEA (``write_workbook`` writes atomically itself)::

        keys = workbook_keys(inputs)
        rewrite = prepare_rewrite(store, lea, path, keys)   # WorkbookError: LEA failed
        write_workbook(path, inputs, annotations=rewrite.annotations,
                       previous_notes=rewrite.previous_notes, orphans=rewrite.orphans)
        finish_rewrite(store, lea, path, rewrite)
    """
    path = Path(workbook_path)
    keys = list(current_keys)
    report = None
    if path.exists():
        locks = _lock_files(path)
        if locks:
            raise WorkbookError(
                f"{path}: the workbook is open in another program (lock file {locks[0].name}). "
                "Save and close it, then re-run; if no program has it open, delete the lock "
                "file. It was not replaced.",
                file=path,
                lea_id=lea_id,
            )
        report = harvest_workbook(store, lea_id, path, command=command)
    matching, orphans = split_orphans(stored_annotations(store, lea_id), keys)
    previous = previous_notes_for(store, lea_id, [f for s, f in keys if s in PREVIOUS_NOTE_SHEETS])
    return Rewrite(
        lea_id=lea_id,
        workbook=path,
        annotations=matching,
        previous_notes=previous,
        orphans=orphans,
        harvest=report,
        conflicts=open_conflicts(store, lea_id),
    )


def finish_rewrite(
    store: AnnotationStore, lea_id: str, workbook_path: str | Path, rewrite: Rewrite
) -> list[AnnotationKey]:
    """After the regenerated workbook is in place: read it back and record its baseline.

    Returns
    -------
    list of tuple
        Keys whose value in the new workbook differs from ``rewrite.annotations`` (empty when
        the writer wrote every stored value exactly; anything else is a writer bug to report).
        The baseline is what the workbook really holds, so such a difference is never
        mistaken for a consultant's edit.

    Raises
    ------
    WorkbookError
        The new workbook cannot be read.
    """
    written = read_workbook_annotations(workbook_path)
    record_written(store, lea_id, workbook_path, written)
    keys = set(written) | set(rewrite.annotations)
    return sorted(k for k in keys if written.get(k) != rewrite.annotations.get(k))


# --------------------------------------------------------------------------------------------
# Hand-over to the packet notebook (the batch's ``annotations_json``)
# --------------------------------------------------------------------------------------------


def annotations_payload(rewrite: Rewrite) -> dict[str, Any]:
    """The ``annotations_json`` content for one LEA, from :func:`prepare_rewrite`.

    ``{"annotations": [[sheet, finding_id, column, value], ...], "previous_notes": {...},
    "orphans": [record, ...]}``; the batch's parent process writes it before the notebook runs
    and records the workbook's baseline after.
    """
    orphans = rewrite.orphans.astype(object).where(rewrite.orphans.notna(), None)
    return {
        "annotations": [[s, f, c, v] for (s, f, c), v in sorted(rewrite.annotations.items())],
        "previous_notes": dict(sorted(rewrite.previous_notes.items())),
        "orphans": orphans.to_dict("records"),
        "conflicts": rewrite.conflicts.astype(object).to_dict("records"),
        "harvested_file": rewrite.harvest.file_state if rewrite.harvest is not None else None,
    }


def read_handover_checks(
    path: str | Path,
) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The conflicts to list and the harvested file's state, from an ``annotations_json`` file.

    Returns
    -------
    conflicts : DataFrame
        Columns :data:`CONFLICT_COLUMNS` (none in a file of an earlier version).
    harvested_file : dict or None
        ``{"size", "mtime_ns", "sha256"}`` of the workbook the batch harvested, ``None`` when
        there was none (:func:`check_workbook_unchanged`).

    Raises
    ------
    AnnotationError
        The file is missing or not JSON (as :func:`read_annotations_json`).
    """
    file = Path(path)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(
            f"{file}: cannot read the annotations file ({exc}). Re-run the batch.", file=file
        ) from None
    records = raw.get("conflicts", []) if isinstance(raw, dict) else []
    conflicts = pd.DataFrame.from_records(records or [], columns=list(CONFLICT_COLUMNS))
    state = raw.get("harvested_file") if isinstance(raw, dict) else None
    return conflicts.astype(object), state if isinstance(state, dict) else None


def write_annotations_json(rewrite: Rewrite, path: str | Path) -> Path:
    """Write :func:`annotations_payload` of ``rewrite`` to ``path``, atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps(annotations_payload(rewrite), indent=1) + "\n")
    return target


def read_annotations_json(
    path: str | Path,
) -> tuple[dict[AnnotationKey, str], dict[str, str], pd.DataFrame]:
    """Read an ``annotations_json`` file: annotations, previous notes and orphans.

    Raises
    ------
    AnnotationError
        The file is missing, not JSON, or not of the layout :func:`annotations_payload` writes.
    """
    file = Path(path)

    def fail(what: str) -> AnnotationError:
        return AnnotationError(
            f"{file}: {what}. The batch writes this file; re-run the batch, or give "
            "annotations_db instead.",
            file=file,
        )

    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail("the annotations file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise fail(f"not a JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise fail("expected a JSON object with keys annotations, previous_notes and orphans")
    items = raw.get("annotations", [])
    if not isinstance(items, list) or any(
        not isinstance(i, list) or len(i) != 4 or not all(isinstance(x, str) for x in i)
        for i in items
    ):
        raise fail('"annotations" must be a list of [sheet, finding_id, column, value] texts')
    previous = raw.get("previous_notes", {})
    if not isinstance(previous, dict):
        raise fail('"previous_notes" must be an object of finding_id: text')
    records = raw.get("orphans", [])
    if not isinstance(records, list) or any(not isinstance(r, dict) for r in records):
        raise fail('"orphans" must be a list of records')
    orphans = pd.DataFrame.from_records(records, columns=list(ORPHAN_COLUMNS)) if records else None
    return (
        {(s, f, c): v for s, f, c, v in items},
        {str(k): str(v) for k, v in previous.items()},
        orphans
        if orphans is not None
        else pd.DataFrame({c: pd.Series(dtype=object) for c in ORPHAN_COLUMNS}),
    )


# --------------------------------------------------------------------------------------------
# CSV export and import
# --------------------------------------------------------------------------------------------


#: Characters that make a spreadsheet program read a cell as a formula (OWASP "CSV injection"),
#: and the apostrophe that neutralises them. A value that really begins with an apostrophe gets
#: one too, so that import, which removes one leading apostrophe, gives back every value exactly.
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
FORMULA_ESCAPE = "'"
#: Columns of ``annotations export --history``: every value ever recorded, oldest first.
HISTORY_CSV_COLUMNS: tuple[str, ...] = (
    "lea_id",
    "sheet",
    "finding_id",
    "column",
    "value",
    "recorded_at",
    "kind",
    "command",
    "source_file",
    "source_sha256",
)


def formula_safe(value: str) -> str:
    """``value`` as an export writes it: a leading apostrophe before a formula-like start.

    Examples
    --------
    >>> formula_safe("=1+1"), formula_safe("-5"), formula_safe("'quoted"), formula_safe("ok")
    ("'=1+1", "'-5", "''quoted", 'ok')
    """
    if value.startswith(FORMULA_PREFIXES + (FORMULA_ESCAPE,)):
        return FORMULA_ESCAPE + value
    return value


def formula_unsafe(value: str) -> str:
    """The inverse of :func:`formula_safe`: one leading apostrophe removed."""
    return value[1:] if value.startswith(FORMULA_ESCAPE) else value


def _export_frame(store: AnnotationStore, history: bool) -> pd.DataFrame:
    if not history:
        return store.current_frame()
    frame = store.history_frame()
    return frame[list(HISTORY_CSV_COLUMNS)]


def _check_export_target(path: Path) -> None:
    if path.is_dir():
        raise AnnotationError(
            f"{path}: is a folder. Give a file name for the export, such as {path / 'notes.csv'}.",
            file=path,
        )
    if not path.parent.is_dir():
        raise AnnotationError(
            f"{path}: the folder {path.parent} does not exist. Create it first or give another "
            "path.",
            file=path,
        )


def export_csv(store: AnnotationStore, path: str | Path, *, history: bool = False) -> int:
    """Write the store's current non-empty values to ``path`` (columns :data:`CSV_COLUMNS`).

    Parameters
    ----------
    store
        The annotation store.
    path
        The CSV to write: UTF-8 with a byte-order mark (so spreadsheet programs detect it),
        written atomically.
    history
        Write every value ever recorded (columns :data:`HISTORY_CSV_COLUMNS`, oldest first)
        instead of the current values.

    Returns
    -------
    int
        The number of rows.

    Raises
    ------
    AnnotationError
        ``path`` is a folder, or its folder does not exist.

    Notes
    -----
    outputs.md section 5.1: every cell is made formula-safe (:func:`formula_safe`), so opening
    the file in a spreadsheet program runs nothing; :func:`import_csv` removes the apostrophe,
    so the round trip is exact.
    """
    target = Path(path)
    _check_export_target(target)
    frame = _export_frame(store, history)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(frame.columns)
    writer.writerows(
        [formula_safe(str(v)) for v in row] for row in frame.itertuples(index=False, name=None)
    )
    _write_export(target, buf.getvalue().encode("utf-8-sig"))
    return len(frame)


def export_xlsx(store: AnnotationStore, path: str | Path, *, history: bool = False) -> int:
    """Write the annotations to an .xlsx workbook whose cells are all text.

    Every cell is a string with the text number format ``@``, so a value such as ``007``,
    ``1/2``, ``1.50`` or ``=1+1`` stays exactly as stored when the file is opened, edited and
    saved in a spreadsheet program (nothing is read as a number, a date or a formula). Columns
    and ``history`` as :func:`export_csv`; written atomically.

    Returns
    -------
    int
        The number of rows.
    """
    import xlsxwriter

    target = Path(path)
    _check_export_target(target)
    frame = _export_frame(store, history)
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False})
    text = wb.add_format({"num_format": "@"})
    ws = wb.add_worksheet("history" if history else "annotations")
    for col, name in enumerate(frame.columns):
        ws.set_column(col, col, 60 if name == "value" else 18, text)
        ws.write_string(0, col, name, text)
    for r, row in enumerate(frame.itertuples(index=False, name=None), start=1):
        for col, value in enumerate(row):
            ws.write_string(r, col, str(value), text)
    ws.freeze_panes(1, 0)
    wb.close()
    _write_export(target, buf.getvalue())
    return len(frame)


def _write_export(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise AnnotationError(
            f"{path}: cannot write the export ({exc.strerror or exc}). Check that the folder is "
            "writable and has free space.",
            file=path,
        ) from None


def _valid_csv_rows(
    path: Path,
    *,
    known_leas: frozenset[str] | None = None,
    where_known: str = "",
    stored: Mapping[tuple[str, ...], str] | None = None,
) -> list[dict[str, str]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read the CSV ({exc}).", file=path) from exc
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{path}: not UTF-8 text ({exc}). Save the CSV as UTF-8 and import again.", file=path
        ) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in _CSV_REQUIRED if c not in header]
    if missing:
        raise AnnotationError(
            f"{path}: the header lacks column(s) {missing}; found {header}. An annotations CSV "
            f"has the columns {list(CSV_COLUMNS)} (write one with `cimrca annotations export`).",
            file=path,
            row=1,
        )
    problems: list[Problem] = []
    rows: list[dict[str, str]] = []
    seen: dict[tuple[str, ...], int] = {}
    for excel_row, raw in enumerate(reader, start=2):
        row = {c: formula_unsafe(raw.get(c) or "") for c in _CSV_REQUIRED}

        def bad(column: str, message: str, fix: str, _r: int = excel_row, _v: dict = row) -> None:
            problems.append(Problem(str(path), _r, column, _v[column], message, fix))

        if None in raw:
            problems.append(
                Problem(
                    str(path),
                    excel_row,
                    None,
                    None,
                    "the row has more fields than the header",
                    "Quote values that contain commas.",
                )  # fmt: skip
            )
        if not LEA_ID_PATTERN.match(row["lea_id"]):
            bad("lea_id", "not a 7-digit CDE LEA code", "Use the lea_id of leas.csv.")
        elif known_leas is not None and row["lea_id"] not in known_leas:
            bad("lea_id", f"LEA is not in {where_known}", "Check the code against leas.csv.")
        if row["sheet"] not in ANNOTATION_COLUMNS:
            bad("sheet", "not an annotatable sheet", f"Use one of {list(ANNOTATION_COLUMNS)}.")
        elif row["column"] not in ANNOTATION_COLUMNS[row["sheet"]]:
            bad(
                "column",
                f"not an annotation column of sheet {row['sheet']!r}",
                f"Use one of {list(ANNOTATION_COLUMNS[row['sheet']])}.",
            )
        if not row["finding_id"].strip():
            bad("finding_id", "empty", "Give the row's finding_id as in the workbook's column A.")
        elif row["sheet"] in KEY_PATTERNS and not KEY_PATTERNS[row["sheet"]].fullmatch(
            row["finding_id"]
        ):
            bad(
                "finding_id",
                f"not a finding key of sheet {row['sheet']!r}",
                f"Copy it from the workbook's column A; its shape is {KEY_SHAPES[row['sheet']]}.",
            )
        if not row["value"].strip():
            bad("value", "empty", "Leave the row out; clear a note in the workbook instead.")
        elif (
            row["column"] == STATUS_COLUMN
            and row["value"] not in STATUS_CHOICES
            # a status typed outside the list in a workbook is stored as typed (never lost); its
            # export imports back unchanged, so an export still round-trips exactly
            and (stored or {}).get(tuple(row[c] for c in _CSV_REQUIRED[:4])) != row["value"]
        ):
            bad(
                "value", "not a status of the drop-down list", f"Use one of {list(STATUS_CHOICES)}."
            )
        elif row["column"] == REVIEWED_ON_COLUMN and not _is_date(row["value"]):
            bad("value", "reviewed_on is not a date", "Write the date as YYYY-MM-DD.")
        key = tuple(row[c] for c in _CSV_REQUIRED[:4])
        if key in seen:
            bad("finding_id", f"the same key is also in row {seen[key]}", "Keep one row per key.")
        seen[key] = excel_row
        rows.append(row)
    if problems:
        lines = [f"{len(problems)} problem(s) in the annotations CSV; nothing was imported:"]
        lines += [f"  {p}" for p in problems]
        raise AnnotationError("\n".join(lines), file=path, row=problems[0].row)
    return rows


def _is_date(text: str) -> bool:
    """An ISO date or date-time (what a harvest records for a date cell)."""
    try:
        dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def known_leas(store: AnnotationStore) -> frozenset[str]:
    """The LEAs a store knows: those with a value, a history row or a workbook baseline, and
    those with a workbook folder beside it (``OUT_DIR/leas/<lea_id>/`` for the default store
    ``OUT_DIR/annotations.sqlite``), whose workbooks may hold no note yet."""
    rows = store._conn.execute(
        "SELECT lea_id FROM current UNION SELECT lea_id FROM history "
        "UNION SELECT lea_id FROM harvested"
    ).fetchall()
    known = {r[0] for r in rows}
    from .outputs import OutputLayout

    folder = OutputLayout(store.path.parent).leas_folder
    if folder.is_dir():
        known.update(p.name for p in folder.iterdir() if LEA_ID_PATTERN.match(p.name))
    return frozenset(known)


def dataset_leas(data_dir: str | Path) -> frozenset[str]:
    """The ``lea_id`` column of ``DATA_DIR/leas.csv`` (read as text, leading zeros kept).

    Raises
    ------
    AnnotationError
        The file is missing or has no ``lea_id`` column.
    """
    path = Path(data_dir) / "leas.csv"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["lea_id"])
    except (OSError, ValueError) as exc:
        raise AnnotationError(
            f"{path}: cannot read the LEAs of the data set ({exc}). Give the data set's folder.",
            file=path,
        ) from None
    return frozenset(frame["lea_id"].str.strip())


@dataclass(frozen=True)
class ImportReport:
    """Counts of an import: values new to the store, changed, and already equal."""

    new: int
    changed: int
    unchanged: int


def import_csv(
    store: AnnotationStore,
    path: str | Path,
    *,
    command: str = "annotations import",
    data_leas: Iterable[str] | None = None,
) -> ImportReport:
    """Load annotations from a CSV written by :func:`export_csv`.

    Parameters
    ----------
    store
        The annotation store.
    path
        The CSV (UTF-8, with or without byte-order mark; columns :data:`CSV_COLUMNS`,
        ``updated_at`` and ``source`` optional and ignored).
    command
        Recorded in history.
    data_leas
        The LEAs of the data set (:func:`dataset_leas`); an LEA outside them is refused.

    Raises
    ------
    AnnotationError
        The header lacks a column, or rows are bad (every one is listed with file, row, column,
        value and what to do); nothing is imported then. Refused, besides malformed rows: a
        status outside :data:`~cimrca.layout.STATUS_CHOICES`, a ``reviewed_on`` that is not an
        ISO date, a ``finding_id`` not of its sheet's shape (:data:`~cimrca.layout.KEY_PATTERNS`),
        an LEA the store does not know (when it knows any) or that ``data_leas`` lacks.

    Notes
    -----
    Values are text exactly as in the file, but for one leading apostrophe, which is removed
    (:func:`formula_safe`, outputs.md section 5.1). Kept simple: an imported value that differs from the store's current value becomes current
    with source ``import:FILE`` and a history row of kind ``import``; an equal value changes
    nothing. Workbooks then see the store's change: a workbook cell edited since it was written
    conflicts with it at the next harvest (module docstring), and the imported value is kept.
    """
    p = Path(path)
    allowed, places = set(known_leas(store)), ["the store"]
    if data_leas is not None:
        allowed |= set(data_leas)
        places.append("the data set's leas.csv")
    # A new store (a restore from an export) knows no LEA yet: then only the data set counts.
    checked = frozenset(allowed) if allowed or data_leas is not None else None
    now = store.current_frame()
    stored = dict(
        zip(map(tuple, now[list(_CSV_REQUIRED[:4])].to_numpy()), now["value"], strict=True)
    )
    rows = _valid_csv_rows(
        p, known_leas=checked, where_known=" nor in ".join(places), stored=stored
    )
    data = p.read_bytes()
    digest, stamp, source = _sha256(data), _now(), f"import:{p}"
    new = changed = unchanged = 0
    with store.transaction() as conn:
        current = dict(
            ((lea, s, f, c), v)
            for lea, s, f, c, v in conn.execute(
                'SELECT lea_id, sheet, finding_id, "column", value FROM current'
            )
        )
        history, upserts = [], []
        for row in rows:
            key = tuple(row[c] for c in _CSV_REQUIRED[:4])
            old = current.get(key, "")
            if old == row["value"]:
                unchanged += 1
                continue
            new, changed = (new + 1, changed) if old == "" else (new, changed + 1)
            history.append((*key, row["value"], stamp, str(p), digest, command, "import"))
            upserts.append((*key, row["value"], stamp, source))
        _append_history(conn, history)
        _upsert_current(conn, upserts)
    return ImportReport(new=new, changed=changed, unchanged=unchanged)


# --------------------------------------------------------------------------------------------
# Command-line handlers (called by cimrca.cli)
# --------------------------------------------------------------------------------------------


def harvest_cli(args: argparse.Namespace) -> int:
    """``cimrca annotations harvest OUT_DIR [--annotations DB]``.

    Prints per-LEA counts and every conflict; exit status 0, or 1 when a workbook could not be
    read (the others are still harvested).
    """
    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: no such output folder. Give the --out folder of a batch.")
    db = (
        Path(args.annotations)
        if getattr(args, "annotations", None)
        else out_dir / DEFAULT_STORE_NAME
    )
    with AnnotationStore(db) as store:
        reports = harvest_out_dir(out_dir, store)
    if not reports:
        print(f"no workbooks found under {out_dir / 'leas'}")
        return 0
    for report in reports:
        print(report.summary())
        for conflict in report.conflicts:
            print(f"  {conflict}")
    failed = [r for r in reports if not r.ok]
    totals = [sum(getattr(r, n) for r in reports) for n in ("new", "changed", "unchanged")]
    n_conflicts = sum(len(r.conflicts) for r in reports)
    print(
        f"harvested {len(reports) - len(failed)} of {len(reports)} workbook(s) into {db}: "
        f"{totals[0]} new, {totals[1]} changed, {totals[2]} unchanged, {n_conflicts} conflict(s)"
    )
    if failed:
        print(f"{len(failed)} workbook(s) could not be read", file=sys.stderr)
        return 1
    return 0


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _refuse_export_target(target: Path, db: Path) -> None:
    """An export never replaces the store, another SQLite file or a packet's workbook."""
    if target.exists() and db.exists() and target.resolve() == db.resolve():
        raise UsageError(f"{target} is the annotation store itself; export to another file.")
    if target.is_file():
        with target.open("rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                raise UsageError(
                    f"{target} is a SQLite database (an annotation store?); an export would "
                    "replace it. Export to another file."
                )
        if target.name.endswith("_workbook.xlsx"):
            raise UsageError(
                f"{target} is a packet's root-cause workbook; an export would replace it and the "
                "notes typed in it. Export to another file."
            )


def export_cli(args: argparse.Namespace) -> int:
    """``cimrca annotations export DB (--csv FILE | --xlsx FILE) [--history]`` (atomic)."""
    history = bool(getattr(args, "history", False))
    csv_path, xlsx_path = getattr(args, "csv", None), getattr(args, "xlsx", None)
    if (csv_path is None) == (xlsx_path is None):
        raise UsageError("give one of --csv FILE or --xlsx FILE.")
    _refuse_export_target(Path(csv_path or xlsx_path), Path(args.db))
    with AnnotationStore(args.db, create=False) as store:
        if csv_path is not None:
            n, target = export_csv(store, csv_path, history=history), csv_path
        else:
            n, target = export_xlsx(store, xlsx_path, history=history), xlsx_path
    what = "history row(s)" if history else "annotation(s)"
    print(f"wrote {n} {what} to {target}")
    return 0


def import_cli(args: argparse.Namespace) -> int:
    """``cimrca annotations import DB --csv FILE [--create] [--data DATA_DIR]``.

    Exit 2 with every bad row listed; a store that does not exist needs ``--create``.
    """
    db = Path(args.db)
    if not db.is_file() and not getattr(args, "create", False):
        raise UsageError(
            f"{db}: no annotation store there. Check the path, or add --create to start a new "
            "store at that path."
        )
    data = getattr(args, "data", None)
    data_leas = dataset_leas(data) if data else None
    with AnnotationStore(db) as store:
        report = import_csv(store, args.csv, data_leas=data_leas)
    print(
        f"imported {args.csv} into {args.db}: {report.new} new, {report.changed} changed, "
        f"{report.unchanged} unchanged"
    )
    return 0
