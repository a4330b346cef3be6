"""Writing a planned workbook: one writer per sheet, in the order of :data:`layout.SHEETS`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import layout
from ..atomic import atomic_path
from ..errors import WorkbookError
from . import activities, cim, sheets
from .cells import HEADER_ROW, Cells, new_workbook
from .plan import WorkbookInputs, WorkbookPlan, plan_workbook, workbook_filename
from .wording import cell_text

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.worksheet import Worksheet

__all__ = ["write_workbook", "SHEET_WRITERS", "EXTRA_SHEET_WRITERS", "ExtraSheet"]

SheetWriter = Callable[[Cells, "Worksheet", WorkbookPlan], None]

#: The writer of each of the eight sheets (outputs.md section 4), in workbook order.
SHEET_WRITERS: dict[str, SheetWriter] = {
    "Summary": sheets.summary,
    "Disproportionality": sheets.disproportionality,
    "Indicators": sheets.indicators,
    "Drill-Down": sheets.drill_down,
    "Charts": sheets.charts,
    "Root Causes": cim.root_causes,
    "Action Plan": cim.action_plan,
    "Parameters": sheets.parameters,
}


@dataclass(frozen=True)
class ExtraSheet:
    """A sheet after the eight: whether ``plan`` has it, and its writer."""

    applies: Callable[[WorkbookPlan], bool]
    write: SheetWriter


#: The sheets after the eight, in workbook order (cim_workbook.md sections 1 and 3), before
#: ``Orphaned annotations`` and the hidden ``Lists``.
EXTRA_SHEET_WRITERS: dict[str, ExtraSheet] = {
    **{
        name: ExtraSheet(
            lambda plan, name=name: any(a.name == name for a in plan.activities),
            activities.write_activity_sheet,
        )
        for name in layout.CIM_SHEETS
    },
    layout.GLOSSARY_SHEET: ExtraSheet(lambda plan: True, sheets.glossary),
}


def write_workbook(
    path: str | Path,
    inputs: WorkbookInputs,
    *,
    annotations: Mapping[tuple[str, str, str], str] | None = None,
    previous_notes: Mapping[str, str] | None = None,
    orphans: pd.DataFrame | None = None,
    plan: WorkbookPlan | None = None,
) -> Path:
    """Write one LEA's root-cause workbook, atomically.

    Parameters
    ----------
    path
        The ``.xlsx`` file to write, or an existing folder (then
        ``<folder>/<lea_id>_workbook.xlsx``).
    inputs
        What the workbook shows (:class:`WorkbookInputs`).
    annotations
        Stored annotations to pre-fill, keyed ``(sheet, finding_id, column)`` with ``column`` a
        header of ``layout.ANNOTATION_COLUMNS[sheet]``. An annotation whose row or column is not
        in this workbook is listed on ``Orphaned annotations`` (never dropped).
    previous_notes
        Text for the read-only ``previous_note`` column (``Disproportionality`` and
        ``Indicators``), keyed by the finding's key without its school year (see
        :func:`previous_note_key`: ``<category>:<race_ethnicity>`` or ``indicator:<code>``).
        A full key (``2024-25:ident_id:BL``) is accepted too and wins over the short one.
    orphans
        Annotations whose finding no longer exists, written as text to an ``Orphaned
        annotations`` sheet after the eight (expected columns: finding_id, sheet, column,
        value, history; any columns are written as given).
    plan
        The plan of ``inputs`` (:func:`plan_workbook`), when the caller has made it already
        (to take the keys from it); by default it is made here.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    WorkbookError
        When the results lack a column, a note exceeds Excel's 32,767 characters, a chart is
        not an image, the prompts file is unusable, the plan is of other inputs, the rows
        written do not carry exactly the plan's keys, or the file cannot be written (the old
        workbook, if any, is then left as it was).

    Notes
    -----
    Text is always written with ``write_string`` (a note ``=1+1`` stays text, never a formula),
    numbers with ``write_number`` and a display format, at full precision. The file is written
    to a temporary file in the same folder and moved over ``path`` with :func:`os.replace`, so a
    reader sees the old workbook or the new one, never half of one (outputs.md section 5).
    """
    target = Path(path)
    if target.is_dir():
        target = target / workbook_filename(inputs.lea_id)
    if plan is None:
        plan = plan_workbook(inputs)
    elif plan.inputs is not inputs:
        raise WorkbookError(
            f"the plan given for LEA {inputs.lea_id} was made from other inputs; pass the plan "
            "of these inputs (plan_workbook(inputs)) or none.",
            lea_id=str(inputs.lea_id),
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(target) as tmp:
            _write(tmp, plan, dict(annotations or {}), dict(previous_notes or {}), orphans)
    except OSError as exc:
        raise WorkbookError(
            f"could not write the workbook {target}: {exc}. Close it if another program has it "
            "open, check the folder is writable, and run again.",
            file=target,
            lea_id=str(inputs.lea_id),
        ) from exc
    return target


def _write(
    file: Path,
    plan: WorkbookPlan,
    annotations: dict[tuple[str, str, str], str],
    previous_notes: dict[str, str],
    orphans: pd.DataFrame | None,
) -> None:
    """Every sheet of ``plan`` into ``file``; then check the keys written are the plan's."""
    inp = plan.inputs
    wb = new_workbook(file)
    c = Cells(wb, plan, annotations=annotations, previous_notes=previous_notes)
    wb.set_properties(
        {
            "title": f"Root-cause workbook {inp.lea_name} ({inp.lea_id})",
            "subject": "Significant disproportionality (34 CFR 300.647) and SPP/APR indicators",
            "author": "cimrca",
            "comments": f"cimrca {inp.code_version}; data set {inp.dataset_name}",
        }
    )
    worksheets = {name: wb.add_worksheet(name) for name in layout.SHEETS}
    for name, ws in worksheets.items():
        SHEET_WRITERS[name](c, ws, plan)
    for name, writer in EXTRA_SHEET_WRITERS.items():
        if writer.applies(plan):
            writer.write(c, wb.add_worksheet(name), plan)
    _orphans(c, orphans)
    _lists(c, plan)
    worksheets["Summary"].activate()
    wb.close()
    if c.keys_written != plan.keys():
        raise WorkbookError(
            f"the workbook of LEA {inp.lea_id} would hold {len(c.keys_written)} annotatable "
            f"rows, but its plan has {len(plan.keys())} (first difference: "
            f"{_first_difference(c.keys_written, plan.keys())}). This is a bug in cimrca; "
            "please report it. The old workbook was kept.",
            lea_id=str(inp.lea_id),
        )


def _first_difference(written: list[tuple[str, str]], planned: list[tuple[str, str]]) -> str:
    for i, (w, p) in enumerate(zip(written, planned, strict=False)):
        if w != p:
            return f"row {i + 1}: written {w}, planned {p}"
    return f"row {min(len(written), len(planned)) + 1}"


def _orphans(c: Cells, orphans: pd.DataFrame | None) -> None:
    """``Orphaned annotations``: the given orphans, then stored annotations not placed."""
    unplaced = [
        {"finding_id": key, "sheet": sheet, "column": col, "value": value,
         "history": "not placed: no such row or column in this workbook"}
        for (sheet, key, col), value in c.annotations.items()
        if (sheet, key, col) not in c.used
    ]  # fmt: skip
    frames = [o for o in (orphans, pd.DataFrame(unplaced)) if o is not None and not o.empty]
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True, sort=False)
    ws = c.wb.add_worksheet(layout.ORPHANS_SHEET)
    c.heading(
        ws,
        "Orphaned annotations",
        "Notes whose finding is not in this workbook (the finding no longer exists). They are "
        "kept in the annotation store; copy what still applies to a current row.",
    )
    wide = {"value", "history", "note", "consultant_note"}
    columns = [(str(col), 50 if str(col) in wide else 26) for col in frame.columns]
    hdr = HEADER_ROW
    c.header(ws, hdr, columns)
    row = hdr + 1
    for rec in frame.to_dict("records"):
        texts = []
        for col, (name, width) in enumerate(columns):
            v = cell_text(rec[name])
            v = layout.display_header(v) if name == "column" and v else v
            c.text(ws, row, col, v, "text")
            texts.append((v, width))
        c.fit_row(ws, row, texts)
        row += 1
    ws.freeze_panes(hdr + 1, 0)
    c.finish(ws, hdr)


def _lists(c: Cells, plan: WorkbookPlan) -> None:
    """The hidden ``Lists`` sheet: one column per drop-down list (Cells.lists_ranges)."""
    ws = c.wb.add_worksheet(layout.LISTS_SHEET)
    for col, (name, values) in enumerate(plan.choices.items()):
        ws.write_string(0, col, layout.display_header(name))
        for i, v in enumerate(values, start=1):
            ws.write_string(i, col, _choice_text(c, name, v))
    ws.hide()
    c.protect(ws)


#: Longest text of a root-cause choice (the key, the step and the start of the team's text).
_CHOICE_CHARS = 160


def _choice_text(c: Cells, name: str, value: str) -> str:
    """A drop-down choice; a root cause gets the team's text (its stored ``response``)."""
    if name != "root_cause":
        return value
    key = value.split(" ", 1)[0]
    response = " ".join(c.annotations.get(("Root Causes", key, "response"), "").split())
    text = f"{value}: {response}" if response else value
    return text if len(text) <= _CHOICE_CHARS else text[: _CHOICE_CHARS - 3] + "..."
