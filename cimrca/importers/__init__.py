"""Importers: real CDE and federal files, and a student roster, into canonical tables.

``cimrca import KIND PATH... --out DATA_DIR`` converts each file into the canonical tables of
data.md section 1 and merges them with what ``DATA_DIR`` already holds. Kinds:

``cde-enrollment``
    Census Day enrollment ``cdenroll*.txt`` -> ``enrollment.csv`` and ``state_totals.csv``.
``cde-spedps``
    Special education enrollment by program setting ``spedps*.txt`` -> ``child_count.csv``
    (disability ``ALL``), ``environments.csv`` and ``state_totals.csv``.
``cde-suspension``, ``cde-chronic``
    Suspension and chronic absenteeism files -> ``indicators.csv`` (``SUSP_SWD``,
    ``CHRONIC_SWD``).
``cde-directory``
    Public Schools and Districts ``pubschls.txt`` -> ``leas.csv``.
``idea618-state-environments``
    IDEA Section 618 state child count and educational environments -> ``state_totals.csv``.
``roster``
    One row per student -> every canonical count table (see :mod:`cimrca.importers.roster`).

The kinds and their readers are one table, :data:`cimrca.importers.registry.KINDS`. This module
imports nothing heavy: the command line reads :data:`IMPORT_KINDS` while it builds its parser,
so pandas is loaded only when :func:`import_files` runs.
"""

from __future__ import annotations

from pathlib import Path

from .registry import KINDS

__all__ = ["IMPORT_KINDS", "import_files"]

#: The kinds of file ``cimrca import`` understands, in the order the help lists them.
IMPORT_KINDS: tuple[str, ...] = tuple(KINDS)


def import_files(
    kind: str,
    paths: list[Path],
    out_dir: Path,
    *,
    mapping: Path | None = None,
    spedps_level: str = "D",
) -> list[str]:
    """Import files of one kind into the canonical data set in ``out_dir``.

    Parameters
    ----------
    kind : str
        One of :data:`IMPORT_KINDS`.
    paths : list of Path
        Files to read, in order.
    out_dir : Path
        Canonical data folder; created when absent. Existing rows are never dropped.
    mapping : Path, optional
        ``roster`` only: YAML mapping of column names and code values.
    spedps_level : {"D", "A"}
        ``cde-spedps`` only: the ``AggregateLevel`` read, ``D`` (reporting district, the
        default) or ``A`` (district of special-education accountability).

    Returns
    -------
    list of str
        One summary line per file, followed by notes.

    Raises
    ------
    cimrca.errors.ImportError_
        A file is not of the kind given, holds an invalid value, or gives a value that differs
        from one already stored for the same key. Nothing is written then.

    Notes
    -----
    New keys are added; a key already present with the same value is a no-op (so importing
    the same file twice changes nothing); a key present with a different value is an error
    naming both sources. Every table is written atomically (temporary file + ``os.replace``)
    after every file has been read and merged.
    """
    from .common import run_import

    return run_import(kind, paths, out_dir, mapping=mapping, spedps_level=spedps_level)
