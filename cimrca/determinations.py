"""Multi-year determinations: consecutive flagged years and reasonable progress.

34 CFR 300.647(d): an LEA is identified when a group's ratio exceeds the threshold for up to
three prior consecutive years; a State may decline to identify an LEA that made reasonable
progress in lowering the ratio in each of the two prior consecutive years. Arrays have the school
year on their first axis (every calendar year from the first to the last, gaps included); the
other axes are anything (LEA, category, group) and are handled at once.
"""

from __future__ import annotations

import numpy as np

__all__ = ["consecutive_flagged_years", "reasonable_progress_made"]


def _carry_over_skips(values_kept: np.ndarray, skip: np.ndarray, fill) -> np.ndarray:
    """Expand values computed on the non-skipped years back to every year.

    A skipped year shows the value of the latest non-skipped year before it (``fill`` if none).
    """
    kept_index = np.cumsum(~skip) - 1  # position among kept years of the latest kept year <= j
    out = np.empty((len(skip),) + values_kept.shape[1:], dtype=values_kept.dtype)
    has_prior = kept_index >= 0
    out[has_prior] = values_kept[kept_index[has_prior]]
    out[~has_prior] = fill
    return out


def consecutive_flagged_years(flagged: np.ndarray, *, skip: np.ndarray | None = None) -> np.ndarray:
    """Number of consecutive flagged years ending with each year.

    Parameters
    ----------
    flagged
        Boolean array, school year first. A year not calculated or absent from the data must be
        ``False`` here: it breaks the run.
    skip
        Boolean per year: years the State set aside (profile ``skip_years``). They neither count
        nor break the run; their own rows show the count of the latest year before them.

    Examples
    --------
    >>> consecutive_flagged_years(np.array([True, True, False, True, True, True]))
    array([1, 2, 0, 1, 2, 3])
    >>> consecutive_flagged_years(np.array([True, False, True]), skip=np.array([False, True, False]))
    array([1, 1, 2])
    """
    flagged = np.asarray(flagged, dtype=bool)
    skip = np.zeros(len(flagged), dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    kept = flagged[~skip]
    index = np.arange(len(kept)).reshape((-1,) + (1,) * (kept.ndim - 1))
    last_unflagged = np.maximum.accumulate(np.where(kept, -1, index), axis=0)
    runs = (index - last_unflagged).astype(np.int64)
    return _carry_over_skips(runs, skip, 0)


def reasonable_progress_made(
    ratio: np.ndarray, *, skip: np.ndarray | None = None, min_decrease: float = 0.0
) -> np.ndarray:
    """Whether the ratio fell in each of the two prior consecutive years (300.647(d)(2)).

    True for year y when ``ratio(y) < ratio(y-1) - d`` and ``ratio(y-1) < ratio(y-2) - d``, with
    ``d = min_decrease`` and y-1, y-2 the previous non-skipped years. A year without a ratio (not
    calculated or absent) gives False. Skipped years show the latest earlier year's value.

    Examples
    --------
    >>> reasonable_progress_made(np.array([4.0, 3.8, 3.5, 3.6]))
    array([False, False,  True, False])
    """
    ratio = np.asarray(ratio, dtype=float)
    skip = np.zeros(len(ratio), dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    kept = ratio[~skip]
    fell = np.zeros(kept.shape, dtype=bool)
    fell[1:] = kept[1:] < kept[:-1] - min_decrease  # NaN compares False
    progress = np.zeros(kept.shape, dtype=bool)
    progress[2:] = fell[2:] & fell[1:-1]
    return _carry_over_skips(progress, skip, False)
