"""The writers of the data sheets: Summary, Disproportionality, Indicators, Drill-Down, Charts
and Parameters. Each takes the :class:`~cimrca.workbook.cells.Cells` of the workbook, its
worksheet and the :class:`~cimrca.workbook.plan.WorkbookPlan`, and only formats what the plan
holds."""

from __future__ import annotations

import math
from io import BytesIO
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import layout
from ..codes import CATEGORY_LABELS, RACE_LABELS, REASON_LABELS
from ..errors import WorkbookError
from ..findings import RATIO_PREFIX, finding_history, identification_run
from ..statements import (
    CCEIS_REPORT,
    CCEIS_SPEND,
    CCEIS_WHO,
    CONTINUING_DUTY,
    GLOSSARY,
    PROFILE_CONFIRM,
    ROOT_CAUSES_SENTENCE,
    plain_reason,
)
from .cells import HEADER_ROW, Cells
from .plan import WorkbookPlan
from .wording import (
    COMPARISON_LABELS,
    LEVEL_LABELS,
    RATIO_TYPE_LABELS,
    cell_text,
    finding_sentence,
    fmt_ratio,
    profile_text,
)

if TYPE_CHECKING:  # pragma: no cover
    from xlsxwriter.worksheet import Worksheet

__all__ = [
    "summary",
    "disproportionality",
    "indicators",
    "drill_down",
    "charts",
    "parameters",
    "glossary",
]

_SUMMARY_WIDTH = 110  # characters of the Summary's text column
_CHART_MAX_WIDTH_PX = 900  # charts are scaled down to at most this display width
_DEFAULT_ROW_PX = 20  # xlsxwriter's default row height in pixels

# Indicators columns (cimrca.indicators.indicator_sheet) by display format; `rate <year>` too.
_INDICATOR_PCT = frozenset({"state_rate", "target"})
_INDICATOR_PCT_CHANGE = frozenset({"change", "trend_slope", "trend_ci_low", "trend_ci_high"})
_INDICATOR_COUNTS = frozenset(
    {"numerator", "denominator", "consecutive_missed", "small_denominator_years"}
)
#: Plain headers of the Indicators columns (cim_workbook.md section 3); ``rate <year>`` and
#: the rest are shown by :func:`cimrca.layout.display_header`.
_INDICATOR_HEADERS = {
    "label": "what it measures",
    "state_rate": "State rate",
    "met": "target met",
    "consecutive_missed": "years missed in a row",
    "change": "change from the year before (percentage points)",
    "change_p_value": "chance of a change this large by chance alone (p-value)",
    "trend_direction": "trend",
    "trend_slope": "trend per year (percentage points)",
    "trend_ci_low": "trend per year, 95% interval low (points)",
    "trend_ci_high": "trend per year, 95% interval high (points)",
    "small_denominator": "few students",
    "small_denominator_years": "years with few students",
}
_SHEET_GUIDE = {
    "Disproportionality": "one row per finding, with year-by-year ratios; review status "
    "and notes go in the yellow columns",
    "Indicators": "SPP/APR indicators and other measures: rate by year, target, met or not, trend",
    "Drill-Down": "the counts behind each finding, by year, and supplementary measures",
    "Charts": "ratio and indicator trends",
    "Root Causes": "problem of practice, fishbone, five whys and hypotheses per finding: "
    "disproportionality above the threshold and indicators behind the monitoring level or "
    "below target (yellow cells for the team)",
    "Action Plan": "per root cause (a drop-down of the Root Causes entries): SMART goal, "
    "baseline, target, activity, owner, timeline, resources, implementation and outcome "
    "measures",
    "Parameters": "the profile, data set and code version behind every number",
    "CIM Team": "the CIM team and educational partners (every LEA with a finding)",
    "Policies Review": "policies, practices and procedures to review, by the findings' areas",
    "Infrastructure": "the LEA's initiatives the plan builds on",
    "Parent Input": "how families were heard, the themes and the root causes they inform",
    "Case Study": "de-identified student record review (significantly disproportionate LEAs)",
    "CCEIS Plan": "allocations, the 15% reservation (a formula), budget, target population, "
    "reporting (significantly disproportionate LEAs)",
    "Glossary": "the words of this workbook in plain language",
}


# ---------------------------------------------------------------------------- Summary


def summary(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """LEA, years covered, monitoring status in plain words, profile, data set, sheet guide."""
    inp = plan.inputs
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, _SUMMARY_WIDTH)
    row = 0
    if inp.is_synthetic:
        ws.merge_range(
            row, 0, row, 1,
            f"SYNTHETIC DATA - this workbook was made from the synthetic data set "
            f"{inp.dataset_name!r}, not from real California data. Do not use it for "
            "monitoring decisions.",
            c.f["banner"],
        )  # fmt: skip
        ws.set_row(row, 40)
        row += 2
    ws.write_string(
        row,
        0,
        "CIM root-cause workbook: significant disproportionality, SPP/APR indicators and monitoring level",
        c.f["title"],
    )
    ws.set_row(row, 21)
    row += 2
    blocks = [
        [("LEA", f"{inp.lea_name} ({inp.lea_id})", "value_bold"), _years_line(plan)],
        _status_lines(plan),
        _level_lines(plan),
        [
            ("Profile", f"{profile_text(inp.profile)} {PROFILE_CONFIRM}", "value"),
            ("Data set", (inp.dataset_name or "(unnamed)")
             + (" (synthetic)" if inp.is_synthetic else ""), "value"),
            ("Made", f"{plan.generated} with cimrca {inp.code_version}".strip(), "value"),
        ],
    ]  # fmt: skip
    for lines in blocks:
        for label, text, fmt in lines:
            row = _summary_line(c, ws, row, label, text, fmt)
        row += 1
    ws.write_string(row, 0, "Sheets", c.f["label"])
    row += 1
    has = {a.name for a in plan.activities}
    for name, what in _SHEET_GUIDE.items():
        if name in layout.CIM_SHEETS and name not in has:
            continue
        row = _summary_line(c, ws, row, name, what, "value")
    ws.hide_gridlines(2)
    c.finish(ws, None, landscape=False)


def _summary_line(c: Cells, ws: Worksheet, row: int, label: str, value: str, fmt: str) -> int:
    ws.write_string(row, 0, label, c.f["label"])
    c.text(ws, row, 1, value, fmt)
    c.fit_row(ws, row, [(value, _SUMMARY_WIDTH)])
    return row + 1


def _years_line(plan: WorkbookPlan) -> tuple[str, str, str]:
    years = plan.years
    if not years:
        return (
            "School years covered",
            "none: the results table has no rows for this LEA.",
            "value",
        )
    span = f"{years[0]} to {years[-1]}" if len(years) > 1 else years[0]
    n = len(years)
    text = f"{span} ({n} school year{'s' if n != 1 else ''}); findings are for {plan.latest}."
    return ("School years covered", text, "value")


def _status_lines(plan: WorkbookPlan) -> list[tuple[str, str, str]]:
    """The monitoring status: identified, above the threshold, approaching it."""
    f, yr, p = plan.found, plan.latest, plan.inputs.profile
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
        out += [("", "- " + finding_sentence(r), "value") for r in ident.to_dict("records")]
        frac = plan.prompts["action_plan"]["cceis_reservation_fraction"]
        out.append((
            "", f"Identification requires the LEA to review its policies, practices and "
            f"procedures (34 CFR 300.646(c)), to identify and address the factors behind the "
            f"finding, and to reserve {frac:.0%} of its IDEA Part B funds (sections 611 and "
            "619) for comprehensive coordinated early intervening services (CCEIS, 34 CFR "
            f"300.646(d); CCEIS Plan sheet). {ROOT_CAUSES_SENTENCE}", "value",
        ))  # fmt: skip
        out.append(("CCEIS", f"{CCEIS_WHO} {CCEIS_SPEND} {CCEIS_REPORT}", "value"))
        first, run = identification_run(plan.results)
        if run >= 2:
            out.append((
                "Continuing LEA", f"Significantly disproportionate {run} school years in a row, "
                f"first identified in {first}. {CONTINUING_DUTY}", "value_bold",
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
        out.append(("Disproportionate", f"{len(flagged)} more above the threshold in {yr}, "
                    "not (yet) significantly disproportionate:", "value"))  # fmt: skip
        out += [("", "- " + finding_sentence(r), "value") for r in flagged.to_dict("records")]
    watch = f[f["level"] == "watch"]
    if len(watch):
        names = "; ".join(
            f"{CATEGORY_LABELS.get(r['category'], r['category'])} - "
            f"{RACE_LABELS.get(r['race_ethnicity'], r['race_ethnicity'])} "
            f"({fmt_ratio(r['ratio'])})"
            for r in watch.to_dict("records")
        )
        out.append((
            "Approaching the threshold",
            f"{len(watch)} at {p.watch_fraction:.0%} of the threshold or more in {yr}: {names}.",
            "value",
        ))  # fmt: skip
    return out


def _level_lines(plan: WorkbookPlan) -> list[tuple[str, str, str]]:
    """The monitoring level in words, whether CIM is required, the reasons, and the note that
    the Annual Determination Letter is the official level (monitoring.md sections 1 and 3)."""
    from ..monitoring import LEVEL_LABELS as MONITORING_LEVELS
    from ..monitoring import OFFICIAL_LEVEL_NOTE

    row, profile = plan.monitoring, plan.inputs.profile
    if row is None:
        text = (
            f"The profile {profile.name} defines no monitoring levels (it has no monitoring "
            "section)."
            if profile.monitoring is None
            else "Not computed for this workbook."
        )
        return [("Monitoring level", text, "value")]
    level = str(row["level"])
    cim = bool(row["cim_required"])
    out = [
        (
            "Monitoring level",
            f"{MONITORING_LEVELS.get(level, level)} in {row['school_year']}. "
            + ("Required to complete CIM." if cim else "Not required to complete CIM."),
            "value_bold",
        ),
        ("Reasons", "", "value"),
    ]
    reasons = [plain_reason(r.strip()) for r in str(row.get("reasons", "") or "").split("; ")
               if r.strip()]  # fmt: skip
    out[-1] = ("Reasons", "- " + reasons[0] if reasons else "none recorded", "value")
    out += [("", "- " + r, "value") for r in reasons[1:]]
    out.append(("", OFFICIAL_LEVEL_NOTE, "value"))
    return out


# ---------------------------------------------------------------------------- Disproportionality


def _disproportionality_columns(found: pd.DataFrame, show_rp: bool) -> list[tuple[str, float]]:
    ratio_cols = [c for c in found.columns if c.startswith(RATIO_PREFIX)]
    return [
        (layout.KEY_HEADER, 26), ("category", 30), ("group", 20), ("finding", 13),
        *[(c, 8) for c in ratio_cols],
        ("threshold", 9), ("ratio type", 11), ("reason not calculated", 11),
        ("consecutive years", 11), ("significantly disproportionate", 15),
        *([("reasonable progress", 11)] if show_rp else []),
        ("students over the threshold", 10), (layout.PREVIOUS_NOTE_HEADER, 36),
        ("status", 20), ("consultant_note", 50), ("reviewer", 16), ("reviewed_on", 13),
    ]  # fmt: skip


def disproportionality(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """One row per finding: year-by-year ratios, threshold, status and the review columns."""
    sheet, f, p, latest = "Disproportionality", plan.found, plan.inputs.profile, plan.latest
    show_rp = "reasonable_progress" in f and f["reasonable_progress"].notna().any()
    columns = _disproportionality_columns(f, show_rp)
    entry = layout.ANNOTATION_COLUMNS[sheet]
    c.heading(
        ws,
        f"Disproportionality findings, {plan.inputs.lea_name} ({plan.inputs.lea_id}), "
        f"{latest or 'no data'}",
        f"Every category and group whose {latest or ''} ratio is at least "
        f"{p.watch_fraction:g} x the threshold. Ratios above the threshold are bold red: a "
        "year above it is disproportionate; significantly disproportionate is the "
        "determination, after the consecutive years the profile requires. 'Students over the "
        "threshold' is the size of the gap, not a target for identifying fewer students (34 "
        "CFR 300.646(f): nothing permits practices that violate child find or FAPE). Yellow "
        "columns are for the reviewer; other cells are locked (Review > Unprotect Sheet, no "
        "password).",
    )
    hdr = HEADER_ROW
    c.header(ws, hdr, columns, entry)
    col_of = {name: i for i, (name, _) in enumerate(columns)}
    widths = dict(columns)
    row = hdr + 1
    for r in f.to_dict("records"):
        key = r["finding_id"]
        c.key(ws, row, key)
        _finding_cells(c, ws, row, r, col_of, show_rp)
        prev = c.previous(key)
        c.text(ws, row, col_of[layout.PREVIOUS_NOTE_HEADER], prev, "previous")
        texts = [
            (CATEGORY_LABELS.get(r["category"], ""), widths["category"]),
            (prev, widths[layout.PREVIOUS_NOTE_HEADER]),
        ]
        for name in entry:
            value = c.annotation(sheet, key, name)
            c.text(ws, row, col_of[name], value, "entry")
            texts.append((value, widths[name]))
        c.fit_row(ws, row, texts)
        row += 1
    if f.empty:
        c.note(ws, row, f"No category and group reached {p.watch_fraction:g} x the threshold in "
               f"{latest or 'any year'}.")  # fmt: skip
    else:
        c.validation(ws, hdr + 1, row - 1, col_of["status"], "status")
        ws.autofilter(hdr, 0, row - 1, len(columns) - 1)
    ws.freeze_panes(hdr + 1, 3)
    c.finish(ws, hdr, widths=[w for _, w in columns], repeat_cols=3)


def _finding_cells(
    c: Cells, ws: Worksheet, row: int, r: dict[str, Any], col_of: dict[str, int], show_rp: bool
) -> None:
    """The computed cells of a finding's row (everything but key, notes and annotations)."""
    c.text(ws, row, 1, CATEGORY_LABELS.get(r["category"], r["category"]))
    c.text(ws, row, 2, RACE_LABELS.get(r["race_ethnicity"], r["race_ethnicity"]))
    c.text(ws, row, 3, LEVEL_LABELS[r["level"]], f"level_{r['level']}")
    for name in (n for n in r if n.startswith(RATIO_PREFIX)):
        over = pd.notna(r[name]) and r[name] > r["threshold"]
        c.number(ws, row, col_of[name], r[name], "ratio_over" if over else "ratio")
    c.number(ws, row, col_of["threshold"], r["threshold"], "ratio")
    ratio_type = RATIO_TYPE_LABELS.get(r["ratio_type"], r["ratio_type"])
    c.text(ws, row, col_of["ratio type"], ratio_type)
    c.text(ws, row, col_of["reason not calculated"], r["reason"])
    c.number(ws, row, col_of["consecutive years"], r["consecutive_years"], "count")
    sd = bool(r["significantly_disproportionate"])
    c.text(ws, row, col_of["significantly disproportionate"], sd)
    if show_rp:
        c.text(ws, row, col_of["reasonable progress"], r["reasonable_progress"])
    over_n = r["students_over_threshold"]
    c.number(ws, row, col_of["students over the threshold"], over_n, "count")


# ---------------------------------------------------------------------------- Indicators


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


def _indicator_columns(data_cols: list[str], kinds: dict[str, str]) -> list[tuple[str, float]]:
    width = {"text": 12, "label": 40, "pct": 9, "pct_signed": 9, "number": 9, "count": 10,
             "bool": 11}  # fmt: skip
    columns: list[tuple[str, float]] = [(layout.KEY_HEADER, 24)]
    for col in data_cols[1:]:
        shown = _INDICATOR_HEADERS.get(str(col), str(col))
        longest = max(len(word) for word in shown.split()) if shown.strip() else 0
        base = width["label"] if col == "label" else width[kinds[col]]
        columns.append((shown, max(base, longest + 2)))
    columns += [(layout.PREVIOUS_NOTE_HEADER, 36), ("status", 20), ("consultant_note", 48),
                ("reviewer", 16), ("reviewed_on", 13)]  # fmt: skip
    return columns


def indicators(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """One row per indicator: rate by year, target, met or not, trend, review columns."""
    sheet, frame = "Indicators", plan.indicators
    entry = layout.ANNOTATION_COLUMNS[sheet]
    c.heading(
        ws,
        f"SPP/APR indicators and other measures, {plan.inputs.lea_name} ({plan.inputs.lea_id})",
        "One row per indicator: rate by year, target, met or not, trend. Yellow columns are "
        "for the reviewer; other cells are locked (no password).",
    )
    hdr = HEADER_ROW
    skip = {*entry, layout.PREVIOUS_NOTE_HEADER, layout.KEY_HEADER}
    data_cols = [layout.KEY_HEADER] + [col for col in frame.columns if col not in skip]
    kinds = {col: _indicator_kind(col, frame[col]) for col in data_cols[1:]}
    columns = _indicator_columns(data_cols, kinds)
    c.header(ws, hdr, columns, entry)
    widths = [w for _, w in columns]
    row = hdr + 1
    for rec in frame.to_dict("records"):
        key = cell_text(rec[layout.KEY_HEADER])
        c.key(ws, row, key)
        texts = []
        for i, col in enumerate(data_cols[1:], start=1):
            kind, v = kinds[col], rec[col]
            if kind in ("pct", "pct_signed", "number", "count"):
                c.number(ws, row, i, v, kind)
            else:
                c.text(ws, row, i, v)
                texts.append((cell_text(v), widths[i]))
        base = len(data_cols)
        prev = c.previous(key)
        c.text(ws, row, base, prev, "previous")
        texts.append((prev, widths[base]))
        for j, name in enumerate(entry, start=base + 1):
            value = c.annotation(sheet, key, name)
            c.text(ws, row, j, value, "entry")
            texts.append((value, widths[j]))
        c.fit_row(ws, row, texts)
        row += 1
    if frame.empty:
        c.note(ws, row, "No indicator data in this data set.")
    else:
        c.validation(ws, hdr + 1, row - 1, len(data_cols) + 1, "status")
    ws.freeze_panes(hdr + 1, 1)
    c.finish(ws, hdr, widths=widths, repeat_cols=1)


# ---------------------------------------------------------------------------- Drill-Down

#: Drill-Down columns: header, width, field of :func:`_drill_frame`, format.
_DRILL_COLUMNS: tuple[tuple[str, float, str, str], ...] = (
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
    ("above the threshold", 10, "exceeds_threshold", "text"),
    ("consecutive years", 11, "consecutive_years", "count"),
    ("significantly disproportionate", 15, "significantly_disproportionate", "text"),
    ("students over the threshold", 11, "students_over_threshold", "count"),
    ("weighted risk ratio", 10, "weighted_risk_ratio", "ratio"),
    ("risk difference", 10, "risk_difference", "pct2"),
    ("composition", 11, "composition", "pct"),
    ("E-formula upper bound", 11, "e_formula_upper", "pct"),
    ("CI low (95%)", 9, "ci_low", "ratio"),
    ("CI high (95%)", 9, "ci_high", "ratio"),
)


def _drill_frame(f: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
    """:func:`cimrca.findings.finding_history` with the labels the sheet shows."""
    r = finding_history(f, res)
    if r.empty:
        return r
    r["comparison"] = r["ratio_type"].map(COMPARISON_LABELS).fillna("")
    r["ratio_type_label"] = r["ratio_type"].map(RATIO_TYPE_LABELS).fillna(r["ratio_type"])
    reason = r["reason"].fillna("").astype(str) if "reason" in r else ""
    r["reason_label"] = pd.Series(reason, index=r.index).map(REASON_LABELS).fillna(reason)
    r["category_label"] = r["category"].map(CATEGORY_LABELS).fillna(r["category"])
    r["group_label"] = r["race_ethnicity"].map(RACE_LABELS).fillna(r["race_ethnicity"])
    for col in ("exceeds_threshold", "significantly_disproportionate"):
        r[col] = r[col].map({True: "Yes", False: "No"})
    return r


def drill_down(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """The counts behind each finding, every year, and the supplementary measures."""
    c.heading(
        ws,
        f"Drill-down: the counts behind each finding, {plan.inputs.lea_name} "
        f"({plan.inputs.lea_id})",
        "Numerators and denominators by year, the comparison group used, and supplementary "
        "measures (context only, never part of the determination: Bollmer et al., IDEA Data "
        "Center TA guide, 2014).",
    )
    hdr = HEADER_ROW
    c.header(ws, hdr, [(n, w) for n, w, _, _ in _DRILL_COLUMNS])
    rows = _drill_frame(plan.found, plan.results)
    row = hdr + 1
    for rec in rows.to_dict("records"):
        texts = []
        for col, (_, width, field_name, fmt) in enumerate(_DRILL_COLUMNS):
            v = rec.get(field_name, np.nan)
            if fmt in ("count", "pct", "pct2", "ratio"):
                c.number(ws, row, col, v, fmt)
            else:
                c.text(ws, row, col, v, fmt)
                if fmt == "text":
                    texts.append((cell_text(v), width))
        c.fit_row(ws, row, texts)
        row += 1
    if rows.empty:
        c.note(ws, row, "No findings, so nothing to drill into.")
        row += 1
    _where_in_the_lea(c, ws, row + 1, plan)
    ws.freeze_panes(hdr + 1, 2)
    c.finish(ws, hdr, widths=[w for _, w, _, _ in _DRILL_COLUMNS], repeat_cols=2)


#: Columns of a "Where in the LEA" block: header, field of the drill-down, format. They reuse
#: the widths of the Drill-Down columns above them (A 24, B 9, C 30, D 22, ...).
_WHERE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("part of the LEA", "label", "text"),
    ("code", "value", "text_nowrap"),
    ("students over the threshold in this part", "over_threshold", "part"),
    ("share of the LEA's students over the threshold", "share", "pct"),
    ("numerator", "numerator", "count"),
    ("denominator", "denominator", "count"),
    ("risk", "risk", "pct2"),
    ("comparison numerator", "comparison_numerator", "count"),
    ("comparison denominator", "comparison_denominator", "count"),
    ("comparison risk", "comparison_risk", "pct2"),
    ("ratio in this part", "ratio", "ratio"),
)
_WHERE_GUIDE = (
    "Where in the LEA each finding sits: its counts split by school, grade band, gender, "
    "English learners, socioeconomically disadvantaged students and (placement and "
    "discipline) disability, largest part first. 'Students over the threshold in this part' "
    "is the part's share of the gap: the group's students in that part minus what the "
    "threshold allows at the comparison risk the LEA's ratio used; the parts of a block add "
    "up to the LEA's own figure, and a part below the threshold's level is negative. It "
    "measures the gap, not a target for identifying fewer students (34 CFR 300.646(f)). A "
    "part's own ratio is shown only where it has the minimum cell and n-size; it is context, "
    "never a determination."
)


def _where_in_the_lea(c: Cells, ws: Worksheet, row: int, plan: WorkbookPlan) -> int:
    """The "Where in the LEA" blocks (drilldown.md section 3), from ``row``; next row.

    Per finding and dimension: a heading, the sentence on concentration, a header and one row
    per slice, largest part first, numbers as numbers. Column A never holds a key: the sheet
    is not annotatable. Without drill-down data, the plan's note in plain words instead.
    """
    if not plan.drill_blocks and not plan.drill_note:
        return row
    widths = [w for _, w, _, _ in _DRILL_COLUMNS[: len(_WHERE_COLUMNS)]]
    ws.write_string(row, 0, "Where in the LEA", c.f["title"])
    row += 1
    if plan.drill_note:
        ws.merge_range(row, 0, row, len(widths) - 1, plan.drill_note, c.f["value"])
        c.fit_row(ws, row, [(plan.drill_note, sum(widths))])
        return row + 1
    ws.merge_range(row, 0, row, len(widths) - 1, _WHERE_GUIDE, c.f["subtitle"])
    c.fit_row(ws, row, [(_WHERE_GUIDE, sum(widths))])
    row += 2
    for block in plan.drill_blocks:
        row = c.band(ws, row, block.title, widths, "block")
        row = c.band(ws, row, block.sentence, widths, "block_note")
        for col, (name, _, _) in enumerate(_WHERE_COLUMNS):
            ws.write_string(row, col, layout.display_header(name), c.f["header"])
        c.fit_row(ws, row, [(name, widths[i]) for i, (name, _, _) in enumerate(_WHERE_COLUMNS)])
        row += 1
        for rec in block.slices.to_dict("records"):
            texts = []
            for col, (_, field_name, fmt) in enumerate(_WHERE_COLUMNS):
                v = rec.get(field_name, np.nan)
                if field_name == "label" and not v:
                    v = rec["value"]  # a school schools.csv does not name: its code
                if fmt in ("count", "pct", "pct2", "ratio", "part"):
                    c.number(ws, row, col, v, fmt)
                else:
                    c.text(ws, row, col, v, fmt)
                    texts.append((cell_text(v), widths[col]))
            c.fit_row(ws, row, texts)
            row += 1
        row += 1
    return row


# ---------------------------------------------------------------------------- Charts


def charts(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """The chart images of ``inputs.figures``, in order, each under its title."""
    from xlsxwriter.image import Image

    inp = plan.inputs
    c.heading(
        ws,
        f"Charts, {inp.lea_name} ({inp.lea_id})",
        "Ratio trends of the findings and indicator trends.",
    )
    ws.set_column(0, 0, 12)
    row = 3
    if not inp.figures:
        ws.write_string(row, 0, "No charts for this LEA.", c.f["subtitle"])
    for title, png in inp.figures.items():
        if not isinstance(png, bytes | bytearray) or not png:
            raise WorkbookError(
                f"chart {title!r} is not image bytes; give PNG bytes of a matplotlib figure "
                "(fig.savefig(buffer, format='png')).",
                lea_id=str(inp.lea_id),
            )
        try:
            info = Image(BytesIO(bytes(png)))
        except Exception as exc:  # xlsxwriter raises UndefinedImageSize and friends
            raise WorkbookError(
                f"chart {title!r} is not a readable image ({exc}); give PNG bytes.",
                lea_id=str(inp.lea_id),
            ) from None
        shown_w = info.width * 96.0 / (info.x_dpi or 96.0)
        shown_h = info.height * 96.0 / (info.y_dpi or 96.0)
        scale = min(1.0, _CHART_MAX_WIDTH_PX / shown_w) if shown_w else 1.0
        ws.write_string(row, 0, str(title), c.f["label"])
        ws.insert_image(
            row + 1, 0, f"{title}.png",
            {"image_data": BytesIO(bytes(png)), "x_scale": scale, "y_scale": scale,
             "object_position": 3, "description": str(title)},
        )  # fmt: skip
        row += 3 + math.ceil(shown_h * scale / _DEFAULT_ROW_PX)
    c.finish(ws, None, landscape=False)


# ---------------------------------------------------------------------------- Parameters


#: Plain names of the profile's keys on Parameters (cim_workbook.md section 3); a key not
#: listed is shown by :func:`cimrca.layout.display_header`.
_PARAMETER_LABELS = {
    "name": "Profile",
    "min_cell": "Minimum cell",
    "min_n": "Minimum n-size",
    "years_required": "Consecutive years required",
    "reasonable_progress_min_decrease": "Reasonable progress: smallest decrease",
    "suppress_public_counts_below": "Public counts suppressed below",
    "watch_fraction": "Findings listed from (share of the threshold)",
    "skip_years": "School years set aside",
    "small_lea_max_swd": "Small LEA: at most this many students with disabilities",
    "min_denominator": "Smallest denominator for an indicator finding",
}


def _parameter_label(key: str) -> str:
    return _PARAMETER_LABELS.get(key) or layout.display_header(key)


def _parameter_rows(plan: WorkbookPlan) -> list[tuple[str, Any]]:
    """Profile values, then the LEA, data set, prompts file (name and hash) and code version."""
    inp = plan.inputs
    rows: list[tuple[str, Any]] = []
    for key, value in inp.profile.to_dict().items():
        label = _parameter_label(key)
        if isinstance(value, dict):
            rows += [
                (f"{label} ({CATEGORY_LABELS.get(cat) or _parameter_label(str(cat))})", v)
                for cat, v in value.items()
            ]
        elif isinstance(value, list):
            shown = [CATEGORY_LABELS.get(str(v), str(v)) for v in value]
            rows.append((label, "; ".join(shown) if value else "(none)"))
        else:
            rows.append((label, value))
    return rows + [
        ("LEA code", inp.lea_id),
        ("LEA name", inp.lea_name),
        ("data set", inp.dataset_name),
        ("synthetic data", bool(inp.is_synthetic)),
        ("school years", ", ".join(plan.years)),
        ("results rows for this LEA", len(plan.results)),
        ("findings", len(plan.found)),
        ("root-cause prompts", plan.prompts.get("_label", "")),
        ("cimrca version", inp.code_version),
        ("made at", plan.generated),
    ]


def parameters(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """What every number of the workbook was computed with."""
    c.heading(ws, "Parameters", "What every number of this workbook was computed with.")
    hdr = HEADER_ROW
    c.header(ws, hdr, [("parameter", 44), ("value", 70)])
    row = hdr + 1
    for name, value in _parameter_rows(plan):
        c.text(ws, row, 0, name, "text")
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool | np.bool_
        ):
            c.number(ws, row, 1, value, "value_number")
        else:
            c.text(ws, row, 1, value, "text")
            c.fit_row(ws, row, [(cell_text(value), 70)])
        row += 1
    ws.freeze_panes(hdr + 1, 0)
    c.finish(ws, hdr, landscape=False)


# ---------------------------------------------------------------------------- Glossary


def glossary(c: Cells, ws: Worksheet, plan: WorkbookPlan) -> None:
    """The words of the workbook in plain language (cim_workbook.md section 3)."""
    c.heading(
        ws,
        "Glossary",
        "The words this workbook uses, in plain language, with the rule each comes from.",
    )
    hdr = HEADER_ROW
    c.header(ws, hdr, [("term", 30), ("meaning", 100)])
    row = hdr + 1
    for term, meaning in GLOSSARY:
        c.text(ws, row, 0, term, "value_bold")
        c.text(ws, row, 1, meaning, "text")
        c.fit_row(ws, row, [(meaning, 100)])
        row += 1
    ws.freeze_panes(hdr + 1, 0)
    c.finish(ws, hdr, landscape=False)
