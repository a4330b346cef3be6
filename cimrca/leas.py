"""LEA codes at the edge: normalised and checked once, where a user gives them.

Every entry point that takes an LEA code from a person (a notebook parameter, ``--lea``) calls
:func:`require_leas`; the functions behind it take the code as checked text.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .errors import UsageError

__all__ = ["lea_code", "require_leas"]


def lea_code(value: str | int) -> str:
    """An LEA code as text: ``papermill -p lea_id 0173141`` passes ``173141``, padded back.

    Examples
    --------
    >>> lea_code(173141), lea_code(" 2071593 ")
    ('0173141', '2071593')
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:07d}"
    return str(value).strip()


def require_leas(values: Iterable[str | int], leas: pd.DataFrame, *, source: str) -> list[str]:
    """The codes of ``values`` (:func:`lea_code`), each checked against ``leas.csv``.

    Parameters
    ----------
    values
        The codes a user gave, in order; duplicates are kept once.
    leas
        The data set's ``leas.csv``.
    source
        Where the codes come from (``leas.csv`` of which folder), for the message.

    Raises
    ------
    UsageError
        A code is not in ``leas.csv``; the message shows an example of the expected form.
    """
    wanted = list(dict.fromkeys(lea_code(v) for v in values))
    known = leas["lea_id"].astype(str)
    unknown = [w for w in wanted if not known.eq(w).any()]
    if unknown:
        padded = [u.zfill(7) for u in unknown if u.isdigit() and len(u) < 7]
        hint = [p for p in padded if known.eq(p).any()]
        if hint:
            raise UsageError(
                f"unknown LEA {', '.join(unknown)}: not in {source}. Did you mean "
                f"{', '.join(hint)}? LEA codes keep their leading zeros.",
                lea_id=unknown[0],
            )
        example = known.iloc[0] if len(known) else "0100000"
        raise UsageError(
            f"unknown LEA {', '.join(unknown)}: not in {source} ({len(known):,} LEAs). "
            f"Give the LEA's 7-digit CDE code as text, with its leading zeros (for example "
            f"{example!r}).",
            lea_id=unknown[0],
        )
    return wanted
