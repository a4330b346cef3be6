"""Tests of cimrca.indicators: rates, targets, misses, change test, trend, the Indicators sheet."""

from __future__ import annotations

import doctest
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cimrca.indicators as indicators_module
from cimrca.errors import DataValidationError, UsageError
from cimrca.indicators import (
    RESULT_COLUMNS,
    compute_indicators,
    indicator_sheet,
)
from cimrca.layout import KEY_HEADER, indicator_key

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
YEARS = ["2019-20", "2020-21", "2021-22", "2022-23", "2023-24"]
A, B = "0100001", "0100002"


def _indicators() -> pd.DataFrame:
    rows = [
        # LEA A, indicator 1 (graduation, higher is better), five years, unequal denominators
        *[(y, A, "1", n, d) for y, n, d in zip(YEARS, [70, 86, 72, 90, 72],
                                               [100, 120, 90, 150, 110], strict=True)],
        # LEA A, indicator 2 (dropout, lower is better), 2021-22 absent
        ("2019-20", A, "2", 10, 100), ("2020-21", A, "2", 12, 100),
        ("2022-23", A, "2", 9, 100), ("2023-24", A, "2", 11, 100),
        # LEA A, a series without targets
        ("2022-23", A, "SUSP_SWD", 5, 29), ("2023-24", A, "SUSP_SWD", 6, 30),
        # LEA B, indicator 1, a suppressed numerator in 2020-21
        ("2019-20", B, "1", 30, 50), ("2020-21", B, "1", np.nan, 40),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["school_year", "lea_id", "indicator", "numerator",
                                        "denominator"])  # fmt: skip
    frame[["numerator", "denominator"]] = frame[["numerator", "denominator"]].astype(float)
    return frame


def _targets() -> pd.DataFrame:
    rows = [(y, "1", 0.75, True, "Graduation rate") for y in YEARS]
    rows += [(y, "2", 0.10, False, "Dropout rate") for y in YEARS]
    return pd.DataFrame(rows, columns=["school_year", "indicator", "target", "higher_is_better",
                                       "label"])  # fmt: skip


@pytest.fixture(scope="module")
def result() -> pd.DataFrame:
    return compute_indicators(_indicators(), _targets())


def _series(frame: pd.DataFrame, lea: str, code: str) -> pd.DataFrame:
    return frame[(frame["lea_id"] == lea) & (frame["indicator"] == code)].reset_index(drop=True)


def test_columns_rows_and_order(result):
    assert list(result.columns) == list(RESULT_COLUMNS)
    assert len(result) == len(_indicators())
    keys = result[["school_year", "lea_id", "indicator"]]
    assert keys.equals(keys.sort_values(list(keys.columns), ignore_index=True))


def test_rates_and_state_rate_by_hand(result):
    a1 = _series(result, A, "1")
    # 70/100, 86/120, 72/90, 90/150, 72/110
    np.testing.assert_allclose(a1["rate"], [0.7, 86 / 120, 0.8, 0.6, 72 / 110])
    b1 = _series(result, B, "1")
    assert np.isnan(b1.loc[1, "rate"])  # suppressed numerator: no rate, not zero
    # State 2019-20 = (70 + 30) / (100 + 50); 2020-21 skips B's missing numerator: 86 / 120
    np.testing.assert_allclose(a1.loc[:1, "state_rate"], [100 / 150, 86 / 120])
    np.testing.assert_allclose(b1["state_rate"], [100 / 150, 86 / 120])


def test_targets_met_and_consecutive_misses_by_hand(result):
    a1 = _series(result, A, "1")  # target 0.75, higher is better
    assert a1["met"].tolist() == [False, False, True, False, False]
    assert a1["consecutive_missed"].tolist() == [1, 2, 0, 1, 2]
    a2 = _series(result, A, "2")  # target 0.10, lower is better; 0.10 itself meets it
    assert a2["school_year"].tolist() == ["2019-20", "2020-21", "2022-23", "2023-24"]
    assert a2["met"].tolist() == [True, False, True, False]
    assert a2["consecutive_missed"].tolist() == [0, 1, 0, 1]
    assert a2["label"].iloc[0] == "Dropout rate"


def test_absent_year_breaks_the_run():
    frame = _indicators()
    frame.loc[(frame["indicator"] == "2") & (frame["school_year"] == "2022-23"), "numerator"] = 12
    out = _series(compute_indicators(frame, _targets()), A, "2")
    # missed 2020-21, 2021-22 absent, missed 2022-23 and 2023-24: 1, then 1, 2
    assert out["met"].tolist() == [True, False, False, False]
    assert out["consecutive_missed"].tolist() == [0, 1, 1, 2]


def test_no_target_and_no_data(result):
    susp = _series(result, A, "SUSP_SWD")
    assert susp["met"].isna().all()
    assert susp["target_status"].tolist() == ["no target", "no target"]
    assert susp["consecutive_missed"].tolist() == [0, 0]
    assert susp["label"].iloc[0] == "Suspension rate, students with disabilities"
    # no targets row, so the default polarity applies: suspension is lower-is-better
    assert susp["higher_is_better"].tolist() == [False, False]
    b1 = _series(result, B, "1")
    # 30 / 50 = 0.60 against 0.75, higher is better: not met; then a suppressed numerator
    assert b1["target_status"].tolist() == ["not met", "no data"]
    assert b1["met"].isna().tolist() == [False, True]
    assert b1.loc[0, "met"] == False  # noqa: E712


def test_small_denominator_flag(result):
    susp = _series(result, A, "SUSP_SWD")
    assert susp["small_denominator"].tolist() == [True, False]  # 29 < 30 <= 30
    out = compute_indicators(_indicators(), _targets(), min_denominator=100)
    a1 = _series(out, A, "1")
    assert a1["small_denominator"].tolist() == [False, False, True, False, False]  # 90 < 100
    assert np.isfinite(a1["rate"]).all()  # flagged, not hidden


def test_change_equals_statsmodels_two_proportion_test(result):
    from statsmodels.stats.proportion import proportions_ztest

    a1 = _series(result, A, "1")
    for k in range(1, 5):
        counts = np.array([a1.loc[k, "numerator"], a1.loc[k - 1, "numerator"]])
        nobs = np.array([a1.loc[k, "denominator"], a1.loc[k - 1, "denominator"]])
        z, p = proportions_ztest(counts, nobs)
        assert a1.loc[k, "change"] == pytest.approx(a1.loc[k, "rate"] - a1.loc[k - 1, "rate"])
        assert a1.loc[k, "change_z"] == pytest.approx(z, rel=1e-12)
        assert a1.loc[k, "change_p_value"] == pytest.approx(p, rel=1e-12)
    assert np.isnan(a1.loc[0, "change"]) and np.isnan(a1.loc[0, "change_p_value"])
    # the year after an absent year has no change
    a2 = _series(result, A, "2")
    assert np.isnan(a2.loc[2, "change"]) and np.isfinite(a2.loc[1, "change"])


def test_change_equals_statsmodels_independent_samples_score_test():
    from statsmodels.stats.proportion import test_proportions_2indep

    frame = pd.DataFrame({"school_year": ["2022-23", "2023-24"], "lea_id": [A, A],
                          "indicator": ["11", "11"], "numerator": [40.0, 55.0],
                          "denominator": [80.0, 90.0]})  # fmt: skip
    row = compute_indicators(frame).iloc[1]
    # the pooled z-test is the score test without the n / (n - 1) correction
    ref = test_proportions_2indep(55, 90, 40, 80, method="score", correction=False)
    assert row["change_p_value"] == pytest.approx(ref.pvalue, rel=1e-9)


def test_trend_equals_statsmodels_wls(result):
    import statsmodels.api as sm

    a1 = _series(result, A, "1")
    year = np.array([2019, 2020, 2021, 2022, 2023], dtype=float)
    fit = sm.WLS(a1["rate"].to_numpy(), sm.add_constant(year),
                 weights=a1["denominator"].to_numpy()).fit()  # fmt: skip
    low, high = fit.conf_int(alpha=0.05)[1]
    assert a1.loc[0, "trend_slope"] == pytest.approx(fit.params[1], rel=1e-10)
    assert a1.loc[0, "trend_se"] == pytest.approx(fit.bse[1], rel=1e-10)
    assert a1.loc[0, "trend_ci_low"] == pytest.approx(low, rel=1e-10)
    assert a1.loc[0, "trend_ci_high"] == pytest.approx(high, rel=1e-10)
    assert a1.loc[0, "trend_p_value"] == pytest.approx(fit.pvalues[1], rel=1e-9)
    assert (a1["trend_years"] == 5).all()
    assert a1["trend_slope"].nunique() == 1  # repeated on every row of the series
    # the interval includes zero here
    assert a1.loc[0, "trend_direction"] == "no clear trend"


def test_trend_skips_missing_year_and_uses_gap():
    import statsmodels.api as sm

    a2 = _series(compute_indicators(_indicators(), _targets(), alpha=0.2), A, "2")
    year = np.array([2019, 2020, 2022, 2023], dtype=float)
    fit = sm.WLS(a2["rate"].to_numpy(), sm.add_constant(year),
                 weights=a2["denominator"].to_numpy()).fit()  # fmt: skip
    low, high = fit.conf_int(alpha=0.2)[1]
    assert a2.loc[0, "trend_slope"] == pytest.approx(fit.params[1], rel=1e-10)
    assert a2.loc[0, "trend_ci_low"] == pytest.approx(low, rel=1e-10)
    assert a2.loc[0, "trend_ci_high"] == pytest.approx(high, rel=1e-10)


def test_trend_directions_respect_polarity():
    years = YEARS
    rates = [0.30, 0.25, 0.20, 0.15, 0.10]  # a steady fall on large denominators
    rows = []
    for code in ("1", "2", "ZZ"):
        rows += [(y, A, code, r * 1000 + (k % 2), 1000.0) for k, (y, r) in
                 enumerate(zip(years, rates, strict=True))]  # fmt: skip
    rows += [("2022-23", B, "1", 10.0, 20.0), ("2023-24", B, "1", 12.0, 20.0)]
    frame = pd.DataFrame(rows, columns=["school_year", "lea_id", "indicator", "numerator",
                                        "denominator"])  # fmt: skip
    out = compute_indicators(frame).drop_duplicates(["lea_id", "indicator"])
    got = dict(zip(out["lea_id"] + ":" + out["indicator"], out["trend_direction"], strict=True))
    # graduation falling: worsening; dropout falling: improving; unknown polarity: falling
    assert got == {f"{A}:1": "worsening", f"{A}:2": "improving", f"{A}:ZZ": "falling",
                   f"{B}:1": "not enough years"}  # fmt: skip
    out = compute_indicators(frame, polarity={"ZZ": False})
    assert set(out.loc[out["indicator"] == "ZZ", "trend_direction"]) == {"improving"}


def test_inputs_are_not_mutated():
    data, targets = _indicators(), _targets()
    data_copy, targets_copy = data.copy(deep=True), targets.copy(deep=True)
    compute_indicators(data, targets)
    pd.testing.assert_frame_equal(data, data_copy)
    pd.testing.assert_frame_equal(targets, targets_copy)


def test_string_booleans_and_missing_label_column():
    targets = _targets().drop(columns="label")
    targets["higher_is_better"] = targets["higher_is_better"].map({True: "yes", False: "0.0"})
    out = compute_indicators(_indicators(), targets)
    a2 = _series(out, A, "2")
    assert a2["met"].tolist() == [True, False, True, False]
    assert a2["label"].iloc[0] == "Dropout rate"  # the default label


def test_errors_name_file_column_and_fix():
    with pytest.raises(DataValidationError, match=r"indicators.csv, column 'denominator'"):
        compute_indicators(_indicators().drop(columns="denominator"))
    bad = _targets()
    bad.loc[2, "target"] = 51.2
    with pytest.raises(DataValidationError, match=r"targets.csv, row 4.*0.512, not 51.2"):
        compute_indicators(_indicators(), bad)
    over = _indicators()
    over.loc[0, "numerator"] = 101.0
    with pytest.raises(DataValidationError, match=r"row 2, column 'numerator'.*larger than"):
        compute_indicators(over)
    dup = pd.concat([_indicators(), _indicators().iloc[[3]]], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"duplicate"):
        compute_indicators(dup)
    year = _indicators()
    year.loc[0, "school_year"] = "2019"
    with pytest.raises(DataValidationError, match=r"not YYYY-YY"):
        compute_indicators(year)
    year.loc[0, "school_year"] = "2019-21"
    with pytest.raises(DataValidationError, match=r"not YYYY-YY"):
        compute_indicators(year)
    words = _targets()
    words["higher_is_better"] = "maybe"
    with pytest.raises(DataValidationError, match=r"higher_is_better.*not true or false"):
        compute_indicators(_indicators(), words)
    with pytest.raises(UsageError, match=r"alpha must lie strictly between 0 and 1"):
        compute_indicators(_indicators(), alpha=1.5)
    with pytest.raises(UsageError, match=r"min_denominator"):
        compute_indicators(_indicators(), min_denominator=-1)
    with pytest.raises(UsageError, match=r"min_trend_years"):
        compute_indicators(_indicators(), min_trend_years=2)


def test_indicator_sheet_rows(result):
    sheet = indicator_sheet(result, A)
    assert sheet.columns[0] == KEY_HEADER
    assert list(sheet.columns[:3]) == [KEY_HEADER, "indicator", "label"]
    assert [c for c in sheet.columns if c.startswith("rate ")] == [f"rate {y}" for y in YEARS]
    assert sheet["indicator"].tolist() == ["1", "2", "SUSP_SWD"]
    assert sheet[KEY_HEADER].tolist() == [indicator_key("2023-24", c) for c in ("1", "2",
                                                                                  "SUSP_SWD")]  # fmt: skip
    row1 = sheet.iloc[0]
    np.testing.assert_allclose(row1[[f"rate {y}" for y in YEARS]].astype(float),
                               _series(result, A, "1")["rate"])  # fmt: skip
    assert sheet["met"].tolist() == ["not met", "not met", "no target"]
    assert sheet["consecutive_missed"].tolist() == [2, 1, 0]
    assert np.isnan(sheet.loc[1, "rate 2021-22"])  # the absent year stays empty
    assert sheet["small_denominator_years"].tolist() == [0, 0, 1]
    for column in ("rate 2023-24", "target", "state_rate", "trend_slope", "numerator"):
        assert pd.api.types.is_float_dtype(sheet[column]), column  # numbers, not text
    earlier = indicator_sheet(result, A, school_year="2022-23")
    assert earlier[KEY_HEADER].iloc[0] == "2022-23:indicator:1"
    assert earlier["met"].tolist() == ["not met", "met", "no target"]


def test_indicator_sheet_edge_cases(result):
    empty = indicator_sheet(result, "9999999")
    assert empty.empty and empty.columns[0] == KEY_HEADER
    assert "rate 2023-24" in empty.columns
    b = indicator_sheet(result, B)  # B has no 2023-24 row: no data, State rate still shown
    assert b["met"].tolist() == ["no data"]
    assert b.loc[0, "state_rate"] == pytest.approx(_series(result, A, "1")["state_rate"].iloc[-1])
    with pytest.raises(UsageError, match=r"School year '2030-31' is not in the indicator"):
        indicator_sheet(result, A, school_year="2030-31")


def test_doctests_run():
    failures, tried = doctest.testmod(indicators_module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def _sample_frames() -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    if (SAMPLE / "indicators.csv").exists():
        from cimrca.dataset import load_dataset

        dataset = load_dataset(SAMPLE)
        return dataset.indicators, dataset.targets, "sample"
    return _indicators(), _targets(), "hand-made"  # data/sample not generated yet


def test_every_lea_of_the_sample_without_warnings():
    data, targets, _source = _sample_frames()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = compute_indicators(data, targets)
        sheets = {lea: indicator_sheet(out, lea) for lea in out["lea_id"].unique()}
    assert len(out) == len(data)
    assert not out.duplicated(["school_year", "lea_id", "indicator"]).any()
    rate = out["rate"].dropna()
    assert ((rate >= 0) & (rate <= 1)).all()
    assert out["trend_direction"].isin(indicators_module.TREND_DIRECTIONS).all()
    assert out["target_status"].isin(indicators_module.TARGET_STATUSES).all()
    n_codes = out.groupby("lea_id")["indicator"].nunique()
    assert all(len(sheets[lea]) == n for lea, n in n_codes.items())
