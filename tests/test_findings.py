"""Tests of cimrca.findings (the findings themselves are also tested in tests/test_workbook.py,
which writes them to the ``Disproportionality`` sheet)."""

import doctest

import numpy as np
import pandas as pd

import cimrca.findings as findings_module
import cimrca.workbook
from cimrca.findings import finding_history, findings
from tests.test_workbook import LEA, PROFILE, YEARS, make_results


def test_doctests_run():
    failures, tried = doctest.testmod(findings_module)
    assert tried > 0 and failures == 0


def test_workbook_re_exports_the_findings_names():
    for name in ("findings", "RATIO_PREFIX", "FINDING_LEVELS"):
        assert getattr(cimrca.workbook, name) is getattr(findings_module, name)


def test_history_has_every_year_of_each_finding_in_finding_order():
    res = make_results([LEA])
    before = res.copy(deep=True)
    found = findings(res, PROFILE)
    h = finding_history(found, res)
    pd.testing.assert_frame_equal(res, before)  # input not mutated
    assert h["finding_id"].tolist() == [f for f in found["finding_id"] for _ in YEARS]
    assert h["school_year"].tolist() == list(YEARS) * len(found)
    assert h["exceeds_threshold"].dtype == bool


def test_history_takes_the_comparison_the_ratio_used():
    res = make_results([LEA])
    h = finding_history(findings(res, PROFILE), res)
    alt = h["ratio_type"] == "alternate_risk_ratio"  # disc_oss_gt10 HI in 2023-24 (make_results)
    assert alt.sum() == 1
    np.testing.assert_allclose(
        h.loc[alt, "comparison_denominator"], h.loc[alt, "state_comparison_denominator"]
    )
    np.testing.assert_allclose(
        h.loc[~alt, "comparison_denominator"], h.loc[~alt, "lea_comparison_denominator"]
    )
    np.testing.assert_allclose(
        h["comparison_risk"], h["comparison_numerator"] / h["comparison_denominator"]
    )


def test_history_without_findings_is_empty():
    res = make_results([LEA])
    assert finding_history(findings(res.iloc[0:0], PROFILE), res).empty
