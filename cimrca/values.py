"""Small value vocabularies every reader shares: school years and true/false cells.

School years are written ``YYYY-YY`` (``2023-24``): the fall year, a hyphen, and the last two
digits of the next year. True/false cells arrive as booleans, as 0/1 (``1.0``/``0.0`` once a
column has been through a float), or as words; :data:`TRUE_WORDS` and :data:`FALSE_WORDS` are
the one vocabulary, compared after stripping and lower-casing.

This module imports pandas only inside :func:`as_bool`, so the profile loader and the command
line can use it without loading pandas.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SCHOOL_YEAR_PATTERN",
    "TRUE_WORDS",
    "FALSE_WORDS",
    "is_school_year",
    "as_bool",
]

#: ``YYYY-YY``; group 1 is the fall year, group 2 the next year's last two digits.
SCHOOL_YEAR_PATTERN: Final = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)

#: Cells read as true, lower-cased.
TRUE_WORDS: Final = frozenset({"true", "t", "yes", "y", "1", "1.0"})
#: Cells read as false, lower-cased.
FALSE_WORDS: Final = frozenset({"false", "f", "no", "n", "0", "0.0"})
_WORDS: Final = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}


def is_school_year(text: object) -> bool:
    """Whether ``text`` is a school year ``YYYY-YY`` whose halves are consecutive years.

    Examples
    --------
    >>> is_school_year("2023-24"), is_school_year("1999-00")
    (True, True)
    >>> is_school_year("2023-25"), is_school_year("2023-2024"), is_school_year(2023)
    (False, False, False)
    """
    if not isinstance(text, str):
        return False
    match = SCHOOL_YEAR_PATTERN.fullmatch(text)
    return match is not None and (int(match[1]) + 1) % 100 == int(match[2])


def as_bool(values: pd.Series) -> pd.Series:
    """Read a true/false column into pandas' nullable ``boolean``.

    Parameters
    ----------
    values : Series
        Booleans (nullable or not), numbers, or text.

    Returns
    -------
    Series of dtype ``boolean``, same index
        True for :data:`TRUE_WORDS`, False for :data:`FALSE_WORDS` (after stripping and
        lower-casing), NA for everything else: missing and empty cells, and text outside the
        vocabulary. A caller that must reject unknown text finds it as NA where the cell is
        not empty; a caller that reads missing as false uses ``.fillna(False)``.

    Examples
    --------
    >>> import pandas as pd
    >>> as_bool(pd.Series(["True", " yes", "0", 1.0, "", None, "maybe"])).tolist()
    [True, True, False, True, <NA>, <NA>, <NA>]
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    codes, uniques = pd.factorize(values.astype("string").str.strip().str.lower())
    # one look-up per distinct cell; code -1 (missing) picks the trailing NA
    flags = pd.array([_WORDS.get(u) for u in uniques] + [None], dtype="boolean")
    return pd.Series(flags[codes], index=values.index)
