"""The significant-disproportionality calculation of 34 CFR 300.647, for every LEA at once.

:func:`compute_results` turns a validated :class:`~cimrca.dataset.Dataset` and a
:class:`~cimrca.profiles.Profile` into the results table of outputs.md section 2: one row per
school year x LEA x category x racial/ethnic group with the risk, the comparison groups, the
ratio used (risk ratio, alternate risk ratio, or not calculated with its reason), the threshold
test, the multi-year determination and the supplementary measures.

The whole State is computed in one vectorised pass: counts are accumulated into dense arrays
indexed (school year, LEA, category, group) and every rule is an array expression. There is no
Python loop over LEAs, years or groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from .codes import (
    ALL_DISABILITIES,
    CATEGORIES,
    DISABILITIES,
    ENVIRONMENTS,
    RACES,
    REMOVAL_TYPES,
    STATE_TABLES,
)
from .dataset import Dataset, positions
from .determinations import consecutive_flagged_years, reasonable_progress_made
from .errors import UsageError
from .profiles import Profile

__all__ = ["RESULT_COLUMNS", "compute_results", "write_results", "read_results", "lea_slice"]

#: Columns of the results table, in order (outputs.md section 2, README decision 10).
RESULT_COLUMNS: tuple[str, ...] = (
    "school_year", "lea_id", "category", "race_ethnicity",
    "numerator", "denominator", "risk",
    "lea_comparison_numerator", "lea_comparison_denominator",
    "state_comparison_numerator", "state_comparison_denominator",
    "ratio_type", "ratio", "reason",
    "exceeds_threshold", "consecutive_years", "significantly_disproportionate",
    "reasonable_progress", "threshold", "min_cell", "min_n",
    "weighted_risk_ratio", "risk_difference", "composition", "e_formula_upper",
    "students_over_threshold", "ci_low", "ci_high", "profile",
)  # fmt: skip

# Sorted vocabularies give a results table already sorted by its keys when flattened in C order.
_RACES = tuple(sorted(RACES))
_CHILD_CODES = DISABILITIES + (ALL_DISABILITIES,)
_CODES = {"child_count": _CHILD_CODES, "environments": ENVIRONMENTS, "discipline": REMOVAL_TYPES}
_CODE_COLUMN = {t: c for t, c in STATE_TABLES.items() if c is not None}
_REASONS = (
    "",
    "missing_input",
    "group_below_min_cell",
    "group_below_min_n",
    "comparison_below_min",
)
_TYPES = ("risk_ratio", "alternate_risk_ratio", "not_calculated")


@dataclass(frozen=True)
class _Counts:
    """Outcome and base counts with missing flags; leading axes (year, [LEA,] category, group)."""

    numerator: np.ndarray
    denominator: np.ndarray
    missing: np.ndarray  # the row's own numerator or denominator is missing


def compute_results(
    dataset: Dataset, profile: Profile, *, confidence_level: float = 0.95
) -> pd.DataFrame:
    """Compute the statewide results table (outputs.md section 2) in one vectorised pass.

    Parameters
    ----------
    dataset
        A validated canonical data set (:func:`cimrca.dataset.load_dataset`).
    profile
        The state profile: threshold, minimums, years required, reasonable progress, skip years
        and categories (:func:`cimrca.profiles.load_profile`).
    confidence_level
        Level of the Katz log confidence interval of the ratio used (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per school year x LEA x category x group, sorted by those keys, with the
        columns of :data:`RESULT_COLUMNS`. ``attrs["notes"]`` lists what the run should tell the
        user (for example how many missing counts the State sums skipped).

    Notes
    -----
    Decision rules (methodology.md section 3, 34 CFR 300.647(b)): (1) a needed count missing:
    not calculated, ``missing_input``; (2) the group below ``min_cell`` or ``min_n``: not
    calculated; (3) the LEA comparison group meets both minimums: risk ratio
    (300.647(b)(5)); (4) else the State comparison group does: alternate risk ratio
    (300.647(b)(5)(ii)); (5) else not calculated, ``comparison_below_min``. A year is flagged
    when the ratio used is strictly greater than the threshold (300.647(d)(1)), compared at full
    precision. Identification needs ``years_required`` consecutive flagged years
    (300.647(d)(1)); reasonable progress (300.647(d)(2)) is a profile option.

    Examples
    --------
    >>> from cimrca import load_dataset, load_profile
    >>> results = compute_results(load_dataset("data/sample"), load_profile("california"))
    >>> sorted(results["ratio_type"].unique())
    ['alternate_risk_ratio', 'not_calculated', 'risk_ratio']
    """
    if not 0 < confidence_level < 1:
        raise UsageError(f"confidence_level must be between 0 and 1, found {confidence_level}.")
    years, calendar = _calendar(dataset.school_years)
    lea_ids = np.array(sorted(dataset.leas["lea_id"].unique()), dtype=object)
    categories = tuple(sorted(profile.categories))
    n_year, n_lea = len(calendar), len(lea_ids)
    notes: list[str] = []

    # 1. Counts: dense arrays (year, LEA, group, code) for the LEAs, (year, group, code) for the State.
    lea_tables, present = {}, np.zeros((n_year, n_lea), dtype=bool)
    for table in STATE_TABLES:
        frame = getattr(dataset, table)
        sums, nans, rows, table_present = _accumulate(frame, table, calendar, lea_ids)
        lea_tables[table] = (sums, nans, rows)
        present |= table_present
    state_tables = _state_tables(dataset, lea_tables, calendar, notes)
    lea = _category_counts(lea_tables, categories)
    state = _category_counts(state_tables, categories)

    # 2. Comparison groups: all other groups of the LEA, or of the State.
    n, d = lea.numerator, lea.denominator  # (year, LEA, category, group)
    lea_missing = lea.missing.any(axis=-1, keepdims=True)  # any group of the LEA missing
    n_lea_total = n.sum(axis=-1, keepdims=True)
    d_lea_total = d.sum(axis=-1, keepdims=True)
    nc, dc = n_lea_total - n, d_lea_total - d
    ns_total = state.numerator.sum(axis=-1, keepdims=True)
    ds_total = state.denominator.sum(axis=-1, keepdims=True)
    ns = ns_total - state.numerator  # (year, 1, category, group)
    ds = ds_total - state.denominator
    state_missing = state.missing.any(axis=-1, keepdims=True)

    # 3. Decision rules, in order (methodology.md section 3).
    min_cell = np.array([profile.min_cell_for(c) for c in categories], dtype=float)[:, None]
    min_n = np.array([profile.min_n_for(c) for c in categories], dtype=float)[:, None]
    threshold = np.array([profile.threshold_for(c) for c in categories], dtype=float)[:, None]
    missing = lea.missing | lea_missing
    lea_ok = (nc >= min_cell) & (dc >= min_n)
    state_ok = (ns >= min_cell) & (ds >= min_n)
    reason = np.select(
        [
            missing,
            n < min_cell,
            d < min_n,
            lea_ok,
            state_missing & np.ones_like(lea_ok),
            state_ok,
        ],
        [1, 2, 3, 0, 1, 0],
        default=4,
    ).astype(np.int8)
    ratio_type = np.where(reason > 0, 2, np.where(lea_ok, 0, 1)).astype(np.int8)
    with np.errstate(divide="ignore", invalid="ignore"):
        risk = np.where(d > 0, n / d, np.nan)
        lea_comparison_risk = np.where(dc > 0, nc / dc, np.nan)
        state_comparison_risk = np.broadcast_to(np.where(ds > 0, ns / ds, np.nan), n.shape)
        comparison_risk = np.where(ratio_type == 0, lea_comparison_risk, state_comparison_risk)
        ratio = np.where(ratio_type < 2, risk / comparison_risk, np.nan)
    exceeds = ratio > threshold  # strict, at full precision; NaN compares False

    # 4. Multi-year determination: consecutive flagged years, reasonable progress.
    is_skip = np.isin(calendar, profile.skip_years)
    flagged = exceeds & present[:, :, None, None]
    consecutive = consecutive_flagged_years(flagged, skip=is_skip)
    identified = consecutive >= profile.years_required
    progress = None
    if profile.reasonable_progress:
        progress = reasonable_progress_made(
            np.where(present[:, :, None, None], ratio, np.nan),
            skip=is_skip,
            min_decrease=profile.reasonable_progress_min_decrease,
        )
        identified &= ~progress

    # 5. Supplementary measures (methodology.md section 5): context, never the determination.
    with np.errstate(divide="ignore", invalid="ignore"):
        state_share = state.denominator / ds_total  # p_j, the State's share of the base
        p = np.broadcast_to(state_share, n.shape)
        weighted = np.where(d > 0, p * risk, 0.0)
        others = weighted.sum(axis=-1, keepdims=True) - weighted
        weighted_risk_ratio = np.where(others > 0, (1 - p) * risk / others, np.nan)
        risk_difference = risk - lea_comparison_risk
        composition = np.where(n_lea_total > 0, n / n_lea_total, np.nan)
        share = np.where(d_lea_total > 0, d / d_lea_total, np.nan)
        e_formula_upper = share + np.sqrt(share * (1 - share) / n_lea_total)
        e_formula_upper = np.where(n_lea_total > 0, e_formula_upper, np.nan)
        students_over = np.where(exceeds, np.ceil(n - threshold * comparison_risk * d), np.nan)
        comp_n = np.where(ratio_type == 0, nc, np.broadcast_to(ns, n.shape))
        comp_d = np.where(ratio_type == 0, dc, np.broadcast_to(ds, n.shape))
        is_rate = np.array([_CATEGORY[c].is_rate for c in categories])[:, None]
        katz_ok = (ratio_type < 2) & ~is_rate & (n > 0) & (comp_n > 0)
        se = np.sqrt(1 / n - 1 / d + 1 / comp_n - 1 / comp_d)
        z = NormalDist().inv_cdf(0.5 + confidence_level / 2)
        ci_low = np.where(katz_ok, np.exp(np.log(ratio) - z * se), np.nan)
        ci_high = np.where(katz_ok, np.exp(np.log(ratio) + z * se), np.nan)
    unknown = missing  # supplementary measures need every count of the LEA
    for arr in (weighted_risk_ratio, risk_difference, composition, e_formula_upper):
        arr[unknown] = np.nan

    # 6. Flatten the rows of LEA-years present in the data (absent years have no rows).
    shape = n.shape
    keep = np.broadcast_to(present[:, :, None, None], shape).ravel()
    year_idx, lea_idx, cat_idx, race_idx = (
        i.ravel()[keep] for i in np.indices(shape, dtype=np.int32)
    )

    def flat(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, shape).ravel()[keep]

    n_cat = len(categories)
    columns = {
        "school_year": _labels(year_idx, list(calendar)),
        "lea_id": _labels(lea_idx, list(lea_ids)),
        "category": _labels(cat_idx, list(categories)),
        "race_ethnicity": _labels(race_idx, list(_RACES)),
        "numerator": _counts(flat(np.where(lea.missing, np.nan, n))),
        "denominator": _counts(flat(np.where(lea.missing, np.nan, d))),
        "risk": flat(np.where(lea.missing, np.nan, risk)),
        "lea_comparison_numerator": _counts(flat(np.where(lea_missing, np.nan, nc))),
        "lea_comparison_denominator": _counts(flat(np.where(lea_missing, np.nan, dc))),
        "state_comparison_numerator": _counts(flat(np.where(state_missing, np.nan, ns))),
        "state_comparison_denominator": _counts(flat(np.where(state_missing, np.nan, ds))),
        "ratio_type": _labels(flat(ratio_type), _TYPES),
        "ratio": flat(ratio),
        "reason": _labels(flat(reason), _REASONS),
        "exceeds_threshold": flat(exceeds),
        "consecutive_years": flat(consecutive).astype(np.int64),
        "significantly_disproportionate": flat(identified),
        "reasonable_progress": (
            pd.array(flat(progress), dtype="boolean")
            if progress is not None
            else pd.arrays.BooleanArray(
                np.zeros(int(keep.sum()), bool), np.ones(int(keep.sum()), bool)
            )
        ),
        "threshold": flat(np.broadcast_to(threshold, (n_cat, len(_RACES)))[None, None]),
        "min_cell": flat(np.broadcast_to(min_cell, (n_cat, len(_RACES)))[None, None]).astype(int),
        "min_n": flat(np.broadcast_to(min_n, (n_cat, len(_RACES)))[None, None]).astype(int),
        "weighted_risk_ratio": flat(weighted_risk_ratio),
        "risk_difference": flat(risk_difference),
        "composition": flat(composition),
        "e_formula_upper": flat(e_formula_upper),
        "students_over_threshold": _counts(flat(students_over)),
        "ci_low": flat(ci_low),
        "ci_high": flat(ci_high),
    }
    results = pd.DataFrame(columns)
    results["profile"] = profile.name
    # pandas copies attrs into every frame derived from this one (a deep copy per operation),
    # so they hold the few notes only; the profile's name is the `profile` column
    results.attrs["notes"] = notes + list(dataset.notes)
    return results


_CATEGORY = {c.code: c for c in CATEGORIES}


def _labels(codes: np.ndarray, labels) -> pd.Series:
    """Text column from integer codes (through Arrow: much faster than a categorical cast)."""
    import pyarrow as pa

    return pa.array(list(labels), type=pa.string()).take(pa.array(codes)).to_pandas()


def _counts(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Whole-number counts as a nullable integer array (missing stays missing)."""
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


def _calendar(school_years: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """Every school year from the first to the last in the data, gaps included."""
    if not school_years:
        raise UsageError("the data set has no rows in its count tables; nothing to compute.")
    starts = [int(y[:4]) for y in school_years]
    calendar = np.array(
        [f"{y}-{(y + 1) % 100:02d}" for y in range(min(starts), max(starts) + 1)], dtype=object
    )
    return school_years, calendar


def _codes(values: pd.Series, categories) -> np.ndarray:
    return positions(values, categories)


def _accumulate(frame: pd.DataFrame, table: str, calendar, lea_ids):
    """Sum a count table into a dense (year, LEA, group, code) array.

    Returns the sums (missing counts add nothing), the number of missing counts per cell, the
    number of rows per cell, and which LEA-years have any row. ``NR`` rows count for presence only.
    """
    codes = _CODES.get(table, ("",))
    shape = (len(calendar), len(lea_ids), len(_RACES), len(codes))
    size = int(np.prod(shape))
    if frame is None:  # an optional table the data set does not have: every count is missing
        ones = np.ones(shape)
        return np.zeros(shape), ones, np.zeros(shape, dtype=np.int64), np.zeros(shape[:2], bool)
    y = _codes(frame["school_year"], calendar)
    lea = _codes(frame["lea_id"], lea_ids)
    known = (y >= 0) & (lea >= 0)  # State rows of years outside the data are not needed
    present = np.zeros(shape[:2], dtype=bool)
    present.ravel()[np.ravel_multi_index((y[known], lea[known]), shape[:2])] = True
    g = _codes(frame["race_ethnicity"], _RACES)
    k = _codes(frame[_CODE_COLUMN[table]], codes) if table in _CODE_COLUMN else np.zeros_like(y)
    keep = known & (g >= 0)  # NR rows are excluded from every ratio
    flat = np.ravel_multi_index((y[keep], lea[keep], g[keep], k[keep]), shape)
    count = frame["count"].to_numpy(dtype=float)[keep]
    sums = np.bincount(flat, weights=np.nan_to_num(count), minlength=size).reshape(shape)
    nans = np.bincount(flat, weights=np.isnan(count), minlength=size).reshape(shape)
    rows = np.bincount(flat, minlength=size).reshape(shape)
    return sums, nans, rows, present


def _state_tables(dataset: Dataset, lea_tables, calendar, notes: list[str]):
    """State counts (year, 1, group, code): ``state_totals.csv`` where it has rows for a year and
    table, else the sums over the data set's LEAs (skipping missing counts, with a note)."""
    supplied = dataset.state_totals
    out = {}
    skipped = 0
    for table, (sums, nans, rows) in lea_tables.items():
        state_sums = sums.sum(axis=1, keepdims=True)
        state_nans = np.zeros_like(state_sums)
        state_rows = rows.sum(axis=1, keepdims=True)
        from_file = np.zeros(len(calendar), dtype=bool)
        if supplied is not None:
            sub = supplied[supplied["table"] == table]
            if len(sub):
                file_sums, file_nans, file_rows, _ = _accumulate(
                    sub.rename(columns={"code": _CODE_COLUMN.get(table, "code")}).assign(
                        lea_id="STATE"
                    ),
                    table,
                    calendar,
                    np.array(["STATE"], dtype=object),
                )
                from_file = np.isin(calendar, sub["school_year"].unique())
                state_sums[from_file] = file_sums[from_file]
                state_nans[from_file] = file_nans[from_file]
                state_rows[from_file] = file_rows[from_file]
        skipped += int(nans[~from_file].sum())
        out[table] = (state_sums, state_nans, state_rows)
    if skipped:
        notes.append(
            f"{skipped:,} missing LEA count(s) were left out of the State sums; where "
            "state_totals.csv has no rows, the State comparison is the sum of the data set's "
            "LEAs' known counts."
        )
    return out


def _category_counts(tables, categories: tuple[str, ...]) -> _Counts:
    """Numerator and denominator of each category (methodology.md section 1, data.md).

    Works on LEA arrays (year, LEA, group, code) and State arrays (year, 1, group, code) alike;
    returns arrays (year, LEA, category, group).
    """
    enr_sum, enr_nan, _ = tables["enrollment"]
    cc_sum, cc_nan, cc_rows = tables["child_count"]
    env_sum, env_nan, _ = tables["environments"]
    dis_sum, dis_nan, _ = tables["discipline"]
    enrolled, enrolled_missing = enr_sum[..., 0], enr_nan[..., 0] > 0
    cwd, cwd_missing = cc_sum.sum(axis=-1), cc_nan.sum(axis=-1) > 0
    has_all = cc_rows[..., _CHILD_CODES.index(ALL_DISABILITIES)] > 0
    placed, placed_missing = env_sum.sum(axis=-1), env_nan.sum(axis=-1) > 0

    def pick(sums, nans, codes, vocabulary):
        idx = [vocabulary.index(c) for c in codes]
        return sums[..., idx].sum(axis=-1), nans[..., idx].sum(axis=-1) > 0

    nums, dens, miss = [], [], []
    for code in categories:  # fourteen categories at most: a loop over rules, not over data
        category = _CATEGORY[code]
        if category.numerator_table == "child_count":
            if category.numerator_codes:
                num, num_missing = pick(cc_sum, cc_nan, category.numerator_codes, _CHILD_CODES)
                num_missing = num_missing | has_all  # ALL-only sources cannot give categories
            else:
                num, num_missing = cwd, cwd_missing
        elif category.numerator_table == "environments":
            num, num_missing = pick(env_sum, env_nan, category.numerator_codes, ENVIRONMENTS)
        else:
            num, num_missing = pick(dis_sum, dis_nan, category.numerator_codes, REMOVAL_TYPES)
        den, den_missing = {
            "enrollment": (enrolled, enrolled_missing),
            "environments": (placed, placed_missing),
            "child_count": (cwd, cwd_missing),
        }[category.denominator]
        nums.append(num)
        dens.append(den)
        miss.append(num_missing | den_missing)
    return _Counts(np.stack(nums, axis=-2), np.stack(dens, axis=-2), np.stack(miss, axis=-2))


def write_results(results: pd.DataFrame, path: str | Path) -> Path:
    """Write the results table to ``.csv`` or ``.parquet`` (by extension), atomically.

    Parquet files carry the profile in their metadata; both formats carry it in the
    ``profile`` column.
    """
    from .atomic import atomic_write_table

    return atomic_write_table(results, path, what="results")


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results table written by :func:`write_results` with the dtypes it was written with."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"results file {path} does not exist. Run `cimrca compute` first.")
    if path.suffix.lower() == ".parquet":
        # a batch writes it sorted by LEA with each row's place in the table as its index
        from .lea_tables import read_in_table_order

        return read_in_table_order(path)
    keys = [
        "school_year",
        "lea_id",
        "category",
        "race_ethnicity",
        "ratio_type",
        "reason",
        "profile",
    ]
    frame = pd.read_csv(path, dtype={k: str for k in keys}, keep_default_na=False, na_values=[""])
    for key in keys:
        frame[key] = frame[key].fillna("")
    counts = [
        "numerator", "denominator", "lea_comparison_numerator", "lea_comparison_denominator",
        "state_comparison_numerator", "state_comparison_denominator", "students_over_threshold",
    ]  # fmt: skip
    for column in counts:
        frame[column] = frame[column].astype("Int64")
    frame["reasonable_progress"] = frame["reasonable_progress"].astype("boolean")
    return frame


def lea_slice(results: pd.DataFrame, lea_id: str) -> pd.DataFrame:
    """One LEA's rows of the statewide results (a filter, never a recomputation)."""
    rows = results[results["lea_id"] == lea_id]
    if rows.empty:
        raise UsageError(
            f"LEA {lea_id!r} has no rows in the results: the data set has no enrollment or "
            "child count rows for it. If leas.csv lists it, add its counts or leave it out of "
            "the run; if not, check the code against leas.csv.",
            lea_id=lea_id,
        )
    return rows.reset_index(drop=True)
