"""The statewide overview: who is identified, in what, how close others are (all LEAs at once).

What ``notebooks/state_overview.ipynb`` calls.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_write_text
from ..codes import CATEGORY_CODES, RACES
from ..dataset import Dataset, load_dataset
from ..errors import UsageError
from ..findings import _as_bool
from ..methodology import compute_results, read_results
from ..monitoring import (
    CIM_LEVELS,
    LEVEL_LABELS,
    LEVELS,
    OFFICIAL_LEVEL_NOTE,
    compute_monitoring,
    read_monitoring,
)
from ..profiles import Profile, load_profile
from .assemble import _check_results_profile, _resolve
from .markup import (
    _BANNER_STYLE,
    _RATIO_TYPE_WORDS,
    FIGURE_DPI,
    SYNTHETIC_MARK,
    Header,
    MarkdownText,
    PngImage,
    _category_label,
    _group_label,
    _plural,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from pandas.io.formats.style import Styler

__all__ = [
    "StateOverview",
    "load_state_overview",
    "state_overview",
    "state_header",
    "state_summary_markdown",
    "state_table",
    "ratio_distribution_plot",
    "show_ratio_distribution",
    "write_state_overview",
    "monitoring_overview",
    "level_counts_plot",
    "show_level_counts",
    "state_monitoring_markdown",
]

_LEFT = {"text-align": "left"}
#: The columns of the results table the overview reads (its tables and chart).
OVERVIEW_COLUMNS = (
    "school_year", "lea_id", "category", "race_ethnicity", "ratio_type", "ratio", "reason",
    "exceeds_threshold", "consecutive_years", "significantly_disproportionate", "threshold",
    "profile",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class StateOverview:
    """The statewide overview (from :func:`load_state_overview`).

    ``tables`` holds the frames of :func:`state_overview` (and of :func:`monitoring_overview`
    when there are monitoring levels); ``results`` the statewide table; ``monitoring`` the
    monitoring table (monitoring.md section 3), ``None`` when the profile defines no levels.
    """

    dataset: Dataset
    profile: Profile
    results: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    monitoring: pd.DataFrame | None = None

    @property
    def latest_year(self) -> str:
        return str(self.results["school_year"].astype(str).max())


def load_state_overview(
    *,
    data_dir: str | Path,
    profile: str | Path | Profile = "california",
    results_path: str | Path = "",
    monitoring_path: str | Path = "",
    lea_tables: str | Path = "",
) -> StateOverview:
    """Load the data set and the statewide results (read or computed) and summarise them.

    ``monitoring_path``: a ``monitoring.csv`` a batch wrote; empty: the monitoring levels are
    computed when the profile has a ``monitoring`` section (none otherwise). ``lea_tables``: a
    batch's per-LEA tables (``OUT_DIR/.lea_tables``), read for ``leas`` and the data set's
    name instead of loading and validating the data set again (the batch did), when
    ``results_path`` is given; the results are then read for the latest school year only, in
    the columns :data:`OVERVIEW_COLUMNS` (every table and chart of the overview is of that
    year), so :attr:`StateOverview.results` holds those rows.
    """
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    light = bool(lea_tables and results_path and (monitoring_path or prof.monitoring is None))
    if light:
        from ..lea_tables import LeaTables, light_dataset, read_in_table_order

        dataset = light_dataset(_resolve(data_dir), LeaTables(_resolve(lea_tables)))
    else:
        dataset = load_dataset(_resolve(data_dir))
    if light:  # what the overview shows: the latest year's rows, some columns
        source = _resolve(results_path)
        results = read_in_table_order(source, OVERVIEW_COLUMNS, latest_year=True)
        _check_results_profile(results, prof, source)
    elif results_path:
        source = _resolve(results_path)
        results = read_results(source)
        _check_results_profile(results, prof, source)
    else:
        results = compute_results(dataset, prof)
    tables = state_overview(results, prof, leas=dataset.leas)
    monitoring = None
    if prof.monitoring is not None:
        if monitoring_path:
            monitoring = read_monitoring(_resolve(monitoring_path))
        else:
            monitoring = compute_monitoring(dataset, results, None, prof)
        tables = {**tables, **monitoring_overview(monitoring, leas=dataset.leas)}
    return StateOverview(
        dataset=dataset, profile=prof, results=results, tables=tables, monitoring=monitoring
    )


def monitoring_overview(
    monitoring: pd.DataFrame, *, leas: pd.DataFrame | None = None, school_year: str | None = None
) -> dict[str, pd.DataFrame]:
    """LEAs by monitoring level, and the LEAs that need CIM, in one school year.

    Parameters
    ----------
    monitoring
        The monitoring table (:func:`cimrca.monitoring.compute_monitoring`).
    leas
        ``leas.csv`` for names; optional.
    school_year
        Default: the latest of ``monitoring``.

    Returns
    -------
    dict of DataFrame
        - ``levels``: ``level`` (the label), ``leas``, ``cim_required`` (LEAs of the level that
          must complete CIM), one row per level of :data:`cimrca.monitoring.LEVELS` in order;
        - ``cim``: one row per LEA with ``cim_required``: ``lea_id``, ``lea_name``,
          ``level`` (label), ``significantly_disproportionate``, ``reasons``.

    Notes
    -----
    monitoring.md rule 9: CIM is required at the Targeted and Intensive levels and for a
    significantly disproportionate LEA (at any level).

    Examples
    --------
    >>> mon = pd.DataFrame({"school_year": "2024-25", "lea_id": ["1", "2", "3"],
    ...     "level": ["universal", "targeted_2", "cyclical"],
    ...     "significantly_disproportionate": [False, False, True],
    ...     "cim_required": [False, True, True], "reasons": ["a", "b", "c"]})
    >>> t = monitoring_overview(mon)
    >>> t["levels"].set_index("level")["leas"].loc[["Universal", "Targeted 2"]].tolist()
    [1, 1]
    >>> t["cim"]["lea_id"].tolist()
    ['2', '3']
    """
    year = school_year or str(monitoring["school_year"].astype(str).max())
    now = monitoring[monitoring["school_year"].astype(str) == year]
    level = pd.Categorical(now["level"], categories=list(LEVELS))
    cim = now["cim_required"].astype(bool)
    levels = pd.DataFrame(
        {
            "level": [LEVEL_LABELS[v] for v in LEVELS],
            "leas": pd.Series(level).value_counts(sort=False).reindex(list(LEVELS)).to_numpy(),
            "cim_required": cim.groupby(level, observed=False).sum().reindex(list(LEVELS))
            .fillna(0).astype("int64").to_numpy(),
        }
    )  # fmt: skip
    names = (
        leas.assign(lea_id=leas["lea_id"].astype(str)).set_index("lea_id")["lea_name"]
        if leas is not None
        else pd.Series(dtype=object)
    )
    need = now.loc[cim.to_numpy()]
    table = pd.DataFrame(
        {
            "lea_id": need["lea_id"].astype(str).to_numpy(),
            "lea_name": need["lea_id"].astype(str).map(names).astype(object).fillna("").to_numpy(),
            "level": need["level"].map(LEVEL_LABELS).to_numpy(),
            "significantly_disproportionate": need["significantly_disproportionate"]
            .astype(bool).to_numpy(),
            "reasons": need["reasons"].astype(str).to_numpy(),
        }
    )  # fmt: skip
    return {"levels": levels, "cim": table.sort_values("lea_id", ignore_index=True)}


def level_counts_plot(
    monitoring: pd.DataFrame, *, school_year: str | None = None, ax: Axes | None = None
) -> Axes:
    """Bar chart of the number of LEAs at each monitoring level in one school year.

    Parameters
    ----------
    monitoring
        The monitoring table (:func:`cimrca.monitoring.compute_monitoring`).
    school_year
        Default: the latest.
    ax
        Where to draw; a new figure's Axes when omitted (nothing is shown or saved).

    Returns
    -------
    matplotlib.axes.Axes
        One bar per level of :data:`cimrca.monitoring.LEVELS` (gid ``level_<name>``); the
        levels that require CIM are darker.
    """
    from matplotlib.figure import Figure

    year = school_year or str(monitoring["school_year"].astype(str).max())
    counts = monitoring_overview(monitoring, school_year=year)["levels"]
    if ax is None:
        ax = Figure(figsize=(8.0, 3.8), layout="constrained").subplots()
    colours = ["#0072B2" if lv in CIM_LEVELS else "#9ECAE1" for lv in LEVELS]
    bars = ax.bar(counts["level"], counts["leas"], color=colours)
    for bar, name in zip(bars, LEVELS, strict=True):
        bar.set_gid(f"level_{name}")
    ax.bar_label(bars)
    ax.set_ylabel("LEAs")
    ax.set_title(f"LEAs by monitoring level, {year} (darker: required to complete CIM)")
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def show_level_counts(overview: StateOverview) -> PngImage | MarkdownText:
    """:func:`level_counts_plot` of the overview as an image for the notebook."""
    from io import BytesIO

    if overview.monitoring is None:
        return MarkdownText(f"The profile {overview.profile.name} defines no monitoring levels.")
    ax = level_counts_plot(overview.monitoring)
    buffer = BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return PngImage(buffer.getvalue(), alt=ax.get_title())


def state_monitoring_markdown(overview: StateOverview) -> MarkdownText:
    """How many LEAs are at each level and how many must complete CIM, in plain words."""
    if overview.monitoring is None:
        return MarkdownText(
            f"The profile {overview.profile.name} defines no monitoring levels (it has no "
            "`monitoring` section), so the overview counts none."
        )
    levels = overview.tables["levels"]
    year = str(overview.monitoring["school_year"].astype(str).max())
    n_cim = len(overview.tables["cim"])
    parts = "; ".join(
        f"{lv}: {n}" for lv, n in zip(levels["level"], levels["leas"], strict=True) if n
    )
    return MarkdownText(
        f"In {year}, **{_plural(n_cim, 'LEA')} must complete CIM** (a Targeted or Intensive "
        f"level, or significantly disproportionate). LEAs by level: {parts}.\n\n"
        f"*{OFFICIAL_LEVEL_NOTE}*"
    )


def state_overview(
    results: pd.DataFrame, profile: Profile, *, leas: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Who is identified statewide, in what, how close others are, and how ratios spread.

    Parameters
    ----------
    results
        The statewide results table (outputs.md section 2).
    profile
        The profile the results were computed with (``years_required``).
    leas
        ``leas.csv`` (``lea_id``, ``lea_name``) for names; optional.

    Returns
    -------
    dict of DataFrame
        - ``counts``: ``measure``, ``leas``: LEAs in the results, identified, above the threshold
          in the latest year, one and two years from identification;
        - ``by_category``: identified LEAs by category (rows) and group (columns);
        - ``identified``: one row per identified category and group of an LEA;
        - ``near``: rows of the latest year one or two flagged years from identification
          (``consecutive_years`` = ``years_required`` - 1 or - 2, not identified);
        - ``distribution``: by category, how many ratios were calculated, their median, 90th
          percentile and maximum, and how many exceed the threshold;
        - ``leas``: one row per LEA with its counts of identified and flagged findings and its
          fewest years to identification.

    Notes
    -----
    All LEAs at once, by filters and group-bys (style.md rule 2). A row
    ``consecutive_years`` = ``years_required`` - k away is identified after k more flagged
    years (34 CFR 300.647(d)(1)).

    Examples
    --------
    >>> from cimrca import compute_results, load_dataset, load_profile
    >>> prof = load_profile("california")
    >>> res = compute_results(load_dataset("data/sample"), prof)
    >>> "2071593" in set(state_overview(res, prof)["identified"]["lea_id"])
    True
    """
    latest = str(results["school_year"].astype(str).max())
    now = results[results["school_year"].astype(str) == latest].copy()
    now["lea_id"] = now["lea_id"].astype(str)
    now["ratio"] = pd.to_numeric(now["ratio"], errors="coerce")
    now["threshold"] = pd.to_numeric(now["threshold"], errors="coerce")
    now["consecutive_years"] = pd.to_numeric(now["consecutive_years"], errors="coerce").fillna(0)
    sd = _as_bool(now["significantly_disproportionate"])
    flagged = _as_bool(now["exceeds_threshold"])
    names = (
        leas.assign(lea_id=leas["lea_id"].astype(str)).set_index("lea_id")["lea_name"]
        if leas is not None
        else pd.Series(dtype=object)
    )
    required = profile.years_required
    away = (required - now["consecutive_years"]).where(flagged & ~sd)
    now["years_to_identification"] = away
    labelled = now.assign(
        lea_name=now["lea_id"].map(names).fillna(""),
        category_label=now["category"].map(_category_label),
        group_label=now["race_ethnicity"].map(_group_label),
    )
    row_cols = [
        "lea_id", "lea_name", "category", "category_label", "race_ethnicity", "group_label",
        "ratio", "ratio_type", "consecutive_years",
    ]  # fmt: skip
    identified = labelled.loc[sd, row_cols].sort_values(["lea_id", "category", "race_ethnicity"])
    labelled["years_to_identification"] = labelled["years_to_identification"].astype("Int64")
    near = labelled.loc[away.isin([1, 2]), [*row_cols, "years_to_identification"]].sort_values(
        ["years_to_identification", "lea_id", "category", "race_ethnicity"]
    )
    all_leas = pd.Index(sorted(now["lea_id"].unique()), name="lea_id")
    per_lea = pd.DataFrame(
        {
            "lea_name": all_leas.map(lambda x: names.get(x, "")),
            "identified_findings": sd.groupby(now["lea_id"]).sum().reindex(all_leas).fillna(0),
            "flagged_findings": flagged.groupby(now["lea_id"]).sum().reindex(all_leas).fillna(0),
            "years_to_identification": away.groupby(now["lea_id"]).min().reindex(all_leas),
        },
        index=all_leas,
    )
    per_lea["identified"] = per_lea["identified_findings"] > 0
    per_lea = per_lea.reset_index()
    counts = pd.DataFrame(
        {
            "measure": [
                f"LEAs in the results ({latest})",
                "LEAs significantly disproportionate",
                "LEAs above the threshold in a category and group",
                "LEAs one flagged year from identification",
                "LEAs two flagged years from identification",
            ],
            "leas": [
                len(all_leas),
                int(per_lea["identified"].sum()),
                int((per_lea["flagged_findings"] > 0).sum()),
                int(near.loc[near["years_to_identification"] == 1, "lea_id"].nunique()),
                int(near.loc[near["years_to_identification"] == 2, "lea_id"].nunique()),
            ],
        }
    )
    by_category = (
        pd.crosstab(identified["category"], identified["race_ethnicity"])
        .reindex(index=list(CATEGORY_CODES), columns=list(RACES), fill_value=0)
        .rename(index=_category_label, columns=_group_label)
    )
    by_category.index.name, by_category.columns.name = "category", None
    calc = now[now["ratio"].notna()]
    grouped = calc.groupby("category")["ratio"]
    distribution = pd.DataFrame(
        {
            "ratios calculated": grouped.size(),
            "median": grouped.median(),
            "90th percentile": grouped.quantile(0.9),
            "maximum": grouped.max(),
            "above the threshold": flagged[calc.index].groupby(calc["category"]).sum(),
        }
    ).reindex([c for c in CATEGORY_CODES if c in set(calc["category"])])
    distribution.index = distribution.index.map(_category_label)
    distribution.index.name = "category"
    return {
        "counts": counts,
        "by_category": by_category,
        "identified": identified.reset_index(drop=True),
        "near": near.reset_index(drop=True),
        "distribution": distribution,
        "leas": per_lea,
    }


def state_header(overview: StateOverview) -> Header:
    """The overview's heading, with a banner when the data set is synthetic."""
    e = html.escape
    title = f"Significant disproportionality: statewide overview, {overview.latest_year}"
    if overview.dataset.is_synthetic:
        title += f" - {SYNTHETIC_MARK}"
    parts = []
    if overview.dataset.is_synthetic:
        parts.append(
            f'<div style="{_BANNER_STYLE}">{SYNTHETIC_MARK}: made from the synthetic data set '
            f"{e(overview.dataset.name or '(unnamed)')}. It describes no real LEA.</div>"
        )
    parts.append(f"<h1>Statewide overview, {e(overview.latest_year)}</h1>")
    parts.append(
        f"<p>Profile {e(overview.profile.name)} &middot; data set "
        f"{e(overview.dataset.name or overview.dataset.path.name)} &middot; cimrca "
        f"{e(__version__)}</p>"
    )
    return Header(title, "\n".join(parts))


def state_summary_markdown(overview: StateOverview) -> MarkdownText:
    """The statewide status in plain words."""
    t, p, yr = overview.tables, overview.profile, overview.latest_year
    counts = dict(zip(t["counts"]["measure"], t["counts"]["leas"], strict=True))
    values = list(counts.values())
    n, ident, above, one, two = values
    lines = []
    lines.append(
        f"In {yr}, **{ident} of {n} LEAs** are significantly disproportionate (a ratio above the "
        f"threshold for {p.years_required} consecutive years in at least one category and "
        f"group); {above} have at least one ratio above the threshold this year."
    )
    lines.append("")
    lines.append(
        f"{_plural(one, 'LEA')} would be identified after one more year above the threshold, "
        f"and {_plural(two, 'LEA')} after two more (not counting those already identified in "
        "that category and group)."
    )
    return MarkdownText("\n".join(lines))


#: Column headings of the overview's tables as the notebook shows them.
_STATE_HEADINGS = {
    "lea_id": "LEA code",
    "lea_name": "LEA",
    "category_label": "Category",
    "group_label": "Group",
    "ratio": "Ratio",
    "ratio_type": "Ratio used",
    "consecutive_years": "Years in a row above",
    "years_to_identification": "Years to identification",
    "measure": "",
    "leas": "LEAs",
    "identified_findings": "Identified findings",
    "flagged_findings": "Findings above the threshold",
    "identified": "Identified",
    "level": "Level",
    "cim_required": "Required to complete CIM",
    "significantly_disproportionate": "Significantly disproportionate",
    "reasons": "Reasons",
}


def state_table(overview: StateOverview, name: str) -> Styler | MarkdownText:
    """One of the overview's tables, formatted for reading (ratios to two decimals)."""
    if name in ("levels", "cim") and overview.monitoring is None:
        return MarkdownText(f"The profile {overview.profile.name} defines no monitoring levels.")
    if name not in overview.tables:
        raise UsageError(f"no overview table {name!r}; choose one of {', '.join(overview.tables)}.")
    frame = overview.tables[name]
    if frame.empty:
        return MarkdownText("None.")
    if name in ("identified", "near"):
        frame = frame.drop(columns=["category", "race_ethnicity"]).assign(
            ratio_type=frame["ratio_type"].map(_RATIO_TYPE_WORDS)
        )
    frame = frame.rename(columns=_STATE_HEADINGS)
    numeric = frame.select_dtypes("number").columns
    ratio_like = [c for c in numeric if c in ("Ratio", "median", "90th percentile", "maximum")]
    style = frame.style.format("{:.2f}", subset=ratio_like, na_rep="-")
    counts = [c for c in numeric if c not in ratio_like]
    style = style.format("{:,.0f}", subset=counts, na_rep="-")
    text = [c for c in frame.columns if c not in numeric]
    style = style.set_properties(subset=text, **_LEFT)
    if name in ("counts", "identified", "near", "leas", "levels", "cim"):
        style = style.hide(axis="index")
    return style


def ratio_distribution_plot(
    results: pd.DataFrame, *, school_year: str | None = None, ax: Axes | None = None
) -> Axes:
    """Histogram of every calculated ratio of one school year (log scale), thresholds marked.

    Parameters
    ----------
    results
        The statewide results table.
    school_year
        Default: the latest.
    ax
        Where to draw; a new figure's Axes when omitted (nothing is shown or saved).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.figure import Figure

    year = school_year or str(results["school_year"].astype(str).max())
    rows = results[results["school_year"].astype(str) == year]
    ratios = pd.to_numeric(rows["ratio"], errors="coerce")
    ratios = ratios[ratios > 0]
    if ax is None:
        ax = Figure(figsize=(8.0, 4.0), layout="constrained").subplots()
    if len(ratios):
        bins = np.logspace(np.log10(ratios.min()), np.log10(ratios.max()), 40)
        ax.hist(ratios, bins=bins, color="#0072B2", gid="ratios")
        ax.set_xscale("log")
    for t in np.unique(pd.to_numeric(rows["threshold"], errors="coerce").dropna()):
        ax.axvline(t, color="#000000", linestyle="--", gid="threshold", label=f"threshold {t:g}")
    ax.set_xlabel("ratio used (log scale)")
    ax.set_ylabel("category x group x LEA rows")
    ax.set_title(f"Every calculated ratio, {year}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right")
    return ax


def show_ratio_distribution(overview: StateOverview) -> PngImage:
    """:func:`ratio_distribution_plot` of the overview as an image for the notebook."""
    from io import BytesIO

    ax = ratio_distribution_plot(overview.results)
    buffer = BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return PngImage(buffer.getvalue(), alt=ax.get_title())


def write_state_overview(overview: StateOverview, out_dir: str | Path) -> Path:
    """Write the per-LEA table to ``<out_dir>/state_overview_leas.csv``, atomically."""
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "state_overview_leas.csv"
    atomic_write_text(path, overview.tables["leas"].to_csv(index=False, lineterminator="\n"))
    return path
