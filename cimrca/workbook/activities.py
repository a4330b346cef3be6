"""The CIM activity sheets after the eight (cim_workbook.md section 1): plan and writer.

``CIM Team``, ``Policies Review``, ``Infrastructure`` and ``Parent Input`` for every LEA with a
finding (a block on Root Causes); ``Case Study`` and ``CCEIS Plan`` for a significantly
disproportionate LEA. :func:`plan_activities` decides their rows, pre-filled from the findings,
each entry row keyed ``<school_year>:<code>:<n>`` (:func:`cimrca.layout.activity_key`); the
yellow cells are annotations like every other. :func:`write_activity_sheet` only formats.

The CCEIS reservation is an Excel formula, ``=<fraction>*(<611 cell>+<619 cell>)``, that
recalculates when the LEA types its allocations (34 CFR 300.646(d): the maximum amount under
IDEA section 613(f), 15% of both grants, no deduction first); a re-run writes the formula
again, never a number in its place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .. import layout
from ..codes import CATEGORY_LABELS, RACE_LABELS
from ..statements import (
    CCEIS_BOTH_GRANTS,
    CCEIS_REPORT,
    CCEIS_SPEND,
    CCEIS_WHO,
    CIM_STEPS,
    CONTINUING_DUTY,
)

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.worksheet import Worksheet

    from .cells import Cells
    from .plan import FindingBlock, WorkbookPlan

__all__ = [
    "ActivityRow",
    "ActivitySheet",
    "plan_activities",
    "write_activity_sheet",
    "POLICY_AREAS",
    "COMPLIANT_CHOICES",
]

RowKind = Literal["entry", "band", "reservation", "budgeted", "left"]


@dataclass(frozen=True)
class ActivityRow:
    """A row of an activity sheet.

    ``kind`` ``"entry"``: a keyed row (``key``) with pre-filled locked ``cells`` and yellow
    annotation cells; ``"band"``: a heading across the sheet (``cells["title"]``); the CCEIS
    computed rows ``"reservation"``, ``"budgeted"`` and ``"left"`` (formulas, locked).
    """

    kind: RowKind
    key: str = ""
    cells: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ActivitySheet:
    """One activity sheet: name, heading, columns (name, width), annotation columns, rows."""

    name: str
    title: str
    guidance: str
    columns: tuple[tuple[str, float], ...]
    entry: tuple[str, ...]
    rows: tuple[ActivityRow, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.rows if r.kind == "entry")


#: Choices of the ``compliant`` drop-down on Policies Review.
COMPLIANT_CHOICES: tuple[str, ...] = ("Yes", "Partly", "No", "Not yet reviewed")

#: The policies, practices and procedures to review, by a stable number (the key's ``<n>``),
#: with the findings' areas that call for each (categories by prefix or code, indicators by
#: code). cim_workbook.md section 1.
POLICY_AREAS: tuple[tuple[int, str, str, tuple[str, ...]], ...] = (
    (1, "Referral and pre-referral (MTSS, student study team)",
     "How are students referred for evaluation, and which tiered supports come first? Are "
     "they the same for every group and school?", ("ident_",)),
    (2, "Assessment and eligibility",
     "Which assessments and criteria decide eligibility; are they valid for students of "
     "this group, in their language?", ("ident_", "11", "12")),
    (3, "Emotional disturbance eligibility criteria",
     "How does the LEA apply the criteria for emotional disturbance, and does it rule out "
     "other causes first?", ("ident_ed",)),
    (4, "Placement and LRE decisions",
     "How does the IEP team choose a setting; is the continuum of placements available at "
     "every school?", ("place_", "5A", "5B", "5C", "6A", "6B", "6C")),
    (5, "Discipline",
     "Which offenses lead to suspension or expulsion, who decides, and are alternatives "
     "used first?", ("disc_", "4A", "4B", "SUSP_SWD")),
    (6, "Manifestation determination",
     "Are manifestation determinations held on time and decided on the evidence?",
     ("disc_", "4A", "4B", "SUSP_SWD")),
    (7, "Behavior supports",
     "Which behavior supports (PBIS, behavior intervention plans, restorative practices) "
     "exist, and does every school use them?", ("disc_", "ident_ed", "4A", "4B", "SUSP_SWD")),
    (8, "Graduation, course access and transition planning",
     "Which course, credit and diploma policies apply to students with IEPs?",
     ("1", "2", "13", "14")),
    (9, "Statewide assessment participation and accommodations",
     "How are participation, accommodations and alternate assessment decided?",
     ("3A_", "3B_", "3C_", "3D_")),
    (10, "Attendance",
     "Which attendance policies apply, and do they consider disability-related absences?",
     ("CHRONIC_SWD",)),
)  # fmt: skip
#: Rows kept for policies the team adds (numbers after the areas, so keys stay stable).
_OTHER_POLICIES = (11, 12)

_TEAM_ROLES = (
    "Administrator", "General educator", "Special educator", "School psychologist",
    "Parent of a student with a disability", "Community member", "Student",
)  # fmt: skip
_TEAM_SPARE = 3
_INITIATIVES = (
    ("Multi-tiered system of supports (MTSS)", "Tiers of academic and behavior support"),
    ("Positive behavioral interventions and supports (PBIS)", "Schoolwide behavior framework"),
    ("LCAP goals", "The Local Control and Accountability Plan goals that touch the findings"),
    ("Title I", "Schoolwide or targeted assistance programs"),
    ("English learner program", "English language development and supports"),
    ("Restorative practices", "Alternatives to exclusionary discipline"),
    ("Inclusive practices (co-teaching, universal design for learning)",
     "Supports that keep students in the general education class"),
    ("Professional learning plan", "Training of staff, including culturally responsive "
     "practice and implicit bias"),
    ("Other initiative", "Name it"),
    ("Other initiative", "Name it"),
)  # fmt: skip
_PARENT_WAYS = (
    ("Survey of families", "In the families' languages; ask about referral, evaluation, "
     "placement and discipline."),
    ("Listening session or focus group", "With families of the group or groups identified."),
    ("Community Advisory Committee and parent groups", "SELPA CAC, English learner advisory, "
     "other parent groups."),
    ("Input at IEP and student study team meetings", "What families say about decisions "
     "made with them."),
    ("Other way of gathering input", "Name it"),
)  # fmt: skip
_CASES_PER_FINDING = 5
_BUDGET_LINES = 6


def _area_applies(codes: tuple[str, ...], finding: Mapping[str, Any]) -> bool:
    if finding.get("kind") == "indicator":
        code = str(finding["indicator"])
        return any(code == c or (c.endswith("_") and code.startswith(c)) for c in codes)
    cat = str(finding["category"])
    return any(cat == c or (c.endswith("_") and cat.startswith(c)) for c in codes)


def _finding_name(finding: Mapping[str, Any]) -> str:
    if finding.get("kind") == "indicator":
        return f"Indicator {finding['indicator']}"
    cat = CATEGORY_LABELS.get(finding["category"], finding["category"])
    grp = RACE_LABELS.get(finding["race_ethnicity"], finding["race_ethnicity"])
    return f"{cat} - {grp}"


def _entry(key: str, **cells: str) -> ActivityRow:
    return ActivityRow("entry", key, cells)


def _band(title: str) -> ActivityRow:
    return ActivityRow("band", "", {"title": title})


def _sheet(name: str, title: str, guidance: str, fixed: Sequence[tuple[str, float]],
           widths: Mapping[str, float], rows: Sequence[ActivityRow]) -> ActivitySheet:  # fmt: skip
    entry = layout.ANNOTATION_COLUMNS[name]
    columns = ((layout.KEY_HEADER, 22), *fixed, *((c, widths.get(c, 24)) for c in entry))
    return ActivitySheet(name, title, guidance, tuple(columns), entry, tuple(rows))


def _team(year: str, lea: str) -> ActivitySheet:
    key = lambda n: layout.activity_key(year, "team", n)  # noqa: E731
    rows = [_entry(key(n), role=role) for n, role in enumerate(_TEAM_ROLES, start=1)]
    rows += [_entry(key(len(_TEAM_ROLES) + k), role="Other member (name the role)")
             for k in range(1, _TEAM_SPARE + 1)]  # fmt: skip
    return _sheet(
        "CIM Team", f"CIM team and educational partners, {lea}",
        f"{CIM_STEPS['gather']}: the team that leads the LEA's CIM work and the educational "
        "partners group, including families of the group or groups identified. One row per "
        "member; write in the yellow cells.",
        [("role", 30)], {"name": 26, "group_represented": 30, "meeting_dates": 26,
                         "consultant_note": 36}, rows,
    )  # fmt: skip


def _policies(year: str, lea: str, found: Sequence[Mapping[str, Any]]) -> ActivitySheet:
    rows = []
    for n, area, prompt, codes in POLICY_AREAS:
        touched = [_finding_name(f) for f in found if _area_applies(codes, f)]
        if touched:
            rows.append(_entry(layout.activity_key(year, "ppr", n), **{
                "area": area, "what to review": prompt,
                "findings it serves": "; ".join(dict.fromkeys(touched))}))  # fmt: skip
    rows += [_entry(layout.activity_key(year, "ppr", n), **{
        "area": "Other policy, practice or procedure",
        "what to review": "Name it in the evidence cell."}) for n in _OTHER_POLICIES]  # fmt: skip
    return _sheet(
        "Policies Review", f"Review of policies, practices and procedures, {lea}",
        f"{CIM_STEPS['gather']}: review, and where needed revise, the policies, practices and "
        "procedures behind each finding (34 CFR 300.646(c)), and report the revisions "
        "publicly. The rows follow the findings' areas. Write in the yellow cells.",
        [("area", 30), ("what to review", 44), ("findings it serves", 30)],
        {"compliant": 14, "evidence": 36, "revision_needed": 30, "date_revised": 14,
         "publicly_reported": 28}, rows,
    )  # fmt: skip


def _infrastructure(year: str, lea: str) -> ActivitySheet:
    rows = [_entry(layout.activity_key(year, "infra", n), initiative=name, about=about)
            for n, (name, about) in enumerate(_INITIATIVES, start=1)]  # fmt: skip
    return _sheet(
        "Infrastructure", f"Infrastructure analysis: the LEA's initiatives, {lea}",
        f"{CIM_STEPS['gather']}: what the LEA already runs, so the plan builds on it: scope, "
        "schools, the finding each initiative touches and who coordinates it.",
        [("initiative", 34), ("about", 34)],
        {"scope": 26, "schools": 26, "finding_touched": 28, "coordinator": 20,
         "consultant_note": 30}, rows,
    )  # fmt: skip


def _parents(year: str, lea: str, groups: str) -> ActivitySheet:
    rows = [_entry(layout.activity_key(year, "parent", n), **{"way of gathering": way, "about": about})
            for n, (way, about) in enumerate(_PARENT_WAYS, start=1)]  # fmt: skip
    return _sheet(
        "Parent Input", f"Parent input, {lea}",
        f"{CIM_STEPS['gather']}: how the LEA heard families, especially families of "
        f"{groups}: when, from whom, the themes heard, and the root causes they inform.",
        [("way of gathering", 30), ("about", 34)],
        {"dates": 16, "from_whom": 30, "themes": 40, "root_cause_link": 30}, rows,
    )  # fmt: skip


def _case_study(year: str, lea: str, ident: Sequence[Mapping[str, Any]]) -> ActivitySheet:
    rows: list[ActivityRow] = []
    n = 0
    for f in ident:
        rows.append(_band(f"{_finding_name(f)} ({f['finding_id']})"))
        for _ in range(_CASES_PER_FINDING):
            n += 1
            rows.append(_entry(layout.activity_key(year, "case", n), finding=_finding_name(f)))
    return _sheet(
        "Case Study", f"Case study: student records, {lea}",
        f"{CIM_STEPS['gather']}: review the records of students of the group and category "
        "identified, from referral to placement and discipline. Use a de-identified case "
        "label only (no names, no student numbers).",
        [("finding", 30)],
        {"case_label": 14, "referral_source": 20, "prereferral_supports": 28,
         "days_to_eligibility": 12, "discipline_before": 22, "placement": 20,
         "observations": 40}, rows,
    )  # fmt: skip


def _cceis(year: str, lea: str, groups: str, frac: float, continuing: str) -> ActivitySheet:
    key = lambda n: layout.activity_key(year, "cceis", n)  # noqa: E731
    rows = [
        _band("Allocations (entered by the LEA) and the reservation"),
        _entry(key(1), item="Section 611 allocation",
               guidance="IDEA Part B grant to the LEA (ages 3-21): type the amount."),
        _entry(key(2), item="Section 619 allocation",
               guidance="IDEA Part B preschool grant (ages 3-5): type the amount."),
        ActivityRow("reservation", "", {"item": f"CCEIS reservation ({frac:.0%})",
                                        "guidance": CCEIS_BOTH_GRANTS}),
        _band("Budget: each line linked to a root cause"),
        *[_entry(key(2 + k), item=f"Budget line {k}",
                 guidance="Pick the root cause; describe the activity and its cost.")
          for k in range(1, _BUDGET_LINES + 1)],
        ActivityRow("budgeted", "", {"item": "Budgeted", "guidance": "Sum of the lines."}),
        ActivityRow("left", "", {"item": "Left to budget",
                                 "guidance": "Reservation minus the budget lines."}),
        _band("Target population (34 CFR 300.646(d))"),
        _entry(key(9), item="Ages and grades", guidance=CCEIS_WHO),
        _entry(key(10), item="Groups", guidance=f"Particularly, but not only, {groups}."),
        _entry(key(11), item="Schools", guidance="The Drill-Down sheet shows where the "
               "students over the threshold are."),
        _entry(key(12), item="Estimated number: students without disabilities",
               guidance="Children not identified who need more academic or behavioral "
               "support."),
        _entry(key(13), item="Estimated number: students with disabilities",
               guidance="CCEIS may serve them too; it may not be limited to them."),
        _band("Period of availability and reporting"),
        _entry(key(14), item="Period of availability", guidance=CCEIS_SPEND),
        _entry(key(15), item="Reporting", guidance=CCEIS_REPORT),
    ]  # fmt: skip
    if continuing:
        rows.append(_entry(key(16), item="Continuing addendum and budget",
                           guidance=f"{continuing} {CONTINUING_DUTY}"))  # fmt: skip
    return _sheet(
        "CCEIS Plan", f"CCEIS plan and budget, {lea}",
        f"{CIM_STEPS['plan']}: the {frac:.0%} of IDEA Part B funds reserved for comprehensive "
        "coordinated early intervening services. Type the allocations; the reservation, the "
        "total budgeted and what is left are computed (locked formulas).",
        [("item", 30), ("guidance", 50)],
        {"amount": 16, "root_cause": 36, "description": 40, "consultant_note": 30}, rows,
    )  # fmt: skip


def plan_activities(
    year: str | None,
    lea_label: str,
    blocks: Sequence[FindingBlock],
    *,
    fraction: float,
    continuing: str = "",
) -> tuple[ActivitySheet, ...]:
    """The activity sheets of an LEA, in workbook order (cim_workbook.md section 1).

    Parameters
    ----------
    year
        The review year (the keys' ``<school_year>``); ``None``: no sheets.
    lea_label
        ``<LEA name> (<lea_id>)`` for the headings.
    blocks
        The Root Causes blocks of the plan: their findings decide who gets which sheet
        (none: no sheets; an identified finding: Case Study and CCEIS Plan too) and which
        policies are listed.
    fraction
        The CCEIS reservation (the prompts' ``cceis_reservation_fraction``, 0.15).
    continuing
        A sentence on the year first identified when the LEA is a continuing LEA; ``""``
        otherwise.
    """
    found = [b.finding for b in blocks]
    if year is None or not found:
        return ()
    ident = [f for f in found if f.get("level") == "identified"]
    groups = sorted({RACE_LABELS.get(f["race_ethnicity"], f["race_ethnicity"])
                     for f in (ident or found) if f.get("kind") != "indicator"})  # fmt: skip
    group_words = (" and ".join(groups) + " students") if groups else "students with IEPs"
    sheets = [
        _team(year, lea_label),
        _policies(year, lea_label, found),
        _infrastructure(year, lea_label),
        _parents(year, lea_label, group_words),
    ]
    if ident:
        sheets += [_case_study(year, lea_label, ident),
                   _cceis(year, lea_label, group_words, fraction, continuing)]  # fmt: skip
    return tuple(sheets)


# ---------------------------------------------------------------------------- writer

_NUMBER_COLUMNS = {"amount", "days_to_eligibility"}


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("$", "").strip())
    except ValueError:
        return None


def write_activity_sheet(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """Write the activity sheet of ``plan`` named as ``ws``: heading, header, rows."""
    from .cells import HEADER_ROW

    sheet = next(s for s in plan.activities if s.name == ws.get_name())
    widths = [w for _, w in sheet.columns]
    c.heading(ws, sheet.title, sheet.guidance)
    hdr = HEADER_ROW
    c.header(ws, hdr, list(sheet.columns), sheet.entry)
    names = [n for n, _ in sheet.columns]
    col_of = {n: i for i, n in enumerate(names)}
    row = hdr + 1
    at: dict[str, int] = {}
    amounts: dict[str, float] = {}  # typed amounts and computed values, for cached results
    entry_rows: list[int] = []
    for r in sheet.rows:
        if r.kind == "band":
            row = c.band(ws, row, r.cells["title"], widths, "block")
            continue
        texts = []
        for name, text in r.cells.items():
            c.text(ws, row, col_of[name], text, "text")
            texts.append((text, widths[col_of[name]]))
        if r.kind == "entry":
            c.key(ws, row, r.key)
            at[r.key] = row
            entry_rows.append(row)
            for name in sheet.entry:
                value = c.annotation(sheet.name, r.key, name)
                x = _number(value) if name in _NUMBER_COLUMNS and value else None
                if x is not None:
                    ws.write_number(row, col_of[name], x, c.f["entry_amount"])
                    amounts[r.key] = x
                else:
                    c.text(ws, row, col_of[name], value, "entry")
                    texts.append((value, widths[col_of[name]]))
        else:
            amounts[r.kind] = _formula_row(c, ws, row, r.kind, col_of["amount"], at, amounts,
                                           plan)  # fmt: skip
            at[r.kind] = row
        c.fit_row(ws, row, texts)
        row += 1
    budget = [at[r.key] for r in sheet.rows if r.cells.get("item", "").startswith("Budget line")]
    _validations(c, ws, col_of, entry_rows, budget)
    ws.freeze_panes(hdr + 1, 1)
    c.finish(ws, hdr, widths=widths, repeat_cols=1)


def _cell(row: int, col: int) -> str:
    from xlsxwriter.utility import xl_rowcol_to_cell

    return xl_rowcol_to_cell(row, col)


def _formula_row(
    c: Cells,
    ws: Worksheet,
    row: int,
    kind: str,
    col: int,
    at: dict[str, int],
    amounts: dict[str, float],
    plan: WorkbookPlan,
) -> float:
    """A CCEIS computed row: the reservation, the total budgeted or what is left, written as
    a formula (with its value now as the cached result). Returns that value."""
    frac = float(plan.prompts["action_plan"]["cceis_reservation_fraction"])
    keys = sorted((k for k in at if ":cceis:" in k), key=lambda k: int(k.rsplit(":", 1)[1]))
    if kind == "reservation":
        a, b = keys[:2]
        value = frac * (amounts.get(a, 0.0) + amounts.get(b, 0.0))
        formula = f"={frac:g}*({_cell(at[a], col)}+{_cell(at[b], col)})"
    elif kind == "budgeted":
        lines = keys[2:]
        value = sum(amounts.get(k, 0.0) for k in lines)
        formula = f"=SUM({_cell(at[lines[0]], col)}:{_cell(at[lines[-1]], col)})"
    else:
        value = amounts.get("reservation", 0.0) - amounts.get("budgeted", 0.0)
        formula = f"={_cell(at['reservation'], col)}-{_cell(at['budgeted'], col)}"
    ws.write_formula(row, col, formula, c.f["computed_amount"], value)
    return value


def _validations(
    c: Cells, ws: Worksheet, col_of: dict[str, int], rows: list[int], budget: list[int]
) -> None:
    """The drop-downs: compliant on Policies Review, the root cause of CCEIS budget lines."""
    if rows and "compliant" in col_of:
        c.validation(ws, rows[0], rows[-1], col_of["compliant"], "compliant")
    if budget and "root_cause" in col_of:
        c.validation(ws, min(budget), max(budget), col_of["root_cause"], "root_cause")
