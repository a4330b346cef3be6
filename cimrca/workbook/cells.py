"""Cell writing shared by every sheet: formats, text and number cells, keys, annotations,
print setup, protection and row heights (xlsxwriter)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import layout
from ..errors import WorkbookError
from ..findings import FINDING_LEVELS
from .plan import WorkbookPlan, previous_note_key
from .wording import cell_text

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

__all__ = ["Cells", "HEADER_ROW", "new_workbook"]

# Presentation constants (Excel units: column widths in characters, row heights in points).
_LINE_HEIGHT = 15.0  # points per line of 11-point Calibri
_MAX_ROW_HEIGHT = 409.0  # Excel's largest row height
_MAX_CELL_CHARS = 32_767  # Excel's largest cell text
_PAPER_LETTER = 1  # xlsxwriter paper code for US Letter
_PAPER_IN = (8.5, 11.0)  # US Letter, inches (portrait width, landscape width)
_PRINT_MARGIN_IN = 0.4  # left and right print margins, inches
_SCREEN_DPI = 96.0  # pixels per inch of column widths
_CHAR_PX = 7.0  # pixels per character of column width (Calibri 11)
_COLUMN_PAD_PX = 5.0  # padding Excel adds to every column
_PRINT_SCALE = 0.55  # smallest print scale a wide sheet accepts before it takes another page across
HEADER_ROW = 3  # 0-based row of the header on the table sheets (title, guidance, blank above)

_COLOURS = {
    "header": "#1F4E78",
    "entry": "#FFF2CC",
    "entry_header": "#BF9000",
    "previous": "#EDEDED",
    "identified": "#F4B6B6",
    "flagged": "#F9CB9C",
    "watch": "#DDEBF7",
    "block": "#D9E1F2",
    "banner": "#C00000",
    "over": "#9C0006",
}


def new_workbook(file: Path) -> Workbook:
    """An xlsxwriter workbook that writes text as text: never a formula, number or link."""
    import xlsxwriter

    options = {
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
        "nan_inf_to_errors": False,
    }
    return xlsxwriter.Workbook(str(file), options)


def _format_specs() -> dict[str, dict[str, Any]]:
    c = _COLOURS
    edge = {"border": 1, "border_color": "#BFBFBF"}
    spec: dict[str, dict[str, Any]] = {
        "title": {"bold": True, "font_size": 14},
        "subtitle": {"italic": True, "font_color": "#595959"},
        "header": {"bold": True, "font_color": "#FFFFFF", "bg_color": c["header"],
                   "text_wrap": True, **edge},
        "header_entry": {"bold": True, "font_color": "#FFFFFF", "bg_color": c["entry_header"],
                         "text_wrap": True, **edge},
        "text": {"text_wrap": True, **edge},
        "text_nowrap": {**edge},
        "label": {"bold": True, "text_wrap": True},
        "value": {"text_wrap": True},
        "value_bold": {"text_wrap": True, "bold": True},
        "banner": {"bold": True, "font_size": 14, "font_color": "#FFFFFF",
                   "bg_color": c["banner"], "text_wrap": True},
        "entry": {"locked": False, "bg_color": c["entry"], "text_wrap": True, **edge},
        "previous": {"italic": True, "bg_color": c["previous"], "text_wrap": True, **edge},
        "ratio": {"num_format": "0.00", **edge},
        "ratio_over": {"num_format": "0.00", "bold": True, "font_color": c["over"], **edge},
        "pct": {"num_format": "0.0%", **edge},
        "pct2": {"num_format": "0.00%", **edge},
        "pct_signed": {"num_format": "+0.0%;-0.0%;0.0%", **edge},
        "count": {"num_format": "#,##0", **edge},
        "number": {"num_format": "0.000", **edge},
        "block": {"bold": True, "bg_color": c["block"], "text_wrap": True},
        "block_note": {"italic": True, "bg_color": c["block"], "text_wrap": True},
        "value_number": {"num_format": "General", "align": "left"},
        "part": {"num_format": "0.0", **edge},
        "entry_amount": {"locked": False, "bg_color": c["entry"], "num_format": "#,##0.00",
                         **edge},
        "computed_amount": {"bold": True, "num_format": "#,##0.00", **edge},
    }  # fmt: skip
    for level in FINDING_LEVELS:
        spec[f"level_{level}"] = {"bg_color": c[level], "text_wrap": True, **edge}
    return spec


def _column_px(width_chars: float) -> float:
    """Pixels of a column ``width_chars`` wide (Calibri 11, as Excel converts widths)."""
    return width_chars * _CHAR_PX + _COLUMN_PAD_PX


def _pages_wide(widths: list[float], printable_px: float, repeat_cols: int) -> int:
    """Pages across a sheet needs at :data:`_PRINT_SCALE` with whole columns on each page.

    Every page after the first repeats the first ``repeat_cols`` columns.
    """
    px = [_column_px(w) for w in widths]
    capacity = printable_px / _PRINT_SCALE
    repeat_px = sum(px[:repeat_cols])
    pages, used = 1, 0.0
    for col, w in enumerate(px):
        if col > 0 and used + w > capacity:
            pages += 1
            used = repeat_px
        used += w
    return pages


def _column(index: int) -> str:
    """The letter of the 0-based column ``index`` (A to Z)."""
    return chr(ord("A") + index)


def _lines(text: str, width_chars: float) -> int:
    """Lines a wrapped cell of ``width_chars`` needs for ``text`` (rough, for row heights)."""
    per_line = max(int(width_chars) - 1, 1)
    return sum(max(1, math.ceil(len(part) / per_line)) for part in str(text).split("\n"))


class Cells:
    """The writing state of one workbook: its formats, the stored annotations it places, and
    the keys written so far. Every sheet writer writes through one instance."""

    def __init__(
        self,
        wb: Workbook,
        plan: WorkbookPlan,
        *,
        annotations: Mapping[tuple[str, str, str], str],
        previous_notes: Mapping[str, str],
    ) -> None:
        base = {"valign": "top", "font_name": "Calibri", "font_size": 11}
        self.wb = wb
        self.f = {name: wb.add_format({**base, **s}) for name, s in _format_specs().items()}
        self.lea_id = str(plan.inputs.lea_id)
        self.footer_name = f"{plan.inputs.lea_name} ({plan.inputs.lea_id})"
        self.annotations = dict(annotations)
        self.previous_notes = dict(previous_notes)
        #: (sheet, finding_id, column) of every stored annotation placed in a cell
        self.used: set[tuple[str, str, str]] = set()
        #: (sheet, finding_id) of every annotatable row written, in order
        self.keys_written: list[tuple[str, str]] = []
        #: drop-down list name -> its cells on the hidden Lists sheet (one column per list)
        self.lists_ranges = {
            name: f"={layout.LISTS_SHEET}!${_column(i)}$2:${_column(i)}${len(values) + 1}"
            for i, (name, values) in enumerate(plan.choices.items())
        }

    # ---------------------------------------------------------------- cells
    def text(self, ws: Worksheet, row: int, col: int, value: Any, fmt: str = "text") -> None:
        """A text cell (``write_string``: a note ``=1+1`` stays text); blank when empty."""
        s = cell_text(value)
        if len(s) > _MAX_CELL_CHARS:
            raise WorkbookError(
                f"a text of {len(s):,} characters for sheet {ws.get_name()!r}, row {row + 1} is "
                f"longer than Excel's {_MAX_CELL_CHARS:,}; shorten the note in the annotation "
                "store and run again.",
                lea_id=self.lea_id,
            )
        if s == "":
            ws.write_blank(row, col, None, self.f[fmt])
        else:
            ws.write_string(row, col, s, self.f[fmt])

    def number(self, ws: Worksheet, row: int, col: int, value: Any, fmt: str) -> None:
        """A number at full precision with a display format; blank when not finite."""
        try:
            x = float(value)
        except (TypeError, ValueError):
            x = math.nan
        if math.isfinite(x):
            ws.write_number(row, col, x, self.f[fmt])
        else:
            ws.write_blank(row, col, None, self.f[fmt])

    def key(self, ws: Worksheet, row: int, key: str) -> None:
        """Write an annotatable row's key in column A."""
        self.text(ws, row, 0, key, "text_nowrap")
        self.keys_written.append((ws.get_name(), key))

    def annotation(self, sheet: str, key: str, column: str) -> str:
        """The stored annotation of a cell, ``""`` when none (and mark it placed)."""
        ident = (sheet, key, column)
        if ident in self.annotations:
            self.used.add(ident)
            return self.annotations[ident]
        return ""

    def previous(self, key: str) -> str:
        """The earlier year's note of a finding: by its full key, else without its year."""
        if key in self.previous_notes:
            return self.previous_notes[key]
        return self.previous_notes.get(previous_note_key(key), "")

    def note(self, ws: Worksheet, row: int, text: str) -> None:
        """An italic grey line in column B (``No findings ...``)."""
        ws.write_string(row, 1, text, self.f["subtitle"])

    # ---------------------------------------------------------------- rows and headings
    def heading(self, ws: Worksheet, title: str, guidance: str) -> None:
        ws.write_string(0, 0, title, self.f["title"])
        ws.write_string(1, 0, guidance, self.f["subtitle"])
        ws.set_row(0, 21)

    def header(
        self, ws: Worksheet, row: int, columns: list[tuple[str, float]], entry: Iterable[str] = ()
    ) -> None:
        """A header row in plain words (:func:`cimrca.layout.display_header` of each column's
        name); annotation columns (``entry``) get the yellow-brown heading."""
        entry = set(entry)
        lines = 1
        for col, (name, width) in enumerate(columns):
            fmt = "header_entry" if name in entry else "header"
            shown = layout.display_header(name)
            ws.write_string(row, col, shown, self.f[fmt])
            ws.set_column(col, col, width)
            lines = max(lines, _lines(shown, width))
        ws.set_row(row, _LINE_HEIGHT * lines + 3)

    def fit_row(self, ws: Worksheet, row: int, cells: list[tuple[str, float]]) -> None:
        """Set a row's height to show its wrapped texts (``cells``: text, column width)."""
        lines = max([_lines(t, w) for t, w in cells if t] or [1])
        if lines > 1:
            ws.set_row(row, min(_LINE_HEIGHT * lines + 3, _MAX_ROW_HEIGHT))

    def band(self, ws: Worksheet, row: int, text: str, widths: list[float], fmt: str) -> int:
        """A heading or guidance row across columns B to the last (column A left empty, so
        it is not an annotatable row). Returns the next row."""
        ws.write_blank(row, 0, None, self.f[fmt])
        ws.merge_range(row, 1, row, len(widths) - 1, text, self.f[fmt])
        self.fit_row(ws, row, [(text, sum(widths[1:]))])
        return row + 1

    def validation(self, ws: Worksheet, first: int, last: int, col: int, name: str) -> None:
        """A drop-down of the ``Lists`` sheet's ``name`` list on rows ``first``..``last``."""
        if last < first:
            return
        title = {"status": "Review status", "supported": "Hypothesis",
                 "root_cause": "Root cause"}.get(name, layout.display_header(name))  # fmt: skip
        ws.data_validation(
            first,
            col,
            last,
            col,
            {
                "validate": "list",
                "source": self.lists_ranges[name],
                "input_title": title,
                "input_message": "Pick a value from the list.",
                "error_title": "Not in the list",
                "error_message": "Choose one of the values of the drop-down list.",
                "error_type": "warning",
            },
        )

    # ---------------------------------------------------------------- sheet set-up
    def protect(self, ws: Worksheet) -> None:
        """Lock every cell but the annotation cells; no password."""
        ws.protect(
            "",
            {
                "format_columns": True,
                "format_rows": True,
                "autofilter": True,
                "select_locked_cells": True,
                "select_unlocked_cells": True,
            },
        )

    def page(
        self,
        ws: Worksheet,
        header_row: int | None,
        *,
        landscape: bool = True,
        widths: list[float] | None = None,
        repeat_cols: int = 1,
    ) -> None:
        """Print setup: US Letter, header row repeated, footer with LEA, sheet and page.

        With ``widths`` (column widths in characters) a wide sheet is fitted to as many pages
        across as it needs at about :data:`_PRINT_SCALE`, the first ``repeat_cols`` columns
        repeated on each; otherwise it is fitted to one page wide. (Manual column breaks are
        not used: LibreOffice then ignores the print scale.)
        """
        if landscape:
            ws.set_landscape()
        ws.set_paper(_PAPER_LETTER)
        margin = _PRINT_MARGIN_IN
        ws.set_margins(left=margin, right=margin, top=0.5, bottom=0.6)
        if header_row is not None:
            ws.repeat_rows(header_row)
        ws.set_footer(f"&L{self.footer_name.replace('&', '&&')}&C&A&RPage &P of &N")
        if widths is None:
            ws.fit_to_pages(1, 0)
            return
        paper_in = _PAPER_IN[1] if landscape else _PAPER_IN[0]
        printable = (paper_in - 2 * margin) * _SCREEN_DPI
        pages = _pages_wide(widths, printable, repeat_cols)
        ws.fit_to_pages(pages, 0)
        if pages > 1:
            ws.repeat_columns(0, repeat_cols - 1)

    def finish(self, ws: Worksheet, header_row: int | None, **page: Any) -> None:
        """Print setup (:meth:`page`) and protection, the last step of every sheet."""
        self.page(ws, header_row, **page)
        self.protect(ws)
