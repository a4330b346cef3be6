"""Which LEAs a batch runs, and which of them it can skip (their inputs are unchanged)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..leas import require_leas
from ..outputs import OutputLayout

__all__ = [
    "parse_shard",
    "select_leas",
    "per_lea_digest",
    "annotation_digest",
    "combine",
    "sha256_file",
    "unchanged",
]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``; ``None`` -> ``None``.

    Raises
    ------
    UsageError
        When the text is not two positive integers with I at most N.

    Examples
    --------
    >>> parse_shard("2/3")
    (2, 3)
    """
    if text is None:
        return None
    parts = str(text).split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--shard must be I/N with whole numbers, e.g. 1/4, found {text!r}."
        ) from None
    if n < 1:
        raise UsageError(f"--shard {text}: N (the number of shards) must be at least 1, e.g. 1/4.")
    if not 1 <= i <= n:
        raise UsageError(
            f"--shard {text}: I must be between 1 and N (1-based), e.g. 1/{max(n, 1)}."
        )
    return i, n


def select_leas(
    leas: pd.DataFrame,
    *,
    lea_ids: Sequence[str] = (),
    selpa: str | None = None,
    shard: tuple[int, int] | None = None,
    cim_required: Collection[str] | None = None,
) -> list[str]:
    """The LEAs a batch runs, sorted by ``lea_id``.

    Parameters
    ----------
    leas
        ``leas.csv`` of the data set (``lea_id``, optionally ``selpa``).
    lea_ids
        Only these LEAs (empty: all).
    selpa
        Only the LEAs whose ``selpa`` is this name (README decision 12).
    shard
        ``(I, N)``: the LEAs at positions ``p`` (0-based, in sorted order of the selection) with
        ``p % N == I - 1``. Deterministic and disjoint; the N shards cover the selection.
    cim_required
        ``--cim-only``: keep only these LEAs (those with ``cim_required`` in the latest year,
        monitoring.md section 3). Applied last, as an intersection: an LEA's shard is the same
        with or without it, so shards run with and without ``--cim-only`` agree.

    Raises
    ------
    UsageError
        An unknown LEA or SELPA.
    """
    known = pd.Series(sorted(leas["lea_id"].astype(str).unique()))
    chosen = known
    if lea_ids:
        wanted = require_leas(lea_ids, leas, source="leas.csv of the data set")
        chosen = chosen[chosen.isin(wanted)]
    if selpa is not None:
        if "selpa" not in leas.columns:
            raise UsageError("--selpa needs a selpa column in leas.csv; this data set has none.")
        names = leas["selpa"].astype(str)
        if not (names == selpa).any():
            shown = ", ".join(sorted(names.unique())[:10])
            raise UsageError(f"no LEA has selpa {selpa!r} in leas.csv (SELPAs include: {shown}).")
        in_selpa = leas.loc[names == selpa, "lea_id"].astype(str)
        chosen = chosen[chosen.isin(in_selpa)]
    chosen = chosen.reset_index(drop=True)
    if shard is not None:
        i, n = shard
        chosen = chosen[np.arange(len(chosen)) % n == i - 1]
    if cim_required is not None:
        chosen = chosen[chosen.isin(list(cim_required))]
    return chosen.tolist()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of every row (values and column names), for per-LEA digests.

    Each column is hashed in its own dtype (:func:`pandas.util.hash_pandas_object`), without
    converting the table to text.
    """
    cols = sorted(frame.columns)
    hashed = pd.util.hash_pandas_object(frame[cols], index=False).to_numpy()
    return hashed ^ np.uint64(int(hashlib.sha256("|".join(cols).encode()).hexdigest()[:15], 16))


def per_lea_digest(frame: pd.DataFrame | None, lea_ids: Sequence[str]) -> dict[str, str]:
    """SHA-256 of each LEA's rows of ``frame`` (in their sorted order).

    Only the rows of ``lea_ids`` are hashed, so a few LEAs of a large State cost little; an
    LEA's digest does not depend on which other LEAs are asked for.
    """
    if frame is None or frame.empty:
        return dict.fromkeys(lea_ids, "")
    ids = frame["lea_id"].astype(str)
    wanted = ids.isin(list(lea_ids)).to_numpy()
    if not wanted.all():
        frame, ids = frame[wanted], ids[wanted]
    ids = ids.to_numpy()
    hashes = _row_hashes(frame)
    order = np.argsort(ids, kind="stable")
    ids, hashes = ids[order], hashes[order]
    starts = np.searchsorted(ids, lea_ids, side="left")
    ends = np.searchsorted(ids, lea_ids, side="right")
    return {
        lea: hashlib.sha256(hashes[s:e].tobytes()).hexdigest()
        for lea, s, e in zip(lea_ids, starts, ends, strict=True)
    }


def annotation_digest(current: pd.DataFrame) -> str:
    if current.empty:
        return ""
    cols = [c for c in ("sheet", "finding_id", "column", "value") if c in current.columns]
    text = current[cols].astype(str).sort_values(cols).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def combine(parts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def unchanged(out: OutputLayout, lea: str, row: pd.Series, digest: str) -> bool:
    """Whether an LEA's last run is still valid: same inputs, same workbook, files present."""
    if row.get("status") not in ("ok", "skipped") or row.get("inputs_sha256") != digest:
        return False
    files = out.lea(lea)
    if not all(f.is_file() for f in (files.workbook, files.notebook, files.html)):
        return False
    return sha256_file(files.workbook) == row.get("workbook_sha256")
