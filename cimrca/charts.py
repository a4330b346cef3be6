"""The charts consultants read: ratio trajectories, a ratio heat map, indicator trends, funnels.

Every plot function takes ``ax=None`` and returns the ``Axes`` it drew on; without an ``ax`` it
makes a new :class:`matplotlib.figure.Figure` (not registered with ``pyplot``, so batch runs
leak nothing), or, inside a :func:`reused_figures` block, an emptied earlier figure of the same
layout. None of them shows or saves anything (style.md rule 11); :func:`lea_figures` builds all
of one LEA's charts for the packet and the workbook, which write the files, and
:func:`figures_to_png` renders them (text is laid out and rasterised once per process).

Drawn artists carry a ``gid`` that says what they are (``"threshold"``, ``"ratio:<category>:
<race>"``, ``"lea:<indicator>"``, ...), so tests and callers can find the values drawn.

The palette is Okabe and Ito's colour-blind-safe set (Okabe and Ito, *Color Universal Design*,
2008), with markers and line styles that also tell series apart in grey print.
"""

from __future__ import annotations

import contextlib
import functools
import textwrap
from collections.abc import Iterator, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from cimrca.codes import CATEGORIES, CATEGORY_CODES, CATEGORY_LABELS, RACE_LABELS, RACES
from cimrca.codes import REASON_LABELS as _REASON_LABELS
from cimrca.errors import UsageError
from cimrca.values import as_bool

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "MARKERS",
    "CATEGORY_SHORT_LABELS",
    "REASON_MARKS",
    "FUNNEL_LEVELS",
    "ratio_trajectories",
    "ratio_heatmap",
    "indicator_trends",
    "indicator_trends_figure",
    "indicator_summary",
    "INDICATOR_STATUS_STYLE",
    "trend_label",
    "funnel_plot",
    "lea_figures",
    "drilldown_bars",
    "drilldown_figures",
    "figures_to_png",
    "reused_figures",
    "DEFAULT_DPI",
]

#: Okabe-Ito colours, ordered so the first ones print well on white (yellow last).
PALETTE: Final = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
#: Markers cycled with the palette, so series stay distinct in grey print.
MARKERS: Final = ("o", "s", "^", "D", "v", "P", "X", "*")
_GREY: Final = "#6E6E6E"
_LIGHT_GREY: Final = "#D9D9D9"
_THRESHOLD_COLOUR: Final = "#000000"
_LEA_COLOUR, _STATE_COLOUR, _TARGET_COLOUR = PALETTE[0], PALETTE[1], PALETTE[2]

#: Column labels of the heat map (the full labels are in :data:`cimrca.codes.CATEGORY_LABELS`).
CATEGORY_SHORT_LABELS: Final = {
    "ident_all": "Ident.: all",
    "ident_id": "Ident.: ID",
    "ident_sld": "Ident.: SLD",
    "ident_ed": "Ident.: ED",
    "ident_sli": "Ident.: SLI",
    "ident_ohi": "Ident.: OHI",
    "ident_aut": "Ident.: AUT",
    "place_rc_lt40": "Place: RC <40%",
    "place_separate": "Place: separate",
    "disc_oss_le10": "OSS <=10 days",
    "disc_oss_gt10": "OSS >10 days",
    "disc_iss_le10": "ISS <=10 days",
    "disc_iss_gt10": "ISS >10 days",
    "disc_tdr": "Total removals",
}
#: How the heat map marks a cell that was not calculated: (letter, hatch), by reason.
REASON_MARKS: Final = {
    "missing_input": ("M", "xx"),
    "group_below_min_cell": ("C", "//"),
    "group_below_min_n": ("N", "\\\\"),
    "comparison_below_min": ("X", ".."),
    "absent": ("-", ""),
}
_ABSENT_LABEL: Final = "no row for this category in the results (not computed)"
#: Coverage of the funnel plot's control limits (two-sided): about 2 and 3 standard errors.
FUNNEL_LEVELS: Final = (0.95, 0.998)

#: Figure layouts in inches (print: a letter page is 8.5 inches wide). Margins are fixed, not
#: computed by a layout engine at draw time (constrained layout costs more than the drawing).
_SIZE_WIDE: Final = (8.0, 4.2)
_SIZE_HEATMAP: Final = (9.0, 4.6)
_PANEL_SIZE: Final = (3.3, 2.8)
#: (left, right, top, bottom) margins of a chart with a two-line title and labelled x axis.
_MARGINS_WIDE: Final = (0.85, 0.3, 0.75, 0.65)
#: The heat map: room for the group names (left), the colour bar (right), rotated categories.
_MARGINS_HEATMAP: Final = (2.75, 1.15, 0.75, 1.15)
_COLORBAR_PAD: Final = 0.12
_COLORBAR_WIDTH: Final = 0.16
_HEATMAP_LEGEND_COLS: Final = 2
_FUNNEL_LEGEND_COLS: Final = 3
#: Height of one legend row, and the gap between the x label and a legend below the Axes.
_LEGEND_LINE_INCHES: Final = 0.21
_LEGEND_GAP_INCHES: Final = 0.58
_PANEL_TITLE_CHARS: Final = 34
_FONT_CELL: Final = 7
#: Pixels per inch of :func:`figures_to_png`.
DEFAULT_DPI: Final = 100
#: zlib level of the PNGs: 1 is several times faster than the default 6, files ~1.5x larger.
_PNG_COMPRESSION: Final = 1
#: Room above the highest point of a ratio chart, as a factor.
_HEADROOM: Final = 1.1
#: Cells darker than this relative luminance get white text.
_DARK_CELL: Final = 0.45
_IS_RATE: Final = {c.code: c.is_rate for c in CATEGORIES}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


#: Figures :func:`reused_figures` keeps for reuse, by layout (chart kind, size, margins).
_FREE_FIGURES: dict[tuple, list[Figure]] = {}
#: The figures lent inside the open :func:`reused_figures` block (``None``: no block open).
_LENT_FIGURES: list[tuple[tuple, Figure]] | None = None
#: At most this many figures wait for reuse per process.
_MAX_FREE_FIGURES: Final = 24


@contextlib.contextmanager
def reused_figures() -> Iterator[None]:
    """Within the block, charts drawn without ``ax`` reuse this process's earlier figures.

    A chart drawn with ``ax=None`` normally gets a new figure; inside the block it gets an
    earlier figure of the same kind and layout (size and margins), emptied: its Axes and their
    tick objects are kept, which spares most of the cost of building a chart. The figures are
    only valid until the block ends (the next block reuses them), so render them inside it::

        with reused_figures():
            png = figures_to_png(lea_figures(results, indicators, lea_id))

    The image is the one a new figure gives (``tests/test_charts.py`` compares them).
    """
    global _LENT_FIGURES
    if _LENT_FIGURES is not None:  # nested: the outer block returns the figures
        yield
        return
    _LENT_FIGURES = []
    try:
        yield
    finally:
        lent, _LENT_FIGURES = _LENT_FIGURES, None
        for key, figure in lent:
            if sum(map(len, _FREE_FIGURES.values())) < _MAX_FREE_FIGURES:
                _FREE_FIGURES.setdefault(key, []).append(figure)


def _emptied(figure: Figure) -> Axes:
    """The first Axes of a figure a chart was drawn on, back to how a new one starts.

    Removes every artist, legend, title and label, later Axes (the heat map's colour bar) and
    figure legends; data limits and autoscaling start afresh. What the chart functions set
    on every call (ticks, scales, formatters, limits, grid) is left for them to set again.
    """
    from matplotlib.transforms import Bbox

    ax = figure.axes[0]
    for other in figure.axes[1:]:
        figure.delaxes(other)
    figure.legends.clear()
    for artist in list(ax._children):
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    for loc in ("left", "center", "right"):
        ax.set_title("", loc=loc)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.dataLim.set(Bbox.null())
    ax.ignore_existing_data_limits = True
    ax.viewLim.set(Bbox.unit())
    ax.set_autoscale_on(True)
    ax._request_autoscale_view()
    return ax


def _figure_axes(
    size: tuple[float, float], margins: tuple[float, float, float, float], kind: str = ""
) -> Axes:
    """One Axes on a new figure, placed by fixed margins in inches (left, right, top, bottom).

    Inside :func:`reused_figures`, an emptied earlier figure of the same ``kind``, size and
    margins when there is one.
    """
    from matplotlib.figure import Figure

    key = (kind, size, margins)
    if _LENT_FIGURES is not None and kind and _FREE_FIGURES.get(key):
        figure = _FREE_FIGURES[key].pop()
        _LENT_FIGURES.append((key, figure))
        return _emptied(figure)
    width, height = size
    left, right, top, bottom = margins
    fig = Figure(figsize=size)
    if _LENT_FIGURES is not None and kind:
        _LENT_FIGURES.append((key, fig))
    return fig.add_axes(
        (left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height)
    )


def _axes(
    ax: Axes | None,
    size: tuple[float, float],
    margins: tuple[float, float, float, float] = _MARGINS_WIDE,
    legend_rows: int = 0,
    kind: str = "",
) -> Axes:
    """``ax``, or a new figure's Axes with room below it for ``legend_rows`` legend rows."""
    if ax is not None:
        return ax
    extra = _LEGEND_LINE_INCHES * legend_rows + (0.15 if legend_rows else 0.0)
    left, right, top, bottom = margins
    return _figure_axes((size[0], size[1] + extra), (left, right, top, bottom + extra), kind)


def _text(series: pd.Series) -> pd.Series:
    """A code column as strings (no copy when it already is one)."""
    return series if pd.api.types.is_string_dtype(series.dtype) else series.astype(str)


def _lea_title(lea_id: str, lea_name: str | None) -> str:
    return f"{lea_name} ({lea_id})" if lea_name else f"LEA {lea_id}"


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"The {what} lacks column(s) {', '.join(missing)}; pass the table that "
            f"{'compute_results' if what == 'results table' else 'compute_indicators'} returns."
        )


_RESULT_NEEDS: Final = (
    "school_year", "lea_id", "category", "race_ethnicity", "numerator", "denominator",
    "ratio_type", "ratio", "reason", "exceeds_threshold", "threshold",
)  # fmt: skip
_INDICATOR_NEEDS: Final = (
    "school_year", "lea_id", "indicator", "label", "rate", "state_rate", "target",
    "small_denominator", "trend_direction", "trend_slope",
)  # fmt: skip


def _flag(series: pd.Series) -> np.ndarray:
    """A True/False column that may arrive as booleans, nullable booleans or strings."""
    return as_bool(series).fillna(False).to_numpy(dtype=bool)


def _sorted_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    cat_rank = {c: i for i, c in enumerate(CATEGORY_CODES)}
    race_rank = {r: i for i, r in enumerate(RACES)}
    return (
        pairs.assign(
            _c=pairs["category"].map(cat_rank).fillna(len(cat_rank)),
            _r=pairs["race_ethnicity"].map(race_rank).fillna(len(race_rank)),
        )
        .sort_values(["_c", "_r", "category", "race_ethnicity"], kind="stable")
        .drop(columns=["_c", "_r"])
    )


def _draw_thresholds(ax: Axes, thresholds: np.ndarray) -> None:
    values = np.unique(thresholds[np.isfinite(thresholds)])
    for value in values:
        ax.axhline(
            value,
            color=_THRESHOLD_COLOUR,
            linestyle="--",
            linewidth=1.2,
            gid="threshold",
            label=f"Threshold ({value:g})",
            zorder=1,
        )


def _legend_below(ax: Axes, ncols: int = 1, handles=None) -> None:
    """A legend under the x axis label, placed in inches so it holds for any Axes height."""
    height = ax.get_position().height * ax.figure.get_figheight()
    kwargs = {} if handles is None else {"handles": handles}
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -_LEGEND_GAP_INCHES / height),
        ncols=ncols,
        fontsize="small",
        frameon=False,
        **kwargs,
    )


def _legend_rows(entries: int, ncols: int = 1) -> int:
    return -(-entries // ncols)


# --------------------------------------------------------------------------------------------
# ratio charts
# --------------------------------------------------------------------------------------------


def ratio_trajectories(
    results: pd.DataFrame,
    lea_id: str,
    *,
    ax: Axes | None = None,
    categories: Sequence[str] | None = None,
    lea_name: str | None = None,
) -> Axes:
    """Ratio by school year for each category x group the LEA had flagged in any year.

    Parameters
    ----------
    results : DataFrame
        The results table (outputs.md section 2), statewide or the LEA's slice.
    lea_id : str
        The LEA's CDE code.
    ax : Axes, optional
        Where to draw; a new figure's Axes when omitted.
    categories : sequence of str, optional
        Restrict to these category codes.
    lea_name : str, optional
        Shown in the title.

    Returns
    -------
    Axes
        One line per flagged category x group (``gid`` ``"ratio:<category>:<race>"``; years
        without a ratio are gaps), the threshold line(s) (``gid`` ``"threshold"``, from each
        row's ``threshold``), and circles on the flagged years (``gid`` ``"flagged"``).

    Notes
    -----
    A year is flagged when the ratio used exceeds the threshold (34 CFR 300.647(d)(1));
    three consecutive flagged years make the LEA significantly disproportionate in that
    category and group (300.647(d)(1), with the State's choice of years).
    """
    _require(results, _RESULT_NEEDS, "results table")
    lea = results[_text(results["lea_id"]) == str(lea_id)]
    if categories is not None:
        lea = lea[lea["category"].isin(list(categories))]
    years = sorted(_text(lea["school_year"]).unique())
    position = {y: i for i, y in enumerate(years)}
    flagged = _flag(lea["exceeds_threshold"])
    pairs = _sorted_pairs(
        lea.loc[flagged, ["category", "race_ethnicity"]].drop_duplicates()
    ).itertuples(index=False)
    pairs = list(pairs)
    # the legend lists every line, the flagged-year marker and the threshold(s) below the plot
    n_thresholds = len(np.unique(lea["threshold"].dropna()))
    ax = _axes(ax, _SIZE_WIDE, legend_rows=len(pairs) + bool(pairs) + n_thresholds,
               kind="ratio_trajectories")  # fmt: skip
    chosen = lea.merge(pd.DataFrame(pairs, columns=["category", "race_ethnicity"]))
    wide = chosen.pivot_table(
        index=["category", "race_ethnicity"],
        columns="school_year",
        values="ratio",
        aggfunc="first",
        dropna=False,
    ).reindex(columns=years)
    x = np.arange(len(years), dtype=float)
    above = (
        chosen.assign(_f=_flag(chosen["exceeds_threshold"]))
        .groupby(["category", "race_ethnicity"])["_f"]
        .sum()
    )
    for i, (category, race) in enumerate(pairs):
        y = wide.loc[(category, race)].to_numpy(dtype=float)
        n_above = int(above.get((category, race), 0))
        n_years = int(np.isfinite(y).sum())
        ax.plot(
            x,
            y,
            color=PALETTE[i % len(PALETTE)],
            marker=MARKERS[i % len(MARKERS)],
            linestyle=("-", "--", "-.", ":")[(i // len(PALETTE)) % 4],
            linewidth=1.8,
            markersize=5,
            label=f"{RACE_LABELS.get(race, race)}: {CATEGORY_LABELS.get(category, category)}"
            f" (above the threshold in {n_above} of {n_years} years)",
            gid=f"ratio:{category}:{race}",
            zorder=3,
        )
    is_flag = _flag(chosen["exceeds_threshold"]) if len(chosen) else np.zeros(0, bool)
    marked = chosen.loc[is_flag]
    if len(marked):
        ax.plot(
            marked["school_year"].map(position).to_numpy(dtype=float),
            marked["ratio"].to_numpy(dtype=float),
            linestyle="none",
            marker="o",
            markersize=11,
            markerfacecolor="none",
            markeredgecolor="black",
            markeredgewidth=1.4,
            label="Year above the threshold",
            gid="flagged",
            zorder=4,
        )
    thresholds = (chosen if len(chosen) else lea)["threshold"].to_numpy(dtype=float)
    _draw_thresholds(ax, thresholds)
    if not pairs:
        span = f"{years[0]} to {years[-1]}" if years else "the years covered"
        ax.text(
            0.5,
            0.5,
            f"No category and group exceeded the threshold\nin any year ({span}).",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=_GREY,
        )
        finite = thresholds[np.isfinite(thresholds)]
        ax.set_ylim(0, (finite.max() if finite.size else 1.0) * 1.25)
    else:
        finite = np.concatenate([wide.to_numpy(dtype=float).ravel(), thresholds])
        finite = finite[np.isfinite(finite)]
        ax.set_ylim(0, (finite.max() if finite.size else 1.0) * _HEADROOM)
    ax.set_xticks(x, years)
    if len(years):
        ax.set_xlim(-0.4, len(years) - 0.6)
    ax.set_xlabel("School year")
    ax.set_ylabel("Ratio used")
    ax.set_title(
        f"Ratios of the categories and groups disproportionate in any year\n{_lea_title(lea_id, lea_name)}",
        y=1.0,
    )
    ax.grid(axis="y", color=_LIGHT_GREY, linewidth=0.6)
    if pairs or len(np.unique(thresholds[np.isfinite(thresholds)])):
        _legend_below(ax)
    return ax


def ratio_heatmap(
    results: pd.DataFrame,
    lea_id: str,
    *,
    school_year: str | None = None,
    ax: Axes | None = None,
    lea_name: str | None = None,
) -> Axes:
    """The LEA's ratios of one school year: groups (rows) x categories (columns).

    Parameters
    ----------
    results : DataFrame
        The results table (outputs.md section 2), statewide or the LEA's slice.
    lea_id : str
        The LEA's CDE code.
    school_year : str, optional
        Default: the latest year of the LEA's rows.
    ax : Axes, optional
        Where to draw; a new figure's Axes when omitted.
    lea_name : str, optional
        Shown in the title.

    Returns
    -------
    Axes
        One image (``ax.images[0]``) whose masked array holds the ratios, NaN-masked where the
        ratio was not calculated. Those cells are hatched and lettered by reason (legend:
        :data:`REASON_MARKS` with :data:`cimrca.codes.REASON_LABELS`), never coloured as a
        value; flagged cells have a black outline and bold text; ``*`` marks an alternate
        risk ratio. The colour scale is diverging around 1 (no difference) with the threshold
        marked on the colour bar.

    Notes
    -----
    The reasons follow methodology.md section 3 (34 CFR 300.647(b)(1)(i) minimum cell and
    n-sizes; 300.647(b)(5) alternate risk ratio).
    """
    import matplotlib
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Patch, Rectangle

    _require(results, _RESULT_NEEDS, "results table")
    lea = results[_text(results["lea_id"]) == str(lea_id)]
    if school_year is None:
        years = sorted(_text(lea["school_year"]).unique())
        if not years:
            raise UsageError(f"LEA {lea_id} has no rows in the results table; check the LEA code.")
        school_year = years[-1]
    rows = lea[_text(lea["school_year"]) == str(school_year)]
    if rows.empty:
        raise UsageError(
            f"LEA {lea_id} has no results for {school_year}; choose a year it has data for."
        )
    present = set(results["category"].unique())
    categories = [c for c in CATEGORY_CODES if c in present] + sorted(
        present.difference(CATEGORY_CODES)
    )
    races = list(RACES)

    # one reshape for every cell property: groups (rows) x categories (columns)
    cells = (
        rows.assign(
            _reason=rows["reason"].fillna("").astype(str),
            _alt=(rows["ratio_type"] == "alternate_risk_ratio").fillna(False).astype(bool),
            _flag=_flag(rows["exceeds_threshold"]),
        )
        .drop_duplicates(["race_ethnicity", "category"])
        .set_index(["race_ethnicity", "category"])[["ratio", "_reason", "_alt", "_flag"]]
        .unstack("category")
    )
    idx = pd.Index(races)
    cols = pd.Index(categories)

    def grid(column: str, fill: object) -> np.ndarray:
        if cells.empty:
            return np.full((len(races), len(categories)), fill)
        return cells[column].reindex(index=idx, columns=cols).fillna(fill).to_numpy()

    ratio = grid("ratio", np.nan).astype(float)
    reason = grid("_reason", "absent").astype(str)
    reason = np.where(np.isfinite(ratio) | (reason != ""), reason, "missing_input")
    alternate = grid("_alt", False).astype(bool)
    flagged = grid("_flag", False).astype(bool)
    thresholds = rows["threshold"].to_numpy(dtype=float)
    thresholds = np.unique(thresholds[np.isfinite(thresholds)])

    codes = np.where(np.isin(reason, list(REASON_MARKS)), reason, "missing_input")
    codes = np.where(np.isfinite(ratio), "", codes)
    used_reasons = [code for code in REASON_MARKS if (codes == code).any()]
    n_handles = len(used_reasons) + bool(flagged.any()) + bool(alternate.any())
    own_figure = ax is None
    ax = _axes(ax, _SIZE_HEATMAP, _MARGINS_HEATMAP, _legend_rows(n_handles, _HEATMAP_LEGEND_COLS),
               kind="ratio_heatmap")  # fmt: skip

    finite = ratio[np.isfinite(ratio)]
    top = max([1.5, *(finite.max(initial=0.0),), *(thresholds * 1.2)])
    norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=top)
    cmap = matplotlib.colormaps["PuOr_r"].with_extremes(bad="white")
    image = ax.imshow(
        np.ma.masked_invalid(ratio), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest"
    )
    # text colour by the cell's luminance, for print
    rgba = cmap(norm(np.nan_to_num(ratio, nan=1.0)))
    luminance = 0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]
    text = np.where(alternate, "*", "")
    for (i, j), value in np.ndenumerate(ratio):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}{text[i, j]}", ha="center", va="center",
                    fontsize=_FONT_CELL, fontweight="bold" if flagged[i, j] else "normal",
                    color="white" if luminance[i, j] < _DARK_CELL else "black")  # fmt: skip
        else:
            ax.text(j, i, REASON_MARKS[codes[i, j]][0], ha="center", va="center",
                    fontsize=_FONT_CELL, fontweight="bold", color="black")  # fmt: skip
    for code in used_reasons:
        i, j = np.nonzero(codes == code)
        ax.add_collection(
            PatchCollection(
                [Rectangle((b - 0.5, a - 0.5), 1, 1) for a, b in zip(i, j, strict=True)],
                facecolor=_LIGHT_GREY, edgecolor="white", hatch=REASON_MARKS[code][1],
                linewidth=0.0, gid=f"not_calculated:{code}", zorder=2,
            )
        )  # fmt: skip
    if flagged.any():
        i, j = np.nonzero(flagged)
        ax.add_collection(
            PatchCollection(
                [Rectangle((b - 0.5, a - 0.5), 1, 1) for a, b in zip(i, j, strict=True)],
                facecolor="none", edgecolor="black", linewidth=2.0, gid="flagged", zorder=3,
            )
        )  # fmt: skip
    ax.set_xticks(np.arange(len(categories)), [CATEGORY_SHORT_LABELS.get(c, c) for c in categories],
                  rotation=40, ha="right", rotation_mode="anchor", fontsize="small")  # fmt: skip
    ax.set_yticks(np.arange(len(races)), [RACE_LABELS.get(r, r) for r in races],
                  fontsize="small")  # fmt: skip
    ax.set_xlabel("Category")
    ax.set_ylabel("Racial/ethnic group")
    ax.set_title(
        f"Ratios by group and category, {school_year}\n{_lea_title(lea_id, lea_name)}", y=1.0
    )
    ax.tick_params(length=0)
    # white cell borders: the grid lines between cells, drawn as one collection
    ax.vlines(np.arange(len(categories) + 1) - 0.5, -0.5, len(races) - 0.5, color="white",
              linewidth=1.0, zorder=1.5)  # fmt: skip
    ax.hlines(np.arange(len(races) + 1) - 0.5, -0.5, len(categories) - 0.5, color="white",
              linewidth=1.0, zorder=1.5)  # fmt: skip
    ax.set_xlim(-0.5, len(categories) - 0.5)
    ax.set_ylim(len(races) - 0.5, -0.5)
    if own_figure:
        fig = ax.figure
        box = ax.get_position()
        width = fig.get_figwidth()
        cax = fig.add_axes((box.x1 + _COLORBAR_PAD / width, box.y0,
                            _COLORBAR_WIDTH / width, box.height))  # fmt: skip
        colorbar = fig.colorbar(image, cax=cax)
    else:
        colorbar = ax.figure.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
    colorbar.set_label("Ratio used (1 = same risk as the comparison group)", fontsize="small")
    colorbar.ax.tick_params(labelsize="small")
    for value in thresholds:
        colorbar.ax.axhline(value, color="black", linewidth=1.5, gid="threshold")
    handles = [
        Patch(
            facecolor=_LIGHT_GREY,
            hatch=REASON_MARKS[code][1],
            edgecolor=_GREY,
            label=f"{REASON_MARKS[code][0]}: not calculated, "
            f"{_REASON_LABELS.get(code, _ABSENT_LABEL)}",
        )  # fmt: skip
        for code in used_reasons
    ]
    if flagged.any():
        handles.append(Patch(facecolor="white", edgecolor="black", linewidth=2.0,
                             label="bold outline: above the threshold "
                             f"({', '.join(f'{t:g}' for t in thresholds)})"))  # fmt: skip
    if alternate.any():
        handles.append(Patch(facecolor="white", edgecolor="white",
                             label="*: alternate risk ratio (State comparison group)"))  # fmt: skip
    if handles and own_figure:
        # under the rotated category labels and the axis label, across the figure
        fig = ax.figure
        height = fig.get_figheight()
        legend_top = (ax.get_position().y0 * height - _MARGINS_HEATMAP[3] + 0.1) / height
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.02, legend_top),
                   ncols=_HEATMAP_LEGEND_COLS, fontsize="small", frameon=False)  # fmt: skip
    elif handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.3),
                  fontsize="small", frameon=False)  # fmt: skip
    return ax


def funnel_plot(
    results: pd.DataFrame,
    *,
    category: str,
    race_ethnicity: str,
    school_year: str,
    lea_id: str | None = None,
    ax: Axes | None = None,
    levels: Sequence[float] = FUNNEL_LEVELS,
    lea_name: str | None = None,
) -> Axes:
    """Every LEA's ratio for one category x group x year against its group size.

    Parameters
    ----------
    results : DataFrame
        The statewide results table (outputs.md section 2).
    category, race_ethnicity, school_year : str
        Which ratio.
    lea_id : str, optional
        The LEA to highlight.
    ax : Axes, optional
        Where to draw; a new figure's Axes when omitted.
    levels : sequence of float, default (0.95, 0.998)
        Two-sided coverage of the control limits.
    lea_name : str, optional
        Shown next to the highlighted point.

    Returns
    -------
    Axes
        Points ``gid="leas"`` (every LEA with a ratio, not flagged), ``"flagged"`` (above the
        threshold) and ``"lea:<id>"`` (the chosen LEA); control limits
        ``"limit:<level>:upper"``/``"lower"``; the threshold line(s) ``"threshold"``; a
        reference line at 1 (``"reference"``). The x axis (group size) is logarithmic.

    Notes
    -----
    Funnel plots after Spiegelhalter, "Funnel plots for comparing institutional
    performance", *Statistics in Medicine* 24 (2005) 1185-1202. Under no disproportionality
    the group's risk is the State's risk ``p0`` of the category (all groups, all LEAs, that
    year); a group of ``n`` students then has a ratio near 1 with standard error
    ``sqrt(p0 (1 - p0) / n) / p0`` (binomial), or ``sqrt(p0 / n) / p0`` for total disciplinary
    removals (a count of events, Poisson). The limits are ``1 +- z * SE`` with ``z`` the
    normal quantile of each level, so a point inside the outer funnel may be a small-number
    artefact even when it is above the threshold of 34 CFR 300.647(d)(1). The comparison
    group's own sampling error is ignored (it is usually much larger).
    """
    _require(results, _RESULT_NEEDS, "results table")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    # LEAs, LEAs above the threshold, one line per level, ratio 1, threshold, the LEA
    ax = _axes(ax, _SIZE_WIDE, legend_rows=_legend_rows(4 + len(levels) + bool(lea_id),
                                                        _FUNNEL_LEGEND_COLS),
               kind="funnel_plot")  # fmt: skip
    same = (results["category"] == category) & (_text(results["school_year"]) == school_year)
    base = results[same]
    if base.empty:
        raise UsageError(
            f"The results have no {category!r} rows for {school_year}; check the category code "
            "(cimrca.codes.CATEGORY_CODES) and the school year."
        )
    num = base["numerator"].to_numpy(dtype=float)
    den = base["denominator"].to_numpy(dtype=float)
    known = np.isfinite(num) & np.isfinite(den)
    total = den[known].sum()
    p0 = num[known].sum() / total if total > 0 else np.nan
    rows = base[base["race_ethnicity"] == race_ethnicity]
    ratio = rows["ratio"].to_numpy(dtype=float)
    size = rows["denominator"].to_numpy(dtype=float)
    shown = np.isfinite(ratio) & np.isfinite(size) & (size > 0)
    flagged = _flag(rows["exceeds_threshold"]) & shown
    is_lea = (
        (_text(rows["lea_id"]) == str(lea_id)).to_numpy()
        if lea_id
        else np.zeros(len(rows), dtype=bool)
    )
    plain = shown & ~flagged
    ax.plot(size[plain], ratio[plain], linestyle="none", marker="o", markersize=4,
            color=_GREY, alpha=0.6, label="LEAs", gid="leas", zorder=2)  # fmt: skip
    ax.plot(size[flagged], ratio[flagged], linestyle="none", marker="^", markersize=5,
            color=PALETTE[1], label="LEAs above the threshold", gid="flagged", zorder=3)  # fmt: skip
    if shown.any():
        grid = np.geomspace(size[shown].min() * 0.8, size[shown].max() * 1.25, 200)
    else:
        grid = np.geomspace(1.0, 1000.0, 200)
    if np.isfinite(p0) and 0 < p0:
        spread = (
            np.sqrt(p0 / grid) if _IS_RATE.get(category, False) else np.sqrt(p0 * (1 - p0) / grid)
        )
        se = spread / p0
        for level, style in zip(levels, ("--", ":", "-."), strict=False):
            # the standard library's normal quantile (Wichura's AS241, to about 1e-16): a
            # warm kernel draws funnel plots without importing scipy (half a second)
            z = NormalDist().inv_cdf(0.5 + level / 2.0)
            label = f"{level:.1%}".replace(".0%", "%") + " control limits"
            ax.plot(grid, 1.0 + z * se, color=PALETTE[0], linestyle=style, linewidth=1.2,
                    label=label, gid=f"limit:{level}:upper")  # fmt: skip
            ax.plot(grid, np.maximum(1.0 - z * se, 0.0), color=PALETTE[0], linestyle=style,
                    linewidth=1.2, gid=f"limit:{level}:lower")  # fmt: skip
    ax.axhline(1.0, color=_GREY, linewidth=0.8, gid="reference", label="Ratio 1 (no difference)")
    _draw_thresholds(ax, rows["threshold"].to_numpy(dtype=float))
    note = ""
    if is_lea.any():
        k = int(np.flatnonzero(is_lea)[0])
        name = _lea_title(str(lea_id), lea_name)
        if shown[k]:
            ax.plot([size[k]], [ratio[k]], linestyle="none", marker="*", markersize=16,
                    color="black", markeredgecolor="white", label=name, gid=f"lea:{lea_id}",
                    zorder=5)  # fmt: skip
        else:
            why = rows["reason"].iloc[k]
            note = f"\n{name}: not calculated ({_REASON_LABELS.get(str(why), 'no ratio')})"
    hidden = int((~shown).sum())
    if hidden:
        note += f"\n{hidden} LEA{'s' if hidden != 1 else ''} without a ratio not shown"
    if note:
        ax.text(0.99, 0.98, note.strip(), transform=ax.transAxes, ha="right", va="top",
                fontsize="small", color=_GREY)  # fmt: skip
    ax.set_xscale("log")
    # plain numbers (1,000, not mathtext powers), no labels on the minor ticks
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())
    tops = [1.5, *ratio[shown].tolist(), *(rows["threshold"].dropna().astype(float) * 1.2)]
    ax.set_ylim(0.0, max(tops) * 1.08)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("Students in the group (the ratio's denominator, log scale)")
    ax.set_ylabel("Ratio used")
    ax.set_title(
        f"{CATEGORY_LABELS.get(category, category)}: "
        f"{RACE_LABELS.get(race_ethnicity, race_ethnicity)}, {school_year}\n"
        "Every LEA's ratio against its group size",
        y=1.0,
    )
    ax.grid(color=_LIGHT_GREY, linewidth=0.5)
    _legend_below(ax, ncols=_FUNNEL_LEGEND_COLS)
    return ax


# --------------------------------------------------------------------------------------------
# indicator charts
# --------------------------------------------------------------------------------------------


def indicator_trends(
    indicator_results: pd.DataFrame,
    lea_id: str,
    *,
    indicators: Sequence[str] | None = None,
    ax: Axes | None = None,
    lea_name: str | None = None,
    legend: bool = True,
) -> Axes:
    """The LEA's indicator rates by year against their targets, with the State's rate.

    Parameters
    ----------
    indicator_results : DataFrame
        The result of :func:`cimrca.indicators.compute_indicators` (statewide or the LEA's).
    lea_id : str
        The LEA's CDE code.
    indicators : sequence of str, optional
        Indicator codes to draw (default: all of the LEA's). One indicator per Axes reads best;
        :func:`indicator_trends_figure` draws small multiples.
    ax : Axes, optional
        Where to draw; a new figure's Axes when omitted.
    lea_name : str, optional
        Shown in the title.
    legend : bool, default True
        Draw a legend under the Axes.

    Returns
    -------
    Axes
        Per indicator: the LEA's rate (``gid="lea:<code>"``, solid), the State's
        (``"state:<code>"``, dashed) and the target (``"target:<code>"``, dotted, only where
        there is one); hollow squares mark years resting on a small denominator
        (``"small:<code>"``). The y axis is in percent.

    Notes
    -----
    Targets are the State's SPP/APR targets (IDEA section 616(b); 34 CFR 300.601).
    """
    from matplotlib.ticker import PercentFormatter

    _require(indicator_results, _INDICATOR_NEEDS, "indicator results")
    lea = indicator_results[_text(indicator_results["lea_id"]) == str(lea_id)]
    codes = list(pd.unique(lea["indicator"])) if indicators is None else list(indicators)
    lea = lea[lea["indicator"].isin(codes)]
    years = sorted(_text(lea["school_year"]).unique())
    # legend: LEA, State, target per indicator (one set when there is one), small denominator
    entries = (3 if len(codes) == 1 else 3 * len(codes)) + 1
    ax = _axes(ax, _SIZE_WIDE, legend_rows=_legend_rows(entries, 4) if legend else 0,
               kind="indicator_trends")  # fmt: skip
    position = {y: i for i, y in enumerate(years)}
    single = len(codes) == 1
    parts = dict(tuple(lea.sort_values("school_year", kind="stable").groupby("indicator")))
    for i, code in enumerate(codes):
        part = parts.get(code, lea.iloc[:0])
        x = part["school_year"].map(position).to_numpy(dtype=float)
        colour = _LEA_COLOUR if single else PALETTE[i % len(PALETTE)]
        label = part["label"].iloc[0] if len(part) else code
        prefix = "" if single else f"{code}: "
        ax.plot(x, part["rate"].to_numpy(dtype=float), color=colour, marker="o", linewidth=2.0,
                label=f"{prefix}LEA", gid=f"lea:{code}", zorder=3)  # fmt: skip
        ax.plot(x, part["state_rate"].to_numpy(dtype=float),
                color=_STATE_COLOUR if single else colour, linestyle="--", marker="s",
                markersize=3, linewidth=1.3, label=f"{prefix}State", gid=f"state:{code}")  # fmt: skip
        target = part["target"].to_numpy(dtype=float)
        if np.isfinite(target).any():
            ax.plot(x, target, color=_TARGET_COLOUR if single else colour, linestyle=":",
                    marker="_", markersize=10, linewidth=1.5, label=f"{prefix}Target",
                    gid=f"target:{code}")  # fmt: skip
        small = _flag(part["small_denominator"])
        if small.any():
            ax.plot(x[small], part["rate"].to_numpy(dtype=float)[small], linestyle="none",
                    marker="s", markersize=10, markerfacecolor="none", markeredgecolor=_GREY,
                    label="Small denominator", gid=f"small:{code}", zorder=4)  # fmt: skip
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xticks(np.arange(len(years)), years)
    ax.set_xlabel("School year")
    ax.set_ylabel("Rate")
    if single:
        part = parts.get(codes[0], lea.iloc[:0])
        label = part["label"].iloc[0] if len(part) else codes[0]
        title = textwrap.fill(f"{label} (indicator {codes[0]})", _PANEL_TITLE_CHARS)
        if len(part):
            slope = float(part["trend_slope"].iloc[0])
            title += f"\nTrend: {part['trend_direction'].iloc[0]}"
            if np.isfinite(slope):
                title += f" ({slope * 100:+.1f} points a year)"
        ax.set_title(title, fontsize="small", y=1.0)
    else:
        ax.set_title(
            "SPP/APR indicators and other measures against their targets\n"
            f"{_lea_title(lea_id, lea_name)}",
            y=1.0,
        )
    if not codes or lea.empty:
        ax.text(0.5, 0.5, "No indicator data for this LEA.", transform=ax.transAxes,
                ha="center", va="center", color=_GREY)  # fmt: skip
    ax.grid(axis="y", color=_LIGHT_GREY, linewidth=0.6)
    if legend and len(ax.get_lines()):
        _, labels = ax.get_legend_handles_labels()
        _legend_below(ax, ncols=min(4, max(1, len(set(labels)))))
    return ax


def indicator_trends_figure(
    indicator_results: pd.DataFrame,
    lea_id: str,
    *,
    indicators: Sequence[str] | None = None,
    ncols: int = 3,
    lea_name: str | None = None,
) -> Figure:
    """Small multiples of :func:`indicator_trends`: one Axes per indicator, one shared legend.

    Returns a new :class:`~matplotlib.figure.Figure` (nothing is shown or saved).
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    if ncols < 1:
        raise UsageError(f"ncols must be at least 1, got {ncols!r}.")
    lea = indicator_results[indicator_results["lea_id"].astype(str) == str(lea_id)]
    codes = list(pd.unique(lea["indicator"])) if indicators is None else list(indicators)
    n = max(1, len(codes))
    cols = min(ncols, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(_PANEL_SIZE[0] * cols, _PANEL_SIZE[1] * rows + 0.9),
                 layout="constrained")  # fmt: skip
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < len(codes):
            indicator_trends(lea, lea_id, indicators=[codes[k]], ax=ax, legend=False)
            # fewer labels: year labels on each column's lowest panel, "Rate" on the left
            ax.set_xlabel("")
            if k % cols:
                ax.set_ylabel("")
            if k + cols < len(codes):
                ax.tick_params(axis="x", labelbottom=False)
            else:
                ax.tick_params(axis="x", labelrotation=30, labelsize="small")
        elif codes:
            ax.set_visible(False)
        else:
            indicator_trends(lea, lea_id, indicators=[], ax=ax, legend=False)
    fig.suptitle(
        "SPP/APR indicators and other measures against their targets, "
        f"{_lea_title(lea_id, lea_name)}"
    )
    handles = [
        Line2D([], [], color=_LEA_COLOUR, marker="o", linewidth=2.0, label="LEA"),
        Line2D(
            [], [], color=_STATE_COLOUR, linestyle="--", marker="s", markersize=3, label="State"
        ),  # fmt: skip
        Line2D(
            [], [], color=_TARGET_COLOUR, linestyle=":", marker="_", markersize=10, label="Target"
        ),  # fmt: skip
        Line2D(
            [],
            [],
            linestyle="none",
            marker="s",
            markersize=10,
            markerfacecolor="none",
            markeredgecolor=_GREY,
            label="Small denominator",
        ),  # fmt: skip
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize="small",
               frameon=False)  # fmt: skip
    return fig


def _natural_key(code: str) -> tuple:
    """Indicator codes in reading order: 1, 2, 3A_ELA, ..., 11, 12, 13, then named ones."""
    head = code.split("_")[0]
    digits = "".join(ch for ch in head if ch.isdigit())
    if digits and head.startswith(digits):
        return (0, int(digits), code)
    return (1, 0, code)


#: Status of the target in the summary chart: (colour, marker, legend label).
INDICATOR_STATUS_STYLE: Final = {
    "met": (PALETTE[2], "o", "LEA rate, target met"),
    "not met": (PALETTE[1], "X", "LEA rate, target not met"),
    "no target": (_GREY, "D", "LEA rate, no target"),
}
#: Trend reading shown beside each indicator: (word, color). The color says better (green)
#: or worse (orange); the arrow (:func:`trend_label`) says which way the rate moved.
_TREND_TEXT: Final = {
    "improving": ("improving", PALETTE[2]),
    "worsening": ("worsening", PALETTE[1]),
    "no clear trend": ("no clear trend", _GREY),
    "rising": ("rising", _GREY),
    "falling": ("falling", _GREY),
    "not enough years": ("too few years", _GREY),
}
_ARROW_UP, _ARROW_DOWN, _ARROW_FLAT = "\u2191", "\u2193", "\u2192"


def trend_label(direction: str, slope: float) -> tuple[str, str]:
    """The trend text and color of an indicator: arrow = direction of change, color = better
    or worse (cim_workbook.md section 4).

    A suspension rate that rose is "worsening" with an arrow pointing up, in orange; a
    graduation rate that rose is "improving", up, in green.

    Examples
    --------
    >>> trend_label("worsening", 0.065)[0]
    '\u2191 worsening'
    >>> trend_label("improving", -0.01)[0]
    '\u2193 improving'
    """
    word, color = _TREND_TEXT.get(direction, (direction, _GREY))
    if direction in ("not enough years", ""):
        return word, color
    if direction == "no clear trend" or not np.isfinite(slope) or slope == 0:
        arrow = _ARROW_FLAT
    else:
        arrow = _ARROW_UP if slope > 0 else _ARROW_DOWN
    return f"{arrow} {word}", color


#: Summary chart layout, inches: width, height per indicator row, fixed height (title,
#: legend, axis), margins (left: the indicator names; right: the text columns).
_SUMMARY_WIDTH: Final = 9.2
_SUMMARY_ROW: Final = 0.3
_SUMMARY_FIXED: Final = 1.95
_SUMMARY_MARGINS: Final = (3.3, 3.35, 0.95, 0.95)
#: The legend's top, inches below the Axes (under the tick labels and the axis label).
_SUMMARY_LEGEND_DROP: Final = 0.5
_SUMMARY_LABEL_CHARS: Final = 48
#: x positions of the text columns right of the Axes, in inches from its right edge.
_SUMMARY_COLUMNS: Final = (0.15, 1.25, 2.4)


def indicator_summary(
    indicator_results: pd.DataFrame,
    lea_id: str,
    *,
    school_year: str | None = None,
    ax: Axes | None = None,
    lea_name: str | None = None,
) -> Axes:
    """Every SPP/APR indicator of one LEA and year on one Axes: rate, target, State, trend.

    A dot plot, one row per indicator: the LEA's rate as a filled marker coloured (and shaped)
    by whether the target is met, the target as a vertical tick joined to the rate by a line
    (the gap), the State's rate as a hollow diamond. Beside each row: the rate and target in
    figures, the status (with the years missed in a row) and the trend over the years.

    Parameters
    ----------
    indicator_results : DataFrame
        The result of :func:`cimrca.indicators.compute_indicators` (statewide or the LEA's).
    lea_id : str
        The LEA's CDE code.
    school_year : str, optional
        Default: the LEA's latest year.
    ax : Axes, optional
        Where to draw; a new figure's Axes (sized by the number of indicators) when omitted.
    lea_name : str, optional
        Shown in the title.

    Returns
    -------
    Axes
        Rows ``y = 0, 1, ...`` from the top, one per indicator in reading order (the y tick
        labels start with ``"<code>: "``). Artists: ``gid="rate:met"``, ``"rate:not met"``,
        ``"rate:no target"`` (the LEA's rates, x = rate, y = row), ``"target"``,
        ``"state"`` and the gap segments ``"gap"``; the text columns carry
        ``gid="value:<code>"``, ``"status:<code>"`` and ``"trend:<code>"``.

    Notes
    -----
    Targets are the State's SPP/APR targets (IDEA section 616(b); 34 CFR 300.601); met,
    the years missed in a row and the trend reading are those of
    :func:`cimrca.indicators.compute_indicators`. ``*`` marks a rate on a small denominator.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    _require(indicator_results, _INDICATOR_NEEDS, "indicator results")
    lea = indicator_results[_text(indicator_results["lea_id"]) == str(lea_id)]
    if school_year is None and len(lea):
        school_year = max(_text(lea["school_year"]))
    rows = lea[_text(lea["school_year"]) == str(school_year)].drop_duplicates("indicator")
    order = sorted(range(len(rows)), key=lambda k: _natural_key(str(rows["indicator"].iloc[k])))
    rows = rows.iloc[order]
    n = len(rows)
    if ax is None:
        height = _SUMMARY_FIXED + _SUMMARY_ROW * max(n, 1)
        ax = _figure_axes((_SUMMARY_WIDTH, height), _SUMMARY_MARGINS, "indicator_summary")
    codes = rows["indicator"].astype(str).to_numpy()
    rate = rows["rate"].to_numpy(dtype=float)
    target = rows["target"].to_numpy(dtype=float)
    state = rows["state_rate"].to_numpy(dtype=float)
    y = np.arange(n, dtype=float)
    if "target_status" in rows.columns:
        status = rows["target_status"].fillna("no data").astype(str).to_numpy()
    else:
        status = np.where(~np.isfinite(target), "no target", "no data")
    missed = (
        rows["consecutive_missed"].fillna(0).to_numpy(dtype=float)
        if "consecutive_missed" in rows.columns
        else np.zeros(n)
    )
    small = _flag(rows["small_denominator"])
    both = np.isfinite(rate) & np.isfinite(target)
    ax.add_collection(
        LineCollection(
            [((t, k), (r, k)) for t, r, k in zip(target[both], rate[both], y[both], strict=True)],
            colors=[INDICATOR_STATUS_STYLE.get(s, INDICATOR_STATUS_STYLE["no target"])[0]
                    for s in status[both]],
            linewidths=2.0, alpha=0.45, gid="gap", zorder=2,
        )
    )  # fmt: skip
    has_target = np.isfinite(target)
    ax.plot(target[has_target], y[has_target], linestyle="none", marker="|", markersize=14,
            markeredgewidth=2.2, color="black", label="Target", gid="target", zorder=3)  # fmt: skip
    ax.plot(state, y, linestyle="none", marker="D", markersize=6, markerfacecolor="white",
            markeredgecolor="black", markeredgewidth=1.0, label="State rate", gid="state",
            zorder=4)  # fmt: skip
    for key, (colour, marker, label) in INDICATOR_STATUS_STYLE.items():
        mine = status == key
        ax.plot(rate[mine], y[mine], linestyle="none", marker=marker, markersize=8,
                color=colour, markeredgecolor="white", markeredgewidth=0.6, label=label,
                gid=f"rate:{key}", zorder=5)  # fmt: skip
    labels = [
        textwrap.shorten(f"{code}: {label}", _SUMMARY_LABEL_CHARS, placeholder="...")
        for code, label in zip(codes, rows["label"].fillna("").astype(str), strict=True)
    ]
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_ylim(n - 0.5 if n else 0.5, -0.6)
    ax.set_xlim(0.0, 1.0)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xticks(np.linspace(0.0, 1.0, 6))
    ax.tick_params(axis="x", labelsize="small")
    ax.set_xlabel("Rate (percent of the indicator's students)", fontsize="small")
    ax.grid(axis="x", color=_LIGHT_GREY, linewidth=0.6)
    ax.set_axisbelow(True)
    for k in range(1, n, 2):  # banding, so a row reads across to its text
        ax.axhspan(k - 0.5, k + 0.5, color="#F2F2F2", zorder=0, linewidth=0)

    # text columns right of the Axes, placed in inches from its right edge
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    fig = ax.figure
    base = blended_transform_factory(ax.transAxes, ax.transData)
    for column, head in zip(_SUMMARY_COLUMNS, ("Rate / target", "Status", "Trend"), strict=True):
        where = base + ScaledTranslation(column, 0.0, fig.dpi_scale_trans)
        ax.text(1.0, -0.5, head, transform=where + ScaledTranslation(0, 0.08, fig.dpi_scale_trans),
                ha="left", va="bottom", fontsize="small", fontweight="bold")  # fmt: skip
    shift = [base + ScaledTranslation(c, 0.0, fig.dpi_scale_trans) for c in _SUMMARY_COLUMNS]
    directions = rows["trend_direction"].fillna("").astype(str).to_numpy()
    slopes = pd.to_numeric(rows["trend_slope"], errors="coerce").to_numpy(dtype=float)
    for k, code in enumerate(codes):
        value = "no data" if not np.isfinite(rate[k]) else f"{rate[k]:.1%}"
        if small[k] and np.isfinite(rate[k]):
            value += "*"
        value += f" / {target[k]:.1%}" if np.isfinite(target[k]) else ""
        ax.text(1.0, y[k], value, transform=shift[0], ha="left", va="center",
                fontsize="small", gid=f"value:{code}")  # fmt: skip
        word = status[k]
        if word == "not met" and missed[k] > 1:
            word += f", {missed[k]:.0f} yrs"
        colour = INDICATOR_STATUS_STYLE.get(status[k], (_GREY,))[0]
        ax.text(1.0, y[k], word, transform=shift[1], ha="left", va="center", fontsize="small",
                color=colour, fontweight="bold" if status[k] == "not met" else "normal",
                gid=f"status:{code}")  # fmt: skip
        trend, trend_colour = trend_label(directions[k], slopes[k])
        ax.text(1.0, y[k], trend, transform=shift[2], ha="left", va="center", fontsize="small",
                color=trend_colour, gid=f"trend:{code}")  # fmt: skip

    n_target = int(np.isin(status, ["met", "not met"]).sum())
    n_met = int((status == "met").sum())
    summary = f"{n_met} of {n_target} targets met" if n_target else "no targets"
    ax.set_title(
        f"SPP/APR indicators and other measures, {school_year}: rate against target "
        f"({summary})\n"
        f"{_lea_title(lea_id, lea_name)}",
        loc="left", x=-(_SUMMARY_MARGINS[0] - 0.1) / max(ax.get_position().width
                                                         * fig.get_figwidth(), 1e-9),
        y=1.0, pad=22,
    )  # fmt: skip
    if n == 0:
        ax.text(0.5, 0.5, "No indicator data for this LEA.", transform=ax.transAxes,
                ha="center", va="center", color=_GREY)  # fmt: skip
    handles = [
        Line2D([], [], linestyle="none", marker=m, color=c, markersize=7, label=lab)
        for c, m, lab in INDICATOR_STATUS_STYLE.values()
    ] + [
        Line2D([], [], linestyle="none", marker="|", markersize=12, markeredgewidth=2.2,
               color="black", label="Target"),
        Line2D([], [], linestyle="none", marker="D", markersize=6, markerfacecolor="white",
               markeredgecolor="black", label="State rate"),
    ]  # fmt: skip
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.0),
              bbox_transform=ax.transAxes + ScaledTranslation(
                  -(_SUMMARY_MARGINS[0] - 0.1), -_SUMMARY_LEGEND_DROP, fig.dpi_scale_trans),
              ncols=5, fontsize="small", frameon=False, handletextpad=0.2,
              columnspacing=1.0)  # fmt: skip
    if small.any():
        ax.text(1.0, 0.0, "* few students: read with care",
                transform=ax.transAxes + ScaledTranslation(_SUMMARY_COLUMNS[0], -0.15,
                                                           fig.dpi_scale_trans),
                ha="left", va="top", fontsize="x-small", color=_GREY)  # fmt: skip
    return ax


# --------------------------------------------------------------------------------------------
# one LEA's charts
# --------------------------------------------------------------------------------------------


def lea_figures(
    results: pd.DataFrame,
    indicator_results: pd.DataFrame | None,
    lea_id: str,
    *,
    school_year: str | None = None,
    max_funnels: int = 2,
    lea_name: str | None = None,
) -> dict[str, Figure]:
    """All of one LEA's charts, as new figures keyed by name (nothing shown or saved).

    Parameters
    ----------
    results : DataFrame
        The statewide results table (the funnel plots need every LEA).
    indicator_results : DataFrame or None
        The result of :func:`cimrca.indicators.compute_indicators`; ``None`` skips the
        indicator chart.
    lea_id : str
        The LEA's CDE code.
    school_year : str, optional
        Year of the heat map and the funnels; default the LEA's latest.
    max_funnels : int, default 2
        At most this many funnel plots, for the year's flagged rows (significantly
        disproportionate first, then by consecutive years and ratio).
    lea_name : str, optional
        Shown in titles.

    Returns
    -------
    dict of str to Figure
        ``"ratio_trajectories"``, ``"ratio_heatmap"``, ``"indicator_trends"`` (when there are
        indicator rows for the LEA) and ``"funnel_<category>_<race>"`` per chosen row, in that
        order. ``"indicator_trends"`` is drawn by :func:`indicator_summary` (every indicator
        of the year on one Axes, with its trend); :func:`indicator_trends` draws chosen
        indicators over the years.
    """

    _require(results, _RESULT_NEEDS, "results table")
    lea = results[_text(results["lea_id"]) == str(lea_id)]
    if lea.empty:
        raise UsageError(f"LEA {lea_id} has no rows in the results table; check the LEA code.")
    if school_year is None:
        school_year = max(_text(lea["school_year"]))
    figures: dict[str, Figure] = {}
    figures["ratio_trajectories"] = ratio_trajectories(lea, lea_id, lea_name=lea_name).figure
    figures["ratio_heatmap"] = ratio_heatmap(
        lea, lea_id, school_year=school_year, lea_name=lea_name
    ).figure
    if indicator_results is not None:
        lea_ind = indicator_results[_text(indicator_results["lea_id"]) == str(lea_id)]
        if not lea_ind.empty:
            figures["indicator_trends"] = indicator_summary(
                lea_ind, lea_id, lea_name=lea_name
            ).figure
    now = lea[(_text(lea["school_year"]) == school_year) & _flag(lea["exceeds_threshold"])]
    if max_funnels > 0 and len(now):
        order = now.assign(
            _sd=_flag(now["significantly_disproportionate"])
            if "significantly_disproportionate" in now.columns
            else False,
            _cy=now["consecutive_years"] if "consecutive_years" in now.columns else 0,
        ).sort_values(["_sd", "_cy", "ratio"], ascending=False, kind="stable")
        year_rows = results[_text(results["school_year"]) == school_year]
        for row in order.head(max_funnels).itertuples(index=False):
            figures[f"funnel_{row.category}_{row.race_ethnicity}"] = funnel_plot(
                year_rows,
                category=row.category,
                race_ethnicity=row.race_ethnicity,
                school_year=school_year,
                lea_id=lea_id,
                lea_name=lea_name,
            ).figure
    return figures


# --------------------------------------------------------------------------------------------
# the drill-down
# --------------------------------------------------------------------------------------------

#: At most this many bars; the smallest parts beyond them are drawn as one bar, their sum.
DRILL_MAX_BARS: Final = 15
_DRILL_BAR_INCHES: Final = 0.3
#: (left, right, top, bottom) margins: room for school names on the left.
_MARGINS_DRILL: Final = (2.9, 0.35, 0.75, 0.65)
_DRILL_NAME_CHARS: Final = 38
_DRILL_NEEDS: Final = (
    "school_year", "lea_id", "category", "race_ethnicity", "dimension", "value", "label",
    "over_threshold",
)  # fmt: skip
_DRILL_NOUNS: Final = {"school": "school", "grade_band": "grade band", "gender": "gender",
                       "english_learner": "group", "socioeconomically_disadvantaged": "group",
                       "disability": "disability"}  # fmt: skip


def drilldown_bars(
    drilldown: pd.DataFrame,
    *,
    dimension: str = "school",
    max_bars: int = DRILL_MAX_BARS,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One finding's students over the threshold, part by part: horizontal bars, largest first.

    Parameters
    ----------
    drilldown : DataFrame
        One finding's rows of :func:`cimrca.drilldown.compute_drilldown`.
    dimension : str, default "school"
        The dimension drawn.
    max_bars : int, default :data:`DRILL_MAX_BARS`
        At most this many bars: beyond it, the smallest parts are drawn as one bar
        (``gid="part:other"``) holding their sum, so the bars still add up to the LEA's figure.
        Its name says "below the line" when every part it holds is below the threshold's
        level.
    title : str, optional
        Default: the finding's category and group.
    ax : Axes, optional
        Draw here; default a new figure sized to the bars.

    Returns
    -------
    Axes
        Bars ``gid="part:<value>"`` (width: the part's ``over_threshold``; vermillion above the
        threshold's level, grey below), the zero line ``gid="zero"`` (the threshold's level),
        the values ``gid="value:<value>"`` with one decimal, and the names on the y axis.

    Raises
    ------
    UsageError
        The frame lacks a column, holds several findings, or has no row of ``dimension``.

    Notes
    -----
    drilldown.md sections 2 and 3: a part is ``numerator_s - T * denominator_s * R`` with
    the comparison risk ``R`` of the LEA's own ratio, so the parts add up to the LEA's
    ``n - T d R`` (whose ceiling is its students over the threshold). It measures the gap,
    not a target for identifying fewer students (34 CFR 300.646(f)).
    """
    _require(drilldown, _DRILL_NEEDS, "drill-down table")
    rows = drilldown[drilldown["dimension"] == dimension]
    if rows.empty:
        raise UsageError(f"the drill-down has no {dimension!r} rows to draw; give rows of it.")
    keys = ["school_year", "lea_id", "category", "race_ethnicity"]
    if len(rows[keys].drop_duplicates()) > 1:
        raise UsageError("the drill-down holds several findings; give the rows of one finding.")
    rows = rows.sort_values(["over_threshold", "value"], ascending=[False, True],
                            na_position="last", kind="stable")  # fmt: skip
    values = rows["over_threshold"].astype(float).fillna(0.0).to_numpy()
    codes = _text(rows["value"]).to_numpy()
    names = rows["label"].fillna("").astype(str).where(rows["label"].fillna("").ne(""),
                                                       _text(rows["value"])).to_numpy()  # fmt: skip
    noun = _DRILL_NOUNS.get(dimension, dimension)
    if max_bars >= 2 and len(values) > max_bars:
        rest = len(values) - (max_bars - 1)
        below = " below the line" if (values[max_bars - 1 :] <= 0).all() else ", together"
        values = np.append(values[: max_bars - 1], values[max_bars - 1 :].sum())
        codes = np.append(codes[: max_bars - 1], "other")
        names = np.append(names[: max_bars - 1], f"{rest} other {noun}s{below}")
    n = len(values)
    ax = _axes(ax, (8.0, 1.4 + _DRILL_BAR_INCHES * n), _MARGINS_DRILL)
    y = np.arange(n)
    colours = np.where(values > 0, PALETTE[1], _GREY)
    bars = ax.barh(y, values, color=colours, height=0.7, zorder=2)
    for patch, code in zip(bars.patches, codes, strict=True):
        patch.set_gid(f"part:{code}")
    ax.axvline(0.0, color=_THRESHOLD_COLOUR, linewidth=1.4, gid="zero", zorder=3)
    span = max(float(np.abs(values).max()), 1e-9)
    for yi, v, code in zip(y, values, codes, strict=True):
        shown = f"{v:.1f}" if round(v, 1) != 0 else "0.0"
        ax.text(v + (0.01 if v >= 0 else -0.01) * span * 2, yi, shown,
                va="center", ha="left" if v >= 0 else "right", fontsize="small",
                gid=f"value:{code}")  # fmt: skip
    ax.set_yticks(y, [textwrap.fill(str(x), _DRILL_NAME_CHARS) for x in names])
    ax.set_ylim(n - 0.5, -0.5)
    low, high = min(values.min(), 0.0), max(values.max(), 0.0)
    pad = 0.15 * (high - low or 1.0)
    ax.set_xlim(low - (pad if low < 0 else 0.02 * pad), high + pad)
    ax.grid(axis="x", color=_LIGHT_GREY, linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.set_xlabel(f"Students over the threshold in each {noun} (left of the line: below the "
                  "threshold's level)", fontsize="small")  # fmt: skip
    first = rows.iloc[0]
    if title is None:
        title = (f"{CATEGORY_LABELS.get(first['category'], first['category'])} - "
                 f"{RACE_LABELS.get(first['race_ethnicity'], first['race_ethnicity'])}, "
                 f"{first['school_year']}")  # fmt: skip
    ax.text(0.0, -0.6, "threshold's level", ha="center", va="bottom", fontsize="x-small",
            gid="zero_label")  # fmt: skip
    # the title starts at the figure's left edge, above the names, not at the Axes' edge
    box = ax.get_position()
    fig_w = ax.figure.get_figwidth()
    x0 = -(box.x0 - 0.1 / fig_w) / box.width if box.width else 0.0
    ax.set_title(f"{title}\nWhere the students over the threshold are, by {noun}: the parts "
                 f"add up to {values.sum():.1f}", fontsize="medium", loc="left", x=x0,
                 pad=14)  # fmt: skip
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax


def drilldown_figures(
    drilldown: pd.DataFrame, findings: pd.DataFrame, *, dimension: str = "school"
) -> dict[str, Figure]:
    """A :func:`drilldown_bars` figure per finding with ``dimension`` rows, by ``finding_id``.

    ``findings`` are rows of :func:`cimrca.findings.findings` (``finding_id`` and the keys),
    in the order the figures are wanted; a finding without rows of ``dimension`` gets none.
    """
    keys = ["school_year", "lea_id", "category", "race_ethnicity"]
    if drilldown.empty or findings.empty:
        return {}
    rows = drilldown[drilldown["dimension"] == dimension].merge(
        findings[[*keys, "finding_id"]].astype({"lea_id": str}), on=keys
    )
    return {  # one figure per finding: a loop over pictures, not over data
        fid: drilldown_bars(part, dimension=dimension).figure
        for fid, part in rows.groupby("finding_id", sort=False)
    }


#: Most text layouts, glyph bitmaps and text metrics :func:`_canvas_class` keeps per process
#: (each cache is emptied when full; a packet draws a few thousand glyphs).
_TEXT_CACHE_ENTRIES: Final = 50_000


@functools.cache
def _canvas_class() -> type:
    """An Agg canvas whose renderer remembers text across figures (same pixels, less work).

    matplotlib lays out and rasterises every string each time it is drawn, and looks its font
    up and measures it for each new figure; most of a chart's drawing time is text. The
    renderer here keeps, for the life of the process: each string's metrics and glyph layout
    (by font object, size, dpi and hinting), and each glyph's bitmap by its position within a
    pixel (1/64 pixel, as FreeType places it), so a glyph drawn again at the same sub-pixel
    offset is copied, not rendered. Glyphs shift by whole pixels exactly, so the image is
    byte-for-byte the one :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` draws
    (``tests/test_charts.py`` checks it). With a matplotlib whose Agg renderer lacks the
    glyph-level methods this relies on, only the metrics are cached.
    """
    import math

    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
    from matplotlib.font_manager import fontManager, get_font
    from matplotlib.ft2font import FT2Font

    glyph_level = hasattr(RendererAgg, "_draw_text_glyphs_and_boxes") and all(
        hasattr(FT2Font, name) for name in ("_layout", "_render_glyph", "_set_transform")
    )
    if glyph_level:
        from matplotlib.ft2font import RenderMode
    metrics: dict[tuple, tuple[float, float, float]] = {}
    layouts: dict[tuple, tuple] = {}
    glyphs: dict[tuple, tuple] = {}
    heights: dict[tuple, tuple] = {}
    pinned: dict[int, object] = {}  # the fonts whose id is in a key stay alive

    def remember(cache: dict, key: tuple, value: object) -> None:
        if len(cache) >= _TEXT_CACHE_ENTRIES:
            cache.clear()
        cache[key] = value

    class Renderer(RendererAgg):
        def clear(self) -> None:
            super().clear()
            self._fonts: dict[int, FT2Font] = {}  # font lookups of one draw (rcParams may change)

        def _font(self, prop) -> FT2Font:  # noqa: ANN001
            key = hash(prop)
            fonts = self.__dict__.setdefault("_fonts", {})
            font = fonts.get(key)
            if font is None:
                font = fonts[key] = get_font(fontManager._find_fonts_by_props(prop))
                pinned[id(font)] = font
            return font

        def get_text_width_height_descent(self, s, prop, ismath):  # noqa: ANN001
            if ismath:
                return super().get_text_width_height_descent(s, prop, ismath)
            font = self._font(prop)
            key = (id(font), prop.get_size_in_points(), self.dpi, get_hinting_flag(), s)
            found = metrics.get(key)
            if found is None:
                found = super().get_text_width_height_descent(s, prop, ismath)
                remember(metrics, key, found)
            return found

        def _get_font_height_metrics(self, prop):  # noqa: ANN001
            # what matplotlib.text.Text._get_layout computes for every text, once per font
            font = self._font(prop)
            key = (id(font), prop.get_size_in_points(), self.dpi)
            found = heights.get(key)
            if found is None:
                found = (None, None, None)
                for table_name, gap, ascent, descent in (
                    ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
                    ("hhea", "lineGap", "ascent", "descent"),
                ):
                    table = font.get_sfnt_table(table_name)
                    if table is None:
                        continue
                    units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
                    scale = 1 / units_per_em * prop.get_size_in_points() * self.dpi / 72
                    found = (table[ascent] * scale, -table[descent] * scale, table[gap] * scale)
                    break
                remember(heights, key, found)
            return found

        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):  # noqa: ANN001
            plain = not ismath and (
                mtext is None or (mtext.get_fontfeatures() is None and mtext.get_language() is None)
            )
            if not (glyph_level and plain):
                return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            font = self._font(prop)
            size = prop.get_size_in_points()
            flags = get_hinting_flag()
            key = (id(font), size, self.dpi, flags, s)
            items = layouts.get(key)
            if items is None:
                font.clear()
                font.set_size(size, self.dpi)
                items = tuple((item.ft_object, item.glyph_index, item.x, item.y)
                              for item in font._layout(s, flags=flags))  # fmt: skip
                for item in items:
                    pinned[id(item[0])] = item[0]
                remember(layouts, key, items)
            cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            matrix = None
            mode = RenderMode.NORMAL if gc.get_antialiased() else RenderMode.MONO
            height = self.height
            draw_image = self._renderer.draw_text_image
            for ft, index, dx, dy in items:
                # FreeType's 26.6 fixed point: whole pixels (>> 6) and the sub-pixel rest (& 63)
                px = round(0x40 * (x + dx * cos - dy * sin))
                py = round(0x40 * (height - y + dx * sin + dy * cos))
                gkey = (id(ft), size, self.dpi, index, angle, px & 63, py & 63, flags, mode)
                found = glyphs.get(gkey)
                if found is None:
                    if matrix is None:
                        matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]])).round().astype(int)
                    ft.set_size(size, self.dpi)
                    ft._set_transform(matrix, [px & 63, py & 63])
                    bitmap = ft._render_glyph(index, flags, mode)
                    buffer = bitmap.buffer
                    if mode == RenderMode.MONO:
                        buffer *= 0xFF
                    found = (buffer, bitmap.left, bitmap.top)
                    remember(glyphs, gkey, found)
                buffer, left, top = found
                draw_image(buffer, left + (px >> 6), int(height) - top - (py >> 6)
                           + buffer.shape[0], 0, gc)  # fmt: skip
            return None

    class Canvas(FigureCanvasAgg):
        def get_renderer(self) -> Renderer:
            w, h = self.get_width_height(physical=True)
            key = w, h, self.figure.dpi
            if self._lastKey != key:
                self.renderer = Renderer(w, h, self.figure.dpi)
                self._lastKey = key
            return self.renderer

    return Canvas


def figures_to_png(figures: dict[str, Figure], *, dpi: int = DEFAULT_DPI) -> dict[str, bytes]:
    """Render figures to PNG bytes in memory (for the workbook's ``Charts`` sheet and packet).

    Each figure is drawn once on an Agg canvas at its own size (no tight bounding box, no
    second layout pass) whose renderer reuses the text it drew before (:func:`_canvas_class`:
    the same pixels as matplotlib's own Agg canvas); nothing is written to disk, the caller
    decides where the bytes go. An opaque image (every chart here: the figure's background is
    white) is stored as RGB, without the alpha channel that would hold only 255s: the same
    pixels, encoded in about two thirds of the time.

    Parameters
    ----------
    figures : dict of str to Figure
        As :func:`lea_figures` returns them.
    dpi : int, default 100
        Pixels per inch: 100 gives an 800-pixel-wide image for an 8-inch chart, sharp on screen
        and in print at the chart's size.
    """
    from io import BytesIO

    import matplotlib as mpl
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    canvas_class = _canvas_class()
    info = PngInfo()  # what matplotlib's savefig records
    info.add_text("Software", f"Matplotlib version{mpl.__version__}, https://matplotlib.org/")
    out: dict[str, bytes] = {}
    # FreeType's own hinting draws the same antialiased text about a third faster than the
    # default forced autohinter; text is most of the drawing time of these charts.
    with mpl.rc_context({"text.hinting": "auto"}):
        for name, figure in figures.items():
            canvas = canvas_class(figure)
            figure.set_dpi(dpi)
            canvas.draw()
            rgba = np.asarray(canvas.buffer_rgba())
            opaque = bool((rgba[..., 3] == 255).all())
            image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]) if opaque else rgba)
            buffer = BytesIO()
            image.save(buffer, format="png", compress_level=_PNG_COMPRESSION, dpi=(dpi, dpi),
                       pnginfo=info)  # fmt: skip
            out[name] = buffer.getvalue()
    return out
