"""cimrca: special-education Compliance and Improvement Monitoring (CIM) toolkit for California.

Significant-disproportionality risk ratios (34 CFR 300.647), SPP/APR indicator trends and
per-LEA root-cause packets. The public Python API (names load on first use, so that the command
line starts fast):

- :func:`load_dataset` / :func:`dataset_from_frames` read and validate a canonical data set.
- :func:`load_profile` reads a state profile (``california``, ``federal_defaults`` or a YAML path).
- :func:`compute_results` computes the statewide results table in one vectorised pass;
  :func:`write_results`, :func:`read_results` and :func:`lea_slice` store and filter it.
- :func:`compute_drilldown` decomposes every finding over schools, grade bands, student groups
  and disabilities (``detail.csv``); :func:`concentration` summarises how concentrated it is.
- :func:`compute_indicators` computes SPP/APR indicator rates, targets met and trends.
- :func:`compute_monitoring` places every LEA at a monitoring level (Universal, Targeted 1-3,
  Intensive 1-3, cyclical) with the reasons; :func:`write_monitoring` / :func:`read_monitoring`
  store it and :func:`reason_indicators` lists one LEA's indicators behind its level.
- :func:`generate_sample` / :func:`write_sample` make the synthetic sample state;
  :func:`import_files` converts real CDE / IDEA 618 files and student rosters.
- :func:`load_packet` / :func:`build_packet` assemble one LEA's packet (what the notebook
  shows); :class:`OutputLayout` names every file of a batch's output folder.
- :func:`suppress_packet` (and :func:`suppress_results`, :func:`suppress_slices`,
  :func:`suppress_indicators`) hide small counts for a packet an LEA can share;
  :func:`scan_public_text` and :func:`recoverable` check a public output.
- :class:`CimrcaError` is the base of every error caused by input or usage.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Dataset": "dataset",
    "load_dataset": "dataset",
    "dataset_from_frames": "dataset",
    "Profile": "profiles",
    "load_profile": "profiles",
    "compute_results": "methodology",
    "write_results": "methodology",
    "read_results": "methodology",
    "lea_slice": "methodology",
    "RESULT_COLUMNS": "methodology",
    "compute_drilldown": "drilldown",
    "concentration": "drilldown",
    "compute_indicators": "indicators",
    "indicator_sheet": "indicators",
    "MonitoringRules": "profiles",
    "compute_monitoring": "monitoring",
    "write_monitoring": "monitoring",
    "read_monitoring": "monitoring",
    "reason_indicators": "monitoring",
    "indicator_percentiles": "monitoring",
    "generate_sample": "sample",
    "write_sample": "sample",
    "import_files": "importers",
    "build_packet": "packet",
    "load_packet": "packet",
    "OutputLayout": "outputs",
    "PublicTable": "suppression",
    "suppress_results": "suppression",
    "suppress_indicators": "suppression",
    "suppress_slices": "suppression",
    "suppress_packet": "suppression",
    "scan_public_text": "suppression",
    "recoverable": "suppression",
    "spell_small_numbers": "suppression",
    "write_public_packet": "packet",
    "CimrcaError": "errors",
    "DataValidationError": "errors",
    "ProfileError": "errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cimrca' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
