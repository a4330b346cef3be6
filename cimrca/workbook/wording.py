"""Words the workbook drafts from the data: labels, finding titles, the problem of practice."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..codes import CATEGORY_LABELS, RACE_LABELS
from ..errors import WorkbookError
from ..profiles import Profile

__all__ = [
    "LEVEL_LABELS",
    "RATIO_TYPE_LABELS",
    "COMPARISON_LABELS",
    "fmt_ratio",
    "problem_statement",
    "finding_title",
    "finding_heading",
    "drilldown_phrase",
    "finding_facts",
    "finding_sentence",
    "profile_text",
    "is_blank",
    "cell_text",
    "indicator_problem_statement",
    "indicator_title",
    "indicator_facts",
    "trend_text",
]

LEVEL_LABELS = {
    "identified": "Significantly disproportionate",
    "flagged": "Disproportionate (above the threshold)",
    "watch": "Approaching threshold",
}
RATIO_TYPE_LABELS = {
    "risk_ratio": "risk ratio",
    "alternate_risk_ratio": "alternate risk ratio",
    "not_calculated": "not calculated",
}
COMPARISON_LABELS = {
    "risk_ratio": "LEA: all other groups",
    "alternate_risk_ratio": "State: children of all other racial or ethnic groups",
    "not_calculated": "none",
}


def fmt_ratio(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.2f}"


def _fmt_pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.1%}"


def _comparison_risk(row: Mapping[str, Any]) -> float:
    side = "state" if row.get("ratio_type") == "alternate_risk_ratio" else "lea"
    num = row.get(f"{side}_comparison_numerator", np.nan)
    den = row.get(f"{side}_comparison_denominator", np.nan)
    return num / den if pd.notna(num) and pd.notna(den) and den > 0 else np.nan


def _years(row: Mapping[str, Any]) -> int:
    return int(row["consecutive_years"]) if pd.notna(row["consecutive_years"]) else 0


def problem_statement(row: Mapping[str, Any], lea_name: str, prompts: Mapping[str, Any]) -> str:
    """The prompts' ``problem_statement`` filled in from a finding (a row of ``findings``)."""
    n_years = _years(row)
    over = row.get("students_over_threshold", np.nan)
    values = {
        "school_year": row["school_year"],
        "lea_name": lea_name,
        "group": RACE_LABELS.get(row["race_ethnicity"], row["race_ethnicity"]),
        "outcome": prompts["outcome_phrases"].get(
            row["category"],
            f"to be counted in {CATEGORY_LABELS.get(row['category'], row['category'])}",
        ),
        "ratio": fmt_ratio(row["ratio"]),
        "ratio_kind": RATIO_TYPE_LABELS.get(row["ratio_type"], str(row["ratio_type"])),
        "comparison": prompts["comparison_phrases"].get(row["ratio_type"], "all other students"),
        "risk": _fmt_pct(row.get("risk", np.nan)),
        "comparison_risk": _fmt_pct(_comparison_risk(row)),
        "threshold": fmt_ratio(row["threshold"]),
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


def finding_title(row: Mapping[str, Any]) -> str:
    """``Identified: <category> - <group>``."""
    cat = CATEGORY_LABELS.get(row["category"], row["category"])
    grp = RACE_LABELS.get(row["race_ethnicity"], row["race_ethnicity"])
    return f"{LEVEL_LABELS[row['level']]}: {cat} - {grp}"


def finding_heading(row: Mapping[str, Any]) -> str:
    """``<category> - <group> (<finding_id>)``: a finding named without its level."""
    cat = CATEGORY_LABELS.get(row["category"], row["category"])
    grp = RACE_LABELS.get(row["race_ethnicity"], row["race_ethnicity"])
    return f"{cat} - {grp} ({row['finding_id']})"


def _names(labels: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _pct(x: float) -> str:
    return f"{round(float(x) * 100)}%"


def drilldown_phrase(summary: pd.DataFrame, *, no_data: bool = False) -> str:
    """Where in the LEA a finding sits, for the Root Causes problem of practice.

    Parameters
    ----------
    summary
        One finding's rows of :func:`cimrca.drilldown.concentration_summary`.
    no_data
        No drill-down data were given: say so, and where the workbook says how to give them.

    Returns
    -------
    str
        For example "Where in the LEA: the students over the threshold are concentrated in
        Bittercress Grove Middle School and Greenmoss Creek Middle School (2 of 38 schools;
        81% of the students over the threshold); grades 6-8 hold 97%." The schools, grade
        bands and (placement and discipline) disabilities that hold at least half of the
        students over the threshold (drilldown.md section 3); ``""`` when no slice is over
        the threshold's level.
    """
    if no_data:
        return (
            "Where in the LEA: not known, as no drill-down data were given (the Drill-Down "
            "sheet says how to provide them)."
        )
    rows = {r["dimension"]: r for r in summary.to_dict("records") if r["top_slices"] > 0}
    parts = []
    school = rows.get("school")
    if school is not None:
        names = [label or value for label, value in
                 zip(school["top_labels"], school["top_values"], strict=True)]  # fmt: skip
        k, n = int(school["top_slices"]), int(school["slices"])
        parts.append(
            f"the students over the threshold are concentrated in {_names(names)} ({k} of {n} "
            f"schools; {_pct(school['top_share'])} of the students over the threshold in the "
            "schools above its level)"
            if k <= 3
            else f"the students over the threshold are spread over the schools: it takes {k} "
            f"of {n} schools, led by {_names(names[:3])}, to hold "
            f"{_pct(school['top_share'])} of them"
        )
    grade = rows.get("grade_band")
    if grade is not None:
        labels = [str(x).replace("Grades", "grades") for x in grade["top_labels"]]
        verb = "hold" if len(labels) > 1 or labels[0].startswith("grades") else "holds"
        parts.append(f"{_names(labels)} {verb} {_pct(grade['top_share'])}")
    disability = rows.get("disability")
    if disability is not None:
        labels = [str(x).lower() for x in disability["top_labels"]]
        parts.append(f"students with {' or '.join(labels)} hold {_pct(disability['top_share'])}")
    if not parts:
        return ""
    text = "; ".join(parts)
    return f"Where in the LEA: {text}."


def finding_facts(row: Mapping[str, Any], years_required: int) -> str:
    """The latest ratio against the threshold and the consecutive years above it."""
    n = _years(row)
    kind = RATIO_TYPE_LABELS.get(row["ratio_type"], str(row["ratio_type"]))
    return (
        f"{row['school_year']} {kind} {fmt_ratio(row['ratio'])} against a threshold of "
        f"{fmt_ratio(row['threshold'])}; above it {n} consecutive year{'s' if n != 1 else ''} "
        f"({years_required} required for identification)."
    )


def finding_sentence(r: Mapping[str, Any]) -> str:
    """One line of the Summary's monitoring status for a finding."""
    n = _years(r)
    return (
        f"{CATEGORY_LABELS.get(r['category'], r['category'])}, "
        f"{RACE_LABELS.get(r['race_ethnicity'], r['race_ethnicity'])}: above the threshold "
        f"for {n} consecutive year{'s' if n != 1 else ''} "
        f"({r['school_year']} {RATIO_TYPE_LABELS.get(r['ratio_type'], r['ratio_type'])} "
        f"{fmt_ratio(r['ratio'])}, threshold {fmt_ratio(r['threshold'])})."
    )


def profile_text(p: Profile) -> str:
    """The profile in one sentence: threshold, minimums, years, watch level, source."""
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


def is_blank(value: Any) -> bool:
    """``None``, ``""`` or a missing number (NaN, ``pd.NA``)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def cell_text(value: Any) -> str:
    """A value as cell text (booleans as Yes/No, blanks as ``""``)."""
    if is_blank(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "Yes" if value else "No"
    return str(value)


# ------------------------------------------------------------------ indicator findings


def _years_word(n: int) -> str:
    return "year" if n == 1 else "years"


def trend_text(row: Mapping[str, Any]) -> str:
    """The indicator's trend in words: direction and slope in percentage points a year.

    Examples
    --------
    >>> trend_text({"trend_direction": "worsening", "trend_slope": -0.0123})
    'worsening (-1.2 percentage points a year)'
    >>> trend_text({})
    'not estimated'
    """
    direction = row.get("trend_direction")
    slope = row.get("trend_slope", np.nan)
    if is_blank(direction):
        return "not estimated"
    if is_blank(slope):
        return str(direction)
    return f"{direction} ({100 * float(slope):+.1f} percentage points a year)"


def indicator_problem_statement(
    row: Mapping[str, Any], lea_name: str, prompts: Mapping[str, Any]
) -> str:
    """The prompts' ``indicator_problem_statement`` filled in from an indicator finding.

    ``row`` holds the indicator finding's facts (monitoring.md section 4): ``school_year``,
    ``indicator``, ``label``, ``rate``, ``target``, ``state_rate``, ``consecutive_missed``,
    ``trend_direction``, ``trend_slope`` and ``why``.
    """
    n = int(row["consecutive_missed"]) if not is_blank(row.get("consecutive_missed")) else 0
    rate, target = row.get("rate", np.nan), row.get("target", np.nan)
    values = {
        "against": "with no target set"
        if is_blank(target)
        else f"against a target of {_fmt_pct(target)}",
        "missed": _missed_sentence(n, target),
        "school_year": row["school_year"],
        "lea_name": lea_name,
        "indicator": row["indicator"],
        "label": row.get("label", "") or row["indicator"],
        "rate": _fmt_pct(rate),
        "target": _fmt_pct(target),
        "state_rate": _fmt_pct(row.get("state_rate", np.nan)),
        "years_missed": n,
        "years_word": _years_word(n),
        "trend": trend_text(row),
        "why": row.get("why", "") or "target missed",
    }
    template = prompts["indicator_problem_statement"]
    try:
        return " ".join(template.format(**values).split())
    except (KeyError, IndexError, ValueError) as exc:
        raise WorkbookError(
            f"root-cause prompts file {prompts.get('_source')}: indicator_problem_statement uses "
            f"an unknown placeholder or bad braces ({exc}). Known placeholders: "
            f"{', '.join(sorted(values))}.",
            file=prompts.get("_source"),
        ) from None


def _missed_sentence(n: int, target: Any) -> str:
    if is_blank(target):
        return ""
    if n == 0:
        return "The target was met."
    return f"The target has been missed {n} {_years_word(n)} in a row."


def indicator_title(row: Mapping[str, Any]) -> str:
    """``Indicator 5C: <label>``, with ``(reason for the level)`` when it is one."""
    reason = " (reason for the level)" if row.get("level_reason") else ""
    return f"Indicator {row['indicator']}: {row.get('label', '')}{reason}"


def indicator_facts(row: Mapping[str, Any]) -> str:
    """The latest rate against the target and the State, years missed, trend and why."""
    n = int(row["consecutive_missed"]) if not is_blank(row.get("consecutive_missed")) else 0
    target = row.get("target", np.nan)
    missed = (
        "no target"
        if is_blank(target)
        else f"target {_fmt_pct(target)}, missed {n} {_years_word(n)} in a row"
    )
    why = str(row.get("why", "") or "")
    return (
        f"{row['school_year']} rate {_fmt_pct(row.get('rate', np.nan))} ({missed}), State "
        f"{_fmt_pct(row.get('state_rate', np.nan))}; trend {trend_text(row)}. "
        f"{why[:1].upper() + why[1:]}."
    )
