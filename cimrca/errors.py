"""The exception hierarchy. Every user-facing error is a :class:`CimrcaError`.

The command line turns a ``CimrcaError`` into plain lines on stderr and exit status 2 (or the
error's own ``exit_status``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CimrcaError",
    "Problem",
    "DataValidationError",
    "ProfileError",
    "ImportError_",
    "UsageError",
    "WorkbookError",
    "AnnotationError",
]


class CimrcaError(Exception):
    """Base class of every error caused by input or usage rather than by a bug.

    Attributes ``file``, ``row``, ``column`` and ``lea_id`` are set where they apply.
    """

    exit_status: int = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        lea_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        self.lea_id = lea_id

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    ``row`` is the row as a spreadsheet numbers it (the header is row 1), or ``None`` when the
    problem concerns the whole file or a column.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        value = "" if self.value is None else f" (value {self.value!r})"
        return f"{where}: {self.message}{value}. {self.fix}"


class DataValidationError(CimrcaError):
    """A data set failed validation; ``problems`` lists every problem found, file by file."""

    #: how many problems of one kind in one file are printed before they are summarised
    max_shown_per_kind = 10

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        super().__init__(
            self._render(),
            file=first.file if first else None,
            row=first.row if first else None,
            column=first.column if first else None,
        )

    def _render(self) -> str:
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} found in the data set:"]
        shown: dict[tuple[str, str], int] = {}
        hidden: dict[tuple[str, str], int] = {}
        for p in self.problems:
            kind = (p.file, p.message)
            if shown.get(kind, 0) < self.max_shown_per_kind:
                shown[kind] = shown.get(kind, 0) + 1
                lines.append(f"  {p}")
            else:
                hidden[kind] = hidden.get(kind, 0) + 1
        for (file, message), count in hidden.items():
            lines.append(f"  {file}: ... and {count:,} more rows where {message}")
        return "\n".join(lines)


class ProfileError(CimrcaError):
    """A state profile is missing, malformed or has an invalid value."""


class ImportError_(CimrcaError):  # noqa: N801 - avoids shadowing the builtin ImportError
    """A real public file could not be imported (unrecognised layout, conflicting values)."""


class UsageError(CimrcaError):
    """The command line was used wrongly (unknown LEA, bad shard, missing option)."""


class WorkbookError(CimrcaError):
    """A workbook could not be read or written (open elsewhere, corrupted)."""

    exit_status = 1


class AnnotationError(CimrcaError):
    """The annotation store or an annotations CSV is unusable."""
