"""One LEA's CIM root-cause packet, and the statewide overview: what the notebooks call.

The packet notebook (``notebooks/lea_packet.ipynb``) and the state overview notebook
(``notebooks/state_overview.ipynb``) are thin (style.md rule 10): every step they show is one
call into this module.

- :func:`load_packet` gathers one LEA's :class:`Packet`: the data set, the statewide results
  (read or computed), the statewide indicator results (read or computed), the LEA's slice (a
  filter), its findings and its stored annotations.
- Display helpers return objects the notebook shows as they are: :func:`packet_header`,
  :func:`summary_markdown`, :func:`findings_table`, :func:`indicators_table`,
  :func:`show_figures`, :func:`consultant_notes_markdown`, :func:`next_steps_markdown`.
- :func:`write_packet_workbook` and :func:`write_findings_json` write the LEA's files;
  :func:`render_html` turns the executed notebook into the offline HTML packet;
  :func:`execute_packet` runs the notebook with papermill for one LEA (by hand and in tests;
  the batch runner executes the same notebook with the same parameters).
- :func:`load_state_overview` and :func:`state_overview` summarise every LEA at once.

Relative paths are resolved against the current working directory. papermill and nbval run a
notebook with its own folder (``notebooks/``) as the working directory, so the notebooks'
defaults (``../data/sample``) work as saved; :func:`execute_packet` makes every path absolute
before it hands it to the notebook.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from . import __version__
from .annotations import (
    ORPHAN_COLUMNS,
    PREVIOUS_NOTE_SHEETS,
    AnnotationKey,
    AnnotationStore,
    Rewrite,
    finish_rewrite,
    prepare_rewrite,
    previous_notes_for,
    split_orphans,
    stored_annotations,
)
from .atomic import atomic_write_text
from .codes import CATEGORY_CODES, CATEGORY_LABELS, RACE_LABELS, RACES
from .dataset import Dataset, load_dataset
from .errors import AnnotationError, UsageError
from .layout import ANNOTATION_COLUMNS
from .methodology import compute_results, lea_slice, read_results
from .profiles import Profile, load_profile
from .workbook import (
    WorkbookInputs,
    load_prompts,
    workbook_filename,
    workbook_keys,
    write_workbook,
)
from .workbook import findings as workbook_findings

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from pandas.io.formats.style import Styler

__all__ = [
    "Packet",
    "StateOverview",
    "MarkdownText",
    "PngImage",
    "PACKET_NOTEBOOK",
    "STATE_NOTEBOOK",
    "TEMPLATE_DIR",
    "TEMPLATE_NAME",
    "KERNEL_NAME",
    "FALLBACK_KERNEL",
    "FIGURE_DPI",
    "SYNTHETIC_MARK",
    "FINDINGS_JSON_VERSION",
    "load_packet",
    "packet_title",
    "packet_header",
    "summary_markdown",
    "findings_table",
    "indicators_table",
    "figure_title",
    "figure_items",
    "show_figures",
    "profile_markdown",
    "files_markdown",
    "state_header",
    "consultant_notes_markdown",
    "next_steps_markdown",
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
]

log = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parent.parent
#: The packet notebook papermill executes once per LEA.
PACKET_NOTEBOOK = _REPO / "notebooks" / "lea_packet.ipynb"
#: The statewide overview notebook.
STATE_NOTEBOOK = _REPO / "notebooks" / "state_overview.ipynb"
#: Folder of nbconvert templates; :data:`TEMPLATE_NAME` is the offline packet template in it.
TEMPLATE_DIR = _REPO / "templates"
TEMPLATE_NAME = "packet"
#: Kernel registered by ``make venv``; papermill falls back to :data:`FALLBACK_KERNEL`.
KERNEL_NAME = "cimrca"
FALLBACK_KERNEL = "python3"
#: Resolution of the packet's chart images (dots per inch): sharp on screen and in print while
#: keeping the HTML and the workbook small and the per-LEA run quick.
FIGURE_DPI = 110
#: Shown in the title and as a banner when the data set is synthetic.
SYNTHETIC_MARK = "SYNTHETIC DATA"
#: Version of the findings JSON layout (bumped when a key is renamed or dropped).
FINDINGS_JSON_VERSION = 1
#: Width, in pixels, at which the packet displays a chart (the HTML scales it down further).
_DISPLAY_WIDTH_PX = 860
#: Key of the output metadata that carries the packet's title to :func:`render_html`.
_TITLE_METADATA = "cimrca_title"

AnnotationSource = Literal["none", "store", "json"]
FigureKind = Literal["ratios", "funnels", "indicators", "all"]

_LEVEL_WORDS = {
    "identified": "Significantly disproportionate",
    "flagged": "Above the threshold",
    "watch": "Approaching the threshold",
}
_RATIO_TYPE_WORDS = {
    "risk_ratio": "risk ratio",
    "alternate_risk_ratio": "alternate risk ratio (State comparison)",
    "not_calculated": "not calculated",
}
_BANNER_STYLE = (
    "background:#C00000;color:#FFFFFF;font-weight:bold;padding:0.6em 1em;"
    "border-radius:4px;margin:0.5em 0 1em;"
)


# --------------------------------------------------------------------------------------------
# Display wrappers
# --------------------------------------------------------------------------------------------


class MarkdownText(str):
    """A string that Jupyter displays as Markdown (and tests read as plain text)."""

    __slots__ = ()

    def _repr_markdown_(self) -> str:
        return str(self)


class PngImage(bytes):
    """PNG bytes that Jupyter displays as an image (embedded in the HTML as a data URI).

    ``alt`` is the image's text alternative (its caption), carried into the HTML.
    """

    alt: str

    def __new__(cls, data: bytes, alt: str = "Chart") -> PngImage:
        obj = super().__new__(cls, data)
        obj.alt = alt
        return obj

    def _repr_png_(self) -> tuple[bytes, dict[str, str]]:
        return bytes(self), {"alt": self.alt}


class _Header:
    """The packet's heading: HTML for display, the title in the output's metadata."""

    def __init__(self, title: str, body_html: str) -> None:
        self.title = title
        self.body_html = body_html

    def _repr_mimebundle_(self, include=None, exclude=None):  # noqa: ANN001 - IPython protocol
        data = {"text/html": self.body_html, "text/plain": self.title}
        return data, {_TITLE_METADATA: self.title}


def _md(text: Any) -> str:
    """Text safe inside Markdown: HTML escaped, Markdown punctuation backslash-escaped.

    A consultant's note such as ``<script src=...>`` or ``*urgent*`` is shown as typed, never
    interpreted (the packet must stay self-contained and faithful).
    """
    s = html.escape(str(text), quote=False)
    # brackets are escaped, so no link or image can form; emphasis, code and tables cannot
    # either. Lines never start inside the text (newlines become <br>), so list and heading
    # markers need no escape.
    s = re.sub(r"([\\`*_\[\]|~])", r"\\\1", s)
    return s.replace("\r\n", "\n").replace("\n", "<br>")


def _fmt_ratio(x: Any) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{float(x):.2f}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _category_label(code: str) -> str:
    return CATEGORY_LABELS.get(code, code)


def _group_label(code: str) -> str:
    return RACE_LABELS.get(code, code)


# --------------------------------------------------------------------------------------------
# The packet
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Packet:
    """Everything one LEA's packet shows (from :func:`load_packet`).

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
        from .charts import figures_to_png, lea_figures

        figs = lea_figures(
            self.results,
            self.indicator_results,
            self.lea_id,
            school_year=self.latest_year,
            lea_name=self.lea_name,
        )
        return figures_to_png(figs, dpi=FIGURE_DPI)

    def workbook_inputs(self, *, with_figures: bool = True) -> WorkbookInputs:
        """The :class:`cimrca.workbook.WorkbookInputs` of this packet.

        ``with_figures=False`` skips rendering the charts (enough for
        :func:`cimrca.workbook.workbook_keys`).
        """
        figures = (
            {figure_title(name, self): png for name, png in self.figures.items()}
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
        )


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


def _empty_orphans() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in ORPHAN_COLUMNS})


def load_packet(
    lea_id: str | int,
    *,
    data_dir: str | Path,
    profile: str | Path | Profile = "california",
    results_path: str | Path = "",
    indicators_path: str | Path = "",
    annotations_db: str | Path = "",
    annotations_json: str | Path = "",
) -> Packet:
    """Load everything one LEA's packet shows.

    Parameters
    ----------
    lea_id
        The LEA's CDE 7-digit code, as in ``leas.csv`` (keep leading zeros: ``"0173141"``).
    data_dir
        The canonical data set's folder.
    profile
        A shipped profile name, a profile YAML path, or a :class:`~cimrca.profiles.Profile`.
    results_path
        A statewide results table written by ``cimrca compute`` (``.csv`` or ``.parquet``);
        empty: compute it from the data set (one vectorised pass).
    indicators_path
        Statewide indicator results written by :func:`write_indicator_results`; empty: compute
        them from the data set's ``indicators.csv`` (none when the data set has none).
    annotations_db
        An annotation store to read (read-only here; :func:`write_packet_workbook` then does the
        full harvest-and-rewrite cycle). Empty: none.
    annotations_json
        A file written by the batch's parent process (:func:`write_annotations_json`); it wins
        over reading a store. Empty: none.

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

    Notes
    -----
    The LEA's rows are a filter of the statewide table, so the State comparison group and the
    alternate risk ratio (34 CFR 300.647(b)(5)(ii)) are the statewide ones.

    Examples
    --------
    >>> p = load_packet("2071593", data_dir="data/sample")
    >>> p.identified, p.latest_year, p.findings.loc[0, "finding_id"]
    (True, '2024-25', '2024-25:ident_ed:BL')
    """
    if isinstance(lea_id, int) and not isinstance(lea_id, bool):
        # `papermill -p lea_id 0110017` parses the code as a number and drops its leading zero
        lea_id = f"{lea_id:07d}"
    lea_id = str(lea_id).strip()
    if annotations_db and annotations_json:
        raise UsageError(
            "give annotations_db (a hand run reads the store) or annotations_json (the batch "
            "hands over the annotations), not both."
        )
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    dataset = _read_once(load_dataset, _resolve(data_dir))
    known = dataset.leas["lea_id"].astype(str)
    if not known.eq(lea_id).any():
        example = known.iloc[0] if len(known) else "0100000"
        raise UsageError(
            f"LEA {lea_id!r} is not in {dataset.path}/leas.csv ({len(known):,} LEAs). Give the "
            f"LEA's 7-digit CDE code as text, with its leading zeros (for example {example!r}).",
            lea_id=lea_id,
        )

    if results_path:
        source = _resolve(results_path)
        results = _read_once(read_results, source)
        _check_results_profile(results, prof, source)
    else:
        results = compute_results(dataset, prof)
    lea_results = lea_slice(results, lea_id)
    found = workbook_findings(lea_results, prof)

    if indicators_path:
        indicator_results = _read_once(read_indicator_results, _resolve(indicators_path))
    elif dataset.indicators is not None:
        from .indicators import compute_indicators

        indicator_results = compute_indicators(dataset.indicators, dataset.targets)
    else:
        indicator_results = None
    indicator_rows = None
    if indicator_results is not None:
        from .indicators import indicator_sheet

        latest = str(lea_results["school_year"].astype(str).max())
        years = set(indicator_results["school_year"].astype(str))
        indicator_rows = indicator_sheet(
            indicator_results, lea_id, school_year=latest if latest in years else None
        )

    packet = Packet(
        lea_id=lea_id,
        lea_name=dataset.lea_name(lea_id),
        profile=prof,
        dataset=dataset,
        results=results,
        lea_results=lea_results,
        findings=found,
        indicator_results=indicator_results,
        indicator_rows=indicator_rows,
        annotations={},
        previous_notes={},
        orphans=_empty_orphans(),
        annotations_source="none",
        annotations_db=None,
        parameters={
            "lea_id": lea_id,
            "data_dir": str(data_dir),
            "profile": prof.name if isinstance(profile, Profile) else str(profile),
            "results_path": str(results_path),
            "indicators_path": str(indicators_path),
            "annotations_db": str(annotations_db),
            "annotations_json": str(annotations_json),
        },
    )
    if annotations_json:
        notes, previous, orphans = read_annotations_json(_resolve(annotations_json))
        return _with_annotations(packet, notes, previous, orphans, "json", None)
    if annotations_db:
        db = _resolve(annotations_db)
        keys = workbook_keys(packet.workbook_inputs(with_figures=False))
        with AnnotationStore(db, create=False) as store:
            matching, orphans = split_orphans(stored_annotations(store, lea_id), keys)
            wanted = [f for s, f in keys if s in PREVIOUS_NOTE_SHEETS]
            previous = previous_notes_for(store, lea_id, wanted)
        return _with_annotations(packet, matching, previous, orphans, "store", db)
    return packet


def _with_annotations(
    packet: Packet,
    annotations: Mapping[AnnotationKey, str],
    previous: Mapping[str, str],
    orphans: pd.DataFrame,
    source: AnnotationSource,
    db: Path | None,
) -> Packet:
    from dataclasses import replace

    return replace(
        packet,
        annotations=dict(annotations),
        previous_notes=dict(previous),
        orphans=orphans.reset_index(drop=True),
        annotations_source=source,
        annotations_db=db,
    )


# --------------------------------------------------------------------------------------------
# Annotations handed over by the batch
# --------------------------------------------------------------------------------------------


def annotations_payload(rewrite: Rewrite) -> dict[str, Any]:
    """The ``annotations_json`` content for one LEA, from :func:`cimrca.annotations.prepare_rewrite`.

    ``{"annotations": [[sheet, finding_id, column, value], ...], "previous_notes": {...},
    "orphans": [record, ...]}``; the batch's parent process writes it before the notebook runs
    and records the workbook's baseline after.
    """
    orphans = rewrite.orphans.astype(object).where(rewrite.orphans.notna(), None)
    return {
        "annotations": [[s, f, c, v] for (s, f, c), v in sorted(rewrite.annotations.items())],
        "previous_notes": dict(sorted(rewrite.previous_notes.items())),
        "orphans": orphans.to_dict("records"),
    }


def write_annotations_json(rewrite: Rewrite, path: str | Path) -> Path:
    """Write :func:`annotations_payload` of ``rewrite`` to ``path``, atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps(annotations_payload(rewrite), indent=1) + "\n")
    return target


def read_annotations_json(
    path: str | Path,
) -> tuple[dict[AnnotationKey, str], dict[str, str], pd.DataFrame]:
    """Read an ``annotations_json`` file: annotations, previous notes and orphans.

    Raises
    ------
    AnnotationError
        The file is missing, not JSON, or not of the layout :func:`annotations_payload` writes.
    """
    file = Path(path)

    def fail(what: str) -> AnnotationError:
        return AnnotationError(
            f"{file}: {what}. The batch writes this file; re-run the batch, or give "
            "annotations_db instead.",
            file=file,
        )

    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail("the annotations file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise fail(f"not a JSON file ({exc})") from None
    if not isinstance(raw, dict):
        raise fail("expected a JSON object with keys annotations, previous_notes and orphans")
    items = raw.get("annotations", [])
    if not isinstance(items, list) or any(
        not isinstance(i, list) or len(i) != 4 or not all(isinstance(x, str) for x in i)
        for i in items
    ):
        raise fail('"annotations" must be a list of [sheet, finding_id, column, value] texts')
    previous = raw.get("previous_notes", {})
    if not isinstance(previous, dict):
        raise fail('"previous_notes" must be an object of finding_id: text')
    records = raw.get("orphans", [])
    if not isinstance(records, list) or any(not isinstance(r, dict) for r in records):
        raise fail('"orphans" must be a list of records')
    orphans = pd.DataFrame.from_records(records, columns=list(ORPHAN_COLUMNS)) if records else None
    return (
        {(s, f, c): v for s, f, c, v in items},
        {str(k): str(v) for k, v in previous.items()},
        orphans if orphans is not None else _empty_orphans(),
    )


# --------------------------------------------------------------------------------------------
# Indicator results on disk (the batch computes them once for every LEA)
# --------------------------------------------------------------------------------------------

_INDICATOR_TEXT = ("school_year", "lea_id", "indicator", "label", "target_status")
_INDICATOR_BOOLEAN = ("higher_is_better", "met", "small_denominator")


def write_indicator_results(indicator_results: pd.DataFrame, path: str | Path) -> Path:
    """Write statewide indicator results to ``.parquet`` or ``.csv`` (by extension), atomically."""
    from .atomic import atomic_path

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise UsageError(f"indicator results file must end in .csv or .parquet: {target.name!r}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        if suffix == ".parquet":
            indicator_results.to_parquet(tmp, index=False)
        else:
            indicator_results.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    return target


def read_indicator_results(path: str | Path) -> pd.DataFrame:
    """Read indicator results written by :func:`write_indicator_results`, codes as text."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(
            f"indicator results file {file} does not exist. Give the file the batch wrote, or "
            "leave indicators_path empty to compute them from the data set."
        )
    if file.suffix.lower() == ".parquet":
        return pd.read_parquet(file)
    frame = pd.read_csv(
        file,
        dtype={c: str for c in _INDICATOR_TEXT},
        keep_default_na=False,
        na_values=[""],
    )
    for column in _INDICATOR_BOOLEAN:
        if column in frame:
            text = frame[column].astype("string").str.strip().str.lower()
            frame[column] = text.map({"true": True, "false": False}).astype("boolean")
    return frame


# --------------------------------------------------------------------------------------------
# What the notebook shows
# --------------------------------------------------------------------------------------------


def packet_title(packet: Packet) -> str:
    """``"<LEA name> (<lea_id>) - CIM root-cause packet, <latest year>[ - SYNTHETIC DATA]"``.

    Examples
    --------
    >>> packet_title(load_packet("2071593", data_dir="data/sample"))
    'Rushmere Valley Unified School District (2071593) - CIM root-cause packet, 2024-25 - SYNTHETIC DATA'
    """
    title = f"{packet.lea_name} ({packet.lea_id}) - CIM root-cause packet, {packet.latest_year}"
    return f"{title} - {SYNTHETIC_MARK}" if packet.is_synthetic else title


def packet_header(packet: Packet) -> _Header:
    """The packet's heading (LEA, year, profile, data set) with a banner for synthetic data.

    Displayed as HTML; the title travels in the output's metadata, where :func:`render_html`
    finds it.
    """
    title = packet_title(packet)
    e = html.escape
    years = packet.school_years
    span = f"{years[0]} to {years[-1]}" if len(years) > 1 else years[0]
    parts = []
    if packet.is_synthetic:
        parts.append(
            f'<div style="{_BANNER_STYLE}">{SYNTHETIC_MARK}: this packet was made from the '
            f"synthetic data set {e(packet.dataset.name or '(unnamed)')!s}. It describes no "
            "real LEA, school or student. Do not use it for monitoring decisions.</div>"
        )
    parts.append(f"<h1>{e(packet.lea_name)} ({e(packet.lea_id)})</h1>")
    parts.append(
        f"<p><strong>CIM root-cause packet: significant disproportionality and SPP/APR "
        f"indicators, {e(packet.latest_year)}</strong><br>"
        f"School years {e(span)} &middot; profile {e(packet.profile.name)} &middot; data set "
        f"{e(packet.dataset.name or str(packet.dataset.path))} &middot; cimrca {e(__version__)}"
        "</p>"
    )
    return _Header(title, "\n".join(parts))


def _finding_line(r: Mapping[str, Any], years_required: int) -> str:
    n = int(r["consecutive_years"]) if pd.notna(r["consecutive_years"]) else 0
    what = f"**{_md(_category_label(r['category']))}, {_md(_group_label(r['race_ethnicity']))}**"
    ratio = (
        f"{_RATIO_TYPE_WORDS.get(r['ratio_type'], r['ratio_type'])} {_fmt_ratio(r['ratio'])} "
        f"in {r['school_year']} (threshold {_fmt_ratio(r['threshold'])})"
    )
    if r["level"] == "watch":
        return f"- {what}: {ratio}; not above the threshold."
    over = r.get("students_over_threshold")
    extra = ""
    if over is not None and pd.notna(over) and float(over) > 0:
        k = int(math.ceil(float(over)))
        extra = (
            f"; {_plural(k, 'fewer student')} in this count would bring the ratio down to the "
            "threshold"
        )
    run = f"above the threshold {_plural(n, 'year')} in a row"
    if r["level"] == "flagged":
        left = max(years_required - n, 0)
        run += f" ({_plural(left, 'more year')} would lead to identification)"
    return f"- {what}: {run}; {ratio}{extra}."


def _cceis_fraction() -> float:
    return float(load_prompts()["action_plan"]["cceis_reservation_fraction"])


def summary_markdown(packet: Packet) -> MarkdownText:
    """The monitoring status in plain words: identified or not, in what, for how long, and next.

    Notes
    -----
    An LEA is significantly disproportionate in a category and group when the ratio used
    exceeded the threshold in ``years_required`` consecutive years (34 CFR 300.647(d)(1));
    identification requires a review of policies, practices and procedures (300.646(c)) and the
    reservation of 15% of IDEA Part B funds for CCEIS (300.646(d)).
    """
    f, p, yr = packet.findings, packet.profile, packet.latest_year
    ident = f[f["level"] == "identified"].to_dict("records")
    flagged = f[f["level"] == "flagged"].to_dict("records")
    watch = f[f["level"] == "watch"].to_dict("records")
    name = _md(packet.lea_name)
    lines: list[str] = []
    if ident:
        lines.append(
            f"**{name} is significantly disproportionate in {yr}** (34 CFR 300.647) in "
            f"{_plural(len(ident), 'category and group', 'categories and groups')}:"
        )
        lines.append("")
        lines += [_finding_line(r, p.years_required) for r in ident]
    else:
        lines.append(
            f"**{name} is not significantly disproportionate in {yr}.** No category and group "
            f"had a ratio above the threshold for {p.years_required} consecutive years."
        )
    if flagged:
        lines += [
            "",
            f"Above the threshold in {yr}, but not (yet) for {p.years_required} years in a row:",
            "",
        ]
        lines += [_finding_line(r, p.years_required) for r in flagged]
    if watch:
        lines += [
            "",
            f"Approaching the threshold (a ratio of at least {p.watch_fraction:.0%} of it) "
            f"in {yr}:",
            "",
        ]
        lines += [_finding_line(r, p.years_required) for r in watch]
    if not (ident or flagged or watch):
        lines += [
            "",
            f"No category and group reached {p.watch_fraction:.0%} of the threshold in {yr}, "
            "so the packet lists no findings.",
        ]
    lines += ["", _next_step_sentence(packet)]
    return MarkdownText("\n".join(lines))


def _next_step_sentence(packet: Packet) -> str:
    f = packet.findings
    if packet.identified:
        return (
            f"**What CIM asks next:** identify the root causes of each identified finding with "
            f"the workbook's Root Causes sheet, plan improvement activities on its Action Plan "
            f"sheet, and reserve {_cceis_fraction():.0%} of the LEA's IDEA Part B funds for "
            "comprehensive coordinated early intervening services (CCEIS)."
        )
    if (f["level"] == "flagged").any():
        return (
            "**What CIM asks next:** nothing is required yet, but a ratio that stays above the "
            "threshold leads to identification; starting the root-cause review now (Root Causes "
            "sheet of the workbook) gives the LEA time to act."
        )
    return "**What CIM asks next:** no action on significant disproportionality this year."


def next_steps_markdown(packet: Packet) -> MarkdownText:
    """What CIM asks of the LEA next, by its status (the packet's closing section).

    Notes
    -----
    34 CFR 300.646(c): review and, if appropriate, revise policies, practices and procedures;
    300.646(d): reserve 15% of IDEA Part B funds for CCEIS and identify the factors
    contributing to the disproportionality (the root causes).
    """
    f = packet.findings
    frac = _cceis_fraction()
    if packet.identified:
        items = [
            "Review the findings with the LEA team; record a status and a note for each on the "
            "workbook's Disproportionality sheet (yellow columns).",
            "Identify the root causes of each identified finding: the Root Causes sheet walks "
            "through a problem-of-practice statement, a fishbone of possible causes, five whys "
            "and hypotheses to test with local data.",
            "Review, and where needed revise, the policies, practices and procedures behind "
            "each finding (34 CFR 300.646(c)), and report any revisions publicly.",
            f"Reserve {frac:.0%} of the LEA's IDEA Part B funds for comprehensive coordinated "
            "early intervening services (CCEIS, 34 CFR 300.646(d)), aimed at the root causes; "
            "plan the activities, owners, timelines and measures on the Action Plan sheet.",
        ]
    elif (f["level"] == "flagged").any():
        items = [
            "No identification this year: nothing is required yet.",
            "The findings above the threshold lead to identification if they stay there. "
            "Reviewing them now (Disproportionality and Root Causes sheets) gives the LEA time "
            "to change practice before it must reserve funds for CCEIS.",
        ]
    else:
        items = [
            "No identification and no ratio above the threshold this year: no action on "
            "significant disproportionality is required.",
            "Keep reviewing the SPP/APR indicators above with the LEA team.",
        ]
    return MarkdownText("\n".join(f"{i}. {t}" for i, t in enumerate(items, start=1)))


#: Left alignment for the text columns of the packet's tables (numbers stay right-aligned).
_LEFT = {"text-align": "left"}


def _level_style(level: str) -> str:
    colours = {"identified": "#F4B6B6", "flagged": "#F9CB9C", "watch": "#DDEBF7"}
    return f"background-color: {colours.get(level, '#FFFFFF')}"


def findings_table(packet: Packet) -> Styler | MarkdownText:
    """The findings as a styled table: status, category, group, ratio by year, students over.

    Ratios above their threshold are bold and dark red; rows are coloured by level
    (identified, above the threshold, approaching). Numbers are formatted here only; the
    findings keep full precision (style.md rule 4).
    """
    f = packet.findings
    if f.empty:
        return MarkdownText(
            f"No category and group reached {packet.profile.watch_fraction:.0%} of the "
            f"threshold in {packet.latest_year}."
        )
    from .workbook import RATIO_PREFIX

    ratio_cols = [c for c in f.columns if c.startswith(RATIO_PREFIX)]
    year_labels = {c: c[len(RATIO_PREFIX) :] for c in ratio_cols}
    table = pd.DataFrame(
        {
            "Status": f["level"].map(_LEVEL_WORDS),
            "Category": f["category"].map(_category_label),
            "Group": f["race_ethnicity"].map(_group_label),
            **{year_labels[c]: pd.to_numeric(f[c], errors="coerce") for c in ratio_cols},
            "Ratio used": f["ratio_type"].map(_RATIO_TYPE_WORDS),
            "Threshold": pd.to_numeric(f["threshold"], errors="coerce"),
            "Years in a row above": pd.to_numeric(f["consecutive_years"], errors="coerce"),
            "Students over threshold": pd.to_numeric(f["students_over_threshold"], errors="coerce"),
        }
    )
    years = list(year_labels.values())
    over = table[years].gt(table["Threshold"], axis=0)
    css = pd.DataFrame("", index=table.index, columns=table.columns)
    css[years] = over.replace({True: "font-weight: bold; color: #9C0006", False: ""})
    css["Status"] = f["level"].map(_level_style)
    return (
        table.style.hide(axis="index")
        .set_properties(subset=["Status", "Category", "Group", "Ratio used"], **_LEFT)
        .format("{:.2f}", subset=[*years, "Threshold"], na_rep="-")
        .format("{:,.0f}", subset=["Years in a row above", "Students over threshold"], na_rep="-")
        .apply(lambda _: css, axis=None)
    )


def indicators_table(packet: Packet) -> Styler | MarkdownText:
    """The LEA's SPP/APR indicators: rate by year, State rate, target, met or not, trend."""
    rows = packet.indicator_rows
    if rows is None or rows.empty:
        return MarkdownText("The data set has no SPP/APR indicator rows for this LEA.")
    rate_cols = [c for c in rows.columns if c.startswith("rate ")]
    # rows come in reading order from indicators.indicator_sheet (1, 2, 3A_ELA, ..., 11, ...)
    table = pd.DataFrame(
        {
            "Indicator": rows["indicator"].astype(str),
            "What it measures": rows["label"].astype(str),
            **{c[len("rate ") :]: pd.to_numeric(rows[c], errors="coerce") for c in rate_cols},
            "State": pd.to_numeric(rows["state_rate"], errors="coerce"),
            "Target": pd.to_numeric(rows["target"], errors="coerce"),
            "Target met": rows["met"].astype(str),
            "Years missed in a row": pd.to_numeric(rows["consecutive_missed"], errors="coerce"),
            "Trend": rows["trend_direction"].astype(str),
        }
    )
    pct = [c[len("rate ") :] for c in rate_cols] + ["State", "Target"]
    css = pd.DataFrame("", index=table.index, columns=table.columns)
    css["Target met"] = (
        table["Target met"]
        .map({"not met": "background-color: #F9CB9C", "met": "background-color: #E2EFDA"})
        .fillna("")
    )
    css["Trend"] = table["Trend"].map({"worsening": "background-color: #F9CB9C"}).fillna("")
    return (
        table.style.hide(axis="index")
        .set_properties(subset=["Indicator", "What it measures", "Target met", "Trend"], **_LEFT)
        .format("{:.1%}", subset=pct, na_rep="-")
        .format("{:,.0f}", subset=["Years missed in a row"], na_rep="-")
        .apply(lambda _: css, axis=None)
    )


def figure_title(name: str, packet: Packet | None = None) -> str:
    """A chart's caption from its :func:`cimrca.charts.lea_figures` name.

    Examples
    --------
    >>> figure_title("funnel_ident_ed_BL")
    'Every LEA compared: Identification, emotional disturbance - Black or African American'
    """
    year = f", {packet.latest_year}" if packet is not None else ""
    if name == "ratio_trajectories":
        return "Ratio by school year, for every category and group above the threshold in a year"
    if name == "ratio_heatmap":
        return f"All ratios by category and group{year}"
    if name == "indicator_trends":
        return "SPP/APR indicators against their targets, latest school year, with each trend"
    if name.startswith("funnel_"):
        rest = name[len("funnel_") :]
        category, _, race = rest.rpartition("_")
        return f"Every LEA compared: {_category_label(category)} - {_group_label(race)}"
    return name.replace("_", " ")


_FIGURE_KINDS: dict[str, tuple[str, ...]] = {
    "ratios": ("ratio_heatmap", "ratio_trajectories"),
    "indicators": ("indicator_trends",),
}


def figure_items(packet: Packet, kind: FigureKind = "all") -> list[MarkdownText | PngImage]:
    """The packet's charts of one kind, each preceded by its caption.

    Parameters
    ----------
    packet
        The packet.
    kind
        ``"ratios"`` (heat map and ratio trends), ``"funnels"`` (every LEA compared, for the
        findings above the threshold), ``"indicators"`` or ``"all"``.

    Returns
    -------
    list
        Captions (:class:`MarkdownText`) and images (:class:`PngImage`) in display order; a
        kind without charts gives a one-line note instead.
    """
    names = list(packet.figures)
    if kind == "funnels":
        chosen = [n for n in names if n.startswith("funnel_")]
    elif kind == "all":
        chosen = names
    elif kind in _FIGURE_KINDS:
        chosen = [n for n in _FIGURE_KINDS[kind] if n in packet.figures]
    else:
        raise UsageError(f"kind must be ratios, funnels, indicators or all, not {kind!r}.")
    items: list[MarkdownText | PngImage] = []
    for name in chosen:
        caption = figure_title(name, packet)
        items.append(MarkdownText(f"**{_md(caption)}**"))
        items.append(PngImage(packet.figures[name], alt=caption))
    if not chosen:
        empty = {
            "funnels": f"No ratio was above the threshold in {packet.latest_year}, so there is "
            "no chart comparing every LEA.",
            "indicators": "No SPP/APR indicator data for this LEA.",
        }
        items.append(MarkdownText(empty.get(kind, "No charts.")))
    return items


def show_figures(packet: Packet, kind: FigureKind = "all") -> None:
    """Display :func:`figure_items` in the running notebook (nothing outside a kernel)."""
    _display(figure_items(packet, kind))


def _display(items: Iterable[Any]) -> None:
    """Show items in a running kernel; do nothing elsewhere (tests, plain Python)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    if get_ipython() is None:
        return
    for item in items:
        if isinstance(item, PngImage):
            display(
                Image(
                    data=bytes(item),
                    format="png",
                    width=_DISPLAY_WIDTH_PX,
                    metadata={"alt": item.alt},
                )
            )
        else:
            display(item)


def _finding_label(finding_id: str) -> str:
    parts = finding_id.split(":")
    if len(parts) >= 3 and parts[1] == "indicator":
        return f"Indicator {parts[2]} ({parts[0]})"
    if len(parts) >= 3:
        return f"{_category_label(parts[1])}, {_group_label(parts[2])} ({parts[0]})"
    return finding_id


def consultant_notes_markdown(packet: Packet) -> MarkdownText:
    """The "Consultant notes" section: the review recorded for this LEA's findings.

    Lists, by finding, the stored status, note, reviewer and date, the root-cause and
    action-plan entries, and the earlier year's review (``previous_note``). A packet printed
    after the review therefore carries it. "No notes yet" when nothing is stored.

    Notes
    -----
    outputs.md sections 4 and 5: annotations belong to a school year's finding; earlier years'
    notes show read-only as the previous note; annotations whose finding is gone are kept
    (counted here, listed on the workbook's ``Orphaned annotations`` sheet).
    """
    notes = pd.DataFrame(
        [(s, f, c, v) for (s, f, c), v in packet.annotations.items() if str(v).strip()],
        columns=["sheet", "finding_id", "column", "value"],
    )
    if not notes.empty:
        parts = notes["finding_id"].str.split(":")
        notes["finding"] = parts.str[:3].str.join(":")
        notes["entry"] = np.where(parts.str.len() > 3, parts.str[3:].str.join(":"), "")
        order = {
            col: i for i, col in enumerate(c for cols in ANNOTATION_COLUMNS.values() for c in cols)
        }
        notes["_order"] = notes["column"].map(order).fillna(len(order))
        notes = notes.sort_values(["finding", "entry", "_order"], kind="stable")
    findings = (
        sorted(set(notes["finding"]) | set(packet.previous_notes))
        if len(notes)
        else sorted(packet.previous_notes)
    )
    if not findings:
        lines = [
            "No notes yet. The consultant's review goes into the yellow columns of the LEA's "
            "workbook; the next run stores it and shows it here."
        ]
    else:
        lines = []
        for finding in findings:
            lines.append(f"**{_md(_finding_label(finding))}**")
            lines.append("")
            rows = notes[notes["finding"] == finding] if len(notes) else notes
            for entry, group in rows.groupby("entry", sort=False) if len(rows) else []:
                where = _entry_label(entry)
                text = "; ".join(
                    f"{_md(c.replace('_', ' '))}: {_md(v)}"
                    for c, v in zip(group["column"], group["value"], strict=True)
                )
                lines.append(f"- {where}{text}")
            if finding in packet.previous_notes:
                lines.append(f"- earlier review: {_md(packet.previous_notes[finding])}")
            lines.append("")
    n_orphans = len(packet.orphans)
    if n_orphans:
        lines.append(
            f"{_plural(n_orphans, 'stored note')} belong to findings of earlier years or findings "
            "no longer listed; the workbook keeps them on its Orphaned annotations sheet."
        )
    return MarkdownText("\n".join(lines).strip())


def _entry_label(entry: str) -> str:
    if entry.startswith("rc:"):
        return f"root cause entry {entry[3:]}: "
    if entry.startswith("ap:"):
        return f"action plan entry {entry[3:]}: "
    return ""


def _profile_values(values: Mapping[str, float]) -> str:
    """``3`` or ``3 (disc_tdr 2.5)``: the common value, then the categories that differ."""
    series = pd.Series(dict(values), dtype=float)
    common = series.mode().iloc[0]
    other = ", ".join(f"{k} {v:g}" for k, v in series.items() if v != common)
    return f"{common:g}" + (f" ({other})" if other else "")


def profile_markdown(packet: Packet) -> MarkdownText:
    """The rules this packet applied, with the profile's values, in plain words.

    Notes
    -----
    34 CFR 300.647(b)(1): the State sets the threshold, the minimum cell and n-sizes and the
    number of consecutive years (up to three); methodology.md section 6 keeps them in a profile.
    """
    p = packet.profile
    progress = (
        "on: a ratio that fell in each of the two prior years is not identified"
        if p.reasonable_progress
        else "off"
    )
    skip = f" School years set aside: {', '.join(p.skip_years)}." if p.skip_years else ""
    return MarkdownText(
        f"This packet applies the **{_md(p.name)}** profile: a ratio above "
        f"**{_profile_values(p.threshold)}** exceeds the threshold; a ratio is calculated when "
        f"the group has at least {_profile_values(p.min_cell)} students with the outcome and "
        f"{_profile_values(p.min_n)} in its base population; **{p.years_required} consecutive "
        f"years** above the threshold identify the LEA; reasonable progress is {progress}; "
        f"findings are listed from {p.watch_fraction:.0%} of the threshold.{skip}"
    )


def files_markdown(*paths: str | Path) -> MarkdownText:
    """A short list of the files written, by name (the packet travels without full paths)."""
    kinds = {".xlsx": "Root-cause workbook", ".json": "Findings (machine-readable)"}
    lines = [f"- {kinds.get(Path(p).suffix, 'File')}: `{Path(p).name}`" for p in paths]
    return MarkdownText("Written beside this packet:\n\n" + "\n".join(lines))


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_packet_workbook(packet: Packet, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<lea_id>_workbook.xlsx`` with the stored annotations.

    Loaded with ``annotations_db`` (a hand run), it does the whole cycle itself: harvest the
    existing workbook (a consultant's edits are stored before it is replaced), write the new
    one with the stored values, record its baseline. Loaded with ``annotations_json`` (the
    batch), it only writes: the batch's parent process harvests before and records after.

    Raises
    ------
    WorkbookError
        The existing workbook is open in another program or unreadable (it is then left as it
        was), or the new one cannot be written.

    Notes
    -----
    outputs.md section 5: a re-run harvests a workbook before it replaces it, so a
    consultant's note can never be lost; the write is atomic.
    """
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / workbook_filename(packet.lea_id)
    inputs = packet.workbook_inputs()
    if packet.annotations_source == "store" and packet.annotations_db is not None:
        with AnnotationStore(packet.annotations_db) as store:
            rewrite = prepare_rewrite(
                store, packet.lea_id, path, workbook_keys(inputs), command="packet"
            )
            write_workbook(
                path,
                inputs,
                annotations=rewrite.annotations,
                previous_notes=rewrite.previous_notes,
                orphans=rewrite.orphans,
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
    write_workbook(
        path,
        inputs,
        annotations=dict(packet.annotations),
        previous_notes=dict(packet.previous_notes),
        orphans=packet.orphans if len(packet.orphans) else None,
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
    from .workbook import RATIO_PREFIX

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
    path = out / f"{packet.lea_id}_findings.json"
    text = json.dumps(findings_payload(packet), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return path


# --------------------------------------------------------------------------------------------
# HTML and execution
# --------------------------------------------------------------------------------------------


def _title_from_outputs(nb: Any) -> str | None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            title = output.get("metadata", {}).get(_TITLE_METADATA)
            if title:
                return str(title)
    return None


def _template_dir() -> Path:
    """The folder holding ``packet/``: the repository's ``templates/``, else the installed copy."""
    from importlib import resources

    candidates = [TEMPLATE_DIR, Path(str(resources.files("cimrca") / "templates"))]
    for folder in candidates:
        if (folder / TEMPLATE_NAME / "index.html.j2").is_file():
            return folder
    raise UsageError(
        f"the HTML packet template {TEMPLATE_NAME}/index.html.j2 was not found (looked in "
        f"{', '.join(str(c) for c in candidates)}). Reinstall cimrca from the repository."
    )


@functools.lru_cache(maxsize=2)
def _html_exporter(template_dir: str):
    """The packet's HTML exporter, made once per process: its templates load and compile once
    (a batch worker renders packet after packet)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[template_dir],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )


def render_html(
    notebook_path: str | Path, html_path: str | Path, *, title: str | None = None
) -> Path:
    """Render an executed notebook as the offline HTML packet, without code, atomically.

    Parameters
    ----------
    notebook_path
        The executed notebook.
    html_path
        The HTML file to write.
    title
        The page title; ``None`` takes the title the packet's header recorded in its output
        (:func:`packet_header`), else the notebook's file name.

    Returns
    -------
    pathlib.Path
        ``html_path``.

    Notes
    -----
    README decision 5: the page is self-contained. The ``templates/packet`` template empties
    every block of the stock templates that links a script from a CDN (require.js, MathJax,
    Mermaid, widgets); styles are inlined and images are data URIs. Code cells, prompts and
    ``stderr`` streams (warnings) are left out; the executed notebook keeps all of them.
    """
    import nbformat

    source = Path(notebook_path)
    nb = nbformat.read(source, as_version=4)
    title = title or _title_from_outputs(nb) or source.stem
    for cell in nb.cells:
        if "outputs" in cell:
            cell["outputs"] = [
                o
                for o in cell["outputs"]
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    nb.metadata["title"] = title
    body, _ = _html_exporter(str(_template_dir())).from_notebook_node(
        nb, resources={"metadata": {"name": title}}
    )
    target = Path(html_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, body)
    return target


def kernel_name() -> str:
    """:data:`KERNEL_NAME` when that kernelspec is installed, else :data:`FALLBACK_KERNEL`."""
    from jupyter_client.kernelspec import KernelSpecManager

    names = KernelSpecManager().find_kernel_specs()
    return KERNEL_NAME if KERNEL_NAME in names else FALLBACK_KERNEL


def _path_parameter(value: str | Path) -> str:
    return str(_resolve(value)) if str(value) else ""


def execute_packet(
    lea_id: str,
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    profile: str | Path = "california",
    results_path: str | Path = "",
    indicators_path: str | Path = "",
    annotations_db: str | Path = "",
    annotations_json: str | Path = "",
    notebook: str | Path = PACKET_NOTEBOOK,
    kernel: str | None = None,
    timeout_seconds: float = 600,
) -> dict[str, Path | float]:
    """Run the packet notebook for one LEA with papermill, then render its HTML.

    Parameters
    ----------
    lea_id, data_dir, profile, results_path, indicators_path, annotations_db, annotations_json
        The notebook's parameters (:func:`load_packet`). Paths are made absolute against the
        current working directory before they reach the notebook.
    out_dir
        Receives ``<lea_id>.ipynb`` (executed), ``<lea_id>.html``, the workbook and the
        findings JSON.
    notebook
        The notebook to execute; default the repository's ``notebooks/lea_packet.ipynb``.
    kernel
        Kernel name; default :func:`kernel_name`.
    timeout_seconds
        Longest time one cell may run.

    Returns
    -------
    dict
        ``notebook``, ``html``, ``workbook``, ``findings`` (paths) and ``seconds``.

    Raises
    ------
    papermill.PapermillExecutionError
        A cell failed; the partial notebook stays at ``<out_dir>/<lea_id>.ipynb``.
    """
    import papermill as pm

    started = time.perf_counter()
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = _resolve(notebook)
    lea_id = str(lea_id)
    executed = out / f"{lea_id}.ipynb"
    parameters = {
        "lea_id": lea_id,
        "data_dir": _path_parameter(data_dir),
        "out_dir": str(out),
        "profile": _path_parameter(profile) if Path(str(profile)).suffix else str(profile),
        "results_path": _path_parameter(results_path),
        "indicators_path": _path_parameter(indicators_path),
        "annotations_db": _path_parameter(annotations_db),
        "annotations_json": _path_parameter(annotations_json),
    }
    pm.execute_notebook(
        str(source),
        str(executed),
        parameters=parameters,
        kernel_name=kernel or kernel_name(),
        cwd=str(source.parent),
        progress_bar=False,
        execution_timeout=timeout_seconds,
    )
    page = render_html(executed, out / f"{lea_id}.html")
    return {
        "notebook": executed,
        "html": page,
        "workbook": out / workbook_filename(lea_id),
        "findings": out / f"{lea_id}_findings.json",
        "seconds": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------------------------
# The statewide overview
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class StateOverview:
    """The statewide overview (from :func:`load_state_overview`).

    ``tables`` holds the frames of :func:`state_overview`; ``results`` the statewide table.
    """

    dataset: Dataset
    profile: Profile
    results: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]

    @property
    def latest_year(self) -> str:
        return str(self.results["school_year"].astype(str).max())


def load_state_overview(
    *,
    data_dir: str | Path,
    profile: str | Path | Profile = "california",
    results_path: str | Path = "",
) -> StateOverview:
    """Load the data set and the statewide results (read or computed) and summarise them."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    dataset = load_dataset(_resolve(data_dir))
    if results_path:
        source = _resolve(results_path)
        results = read_results(source)
        _check_results_profile(results, prof, source)
    else:
        results = compute_results(dataset, prof)
    tables = state_overview(results, prof, leas=dataset.leas)
    return StateOverview(dataset=dataset, profile=prof, results=results, tables=tables)


def _truthy(s: pd.Series) -> pd.Series:
    if s.dtype == bool:
        return s
    text = s.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "1.0"]).fillna(False).astype(bool)


def state_overview(
    results: pd.DataFrame, profile: Profile, *, leas: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """Who is identified statewide, in what, how close others are, and how ratios spread.

    Parameters
    ----------
    results
        The statewide results table (outputs.md section 2).
    profile
        The profile the results were computed with (``years_required``).
    leas
        ``leas.csv`` (``lea_id``, ``lea_name``) for names; optional.

    Returns
    -------
    dict of DataFrame
        - ``counts``: ``measure``, ``leas``: LEAs in the results, identified, above the threshold
          in the latest year, one and two years from identification;
        - ``by_category``: identified LEAs by category (rows) and group (columns);
        - ``identified``: one row per identified category and group of an LEA;
        - ``near``: rows of the latest year one or two flagged years from identification
          (``consecutive_years`` = ``years_required`` - 1 or - 2, not identified);
        - ``distribution``: by category, how many ratios were calculated, their median, 90th
          percentile and maximum, and how many exceed the threshold;
        - ``leas``: one row per LEA with its counts of identified and flagged findings and its
          fewest years to identification.

    Notes
    -----
    All LEAs at once, by filters and group-bys (style.md rule 2). A row
    ``consecutive_years`` = ``years_required`` - k away is identified after k more flagged
    years (34 CFR 300.647(d)(1)).

    Examples
    --------
    >>> from cimrca import compute_results, load_dataset, load_profile
    >>> prof = load_profile("california")
    >>> res = compute_results(load_dataset("data/sample"), prof)
    >>> "2071593" in set(state_overview(res, prof)["identified"]["lea_id"])
    True
    """
    latest = str(results["school_year"].astype(str).max())
    now = results[results["school_year"].astype(str) == latest].copy()
    now["lea_id"] = now["lea_id"].astype(str)
    now["ratio"] = pd.to_numeric(now["ratio"], errors="coerce")
    now["threshold"] = pd.to_numeric(now["threshold"], errors="coerce")
    now["consecutive_years"] = pd.to_numeric(now["consecutive_years"], errors="coerce").fillna(0)
    sd = _truthy(now["significantly_disproportionate"])
    flagged = _truthy(now["exceeds_threshold"])
    names = (
        leas.assign(lea_id=leas["lea_id"].astype(str)).set_index("lea_id")["lea_name"]
        if leas is not None
        else pd.Series(dtype=object)
    )
    required = profile.years_required
    away = (required - now["consecutive_years"]).where(flagged & ~sd)
    now["years_to_identification"] = away
    labelled = now.assign(
        lea_name=now["lea_id"].map(names).fillna(""),
        category_label=now["category"].map(_category_label),
        group_label=now["race_ethnicity"].map(_group_label),
    )
    row_cols = [
        "lea_id", "lea_name", "category", "category_label", "race_ethnicity", "group_label",
        "ratio", "ratio_type", "consecutive_years",
    ]  # fmt: skip
    identified = labelled.loc[sd, row_cols].sort_values(["lea_id", "category", "race_ethnicity"])
    labelled["years_to_identification"] = labelled["years_to_identification"].astype("Int64")
    near = labelled.loc[away.isin([1, 2]), [*row_cols, "years_to_identification"]].sort_values(
        ["years_to_identification", "lea_id", "category", "race_ethnicity"]
    )
    all_leas = pd.Index(sorted(now["lea_id"].unique()), name="lea_id")
    per_lea = pd.DataFrame(
        {
            "lea_name": all_leas.map(lambda x: names.get(x, "")),
            "identified_findings": sd.groupby(now["lea_id"]).sum().reindex(all_leas).fillna(0),
            "flagged_findings": flagged.groupby(now["lea_id"]).sum().reindex(all_leas).fillna(0),
            "years_to_identification": away.groupby(now["lea_id"]).min().reindex(all_leas),
        },
        index=all_leas,
    )
    per_lea["identified"] = per_lea["identified_findings"] > 0
    per_lea = per_lea.reset_index()
    counts = pd.DataFrame(
        {
            "measure": [
                f"LEAs in the results ({latest})",
                "LEAs significantly disproportionate",
                "LEAs above the threshold in a category and group",
                "LEAs one flagged year from identification",
                "LEAs two flagged years from identification",
            ],
            "leas": [
                len(all_leas),
                int(per_lea["identified"].sum()),
                int((per_lea["flagged_findings"] > 0).sum()),
                int(near.loc[near["years_to_identification"] == 1, "lea_id"].nunique()),
                int(near.loc[near["years_to_identification"] == 2, "lea_id"].nunique()),
            ],
        }
    )
    by_category = (
        pd.crosstab(identified["category"], identified["race_ethnicity"])
        .reindex(index=list(CATEGORY_CODES), columns=list(RACES), fill_value=0)
        .rename(index=_category_label, columns=_group_label)
    )
    by_category.index.name, by_category.columns.name = "category", None
    calc = now[now["ratio"].notna()]
    grouped = calc.groupby("category")["ratio"]
    distribution = pd.DataFrame(
        {
            "ratios calculated": grouped.size(),
            "median": grouped.median(),
            "90th percentile": grouped.quantile(0.9),
            "maximum": grouped.max(),
            "above the threshold": flagged[calc.index].groupby(calc["category"]).sum(),
        }
    ).reindex([c for c in CATEGORY_CODES if c in set(calc["category"])])
    distribution.index = distribution.index.map(_category_label)
    distribution.index.name = "category"
    return {
        "counts": counts,
        "by_category": by_category,
        "identified": identified.reset_index(drop=True),
        "near": near.reset_index(drop=True),
        "distribution": distribution,
        "leas": per_lea,
    }


def state_header(overview: StateOverview) -> _Header:
    """The overview's heading, with a banner when the data set is synthetic."""
    e = html.escape
    title = f"Significant disproportionality: statewide overview, {overview.latest_year}"
    if overview.dataset.is_synthetic:
        title += f" - {SYNTHETIC_MARK}"
    parts = []
    if overview.dataset.is_synthetic:
        parts.append(
            f'<div style="{_BANNER_STYLE}">{SYNTHETIC_MARK}: made from the synthetic data set '
            f"{e(overview.dataset.name or '(unnamed)')}. It describes no real LEA.</div>"
        )
    parts.append(f"<h1>Statewide overview, {e(overview.latest_year)}</h1>")
    parts.append(
        f"<p>Profile {e(overview.profile.name)} &middot; data set "
        f"{e(overview.dataset.name or str(overview.dataset.path))} &middot; cimrca "
        f"{e(__version__)}</p>"
    )
    return _Header(title, "\n".join(parts))


def state_summary_markdown(overview: StateOverview) -> MarkdownText:
    """The statewide status in plain words."""
    t, p, yr = overview.tables, overview.profile, overview.latest_year
    counts = dict(zip(t["counts"]["measure"], t["counts"]["leas"], strict=True))
    values = list(counts.values())
    n, ident, above, one, two = values
    lines = []
    lines.append(
        f"In {yr}, **{ident} of {n} LEAs** are significantly disproportionate (a ratio above the "
        f"threshold for {p.years_required} consecutive years in at least one category and "
        f"group); {above} have at least one ratio above the threshold this year."
    )
    lines.append("")
    lines.append(
        f"{_plural(one, 'LEA')} would be identified after one more year above the threshold, "
        f"and {_plural(two, 'LEA')} after two more (not counting those already identified in "
        "that category and group)."
    )
    return MarkdownText("\n".join(lines))


#: Column headings of the overview's tables as the notebook shows them.
_STATE_HEADINGS = {
    "lea_id": "LEA code",
    "lea_name": "LEA",
    "category_label": "Category",
    "group_label": "Group",
    "ratio": "Ratio",
    "ratio_type": "Ratio used",
    "consecutive_years": "Years in a row above",
    "years_to_identification": "Years to identification",
    "measure": "",
    "leas": "LEAs",
    "identified_findings": "Identified findings",
    "flagged_findings": "Findings above the threshold",
    "identified": "Identified",
}


def state_table(overview: StateOverview, name: str) -> Styler | MarkdownText:
    """One of the overview's tables, formatted for reading (ratios to two decimals)."""
    if name not in overview.tables:
        raise UsageError(f"no overview table {name!r}; choose one of {', '.join(overview.tables)}.")
    frame = overview.tables[name]
    if frame.empty:
        return MarkdownText("None.")
    if name in ("identified", "near"):
        frame = frame.drop(columns=["category", "race_ethnicity"]).assign(
            ratio_type=frame["ratio_type"].map(_RATIO_TYPE_WORDS)
        )
    frame = frame.rename(columns=_STATE_HEADINGS)
    numeric = frame.select_dtypes("number").columns
    ratio_like = [c for c in numeric if c in ("Ratio", "median", "90th percentile", "maximum")]
    style = frame.style.format("{:.2f}", subset=ratio_like, na_rep="-")
    counts = [c for c in numeric if c not in ratio_like]
    style = style.format("{:,.0f}", subset=counts, na_rep="-")
    text = [c for c in frame.columns if c not in numeric]
    style = style.set_properties(subset=text, **_LEFT)
    if name in ("counts", "identified", "near", "leas"):
        style = style.hide(axis="index")
    return style


def ratio_distribution_plot(
    results: pd.DataFrame, *, school_year: str | None = None, ax: Axes | None = None
) -> Axes:
    """Histogram of every calculated ratio of one school year (log scale), thresholds marked.

    Parameters
    ----------
    results
        The statewide results table.
    school_year
        Default: the latest.
    ax
        Where to draw; a new figure's Axes when omitted (nothing is shown or saved).

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.figure import Figure

    year = school_year or str(results["school_year"].astype(str).max())
    rows = results[results["school_year"].astype(str) == year]
    ratios = pd.to_numeric(rows["ratio"], errors="coerce")
    ratios = ratios[ratios > 0]
    if ax is None:
        ax = Figure(figsize=(8.0, 4.0), layout="constrained").subplots()
    if len(ratios):
        bins = np.logspace(np.log10(ratios.min()), np.log10(ratios.max()), 40)
        ax.hist(ratios, bins=bins, color="#0072B2", gid="ratios")
        ax.set_xscale("log")
    for t in np.unique(pd.to_numeric(rows["threshold"], errors="coerce").dropna()):
        ax.axvline(t, color="#000000", linestyle="--", gid="threshold", label=f"threshold {t:g}")
    ax.set_xlabel("ratio used (log scale)")
    ax.set_ylabel("category x group x LEA rows")
    ax.set_title(f"Every calculated ratio, {year}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right")
    return ax


def show_ratio_distribution(overview: StateOverview) -> PngImage:
    """:func:`ratio_distribution_plot` of the overview as an image for the notebook."""
    from io import BytesIO

    ax = ratio_distribution_plot(overview.results)
    buffer = BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return PngImage(buffer.getvalue(), alt=ax.get_title())


def write_state_overview(overview: StateOverview, out_dir: str | Path) -> Path:
    """Write the per-LEA table to ``<out_dir>/state_overview_leas.csv``, atomically."""
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "state_overview_leas.csv"
    atomic_write_text(path, overview.tables["leas"].to_csv(index=False, lineterminator="\n"))
    return path
