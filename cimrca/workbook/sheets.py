"""The per-LEA root-cause workbook (outputs.md section 4).

:func:`write_workbook` writes ``<lea_id>_workbook.xlsx`` with xlsxwriter: the eight sheets of
:data:`cimrca.layout.SHEETS` in order, then ``Orphaned annotations`` when there are any, then the
hidden ``Lists`` sheet of drop-down choices. The rows of ``Disproportionality`` are the
findings of :func:`cimrca.findings.findings` (re-exported here with :data:`RATIO_PREFIX` and
:data:`FINDING_LEVELS`).

Layout contract (:mod:`cimrca.layout`): on every annotatable sheet one header row has
``finding_id`` in column A; every row below it with a key in column A is annotatable, and its
annotation cells sit under the headers of ``layout.ANNOTATION_COLUMNS[sheet]``. Heading and
guidance rows between blocks leave column A empty. Annotation cells are unlocked; every other cell
is locked by sheet protection without a password.

The CIM prompts (fishbone categories, five whys, hypotheses, action-plan guidance, CCEIS note)
come from ``templates/root_cause_prompts.yaml``, which a State edits without touching code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from .. import layout
from ..atomic import atomic_path
from ..codes import CATEGORY_LABELS, RACE_LABELS, REASON_LABELS
from ..errors import WorkbookError
from ..findings import FINDING_LEVELS, RATIO_PREFIX, finding_history, findings
from ..profiles import Profile

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

__all__ = [
    "WorkbookInputs",
    "findings",
    "write_workbook",
    "workbook_filename",
    "load_prompts",
    "previous_note_key",
    "workbook_keys",
    "RATIO_PREFIX",
    "FINDING_LEVELS",
    "DEFAULT_PROMPTS",
]

_LEVEL_LABELS = {
    "identified": "Identified",
    "flagged": "Flagged (above threshold)",
    "watch": "Approaching threshold",
}
_RATIO_TYPE_LABELS = {
    "risk_ratio": "risk ratio",
    "alternate_risk_ratio": "alternate risk ratio",
    "not_calculated": "not calculated",
}
_COMPARISON_LABELS = {
    "risk_ratio": "LEA: all other groups",
    "alternate_risk_ratio": "State: all other groups",
    "not_calculated": "none",
}
#: The shipped prompts file (a repository file; a State may pass its own to write_workbook).
DEFAULT_PROMPTS = "root_cause_prompts.yaml"

# Indicators columns (cimrca.indicators.indicator_sheet) by display format; `rate <year>` too.
_INDICATOR_PCT = frozenset({"state_rate", "target"})
_INDICATOR_PCT_CHANGE = frozenset({"change", "trend_slope", "trend_ci_low", "trend_ci_high"})
_INDICATOR_COUNTS = frozenset(
    {"numerator", "denominator", "consecutive_missed", "small_denominator_years"}
)

# Presentation constants (Excel units: column widths in characters, row heights in points).
_LINE_HEIGHT = 15.0  # points per line of 11-point Calibri
_MAX_ROW_HEIGHT = 409.0  # Excel's largest row height
_MAX_CELL_CHARS = 32_767  # Excel's largest cell text
_CHART_MAX_WIDTH_PX = 900  # charts are scaled down to at most this display width
_DEFAULT_ROW_PX = 20  # xlsxwriter's default row height in pixels
_PAPER_LETTER = 1  # xlsxwriter paper code for US Letter
_PAPER_IN = (8.5, 11.0)  # US Letter, inches (portrait width, landscape width)
_PRINT_MARGIN_IN = 0.4  # left and right print margins, inches
_SCREEN_DPI = 96.0  # pixels per inch of column widths
_CHAR_PX = 7.0  # pixels per character of column width (Calibri 11)
_COLUMN_PAD_PX = 5.0  # padding Excel adds to every column
_PRINT_SCALE = 0.55  # smallest print scale a wide sheet accepts before it takes another page across
_HEADER_ROW = 3  # 0-based row of the header on the table sheets (title, guidance, blank above)

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


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkbookInputs:
    """Everything one LEA's workbook shows.

    Attributes
    ----------
    lea_id, lea_name
        The LEA (CDE 7-digit code) and its name.
    results
        The LEA's rows of the statewide results table (outputs.md section 2), every school year.
        Rows of other LEAs are ignored.
    indicator_rows
        The ``Indicators`` rows (``cimrca.indicators.indicator_sheet``): ``finding_id`` first,
        then indicator, label, ``rate <year>`` columns, target, met, trend...; ``None`` when the
        data set has no indicators.
    figures
        Chart title -> PNG bytes, inserted on ``Charts`` in the given order.
    profile
        The state profile the results were computed with.
    dataset_name, is_synthetic
        The data set's name; ``is_synthetic`` puts a "SYNTHETIC DATA" banner on ``Summary``.
    code_version
        ``cimrca.__version__`` (and anything else that identifies the code).
    generated_at
        When the workbook was made; ``None`` means now (UTC).
    prompts_path
        A root-cause prompts YAML to use instead of the shipped ``root_cause_prompts.yaml``.
    """

    lea_id: str
    lea_name: str
    results: pd.DataFrame
    profile: Profile
    indicator_rows: pd.DataFrame | None = None
    figures: Mapping[str, bytes] = field(default_factory=dict)
    dataset_name: str = ""
    is_synthetic: bool = False
    code_version: str = ""
    generated_at: datetime | str | None = None
    prompts_path: str | Path | None = None


def workbook_filename(lea_id: str) -> str:
    """The workbook's file name, ``<lea_id>_workbook.xlsx`` (outputs.md section 3)."""
    return f"{lea_id}_workbook.xlsx"


def previous_note_key(finding_id: str) -> str:
    """The key of ``previous_notes``: a finding's key without its leading ``<school_year>:``.

    ``2024-25:ident_id:BL`` -> ``ident_id:BL`` (a ``Disproportionality`` finding, that is
    ``<category>:<race_ethnicity>``); ``2024-25:indicator:4A`` -> ``indicator:4A``.

    Examples
    --------
    >>> previous_note_key("2024-25:ident_id:BL")
    'ident_id:BL'
    """
    return finding_id.split(":", 1)[1] if ":" in finding_id else finding_id


# --------------------------------------------------------------------------------------------
# Prompts
# --------------------------------------------------------------------------------------------


def _default_prompts_path() -> Path:
    candidates = [
        Path(__file__).resolve().parents[2] / "templates" / DEFAULT_PROMPTS,
        Path(str(resources.files("cimrca") / "templates" / DEFAULT_PROMPTS)),
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise WorkbookError(
        f"the root-cause prompts file {DEFAULT_PROMPTS} was not found (looked in "
        f"{', '.join(str(c.parent) for c in candidates)}). Reinstall cimrca or pass "
        "prompts_path to a copy of templates/root_cause_prompts.yaml.",
        file=candidates[0],
    )


def load_prompts(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check the root-cause prompts YAML (``templates/root_cause_prompts.yaml``).

    Parameters
    ----------
    path
        A prompts file; ``None`` reads the shipped one.

    Raises
    ------
    WorkbookError
        When the file is missing, not YAML, lacks a key, or a list is empty.

    Examples
    --------
    >>> p = load_prompts()
    >>> [f["category"] for f in p["fishbone"]][:2]
    ['Policies, practices and procedures', 'Instruction and access']
    """
    file = Path(path) if path is not None else _default_prompts_path()
    if not file.is_file():
        raise WorkbookError(
            f"root-cause prompts file {file} does not exist. Give a copy of "
            "templates/root_cause_prompts.yaml.",
            file=file,
        )
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise WorkbookError(
            f"root-cause prompts file {file} is not valid YAML: {exc}. Fix its syntax.", file=file
        ) from None

    def fail(message: str) -> WorkbookError:
        return WorkbookError(f"root-cause prompts file {file}: {message}", file=file)

    if not isinstance(raw, dict):
        raise fail("it must be a YAML mapping with keys such as fishbone and five_whys.")
    text_keys = ("problem_statement", "problem_prompt")
    list_keys = ("fishbone", "five_whys", "hypotheses", "supported_choices")
    for key in (*text_keys, *list_keys, "action_plan", "comparison_phrases", "outcome_phrases"):
        if key not in raw:
            raise fail(f"the key `{key}` is missing; copy it from the shipped file.")
    for key in text_keys:
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(f"`{key}` must be a non-empty text.")
    for key in list_keys:
        if not isinstance(raw[key], list) or not raw[key]:
            raise fail(f"`{key}` must be a non-empty list.")
    for i, item in enumerate(raw["fishbone"], start=1):
        if not isinstance(item, dict) or not {"category", "prompt"} <= set(item):
            raise fail(f"fishbone entry {i} must have `category` and `prompt`.")
    ap = raw["action_plan"]
    needed = ("rows_per_finding", "prompt", "cceis_note", "flagged_note")
    if not isinstance(ap, dict) or any(k not in ap for k in needed):
        raise fail(f"`action_plan` must have {', '.join(needed)} and cceis_reservation_fraction.")
    rows = ap["rows_per_finding"]
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise fail(
            f"action_plan.rows_per_finding must be a whole number of 1 or more, found {rows!r}."
        )
    frac = ap.get("cceis_reservation_fraction")
    if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0 < frac <= 1:
        raise fail(
            "action_plan.cceis_reservation_fraction must be a proportion such as 0.15 "
            f"(34 CFR 300.646(d)), found {frac!r}."
        )
    raw["_source"] = str(file)
    return raw


# --------------------------------------------------------------------------------------------
# Text drafted from the data
# --------------------------------------------------------------------------------------------


def _fmt_ratio(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.2f}"


def _fmt_pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.1%}"


def _comparison_risk(row: Mapping[str, Any]) -> float:
    side = "state" if row.get("ratio_type") == "alternate_risk_ratio" else "lea"
    num = row.get(f"{side}_comparison_numerator", np.nan)
    den = row.get(f"{side}_comparison_denominator", np.nan)
    return num / den if pd.notna(num) and pd.notna(den) and den > 0 else np.nan


def _problem_statement(row: Mapping[str, Any], lea_name: str, prompts: Mapping[str, Any]) -> str:
    n_years = int(row["consecutive_years"]) if pd.notna(row["consecutive_years"]) else 0
    over = row.get("students_over_threshold", np.nan)
    values = {
        "school_year": row["school_year"],
        "lea_name": lea_name,
        "group": RACE_LABELS.get(row["race_ethnicity"], row["race_ethnicity"]),
        "outcome": prompts["outcome_phrases"].get(
            row["category"],
            f"to be counted in {CATEGORY_LABELS.get(row['category'], row['category'])}",
        ),
        "ratio": _fmt_ratio(row["ratio"]),
        "ratio_kind": _RATIO_TYPE_LABELS.get(row["ratio_type"], str(row["ratio_type"])),
        "comparison": prompts["comparison_phrases"].get(row["ratio_type"], "all other students"),
        "risk": _fmt_pct(row.get("risk", np.nan)),
        "comparison_risk": _fmt_pct(_comparison_risk(row)),
        "threshold": _fmt_ratio(row["threshold"]),
        "consecutive_years": n_years,
        "years_word": "year" if n_years == 1 else "years",
        "students_over": "n/a" if pd.isna(over) else f"{math.ceil(over):,}",
    }
    try:
        return " ".join(prompts["problem_statement"].format(**values).split())
    except (KeyError, IndexError, ValueError) as exc:
        raise WorkbookError(
            f"root-cause prompts file {prompts.get('_source')}: problem_statement uses an unknown "
            f"placeholder or bad braces ({exc}). Known placeholders: {', '.join(sorted(values))}.",
            file=prompts.get("_source"),
        ) from None


def _finding_title(row: Mapping[str, Any]) -> str:
    cat = CATEGORY_LABELS.get(row["category"], row["category"])
    grp = RACE_LABELS.get(row["race_ethnicity"], row["race_ethnicity"])
    return f"{_LEVEL_LABELS[row['level']]}: {cat} - {grp}"


def _finding_facts(row: Mapping[str, Any], years_required: int) -> str:
    n = int(row["consecutive_years"]) if pd.notna(row["consecutive_years"]) else 0
    kind = _RATIO_TYPE_LABELS.get(row["ratio_type"], str(row["ratio_type"]))
    return (
        f"{row['school_year']} {kind} {_fmt_ratio(row['ratio'])} against a threshold of "
        f"{_fmt_ratio(row['threshold'])}; above it {n} consecutive year{'s' if n != 1 else ''} "
        f"({years_required} required for identification)."
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_workbook(
    path: str | Path,
    inputs: WorkbookInputs,
    *,
    annotations: Mapping[tuple[str, str, str], str] | None = None,
    previous_notes: Mapping[str, str] | None = None,
    orphans: pd.DataFrame | None = None,
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

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    WorkbookError
        When the results lack a column, a note exceeds Excel's 32,767 characters, a chart is
        not an image, the prompts file is unusable, or the file cannot be written (the old
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
    prompts = load_prompts(inputs.prompts_path)
    results = _lea_results(inputs)
    found = findings(results, inputs.profile)

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(target) as tmp:
            builder = _Builder(
                tmp,
                inputs=inputs,
                results=results,
                found=found,
                prompts=prompts,
                annotations=dict(annotations or {}),
                previous_notes=dict(previous_notes or {}),
            )
            builder.build(orphans)
    except OSError as exc:
        raise WorkbookError(
            f"could not write the workbook {target}: {exc}. Close it if another program has it "
            "open, check the folder is writable, and run again.",
            file=target,
            lea_id=str(inputs.lea_id),
        ) from exc
    return target


def _lea_results(inputs: WorkbookInputs) -> pd.DataFrame:
    results = inputs.results
    if "lea_id" in results:
        results = results[results["lea_id"].astype(str) == str(inputs.lea_id)]
    return results


def _root_cause_steps(prompts: Mapping[str, Any]) -> int:
    """Entry rows per finding on ``Root Causes``: problem, fishbone, five whys, hypotheses."""
    return 1 + len(prompts["fishbone"]) + len(prompts["five_whys"]) + len(prompts["hypotheses"])


def _annotatable_keys(
    found: pd.DataFrame, indicator_rows: pd.DataFrame | None, prompts: Mapping[str, Any]
) -> list[tuple[str, str]]:
    keys = [("Disproportionality", str(k)) for k in found["finding_id"]]
    if indicator_rows is not None and layout.KEY_HEADER in indicator_rows:
        keys += [("Indicators", _text(k)) for k in indicator_rows[layout.KEY_HEADER]]
    blocks = found.loc[found["level"].isin(["identified", "flagged"]), "finding_id"]
    n_rc = _root_cause_steps(prompts)
    n_ap = int(prompts["action_plan"]["rows_per_finding"])
    keys += [
        ("Root Causes", layout.root_cause_key(f, n)) for f in blocks for n in range(1, n_rc + 1)
    ]
    keys += [("Action Plan", layout.action_key(f, n)) for f in blocks for n in range(1, n_ap + 1)]
    return keys


def workbook_keys(inputs: WorkbookInputs) -> list[tuple[str, str]]:
    """``(sheet, finding_id)`` of every annotatable row :func:`write_workbook` writes.

    The batch hands these to ``cimrca.annotations.prepare_rewrite`` before the workbook is
    written, to split stored annotations into those with a row and orphans.

    Parameters
    ----------
    inputs
        The same inputs as given to :func:`write_workbook`.

    Returns
    -------
    list of tuple
        In sheet order, then row order: ``Disproportionality`` findings, ``Indicators`` rows,
        ``Root Causes`` and ``Action Plan`` entry rows.
    """
    prompts = load_prompts(inputs.prompts_path)
    found = findings(_lea_results(inputs), inputs.profile)
    return _annotatable_keys(found, inputs.indicator_rows, prompts)


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    """A value as cell text (booleans as Yes/No)."""
    if _is_blank(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "Yes" if value else "No"
    return str(value)


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


def _lines(text: str, width_chars: float) -> int:
    """Lines a wrapped cell of ``width_chars`` needs for ``text`` (rough, for row heights)."""
    per_line = max(int(width_chars) - 1, 1)
    return sum(max(1, math.ceil(len(part) / per_line)) for part in str(text).split("\n"))


class _Builder:
    """Writes the sheets of one workbook; one instance per file."""

    def __init__(
        self,
        file: Path,
        *,
        inputs: WorkbookInputs,
        results: pd.DataFrame,
        found: pd.DataFrame,
        prompts: dict[str, Any],
        annotations: dict[tuple[str, str, str], str],
        previous_notes: dict[str, str],
    ) -> None:
        import xlsxwriter

        self.inputs = inputs
        self.results = results
        self.found = found
        self.prompts = prompts
        self.annotations = annotations
        self.used: set[tuple[str, str, str]] = set()
        self.previous_notes = previous_notes
        self.generated = self._generated_at(inputs.generated_at)
        self.years = sorted(results["school_year"].astype(str).unique()) if len(results) else []
        self.latest = self.years[-1] if self.years else None
        self.wb: Workbook = xlsxwriter.Workbook(
            str(file),
            {
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "nan_inf_to_errors": False,
            },
        )
        self.f = self._formats()
        self.lists_ranges: dict[str, str] = {}
        #: (sheet, finding_id) of every annotatable row written, in order
        self.keys_written: list[tuple[str, str]] = []

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _generated_at(value: datetime | str | None) -> str:
        if value is None:
            value = datetime.now(UTC)
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        return str(value)

    def _formats(self) -> dict[str, Any]:
        wb, c = self.wb, _COLOURS
        base = {"valign": "top", "font_name": "Calibri", "font_size": 11}
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
        }  # fmt: skip
        for level in FINDING_LEVELS:
            spec[f"level_{level}"] = {"bg_color": c[level], "text_wrap": True, **edge}
        return {name: wb.add_format({**base, **s}) for name, s in spec.items()}

    def text(self, ws: Worksheet, row: int, col: int, value: Any, fmt: str = "text") -> None:
        s = _text(value)
        if len(s) > _MAX_CELL_CHARS:
            raise WorkbookError(
                f"a text of {len(s):,} characters for sheet {ws.get_name()!r}, row {row + 1} is "
                f"longer than Excel's {_MAX_CELL_CHARS:,}; shorten the note in the annotation "
                "store and run again.",
                lea_id=str(self.inputs.lea_id),
            )
        if s == "":
            ws.write_blank(row, col, None, self.f[fmt])
        else:
            ws.write_string(row, col, s, self.f[fmt])

    def number(self, ws: Worksheet, row: int, col: int, value: Any, fmt: str) -> None:
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
        ident = (sheet, key, column)
        if ident in self.annotations:
            self.used.add(ident)
            return self.annotations[ident]
        return ""

    def previous(self, key: str) -> str:
        if key in self.previous_notes:
            return self.previous_notes[key]
        return self.previous_notes.get(previous_note_key(key), "")

    def protect(self, ws: Worksheet) -> None:
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
        name = f"{self.inputs.lea_name} ({self.inputs.lea_id})".replace("&", "&&")
        ws.set_footer(f"&L{name}&C&A&RPage &P of &N")
        if widths is None:
            ws.fit_to_pages(1, 0)
            return
        paper_in = _PAPER_IN[1] if landscape else _PAPER_IN[0]
        printable = (paper_in - 2 * margin) * _SCREEN_DPI
        pages = _pages_wide(widths, printable, repeat_cols)
        ws.fit_to_pages(pages, 0)
        if pages > 1:
            ws.repeat_columns(0, repeat_cols - 1)

    def heading(self, ws: Worksheet, title: str, guidance: str) -> None:
        ws.write_string(0, 0, title, self.f["title"])
        ws.write_string(1, 0, guidance, self.f["subtitle"])
        ws.set_row(0, 21)

    def header(
        self, ws: Worksheet, row: int, columns: list[tuple[str, float]], entry: Iterable[str] = ()
    ) -> None:
        entry = set(entry)
        lines = 1
        for col, (name, width) in enumerate(columns):
            fmt = "header_entry" if name in entry else "header"
            ws.write_string(row, col, name, self.f[fmt])
            ws.set_column(col, col, width)
            lines = max(lines, _lines(name, width))
        ws.set_row(row, _LINE_HEIGHT * lines + 3)

    def fit_row(self, ws: Worksheet, row: int, cells: list[tuple[str, float]]) -> None:
        """Set a row's height to show its wrapped texts (``cells``: text, column width)."""
        lines = max([_lines(t, w) for t, w in cells if t] or [1])
        if lines > 1:
            ws.set_row(row, min(_LINE_HEIGHT * lines + 3, _MAX_ROW_HEIGHT))

    # ---------------------------------------------------------------- build
    def build(self, orphans: pd.DataFrame | None) -> None:
        wb = self.wb
        wb.set_properties(
            {
                "title": f"Root-cause workbook {self.inputs.lea_name} ({self.inputs.lea_id})",
                "subject": "Significant disproportionality (34 CFR 300.647) and SPP/APR indicators",
                "author": "cimrca",
                "comments": f"cimrca {self.inputs.code_version}; data set {self.inputs.dataset_name}",
            }
        )
        sheets = {name: wb.add_worksheet(name) for name in layout.SHEETS}
        lists = self._lists_sheet_names()
        self._summary(sheets["Summary"])
        self._disproportionality(sheets["Disproportionality"])
        self._indicators(sheets["Indicators"])
        self._drill_down(sheets["Drill-Down"])
        self._charts(sheets["Charts"])
        self._root_causes(sheets["Root Causes"])
        self._action_plan(sheets["Action Plan"])
        self._parameters(sheets["Parameters"])
        self._orphans(orphans)
        self._lists(lists)
        sheets["Summary"].activate()
        wb.close()

    def _lists_sheet_names(self) -> dict[str, tuple[str, ...]]:
        choices = {
            "status": layout.STATUS_CHOICES,
            "supported": tuple(str(s) for s in self.prompts["supported_choices"]),
        }
        for col, (name, values) in enumerate(choices.items()):
            letter = chr(ord("A") + col)
            self.lists_ranges[name] = (
                f"={layout.LISTS_SHEET}!${letter}$2:${letter}${len(values) + 1}"
            )
        return choices

    def _lists(self, choices: dict[str, tuple[str, ...]]) -> None:
        ws = self.wb.add_worksheet(layout.LISTS_SHEET)
        for col, (name, values) in enumerate(choices.items()):
            ws.write_string(0, col, name)
            for i, v in enumerate(values, start=1):
                ws.write_string(i, col, v)
        ws.hide()
        self.protect(ws)

    def validation(self, ws: Worksheet, first: int, last: int, col: int, name: str) -> None:
        if last < first:
            return
        title = {"status": "Review status", "supported": "Hypothesis"}.get(name, name)
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

    # ---------------------------------------------------------------- Summary
    def _summary(self, ws: Worksheet) -> None:
        inp, f = self.inputs, self.found
        p = inp.profile
        ws.set_column(0, 0, 30)
        ws.set_column(1, 1, 110)
        row = 0
        if inp.is_synthetic:
            ws.merge_range(
                row, 0, row, 1,
                f"SYNTHETIC DATA - this workbook was made from the synthetic data set "
                f"{inp.dataset_name!r}, not from real California data. Do not use it for "
                "monitoring decisions.",
                self.f["banner"],
            )  # fmt: skip
            ws.set_row(row, 40)
            row += 2
        ws.write_string(
            row, 0, "Root-cause workbook: significant disproportionality", self.f["title"]
        )
        ws.set_row(row, 21)
        row += 2

        def line(label: str, value: str, fmt: str = "value") -> None:
            nonlocal row
            ws.write_string(row, 0, label, self.f["label"])
            self.text(ws, row, 1, value, fmt)
            self.fit_row(ws, row, [(value, 110)])
            row += 1

        line("LEA", f"{inp.lea_name} ({inp.lea_id})", "value_bold")
        if self.years:
            span = f"{self.years[0]} to {self.years[-1]}" if len(self.years) > 1 else self.years[0]
            line("School years covered", f"{span} ({len(self.years)} school year"
                 f"{'s' if len(self.years) != 1 else ''}); findings are for {self.latest}.")  # fmt: skip
        else:
            line("School years covered", "none: the results table has no rows for this LEA.")
        row += 1
        for label, text, fmt in self._status_lines(f):
            line(label, text, fmt)
        row += 1
        line("Profile", self._profile_text(p))
        line(
            "Data set",
            (inp.dataset_name or "(unnamed)") + (" (synthetic)" if inp.is_synthetic else ""),
        )
        line("Made", f"{self.generated} with cimrca {inp.code_version}".strip())
        row += 1
        ws.write_string(row, 0, "Sheets", self.f["label"])
        row += 1
        guide = {
            "Disproportionality": "one row per finding, with year-by-year ratios; review status "
            "and notes go in the yellow columns",
            "Indicators": "SPP/APR indicators: rate by year, target, met or not, trend",
            "Drill-Down": "the counts behind each finding, by year, and supplementary measures",
            "Charts": "ratio and indicator trends",
            "Root Causes": "problem of practice, fishbone, five whys and hypotheses per flagged "
            "finding (yellow cells for the team)",
            "Action Plan": "activities, owners, timelines, resources (CCEIS) and progress measures",
            "Parameters": "the profile, data set and code version behind every number",
        }
        for name, what in guide.items():
            line(name, what)
        ws.hide_gridlines(2)
        self.page(ws, None, landscape=False)
        self.protect(ws)

    def _status_lines(self, f: pd.DataFrame) -> list[tuple[str, str, str]]:
        yr, p = self.latest, self.inputs.profile
        if yr is None:
            return [("Monitoring status", "No results to report.", "value")]
        out: list[tuple[str, str, str]] = []
        ident = f[f["level"] == "identified"]
        if len(ident):
            n = len(ident)
            out.append((
                "Monitoring status",
                f"Significantly disproportionate in {yr} (34 CFR 300.647) in {n} category and "
                f"group combination{'s' if n != 1 else ''}:",
                "value_bold",
            ))  # fmt: skip
            out += [
                ("", "- " + self._finding_sentence(r), "value") for r in ident.to_dict("records")
            ]
            frac = self.prompts["action_plan"]["cceis_reservation_fraction"]
            out.append((
                "", f"Identification requires the LEA to reserve {frac:.0%} of its IDEA Part B "
                "funds for comprehensive coordinated early intervening services (CCEIS, 34 CFR "
                "300.646(d)) and to review its policies, practices and procedures.", "value",
            ))  # fmt: skip
        else:
            out.append((
                "Monitoring status",
                f"Not significantly disproportionate in {yr}: no category and group has a ratio "
                f"above the threshold for {p.years_required} consecutive years.",
                "value_bold",
            ))  # fmt: skip
        flagged = f[f["level"] == "flagged"]
        if len(flagged):
            out.append((
                "Above the threshold",
                f"{len(flagged)} more in {yr}, not (yet) identified:", "value",
            ))  # fmt: skip
            out += [
                ("", "- " + self._finding_sentence(r), "value") for r in flagged.to_dict("records")
            ]
        watch = f[f["level"] == "watch"]
        if len(watch):
            names = "; ".join(
                f"{CATEGORY_LABELS.get(r['category'], r['category'])} - "
                f"{RACE_LABELS.get(r['race_ethnicity'], r['race_ethnicity'])} "
                f"({_fmt_ratio(r['ratio'])})"
                for r in watch.to_dict("records")
            )
            out.append((
                "Approaching the threshold",
                f"{len(watch)} at {p.watch_fraction:.0%} of the threshold or more in {yr}: {names}.",
                "value",
            ))  # fmt: skip
        return out

    def _finding_sentence(self, r: Mapping[str, Any]) -> str:
        n = int(r["consecutive_years"]) if pd.notna(r["consecutive_years"]) else 0
        return (
            f"{CATEGORY_LABELS.get(r['category'], r['category'])}, "
            f"{RACE_LABELS.get(r['race_ethnicity'], r['race_ethnicity'])}: above the threshold "
            f"for {n} consecutive year{'s' if n != 1 else ''} "
            f"({r['school_year']} {_RATIO_TYPE_LABELS.get(r['ratio_type'], r['ratio_type'])} "
            f"{_fmt_ratio(r['ratio'])}, threshold {_fmt_ratio(r['threshold'])})."
        )

    @staticmethod
    def _profile_text(p: Profile) -> str:
        d = p.to_dict()

        def show(v: Any) -> str:
            if isinstance(v, dict):
                common = pd.Series(v).mode().iloc[0]
                other = ", ".join(f"{k} {x:g}" for k, x in v.items() if x != common)
                return f"{common:g} ({other})"
            return f"{v:g}"

        return (
            f"{p.name}: threshold {show(d['threshold'])}, minimum cell {show(d['min_cell'])}, "
            f"minimum n {show(d['min_n'])}, {p.years_required} consecutive years required, "
            f"reasonable progress {'on' if p.reasonable_progress else 'off'}, findings listed "
            f"from {p.watch_fraction:g} x threshold. Source: {p.source or 'not recorded'}."
        )

    # ---------------------------------------------------------------- Disproportionality
    def _disproportionality(self, ws: Worksheet) -> None:
        sheet = "Disproportionality"
        f, p = self.found, self.inputs.profile
        ratio_cols = [c for c in f.columns if c.startswith(RATIO_PREFIX)]
        show_rp = "reasonable_progress" in f and f["reasonable_progress"].notna().any()
        columns: list[tuple[str, float]] = [
            (layout.KEY_HEADER, 26),
            ("category", 30),
            ("group", 20),
            ("finding", 13),
            *[(c, 8) for c in ratio_cols],
            ("threshold", 9),
            ("ratio type", 11),
            ("reason not calculated", 11),
            ("consecutive years", 11),
            ("identified", 10),
            *([("reasonable progress", 11)] if show_rp else []),
            ("students over threshold", 10),
            (layout.PREVIOUS_NOTE_HEADER, 36),
            ("status", 20),
            ("consultant_note", 50),
            ("reviewer", 16),
            ("reviewed_on", 13),
        ]
        entry = layout.ANNOTATION_COLUMNS[sheet]
        self.heading(
            ws,
            f"Disproportionality findings, {self.inputs.lea_name} ({self.inputs.lea_id}), "
            f"{self.latest or 'no data'}",
            f"Every category and group whose {self.latest or ''} ratio is at least "
            f"{p.watch_fraction:g} x the threshold. Ratios above the threshold are bold red. "
            "Yellow columns are for the reviewer; other cells are locked (Review > Unprotect "
            "Sheet, no password).",
        )
        hdr = _HEADER_ROW
        self.header(ws, hdr, columns, entry)
        col_of = {name: i for i, (name, _) in enumerate(columns)}
        widths = dict(columns)
        row = hdr + 1
        for r in f.to_dict("records"):
            key = r["finding_id"]
            self.key(ws, row, key)
            self.text(ws, row, 1, CATEGORY_LABELS.get(r["category"], r["category"]))
            self.text(ws, row, 2, RACE_LABELS.get(r["race_ethnicity"], r["race_ethnicity"]))
            self.text(ws, row, 3, _LEVEL_LABELS[r["level"]], f"level_{r['level']}")
            for c in ratio_cols:
                over = pd.notna(r[c]) and r[c] > r["threshold"]
                self.number(ws, row, col_of[c], r[c], "ratio_over" if over else "ratio")
            self.number(ws, row, col_of["threshold"], r["threshold"], "ratio")
            self.text(
                ws,
                row,
                col_of["ratio type"],
                _RATIO_TYPE_LABELS.get(r["ratio_type"], r["ratio_type"]),
            )
            self.text(ws, row, col_of["reason not calculated"], r["reason"])
            self.number(ws, row, col_of["consecutive years"], r["consecutive_years"], "count")
            self.text(ws, row, col_of["identified"], bool(r["significantly_disproportionate"]))
            if show_rp:
                self.text(ws, row, col_of["reasonable progress"], r["reasonable_progress"])
            self.number(
                ws, row, col_of["students over threshold"], r["students_over_threshold"], "count"
            )
            prev = self.previous(key)
            self.text(ws, row, col_of[layout.PREVIOUS_NOTE_HEADER], prev, "previous")
            texts = [
                (CATEGORY_LABELS.get(r["category"], ""), widths["category"]),
                (prev, widths[layout.PREVIOUS_NOTE_HEADER]),
            ]
            for name in entry:
                value = self.annotation(sheet, key, name)
                self.text(ws, row, col_of[name], value, "entry")
                texts.append((value, widths[name]))
            self.fit_row(ws, row, texts)
            row += 1
        if f.empty:
            ws.write_string(
                row, 1,
                f"No category and group reached {p.watch_fraction:g} x the threshold in "
                f"{self.latest or 'any year'}.", self.f["subtitle"],
            )  # fmt: skip
        else:
            self.validation(ws, hdr + 1, row - 1, col_of["status"], "status")
            ws.autofilter(hdr, 0, row - 1, len(columns) - 1)
        ws.freeze_panes(hdr + 1, 3)
        self.page(
            ws,
            hdr,
            widths=[w for _, w in columns],
            repeat_cols=3,
        )
        self.protect(ws)

    # ---------------------------------------------------------------- Indicators
    def _indicators(self, ws: Worksheet) -> None:
        sheet = "Indicators"
        entry = layout.ANNOTATION_COLUMNS[sheet]
        frame = self.inputs.indicator_rows
        self.heading(
            ws,
            f"SPP/APR indicators, {self.inputs.lea_name} ({self.inputs.lea_id})",
            "One row per indicator: rate by year, target, met or not, trend. Yellow columns are "
            "for the reviewer; other cells are locked (no password).",
        )
        hdr = _HEADER_ROW
        if frame is None or frame.empty:
            data_cols: list[str] = [layout.KEY_HEADER, "indicator", "label"]
            frame = pd.DataFrame(columns=data_cols)
        else:
            if layout.KEY_HEADER not in frame.columns:
                raise WorkbookError(
                    f"the indicator rows lack the key column {layout.KEY_HEADER!r}; give the "
                    "frame of cimrca.indicators.indicator_sheet.",
                    lea_id=str(self.inputs.lea_id),
                )
            skip = {*entry, layout.PREVIOUS_NOTE_HEADER, layout.KEY_HEADER}
            data_cols = [layout.KEY_HEADER] + [c for c in frame.columns if c not in skip]
        kinds = {c: self._indicator_kind(c, frame[c]) for c in data_cols[1:]}
        width = {"text": 12, "label": 40, "pct": 9, "pct_signed": 9, "number": 9, "count": 10,
                 "bool": 11}  # fmt: skip
        columns = [(layout.KEY_HEADER, 24)]
        for c in data_cols[1:]:
            shown = str(c).replace("_", " ")
            longest = max(len(word) for word in shown.split()) if shown.strip() else 0
            base = width["label"] if c == "label" else width[kinds[c]]
            columns.append((shown, max(base, longest + 2)))
        columns += [(layout.PREVIOUS_NOTE_HEADER, 36), ("status", 20), ("consultant_note", 48),
                    ("reviewer", 16), ("reviewed_on", 13)]  # fmt: skip
        self.header(ws, hdr, columns, entry)
        widths = [w for _, w in columns]
        row = hdr + 1
        for rec in frame.to_dict("records"):
            key = _text(rec[layout.KEY_HEADER])
            self.key(ws, row, key)
            texts = []
            for i, c in enumerate(data_cols[1:], start=1):
                kind, v = kinds[c], rec[c]
                if kind in ("pct", "pct_signed", "number", "count"):
                    self.number(ws, row, i, v, kind)
                else:
                    self.text(ws, row, i, v)
                    texts.append((_text(v), widths[i]))
            base = len(data_cols)
            prev = self.previous(key)
            self.text(ws, row, base, prev, "previous")
            texts.append((prev, widths[base]))
            for j, name in enumerate(entry, start=base + 1):
                value = self.annotation(sheet, key, name)
                self.text(ws, row, j, value, "entry")
                texts.append((value, widths[j]))
            self.fit_row(ws, row, texts)
            row += 1
        if frame.empty:
            ws.write_string(row, 1, "No indicator data in this data set.", self.f["subtitle"])
        else:
            self.validation(ws, hdr + 1, row - 1, len(data_cols) + 1, "status")
        ws.freeze_panes(hdr + 1, 1)
        self.page(ws, hdr, widths=widths, repeat_cols=1)
        self.protect(ws)

    @staticmethod
    def _indicator_kind(name: str, s: pd.Series) -> str:
        """How an indicator column is shown: rates and targets as percentages, and so on."""
        n = str(name)
        if pd.api.types.is_bool_dtype(s):
            return "bool"
        if not pd.api.types.is_numeric_dtype(s):
            return "text"
        if n.startswith("rate ") or n in _INDICATOR_PCT:
            return "pct"
        if n in _INDICATOR_PCT_CHANGE:
            return "pct_signed"
        if n in _INDICATOR_COUNTS:
            return "count"
        return "number"

    # ---------------------------------------------------------------- Drill-Down
    def _drill_down(self, ws: Worksheet) -> None:
        f, res = self.found, self.results
        self.heading(
            ws,
            f"Drill-down: the counts behind each finding, {self.inputs.lea_name} ({self.inputs.lea_id})",
            "Numerators and denominators by year, the comparison group used, and supplementary "
            "measures (context only, never part of the determination: Bollmer et al., IDEA Data Center TA guide, 2014).",
        )
        columns: list[tuple[str, float, str, str]] = [
            ("finding", 24, "finding_id", "text_nowrap"),
            ("school year", 9, "school_year", "text_nowrap"),
            ("category", 30, "category_label", "text"),
            ("group", 22, "group_label", "text"),
            ("numerator", 10, "numerator", "count"),
            ("denominator", 11, "denominator", "count"),
            ("risk", 8, "risk", "pct2"),
            ("comparison used", 20, "comparison", "text"),
            ("comparison numerator", 12, "comparison_numerator", "count"),
            ("comparison denominator", 12, "comparison_denominator", "count"),
            ("comparison risk", 10, "comparison_risk", "pct2"),
            ("ratio type", 12, "ratio_type_label", "text"),
            ("ratio", 8, "ratio", "ratio"),
            ("reason not calculated", 24, "reason_label", "text"),
            ("threshold", 9, "threshold", "ratio"),
            ("flagged", 8, "exceeds_threshold", "text"),
            ("consecutive years", 11, "consecutive_years", "count"),
            ("identified", 10, "significantly_disproportionate", "text"),
            ("students over threshold", 11, "students_over_threshold", "count"),
            ("weighted risk ratio", 10, "weighted_risk_ratio", "ratio"),
            ("risk difference", 10, "risk_difference", "pct2"),
            ("composition", 11, "composition", "pct"),
            ("E-formula upper bound", 11, "e_formula_upper", "pct"),
            ("CI low (95%)", 9, "ci_low", "ratio"),
            ("CI high (95%)", 9, "ci_high", "ratio"),
        ]
        hdr = _HEADER_ROW
        self.header(ws, hdr, [(n, w) for n, w, _, _ in columns])
        rows = self._drill_frame(f, res)
        row = hdr + 1
        for rec in rows.to_dict("records"):
            texts = []
            for col, (_, width, field_name, fmt) in enumerate(columns):
                v = rec.get(field_name, np.nan)
                if fmt in ("count", "pct", "pct2", "ratio"):
                    self.number(ws, row, col, v, fmt)
                else:
                    self.text(ws, row, col, v, fmt)
                    if fmt == "text":
                        texts.append((_text(v), width))
            self.fit_row(ws, row, texts)
            row += 1
        if rows.empty:
            ws.write_string(row, 1, "No findings, so nothing to drill into.", self.f["subtitle"])
        ws.freeze_panes(hdr + 1, 2)
        self.page(ws, hdr, widths=[w for _, w, _, _ in columns], repeat_cols=2)
        self.protect(ws)

    @staticmethod
    def _drill_frame(f: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
        """:func:`cimrca.findings.finding_history` with the labels the sheet shows."""
        r = finding_history(f, res)
        if r.empty:
            return r
        r["comparison"] = r["ratio_type"].map(_COMPARISON_LABELS).fillna("")
        r["ratio_type_label"] = r["ratio_type"].map(_RATIO_TYPE_LABELS).fillna(r["ratio_type"])
        reason = r["reason"].fillna("").astype(str) if "reason" in r else ""
        r["reason_label"] = pd.Series(reason, index=r.index).map(REASON_LABELS).fillna(reason)
        r["category_label"] = r["category"].map(CATEGORY_LABELS).fillna(r["category"])
        r["group_label"] = r["race_ethnicity"].map(RACE_LABELS).fillna(r["race_ethnicity"])
        for col in ("exceeds_threshold", "significantly_disproportionate"):
            r[col] = r[col].map({True: "Yes", False: "No"})
        return r

    # ---------------------------------------------------------------- Charts
    def _charts(self, ws: Worksheet) -> None:
        from xlsxwriter.image import Image

        self.heading(
            ws,
            f"Charts, {self.inputs.lea_name} ({self.inputs.lea_id})",
            "Ratio trends of the findings and indicator trends.",
        )
        ws.set_column(0, 0, 12)
        row = 3
        if not self.inputs.figures:
            ws.write_string(row, 0, "No charts for this LEA.", self.f["subtitle"])
        for title, png in self.inputs.figures.items():
            if not isinstance(png, bytes | bytearray) or not png:
                raise WorkbookError(
                    f"chart {title!r} is not image bytes; give PNG bytes of a matplotlib figure "
                    "(fig.savefig(buffer, format='png')).",
                    lea_id=str(self.inputs.lea_id),
                )
            try:
                info = Image(BytesIO(bytes(png)))
            except Exception as exc:  # xlsxwriter raises UndefinedImageSize and friends
                raise WorkbookError(
                    f"chart {title!r} is not a readable image ({exc}); give PNG bytes.",
                    lea_id=str(self.inputs.lea_id),
                ) from None
            shown_w = info.width * 96.0 / (info.x_dpi or 96.0)
            shown_h = info.height * 96.0 / (info.y_dpi or 96.0)
            scale = min(1.0, _CHART_MAX_WIDTH_PX / shown_w) if shown_w else 1.0
            ws.write_string(row, 0, str(title), self.f["label"])
            ws.insert_image(
                row + 1, 0, f"{title}.png",
                {"image_data": BytesIO(bytes(png)), "x_scale": scale, "y_scale": scale,
                 "object_position": 3, "description": str(title)},
            )  # fmt: skip
            row += 3 + math.ceil(shown_h * scale / _DEFAULT_ROW_PX)
        self.page(ws, None, landscape=False)
        self.protect(ws)

    # ---------------------------------------------------------------- Root Causes
    def _rc_findings(self) -> pd.DataFrame:
        """Findings flagged in the latest year, identified ones first (the order of findings)."""
        return self.found[self.found["level"].isin(["identified", "flagged"])]

    def _root_causes(self, ws: Worksheet) -> None:
        sheet = "Root Causes"
        pr = self.prompts
        entry = layout.ANNOTATION_COLUMNS[sheet]
        columns = [(layout.KEY_HEADER, 26), ("step", 24), ("prompt", 60),
                   (entry[0], 50), (entry[1], 40), (entry[2], 16)]  # fmt: skip
        widths = dict(columns)
        self.heading(
            ws,
            f"Root causes, {self.inputs.lea_name} ({self.inputs.lea_id})",
            "For each finding flagged in the latest year (identified first): the problem of "
            "practice, fishbone categories, five whys and hypotheses. Write in the yellow cells.",
        )
        hdr = _HEADER_ROW
        self.header(ws, hdr, columns, entry)
        row = hdr + 1
        steps: list[tuple[str, str]] = []
        steps += [(f"Fishbone: {fb['category']}", str(fb["prompt"])) for fb in pr["fishbone"]]
        steps += [(f"Five whys {i}", str(q)) for i, q in enumerate(pr["five_whys"], start=1)]
        steps += [(f"Hypothesis {i}", str(q)) for i, q in enumerate(pr["hypotheses"], start=1)]
        supported_rows: list[int] = []
        blocks = self._rc_findings()
        for r in blocks.to_dict("records"):
            row = self._block_heading(ws, row, r, [w for _, w in columns])
            statement = _problem_statement(r, self.inputs.lea_name, pr)
            block = [
                ("Problem of practice", f"{statement}\n\n{' '.join(pr['problem_prompt'].split())}")
            ]
            for n, (step, prompt) in enumerate(block + steps, start=1):
                key = layout.root_cause_key(r["finding_id"], n)
                self.key(ws, row, key)
                self.text(ws, row, 1, step, "text")
                prompt = " ".join(prompt.split()) if "\n" not in prompt else prompt
                self.text(ws, row, 2, prompt, "text")
                texts = [(prompt, widths["prompt"]), (step, widths["step"])]
                for j, name in enumerate(entry, start=3):
                    value = self.annotation(sheet, key, name)
                    self.text(ws, row, j, value, "entry")
                    texts.append((value, widths[name]))
                supported_rows.append(row)
                self.fit_row(ws, row, texts)
                row += 1
            row += 1
        if blocks.empty:
            ws.write_string(
                row, 1, f"No finding is above the threshold in {self.latest or 'any year'}; "
                "nothing to analyse.", self.f["subtitle"],
            )  # fmt: skip
        elif supported_rows:
            self.validation(ws, supported_rows[0], supported_rows[-1], 5, "supported")
        ws.freeze_panes(hdr + 1, 0)
        self.page(ws, hdr, widths=[w for _, w in columns], repeat_cols=1)
        self.protect(ws)

    def _band(self, ws: Worksheet, row: int, text: str, widths: list[float], fmt: str) -> int:
        """A heading or guidance row across columns B to the last (column A left empty, so
        it is not an annotatable row). Returns the next row."""
        ws.write_blank(row, 0, None, self.f[fmt])
        ws.merge_range(row, 1, row, len(widths) - 1, text, self.f[fmt])
        self.fit_row(ws, row, [(text, sum(widths[1:]))])
        return row + 1

    def _block_heading(
        self, ws: Worksheet, row: int, r: Mapping[str, Any], widths: list[float]
    ) -> int:
        """A finding's heading row: level, category, group, key and the facts."""
        title = f"{_finding_title(r)} ({r['finding_id']})"
        facts = _finding_facts(r, self.inputs.profile.years_required)
        return self._band(ws, row, f"{title}\n{facts}", widths, "block")

    # ---------------------------------------------------------------- Action Plan
    def _action_plan(self, ws: Worksheet) -> None:
        sheet = "Action Plan"
        ap = self.prompts["action_plan"]
        entry = layout.ANNOTATION_COLUMNS[sheet]
        entry_width = {"activity": 40, "owner": 18, "timeline": 16, "resources": 30,
                       "progress_measure": 34}  # fmt: skip
        columns = [(layout.KEY_HEADER, 26), ("root cause", 34)]
        columns += [(name, entry_width.get(name, 24)) for name in entry]
        widths = dict(columns)
        self.heading(
            ws,
            f"Action plan, {self.inputs.lea_name} ({self.inputs.lea_id})",
            "For each root cause of a flagged finding: improvement activity, owner, timeline, "
            "resources and measure of progress. Write in the yellow cells.",
        )
        hdr = _HEADER_ROW
        self.header(ws, hdr, columns, entry)
        row = hdr + 1
        frac = float(ap["cceis_reservation_fraction"])
        blocks = self._rc_findings()
        for r in blocks.to_dict("records"):
            row = self._block_heading(ws, row, r, [w for _, w in columns])
            note = ap["cceis_note"] if r["level"] == "identified" else ap["flagged_note"]
            note = " ".join(str(note).format(fraction=f"{frac:.0%}").split())
            row = self._band(ws, row, note, [w for _, w in columns], "block_note")
            for n in range(1, int(ap["rows_per_finding"]) + 1):
                key = layout.action_key(r["finding_id"], n)
                prompt = " ".join(str(ap["prompt"]).format(n=n).split())
                self.key(ws, row, key)
                self.text(ws, row, 1, prompt, "text")
                texts = [(prompt, widths["root cause"])]
                for j, name in enumerate(entry, start=2):
                    value = self.annotation(sheet, key, name)
                    self.text(ws, row, j, value, "entry")
                    texts.append((value, widths[name]))
                self.fit_row(ws, row, texts)
                row += 1
            row += 1
        if blocks.empty:
            ws.write_string(
                row, 1, f"No finding is above the threshold in {self.latest or 'any year'}; "
                "no action plan is required.", self.f["subtitle"],
            )  # fmt: skip
        ws.freeze_panes(hdr + 1, 0)
        self.page(ws, hdr, widths=[w for _, w in columns], repeat_cols=1)
        self.protect(ws)

    # ---------------------------------------------------------------- Parameters
    def _parameters(self, ws: Worksheet) -> None:
        inp, p = self.inputs, self.inputs.profile
        self.heading(ws, "Parameters", "What every number of this workbook was computed with.")
        hdr = _HEADER_ROW
        self.header(ws, hdr, [("parameter", 34), ("value", 70)])
        rows: list[tuple[str, Any]] = []
        for key, value in p.to_dict().items():
            if isinstance(value, dict):
                for cat, v in value.items():
                    rows.append((f"{key} ({cat})", v))
            elif isinstance(value, list):
                rows.append((key, ", ".join(map(str, value)) if value else "(none)"))
            else:
                rows.append((key, value))
        rows += [
            ("lea_id", inp.lea_id),
            ("lea_name", inp.lea_name),
            ("data set", inp.dataset_name),
            ("synthetic data", bool(inp.is_synthetic)),
            ("school years", ", ".join(self.years)),
            ("results rows for this LEA", len(self.results)),
            ("findings", len(self.found)),
            ("root-cause prompts", self.prompts.get("_source", "")),
            ("cimrca version", inp.code_version),
            ("made at", self.generated),
        ]
        row = hdr + 1
        for name, value in rows:
            self.text(ws, row, 0, name, "text")
            if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
                value, bool | np.bool_
            ):
                self.number(ws, row, 1, value, "value_number")
            else:
                self.text(ws, row, 1, value, "text")
                self.fit_row(ws, row, [(_text(value), 70)])
            row += 1
        ws.freeze_panes(hdr + 1, 0)
        self.page(ws, hdr, landscape=False)
        self.protect(ws)

    # ---------------------------------------------------------------- Orphans
    def _orphans(self, orphans: pd.DataFrame | None) -> None:
        placed = {
            (sheet, key, col)
            for sheet, key, col in self.annotations
            if (sheet, key, col) in self.used
        }
        unplaced = [
            {"finding_id": key, "sheet": sheet, "column": col, "value": value,
             "history": "not placed: no such row or column in this workbook"}
            for (sheet, key, col), value in self.annotations.items()
            if (sheet, key, col) not in placed
        ]  # fmt: skip
        frames = [o for o in (orphans, pd.DataFrame(unplaced)) if o is not None and not o.empty]
        if not frames:
            return
        frame = pd.concat(frames, ignore_index=True, sort=False)
        ws = self.wb.add_worksheet(layout.ORPHANS_SHEET)
        self.heading(
            ws,
            "Orphaned annotations",
            "Notes whose finding is not in this workbook (the finding no longer exists). They are "
            "kept in the annotation store; copy what still applies to a current row.",
        )
        wide = {"value", "history", "note", "consultant_note"}
        columns = [(str(c), 50 if str(c) in wide else 26) for c in frame.columns]
        hdr = _HEADER_ROW
        self.header(ws, hdr, columns)
        row = hdr + 1
        for rec in frame.to_dict("records"):
            texts = []
            for col, (name, width) in enumerate(columns):
                v = _text(rec[name])
                self.text(ws, row, col, v, "text")
                texts.append((v, width))
            self.fit_row(ws, row, texts)
            row += 1
        ws.freeze_panes(hdr + 1, 0)
        self.page(ws, hdr)
        self.protect(ws)
