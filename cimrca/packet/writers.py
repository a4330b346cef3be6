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
from ..drilldown import FINDING_KEYS
from ..findings import RATIO_PREFIX
from ..outputs import LeaFiles
from ..workbook import write_workbook
from .assemble import Packet, _resolve
from .markup import finding_identity

__all__ = [
    "FINDINGS_JSON_VERSION",
    "write_packet_workbook",
    "findings_payload",
    "drilldown_payload",
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
    ``consecutive_years``, ``flagged``, ``identified``, ``students_over_threshold``,
    ``ratios_by_year``, ``drilldown`` and ``drilldown_summary``
    (:func:`drilldown_payload`); with no drill-down data, ``drilldown`` is ``null`` and the
    top-level ``drilldown_note`` says so and how to provide them.
    The top level also has ``monitoring``: ``level``, ``level_label``, ``cim_required``,
    ``reasons`` (a list of plain-words reasons), ``school_year`` and ``note`` (the Annual
    Determination Letter is the official level), or ``null`` when the profile defines no
    monitoring levels (monitoring.md section 3).
    """
    f = packet.findings
    drill, summary = drilldown_payload(packet)
    ratio_cols = [c for c in f.columns if c.startswith(RATIO_PREFIX)]
    items = [
        {
            **finding_identity(r),
            "ratio": _json_number(r["ratio"]),
            "ratio_type": r["ratio_type"],
            "threshold": _json_number(r["threshold"]),
            "consecutive_years": _json_number(r["consecutive_years"]),
            "flagged": bool(r["exceeds_threshold"]),
            "identified": bool(r["significantly_disproportionate"]),
            "students_over_threshold": _json_number(r["students_over_threshold"]),
            "ratios_by_year": {c[len(RATIO_PREFIX) :]: _json_number(r[c]) for c in ratio_cols},
            "drilldown": drill.get(r["finding_id"]),
            "drilldown_summary": summary.get(r["finding_id"]),
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
        "drilldown_note": packet.drilldown_message or None,
        "monitoring": _monitoring_payload(packet),
        "indicator_findings": _indicator_findings_payload(packet),
    }


def _indicator_findings_payload(packet: Packet) -> list[dict[str, Any]]:
    """The indicator findings (monitoring.md section 4) with their keys, level reasons first."""
    from ..layout import indicator_key

    reasons = packet.reason_indicators
    if reasons is None or reasons.empty:
        return []
    items = []
    for r in reasons.to_dict("records"):
        item = {
            k: (_json_number(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
            for k, v in r.items()
        }
        item = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in item.items()}
        items.append({"key": indicator_key(str(r["school_year"]), str(r["indicator"])), **item})
    return items


def _monitoring_payload(packet: Packet) -> dict[str, Any] | None:
    """The ``monitoring`` object of the findings JSON (``None`` without monitoring levels)."""
    from ..monitoring import LEVEL_LABELS, OFFICIAL_LEVEL_NOTE

    row = packet.monitoring_row
    if row is None:
        return None
    level = str(row["level"])
    from ..statements import plain_reason

    raw = str(row.get("reasons", "") or "").split("; ")
    reasons = [plain_reason(r.strip()) for r in raw if r.strip()]
    return {
        "level": level,
        "level_label": LEVEL_LABELS.get(level, level),
        "cim_required": bool(row["cim_required"]),
        "reasons": reasons,
        "school_year": str(row["school_year"]),
        "note": OFFICIAL_LEVEL_NOTE,
    }


_SLICE_COUNTS = ("numerator", "denominator", "comparison_numerator", "comparison_denominator")
_SLICE_FIELDS = (
    "dimension", "value", "label", *_SLICE_COUNTS,
    "risk", "comparison_risk", "ratio", "over_threshold", "share",
)  # fmt: skip


def _json_count(x: Any) -> int | None:
    return None if x is None or pd.isna(x) else int(x)


def drilldown_payload(
    packet: Packet,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Each finding's ``drilldown`` and ``drilldown_summary`` for the findings JSON.

    Returns
    -------
    tuple of dict
        By ``finding_id``: the slices (drilldown.md section 3: ``dimension``, ``value`` (the
        school code for schools), ``label``, the four counts as integers, ``risk``,
        ``comparison_risk``, ``ratio``, ``over_threshold``, ``share`` at full precision, or
        ``null``), dimension by dimension, largest ``over_threshold`` first; and per dimension
        ``dimension``, ``dimension_label``, ``slices``, ``slices_over``, ``top_values``,
        ``top_labels``, ``top_share``, ``lea_over_threshold`` and ``sentence``. A finding
        without drill-down rows is absent (its JSON value is then ``null``).
    """
    if packet.drilldown.empty:
        return {}, {}
    ids = packet.findings[[*FINDING_KEYS, "finding_id"]]
    keys = list(FINDING_KEYS)
    drill = packet.drilldown.merge(ids, on=keys)
    slices = {
        fid: [
            {k: (_json_count(r[k]) if k in _SLICE_COUNTS else
                 r[k] if k in ("dimension", "value", "label") else _json_number(r[k]))
             for k in _SLICE_FIELDS}
            for r in rows.to_dict("records")
        ]
        for fid, rows in drill.groupby("finding_id", sort=False)
    }  # fmt: skip
    summary = packet.drilldown_summary.merge(ids, on=keys)
    summaries = {
        fid: [
            {
                "dimension": r["dimension"],
                "dimension_label": r["dimension_label"],
                "slices": int(r["slices"]),
                "slices_over": int(r["slices_over"]),
                "top_values": list(r["top_values"]),
                "top_labels": list(r["top_labels"]),
                "top_share": _json_number(r["top_share"]),
                "lea_over_threshold": _json_number(r["lea_over_threshold"]),
                "sentence": r["sentence"],
            }
            for r in rows.to_dict("records")
        ]
        for fid, rows in summary.groupby("finding_id", sort=False)
    }
    return slices, summaries


def write_findings_json(packet: Packet, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<lea_id>_findings.json`` (:func:`findings_payload`), atomically."""
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = LeaFiles(out, packet.lea_id).findings
    text = json.dumps(findings_payload(packet), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path
