"""One LEA's CIM root-cause packet, and the statewide overview: what the notebooks call.

The packet notebook (``notebooks/lea_packet.ipynb``) and the state overview notebook
(``notebooks/state_overview.ipynb``) are thin (style.md rule 10): every step they show is one
call into this package.

- :mod:`~cimrca.packet.assemble`: :func:`build_packet` gathers one LEA's :class:`Packet` from
  statewide tables (pure); :func:`load_packet` reads the files the notebook's parameters name
  and calls it. The batch plans each workbook's keys from the same object.
- :mod:`~cimrca.packet.display`: what the notebook shows (:func:`packet_header`,
  :func:`summary_markdown`, :func:`findings_table`, :func:`indicators_table`,
  :func:`show_figures`, :func:`show_drilldown`,
  :func:`consultant_notes_markdown`, :func:`next_steps_markdown`).
- :mod:`~cimrca.packet.writers`: the workbook and the findings JSON beside the packet.
- :mod:`~cimrca.packet.state`: the statewide overview.
- :mod:`~cimrca.packet.public`: the packet an LEA can share (small counts suppressed), written
  beside the packet when the notebook's ``audience`` is ``public``.

Running the notebook and rendering its HTML live in :mod:`cimrca.runner`; the annotations the
batch hands over in :mod:`cimrca.annotations`; indicator results on disk in
:mod:`cimrca.indicators`.

Relative paths are resolved against the current working directory. papermill and nbval run a
notebook with its own folder (``notebooks/``) as the working directory, so the notebooks'
defaults (``../data/sample``) work as saved; :func:`execute_packet` makes every path absolute
before it hands it to the notebook.
"""

from __future__ import annotations

from ..annotations import annotations_payload, read_annotations_json, write_annotations_json
from ..indicators import read_indicator_results, write_indicator_results
from ..runner import FALLBACK_KERNEL, KERNEL_NAME, execute_packet, kernel_name, render_html
from .assemble import Packet, PacketAnnotations, build_packet, load_packet
from .display import (
    consultant_notes_markdown,
    drilldown_items,
    figure_items,
    figure_title,
    files_markdown,
    findings_table,
    indicators_table,
    monitoring_markdown,
    next_steps_markdown,
    packet_header,
    packet_title,
    profile_markdown,
    show_drilldown,
    show_figures,
    summary_markdown,
)
from .markup import FIGURE_DPI, SYNTHETIC_MARK, MarkdownText, PngImage
from .public import (
    AUDIENCES,
    public_payload,
    public_tables,
    render_public_html,
    write_public_packet,
)
from .state import (
    StateOverview,
    level_counts_plot,
    load_state_overview,
    monitoring_overview,
    ratio_distribution_plot,
    show_level_counts,
    show_ratio_distribution,
    state_header,
    state_monitoring_markdown,
    state_overview,
    state_summary_markdown,
    state_table,
    write_state_overview,
)
from .writers import (
    FINDINGS_JSON_VERSION,
    findings_payload,
    write_findings_json,
    write_packet_workbook,
)

__all__ = [
    "Packet",
    "PacketAnnotations",
    "StateOverview",
    "MarkdownText",
    "PngImage",
    "KERNEL_NAME",
    "FALLBACK_KERNEL",
    "FIGURE_DPI",
    "SYNTHETIC_MARK",
    "FINDINGS_JSON_VERSION",
    "build_packet",
    "load_packet",
    "packet_title",
    "packet_header",
    "summary_markdown",
    "findings_table",
    "indicators_table",
    "figure_title",
    "figure_items",
    "show_figures",
    "drilldown_items",
    "show_drilldown",
    "profile_markdown",
    "files_markdown",
    "state_header",
    "consultant_notes_markdown",
    "next_steps_markdown",
    "monitoring_markdown",
    "write_packet_workbook",
    "write_findings_json",
    "findings_payload",
    "annotations_payload",
    "write_annotations_json",
    "read_annotations_json",
    "write_indicator_results",
    "read_indicator_results",
    "render_html",
    "kernel_name",
    "execute_packet",
    "load_state_overview",
    "state_overview",
    "state_summary_markdown",
    "state_table",
    "ratio_distribution_plot",
    "show_ratio_distribution",
    "write_state_overview",
    "monitoring_overview",
    "level_counts_plot",
    "show_level_counts",
    "state_monitoring_markdown",
    "AUDIENCES",
    "public_tables",
    "public_payload",
    "render_public_html",
    "write_public_packet",
]
