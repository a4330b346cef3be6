"""What the packet notebook shows: headings, plain-words summaries, tables and charts.

Each function takes a :class:`~cimrca.packet.assemble.Packet` and returns an object the
notebook displays as it is (Markdown, a styled table, images).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import UsageError
from ..layout import ANNOTATION_COLUMNS, display_header
from ..statements import (
    CCEIS_REPORT,
    CCEIS_SPEND,
    CCEIS_WHO,
    CONTINUING_DUTY,
    PROFILE_CONFIRM,
    ROOT_CAUSES_SENTENCE,
    STUDENTS_OVER_CAUTION,
    plain_reason,
)
from ..workbook import load_prompts
from .assemble import Packet
from .markup import (
    _BANNER_STYLE,
    _LEVEL_WORDS,
    _RATIO_TYPE_WORDS,
    DISPLAY_WIDTH_PX,
    SYNTHETIC_MARK,
    Header,
    MarkdownText,
    PngImage,
    _category_label,
    _fmt_ratio,
    _group_label,
    _md,
    _plural,
)

if TYPE_CHECKING:  # pragma: no cover
    from pandas.io.formats.style import Styler

__all__ = [
    "packet_title",
    "packet_header",
    "summary_markdown",
    "findings_table",
    "indicators_table",
    "figure_title",
    "figure_items",
    "show_figures",
    "drilldown_items",
    "show_drilldown",
    "profile_markdown",
    "files_markdown",
    "consultant_notes_markdown",
    "next_steps_markdown",
    "monitoring_markdown",
    "continuing_sentence",
]

FigureKind = Literal["ratios", "funnels", "indicators", "all"]


def packet_title(packet: Packet) -> str:
    """``"<LEA name> (<lea_id>) - CIM root-cause packet, <latest year>[ - SYNTHETIC DATA]"``.

    Examples
    --------
    >>> packet_title(load_packet("2071593", data_dir="data/sample"))
    'Rushmere Valley Unified School District (2071593) - CIM root-cause packet, 2024-25 - SYNTHETIC DATA'
    """
    title = f"{packet.lea_name} ({packet.lea_id}) - CIM root-cause packet, {packet.latest_year}"
    return f"{title} - {SYNTHETIC_MARK}" if packet.is_synthetic else title


def packet_header(packet: Packet) -> Header:
    """The packet's heading (LEA, year, profile, data set) with a banner for synthetic data.

    Displayed as HTML; the title travels in the output's metadata, where :func:`render_html`
    finds it.
    """
    title = packet_title(packet)
    e = html.escape
    years = packet.school_years
    span = f"{years[0]} to {years[-1]}" if len(years) > 1 else years[0]
    parts = []
    if packet.is_synthetic:
        parts.append(
            f'<div style="{_BANNER_STYLE}">{SYNTHETIC_MARK}: this packet was made from the '
            f"synthetic data set {e(packet.dataset.name or '(unnamed)')!s}. It describes no "
            "real LEA, school or student. Do not use it for monitoring decisions.</div>"
        )
    parts.append(f"<h1>{e(packet.lea_name)} ({e(packet.lea_id)})</h1>")
    parts.append(
        f"<p><strong>CIM root-cause packet: significant disproportionality and SPP/APR "
        f"indicators, {e(packet.latest_year)}</strong><br>"
        f"School years {e(span)} &middot; profile {e(packet.profile.name)} &middot; data set "
        f"{e(packet.dataset.name or packet.dataset.path.name)} &middot; cimrca {e(__version__)}"
        "</p>"
    )
    return Header(title, "\n".join(parts))


def _finding_line(r: Mapping[str, Any], years_required: int) -> str:
    n = int(r["consecutive_years"]) if pd.notna(r["consecutive_years"]) else 0
    what = f"**{_md(_category_label(r['category']))}, {_md(_group_label(r['race_ethnicity']))}**"
    ratio = (
        f"{_RATIO_TYPE_WORDS.get(r['ratio_type'], r['ratio_type'])} {_fmt_ratio(r['ratio'])} "
        f"in {r['school_year']} (threshold {_fmt_ratio(r['threshold'])})"
    )
    if r["level"] == "watch":
        return f"- {what}: {ratio}; not above the threshold."
    over = r.get("students_over_threshold")
    extra = ""
    if over is not None and pd.notna(over) and float(over) > 0:
        k = int(math.ceil(float(over)))
        extra = (
            f"; {_plural(k, 'student')} over the threshold (the size of the gap, not a target "
            "for identifying fewer students)"
        )
    run = f"above the threshold {_plural(n, 'year')} in a row"
    if r["level"] == "flagged":
        left = max(years_required - n, 0)
        run += f" ({_plural(left, 'more year')} would lead to identification)"
    return f"- {what}: {run}; {ratio}{extra}."


def _cceis_fraction() -> float:
    return float(load_prompts()["action_plan"]["cceis_reservation_fraction"])


def summary_markdown(packet: Packet) -> MarkdownText:
    """The monitoring status in plain words: identified or not, in what, for how long, and next.

    Notes
    -----
    An LEA is significantly disproportionate in a category and group when the ratio used
    exceeded the threshold in ``years_required`` consecutive years (34 CFR 300.647(d)(1));
    identification requires a review of policies, practices and procedures (300.646(c)) and the
    reservation of 15% of IDEA Part B funds for CCEIS (300.646(d)).
    """
    f, p, yr = packet.findings, packet.profile, packet.latest_year
    ident = f[f["level"] == "identified"].to_dict("records")
    flagged = f[f["level"] == "flagged"].to_dict("records")
    watch = f[f["level"] == "watch"].to_dict("records")
    name = _md(packet.lea_name)
    lines: list[str] = []
    if ident:
        lines.append(
            f"**{name} is significantly disproportionate in {yr}** (34 CFR 300.647) in "
            f"{_plural(len(ident), 'category and group', 'categories and groups')}:"
        )
        lines.append("")
        lines += [_finding_line(r, p.years_required) for r in ident]
    else:
        lines.append(
            f"**{name} is not significantly disproportionate in {yr}.** No category and group "
            f"had a ratio above the threshold for {p.years_required} consecutive years."
        )
    if flagged:
        lines += [
            "",
            f"Disproportionate in {yr} (above the threshold), but not (yet) for "
            f"{p.years_required} years in a row:",
            "",
        ]
        lines += [_finding_line(r, p.years_required) for r in flagged]
    if watch:
        lines += [
            "",
            f"Approaching the threshold (a ratio of at least {p.watch_fraction:.0%} of it) "
            f"in {yr}:",
            "",
        ]
        lines += [_finding_line(r, p.years_required) for r in watch]
    if not (ident or flagged or watch):
        lines += [
            "",
            f"No category and group reached {p.watch_fraction:.0%} of the threshold in {yr}, "
            "so the packet lists no findings.",
        ]
    continuing = continuing_sentence(packet)
    lines += ["", continuing] if continuing else []
    if ident or flagged:
        lines += ["", f"*{STUDENTS_OVER_CAUTION}*"]
    lines += ["", _next_step_sentence(packet)]
    return MarkdownText("\n".join(lines))


def continuing_sentence(packet: Packet) -> str:
    """For an LEA significantly disproportionate in consecutive years: the year it was first
    identified and that it files the continuing addendum and budget; ``""`` otherwise.

    Notes
    -----
    cim_workbook.md section 4; :func:`cimrca.findings.identification_run`.
    """
    from ..findings import identification_run

    first, years = identification_run(packet.lea_results)
    if years < 2:
        return ""
    return (
        f"**Continuing LEA:** significantly disproportionate {years} school years in a row, "
        f"first identified in {first}. It files the continuing addendum to its CCEIS plan and "
        "a new budget for this year's reservation, besides carrying on the plan already "
        "under way."
    )


def monitoring_markdown(packet: Packet) -> MarkdownText:
    """The LEA's monitoring level in plain words: level, whether CIM is required, the reasons,
    the indicator findings, and the line that the Annual Determination Letter is official.

    Notes
    -----
    monitoring.md sections 2-4: the level is the highest that applies (rule 8); CIM is required
    at the Targeted and Intensive levels and for a significantly disproportionate LEA (rule 9).
    The level is computed from the profile's rules; the letter is the official level.
    """
    from ..monitoring import LEVEL_LABELS, OFFICIAL_LEVEL_NOTE

    row = packet.monitoring_row
    if row is None:
        return MarkdownText(
            f"The profile {_md(packet.profile.name)} defines no monitoring levels (it has no "
            "`monitoring` section), so this packet states no level."
        )
    level = str(row["level"])
    cim = bool(row["cim_required"])
    lines = [
        f"**Monitoring level in {row['school_year']}: {LEVEL_LABELS.get(level, level)}.** "
        + (
            "The LEA is required to complete CIM."
            if cim
            else "The LEA is not required to complete CIM."
        ),
        "",
        "Reasons:",
        "",
    ]
    reasons = [r.strip() for r in str(row.get("reasons", "") or "").split("; ") if r.strip()]
    lines += [f"- {_md(plain_reason(r))}" for r in reasons] or ["- none recorded"]
    ri = packet.reason_indicators
    if ri is not None and len(ri):
        codes = ", ".join(
            f"{_md(str(c))}{' (a reason for the level)' if bool(r) else ''}"
            for c, r in zip(ri["indicator"], ri["level_reason"], strict=True)
        )
        lines += [
            "",
            f"Indicator findings with root-cause rows in the workbook: {codes}.",
        ]
    lines += _composite_lines(packet, row)
    lines += ["", f"*{OFFICIAL_LEVEL_NOTE}*"]
    return MarkdownText("\n".join(lines))


def _composite_lines(packet: Packet, row: dict[str, Any]) -> list[str]:
    """The composite behind a level: its percentile and domain scores, and that the composite
    is cimrca's stand-in for CDE's unpublished Intensive evaluation (monitoring.md s. 1)."""
    pct = row.get("composite_percentile")
    if pct is None or pd.isna(pct):
        return []
    domains = [c for c in row if str(c).startswith("domain_")]
    scores = ", ".join(
        f"{c.removeprefix('domain_')} {float(row[c]):.1f}" for c in domains if pd.notna(row[c])
    )
    return [
        "",
        f"Composite of outcomes: percentile {float(pct):.1f} among the LEAs ranked (domain "
        f"scores, each the mean percentile of its indicators: {scores}; low is worse). CDE does not publish the formula of its "
        "Intensive evaluation; this composite is cimrca's documented stand-in, every number of "
        "it from the profile (monitoring.md).",
    ]


def _next_step_sentence(packet: Packet) -> str:
    f = packet.findings
    if packet.identified:
        return (
            f"**What CIM asks next:** identify the root causes of each identified finding with "
            f"the workbook's Root Causes sheet, plan improvement activities on its Action Plan "
            f"sheet, and reserve {_cceis_fraction():.0%} of the LEA's IDEA Part B funds for "
            "comprehensive coordinated early intervening services (CCEIS)."
        )
    if (f["level"] == "flagged").any():
        return (
            "**What CIM asks next:** nothing is required yet, but a ratio that stays above the "
            "threshold leads to identification; starting the root-cause review now (Root Causes "
            "sheet of the workbook) gives the LEA time to act."
        )
    return "**What CIM asks next:** no action on significant disproportionality this year."


def next_steps_markdown(packet: Packet) -> MarkdownText:
    """What CIM asks of the LEA next, by its status (the packet's closing section).

    Notes
    -----
    34 CFR 300.646(c): review and, if appropriate, revise policies, practices and procedures;
    300.646(d): reserve 15% of IDEA Part B funds for CCEIS and identify the factors
    contributing to the disproportionality (the root causes).
    """
    f = packet.findings
    frac = _cceis_fraction()
    if packet.identified:
        items = [
            "CIM step 1, Gather and Inquire: form the CIM team with educational partners (CIM "
            "Team sheet), review the findings and record a status and a note for each "
            "(Disproportionality sheet), gather parent input, list the LEA's initiatives "
            "(Infrastructure), study student records (Case Study) and drill into the data.",
            "Review, and where needed revise, the policies, practices and procedures behind "
            "each finding (34 CFR 300.646(c); Policies Review sheet), and report any revisions "
            "publicly.",
            "CIM step 2, root cause analysis: the Root Causes sheet walks through a "
            "problem-of-practice statement, a fishbone of possible causes with a cultural "
            "lens, five whys and hypotheses to test with local data. " + ROOT_CAUSES_SENTENCE,
            f"CIM step 3, plan for improvement: reserve {frac:.0%} of the LEA's IDEA Part B "
            "funds (sections 611 and 619) for comprehensive coordinated early intervening "
            "services (CCEIS, 34 CFR 300.646(d)), aimed at the root causes (CCEIS Plan sheet), "
            "and plan SMART goals, activities and measures on the Action Plan sheet. "
            f"{CCEIS_WHO} {CCEIS_SPEND} {CCEIS_REPORT}",
        ]
        if continuing_sentence(packet):
            items.append(CONTINUING_DUTY)
    elif (f["level"] == "flagged").any():
        items = [
            "No identification this year: no CCEIS reservation for significant "
            "disproportionality is required.",
            "The disproportionate findings lead to identification if they stay above the "
            "threshold. Reviewing them now (Disproportionality, Policies Review and Root Causes "
            "sheets) gives the LEA time to change practice before it must reserve funds for "
            "CCEIS.",
        ]
    else:
        items = [
            "No identification and no ratio above the threshold this year: no action on "
            "significant disproportionality is required.",
        ]
    items += _level_steps(packet) or [
        "Keep reviewing the SPP/APR indicators and other measures above with the LEA team."
    ]
    return MarkdownText("\n".join(f"{i}. {t}" for i, t in enumerate(items, start=1)))


def _level_steps(packet: Packet) -> list[str]:
    """What a Targeted or Intensive level asks (monitoring.md section 4); none otherwise."""
    from ..monitoring import CIM_LEVELS, LEVEL_LABELS

    row = packet.monitoring_row
    if row is None or str(row["level"]) not in CIM_LEVELS:
        return []
    label = LEVEL_LABELS.get(str(row["level"]), str(row["level"]))
    n = len(packet.reason_indicators) if packet.reason_indicators is not None else 0
    return [
        f"Monitoring level {label}: the LEA completes CIM for the areas that placed it there "
        f"({n} indicator finding{'s' if n != 1 else ''} on the Root Causes sheet, those behind "
        "the level first). For each: drill into the data (which schools, grades and groups), "
        "review procedural compliance (Policies Review sheet), find the root causes (Root "
        "Causes sheet) and plan high-leverage improvement activities with measures (Action "
        "Plan sheet). The Annual Determination Letter is the official level.",
    ]


#: Left alignment for the text columns of the packet's tables (numbers stay right-aligned).
_LEFT = {"text-align": "left"}


def _level_style(level: str) -> str:
    colours = {"identified": "#F4B6B6", "flagged": "#F9CB9C", "watch": "#DDEBF7"}
    return f"background-color: {colours.get(level, '#FFFFFF')}"


def _of(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """``"31 of 2,178"``: a count and its base, so every ratio traces to counts."""
    n = pd.to_numeric(numerator, errors="coerce")
    d = pd.to_numeric(denominator, errors="coerce")
    text = n.map(lambda x: f"{x:,.0f}" if pd.notna(x) else "-") + " of "
    return (text + d.map(lambda x: f"{x:,.0f}" if pd.notna(x) else "-")).where(d.notna(), "-")


def _compared_with(f: pd.DataFrame) -> pd.Series:
    """The comparison group's count behind each ratio: the LEA's other groups for a risk
    ratio, the State's for an alternate risk ratio (34 CFR 300.647(b)(5))."""
    state = f["ratio_type"].eq("alternate_risk_ratio")
    lea = _of(f["lea_comparison_numerator"], f["lea_comparison_denominator"])
    st = _of(f["state_comparison_numerator"], f["state_comparison_denominator"])
    return ("other groups in the LEA: " + lea).where(~state, "other groups in the State: " + st)


def findings_table(packet: Packet) -> Styler | MarkdownText:
    """The findings as a styled table: status, category, group, ratio by year, students over.

    Ratios above their threshold are bold and dark red; rows are colored by level
    (identified, above the threshold, approaching). Numbers are formatted here only; the
    findings keep full precision (style.md rule 4).
    """
    f = packet.findings
    if f.empty:
        return MarkdownText(
            f"No category and group reached {packet.profile.watch_fraction:.0%} of the "
            f"threshold in {packet.latest_year}."
        )
    from ..findings import RATIO_PREFIX

    ratio_cols = [c for c in f.columns if c.startswith(RATIO_PREFIX)]
    year_labels = {c: c[len(RATIO_PREFIX) :] for c in ratio_cols}
    table = pd.DataFrame(
        {
            "Status": f["level"].map(_LEVEL_WORDS),
            "Category": f["category"].map(_category_label),
            "Group": f["race_ethnicity"].map(_group_label),
            **{year_labels[c]: pd.to_numeric(f[c], errors="coerce") for c in ratio_cols},
            "Ratio used": f["ratio_type"].map(_RATIO_TYPE_WORDS),
            f"Group's count, {packet.latest_year}": _of(f["numerator"], f["denominator"]),
            "Compared with": _compared_with(f),
            "Threshold": pd.to_numeric(f["threshold"], errors="coerce"),
            "Years in a row above": pd.to_numeric(f["consecutive_years"], errors="coerce"),
            "Students over the threshold": pd.to_numeric(
                f["students_over_threshold"], errors="coerce"
            ),
        }
    )
    years = list(year_labels.values())
    over = table[years].gt(table["Threshold"], axis=0)
    css = pd.DataFrame("", index=table.index, columns=table.columns)
    css[years] = over.replace({True: "font-weight: bold; color: #9C0006", False: ""})
    css["Status"] = f["level"].map(_level_style)
    return (
        table.style.hide(axis="index")
        .set_properties(subset=["Status", "Category", "Group", "Ratio used"], **_LEFT)
        .set_properties(
            subset=[f"Group's count, {packet.latest_year}", "Compared with"],
            **{"text-align": "right"},
        )  # fmt: skip
        .format("{:.2f}", subset=[*years, "Threshold"], na_rep="-")
        .format(
            "{:,.0f}", subset=["Years in a row above", "Students over the threshold"], na_rep="-"
        )
        .apply(lambda _: css, axis=None)
    )


def indicators_table(packet: Packet) -> Styler | MarkdownText:
    """The LEA's SPP/APR indicators: rate by year, State rate, target, met or not, trend."""
    rows = packet.indicator_rows
    if rows is None or rows.empty:
        return MarkdownText("The data set has no SPP/APR indicator rows for this LEA.")
    rate_cols = [c for c in rows.columns if c.startswith("rate ")]
    # rows come in reading order from indicators.indicator_sheet (1, 2, 3A_ELA, ..., 11, ...)
    table = pd.DataFrame(
        {
            "Indicator": rows["indicator"].astype(str),
            "What it measures": rows["label"].astype(str),
            **{c[len("rate ") :]: pd.to_numeric(rows[c], errors="coerce") for c in rate_cols},
            "State": pd.to_numeric(rows["state_rate"], errors="coerce"),
            "Target": pd.to_numeric(rows["target"], errors="coerce"),
            "Target met": rows["met"].astype(str),
            "Years missed in a row": pd.to_numeric(rows["consecutive_missed"], errors="coerce"),
            "Trend": rows["trend_direction"].astype(str),
        }
    )
    pct = [c[len("rate ") :] for c in rate_cols] + ["State", "Target"]
    css = pd.DataFrame("", index=table.index, columns=table.columns)
    css["Target met"] = (
        table["Target met"]
        .map({"not met": "background-color: #F9CB9C", "met": "background-color: #E2EFDA"})
        .fillna("")
    )
    css["Trend"] = table["Trend"].map({"worsening": "background-color: #F9CB9C"}).fillna("")
    return (
        table.style.hide(axis="index")
        .set_properties(subset=["Indicator", "What it measures", "Target met", "Trend"], **_LEFT)
        .format("{:.1%}", subset=pct, na_rep="-")
        .format("{:,.0f}", subset=["Years missed in a row"], na_rep="-")
        .apply(lambda _: css, axis=None)
    )


def figure_title(name: str, packet: Packet | None = None) -> str:
    """A chart's caption from its :func:`cimrca.charts.lea_figures` name.

    Examples
    --------
    >>> figure_title("funnel_ident_ed_BL")
    'Every LEA compared: Identification, emotional disturbance - Black or African American'
    """
    year = f", {packet.latest_year}" if packet is not None else ""
    if name == "ratio_trajectories":
        return "Ratio by school year, for every category and group above the threshold in a year"
    if name == "ratio_heatmap":
        return f"All ratios by category and group{year}"
    if name == "indicator_trends":
        return (
            "SPP/APR indicators and other measures against their targets, latest school year, "
            "with each trend (arrow: direction of change; color: better or worse)"
        )
    if name.startswith("funnel_"):
        rest = name[len("funnel_") :]
        category, _, race = rest.rpartition("_")
        return f"Every LEA compared: {_category_label(category)} - {_group_label(race)}"
    return name.replace("_", " ")


_FIGURE_KINDS: dict[str, tuple[str, ...]] = {
    "ratios": ("ratio_heatmap", "ratio_trajectories"),
    "indicators": ("indicator_trends",),
}


def figure_items(packet: Packet, kind: FigureKind = "all") -> list[MarkdownText | PngImage]:
    """The packet's charts of one kind, each preceded by its caption.

    Parameters
    ----------
    packet
        The packet.
    kind
        ``"ratios"`` (heat map and ratio trends), ``"funnels"`` (every LEA compared, for the
        findings above the threshold), ``"indicators"`` or ``"all"``.

    Returns
    -------
    list
        Captions (:class:`MarkdownText`) and images (:class:`PngImage`) in display order; a
        kind without charts gives a one-line note instead.
    """
    names = list(packet.figures)
    if kind == "funnels":
        chosen = [n for n in names if n.startswith("funnel_")]
    elif kind == "all":
        chosen = names
    elif kind in _FIGURE_KINDS:
        chosen = [n for n in _FIGURE_KINDS[kind] if n in packet.figures]
    else:
        raise UsageError(f"kind must be ratios, funnels, indicators or all, not {kind!r}.")
    items: list[MarkdownText | PngImage] = []
    for name in chosen:
        caption = figure_title(name, packet)
        items.append(MarkdownText(f"**{_md(caption)}**"))
        items.append(PngImage(packet.figures[name], alt=caption))
    if not chosen:
        empty = {
            "funnels": f"No ratio was above the threshold in {packet.latest_year}, so there is "
            "no chart comparing every LEA.",
            "indicators": "No SPP/APR indicator data for this LEA.",
        }
        items.append(MarkdownText(empty.get(kind, "No charts.")))
    return items


def show_figures(packet: Packet, kind: FigureKind = "all") -> None:
    """Display :func:`figure_items` in the running notebook (nothing outside a kernel)."""
    _display(figure_items(packet, kind))


def drilldown_items(packet: Packet) -> list[MarkdownText | PngImage]:
    """Where in the LEA each finding above the threshold sits: a chart and its sentences.

    Per finding above the threshold (identified first): its name, the chart of the parts of
    its students over the threshold by school (:func:`cimrca.charts.drilldown_bars`), the
    sentence on concentration by school, then the same sentence for every other dimension.
    Without drill-down data, the plain message of :data:`cimrca.drilldown.NO_DETAIL_MESSAGE`.

    Notes
    -----
    drilldown.md section 3. A part is the slice's share of ``n - T d R`` (the comparison
    risk ``R`` of the LEA's own ratio), so the parts add up to the LEA's figure.
    """
    above = packet.findings[packet.findings["level"].isin(["identified", "flagged"])]
    if above.empty:
        return [MarkdownText(f"No finding is above the threshold in {packet.latest_year}, so "
                             "there is nothing to locate inside the LEA.")]  # fmt: skip
    if packet.drilldown_message:
        return [MarkdownText(_md(packet.drilldown_message))]
    summary = packet.drilldown_summary
    keys = ["school_year", "lea_id", "category", "race_ethnicity"]
    summary = summary.merge(above[[*keys, "finding_id"]], on=keys)
    sentences = {fid: rows for fid, rows in summary.groupby("finding_id", sort=False)}
    items: list[MarkdownText | PngImage] = []
    for r in above.to_dict("records"):  # a few findings: one chart each
        fid = r["finding_id"]
        name = f"{_category_label(r['category'])} - {_group_label(r['race_ethnicity'])}"
        items.append(MarkdownText(f"**{_md(name)}**"))
        rows = sentences.get(fid)
        if rows is None:
            items.append(MarkdownText("The drill-down data have no counts for this finding."))
            continue
        if fid in packet.drilldown_figures:
            items.append(PngImage(packet.drilldown_figures[fid],
                                  alt=f"Students over the threshold by school: {name}"))  # fmt: skip
        lines = [f"- **{_md(s['dimension_label'])}**: {_md(_with_names(s))}"
                 for s in rows.to_dict("records")]  # fmt: skip
        items.append(MarkdownText("\n".join(lines)))
    return items


def _with_names(s: Mapping[str, Any]) -> str:
    """A concentration sentence naming its top slices when they are three or fewer."""
    names = [label or value for label, value in zip(s["top_labels"], s["top_values"], strict=True)]
    if not 0 < len(names) <= 3:
        return str(s["sentence"])
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{str(s['sentence']).rstrip('.')}: {listed}."


def show_drilldown(packet: Packet) -> None:
    """Display :func:`drilldown_items` in the running notebook (nothing outside a kernel)."""
    _display(drilldown_items(packet))


def _display(items: Iterable[Any]) -> None:
    """Show items in a running kernel; do nothing elsewhere (tests, plain Python)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    if get_ipython() is None:
        return
    for item in items:
        if isinstance(item, PngImage):
            display(
                Image(
                    data=bytes(item),
                    format="png",
                    width=DISPLAY_WIDTH_PX,
                    metadata={"alt": item.alt},
                )
            )
        else:
            display(item)


def _finding_label(finding_id: str) -> str:
    parts = finding_id.split(":")
    if len(parts) >= 3 and parts[1] == "indicator":
        return f"Indicator {parts[2]} ({parts[0]})"
    if len(parts) >= 3:
        return f"{_category_label(parts[1])}, {_group_label(parts[2])} ({parts[0]})"
    return finding_id


def consultant_notes_markdown(packet: Packet) -> MarkdownText:
    """The "Consultant notes" section: the review recorded for this LEA's findings.

    Lists, by finding, the stored status, note, reviewer and date, the root-cause and
    action-plan entries, and the earlier year's review (``previous_note``). A packet printed
    after the review therefore carries it. "No notes yet" when nothing is stored.

    Notes
    -----
    outputs.md sections 4 and 5: annotations belong to a school year's finding; earlier years'
    notes show read-only as the previous note; annotations whose finding is gone are kept
    (counted here, listed on the workbook's ``Orphaned annotations`` sheet).
    """
    notes = pd.DataFrame(
        [(s, f, c, v) for (s, f, c), v in packet.annotations.items() if str(v).strip()],
        columns=["sheet", "finding_id", "column", "value"],
    )
    if not notes.empty:
        parts = notes["finding_id"].str.split(":")
        notes["finding"] = parts.str[:3].str.join(":")
        notes["entry"] = np.where(parts.str.len() > 3, parts.str[3:].str.join(":"), "")
        order = {
            col: i for i, col in enumerate(c for cols in ANNOTATION_COLUMNS.values() for c in cols)
        }
        notes["_order"] = notes["column"].map(order).fillna(len(order))
        notes = notes.sort_values(["finding", "entry", "_order"], kind="stable")
    findings = (
        sorted(set(notes["finding"]) | set(packet.previous_notes))
        if len(notes)
        else sorted(packet.previous_notes)
    )
    if not findings:
        lines = [
            "No notes yet. The consultant's review goes into the yellow columns of the LEA's "
            "workbook; the next run stores it and shows it here."
        ]
    else:
        lines = []
        for finding in findings:
            lines.append(f"**{_md(_finding_label(finding))}**")
            lines.append("")
            rows = notes[notes["finding"] == finding] if len(notes) else notes
            for entry, group in rows.groupby("entry", sort=False) if len(rows) else []:
                where = _entry_label(entry)
                text = "; ".join(
                    f"{_md(display_header(c))}: {_md(v)}"
                    for c, v in zip(group["column"], group["value"], strict=True)
                )
                lines.append(f"- {where}{text}")
            if finding in packet.previous_notes:
                lines.append(f"- earlier review: {_md(packet.previous_notes[finding])}")
            lines.append("")
    n_orphans = len(packet.orphans)
    if n_orphans:
        lines.append(
            f"{_plural(n_orphans, 'stored note')} belong to findings of earlier years or findings "
            "no longer listed; the workbook keeps them on its Orphaned annotations sheet."
        )
    return MarkdownText("\n".join(lines).strip())


def _entry_label(entry: str) -> str:
    if entry.startswith("rc:"):
        return f"root cause entry {entry[3:]}: "
    if entry.startswith("ap:"):
        return f"action plan entry {entry[3:]}: "
    return ""


def _profile_values(values: Mapping[str, float]) -> str:
    """``3`` or ``3 (disc_tdr 2.5)``: the common value, then the categories that differ."""
    series = pd.Series(dict(values), dtype=float)
    common = series.mode().iloc[0]
    other = ", ".join(f"{k} {v:g}" for k, v in series.items() if v != common)
    return f"{common:g}" + (f" ({other})" if other else "")


def profile_markdown(packet: Packet) -> MarkdownText:
    """The rules this packet applied, with the profile's values, in plain words.

    Notes
    -----
    34 CFR 300.647(b)(1): the State sets the threshold, the minimum cell and n-sizes and the
    number of consecutive years (up to three); methodology.md section 6 keeps them in a profile.
    """
    p = packet.profile
    progress = (
        "on: a ratio that fell in each of the two prior years is not identified"
        if p.reasonable_progress
        else "off"
    )
    skip = f" School years set aside: {', '.join(p.skip_years)}." if p.skip_years else ""
    return MarkdownText(
        f"This packet applies the **{_md(p.name)}** profile: a ratio above "
        f"**{_profile_values(p.threshold)}** exceeds the threshold; a ratio is calculated when "
        f"the group has at least {_profile_values(p.min_cell)} students with the outcome and "
        f"{_profile_values(p.min_n)} in its base population; **{p.years_required} consecutive "
        f"years** above the threshold identify the LEA; reasonable progress is {progress}; "
        f"findings are listed from {p.watch_fraction:.0%} of the threshold.{skip} "
        f"{PROFILE_CONFIRM}"
    )


def files_markdown(*paths: str | Path) -> MarkdownText:
    """A short list of the files written, by name (the packet travels without full paths)."""
    kinds = {".xlsx": "Root-cause workbook", ".json": "Findings (machine-readable)"}
    lines = [f"- {kinds.get(Path(p).suffix, 'File')}: `{Path(p).name}`" for p in paths]
    return MarkdownText("Written beside this packet:\n\n" + "\n".join(lines))
