"""One LEA's packet, assembled once: the object the notebook shows and the batch plans with.

:func:`build_packet` is pure (no file I/O): from the data set, the statewide results and
indicator results, the profile and the annotations, it gathers one LEA's :class:`Packet`. The
notebook reaches it through :func:`load_packet` (which reads the files its parameters name);
the batch's parent process calls it directly to learn the workbook's keys
(:attr:`Packet.workbook_keys`) before it harvests the old workbook, so the rows a note is
handed over for are the rows the notebook writes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .. import __version__
from ..annotations import (
    ORPHAN_COLUMNS,
    PREVIOUS_NOTE_SHEETS,
    AnnotationKey,
    AnnotationStore,
    previous_notes_for,
    read_annotations_json,
    split_orphans,
    stored_annotations,
)
from ..dataset import Dataset, load_dataset
from ..drilldown import compute_drilldown, concentration_summary
from ..errors import UsageError
from ..findings import findings as compute_findings
from ..indicators import compute_indicators, indicator_sheet, read_indicator_results
from ..leas import require_leas
from ..methodology import compute_results, lea_slice, read_results
from ..monitoring import compute_monitoring, read_monitoring, reason_indicators
from ..profiles import Profile, load_profile
from ..workbook import WorkbookInputs, workbook_keys
from .markup import FIGURE_DPI

__all__ = ["Packet", "PacketAnnotations", "build_packet", "load_packet", "packet_school_year"]

AnnotationSource = Literal["none", "store", "json"]


def _empty_orphans() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ORPHAN_COLUMNS})


@dataclass(frozen=True, eq=False)
class PacketAnnotations:
    """The stored annotations a packet shows and writes into its workbook.

    ``values``: ``{(sheet, finding_id, column): value}`` for rows of the packet; ``previous_notes``:
    earlier years' notes by finding; ``orphans``: annotations whose finding is gone;
    ``source``: ``"none"``, ``"store"`` or ``"json"``; ``db``: the store read, if any.
    """

    values: Mapping[AnnotationKey, str] = field(default_factory=dict)
    previous_notes: Mapping[str, str] = field(default_factory=dict)
    orphans: pd.DataFrame = field(default_factory=_empty_orphans)
    source: AnnotationSource = "none"
    db: Path | None = None


@dataclass(frozen=True, eq=False)
class Packet:
    """Everything one LEA's packet shows (from :func:`build_packet`).

    Attributes
    ----------
    lea_id, lea_name
        The LEA (CDE 7-digit code) and its name from ``leas.csv``.
    profile
        The state profile every number was computed with.
    dataset
        The canonical data set (its name and ``is_synthetic`` flag appear in the packet).
    results
        The statewide results table (outputs.md section 2).
    lea_results
        The LEA's rows of ``results`` (a filter, never a recomputation; style.md rule 2).
    findings
        :func:`cimrca.workbook.findings` of ``lea_results``: the latest year's rows at or above
        ``watch_fraction`` x threshold, identified first.
    indicator_results, indicator_rows
        The statewide SPP/APR indicator results and the LEA's ``Indicators`` sheet rows;
        ``None`` when the data set has no indicators.
    annotations, previous_notes, orphans
        Stored annotations: ``{(sheet, finding_id, column): value}`` for rows of this packet,
        earlier years' notes by finding, and annotations whose finding is gone.
    annotations_source
        ``"none"``, ``"store"`` (read from ``annotations_db``) or ``"json"`` (read from a file
        the batch wrote).
    annotations_db
        The store, when ``annotations_source == "store"``.
    parameters
        The parameters the packet was loaded with, as given.
    drilldown
        :func:`cimrca.drilldown.compute_drilldown` of the packet's findings: one row per
        finding x dimension x slice (drilldown.md section 2). Empty without ``detail.csv`` (or
        without counts for this LEA); ``drilldown.attrs["message"]`` then says so.
    monitoring
        The LEA's rows of the monitoring table (:func:`cimrca.monitoring.compute_monitoring`),
        every school year; ``None`` when the profile defines no monitoring levels.
    reason_indicators
        The LEA's indicator findings of the review year
        (:func:`cimrca.monitoring.reason_indicators`): missed targets and the indicators behind
        a Targeted 3 or Intensive level, level reasons first; ``None`` without monitoring
        levels or indicators.
    """

    lea_id: str
    lea_name: str
    profile: Profile
    dataset: Dataset
    results: pd.DataFrame
    lea_results: pd.DataFrame
    findings: pd.DataFrame
    indicator_results: pd.DataFrame | None
    indicator_rows: pd.DataFrame | None
    annotations: Mapping[AnnotationKey, str]
    previous_notes: Mapping[str, str]
    orphans: pd.DataFrame
    annotations_source: AnnotationSource
    annotations_db: Path | None
    parameters: Mapping[str, str]
    monitoring: pd.DataFrame | None = None
    reason_indicators: pd.DataFrame | None = None

    @property
    def monitoring_row(self) -> dict[str, Any] | None:
        """The LEA's monitoring row of the review year (else its latest) as a mapping.

        ``None`` when the profile defines no monitoring levels.
        """
        from ..monitoring import monitoring_row

        return monitoring_row(self.monitoring, self.latest_year)

    @property
    def school_years(self) -> tuple[str, ...]:
        """The school years of the LEA's results, oldest first."""
        return tuple(sorted(self.lea_results["school_year"].astype(str).unique()))

    @property
    def latest_year(self) -> str:
        """The school year the findings are for (the latest in the results)."""
        return self.school_years[-1]

    @property
    def is_synthetic(self) -> bool:
        """Whether the data set is synthetic (the packet then says so everywhere)."""
        return bool(self.dataset.is_synthetic)

    @property
    def identified(self) -> bool:
        """Significantly disproportionate in the latest year in any category and group.

        Notes
        -----
        methodology.md section 4: an LEA is significantly disproportionate when any of its
        rows is (34 CFR 300.647(d)(1)); the determination of year Y uses data through Y.
        """
        return bool((self.findings["level"] == "identified").any())

    @cached_property
    def figures(self) -> dict[str, bytes]:
        """The LEA's charts as PNG bytes, by :func:`cimrca.charts.lea_figures` name.

        Rendered once and shared by the notebook's display and the workbook's ``Charts`` sheet.
        """
        from ..charts import figures_to_png, lea_figures, reused_figures

        with reused_figures():  # a warm kernel draws packet after packet on the same figures
            figs = lea_figures(
                self.results,
                self.indicator_results,
                self.lea_id,
                school_year=self.latest_year,
                lea_name=self.lea_name,
            )
            return figures_to_png(figs, dpi=FIGURE_DPI)

    @property
    def drilldown_message(self) -> str:
        """What every output says when there is no drill-down; ``""`` when there is one."""
        return str(self.drilldown.attrs.get("message", "")) if self.drilldown.empty else ""

    @cached_property
    def drilldown_summary(self) -> pd.DataFrame:
        """:func:`cimrca.drilldown.concentration_summary` of :attr:`drilldown`: per finding
        and dimension, how concentrated it is and the sentence that says so."""
        return concentration_summary(self.drilldown)

    @cached_property
    def drilldown_figures(self) -> dict[str, bytes]:
        """One chart per finding above the threshold with a school drill-down, as PNG bytes by
        ``finding_id``: the parts of the students over the threshold by school
        (:func:`cimrca.charts.drilldown_bars`)."""
        from ..charts import drilldown_figures, figures_to_png

        above = self.findings[self.findings["level"].isin(["identified", "flagged"])]
        figs = drilldown_figures(self.drilldown, above)
        return figures_to_png(figs, dpi=FIGURE_DPI)

    @property
    def figure_titles(self) -> dict[str, str]:
        """The charts' titles by :func:`cimrca.charts.lea_figures` name."""
        from .display import figure_title

        return {name: figure_title(name, self) for name in self.figures}

    @cached_property
    def drilldown(self) -> pd.DataFrame:
        """The drill-down of the packet's findings (computed on first use; the keys of the
        workbook do not depend on it, so the batch's planning never computes it)."""
        return compute_drilldown(
            self.dataset, self.lea_results, profile=self.profile, findings=self.findings
        )

    @cached_property
    def workbook_keys(self) -> list[tuple[str, str]]:
        """``(sheet, finding_id)`` of every annotatable row of this packet's workbook.

        The one source of the keys: the notebook writes these rows and the batch harvests and
        hands over annotations for exactly these (:func:`cimrca.workbook.workbook_keys`). The
        rows do not depend on the charts or the drill-down, which are left out here.
        """
        return workbook_keys(self.workbook_inputs(with_figures=False, with_drilldown=False))

    def workbook_inputs(
        self, *, with_figures: bool = True, with_drilldown: bool = True
    ) -> WorkbookInputs:
        """The :class:`cimrca.workbook.WorkbookInputs` of this packet.

        ``with_figures=False`` skips rendering the charts and ``with_drilldown=False`` the
        drill-down (enough for :attr:`workbook_keys`).
        """
        figures = (
            {self.figure_titles[name]: png for name, png in self.figures.items()}
            if with_figures
            else {}
        )
        return WorkbookInputs(
            lea_id=self.lea_id,
            lea_name=self.lea_name,
            results=self.lea_results,
            profile=self.profile,
            indicator_rows=self.indicator_rows,
            figures=figures,
            dataset_name=self.dataset.name,
            is_synthetic=self.is_synthetic,
            code_version=__version__,
            findings=self.findings,
            drilldown=self.drilldown if with_drilldown else None,
            monitoring=self.monitoring,
            reason_indicators=self.reason_indicators,
        )


def packet_school_year(lea_results: pd.DataFrame) -> str:
    """The school year a packet reviews: the latest of the LEA's results."""
    return str(lea_results["school_year"].astype(str).max())


def _indicator_rows(
    indicator_results: pd.DataFrame | None, lea_id: str, school_year: str
) -> pd.DataFrame | None:
    """The LEA's ``Indicators`` rows for the packet's year, else the indicators' latest year.

    Indicator data may run a year ahead of the counts (CDE often publishes them first) or a
    year behind; the review year is the packet's when the indicators have it.
    """
    if indicator_results is None:
        return None
    years = set(indicator_results["school_year"].astype(str).unique())
    return indicator_sheet(
        indicator_results, lea_id, school_year=school_year if school_year in years else None
    )


def build_packet(
    lea_id: str,
    dataset: Dataset,
    results: pd.DataFrame,
    indicator_results: pd.DataFrame | None,
    profile: Profile,
    annotations: PacketAnnotations | None = None,
    *,
    parameters: Mapping[str, str] | None = None,
    monitoring: pd.DataFrame | None = None,
) -> Packet:
    """Assemble one LEA's packet from statewide tables: pure, no file I/O.

    Parameters
    ----------
    lea_id
        The LEA's CDE code, already checked against ``leas.csv``
        (:func:`cimrca.leas.require_leas`).
    dataset
        The canonical data set.
    results
        The statewide results table (:func:`cimrca.methodology.compute_results`).
    indicator_results
        Statewide indicator results (:func:`cimrca.indicators.compute_indicators`), or ``None``.
    profile
        The profile ``results`` were computed with.
    annotations
        Stored annotations to show (default: none).
    parameters
        The notebook parameters the packet was loaded with, recorded as given.
    monitoring
        The statewide monitoring table (:func:`cimrca.monitoring.compute_monitoring` or
        ``monitoring.csv``). ``None``: computed here from ``dataset``, ``results`` and
        ``indicator_results`` when the profile has a ``monitoring`` section (none otherwise).

    Returns
    -------
    Packet

    Notes
    -----
    The LEA's rows are a filter of the statewide table (style.md rule 2), so the State
    comparison group and the alternate risk ratio (34 CFR 300.647(b)(5)(ii)) are the
    statewide ones.
    """
    lea_results = lea_slice(results, lea_id)
    if lea_results.empty:
        raise UsageError(
            f"LEA {lea_id} has no rows in the results table: its data set has no counts for it.",
            lea_id=lea_id,
        )
    notes = annotations or PacketAnnotations()
    found = compute_findings(lea_results, profile)
    year = packet_school_year(lea_results)
    if monitoring is None and profile.monitoring is not None:
        monitoring = compute_monitoring(dataset, results, indicator_results, profile)
    lea_monitoring, reasons = _lea_monitoring(monitoring, indicator_results, profile, lea_id, year)
    return Packet(
        lea_id=lea_id,
        lea_name=dataset.lea_name(lea_id),
        profile=profile,
        dataset=dataset,
        results=results,
        lea_results=lea_results,
        findings=found,
        indicator_results=indicator_results,
        indicator_rows=_indicator_rows(indicator_results, lea_id, packet_school_year(lea_results)),
        annotations=dict(notes.values),
        previous_notes=dict(notes.previous_notes),
        orphans=notes.orphans.reset_index(drop=True),
        annotations_source=notes.source,
        annotations_db=notes.db,
        parameters=dict(parameters or {}),
        monitoring=lea_monitoring,
        reason_indicators=reasons,
    )


def _lea_monitoring(
    monitoring: pd.DataFrame | None,
    indicator_results: pd.DataFrame | None,
    profile: Profile,
    lea_id: str,
    year: str,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The LEA's monitoring rows and its indicator findings of ``year`` (else its latest)."""
    if monitoring is None or profile.monitoring is None:
        return None, None
    rows = monitoring[monitoring["lea_id"].astype(str) == str(lea_id)].reset_index(drop=True)
    if rows.empty or indicator_results is None:
        return rows, None
    reasons = reason_indicators(
        monitoring, indicator_results, profile, lea_id,
        school_year=_reasons_year(monitoring, lea_id, year),
    )  # fmt: skip
    return rows, reasons


def _reasons_year(monitoring: pd.DataFrame, lea_id: str, year: str) -> str | None:
    """The school year an LEA's monitoring reasons are read for: the packet's review year when
    the LEA has a monitoring row of it, else the LEA's latest; ``None`` without rows."""
    own = monitoring.loc[monitoring["lea_id"].astype(str) == str(lea_id), "school_year"]
    years = set(own.astype(str))
    return (year if year in years else max(years)) if years else None


@functools.lru_cache(maxsize=4)
def _cached(reader: Callable[[Path], Any], path: Path, stamp: tuple) -> Any:
    return reader(path)


def _read_once(reader: Callable[[Path], Any], path: Path) -> Any:
    """``reader(path)``, remembered while the files behind ``path`` are unchanged.

    A batch runs packet after packet in one warm kernel whose modules stay loaded, so the data
    set and the statewide tables are read once per worker rather than once per LEA. The key
    holds every file's modification time and size, so an edited file is read again. Callers
    never modify what they get (cimrca's functions do not mutate their inputs).
    """
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())
    return _cached(reader, path, stamp)


def _resolve(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _check_results_profile(results: pd.DataFrame, profile: Profile, source: Path) -> None:
    if "profile" not in results.columns:
        return
    names = set(results["profile"].dropna().astype(str).unique()) - {""}
    if names and names != {profile.name}:
        raise UsageError(
            f"{source}: these results were computed with profile {', '.join(sorted(names))}, "
            f"but the packet uses profile {profile.name!r}. Give the same profile, or recompute "
            f"the results with `cimrca compute ... --profile {profile.name}`.",
            file=source,
        )


def _stored_annotations(packet: Packet, db: Path) -> PacketAnnotations:
    """A hand run's annotations: read from the store for the packet's own keys."""
    keys = packet.workbook_keys
    with AnnotationStore(db, create=False) as store:
        matching, orphans = split_orphans(stored_annotations(store, packet.lea_id), keys)
        wanted = [f for s, f in keys if s in PREVIOUS_NOTE_SHEETS]
        previous = previous_notes_for(store, packet.lea_id, wanted)
    return PacketAnnotations(matching, previous, orphans, "store", db)


def _from_lea_tables(
    lea_id: str | int, data_dir: str | Path, lea_tables: str | Path, results_path: str | Path
) -> tuple[str, Dataset, pd.DataFrame]:
    """The LEA's code, data set and results rows from a batch's per-LEA tables."""
    from ..lea_tables import LeaTables, light_dataset, packet_results

    tables = LeaTables(_resolve(lea_tables))
    if not results_path or Path(results_path).suffix.lower() != ".parquet":
        raise UsageError("lea_tables needs results_path: the results.parquet the batch wrote.")
    leas = _read_once(pd.read_parquet, tables.leas)
    (lea,) = require_leas([lea_id], leas, source=f"{_resolve(data_dir)}/leas.csv")
    dataset = light_dataset(_resolve(data_dir), tables, lea)
    return lea, dataset, packet_results(_resolve(results_path), tables, lea)


def _packet_indicators(
    lea_tables: Path, lea_id: str, results: pd.DataFrame, monitoring: pd.DataFrame | None
) -> pd.DataFrame:
    """:func:`cimrca.lea_tables.packet_indicators` for the school years :func:`build_packet`
    uses every LEA's rows of: the packet's review year (the Indicators rows' State rates) and
    the year its monitoring reasons rank the LEA in (:func:`_reasons_year`)."""
    from ..lea_tables import LeaTables, packet_indicators

    tables = LeaTables(lea_tables)
    if not tables.indicators.is_file():
        raise UsageError(
            f"{tables.indicators} is missing: the batch that wrote {lea_tables} had no indicator "
            "results. Run the batch again."
        )
    year = packet_school_year(lea_slice(results, lea_id))
    ranked = _reasons_year(monitoring, lea_id, year) if monitoring is not None else None
    return packet_indicators(tables, lea_id, {year} | ({ranked} if ranked else set()))


def load_packet(
    lea_id: str | int,
    *,
    data_dir: str | Path,
    profile: str | Path | Profile = "california",
    results_path: str | Path = "",
    indicators_path: str | Path = "",
    annotations_db: str | Path = "",
    annotations_json: str | Path = "",
    monitoring_path: str | Path = "",
    lea_tables: str | Path = "",
) -> Packet:
    """Read the files a packet notebook's parameters name, then :func:`build_packet`.

    Parameters
    ----------
    lea_id
        The LEA's CDE 7-digit code, as in ``leas.csv`` (keep leading zeros: ``"0173141"``; a
        number that lost them is padded back).
    data_dir
        The canonical data set's folder.
    profile
        A shipped profile name, a profile YAML path, or a :class:`~cimrca.profiles.Profile`.
    results_path
        A statewide results table written by ``cimrca compute`` (``.csv`` or ``.parquet``);
        empty: compute it from the data set (one vectorised pass).
    indicators_path
        Statewide indicator results written by
        :func:`cimrca.indicators.write_indicator_results`; empty: compute them from the data
        set's ``indicators.csv`` (none when the data set has none).
    annotations_db
        An annotation store to read (read-only here;
        :func:`cimrca.packet.write_packet_workbook` then does the full harvest-and-rewrite
        cycle). Empty: none.
    annotations_json
        A file written by the batch's parent process
        (:func:`cimrca.annotations.write_annotations_json`). Empty: none.
    monitoring_path
        The statewide ``monitoring.csv`` a batch wrote (:func:`cimrca.monitoring.write_monitoring`);
        empty: computed from the data set when the profile has a ``monitoring`` section.
    lea_tables
        A batch's per-LEA tables (:class:`cimrca.lea_tables.LeaTables`, ``OUT_DIR/.lea_tables``),
        with ``results_path`` its ``results.parquet``: the data set is not loaded again (the
        batch validated it), only ``leas``, its name and flags, and this LEA's detail rows are
        read; :attr:`Packet.results` holds the rows the packet shows
        (:func:`cimrca.lea_tables.packet_results`), not the whole State. Empty: read the data
        set and the whole results table.

    Returns
    -------
    Packet

    Raises
    ------
    UsageError
        The LEA is not in ``leas.csv`` or has no results; both annotation sources are given;
        the results were computed with another profile.
    DataValidationError
        The data set is invalid.
    AnnotationError
        The annotations file or store is unusable.

    Examples
    --------
    >>> p = load_packet("2071593", data_dir="data/sample")
    >>> p.identified, p.latest_year, p.findings.loc[0, "finding_id"]
    (True, '2024-25', '2024-25:ident_ed:BL')
    """
    if annotations_db and annotations_json:
        raise UsageError(
            "give annotations_db (a hand run reads the store) or annotations_json (the batch "
            "hands over the annotations), not both."
        )
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    if lea_tables:  # a batch: this LEA's rows, not the whole State
        lea_id, dataset, results = _from_lea_tables(lea_id, data_dir, lea_tables, results_path)
        _check_results_profile(results, prof, _resolve(results_path))
    else:
        dataset = _read_once(load_dataset, _resolve(data_dir))
        (lea_id,) = require_leas([lea_id], dataset.leas, source=f"{dataset.path}/leas.csv")
        if results_path:
            source = _resolve(results_path)
            results = _read_once(read_results, source)
            _check_results_profile(results, prof, source)
        else:
            results = compute_results(dataset, prof)
    monitoring = None
    if monitoring_path and prof.monitoring is not None:
        monitoring = _read_once(read_monitoring, _resolve(monitoring_path))
    if indicators_path and lea_tables:  # a batch: the rows this LEA's packet uses
        indicator_results = _packet_indicators(_resolve(lea_tables), lea_id, results, monitoring)
    elif indicators_path:
        indicator_results = _read_once(read_indicator_results, _resolve(indicators_path))
    elif dataset.indicators is not None:
        indicator_results = compute_indicators(dataset.indicators, dataset.targets)
    else:
        indicator_results = None
    notes = None
    if annotations_json:
        notes = PacketAnnotations(*read_annotations_json(_resolve(annotations_json)), "json")
    parameters = {
        "lea_id": lea_id,
        "data_dir": str(data_dir),
        "profile": prof.name if isinstance(profile, Profile) else str(profile),
        "results_path": str(results_path),
        "indicators_path": str(indicators_path),
        "annotations_db": str(annotations_db),
        "annotations_json": str(annotations_json),
        "monitoring_path": str(monitoring_path),
        **({"lea_tables": str(lea_tables)} if lea_tables else {}),
    }
    packet = build_packet(
        lea_id, dataset, results, indicator_results, prof, notes, parameters=parameters,
        monitoring=monitoring,
    )  # fmt: skip
    if annotations_db:
        db = _resolve(annotations_db)
        return replace_annotations(packet, _stored_annotations(packet, db))
    return packet


def replace_annotations(packet: Packet, notes: PacketAnnotations) -> Packet:
    """``packet`` with other annotations (everything else shared, nothing recomputed)."""
    from dataclasses import replace

    return replace(
        packet,
        annotations=dict(notes.values),
        previous_notes=dict(notes.previous_notes),
        orphans=notes.orphans.reset_index(drop=True),
        annotations_source=notes.source,
        annotations_db=notes.db,
    )
