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

__all__ = [
    "write_workbook",
    "SHEET_WRITERS",
    "EXTRA_SHEET_WRITERS",
    "NOTE_SHEET_WRITERS",
    "ExtraSheet",
    "bounded_text",
    "CUT_MARKER",
]

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

#: Excel's largest cell text (characters).
MAX_CELL_CHARS = 32_767
#: Marks a value cut to fit one cell, and says where the full text is (outputs.md 5.1).
CUT_MARKER = (
    "[cut to fit Excel's 32,767 characters per cell; the full text is in "
    "`cimrca annotations export DB --csv FILE --history`]"
)


def bounded_text(text: str, *, keep: str = "head", limit: int = MAX_CELL_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, with :data:`CUT_MARKER` where it was cut.

    Parameters
    ----------
    text
        The cell text.
    keep
        ``"head"``: keep the beginning (a value); ``"tail"``: keep the end (a history, oldest
        first, whose latest lines matter most).
    limit
        The largest cell text (Excel: 32,767 characters).

    Notes
    -----
    outputs.md section 5.1: history never breaks a packet; no sheet cell holds more than
    Excel's 32,767 characters. The store keeps every value in full.

    Examples
    --------
    >>> len(bounded_text("x" * 40_000)), bounded_text("short")
    (32767, 'short')
    """
    if len(text) <= limit:
        return text
    room = limit - len(CUT_MARKER) - 1
    if keep == "tail":
        return CUT_MARKER + "\n" + text[-room:]
    return text[:room] + "\n" + CUT_MARKER


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
    conflicts: pd.DataFrame | None = None,
    before_replace: Callable[[], None] | None = None,
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
    conflicts
        Values changed both in the old workbook and in the store
        (:func:`cimrca.annotations.open_conflicts`), listed on a ``Conflicts`` sheet after the
        eight: the value kept in the cell and the other one (outputs.md section 5.1).
    before_replace
        Called after the new file is written, just before it replaces ``path``; when it raises,
        ``path`` is left as it was (the batch checks there that the old workbook is still the
        one it harvested).

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
            _write(
                tmp,
                plan,
                dict(annotations or {}),
                dict(previous_notes or {}),
                {layout.CONFLICTS_SHEET: conflicts, layout.ORPHANS_SHEET: orphans},
            )
            if before_replace is not None:
                before_replace()
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
    extras: dict[str, pd.DataFrame | None],
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
    for name, write_notes in NOTE_SHEET_WRITERS.items():
        write_notes(c, extras.get(name))
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
    _text_table(c, ws, frame, {"value", "history", "note", "consultant_note"})


def _text_table(c: Cells, ws: Worksheet, frame: pd.DataFrame, wide: set[str]) -> None:
    """``frame`` as text under the header row, every cell bounded (:func:`bounded_text`)."""
    columns = [(str(col), 50 if str(col) in wide else 26) for col in frame.columns]
    hdr = HEADER_ROW
    c.header(ws, hdr, columns)
    row = hdr + 1
    for rec in frame.to_dict("records"):
        texts = []
        for col, (name, width) in enumerate(columns):
            v = bounded_text(cell_text(rec[name]), keep="tail" if name == "history" else "head")
            v = layout.display_header(v) if name == "column" and v else v
            c.text(ws, row, col, v, "text")
            texts.append((v, width))
        c.fit_row(ws, row, texts)
        row += 1
    ws.freeze_panes(hdr + 1, 0)
    c.finish(ws, hdr)


#: Headers of the ``Conflicts`` sheet, by column of ``cimrca.annotations.CONFLICT_COLUMNS``.
CONFLICT_HEADERS: dict[str, str] = {
    "sheet": "Sheet",
    "finding_id": "Finding ID",
    "column": "Column",
    "workbook_value": "Kept in the cell (typed in this workbook)",
    "store_value": "Other value (not in the cell)",
    "store_source": "Other value came from",
    "detected_at": "Found at (UTC)",
}


def _conflicts(c: Cells, conflicts: pd.DataFrame | None) -> None:
    """``Conflicts``: cells changed both here and in the store; the value kept and the other."""
    if conflicts is None or conflicts.empty:
        return
    frame = conflicts.reindex(columns=list(CONFLICT_HEADERS))
    frame = frame.assign(column=frame["column"].map(layout.display_header))
    frame = frame.rename(columns=CONFLICT_HEADERS)
    ws = c.wb.add_worksheet(layout.CONFLICTS_SHEET)
    c.heading(
        ws,
        "Conflicts",
        "These cells were changed in this workbook and, meanwhile, elsewhere (an import, "
        "another copy of the workbook). The value typed here was kept in its cell; the other "
        "value is below and in the annotation store's history. Copy it into the cell if it "
        "should win; an entry goes away once its cell is changed.",
    )
    _text_table(c, ws, frame, set(list(CONFLICT_HEADERS.values())[3:5]))


#: Sheets of notes written after the CIM sheets and the glossary when there is something to
#: show, in order (outputs.md sections 5 and 5.1): each takes the cells helper and its frame
#: (``None``: no sheet).
NOTE_SHEET_WRITERS: dict[str, Callable[[Cells, pd.DataFrame | None], None]] = {
    layout.CONFLICTS_SHEET: _conflicts,
    layout.ORPHANS_SHEET: _orphans,
}


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
