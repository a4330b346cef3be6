"""The workbook's fixed layout: sheet names, keys and annotation columns.

This is the contract between :mod:`cimrca.workbook` (which writes workbooks) and
:mod:`cimrca.annotations` (which reads consultants' edits back and writes them into regenerated
workbooks). outputs.md section 4 fixes the sheet names and keys.

In every annotatable sheet one row is the header row: its column A reads ``finding_id``. Each row
below it whose column A holds a key is an annotatable row; the annotation cells are the cells
under the headers listed in :data:`ANNOTATION_COLUMNS` for that sheet.
"""

from __future__ import annotations

import re

from .codes import ALL_RACE_CODES, CATEGORY_CODES

__all__ = [
    "SHEETS",
    "ORPHANS_SHEET",
    "CONFLICTS_SHEET",
    "LISTS_SHEET",
    "KEY_HEADER",
    "REVIEW_COLUMNS",
    "STATUS_CHOICES",
    "ANNOTATION_COLUMNS",
    "PREVIOUS_NOTE_HEADER",
    "finding_key",
    "indicator_key",
    "root_cause_key",
    "action_key",
    "KEY_PATTERNS",
    "KEY_SHAPES",
]

#: The eight sheets of every workbook, in order (names exact).
SHEETS: tuple[str, ...] = (
    "Summary",
    "Disproportionality",
    "Indicators",
    "Drill-Down",
    "Charts",
    "Root Causes",
    "Action Plan",
    "Parameters",
)
ORPHANS_SHEET = "Orphaned annotations"
#: Values a harvest found changed both in the workbook and in the store (outputs.md 5.1).
CONFLICTS_SHEET = "Conflicts"
LISTS_SHEET = "Lists"  # hidden sheet holding drop-down choices

KEY_HEADER = "finding_id"
STATUS_CHOICES: tuple[str, ...] = (
    "Not reviewed",
    "Confirmed",
    "Data question",
    "Root cause identified",
    "Addressed",
)
REVIEW_COLUMNS: tuple[str, ...] = ("status", "consultant_note", "reviewer", "reviewed_on")

#: Annotation columns by sheet, by header text.
ANNOTATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "Disproportionality": REVIEW_COLUMNS,
    "Indicators": REVIEW_COLUMNS,
    "Root Causes": ("response", "evidence", "supported"),
    "Action Plan": ("activity", "owner", "timeline", "resources", "progress_measure"),
}
#: Read-only column showing the latest earlier year's status and note for the same finding.
PREVIOUS_NOTE_HEADER = "previous_note"


def finding_key(school_year: str, category: str, race_ethnicity: str) -> str:
    """Key of a ``Disproportionality`` row: ``<school_year>:<category>:<race_ethnicity>``."""
    return f"{school_year}:{category}:{race_ethnicity}"


def indicator_key(school_year: str, indicator: str) -> str:
    """Key of an ``Indicators`` row: ``<school_year>:indicator:<code>``."""
    return f"{school_year}:indicator:{indicator}"


def root_cause_key(finding: str, n: int) -> str:
    """Key of the n-th (1-based) entry row of a finding on ``Root Causes``."""
    return f"{finding}:rc:{n}"


def action_key(finding: str, n: int) -> str:
    """Key of the n-th (1-based) entry row of a finding on ``Action Plan``."""
    return f"{finding}:ap:{n}"


_YEAR = r"\d{4}-\d{2}"
_FINDING = rf"{_YEAR}:(?:{'|'.join(CATEGORY_CODES)}):(?:{'|'.join(ALL_RACE_CODES)})"
_INDICATOR = rf"{_YEAR}:indicator:[A-Za-z0-9_]+"
#: A Root Causes or Action Plan block's finding: disproportionality, or an indicator finding
#: (monitoring.md section 4).
_BLOCK = rf"(?:{_FINDING}|{_INDICATOR})"
#: The shape of a ``finding_id`` on each annotatable sheet (the functions above make them).
KEY_PATTERNS: dict[str, re.Pattern[str]] = {
    "Disproportionality": re.compile(rf"{_FINDING}"),
    "Indicators": re.compile(_INDICATOR),
    "Root Causes": re.compile(rf"{_BLOCK}:rc:[1-9]\d*"),
    "Action Plan": re.compile(rf"{_BLOCK}:ap:[1-9]\d*"),
}
#: The same shapes in words, for messages.
KEY_SHAPES: dict[str, str] = {
    "Disproportionality": "<school_year>:<category>:<race_ethnicity>, e.g. 2024-25:ident_ed:BL",
    "Indicators": "<school_year>:indicator:<code>, e.g. 2024-25:indicator:5A",
    "Root Causes": "<school_year>:<category>:<race_ethnicity>:rc:<n> or "
    "<school_year>:indicator:<code>:rc:<n>, e.g. 2024-25:ident_ed:BL:rc:1",
    "Action Plan": "<school_year>:<category>:<race_ethnicity>:ap:<n> or "
    "<school_year>:indicator:<code>:ap:<n>, e.g. 2024-25:ident_ed:BL:ap:1",
}
