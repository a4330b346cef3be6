"""The findings of an LEA: which category x group rows of the latest school year are worth a look.

:func:`findings` turns rows of the statewide results table (outputs.md section 2) into the
findings of their latest school year: the ``Disproportionality`` rows of the workbook, also shown
by the packet and written to the findings JSON. :func:`finding_history` gives every school year's
row behind each finding (the ``Drill-Down`` sheet). Both are pure: they never change their input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import layout
from .codes import CATEGORY_CODES, RACES
from .errors import WorkbookError
from .profiles import Profile
from .values import as_bool

__all__ = [
    "findings",
    "finding_history",
    "identification_run",
    "RATIO_PREFIX",
    "FINDING_LEVELS",
]

#: Prefix of the year-by-year ratio columns of :func:`findings` and the ``Disproportionality``
#: sheet (``ratio 2023-24``).
RATIO_PREFIX = "ratio "
#: Finding levels in display order: significantly disproportionate, flagged in the latest year
#: (ratio above the threshold), and watch (ratio at least ``watch_fraction`` x threshold).
FINDING_LEVELS: tuple[str, ...] = ("identified", "flagged", "watch")

_REQUIRED = (
    "school_year", "lea_id", "category", "race_ethnicity", "ratio", "ratio_type",
    "exceeds_threshold", "consecutive_years", "significantly_disproportionate", "threshold",
)  # fmt: skip
_OPTIONAL_NUMERIC = (
    "numerator", "denominator", "risk", "lea_comparison_numerator", "lea_comparison_denominator",
    "state_comparison_numerator", "state_comparison_denominator", "weighted_risk_ratio",
    "risk_difference", "composition", "e_formula_upper", "students_over_threshold", "ci_low",
    "ci_high",
)  # fmt: skip


def _as_bool(s: pd.Series) -> pd.Series:
    """True/False from booleans or their text (:func:`cimrca.values.as_bool`); missing is False."""
    return s if s.dtype == bool else as_bool(s).fillna(False).astype(bool)


def findings(results_lea: pd.DataFrame, profile: Profile) -> pd.DataFrame:
    """The findings of the latest school year: one row per category x group worth a look.

    A finding is a row of the latest school year in ``results_lea`` whose ratio is at least
    ``profile.watch_fraction`` x its threshold; every flagged and every significantly
    disproportionate row is therefore a finding.

    Parameters
    ----------
    results_lea
        Rows of the results table (outputs.md section 2), usually one LEA's, every year. Several
        LEAs are handled too: the latest year is the latest of the whole frame.
    profile
        The state profile; its ``watch_fraction`` sets how far below the threshold a ratio is
        still listed. The row's own ``threshold`` column is the threshold.

    Returns
    -------
    pandas.DataFrame
        ``finding_id`` first (``<school_year>:<category>:<race_ethnicity>``), then ``lea_id``,
        ``school_year``, ``category``, ``race_ethnicity``, ``level`` (``identified``,
        ``flagged`` or ``watch``), one ``ratio <school_year>`` column per year of
        ``results_lea`` (the ratio used that year, NaN when not calculated or absent), then the
        latest year's ``ratio``, ``ratio_type``, ``reason``, ``threshold``, ``exceeds_threshold``,
        ``consecutive_years``, ``significantly_disproportionate``, ``students_over_threshold``
        and its counts and supplementary measures. Ordered identified first, then flagged,
        then watch; within a level by category and group display order. Empty (same columns)
        when nothing reaches the watch level.

    Raises
    ------
    WorkbookError
        When a required results column is missing, or a key appears twice for one year.

    Notes
    -----
    "Flagged" means the ratio used exceeded the threshold (34 CFR 300.647(d)); "identified"
    means significantly disproportionate after ``years_required`` consecutive flagged years
    (300.647(d)(1)). The watch level is a State monitoring choice (profile ``watch_fraction``,
    README decision 8), not part of the determination. Values stay unrounded.

    Examples
    --------
    >>> import pandas as pd
    >>> from cimrca.profiles import load_profile
    >>> r = pd.DataFrame({"school_year": ["2023-24"], "lea_id": ["0100001"],
    ...     "category": ["ident_id"], "race_ethnicity": ["BL"], "ratio": [3.4],
    ...     "ratio_type": ["risk_ratio"], "exceeds_threshold": [True], "consecutive_years": [1],
    ...     "significantly_disproportionate": [False], "threshold": [3.0]})
    >>> f = findings(r, load_profile({"threshold": 3.0}))
    >>> f.loc[0, "finding_id"], f.loc[0, "level"], float(f.loc[0, "ratio 2023-24"])
    ('2023-24:ident_id:BL', 'flagged', 3.4)
    """
    res = _typed_results(results_lea)
    keys = ["lea_id", "category", "race_ethnicity"]
    years = sorted(res["school_year"].unique())
    ratio_cols = [f"{RATIO_PREFIX}{y}" for y in years]
    dup = res.duplicated(["school_year", *keys])
    if dup.any():
        first = res.loc[dup].iloc[0]
        raise WorkbookError(
            "the results table has more than one row for "
            f"{layout.finding_key(first.school_year, first.category, first.race_ethnicity)} "
            f"of LEA {first.lea_id}; give one row per school year x LEA x category x group.",
            lea_id=str(first.lea_id),
        )
    if not years:
        return pd.DataFrame(columns=_finding_columns(res, ratio_cols))

    latest = res[res["school_year"] == years[-1]]
    watch_cut = profile.watch_fraction * latest["threshold"]
    keep = (
        (latest["ratio"] >= watch_cut)
        | latest["exceeds_threshold"]
        | latest["significantly_disproportionate"]
    )
    cur = latest.loc[keep].copy()
    cur["level"] = np.select(
        [cur["significantly_disproportionate"], cur["exceeds_threshold"]],
        ["identified", "flagged"],
        default="watch",
    )
    cur["finding_id"] = cur["school_year"] + ":" + cur["category"] + ":" + cur["race_ethnicity"]

    wide = res.pivot(index=keys, columns="school_year", values="ratio")
    wide = wide.reindex(columns=years)
    wide.columns = ratio_cols
    cur = cur.merge(wide.reset_index(), on=keys, how="left", validate="one_to_one")

    order = {
        "_level": pd.Categorical(cur["level"], categories=FINDING_LEVELS, ordered=True).codes,
        "_cat": _rank(cur["category"], CATEGORY_CODES),
        "_race": _rank(cur["race_ethnicity"], RACES),
    }
    cur = cur.assign(**order).sort_values(
        ["lea_id", "_level", "_cat", "_race", "category", "race_ethnicity"], kind="stable"
    )
    return cur[_finding_columns(cur, ratio_cols)].reset_index(drop=True)


def _typed_results(results_lea: pd.DataFrame) -> pd.DataFrame:
    """A copy of the results with text keys, numeric measures and boolean flags."""
    missing = [c for c in _REQUIRED if c not in results_lea.columns]
    if missing:
        raise WorkbookError(
            f"the results table lacks column(s) {', '.join(missing)}; it needs the columns of "
            "the results table (see `cimrca compute --help`). Recompute it with `cimrca compute`."
        )
    res = results_lea.copy()
    for col in ("school_year", "lea_id", "category", "race_ethnicity"):
        res[col] = res[col].astype(str)
    for col in _OPTIONAL_NUMERIC:
        res[col] = pd.to_numeric(res[col], errors="coerce") if col in res else np.nan
    for col in ("ratio", "threshold", "consecutive_years"):
        res[col] = pd.to_numeric(res[col], errors="coerce")
    for col in ("exceeds_threshold", "significantly_disproportionate"):
        res[col] = _as_bool(res[col])
    if "reason" not in res:
        res["reason"] = ""
    res["reason"] = res["reason"].fillna("").astype(str)
    return res


def _rank(s: pd.Series, order: tuple[str, ...]) -> np.ndarray:
    """Position of each code in ``order``; unknown codes sort last."""
    pos = {code: i for i, code in enumerate(order)}
    return s.map(pos).fillna(len(order)).to_numpy()


def _finding_columns(frame: pd.DataFrame, ratio_cols: list[str]) -> list[str]:
    head = ["finding_id", "lea_id", "school_year", "category", "race_ethnicity", "level"]
    tail = [
        "ratio", "ratio_type", "reason", "threshold", "exceeds_threshold", "consecutive_years",
        "significantly_disproportionate", *_OPTIONAL_NUMERIC,
    ]  # fmt: skip
    if "reasonable_progress" in frame:
        tail.append("reasonable_progress")
    return head + ratio_cols + [c for c in tail if c not in ratio_cols]


def finding_history(found: pd.DataFrame, results_lea: pd.DataFrame) -> pd.DataFrame:
    """Every school year's results row behind each finding, in finding order, then by year.

    Parameters
    ----------
    found
        Findings of :func:`findings` (``finding_id``, ``category``, ``race_ethnicity`` are used).
    results_lea
        The results rows the findings were computed from (one LEA's, every year).

    Returns
    -------
    pandas.DataFrame
        The results rows of each finding's category and group, every year, with the finding's
        ``finding_id``; the counts and supplementary measures as numbers (NaN when absent),
        ``exceeds_threshold`` and ``significantly_disproportionate`` as booleans, and the
        comparison the ratio used: ``comparison_numerator``, ``comparison_denominator`` and
        ``comparison_risk`` (the LEA's other groups for a risk ratio, the State's other groups
        for an alternate risk ratio, 34 CFR 300.647(b)(5)). Empty without findings.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"school_year": ["2022-23", "2023-24"], "category": ["ident_id"] * 2,
    ...     "race_ethnicity": ["BL"] * 2, "ratio_type": ["risk_ratio"] * 2,
    ...     "lea_comparison_numerator": [10, 12], "lea_comparison_denominator": [400, 400],
    ...     "exceeds_threshold": [False, True], "significantly_disproportionate": [False] * 2})
    >>> f = pd.DataFrame({"finding_id": ["2023-24:ident_id:BL"], "category": ["ident_id"],
    ...     "race_ethnicity": ["BL"]})
    >>> finding_history(f, r)[["school_year", "comparison_risk", "exceeds_threshold"]]
      school_year  comparison_risk  exceeds_threshold
    0     2022-23            0.025              False
    1     2023-24            0.030               True
    """
    if found.empty or results_lea.empty:
        return pd.DataFrame()
    keys = found[["finding_id", "category", "race_ethnicity"]].assign(_order=np.arange(len(found)))
    r = results_lea.copy()
    for col in ("school_year", "category", "race_ethnicity"):
        r[col] = r[col].astype(str)
    r = r.merge(keys, on=["category", "race_ethnicity"], how="inner")
    for col in _OPTIONAL_NUMERIC:
        r[col] = pd.to_numeric(r[col], errors="coerce") if col in r else np.nan
    alt = (r["ratio_type"] == "alternate_risk_ratio").to_numpy()
    r["comparison_numerator"] = np.where(
        alt, r["state_comparison_numerator"], r["lea_comparison_numerator"]
    )
    r["comparison_denominator"] = np.where(
        alt, r["state_comparison_denominator"], r["lea_comparison_denominator"]
    )
    den = r["comparison_denominator"].where(r["comparison_denominator"] > 0)
    r["comparison_risk"] = r["comparison_numerator"] / den
    for col in ("exceeds_threshold", "significantly_disproportionate"):
        r[col] = _as_bool(r[col])
    r = r.sort_values(["_order", "school_year"], kind="stable")
    return r.drop(columns="_order").reset_index(drop=True)


def identification_run(results_lea: pd.DataFrame) -> tuple[str | None, int]:
    """When the LEA's current run of years as significantly disproportionate began, and its length.

    Parameters
    ----------
    results_lea
        One LEA's rows of the results table (outputs.md section 2), every school year.

    Returns
    -------
    tuple
        ``(first_year, years)``: the first school year of the run of consecutive school years,
        ending with the latest, in which the LEA was significantly disproportionate in at least
        one category and group, and how many years the run holds; ``(None, 0)`` when it is not
        significantly disproportionate in the latest year.

    Notes
    -----
    An LEA identified in consecutive years is a *continuing* LEA (``years >= 2``): it files the
    continuing addendum and budget of its CCEIS plan (cim_workbook.md section 4). The run counts
    the school years present in the results, in order; a year missing from them ends it.

    Examples
    --------
    >>> r = pd.DataFrame({"school_year": ["2022-23", "2023-24", "2024-25"] * 2,
    ...                   "significantly_disproportionate": [True, True, True, False, False, True]})
    >>> identification_run(r)
    ('2022-23', 3)
    """
    if results_lea.empty:
        return None, 0
    sd = _as_bool(results_lea["significantly_disproportionate"])
    by_year = sd.groupby(results_lea["school_year"].astype(str)).any().sort_index()
    years = list(by_year.index)
    run = 0
    for flag in reversed(by_year.to_numpy()):  # a handful of school years
        if not flag:
            break
        run += 1
    return (years[-run], run) if run else (None, 0)
