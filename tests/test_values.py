"""Tests of cimrca.values: the school-year form and the one true/false vocabulary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cimrca.values import FALSE_WORDS, SCHOOL_YEAR_PATTERN, TRUE_WORDS, as_bool, is_school_year

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text", ["2023-24", "1999-00", "2009-10"])
def test_school_years_accepted(text):
    assert is_school_year(text)
    assert SCHOOL_YEAR_PATTERN.fullmatch(text)


@pytest.mark.parametrize(
    "text",
    [
        "2023-25",
        "2023-2024",
        "2023",
        "23-24",
        " 2023-24",
        "2023-24\n",
        "２０２３-24",
        "",
        None,
        2023,
    ],
)
def test_not_school_years(text):
    assert not is_school_year(text)


def test_pattern_groups_are_the_two_halves():
    assert SCHOOL_YEAR_PATTERN.match("2023-24").groups() == ("2023", "24")


def test_vocabulary_is_disjoint_and_lower_case():
    assert not TRUE_WORDS & FALSE_WORDS
    assert {"true", "t", "yes", "y", "1", "1.0"} == TRUE_WORDS
    assert {"false", "f", "no", "n", "0", "0.0"} == FALSE_WORDS


def test_as_bool_reads_words_numbers_and_booleans():
    text = pd.Series(["TRUE", " Yes ", "y", "T", "1", "1.0", "False", "no", "N", "f", "0", "0.0"])
    assert as_bool(text).tolist() == [True] * 6 + [False] * 6
    assert as_bool(pd.Series([1, 0])).tolist() == [True, False]
    assert as_bool(pd.Series([1.0, 0.0, np.nan])).tolist() == [True, False, pd.NA]
    assert as_bool(pd.Series([True, False])).tolist() == [True, False]
    nullable = pd.Series([True, pd.NA], dtype="boolean")
    assert as_bool(nullable).tolist() == [True, pd.NA]


def test_as_bool_missing_empty_and_unknown_are_na():
    values = pd.Series(["", "  ", None, np.nan, "maybe", "2", "nan"], index=list("abcdefg"))
    out = as_bool(values)
    assert str(out.dtype) == "boolean"
    assert out.index.tolist() == list("abcdefg")
    assert out.isna().all()


def test_as_bool_keeps_the_index_and_does_not_mutate():
    values = pd.Series(["yes", "no"], index=[10, 3])
    before = values.copy()
    out = as_bool(values)
    assert out.to_dict() == {10: True, 3: False}
    pd.testing.assert_series_equal(values, before)
    assert len(as_bool(pd.Series([], dtype=object))) == 0


def test_module_does_not_import_pandas():
    code = "import sys, cimrca.values; print('pandas' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"
