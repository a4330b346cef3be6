"""The workbook's fixed layout: sheet names, keys and annotation columns.

This is the contract between :mod:`cimrca.workbook` (which writes workbooks) and
:mod:`cimrca.annotations` (which reads consultants' edits back and writes them into regenerated
workbooks). outputs.md section 4 fixes the sheet names and keys.

In every annotatable sheet one row is the header row: its column A reads ``Finding ID`` (the
display name of ``finding_id``; workbooks written before plain headers read ``finding_id``). Each
row below it whose column A holds a key is an annotatable row; the annotation cells are the cells
under the headers of the columns listed in :data:`ANNOTATION_COLUMNS` for that sheet.

Machine names (``consultant_note``) are the keys of the annotation store and of this module;
a workbook shows their plain display names (:data:`DISPLAY_HEADERS`, cim_workbook.md section 3),
and the harvester reads a header written either way (:func:`header_names`).
"""

from __future__ import annotations

import re

from .codes import ALL_RACE_CODES, CATEGORY_CODES

__all__ = [
    "SHEETS",
    "ORPHANS_SHEET",
    "CONFLICTS_SHEET",
    "GLOSSARY_SHEET",
    "LISTS_SHEET",
    "KEY_HEADER",
    "REVIEW_COLUMNS",
    "STATUS_CHOICES",
    "ANNOTATION_COLUMNS",
    "ACTION_PLAN_ORDER",
    "PREVIOUS_NOTE_HEADER",
    "finding_key",
    "indicator_key",
    "root_cause_key",
    "action_key",
    "activity_key",
    "CIM_SHEETS",
    "KEY_PATTERNS",
    "KEY_SHAPES",
    "DISPLAY_HEADERS",
    "display_header",
    "header_names",
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
GLOSSARY_SHEET = "Glossary"  # after the CIM sheets, before Orphaned annotations
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
    "Action Plan": ("activity", "owner", "timeline", "resources", "progress_measure",
                    "root_cause", "smart_goal", "baseline", "target", "implementation_measure",
                    "outcome_measure"),
}  # fmt: skip
#: The order the Action Plan shows its annotation columns (cim_workbook.md section 2): the
#: root cause first, then the goal and its measures. Harvesting goes by header, not order.
ACTION_PLAN_ORDER: tuple[str, ...] = (
    "root_cause", "smart_goal", "baseline", "target", "activity", "owner", "timeline",
    "resources", "implementation_measure", "outcome_measure", "progress_measure",
)  # fmt: skip
#: The CIM activity sheets after the eight (cim_workbook.md section 1), in order, with the code
#: of their keys (``<school_year>:<code>:<n>``).
CIM_SHEETS: dict[str, str] = {
    "CIM Team": "team",
    "Policies Review": "ppr",
    "Infrastructure": "infra",
    "Parent Input": "parent",
    "Case Study": "case",
    "CCEIS Plan": "cceis",
}
ANNOTATION_COLUMNS |= {
    "CIM Team": ("name", "group_represented", "meeting_dates", "consultant_note"),
    "Policies Review": ("compliant", "evidence", "revision_needed", "date_revised",
                        "publicly_reported"),
    "Infrastructure": ("scope", "schools", "finding_touched", "coordinator", "consultant_note"),
    "Parent Input": ("dates", "from_whom", "themes", "root_cause_link"),
    "Case Study": ("case_label", "referral_source", "prereferral_supports",
                   "days_to_eligibility", "discipline_before", "placement", "observations"),
    "CCEIS Plan": ("amount", "root_cause", "description", "consultant_note"),
}  # fmt: skip
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


def activity_key(school_year: str, code: str, n: int) -> str:
    """Key of the n-th (1-based) entry row of a CIM activity sheet: ``<school_year>:<code>:<n>``
    with ``code`` one of :data:`CIM_SHEETS` (``team``, ``ppr``, ``infra``, ``parent``, ``case``,
    ``cceis``)."""
    return f"{school_year}:{code}:{n}"


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
KEY_PATTERNS |= {
    sheet: re.compile(rf"{_YEAR}:{code}:[1-9]\d*") for sheet, code in CIM_SHEETS.items()
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


#: The header a workbook shows for each machine name (cim_workbook.md section 3). A name not
#: listed is shown with spaces for underscores and a capital first letter.
DISPLAY_HEADERS: dict[str, str] = {
    "finding_id": "Finding ID",
    "status": "Status",
    "consultant_note": "Note",
    "reviewer": "Reviewer",
    "reviewed_on": "Reviewed on",
    "previous_note": "Last year's note",
    "progress_measure": "Progress measure",
    "smart_goal": "SMART goal",
    "group_represented": "Group represented",
    "publicly_reported": "Where publicly reported",
    "finding_touched": "Finding it touches",
    "from_whom": "From whom (groups represented)",
    "root_cause_link": "Link to root causes",
    "case_label": "Case label (no names)",
    "prereferral_supports": "Pre-referral supports",
    "discipline_before": "Discipline before eligibility",
    "amount": "Amount or number",
}


def display_header(name: str) -> str:
    """The header a workbook shows for the column ``name`` (cim_workbook.md section 3).

    Examples
    --------
    >>> display_header("consultant_note"), display_header("ratio type")
    ('Note', 'Ratio type')
    """
    if name in DISPLAY_HEADERS:
        return DISPLAY_HEADERS[name]
    shown = name.replace("_", " ")
    return shown[:1].upper() + shown[1:]


def header_names(name: str) -> tuple[str, ...]:
    """Every header text under which the harvester finds the column ``name``: its display
    name, then the machine name itself (workbooks written before plain headers)."""
    shown = display_header(name)
    return (shown, name) if shown != name else (name,)


KEY_SHAPES |= {
    sheet: f"<school_year>:{code}:<n>, e.g. 2024-25:{code}:1" for sheet, code in CIM_SHEETS.items()
}
