"""The kinds of file ``cimrca import`` understands: one table, ``{kind: reader}``.

Each entry names its reader by dotted path (``module:function``) and is resolved with
:mod:`importlib` only when a file of that kind is read, so listing the kinds (the command line
does while it builds its parser) imports neither pandas nor any reader. A new kind is one entry
here and its reader function; nothing else changes.

A reader takes the path of one file and the keyword options its entry lists, and returns an
:class:`~cimrca.importers.common.ImportedFile`. The options :func:`run_import
<cimrca.importers.common.run_import>` can pass are:

``lea_ids``
    The LEA ids of the ``leas.csv`` already in the data folder (None when there is none).
``level``
    The ``--spedps-level`` given (``D`` or ``A``).
``mapping``
    The ``--mapping`` YAML given (None when absent).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ImportError_

__all__ = ["ImportKind", "KINDS", "import_kind", "resolve_reader"]

#: An option a reader may take (module docstring).
ReaderOption = Literal["lea_ids", "level", "mapping"]


@dataclass(frozen=True)
class ImportKind:
    """One kind of file: what it is, the reader that reads it, and the options it takes.

    Attributes
    ----------
    name : str
        The ``KIND`` given to ``cimrca import``.
    description : str
        One line for the help: the file and the canonical tables it fills.
    reader : str
        Dotted path of the reader, ``"package.module:function"``.
    options : tuple of str
        The keyword options passed to the reader (module docstring).
    """

    name: str
    description: str
    reader: str
    options: tuple[ReaderOption, ...] = ()


_ENTRIES: tuple[ImportKind, ...] = (
    ImportKind(
        "cde-enrollment",
        "Census Day enrollment cdenroll*.txt -> enrollment.csv, state_totals.csv",
        "cimrca.importers.cde:read_enrollment",
        ("lea_ids",),
    ),
    ImportKind(
        "cde-spedps",
        "special education by program setting spedps*.txt -> child_count.csv, "
        "environments.csv, state_totals.csv",
        "cimrca.importers.cde:read_spedps",
        ("lea_ids", "level"),
    ),
    ImportKind(
        "cde-suspension",
        "suspension file -> indicators.csv (SUSP_SWD)",
        "cimrca.importers.cde:read_suspension",
        ("lea_ids",),
    ),
    ImportKind(
        "cde-chronic",
        "chronic absenteeism file -> indicators.csv (CHRONIC_SWD)",
        "cimrca.importers.cde:read_chronic",
        ("lea_ids",),
    ),
    ImportKind(
        "cde-directory",
        "Public Schools and Districts pubschls.txt -> leas.csv",
        "cimrca.importers.cde:read_directory",
    ),
    ImportKind(
        "idea618-state-environments",
        "IDEA Section 618 state child count and educational environments -> state_totals.csv",
        "cimrca.importers.idea618:read_state_environments",
    ),
    ImportKind(
        "roster",
        "one row per student -> every canonical count table",
        "cimrca.importers.roster:read_roster",
        ("mapping",),
    ),
)

#: Every kind by name, in the order the help lists them.
KINDS: Mapping[str, ImportKind] = {entry.name: entry for entry in _ENTRIES}


def import_kind(kind: str) -> ImportKind:
    """The entry of ``kind``.

    Raises
    ------
    cimrca.errors.ImportError_
        ``kind`` is not registered; the message lists the kinds that are.

    Examples
    --------
    >>> import_kind("roster").options
    ('mapping',)
    """
    try:
        return KINDS[kind]
    except KeyError:
        raise ImportError_(
            f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}."
        ) from None


def resolve_reader(kind: str) -> Callable[..., Any]:
    """Import and return the reader function of ``kind``.

    Examples
    --------
    >>> resolve_reader("cde-directory").__name__
    'read_directory'
    """
    module, _, name = import_kind(kind).reader.partition(":")
    return getattr(importlib.import_module(module), name)
