"""The files a packet writes beside itself: the root-cause workbook and the findings JSON."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..annotations import (
    AnnotationStore,
    check_workbook_unchanged,
    finish_rewrite,
    prepare_rewrite,
    read_handover_checks,
)
from ..atomic import atomic_write_text
from ..findings import RATIO_PREFIX
from ..outputs import LeaFiles
from ..workbook import write_workbook
from .assemble import Packet, _resolve
from .markup import _category_label, _group_label

__all__ = [
    "FINDINGS_JSON_VERSION",
    "write_packet_workbook",
    "findings_payload",
    "write_findings_json",
]

log = logging.getLogger(__name__)

#: Version of the findings JSON layout (bumped when a key is renamed or dropped).
FINDINGS_JSON_VERSION = 1


def write_packet_workbook(packet: Packet, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<lea_id>_workbook.xlsx`` with the stored annotations.

    Loaded with ``annotations_db`` (a hand run), it does the whole cycle itself: harvest the
    existing workbook (a consultant's edits are stored before it is replaced), write the new
    one with the stored values, record its baseline. Loaded with ``annotations_json`` (the
    batch), it only writes: the batch's parent process harvests before and records after.

    Raises
    ------
    WorkbookError
        The existing workbook is open in another program or unreadable, or was saved after it
        was harvested (it is then left as it was), or the new one cannot be written.

    Notes
    -----
    outputs.md section 5: a re-run harvests a workbook before it replaces it, so a
    consultant's note can never be lost; the write is atomic.
    """
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = LeaFiles(out, packet.lea_id).workbook
    inputs = packet.workbook_inputs()
    if packet.annotations_source == "store" and packet.annotations_db is not None:
        with AnnotationStore(packet.annotations_db) as store:
            rewrite = prepare_rewrite(
                store, packet.lea_id, path, packet.workbook_keys, command="packet"
            )
            state = rewrite.harvest.file_state if rewrite.harvest is not None else None
            write_workbook(
                path,
                inputs,
                annotations=rewrite.annotations,
                previous_notes=rewrite.previous_notes,
                orphans=rewrite.orphans,
                conflicts=rewrite.conflicts,
                before_replace=lambda: check_workbook_unchanged(path, state),
            )
            finish_rewrite(store, packet.lea_id, path, rewrite)
        report = rewrite.harvest
        if report is not None and (report.new or report.changed):
            log.warning(
                "%s: the old workbook held %d new and %d changed annotations; they are stored "
                "and in the new workbook. Run the packet again to show them in its notes.",
                path,
                report.new,
                report.changed,
            )
        return path
    conflicts, before_replace = None, None
    handover = packet.parameters.get("annotations_json", "")
    if packet.annotations_source == "json" and handover:
        # the batch harvested the old workbook before this notebook ran: replace it only if it
        # is still that file (outputs.md section 5.1), and list the open conflicts
        conflicts, state = read_handover_checks(_resolve(handover))
        before_replace = lambda: check_workbook_unchanged(path, state)  # noqa: E731
    write_workbook(
        path,
        inputs,
        annotations=dict(packet.annotations),
        previous_notes=dict(packet.previous_notes),
        orphans=packet.orphans if len(packet.orphans) else None,
        conflicts=conflicts,
        before_replace=before_replace,
    )
    return path


def _json_number(x: Any) -> float | int | None:
    if x is None or pd.isna(x):
        return None
    value = float(x)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def findings_payload(packet: Packet) -> dict[str, Any]:
    """The machine-readable summary of the packet (content of ``<lea_id>_findings.json``).

    Keys: ``format_version``, ``lea_id``, ``lea_name``, ``school_years``,
    ``latest_school_year``, ``profile`` (every profile value), ``identified``, ``synthetic``,
    ``dataset``, ``cimrca_version`` and ``findings``: one object per finding with ``key``,
    ``school_year``, ``category``, ``category_label``, ``race_ethnicity``, ``group_label``,
    ``level``, ``ratio`` (full precision), ``ratio_type``, ``threshold``,
    ``consecutive_years``, ``flagged``, ``identified``, ``students_over_threshold`` and
    ``ratios_by_year``.
    """
    f = packet.findings
    ratio_cols = [c for c in f.columns if c.startswith(RATIO_PREFIX)]
    items = [
        {
            "key": r["finding_id"],
            "school_year": r["school_year"],
            "category": r["category"],
            "category_label": _category_label(r["category"]),
            "race_ethnicity": r["race_ethnicity"],
            "group_label": _group_label(r["race_ethnicity"]),
            "level": r["level"],
            "ratio": _json_number(r["ratio"]),
            "ratio_type": r["ratio_type"],
            "threshold": _json_number(r["threshold"]),
            "consecutive_years": _json_number(r["consecutive_years"]),
            "flagged": bool(r["exceeds_threshold"]),
            "identified": bool(r["significantly_disproportionate"]),
            "students_over_threshold": _json_number(r["students_over_threshold"]),
            "ratios_by_year": {c[len(RATIO_PREFIX) :]: _json_number(r[c]) for c in ratio_cols},
        }
        for r in f.to_dict("records")
    ]
    return {
        "format_version": FINDINGS_JSON_VERSION,
        "lea_id": packet.lea_id,
        "lea_name": packet.lea_name,
        "school_years": list(packet.school_years),
        "latest_school_year": packet.latest_year,
        "profile": packet.profile.to_dict(),
        "identified": packet.identified,
        "synthetic": packet.is_synthetic,
        "dataset": packet.dataset.name,
        "cimrca_version": __version__,
        "findings": items,
    }


def write_findings_json(packet: Packet, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<lea_id>_findings.json`` (:func:`findings_payload`), atomically."""
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = LeaFiles(out, packet.lea_id).findings
    text = json.dumps(findings_payload(packet), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path
