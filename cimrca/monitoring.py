"""Monitoring levels: which LEAs go through CIM, at what level, and why (monitoring.md).

California places every LEA each year at a level of monitoring and support (Universal, Targeted
1-3, Intensive 1-3, cyclical monitoring for small LEAs), with significant disproportionality
(34 CFR 300.647) reported beside the level. :func:`compute_monitoring` computes the same kind of
level from the data cimrca already has, for every school year x LEA at once, from the rules of
the profile's ``monitoring`` section (monitoring.md section 2). The level is computed by cimrca
from the profile's rules; the Annual Determination Letter is the official level
(:data:`OFFICIAL_LEVEL_NOTE`).

:func:`indicator_percentiles` gives the rankings behind the composite, and
:func:`reason_indicators` the indicators of one LEA's year that become indicator findings
(monitoring.md section 4). :func:`write_monitoring` and :func:`read_monitoring` store the table
as ``monitoring.csv`` (or Parquet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from .codes import CATEGORY_LABELS, RACE_LABELS
from .dataset import Dataset
from .errors import ProfileError, UsageError
from .indicators import indicator_order
from .profiles import MonitoringRules, Profile

__all__ = [
    "LEVELS",
    "LEVEL_LABELS",
    "CIM_LEVELS",
    "OFFICIAL_LEVEL_NOTE",
    "REASON_INDICATOR_COLUMNS",
    "monitoring_rules",
    "monitoring_columns",
    "compute_monitoring",
    "indicator_percentiles",
    "reason_indicators",
    "monitoring_row",
    "write_monitoring",
    "read_monitoring",
]

#: Every level, from the lowest to the highest of rule 8; ``cyclical`` stands apart (rule 2).
LEVELS: Final = (
    "universal",
    "targeted_1",
    "targeted_2",
    "targeted_3",
    "intensive_1",
    "intensive_2",
    "intensive_3",
    "cyclical",
)
#: Display names of the levels, as CDE writes them.
LEVEL_LABELS: Final = {
    "universal": "Universal",
    "targeted_1": "Targeted 1",
    "targeted_2": "Targeted 2",
    "targeted_3": "Targeted 3",
    "intensive_1": "Intensive 1",
    "intensive_2": "Intensive 2",
    "intensive_3": "Intensive 3",
    "cyclical": "Cyclical (small LEA)",
}
#: Levels whose LEAs must complete CIM (rule 9; significantly disproportionate LEAs too).
CIM_LEVELS: Final = frozenset(LEVELS[1:7])
#: The line every display of a level carries (monitoring.md section 1).
OFFICIAL_LEVEL_NOTE: Final = (
    "Computed by cimrca from the profile's rules; the Annual Determination Letter is the "
    "official level."
)
#: Columns of :func:`reason_indicators`, in order.
REASON_INDICATOR_COLUMNS: Final = (
    "school_year",
    "lea_id",
    "indicator",
    "label",
    "rate",
    "target",
    "target_status",
    "consecutive_missed",
    "percentile",
    "missed_target",
    "lre_bottom",
    "composite_low",
    "level_reason",
    "why",
)
_KEYS: Final = ["school_year", "lea_id"]
_LIST_COLUMNS: Final = ("elements_missed_list", "lre_bottom_list", "reasons")
_BOOL_COLUMNS: Final = (
    "significantly_disproportionate",
    "cim_required",
    "disproportionate_two_years",
)


def monitoring_rules(profile: Profile) -> MonitoringRules:
    """The profile's monitoring rules, or a :class:`ProfileError` saying it defines none.

    Examples
    --------
    >>> from cimrca.profiles import load_profile
    >>> monitoring_rules(load_profile("california")).intensive_bands
    (4.0, 8.0, 10.0)
    """
    if profile.monitoring is None:
        raise ProfileError(
            f"profile {profile.name} defines no monitoring levels: it has no `monitoring` "
            "section. Use a profile that has one (california), or add the section "
            "(example_state.yaml documents its keys).",
            file=profile.source or None,
        )
    return profile.monitoring


def monitoring_columns(profile: Profile) -> tuple[str, ...]:
    """Columns of ``monitoring.csv`` under ``profile`` (one ``domain_<name>`` per domain).

    Examples
    --------
    >>> from cimrca.profiles import load_profile
    >>> [c for c in monitoring_columns(load_profile("california")) if c.startswith("domain_")]
    ['domain_achievement', 'domain_placement', 'domain_climate']
    """
    rules = monitoring_rules(profile)
    return (
        "school_year", "lea_id", "level", "significantly_disproportionate", "cim_required",
        "students_with_disabilities", "elements_missed", "elements_missed_list",
        "composite_score", "composite_percentile",
        *(f"domain_{name}" for name in rules.domains),
        "lre_bottom_list", "disproportionate_two_years", "reasons",
    )  # fmt: skip


def compute_monitoring(
    dataset: Dataset,
    results: pd.DataFrame,
    indicator_results: pd.DataFrame | None,
    profile: Profile,
) -> pd.DataFrame:
    """The monitoring level of every LEA in every school year (monitoring.md sections 2-3).

    Parameters
    ----------
    dataset
        The canonical data set; its child count gives the students with disabilities.
    results
        The statewide results table of :func:`cimrca.methodology.compute_results` under the same
        profile: ``significantly_disproportionate`` and ``consecutive_years``.
    indicator_results
        The output of :func:`cimrca.indicators.compute_indicators` (rates, targets, ``met``).
        ``None`` computes it from ``dataset.indicators`` and ``dataset.targets`` (or takes no
        indicators when the data set has none).
    profile
        A profile with a ``monitoring`` section.

    Returns
    -------
    pandas.DataFrame
        One row per school year x LEA present in the results or the child count, sorted by
        those keys, with the columns of :func:`monitoring_columns`: ``level``,
        ``significantly_disproportionate``, ``cim_required``, ``students_with_disabilities``,
        ``elements_missed`` and ``elements_missed_list`` (codes, ``;``-separated),
        ``composite_score`` and ``composite_percentile`` (NaN when not ranked), one
        ``domain_<name>`` score per profile domain, ``lre_bottom_list``,
        ``disproportionate_two_years`` and ``reasons`` (plain words, ``;``-separated).

    Raises
    ------
    ProfileError
        The profile defines no monitoring levels.
    UsageError
        ``results`` were computed under another profile.

    Notes
    -----
    The rules of monitoring.md section 2, in one pass over every LEA and year:

    1. students with disabilities: the child count summed over races and disabilities;
    2. ``cyclical`` when at most ``small_lea_max_swd``; such LEAs are left out of every
       ranking and rules 4-7 do not set their level;
    3. rates and ``met`` as :func:`~cimrca.indicators.compute_indicators` defines them;
    4. elements missed: indicators with a target whose ``met`` is false; 1-2 ``targeted_1``,
       3 or more ``targeted_2`` (cde.ca.gov/sp/se/qa/targetedlevel2.asp);
    5. indicator percentile ``100 * rank / n``, ``rank`` the average rank of the goodness (the
       rate, or minus the rate when lower is better) among non-cyclical LEAs whose denominator
       is at least ``min_denominator``; ties share the mean rank. Computed as a division of
       the rank, so that a rank of 1 among 25 is exactly 4;
    6. domain score: mean of the LEA's percentiles in the domain; composite: mean of the
       domain scores when at least ``min_domains`` exist; its percentile ranks the composites
       the same way. At or under the ``intensive_bands``: ``intensive_3``, ``intensive_2``,
       ``intensive_1`` (intensivelevel1-3); at or under ``targeted_3_band``: ``targeted_3``
       (targetedlevel3). CDE does not publish its Intensive formula: this is a stand-in;
    7. ``targeted_3`` also on a percentile at or under ``lre_bottom`` on any
       ``lre_indicators``, or when any category x group has ``consecutive_years >= 2``;
    8. the level is the highest that applies;
    9. significantly disproportionate under 34 CFR 300.647(d)(1) from the results table;
       ``cim_required`` for a targeted or intensive level or a significantly
       disproportionate LEA.

    Examples
    --------
    >>> from cimrca import compute_indicators, compute_results, load_dataset, load_profile
    >>> ds, profile = load_dataset("data/sample"), load_profile("california")
    >>> results = compute_results(ds, profile)
    >>> out = compute_monitoring(ds, results, compute_indicators(ds.indicators, ds.targets), profile)
    >>> row = out.set_index(["school_year", "lea_id"]).loc[("2024-25", "2071593")]
    >>> bool(row["significantly_disproportionate"]), bool(row["cim_required"])
    (True, True)
    """
    rules = monitoring_rules(profile)
    names = set(results["profile"].unique()) if "profile" in results else set()
    if names - {profile.name}:
        raise UsageError(
            f"the results were computed with profile {', '.join(sorted(names))} but monitoring "
            f"uses {profile.name}. Compute both with the same profile."
        )
    if indicator_results is None:
        indicator_results = _indicator_results(dataset)

    # 1-2. Students with disabilities, cyclical.
    frame = _lea_years(dataset, results)
    swd = frame["students_with_disabilities"].to_numpy()
    cyclical = swd <= rules.small_lea_max_swd
    frame["_cyclical"] = cyclical

    # 4. Elements missed (every LEA, cyclical ones for information).
    missed = indicator_results.loc[
        (indicator_results["met"] == False).fillna(False).to_numpy(dtype=bool),  # noqa: E712
        ["school_year", "lea_id", "indicator"],
    ]
    frame = frame.join(
        _listed(missed, "indicator", "elements_missed_list", count="elements_missed")
    )

    # 5-6. Percentiles, domains, composite.
    pct = indicator_percentiles(
        indicator_results, profile, left_out=frame.loc[cyclical, _KEYS]
    ).dropna(subset=["percentile"])
    domain_columns = [f"domain_{name}" for name in rules.domains]
    membership = pd.DataFrame(
        [(f"domain_{d}", c) for d, codes in rules.domains.items() for c in codes],
        columns=["domain", "indicator"],
    )
    scores = (
        pct.merge(membership, on="indicator")
        .groupby([*_KEYS, "domain"])["percentile"]
        .mean()
        .unstack("domain")
        .reindex(columns=domain_columns)
    )
    frame = frame.join(scores)
    domain_scores = frame[domain_columns]
    enough = domain_scores.notna().sum(axis=1) >= rules.min_domains
    frame["composite_score"] = domain_scores.mean(axis=1).where(enough)
    frame["composite_percentile"] = _percentile(frame["composite_score"], frame["school_year"])

    # 7. LRE bottom and disproportionate two years in a row.
    lre = pct[pct["indicator"].isin(rules.lre_indicators) & (pct["percentile"] <= rules.lre_bottom)]
    position = {code: i for i, code in enumerate(rules.lre_indicators)}
    lre = lre.sort_values("indicator", key=lambda c: c.map(position), kind="stable")
    frame = frame.join(_listed(lre, "indicator", "lre_bottom_list", in_indicator_order=False))
    lre_text = lre.assign(_text=lre["indicator"] + " (percentile " + _fmt(lre["percentile"]) + ")")
    frame = frame.join(
        _listed(lre_text, "_text", "_lre_text", in_indicator_order=False, joiner=", ")
    )
    two = results.loc[results["consecutive_years"].to_numpy() >= 2]
    frame = frame.join(_groups_text(two, "_two_text", with_years=True))
    sd = results.loc[results["significantly_disproportionate"].to_numpy(dtype=bool)]
    frame = frame.join(_groups_text(sd, "_sd_text", with_years=False))
    for column in ("elements_missed_list", "lre_bottom_list", "_lre_text", "_two_text", "_sd_text"):
        frame[column] = _text(frame[column])
    frame["elements_missed"] = frame["elements_missed"].fillna(0).astype("int64")
    frame["disproportionate_two_years"] = frame["_two_text"] != ""
    frame["significantly_disproportionate"] = frame["_sd_text"] != ""

    # 8-9. Level, CIM required, reasons.
    cp = frame["composite_percentile"].to_numpy()
    b3, b2, b1 = rules.intensive_bands
    t3 = rules.targeted_3_band
    n_missed = frame["elements_missed"].to_numpy()
    lre_any = (frame["lre_bottom_list"] != "").to_numpy()
    two_any = frame["disproportionate_two_years"].to_numpy()
    with np.errstate(invalid="ignore"):
        frame["level"] = np.select(
            [cyclical, cp <= b3, cp <= b2, cp <= b1, (cp <= t3) | lre_any | two_any,
             n_missed >= 3, n_missed >= 1],
            ["cyclical", "intensive_3", "intensive_2", "intensive_1", "targeted_3",
             "targeted_2", "targeted_1"],
            "universal",
        )  # fmt: skip
    frame["cim_required"] = (
        frame["level"].isin(CIM_LEVELS) | frame["significantly_disproportionate"]
    ).to_numpy(dtype=bool)
    frame["reasons"] = _reasons(frame, rules)
    frame = frame.reset_index(drop=True).sort_values(_KEYS, kind="stable", ignore_index=True)
    return frame.loc[:, list(monitoring_columns(profile))]


def indicator_percentiles(
    indicator_results: pd.DataFrame,
    profile: Profile,
    *,
    left_out: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each LEA's percentile on every ranked indicator, year by year (monitoring.md rule 5).

    Parameters
    ----------
    indicator_results
        The output of :func:`cimrca.indicators.compute_indicators`.
    profile
        A profile with a ``monitoring`` section; its domains' and ``lre_indicators``' codes are
        ranked.
    left_out
        ``school_year`` x ``lea_id`` pairs outside every ranking population (the cyclical LEAs:
        ``monitoring[monitoring["level"] == "cyclical"]``).

    Returns
    -------
    pandas.DataFrame
        ``school_year``, ``lea_id``, ``indicator``, ``rate``, ``denominator``,
        ``higher_is_better`` and ``percentile`` (NaN when not ranked: left out, no rate, a
        denominator under ``min_denominator``, or no known better direction), sorted by year,
        LEA and indicator. Low percentile = worse.

    Examples
    --------
    >>> from cimrca.profiles import load_profile
    >>> ir = pd.DataFrame({"school_year": "2024-25", "lea_id": ["1", "2", "3", "4"],
    ...     "indicator": "5B", "rate": [0.1, 0.3, 0.3, 0.2], "denominator": 50.0,
    ...     "higher_is_better": False})
    >>> indicator_percentiles(ir, load_profile("california"))["percentile"].tolist()
    [100.0, 37.5, 37.5, 75.0]
    """
    rules = monitoring_rules(profile)
    columns = ["school_year", "lea_id", "indicator", "rate", "denominator", "higher_is_better"]
    ranked = indicator_results["indicator"].isin(rules.ranked_indicators).to_numpy(dtype=bool)
    frame = indicator_results.loc[ranked, columns].reset_index(drop=True)
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    eligible = np.ones(len(frame), dtype=bool)
    if left_out is not None and len(left_out):
        out_keys = pd.MultiIndex.from_frame(left_out[_KEYS].astype(str))
        eligible = ~pd.MultiIndex.from_frame(frame[_KEYS]).isin(out_keys)
    rate = frame["rate"].to_numpy(dtype="float64")
    hib = frame["higher_is_better"]
    with np.errstate(invalid="ignore"):
        eligible &= (
            np.isfinite(rate)
            & (frame["denominator"].to_numpy(dtype="float64") >= rules.min_denominator)
            & hib.notna().to_numpy()
        )
    goodness = pd.Series(np.where(hib.fillna(True).to_numpy(dtype=bool), rate, -rate))
    goodness = goodness.where(eligible)
    frame["percentile"] = _percentile(goodness, [frame["school_year"], frame["indicator"]])
    return frame.sort_values(["school_year", "lea_id", "indicator"], ignore_index=True)


def reason_indicators(
    monitoring: pd.DataFrame,
    indicator_results: pd.DataFrame,
    profile: Profile,
    lea_id: str,
    *,
    school_year: str | None = None,
) -> pd.DataFrame:
    """The indicators of one LEA's year that become indicator findings (monitoring.md section 4).

    Parameters
    ----------
    monitoring
        The statewide output of :func:`compute_monitoring` (or :func:`read_monitoring`).
    indicator_results
        The statewide output of :func:`cimrca.indicators.compute_indicators`.
    profile
        The profile the monitoring table was computed with.
    lea_id
        The LEA's CDE code.
    school_year
        Default: the LEA's latest school year in ``monitoring``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REASON_INDICATOR_COLUMNS`, one row per indicator that missed its target
        (``missed_target``), sits at or under ``lre_bottom`` on an LRE indicator
        (``lre_bottom``), or, when the composite placed the LEA at Targeted 3 or Intensive,
        pulls the composite down (``composite_low``: the composite's indicators at or under
        ``targeted_3_band``, or the lowest one when none is). ``level_reason`` marks the
        indicators behind the LEA's level (for ``targeted_1``/``targeted_2``, the missed
        ones). Rows come in finding order: level reasons first, then the rest, each in
        indicator order. ``why`` says it in plain words. Empty for an LEA with none.

    Raises
    ------
    UsageError
        The LEA or the year has no row in ``monitoring``.

    Examples
    --------
    >>> from cimrca import compute_indicators, compute_results, load_dataset, load_profile
    >>> ds, profile = load_dataset("data/sample"), load_profile("california")
    >>> ir = compute_indicators(ds.indicators, ds.targets)
    >>> mon = compute_monitoring(ds, compute_results(ds, profile), ir, profile)
    >>> list(reason_indicators(mon, ir, profile, "2071593").columns) == list(REASON_INDICATOR_COLUMNS)
    True
    """
    rules = monitoring_rules(profile)
    lea_rows = monitoring[monitoring["lea_id"].astype(str) == str(lea_id)]
    if lea_rows.empty:
        raise UsageError(f"LEA {lea_id!r} has no row in the monitoring table. Check the code.")
    if school_year is None:
        school_year = str(lea_rows["school_year"].max())
    row = lea_rows[lea_rows["school_year"].astype(str) == school_year]
    if row.empty:
        raise UsageError(
            f"LEA {lea_id} has no monitoring row for {school_year}; it has "
            f"{', '.join(sorted(lea_rows['school_year'].astype(str)))}."
        )
    row = row.iloc[0]
    level = str(row["level"])
    year_rows = indicator_results[indicator_results["school_year"].astype(str) == school_year]
    left_out = monitoring.loc[
        (monitoring["school_year"].astype(str) == school_year)
        & (monitoring["level"] == "cyclical"),
        _KEYS,
    ]
    pct = indicator_percentiles(year_rows, profile, left_out=left_out)
    pct = pct.loc[pct["lea_id"] == str(lea_id)].set_index("indicator")["percentile"]
    mine = year_rows[year_rows["lea_id"].astype(str) == str(lea_id)].set_index("indicator")
    mine = mine.reindex(indicator_order(mine.index))
    percentile = pct.reindex(mine.index)
    missed = (mine["met"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    lre = (mine.index.isin(rules.lre_indicators) & (percentile <= rules.lre_bottom)).to_numpy()
    composite_codes = [c for codes in rules.domains.values() for c in codes]
    in_composite = mine.index.isin(composite_codes) & percentile.notna().to_numpy()
    composite_low = np.zeros(len(mine), dtype=bool)
    cp = float(row["composite_percentile"]) if pd.notna(row["composite_percentile"]) else np.nan
    if level != "cyclical" and cp <= rules.targeted_3_band and in_composite.any():
        composite_low = in_composite & (percentile <= rules.targeted_3_band).to_numpy()
        if not composite_low.any():
            composite_low = in_composite & (percentile == percentile[in_composite].min()).to_numpy()
    level_reason = lre | composite_low
    if level in ("targeted_1", "targeted_2"):
        level_reason = level_reason | missed
    keep = missed | lre | composite_low
    why = pd.Series("", index=mine.index)
    pct_text = _fmt(percentile)
    why = _append(why, missed, "target missed")
    why = _append(
        why, lre, f"bottom {rules.lre_bottom:g}% on least restrictive environment (percentile "
        + pct_text + ")",
    )  # fmt: skip
    why = _append(why, composite_low, "pulls the composite down (percentile " + pct_text + ")")
    out = pd.DataFrame(
        {
            "school_year": school_year,
            "lea_id": str(lea_id),
            "indicator": mine.index.astype(str),
            "label": mine["label"].to_numpy(),
            "rate": mine["rate"].to_numpy(),
            "target": mine["target"].to_numpy(),
            "target_status": mine["target_status"].to_numpy(),
            "consecutive_missed": mine["consecutive_missed"].fillna(0).astype("int64").to_numpy(),
            "percentile": percentile.to_numpy(),
            "missed_target": missed,
            "lre_bottom": lre,
            "composite_low": composite_low,
            "level_reason": level_reason,
            "why": why.to_numpy(),
        }
    )[keep]
    out = out.sort_values("level_reason", ascending=False, kind="stable", ignore_index=True)
    return out.loc[:, list(REASON_INDICATOR_COLUMNS)]


def monitoring_row(monitoring: pd.DataFrame | None, school_year: str | None) -> dict | None:
    """One LEA's monitoring row of ``school_year`` (else its latest year) as a mapping.

    ``monitoring`` holds that LEA's rows of :func:`compute_monitoring`; ``None`` (or no rows)
    when the profile defines no monitoring levels. The packet, the workbook and the findings
    JSON all take the LEA's level from here.
    """
    if monitoring is None or monitoring.empty:
        return None
    years = monitoring["school_year"].astype(str)
    year = school_year if school_year is not None and (years == school_year).any() else years.max()
    return monitoring[years == year].iloc[0].to_dict()


def write_monitoring(monitoring: pd.DataFrame, path: str | Path) -> Path:
    """Write the monitoring table to ``.csv`` or ``.parquet`` (by extension), atomically."""
    from .atomic import atomic_write_table

    return atomic_write_table(monitoring, path, what="monitoring")


def read_monitoring(path: str | Path) -> pd.DataFrame:
    """Read a monitoring table written by :func:`write_monitoring`, with its dtypes."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"monitoring file {path} does not exist. Run `cimrca monitoring` first.")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    text = ["school_year", "lea_id", "level", *_LIST_COLUMNS]
    frame = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False, na_values=[""])
    for column in text:
        frame[column] = frame[column].fillna("")
    for column in _BOOL_COLUMNS:
        frame[column] = frame[column].astype(str).str.lower().eq("true")
    for column in ("students_with_disabilities", "elements_missed"):
        frame[column] = frame[column].astype("int64")
    return frame


# --- steps ------------------------------------------------------------------------------------


def _indicator_results(dataset: Dataset) -> pd.DataFrame:
    from .indicators import RESULT_COLUMNS, compute_indicators

    if dataset.indicators is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RESULT_COLUMNS})
    return compute_indicators(dataset.indicators, dataset.targets)


def _lea_years(dataset: Dataset, results: pd.DataFrame) -> pd.DataFrame:
    """School year x LEA pairs of the data, indexed, with students with disabilities (rule 1)."""
    child = dataset.child_count
    swd = child.groupby(_KEYS, sort=False)["count"].sum()  # missing counts skipped
    present = results.groupby(_KEYS, sort=False).size().index
    index = present.union(swd.index)
    frame = pd.DataFrame(index=index)
    frame["students_with_disabilities"] = swd.reindex(index).fillna(0).astype("int64")
    return frame.assign(**{k: index.get_level_values(k).astype(str) for k in _KEYS})


def _percentile(values: pd.Series, by) -> pd.Series:
    """``100 * rank / n`` within ``by``, average ranks for ties, NaN values not ranked."""
    grouped = values.groupby(by, sort=False)
    rank = grouped.rank(method="average")
    return 100.0 * rank / grouped.transform("count")


def _listed(
    rows: pd.DataFrame,
    column: str,
    name: str,
    *,
    count: str | None = None,
    in_indicator_order: bool = True,
    joiner: str = ";",
) -> pd.DataFrame:
    """Join ``column`` of ``rows`` per school year x LEA, in indicator order or as given.

    Vectorised: the rows are grouped by a stable sort on the keys, each text but a group's
    first gets the joiner in front, and ``numpy.add.reduceat`` concatenates every group at once.
    """
    if in_indicator_order:
        order = indicator_order(rows[column].unique())
        position = dict(zip(order, range(len(order)), strict=True))
        rows = rows.assign(_pos=rows[column].map(position)).sort_values("_pos", kind="stable")
    rows = rows.sort_values(_KEYS, kind="stable")
    keys = pd.MultiIndex.from_frame(rows[_KEYS].astype(str))
    text = rows[column].astype(str).to_numpy(dtype=object)
    first = np.ones(len(rows), dtype=bool)
    if len(rows):
        first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    pieces = np.where(first, text, joiner + text.astype(str)).astype(object)
    joined = np.add.reduceat(pieces, starts) if len(rows) else np.array([], dtype=object)
    index = keys[starts]
    out = pd.DataFrame({name: pd.array(joined, dtype=object)}, index=index)
    if count is not None:
        out[count] = np.diff(np.r_[starts, len(rows)]).astype("int64")
    return out


def _groups_text(rows: pd.DataFrame, name: str, *, with_years: bool) -> pd.DataFrame:
    """Category x group rows of the results as plain words, joined per school year x LEA."""
    text = (
        rows["race_ethnicity"].map(RACE_LABELS).fillna(rows["race_ethnicity"])
        + " students, "
        + rows["category"].map(CATEGORY_LABELS).fillna(rows["category"]).str.lower()
    )
    if with_years:
        text = text + " (" + rows["consecutive_years"].astype(str) + " years)"
    return _listed(rows.assign(_text=text), "_text", name, in_indicator_order=False, joiner=" and ")


def _fmt(values: pd.Series) -> pd.Series:
    """Percentiles as text with one decimal (display only; comparisons use full precision)."""
    return _text(values.map(lambda v: "" if pd.isna(v) else f"{v:.1f}"))


def _text(values: pd.Series) -> pd.Series:
    """A text column with ``""`` for missing values, whatever dtype the join left behind."""
    return values.astype(object).where(values.notna(), "").astype(str)


def _append(text: pd.Series, where, part) -> pd.Series:
    """Append ``part`` (a string or a Series) to ``text`` where ``where``, ``; ``-separated."""
    where = np.asarray(where, dtype=bool)
    part = part if isinstance(part, pd.Series) else pd.Series(part, index=text.index)
    joined = np.where(text == "", part, text + "; " + part)
    return pd.Series(np.where(where, joined, text), index=text.index)


def _reasons(frame: pd.DataFrame, rules: MonitoringRules) -> pd.Series:
    """Every rule that applied, in plain words (monitoring.md section 3 ``reasons``)."""
    cyclical = frame["_cyclical"].to_numpy()
    level = frame["level"]
    cp = frame["composite_percentile"]
    domains = ", ".join(rules.domains)
    b3, b2, b1 = rules.intensive_bands
    out = pd.Series("", index=frame.index)
    out = _append(
        out, cyclical,
        "students with disabilities "
        + frame["students_with_disabilities"].astype(str)
        + f", at most {rules.small_lea_max_swd}: a small LEA, monitored on a cycle (cyclical)",
    )  # fmt: skip
    out = _append(
        out, frame["significantly_disproportionate"],
        "significantly disproportionate (34 CFR 300.647): " + frame["_sd_text"],
    )  # fmt: skip
    composite = f"composite percentile of {domains} "
    for name, band, words in (
        ("intensive_3", b3, "bottom of the Intensive evaluation"),
        ("intensive_2", b2, "bottom of the Intensive evaluation"),
        ("intensive_1", b1, "bottom of the Intensive evaluation"),
    ):
        out = _append(
            out, level == name,
            composite + _fmt(cp) + f", at or under {band:g}: {words} ({name})",
        )  # fmt: skip
    ranked_t3 = ~cyclical & (cp > b1).to_numpy() & (cp <= rules.targeted_3_band).to_numpy()
    out = _append(
        out, ranked_t3,
        composite + _fmt(cp) + f", at or under {rules.targeted_3_band:g}: low in the Intensive "
        "evaluation (targeted_3)",
    )  # fmt: skip
    out = _append(
        out, ~cyclical & (frame["lre_bottom_list"] != "").to_numpy(),
        f"bottom {rules.lre_bottom:g}% on a least restrictive environment indicator: "
        + frame["_lre_text"] + " (targeted_3)",
    )  # fmt: skip
    out = _append(
        out, ~cyclical & frame["disproportionate_two_years"].to_numpy(),
        "disproportionate two or more years in a row: " + frame["_two_text"] + " (targeted_3)",
    )  # fmt: skip
    n = frame["elements_missed"]
    missed = "missed the target on " + n.astype(str) + " indicator"
    missed = (
        missed
        + np.where(n == 1, "", "s")
        + ": "
        + frame["elements_missed_list"].str.replace(";", ", ")
    )
    out = _append(out, ~cyclical & (n >= 3).to_numpy(), missed + " (targeted_2)")
    out = _append(out, ~cyclical & n.between(1, 2).to_numpy(), missed + " (targeted_1)")
    out = _append(out, (level == "universal").to_numpy(), "met every indicator target (universal)")
    return out
