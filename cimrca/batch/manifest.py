"""``OUT_DIR/manifest.csv``: one row per LEA ever run into the folder (outputs.md section 3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import atomic_write_text, file_lock
from ..errors import UsageError
from ..outputs import OutputLayout

__all__ = ["MANIFEST_COLUMNS", "read_manifest", "update_manifest"]

#: Columns of ``manifest.csv``: the contract's six, then the failed notebook and the workbook's
#: hash (a workbook edited since it was written is harvested and regenerated).
MANIFEST_COLUMNS: tuple[str, ...] = (
    "lea_id",
    "status",
    "seconds",
    "error",
    "inputs_sha256",
    "finished_at",
    "notebook",
    "workbook_sha256",
)


def read_manifest(out_dir: str | Path) -> pd.DataFrame:
    """``OUT_DIR/manifest.csv`` as text columns (:data:`MANIFEST_COLUMNS`).

    Empty when the file is absent or empty (0 bytes: a write stopped by a full disk; the batch
    warns and rebuilds it). A file that is not a CSV raises :class:`~cimrca.errors.UsageError`
    saying what to do.
    """
    path = OutputLayout(Path(out_dir)).manifest
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(MANIFEST_COLUMNS), dtype=object)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' EmptyDataError and ParserError
        raise UsageError(
            f"{path}: the manifest cannot be read ({type(exc).__name__}: {exc}). Move it aside "
            "and re-run: every chosen LEA is then run again (notes are kept in the store)."
        ) from None
    return frame.reindex(columns=list(MANIFEST_COLUMNS), fill_value="")


def update_manifest(out_dir: str | Path, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Replace the rows of ``rows``' LEAs in ``OUT_DIR/manifest.csv``; keep every other row.

    The file is re-read and rewritten under an exclusive lock on ``OUT_DIR/.manifest.lock`` and
    replaced atomically, so processes (shards) writing into one folder at once build one
    manifest and a reader never sees half of one. Returns the manifest written.
    """
    out = OutputLayout(Path(out_dir))
    new = pd.DataFrame(list(rows), dtype=object).reindex(columns=list(MANIFEST_COLUMNS))
    new = new.astype(object).where(new.notna(), "").astype(str)
    with file_lock(out.manifest_lock):
        old = read_manifest(out.root)
        merged = pd.concat([old[~old["lea_id"].isin(new["lea_id"])], new], ignore_index=True)
        merged = merged.sort_values("lea_id", kind="stable").reset_index(drop=True)
        atomic_write_text(out.manifest, merged.to_csv(index=False, lineterminator="\n"))
    return merged
