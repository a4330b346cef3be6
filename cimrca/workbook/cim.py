"""The writers of the CIM working sheets: Root Causes and Action Plan (cim_workbook.md).

One block per finding (the plan's order: significantly disproportionate, then the reasons for
the LEA's monitoring level, then the rest; disproportionality findings flagged in the latest
year and indicator findings, monitoring.md section 4): a heading row with the finding's facts,
then the plan's entry rows, each with its key in column A and yellow cells for the team.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import layout
from .cells import HEADER_ROW, Cells
from .plan import FindingBlock, WorkbookPlan
from .wording import finding_facts, finding_title, indicator_facts, indicator_title

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.worksheet import Worksheet

__all__ = ["root_causes", "action_plan"]

_ACTION_WIDTHS = {"root_cause": 36, "smart_goal": 40, "baseline": 18, "target": 18,
                  "activity": 40, "owner": 18, "timeline": 16, "resources": 30,
                  "implementation_measure": 30, "outcome_measure": 30,
                  "progress_measure": 30}  # fmt: skip


def _block_heading(
    c: Cells, ws: Worksheet, row: int, block: FindingBlock, plan: WorkbookPlan, widths: list[float]
) -> int:
    """A finding's heading row: level, category, group, key and the facts. Returns next row."""
    r = block.finding
    if r.get("kind") == "indicator":
        title, facts = f"{indicator_title(r)} ({r['finding_id']})", indicator_facts(r)
    else:
        title = f"{finding_title(r)} ({r['finding_id']})"
        facts = finding_facts(r, plan.inputs.profile.years_required)
    return c.band(ws, row, f"{title}\n{facts}", widths, "block")


def _entry_cells(
    c: Cells,
    ws: Worksheet,
    row: int,
    sheet: str,
    key: str,
    first: int,
    widths: dict[str, float],
    order: tuple[str, ...] | None = None,
) -> list[tuple[str, float]]:
    """The annotation cells of a row from column ``first`` on (in ``order``, by default the
    layout's); their texts and widths."""
    texts = []
    for j, name in enumerate(order or layout.ANNOTATION_COLUMNS[sheet], start=first):
        value = c.annotation(sheet, key, name)
        c.text(ws, row, j, value, "entry")
        texts.append((value, widths[name]))
    return texts


def root_causes(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """Problem of practice, fishbone, five whys and hypotheses per finding of the plan."""
    sheet = "Root Causes"
    entry = layout.ANNOTATION_COLUMNS[sheet]
    columns = [(layout.KEY_HEADER, 26), ("step", 24), ("prompt", 60),
               (entry[0], 50), (entry[1], 40), (entry[2], 16)]  # fmt: skip
    widths = dict(columns)
    c.heading(
        ws,
        f"Root causes, {plan.inputs.lea_name} ({plan.inputs.lea_id})",
        "For each finding (significantly disproportionate first, then the reasons for the "
        "monitoring level, then the rest): the problem of practice, fishbone categories, five "
        "whys and hypotheses. Write in the yellow cells.",
    )
    hdr = HEADER_ROW
    c.header(ws, hdr, columns, entry)
    row = hdr + 1
    entry_rows: list[int] = []
    for block in plan.root_causes:
        row = _block_heading(c, ws, row, block, plan, [w for _, w in columns])
        for er in block.rows:
            c.key(ws, row, er.key)
            c.text(ws, row, 1, er.step, "text")
            c.text(ws, row, 2, er.prompt, "text")
            texts = [(er.prompt, widths["prompt"]), (er.step, widths["step"])]
            texts += _entry_cells(c, ws, row, sheet, er.key, 3, widths)
            entry_rows.append(row)
            c.fit_row(ws, row, texts)
            row += 1
        row += 1
    if not plan.root_causes:
        c.note(ws, row, f"No finding is above the threshold and no indicator target was "
               f"missed in {plan.latest or 'any year'}; nothing to analyze.")  # fmt: skip
    elif entry_rows:
        c.validation(ws, entry_rows[0], entry_rows[-1], 5, "supported")
    ws.freeze_panes(hdr + 1, 0)
    c.finish(ws, hdr, widths=[w for _, w in columns], repeat_cols=1)


def action_plan(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """Per root cause of each finding of the plan: the root cause (a drop-down of the Root
    Causes entries), SMART goal, baseline, target, activity, owner, timeline, resources,
    implementation and outcome measures (cim_workbook.md section 2)."""
    sheet = "Action Plan"
    entry = layout.ACTION_PLAN_ORDER
    columns = [(layout.KEY_HEADER, 26), ("guidance", 30)]
    columns += [(name, _ACTION_WIDTHS.get(name, 24)) for name in entry]
    widths = dict(columns)
    c.heading(
        ws,
        f"Action plan, {plan.inputs.lea_name} ({plan.inputs.lea_id})",
        "CIM step 3, plan for improvement. For each root cause of a finding: pick the root cause "
        "from the drop-down (the entries of the Root Causes sheet), then a SMART goal (specific, "
        "measurable, achievable, relevant, time-bound) with its baseline and target, the "
        "improvement activity, owner, timeline, resources, and how the LEA will measure that "
        "the activity is carried out (implementation) and that it works (outcome). Write in the "
        "yellow cells.",
    )
    hdr = HEADER_ROW
    c.header(ws, hdr, columns, entry)
    row = hdr + 1
    entry_rows: list[int] = []
    for block in plan.action_plan:
        row = _block_heading(c, ws, row, block, plan, [w for _, w in columns])
        row = c.band(ws, row, block.note, [w for _, w in columns], "block_note")
        for er in block.rows:
            c.key(ws, row, er.key)
            c.text(ws, row, 1, er.prompt, "text")
            texts = [(er.prompt, widths["guidance"])]
            texts += _entry_cells(c, ws, row, sheet, er.key, 2, widths, entry)
            entry_rows.append(row)
            c.fit_row(ws, row, texts)
            row += 1
        row += 1
    if entry_rows:
        c.validation(ws, entry_rows[0], entry_rows[-1], 2, "root_cause")
    if not plan.action_plan:
        c.note(ws, row, f"No finding is above the threshold and no indicator target was "
               f"missed in {plan.latest or 'any year'}; no action plan is required.")  # fmt: skip
    ws.freeze_panes(hdr + 1, 0)
    c.finish(ws, hdr, widths=[w for _, w in columns], repeat_cols=1)
