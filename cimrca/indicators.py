"""SPP/APR indicator trends: rates, targets, consecutive misses, year-on-year change and trend.

One pass over every LEA at once. The input is the canonical ``indicators.csv`` table (data.md
section 1: ``school_year``, ``lea_id``, ``indicator``, ``numerator``, ``denominator``) and,
optionally, ``targets.csv`` (``school_year``, ``indicator``, ``target``, ``higher_is_better``,
``label``). The output is long: one row per school year x LEA x indicator, with the State's rate,
the target and whether it was met, the run of consecutive missed years, the change from the
prior year with a two-proportion z-test, and a weighted least-squares trend over every year of
the LEA's series (closed form, vectorised; README decision 4).

:func:`indicator_sheet` turns the statewide table into the ``Indicators`` sheet rows of one LEA
(outputs.md section 4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from cimrca.errors import DataValidationError, Problem, UsageError
from cimrca.layout import KEY_HEADER, indicator_key
from cimrca.values import as_bool, is_school_year

__all__ = [
    "write_indicator_results",
    "read_indicator_results",
    "INDICATOR_COLUMNS",
    "TARGET_COLUMNS",
    "RESULT_COLUMNS",
    "TREND_DIRECTIONS",
    "TARGET_STATUSES",
    "DEFAULT_POLARITY",
    "DEFAULT_LABELS",
    "MIN_DENOMINATOR",
    "ALPHA",
    "MIN_TREND_YEARS",
    "compute_indicators",
    "indicator_sheet",
    "indicator_order",
    "indicator_order",
    "indicator_label",
    "indicator_polarity",
    "school_year_start",
]

#: Columns of ``indicators.csv`` (data.md section 1).
INDICATOR_COLUMNS: Final = ("school_year", "lea_id", "indicator", "numerator", "denominator")
#: Required columns of ``targets.csv``; ``label`` is optional.
TARGET_COLUMNS: Final = ("school_year", "indicator", "target", "higher_is_better")

#: Columns of :func:`compute_indicators`'s result, in order.
RESULT_COLUMNS: Final = (
    "school_year",
    "lea_id",
    "indicator",
    "label",
    "numerator",
    "denominator",
    "rate",
    "state_rate",
    "target",
    "higher_is_better",
    "met",
    "target_status",
    "consecutive_missed",
    "prior_rate",
    "change",
    "change_z",
    "change_p_value",
    "small_denominator",
    "trend_years",
    "trend_slope",
    "trend_se",
    "trend_ci_low",
    "trend_ci_high",
    "trend_p_value",
    "trend_direction",
)

#: Plain-words trend directions. ``rising``/``falling`` are used when nobody said whether a
#: higher rate is better (no target row and no :data:`DEFAULT_POLARITY` entry).
TREND_DIRECTIONS: Final = (
    "improving",
    "worsening",
    "no clear trend",
    "rising",
    "falling",
    "not enough years",
)
#: Plain-words target comparison of a row.
TARGET_STATUSES: Final = ("met", "not met", "no target", "no data")

#: Default minimum denominator below which a rate is flagged as resting on few students
#: (a flag, never a suppression). 30 mirrors the federal presumptive maximum n-size of
#: 34 CFR 300.647(b)(1)(i)(B)-(C) for the disproportionality ratios.
MIN_DENOMINATOR: Final = 30
#: Default two-sided significance level of the change test and of the trend's interval.
ALPHA: Final = 0.05
#: Fewest years with a rate for a trend: a straight line through n points has n - 2 residual
#: degrees of freedom, so three years is the least that gives a confidence interval.
MIN_TREND_YEARS: Final = 3

#: Whether a higher rate is better, by SPP/APR indicator (OSEP's Part B SPP/APR indicator
#: measurement table; CDE's LEA reports) and for the CDE-derived series. Used only for
#: indicators that ``targets.csv`` does not cover. Codes with a subject suffix (``3A_ELA``)
#: fall back to the part before the underscore.
DEFAULT_POLARITY: Final[Mapping[str, bool]] = {
    "1": True,  # graduation with a regular diploma
    "2": False,  # dropout
    "3A": True,  # participation in statewide assessments
    "3B": True,  # proficiency, regular assessment
    "3C": True,  # proficiency, alternate assessment
    "3D": False,  # proficiency gap to all students
    "4A": False,  # significant discrepancy in suspension and expulsion
    "4B": False,  # the same, by race, with contributing policies
    "5A": True,  # regular class 80% or more of the day
    "5B": False,  # regular class less than 40% of the day
    "5C": False,  # separate schools, residential facilities, homebound or hospital
    "6A": True,  # preschool: regular early-childhood program
    "6B": False,  # preschool: separate class, school or residential facility
    "6C": True,  # preschool: services in the home
    "7A": True,  # preschool outcomes: social-emotional skills
    "7B": True,  # preschool outcomes: knowledge and skills
    "7C": True,  # preschool outcomes: appropriate behaviour
    "8": True,  # parent involvement
    "9": False,  # disproportionate representation, all disabilities
    "10": False,  # disproportionate representation, specific disabilities
    "11": True,  # child find: evaluation within the timeline
    "12": True,  # early-childhood transition by the third birthday
    "13": True,  # secondary transition goals and services
    "14A": True,  # post-school outcomes: higher education
    "14B": True,  # higher education or competitive employment
    "14C": True,  # any education, training or employment
    "SUSP_SWD": False,  # suspension rate of students with disabilities
    "CHRONIC_SWD": False,  # chronic absenteeism rate of students with disabilities
}

#: Short labels used when ``targets.csv`` gives none (same sources as :data:`DEFAULT_POLARITY`).
DEFAULT_LABELS: Final[Mapping[str, str]] = {
    "1": "Graduation rate",
    "2": "Dropout rate",
    "3A": "Assessment participation",
    "3B": "Proficiency, regular assessment",
    "3C": "Proficiency, alternate assessment",
    "3D": "Proficiency gap",
    "4A": "Suspension/expulsion discrepancy",
    "4B": "Suspension/expulsion discrepancy by race",
    "5A": "Regular class 80% or more",
    "5B": "Regular class less than 40%",
    "5C": "Separate settings",
    "6A": "Preschool: regular program",
    "6B": "Preschool: separate setting",
    "6C": "Preschool: services at home",
    "7A": "Preschool outcomes: social-emotional",
    "7B": "Preschool outcomes: knowledge and skills",
    "7C": "Preschool outcomes: behaviour",
    "8": "Parent involvement",
    "9": "Disproportionate representation",
    "10": "Disproportionate representation by disability",
    "11": "Child find (timely evaluation)",
    "12": "Early-childhood transition",
    "13": "Secondary transition",
    "14A": "Post-school: higher education",
    "14B": "Post-school: higher education or employment",
    "14C": "Post-school: any education or employment",
    "SUSP_SWD": "Suspension rate, students with disabilities",
    "CHRONIC_SWD": "Chronic absenteeism, students with disabilities",
}
_SUBJECTS: Final[Mapping[str, str]] = {"ELA": "ELA", "MATH": "mathematics"}

#: Row number of a frame's first data row as a spreadsheet shows it (header is row 1).
_FIRST_DATA_ROW: Final = 2


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def school_year_start(school_year: pd.Series) -> pd.Series:
    """Calendar year in which each ``YYYY-YY`` school year starts, as integers.

    Examples
    --------
    >>> school_year_start(pd.Series(["2022-23", "2023-24"])).tolist()
    [2022, 2023]
    """
    return school_year.astype(str).str.slice(0, 4).astype("int64")


def _base_code(indicator: str) -> tuple[str, str | None]:
    base, _, subject = str(indicator).partition("_")
    if str(indicator) in DEFAULT_POLARITY or str(indicator) in DEFAULT_LABELS:
        return str(indicator), None
    return base, (subject or None)


def indicator_label(indicator: str) -> str:
    """A short default label of an indicator code (used when ``targets.csv`` gives none).

    Examples
    --------
    >>> indicator_label("3B_MATH")
    'Proficiency, regular assessment (mathematics)'
    >>> indicator_label("99")
    'Indicator 99'
    """
    base, subject = _base_code(indicator)
    if base not in DEFAULT_LABELS:
        return f"Indicator {indicator}"
    label = DEFAULT_LABELS[base]
    if subject:
        label += f" ({_SUBJECTS.get(subject.upper(), subject)})"
    return label


def indicator_polarity(indicator: str, polarity: Mapping[str, bool] | None = None) -> bool | None:
    """Whether a higher rate is better for ``indicator``; ``None`` when unknown.

    ``polarity`` (exact codes) is consulted first, then :data:`DEFAULT_POLARITY` (exact code,
    then the code before its subject suffix).

    Examples
    --------
    >>> indicator_polarity("3A_ELA"), indicator_polarity("2"), indicator_polarity("X")
    (True, False, None)
    """
    if polarity is not None and indicator in polarity:
        return bool(polarity[indicator])
    base, _ = _base_code(indicator)
    value = DEFAULT_POLARITY.get(base)
    return None if value is None else bool(value)


def _missing_columns(frame: pd.DataFrame, required, file: str) -> list[Problem]:
    return [
        Problem(
            file=file,
            row=None,
            column=column,
            value=None,
            message="required column is missing",
            fix=f"Add a {column!r} column (data.md section 1 lists the columns).",
        )
        for column in required
        if column not in frame.columns
    ]


def _row_numbers(frame: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) + _FIRST_DATA_ROW


def _check_years(frame: pd.DataFrame, file: str) -> list[Problem]:
    text = frame["school_year"].astype(str)
    bad = ~text.map(is_school_year).to_numpy(dtype=bool)
    return [
        Problem(
            file,
            int(row),
            "school_year",
            value,
            "school year is not YYYY-YY",
            "Write school years as 2023-24.",
        )  # fmt: skip
        for row, value in zip(_row_numbers(frame, bad), text[bad], strict=True)
    ]


def _check_duplicates(frame: pd.DataFrame, key: list[str], file: str) -> list[Problem]:
    dup = frame.duplicated(key, keep="first").to_numpy()
    labels = [" / ".join(map(str, row)) for row in frame.loc[dup, key].itertuples(index=False)]
    return [
        Problem(
            file, int(row), None, value, f"duplicate {' x '.join(key)} row", "Keep one row per key."
        )  # fmt: skip
        for row, value in zip(_row_numbers(frame, dup), labels, strict=True)
    ]


def _as_float(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _as_boolean(series: pd.Series, file: str) -> tuple[pd.Series, list[Problem]]:
    """Read a true/false column written as booleans, 0/1 or words; empty stays NA."""
    out = as_bool(series)
    text = series.astype("string").str.strip().str.lower()
    empty = text.isna() | (text == "") | (text == "nan")
    bad = (out.isna() & ~empty).to_numpy(dtype=bool)
    problems = [
        Problem(
            file,
            int(row),
            "higher_is_better",
            str(value),
            "not true or false",
            "Write true or false.",
        )  # fmt: skip
        for row, value in zip(_row_numbers(series.to_frame(), bad), series[bad], strict=True)
    ]
    return out, problems


def _validate_options(min_denominator: int, alpha: float, min_trend_years: int) -> None:
    if not (isinstance(min_denominator, int | np.integer) and min_denominator >= 0):
        raise UsageError(
            f"min_denominator must be a whole number of students >= 0, got {min_denominator!r}."
        )
    if not 0 < float(alpha) < 1:
        raise UsageError(f"alpha must lie strictly between 0 and 1 (0.05 for 95%), got {alpha!r}.")
    if not (isinstance(min_trend_years, int | np.integer) and min_trend_years >= MIN_TREND_YEARS):
        raise UsageError(
            f"min_trend_years must be a whole number >= {MIN_TREND_YEARS} (a trend's interval "
            f"needs at least one residual degree of freedom), got {min_trend_years!r}."
        )


def _prepare_indicators(indicators: pd.DataFrame) -> pd.DataFrame:
    file = "indicators.csv"
    problems = _missing_columns(indicators, INDICATOR_COLUMNS, file)
    if problems:
        raise DataValidationError(problems)
    frame = indicators.loc[:, list(INDICATOR_COLUMNS)].reset_index(drop=True)
    for column in ("school_year", "lea_id", "indicator"):
        frame[column] = frame[column].astype(str)
    frame["numerator"] = _as_float(frame["numerator"])
    frame["denominator"] = _as_float(frame["denominator"])
    problems += _check_years(frame, file)
    problems += _check_duplicates(frame, ["school_year", "lea_id", "indicator"], file)
    num, den = frame["numerator"].to_numpy(), frame["denominator"].to_numpy()
    with np.errstate(invalid="ignore"):
        for column, bad, what, fix in (
            ("numerator", num < 0, "negative count", "Counts are never negative."),
            ("denominator", den < 0, "negative count", "Counts are never negative."),
            ("numerator", num > den, "numerator larger than denominator",
             "An indicator rate is numerator / denominator; correct the counts."),
        ):  # fmt: skip
            values = frame.loc[bad, column]
            problems += [
                Problem(file, int(row), column, f"{value:g}", what, fix)
                for row, value in zip(_row_numbers(frame, bad), values, strict=True)
            ]
    if problems:
        raise DataValidationError(problems)
    return frame


def _prepare_targets(targets: pd.DataFrame) -> pd.DataFrame:
    file = "targets.csv"
    problems = _missing_columns(targets, TARGET_COLUMNS, file)
    if problems:
        raise DataValidationError(problems)
    columns = list(TARGET_COLUMNS) + (["label"] if "label" in targets.columns else [])
    frame = targets.loc[:, columns].reset_index(drop=True)
    frame["school_year"] = frame["school_year"].astype(str)
    frame["indicator"] = frame["indicator"].astype(str)
    frame["target"] = _as_float(frame["target"])
    frame["higher_is_better"], bool_problems = _as_boolean(frame["higher_is_better"], file)
    problems += bool_problems
    problems += _check_years(frame, file)
    problems += _check_duplicates(frame, ["school_year", "indicator"], file)
    with np.errstate(invalid="ignore"):
        bad = ((frame["target"] < 0) | (frame["target"] > 1)).to_numpy(dtype=bool)
    problems += [
        Problem(
            file,
            int(row),
            "target",
            f"{value:g}",
            "target is not a proportion",
            "Write targets as proportions between 0 and 1 (0.512, not 51.2).",
        )  # fmt: skip
        for row, value in zip(_row_numbers(frame, bad), frame.loc[bad, "target"], strict=True)
    ]
    if problems:
        raise DataValidationError(problems)
    if "label" not in frame.columns:
        frame["label"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


# --------------------------------------------------------------------------------------------
# statistics, vectorised
# --------------------------------------------------------------------------------------------


def _two_proportion_test(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test of ``x2/n2`` against ``x1/n1``, two-sided, element-wise.

    Equals ``statsmodels.stats.proportion.proportions_ztest([x2, x1], [n2, n1])`` (pooled
    variance under the null of equal proportions). NaN where a count is missing, a
    denominator is zero, or both proportions are 0 or both are 1 (no variance).
    """
    from scipy.special import ndtr

    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        usable = (n1 > 0) & (n2 > 0) & (se > 0) & np.isfinite(se)
        z = np.where(usable, (x2 / n2 - x1 / n1) / np.where(usable, se, 1.0), np.nan)
    p = np.where(np.isfinite(z), 2.0 * ndtr(-np.abs(np.nan_to_num(z))), np.nan)
    return z, p


def _wls_trend(
    group: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    alpha: float,
    min_years: int,
) -> dict[str, np.ndarray]:
    """Closed-form weighted least squares of ``y`` on ``x`` within each ``group``.

    ``group`` holds integer group codes 0..G-1 (NaN-free rows only). Returns per-group arrays:
    number of points, slope, its standard error, the ``1 - alpha`` t interval and the
    two-sided p-value. Groups with fewer than ``min_years`` points get NaN statistics.

    The estimates equal ``statsmodels.regression.linear_model.WLS(y, [1, x], weights=w)``:
    slope ``b = Sxy / Sxx`` with weighted centred sums, residual scale
    ``s2 = sum(w * r**2) / (n - 2)``, ``se(b) = sqrt(s2 / Sxx)``, interval
    ``b +- t(1 - alpha/2, n - 2) * se(b)``.
    """
    from scipy.special import stdtr, stdtrit

    n_groups = int(group.max()) + 1 if group.size else 0

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, weights=values, minlength=n_groups)

    n = np.bincount(group, minlength=n_groups).astype("float64")
    sw = total(w)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_bar = total(w * x) / sw
        y_bar = total(w * y) / sw
        dx = x - x_bar[group]
        dy = y - y_bar[group]
        sxx = total(w * dx * dx)
        sxy = total(w * dx * dy)
        slope = sxy / sxx
        resid = dy - slope[group] * dx
        df = n - 2.0
        scale = total(w * resid * resid) / df
        se = np.sqrt(scale / sxx)
        enough = (n >= min_years) & (sxx > 0) & np.isfinite(se)
        df_safe = np.where(enough, df, 1.0)
        t_crit = stdtrit(df_safe, 1.0 - alpha / 2.0)
        t_stat = np.where(se > 0, slope / np.where(se > 0, se, 1.0), np.inf * np.sign(slope))
        p_value = 2.0 * stdtr(df_safe, -np.abs(np.nan_to_num(t_stat, nan=0.0)))
    nan = np.full(n_groups, np.nan)
    return {
        "n": n,
        "slope": np.where(enough, slope, nan),
        "se": np.where(enough, se, nan),
        "ci_low": np.where(enough, slope - t_crit * se, nan),
        "ci_high": np.where(enough, slope + t_crit * se, nan),
        "p_value": np.where(enough, p_value, nan),
    }


def _direction(
    slope: np.ndarray,
    ci_low: np.ndarray,
    ci_high: np.ndarray,
    higher_is_better: pd.Series,
    enough: np.ndarray,
) -> np.ndarray:
    rising = (ci_low > 0) | ((ci_low == ci_high) & (slope > 0))
    falling = (ci_high < 0) | ((ci_low == ci_high) & (slope < 0))
    hib = higher_is_better.to_numpy(dtype=object)
    known = ~pd.isna(hib)
    good_up = np.where(known, hib, False).astype(bool)
    improving = known & ((rising & good_up) | (falling & ~good_up))
    worsening = known & ((falling & good_up) | (rising & ~good_up))
    return np.select(
        [~enough, improving, worsening, ~known & rising, ~known & falling],
        ["not enough years", "improving", "worsening", "rising", "falling"],
        default="no clear trend",
    )


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def compute_indicators(
    indicators: pd.DataFrame,
    targets: pd.DataFrame | None = None,
    *,
    min_denominator: int = MIN_DENOMINATOR,
    alpha: float = ALPHA,
    min_trend_years: int = MIN_TREND_YEARS,
    polarity: Mapping[str, bool] | None = None,
) -> pd.DataFrame:
    """SPP/APR indicator rates, targets, misses, change and trend for every LEA at once.

    Parameters
    ----------
    indicators : DataFrame
        ``indicators.csv``: ``school_year``, ``lea_id``, ``indicator``, ``numerator``,
        ``denominator`` (counts as numbers; NaN = missing). One row per key.
    targets : DataFrame, optional
        ``targets.csv``: ``school_year``, ``indicator``, ``target`` (a proportion),
        ``higher_is_better`` and optionally ``label``. An indicator-year without a target row
        is reported as ``"no target"``.
    min_denominator : int, default 30
        Rates whose denominator is below this are flagged in ``small_denominator``; they are
        still shown and still enter the trend (with their small weight).
    alpha : float, default 0.05
        Two-sided level of the change test's reading and of the trend's ``1 - alpha`` interval.
    min_trend_years : int, default 3
        Fewest years with a rate for a trend; fewer gives ``"not enough years"``.
    polarity : mapping, optional
        ``{indicator: higher_is_better}`` for indicators that ``targets`` does not cover;
        :data:`DEFAULT_POLARITY` fills the rest.

    Returns
    -------
    DataFrame
        One row per school year x LEA x indicator, sorted by those keys, with the columns of
        :data:`RESULT_COLUMNS`:

        - ``rate`` = numerator / denominator (NaN when a count is missing or the denominator 0);
        - ``state_rate`` = the sum of numerators over the sum of denominators of every LEA with
          both counts, for that year and indicator;
        - ``target``, ``higher_is_better`` (nullable boolean), ``met`` (nullable boolean, NA
          without a target or a rate) and ``target_status`` (``met``, ``not met``,
          ``no target``, ``no data``);
        - ``consecutive_missed``: years in a row, ending with this one, whose target was missed;
          a year met, without a target or rate, or absent from the data breaks the run;
        - ``prior_rate``, ``change`` (rate minus the prior school year's), ``change_z`` and
          ``change_p_value`` (pooled two-proportion z-test, two-sided);
        - ``small_denominator``: ``denominator < min_denominator`` (or missing);
        - the trend of the LEA x indicator series, repeated on each of its rows:
          ``trend_years``, ``trend_slope`` (change in rate per school year), ``trend_se``,
          ``trend_ci_low``/``trend_ci_high``, ``trend_p_value`` and ``trend_direction``
          (``improving``, ``worsening``, ``no clear trend``; ``rising``/``falling`` when the
          better direction is unknown; ``not enough years``).

    Raises
    ------
    DataValidationError
        A required column is missing, a school year is not ``YYYY-YY``, a key is duplicated, a
        count is negative or a numerator exceeds its denominator, or a target is not a
        proportion or ``higher_is_better`` is not true/false.
    UsageError
        An option is out of range.

    Notes
    -----
    The indicators are those of the State Performance Plan / Annual Performance Report under
    IDEA section 616(b) and 34 CFR 300.600-300.602 (LEA performance against State targets).

    The trend is weighted least squares of the yearly rate on the school year's start year,
    with weights equal to the denominators: a rate's binomial variance is
    ``p (1 - p) / n``, so with ``p (1 - p)`` taken as constant over the series the inverse
    variance weight is proportional to ``n``. The residual scale is estimated from the data,
    so year-to-year movement beyond sampling noise widens the interval. The closed form
    (weighted centred sums, vectorised with ``numpy.bincount`` over every LEA x indicator)
    equals ``statsmodels`` ``WLS(rate, add_constant(year), weights=denominator)``. The
    direction is "improving" or "worsening" only when the ``1 - alpha`` interval excludes
    zero.

    The change test compares this year's proportion with the prior year's under the null of
    equal proportions, with the pooled variance (``statsmodels`` ``proportions_ztest``). It
    treats the two years as independent samples, which they are not entirely (many of the
    same students); read it as a screen, not a determination.

    Examples
    --------
    >>> data = pd.DataFrame({
    ...     "school_year": ["2021-22", "2022-23", "2023-24"], "lea_id": ["0100000"] * 3,
    ...     "indicator": ["1"] * 3, "numerator": [80.0, 85.0, 90.0],
    ...     "denominator": [100.0, 100.0, 100.0]})
    >>> targets = pd.DataFrame({
    ...     "school_year": ["2021-22", "2022-23", "2023-24"], "indicator": ["1"] * 3,
    ...     "target": [0.85, 0.86, 0.87], "higher_is_better": [True] * 3})
    >>> out = compute_indicators(data, targets)
    >>> out[["rate", "met", "consecutive_missed"]].to_numpy().tolist()
    [[0.8, False, 1], [0.85, False, 2], [0.9, True, 0]]
    >>> round(float(out["trend_slope"].iloc[0]), 3), out["trend_direction"].iloc[0]
    (0.05, 'improving')
    """
    _validate_options(min_denominator, alpha, min_trend_years)
    frame = _prepare_indicators(indicators)
    keys = ["school_year", "lea_id", "indicator"]
    frame = frame.sort_values(keys, kind="stable", ignore_index=True)
    num = frame["numerator"].to_numpy()
    den = frame["denominator"].to_numpy()
    usable = np.isfinite(num) & np.isfinite(den) & (den > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["rate"] = np.where(usable, num / np.where(usable, den, 1.0), np.nan)

    # the State's rate: sums over LEAs with both counts
    sums = (
        frame.assign(_n=np.where(usable, num, 0.0), _d=np.where(usable, den, 0.0))
        .groupby(["school_year", "indicator"], sort=False)[["_n", "_d"]]
        .transform("sum")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["state_rate"] = np.where(sums["_d"] > 0, sums["_n"] / sums["_d"], np.nan)

    # targets
    if targets is not None:
        tgt = _prepare_targets(targets)
        frame = frame.merge(
            tgt[["school_year", "indicator", "target", "higher_is_better"]],
            on=["school_year", "indicator"],
            how="left",
            validate="many_to_one",
        )
        labels = (
            tgt.dropna(subset=["label"])
            .loc[lambda t: t["label"].astype(str).str.strip() != ""]
            .sort_values("school_year", kind="stable")
            .drop_duplicates("indicator", keep="last")
            .set_index("indicator")["label"]
            .astype(str)
        )
        known_hib = (
            tgt.dropna(subset=["higher_is_better"])
            .sort_values("school_year", kind="stable")
            .drop_duplicates("indicator", keep="last")
            .set_index("indicator")["higher_is_better"]
        )
    else:
        frame["target"] = np.nan
        frame["higher_is_better"] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
        labels = pd.Series(dtype=str)
        known_hib = pd.Series(dtype="boolean")
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")

    codes = pd.Index(frame["indicator"].unique())
    label_map = {c: labels.get(c, indicator_label(c)) for c in codes}
    frame["label"] = frame["indicator"].map(label_map).astype(str)
    # polarity of the series: targets' latest word, else the given or default mapping
    polarity_map = {
        c: (bool(known_hib[c]) if c in known_hib.index else indicator_polarity(c, polarity))
        for c in codes
    }
    series_hib = frame["indicator"].map(polarity_map).astype("boolean")

    rate = frame["rate"].to_numpy()
    target = frame["target"].to_numpy(dtype="float64")
    hib_row = frame["higher_is_better"].fillna(series_hib)
    frame["higher_is_better"] = hib_row
    has_target = np.isfinite(target) & ~hib_row.isna().to_numpy()
    hib_bool = hib_row.fillna(True).to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        met_values = np.where(hib_bool, rate >= target, rate <= target)
    decided = has_target & np.isfinite(rate)
    met = pd.Series(pd.NA, index=frame.index, dtype="boolean")
    met[decided] = met_values[decided]
    frame["met"] = met
    frame["target_status"] = np.select(
        [~np.isfinite(rate), ~has_target, met_values], ["no data", "no target", "met"], "not met"
    )

    # consecutive missed years, and the prior year's rate, within each LEA x indicator
    frame["_year"] = school_year_start(frame["school_year"])
    frame = frame.sort_values(["lea_id", "indicator", "_year"], kind="stable", ignore_index=True)
    missed = (frame["met"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
    year = frame["_year"].to_numpy()
    series_id = frame.groupby(["lea_id", "indicator"], sort=False).ngroup().to_numpy()
    same = np.r_[False, series_id[1:] == series_id[:-1]]
    next_year = np.r_[False, year[1:] == year[:-1] + 1]
    continues = missed & same & next_year & np.r_[False, missed[:-1]]
    run_id = np.cumsum(~continues)
    position = np.arange(len(frame))
    run_first = pd.Series(position).groupby(run_id).transform("min").to_numpy()
    frame["consecutive_missed"] = np.where(missed, position - run_first + 1, 0).astype("int64")

    adjacent = same & next_year
    prev_num = np.where(adjacent, np.r_[np.nan, frame["numerator"].to_numpy()[:-1]], np.nan)
    prev_den = np.where(adjacent, np.r_[np.nan, frame["denominator"].to_numpy()[:-1]], np.nan)
    prev_rate = np.where(adjacent, np.r_[np.nan, frame["rate"].to_numpy()[:-1]], np.nan)
    frame["prior_rate"] = prev_rate
    frame["change"] = frame["rate"].to_numpy() - prev_rate
    z, p = _two_proportion_test(
        prev_num, prev_den, frame["numerator"].to_numpy(), frame["denominator"].to_numpy()
    )
    valid_change = np.isfinite(frame["change"].to_numpy())
    frame["change_z"] = np.where(valid_change, z, np.nan)
    frame["change_p_value"] = np.where(valid_change, p, np.nan)
    den_now = frame["denominator"].to_numpy()
    frame["small_denominator"] = ~(np.nan_to_num(den_now, nan=-1.0) >= min_denominator)

    # the trend of each LEA x indicator series
    has_rate = np.isfinite(frame["rate"].to_numpy())
    trend = _wls_trend(
        series_id[has_rate],
        year[has_rate].astype("float64"),
        frame["rate"].to_numpy()[has_rate],
        frame["denominator"].to_numpy()[has_rate],
        alpha=alpha,
        min_years=min_trend_years,
    )
    n_series = int(series_id.max()) + 1 if len(frame) else 0

    def per_row(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        full = np.full(n_series, fill)
        full[: len(values)] = values
        return full[series_id]

    frame["trend_years"] = per_row(trend["n"], 0.0).astype("int64")
    for name in ("slope", "se", "ci_low", "ci_high", "p_value"):
        frame[f"trend_{name}"] = per_row(trend[name])
    enough = np.isfinite(frame["trend_slope"].to_numpy())
    frame["trend_direction"] = _direction(
        frame["trend_slope"].to_numpy(),
        frame["trend_ci_low"].to_numpy(),
        frame["trend_ci_high"].to_numpy(),
        frame["indicator"].map(polarity_map),
        enough,
    )
    frame = frame.sort_values(keys, kind="stable", ignore_index=True)
    return frame.loc[:, list(RESULT_COLUMNS)]


def indicator_order(codes) -> list[str]:
    """Indicator codes in reading order: 1, 2, 3A_ELA, ..., 11, 12, then named series.

    Examples
    --------
    >>> indicator_order(["11", "SUSP_SWD", "2", "1", "3B_MATH", "3A_ELA"])
    ['1', '2', '3A_ELA', '3B_MATH', '11', 'SUSP_SWD']
    """

    def key(code: str) -> tuple[int, int, str]:
        match = re.match(r"^(\d+)(.*)$", str(code))
        return (0, int(match[1]), match[2]) if match else (1, 0, str(code))

    return sorted(codes, key=key)


def indicator_sheet(
    indicator_results: pd.DataFrame,
    lea_id: str,
    *,
    school_year: str | None = None,
) -> pd.DataFrame:
    """The ``Indicators`` sheet rows of one LEA: one row per indicator (outputs.md section 4).

    Parameters
    ----------
    indicator_results : DataFrame
        The statewide result of :func:`compute_indicators`.
    lea_id : str
        The LEA's CDE code.
    school_year : str, optional
        The year of the review (the key's year and the year whose target, ``met`` and flags are
        shown). Default: the latest school year in ``indicator_results``.

    Returns
    -------
    DataFrame
        Columns: ``finding_id`` (``<school_year>:indicator:<code>``, from
        :func:`cimrca.layout.indicator_key`), ``indicator``, ``label``, one numeric
        ``rate <school_year>`` column per school year of the statewide table (NaN where the LEA
        has no rate), ``numerator``, ``denominator``, ``state_rate`` (the review year's),
        ``target``, ``met`` (``met``, ``not met``, ``no target``, ``no data``),
        ``consecutive_missed``, ``change``, ``change_p_value``, ``trend_direction``,
        ``trend_slope``, ``trend_ci_low``, ``trend_ci_high``, ``small_denominator`` (the review
        year's) and ``small_denominator_years`` (how many years of the series rest on a small
        denominator). Rows follow the indicators' order of first appearance in the sorted
        table; every LEA's sheet has the same columns, and an LEA without indicator rows gets
        an empty frame with them.

    Examples
    --------
    >>> data = pd.DataFrame({
    ...     "school_year": ["2022-23", "2023-24"], "lea_id": ["0100000"] * 2,
    ...     "indicator": ["2"] * 2, "numerator": [5.0, 4.0], "denominator": [100.0, 100.0]})
    >>> sheet = indicator_sheet(compute_indicators(data), "0100000")
    >>> sheet[["finding_id", "rate 2022-23", "rate 2023-24", "met"]].to_numpy().tolist()
    [['2023-24:indicator:2', 0.05, 0.04, 'no target']]
    """
    years = sorted(indicator_results["school_year"].astype(str).unique())
    if school_year is None:
        if not years:
            school_year = ""
        else:
            school_year = years[-1]
    elif school_year not in years:
        raise UsageError(
            f"School year {school_year!r} is not in the indicator results (they cover "
            f"{', '.join(years) or 'no year'}); choose one of those."
        )
    rate_columns = [f"rate {y}" for y in years]
    columns = [
        KEY_HEADER, "indicator", "label", *rate_columns, "numerator", "denominator",
        "state_rate", "target", "met", "consecutive_missed", "change", "change_p_value",
        "trend_direction", "trend_slope", "trend_ci_low", "trend_ci_high",
        "small_denominator", "small_denominator_years",
    ]  # fmt: skip
    lea = indicator_results[indicator_results["lea_id"].astype(str) == str(lea_id)]
    if lea.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    order = pd.Index(indicator_order(lea["indicator"].unique()))
    rates = (
        lea.pivot(index="indicator", columns="school_year", values="rate")
        .reindex(index=order, columns=years)
        .set_axis(rate_columns, axis=1)
    )
    per_series = lea.drop_duplicates("indicator").set_index("indicator").reindex(order)
    small_years = lea.groupby("indicator", sort=False)["small_denominator"].sum().reindex(order)
    now = lea[lea["school_year"] == school_year].set_index("indicator").reindex(order)
    status = now["target_status"].astype(object).where(now["target_status"].notna(), "no data")
    # the State's rate also exists for indicators this LEA lacks in the review year
    state_now = (
        indicator_results.loc[indicator_results["school_year"] == school_year]
        .drop_duplicates("indicator")
        .set_index("indicator")["state_rate"]
        .reindex(order)
    )
    sheet = pd.DataFrame(
        {
            KEY_HEADER: [indicator_key(school_year, code) for code in order],
            "indicator": order.to_numpy(),
            "label": per_series["label"].to_numpy(),
        },
        index=order,
    )
    sheet = sheet.join(rates)
    sheet["numerator"] = now["numerator"]
    sheet["denominator"] = now["denominator"]
    sheet["state_rate"] = state_now
    sheet["target"] = now["target"]
    sheet["met"] = status
    sheet["consecutive_missed"] = now["consecutive_missed"].fillna(0).astype("int64")
    sheet["change"] = now["change"]
    sheet["change_p_value"] = now["change_p_value"]
    for column in ("trend_direction", "trend_slope", "trend_ci_low", "trend_ci_high"):
        sheet[column] = per_series[column]
    sheet["small_denominator"] = now["small_denominator"].astype("boolean")
    sheet["small_denominator_years"] = small_years.astype("int64")
    return sheet.loc[:, columns].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Indicator results on disk (a batch computes them once for every LEA)
# --------------------------------------------------------------------------------------------

_INDICATOR_TEXT = ("school_year", "lea_id", "indicator", "label", "target_status")
_INDICATOR_BOOLEAN = ("higher_is_better", "met", "small_denominator")


def write_indicator_results(indicator_results: pd.DataFrame, path: str | Path) -> Path:
    """Write statewide indicator results to ``.parquet`` or ``.csv`` (by extension), atomically."""
    from .atomic import atomic_write_table

    return atomic_write_table(indicator_results, path, what="indicator results")


def read_indicator_results(path: str | Path) -> pd.DataFrame:
    """Read indicator results written by :func:`write_indicator_results`, codes as text."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(
            f"indicator results file {file} does not exist. Give the file the batch wrote, or "
            "leave indicators_path empty to compute them from the data set."
        )
    if file.suffix.lower() == ".parquet":
        return pd.read_parquet(file)
    frame = pd.read_csv(
        file,
        dtype={c: str for c in _INDICATOR_TEXT},
        keep_default_na=False,
        na_values=[""],
    )
    for column in _INDICATOR_BOOLEAN:
        if column in frame:
            frame[column] = as_bool(frame[column])
    return frame
