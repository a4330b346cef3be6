"""The data drill-down: where inside the LEA each finding sits (drilldown.md section 2).

:func:`compute_drilldown` decomposes every finding of every LEA over the slices of each
dimension of ``detail.csv`` (schools, grade bands, gender, English learners, socioeconomically
disadvantaged students, disabilities) in one vectorised pass over the detail table: no Python
loop over LEAs or findings. :func:`concentration` and :func:`top_slices` summarise it for the
sentence of the HTML packet and the Root Causes draft.

For a finding (year ``Y``, LEA ``L``, category ``c``, group ``g``) with threshold ``T`` and the
comparison risk ``R`` its own ratio used, each slice ``s`` gets

- ``numerator_s``, ``denominator_s``: the group's outcome and base counts in ``s``, from the same
  tables and codes as the category (methodology.md section 1, data.md);
- ``comparison_numerator_s``, ``comparison_denominator_s``: the other six groups in ``s``
  (``NR`` is in neither);
- ``risk_s``, ``comparison_risk_s`` and ``ratio_s`` (only when both the group and the comparison
  meet ``min_cell`` and ``min_n`` in the slice);
- ``over_threshold_s = numerator_s - T * denominator_s * R``: because the slices partition the
  group, these sum to the LEA's own ``n - T * d * R``, whose ceiling is the results table's
  ``students_over_threshold`` for a flagged row;
- ``share_s = over_threshold_s / (n - T * d * R)`` when that LEA value is positive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .codes import (
    ALL_DISABILITIES,
    CATEGORIES,
    DIMENSION_LABELS,
    DIMENSIONS,
    DISABILITIES,
    ENVIRONMENTS,
    RACES,
    REMOVAL_TYPES,
    SLICE_LABELS,
    UNKNOWN_SLICE,
)
from .errors import UsageError

if TYPE_CHECKING:
    from .dataset import Dataset
    from .profiles import Profile

__all__ = [
    "FINDING_KEYS",
    "SLICE_NOUNS",
    "DRILLDOWN_COLUMNS",
    "CONCENTRATION_COLUMNS",
    "NO_DETAIL_MESSAGE",
    "NO_LEA_DETAIL_MESSAGE",
    "finding_rows",
    "compute_drilldown",
    "concentration",
    "top_slices",
    "concentration_sentence",
    "concentration_summary",
]

#: The columns that name a finding (one row of the results table).
FINDING_KEYS: tuple[str, ...] = ("school_year", "lea_id", "category", "race_ethnicity")
#: Columns of :func:`compute_drilldown`, in order (drilldown.md section 3 after the keys).
DRILLDOWN_COLUMNS: tuple[str, ...] = (
    *FINDING_KEYS, "dimension", "value", "label",
    "numerator", "denominator", "comparison_numerator", "comparison_denominator",
    "risk", "comparison_risk", "ratio", "over_threshold", "share",
)  # fmt: skip
#: Columns of :func:`concentration`.
CONCENTRATION_COLUMNS: tuple[str, ...] = (
    *FINDING_KEYS, "dimension", "slices", "slices_over", "top_slices", "top_share",
    "top_values", "top_labels", "max_share", "lea_over_threshold",
)  # fmt: skip
#: What every output says when the data set has no ``detail.csv`` (drilldown.md section 3).
NO_DETAIL_MESSAGE = (
    "No drill-down data were given: the data set has no detail.csv, so this finding cannot be "
    "located by school, grade, student group or disability. To provide them, import a student "
    "roster with school codes (cimrca import roster, columns school_code, grade, gender, "
    "english_learner, socioeconomically_disadvantaged), or write detail.csv from CALPADS "
    "aggregates (docs: drilldown.md section 1)."
)
#: What the outputs say when ``detail.csv`` exists but has no counts for the findings' LEA-years.
NO_LEA_DETAIL_MESSAGE = (
    "No drill-down data were given for this LEA: the data set's detail.csv has no counts for "
    "its findings, so they cannot be located by school, grade, student group or disability. "
    "To provide them, import a student roster with school codes (cimrca import roster, "
    "columns school_code, grade, gender, english_learner, socioeconomically_disadvantaged), "
    "or add the LEA's CALPADS aggregates to detail.csv (docs: drilldown.md section 1)."
)

_CODES = {
    "enrollment": ("",),
    "child_count": DISABILITIES + (ALL_DISABILITIES,),
    "environments": ENVIRONMENTS,
    "discipline": REMOVAL_TYPES,
}
_RESULT_COLUMNS = (
    "ratio", "ratio_type", "threshold", "min_cell", "min_n", "numerator", "denominator",
    "lea_comparison_numerator", "lea_comparison_denominator",
    "state_comparison_numerator", "state_comparison_denominator",
)  # fmt: skip


def _category_map() -> pd.DataFrame:
    """Which (table, code) rows are the outcome (``role`` 1) and the base (``role`` 0) of each
    category (methodology.md section 1, data.md): fourteen rules, built once."""
    rows = []
    for category in CATEGORIES:  # a loop over rules, not over data
        numerator_codes = category.numerator_codes or _CODES[category.numerator_table]
        rows += [(category.code, category.numerator_table, c, 1) for c in numerator_codes]
        rows += [(category.code, category.denominator, c, 0) for c in _CODES[category.denominator]]
    return pd.DataFrame(rows, columns=["category", "table", "code", "role"])


_CATEGORY_MAP = _category_map()
_IDENTIFICATION = frozenset(c.code for c in CATEGORIES if c.kind == "identification")


def finding_rows(results: pd.DataFrame, *, profile: Profile) -> pd.DataFrame:
    """The findings of the latest school year: rows at or above ``watch_fraction`` x threshold.

    The same rule as the workbook's findings (README decision 8): a row of the latest school
    year of ``results`` whose ratio used is at least ``profile.watch_fraction`` times the row's
    own ``threshold``. Returns those rows of ``results`` (every column), in results order.
    """
    latest = results["school_year"].max()
    ratio = results["ratio"].astype(float)
    keep = results["school_year"].eq(latest) & (
        ratio >= profile.watch_fraction * results["threshold"].astype(float)
    )
    return results[keep.fillna(False).to_numpy()].reset_index(drop=True)


def compute_drilldown(
    dataset: Dataset,
    results: pd.DataFrame,
    *,
    profile: Profile,
    findings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decompose every finding over the slices of each dimension (drilldown.md section 2).

    Parameters
    ----------
    dataset
        A validated data set; its ``detail`` (and ``schools``, for labels) are read.
    results
        The results table of :func:`cimrca.methodology.compute_results` (statewide or a filter).
    profile
        The state profile; gives ``watch_fraction`` when ``findings`` is not given.
    findings
        The findings to decompose: any frame with the columns :data:`FINDING_KEYS` (for
        example the packet's own findings). Default: :func:`finding_rows` of ``results``.

    Returns
    -------
    pandas.DataFrame
        One row per finding x dimension x slice with the columns of
        :data:`DRILLDOWN_COLUMNS`: counts as nullable integers (missing when a slice count is
        suppressed), the rest as floats at full precision. Ordered as the findings, then by
        dimension (:data:`cimrca.codes.DIMENSIONS`), then ``over_threshold`` largest first.
        Empty (same columns) when the data set has no ``detail.csv`` or nothing is sliced for
        the findings' LEA-years; ``attrs["message"]`` then holds :data:`NO_DETAIL_MESSAGE`.

    Raises
    ------
    UsageError
        When ``findings`` lacks a key column or names a row that ``results`` does not have.

    Notes
    -----
    ``over_threshold`` uses the comparison risk ``R`` of the LEA's own ratio: the LEA's other
    groups for a risk ratio (34 CFR 300.647(b)(5)), the State's for an alternate risk ratio
    (300.647(b)(5)(ii)); so the parts of a dimension add up to the LEA's ``n - T d R``. A slice's
    own ratio is shown only when its group and its comparison meet ``min_cell`` and ``min_n``
    (300.647(b)(1)(i)-(ii), methodology.md section 3); it is context and never a
    determination. The ``disability`` dimension applies to placement and discipline only.

    Examples
    --------
    >>> from cimrca import load_dataset, load_profile
    >>> from cimrca.methodology import compute_results
    >>> ds, profile = load_dataset("data/sample"), load_profile("california")
    >>> drill = compute_drilldown(ds, compute_results(ds, profile), profile=profile)
    >>> sorted(drill["dimension"].unique())[:2]
    ['disability', 'english_learner']
    """
    keys = list(FINDING_KEYS)
    chosen = finding_rows(results, profile=profile) if findings is None else findings
    missing = [k for k in keys if k not in chosen.columns]
    if missing:
        raise UsageError(
            f"the findings frame lacks column(s) {', '.join(missing)}; give the finding keys "
            f"{', '.join(keys)}."
        )
    found = (
        chosen[keys]
        .drop_duplicates()
        .merge(results[[*keys, *_RESULT_COLUMNS]], on=keys, how="left", indicator=True)
    )
    absent = found["_merge"].ne("both")
    if absent.any():
        first = found.loc[absent, keys].iloc[0]
        raise UsageError(
            f"finding {':'.join(map(str, first))} is not a row of the results table; give "
            "findings taken from the same results."
        )
    found = found.drop(columns="_merge").reset_index(drop=True)
    if dataset.detail is None or found.empty:
        return _empty(NO_DETAIL_MESSAGE if dataset.detail is None else "")

    # 1. Each finding's tables and codes, then the detail rows of its LEA-year (one merge).
    found["_finding"] = np.arange(len(found))
    wanted = found[["_finding", "school_year", "lea_id", "category"]].merge(
        _CATEGORY_MAP, on="category"
    )
    detail = dataset.detail
    lea_years = found[["school_year", "lea_id"]].drop_duplicates()
    detail = detail.merge(lea_years, on=["school_year", "lea_id"])
    rows = wanted.merge(detail, on=["school_year", "lea_id", "table", "code"])
    rows = rows[~(rows["dimension"].eq("disability") & rows["category"].isin(_IDENTIFICATION))]
    if rows.empty:
        return _empty(NO_LEA_DETAIL_MESSAGE)

    # 2. The group's and the comparison's outcome and base in each slice.
    group = found["race_ethnicity"].to_numpy()[rows["_finding"].to_numpy()]
    race = rows["race_ethnicity"].to_numpy()
    is_group = race == group
    is_comparison = np.isin(race, RACES) & ~is_group
    is_outcome = rows["role"].to_numpy() == 1
    count = rows["count"].to_numpy(dtype=float)
    known = np.nan_to_num(count)
    unknown = np.isnan(count).astype(float)
    parts = {
        "numerator": is_group & is_outcome,
        "denominator": is_group & ~is_outcome,
        "comparison_numerator": is_comparison & is_outcome,
        "comparison_denominator": is_comparison & ~is_outcome,
    }
    sums = pd.DataFrame(
        {name: np.where(mask, known, 0.0) for name, mask in parts.items()}
        | {f"_na_{name}": np.where(mask, unknown, 0.0) for name, mask in parts.items()}
        | {"_outcome": is_outcome.astype(float), "_base": (~is_outcome).astype(float)}
    )
    by = [rows["_finding"].to_numpy(), rows["dimension"].to_numpy(), rows["value"].to_numpy()]
    sliced = sums.groupby(by, sort=False).sum()
    sliced.index.names = ["_finding", "dimension", "value"]
    sliced = sliced.reset_index()
    # a dimension is used only where both the outcome and the base tables are sliced
    both = sliced.groupby(["_finding", "dimension"])[["_outcome", "_base"]].transform("sum")
    sliced = sliced[(both["_outcome"] > 0) & (both["_base"] > 0)].reset_index(drop=True)
    for name in parts:
        sliced[name] = sliced[name].where(sliced.pop(f"_na_{name}") == 0)

    # 3. Risks, the slice's ratio, and its part of the finding.
    f = found.iloc[sliced["_finding"].to_numpy()].reset_index(drop=True)
    out = _measures(sliced, f)
    out = pd.concat([f[keys], out], axis=1)
    out["label"] = _labels(out, dataset)
    out["_finding"] = sliced["_finding"].to_numpy()
    out["_dimension"] = pd.Categorical(out["dimension"], categories=DIMENSIONS).codes
    out = out.sort_values(
        ["_finding", "_dimension", "over_threshold", "value"],
        ascending=[True, True, False, True],
        na_position="last",
        kind="stable",
    )
    out = out[list(DRILLDOWN_COLUMNS)].reset_index(drop=True)
    out.attrs["message"] = ""
    return out


def _measures(sliced: pd.DataFrame, f: pd.DataFrame) -> pd.DataFrame:
    """Risks, ratio, ``over_threshold`` and ``share`` of each slice (module docstring)."""
    n, d = sliced["numerator"].to_numpy(float), sliced["denominator"].to_numpy(float)
    cn = sliced["comparison_numerator"].to_numpy(float)
    cd = sliced["comparison_denominator"].to_numpy(float)
    threshold = f["threshold"].to_numpy(float)
    min_cell, min_n = f["min_cell"].to_numpy(float), f["min_n"].to_numpy(float)
    alternate = f["ratio_type"].eq("alternate_risk_ratio").to_numpy()
    comp_n = np.where(
        alternate, f["state_comparison_numerator"].astype(float),
        f["lea_comparison_numerator"].astype(float),
    )  # fmt: skip
    comp_d = np.where(
        alternate, f["state_comparison_denominator"].astype(float),
        f["lea_comparison_denominator"].astype(float),
    )  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        lea_risk = np.where(comp_d > 0, comp_n / comp_d, np.nan)  # R, the risk the LEA used
        risk = np.where(d > 0, n / d, np.nan)
        comparison_risk = np.where(cd > 0, cn / cd, np.nan)
        meets = (n >= min_cell) & (d >= min_n) & (cn >= min_cell) & (cd >= min_n)
        ratio = np.where(meets, risk / comparison_risk, np.nan)
        over = n - threshold * d * lea_risk
        lea_n = f["numerator"].astype(float).to_numpy()
        lea_d = f["denominator"].astype(float).to_numpy()
        lea_over = lea_n - threshold * lea_d * lea_risk
        share = np.where(lea_over > 0, over / lea_over, np.nan)
    return pd.DataFrame(
        {
            "dimension": sliced["dimension"].to_numpy(),
            "value": sliced["value"].to_numpy(),
            "numerator": _counts(n),
            "denominator": _counts(d),
            "comparison_numerator": _counts(cn),
            "comparison_denominator": _counts(cd),
            "risk": risk,
            "comparison_risk": comparison_risk,
            "ratio": ratio,
            "over_threshold": over,
            "share": share,
        }
    )


def _counts(values: np.ndarray) -> pd.arrays.IntegerArray:
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


def _labels(out: pd.DataFrame, dataset: Dataset) -> pd.Series:
    """The name of each slice: the school's name from ``schools.csv``, else a plain label."""
    names = {}
    if dataset.schools is not None:
        names = dict(
            zip(dataset.schools["school_code"], dataset.schools["school_name"], strict=False)
        )
    flat = {(d, v): label for d, labels in SLICE_LABELS.items() for v, label in labels.items()}
    keys = pd.Series(list(zip(out["dimension"], out["value"], strict=True)), index=out.index)
    label = keys.map(flat)
    school = out["dimension"].eq("school")
    label = label.where(~school, out["value"].map(names))
    label = label.where(~out["value"].eq(UNKNOWN_SLICE), "Not recorded")
    return label.fillna("").astype(str)


def _empty(message: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in DRILLDOWN_COLUMNS})
    frame.attrs["message"] = message
    return frame


def _dtype(column: str) -> str:
    if column in ("numerator", "denominator", "comparison_numerator", "comparison_denominator"):
        return "Int64"
    if column in ("risk", "comparison_risk", "ratio", "over_threshold", "share"):
        return "float64"
    return "object"


def concentration(drilldown: pd.DataFrame, *, cover: float = 0.5) -> pd.DataFrame:
    """How concentrated each finding is, per dimension (drilldown.md section 3).

    Parameters
    ----------
    drilldown
        The output of :func:`compute_drilldown`.
    cover
        The top slices are the fewest slices, largest ``over_threshold`` first, whose positive
        parts reach this fraction of the sum of the positive parts (default one half).

    Returns
    -------
    pandas.DataFrame
        One row per finding x dimension with the columns of :data:`CONCENTRATION_COLUMNS`:
        ``slices`` (how many slices the dimension has), ``slices_over`` (how many are over the
        threshold's level), ``top_slices`` and ``top_share`` (the sentence "3 of 14 schools
        account for 71% of the students over the threshold"), ``top_values`` and
        ``top_labels`` (lists, largest first), ``max_share`` (the largest slice's ``share`` of
        the LEA's excess) and ``lea_over_threshold`` (the sum of the parts, the LEA's
        ``n - T d R``).

    Notes
    -----
    Slices below the threshold's level offset part of the excess, so parts measured against
    the LEA's own excess can exceed 100%; ``top_share`` is therefore a share of the positive
    parts, the students over the threshold in the slices that are over it.
    """
    keys = [*FINDING_KEYS, "dimension"]
    d = drilldown.copy()
    d["_over"] = d["over_threshold"].clip(lower=0).fillna(0.0)
    d = d.sort_values([*keys, "_over"], ascending=[True] * len(keys) + [False], kind="stable")
    g = d.groupby(keys, sort=False)
    positive = g["_over"].transform("sum")
    before = g["_over"].cumsum() - d["_over"]
    d["_top"] = (d["_over"] > 0) & (before < cover * positive)
    top = d[d["_top"]]
    top_g = top.groupby(keys, sort=False)
    summary = g.agg(
        slices=("value", "size"),
        slices_over=("_over", lambda s: int((s > 0).sum())),
        max_share=("share", "max"),
        lea_over_threshold=("over_threshold", "sum"),
        _positive=("_over", "sum"),
    )
    tops = top_g.agg(
        top_slices=("value", "size"),
        _top_over=("_over", "sum"),
        top_values=("value", list),
        top_labels=("label", list),
    )
    out = summary.join(tops, how="left")
    out["top_slices"] = out["top_slices"].fillna(0).astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["top_share"] = np.where(
            out["_positive"] > 0, out["_top_over"].fillna(0) / out["_positive"], np.nan
        )
    for column in ("top_values", "top_labels"):
        out[column] = out[column].apply(lambda v: v if isinstance(v, list) else [])
    return out.reset_index()[list(CONCENTRATION_COLUMNS)]


def top_slices(drilldown: pd.DataFrame, *, n: int = 3) -> pd.DataFrame:
    """The ``n`` slices of each finding and dimension with the most students over the threshold.

    Only slices over the threshold's level (``over_threshold`` > 0) are listed, largest first:
    what the Root Causes problem-of-practice draft cites. Columns as :func:`compute_drilldown`.
    """
    over = drilldown[drilldown["over_threshold"] > 0]
    keys = [*FINDING_KEYS, "dimension"]
    over = over.sort_values([*keys, "over_threshold"], ascending=[True] * 5 + [False])
    return over.groupby(keys, sort=False).head(n).reset_index(drop=True)


#: How a sentence names one slice and several slices of each dimension.
SLICE_NOUNS: dict[str, tuple[str, str]] = {
    "school": ("school", "schools"),
    "grade_band": ("grade band", "grade bands"),
    "gender": ("gender", "genders"),
    "english_learner": ("English-learner group", "English-learner groups"),
    "socioeconomically_disadvantaged": ("group", "groups"),
    "disability": ("disability", "disabilities"),
}


def concentration_sentence(summary: pd.DataFrame) -> pd.Series:
    """The sentence of the HTML packet for each row of :func:`concentration`.

    For example "3 of 14 schools account for 71% of the students over the threshold in the
    schools above its level." The base is the sum of the parts above the threshold's level
    (``top_share``), not the LEA's net figure that ``share`` divides by (other parts below the
    level offset it, so shares of the net figure can add to more than 100%). Where no slice is
    over the threshold's level, "No school is over the threshold's level.".
    """
    noun_one = summary["dimension"].map({k: v[0] for k, v in SLICE_NOUNS.items()})
    noun_many = summary["dimension"].map({k: v[1] for k, v in SLICE_NOUNS.items()})
    verb = np.where(summary["top_slices"] == 1, "accounts", "account")
    text = (
        summary["top_slices"].astype(str) + " of " + summary["slices"].astype(str) + " "
        + noun_many + " " + verb + " for "
        + (summary["top_share"] * 100).round().fillna(0).astype(int).astype(str)
        + "% of the students over the threshold in the " + noun_many + " above its level."
    )  # fmt: skip
    none = "No " + noun_one + " is over the threshold's level."
    return text.where(summary["top_slices"] > 0, none).rename("sentence")


def dimension_label(dimension: str) -> str:
    """The display name of a dimension (``school`` -> ``School``)."""
    return DIMENSION_LABELS[dimension]


def concentration_summary(drilldown: pd.DataFrame, *, cover: float = 0.5) -> pd.DataFrame:
    """:func:`concentration` with its sentence, in the drill-down's own order.

    One row per finding x dimension, the findings in the order of ``drilldown`` and the
    dimensions in :data:`cimrca.codes.DIMENSIONS` order, with the columns of
    :data:`CONCENTRATION_COLUMNS` plus ``dimension_label`` and ``sentence``
    (:func:`concentration_sentence`). What the findings JSON, the Drill-Down sheet, the HTML
    packet and the Root Causes draft say about a finding's concentration.
    """
    summary = concentration(drilldown, cover=cover)
    if summary.empty:
        return summary.assign(dimension_label=pd.Series(dtype=object),
                              sentence=pd.Series(dtype=object))  # fmt: skip
    keys = list(FINDING_KEYS)
    order = drilldown[keys].drop_duplicates().reset_index(drop=True)
    order["_finding"] = np.arange(len(order))
    summary = summary.merge(order, on=keys, how="left")
    summary["_dimension"] = pd.Categorical(summary["dimension"], categories=DIMENSIONS).codes
    summary = summary.sort_values(["_finding", "_dimension"], kind="stable")
    summary = summary.drop(columns=["_finding", "_dimension"]).reset_index(drop=True)
    summary["dimension_label"] = summary["dimension"].map(DIMENSION_LABELS)
    summary["sentence"] = concentration_sentence(summary).to_numpy()
    return summary
