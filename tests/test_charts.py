"""Tests of cimrca.charts: each chart renders (Agg) and draws the values of the data frames."""

from __future__ import annotations

import time
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cimrca.charts import (
    figures_to_png,
    funnel_plot,
    indicator_summary,
    indicator_trends,
    indicator_trends_figure,
    lea_figures,
    ratio_heatmap,
    ratio_trajectories,
    reused_figures,
)
from cimrca.codes import CATEGORY_LABELS, RACE_LABELS, RACES, REASON_LABELS
from cimrca.errors import UsageError
from cimrca.indicators import compute_indicators

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
YEARS = ["2021-22", "2022-23", "2023-24"]
CATS = ["ident_id", "ident_sld", "disc_tdr"]
LEA = "0000001"
THRESHOLD = 3.0
RENDERED_LEAS = 3  # flagged LEAs of the sample rendered by the slow test (plus one clean LEA)


def _results() -> pd.DataFrame:
    """A hand-made statewide results table: 12 LEAs x 3 years x 3 categories x 7 groups."""
    leas = [f"{i:07d}" for i in range(1, 13)]
    keys = pd.MultiIndex.from_product([YEARS, leas, CATS, list(RACES)],
                                      names=["school_year", "lea_id", "category",
                                             "race_ethnicity"]).to_frame(index=False)  # fmt: skip
    n = len(keys)
    rng = np.random.default_rng(7)
    frame = keys.assign(
        numerator=rng.integers(10, 60, n).astype(float),
        denominator=rng.integers(100, 5000, n).astype(float),
        ratio=np.round(rng.uniform(0.5, 2.5, n), 3),
        ratio_type="risk_ratio",
        reason="",
        threshold=THRESHOLD,
        consecutive_years=0,
        significantly_disproportionate=False,
    )

    def at(year, lea, cat, race):
        return (
            (frame["school_year"] == year) & (frame["lea_id"] == lea)
            & (frame["category"] == cat) & (frame["race_ethnicity"] == race)
        )  # fmt: skip

    for year, value in zip(YEARS, [2.5, 3.5, 4.0], strict=True):
        frame.loc[at(year, LEA, "ident_id", "BL"), "ratio"] = value
    for year, value in zip(YEARS, [3.2, 1.0, 1.1], strict=True):
        frame.loc[at(year, LEA, "ident_sld", "HI"), "ratio"] = value
    frame.loc[at("2023-24", LEA, "ident_sld", "AS"), "ratio_type"] = "alternate_risk_ratio"
    for year in YEARS:
        frame.loc[at(year, LEA, "ident_id", "PI"), ["ratio", "reason"]] = [
            np.nan,
            "group_below_min_cell",
        ]
    frame.loc[at("2023-24", LEA, "ident_sld", "MU"), ["ratio", "reason"]] = [
        np.nan,
        "missing_input",
    ]
    frame.loc[at("2023-24", "0000005", "ident_id", "BL"), "ratio"] = 5.0
    frame.loc[at("2023-24", "0000006", "ident_id", "BL"), ["ratio", "reason"]] = [
        np.nan, "comparison_below_min"]  # fmt: skip
    frame.loc[frame["ratio"].isna(), "ratio_type"] = "not_calculated"
    frame["exceeds_threshold"] = frame["ratio"] > THRESHOLD
    frame.loc[at("2023-24", LEA, "ident_id", "BL"), "consecutive_years"] = 2
    return frame


def _indicator_results() -> pd.DataFrame:
    rows = []
    for lea, shift in (("0000001", 0.0), ("0000002", 0.1)):
        for code, rates in (("1", [0.70, 0.72, 0.80]), ("2", [0.10, 0.12, 0.09])):
            for year, rate in zip(YEARS, rates, strict=True):
                rows.append((year, lea, code, (rate + shift) * 200, 200.0 if lea != LEA or
                             year != "2021-22" else 20.0))  # fmt: skip
    frame = pd.DataFrame(rows, columns=["school_year", "lea_id", "indicator", "numerator",
                                        "denominator"])  # fmt: skip
    frame["numerator"] = np.round(frame["numerator"] * frame["denominator"] / 200)
    targets = pd.DataFrame({"school_year": YEARS, "indicator": "1", "target": 0.75,
                            "higher_is_better": True, "label": "Graduation rate"})  # fmt: skip
    return compute_indicators(frame, targets)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return _results()


@pytest.fixture(scope="module")
def indicator_results() -> pd.DataFrame:
    return _indicator_results()


def _lines(ax, prefix: str) -> list:
    return [line for line in ax.get_lines() if str(line.get_gid() or "").startswith(prefix)]


def _render(ax) -> bytes:
    buffer = BytesIO()
    ax.figure.savefig(buffer, format="png", dpi=60)
    return buffer.getvalue()


def test_ratio_trajectories_draws_flagged_pairs(results):
    ax = ratio_trajectories(results, LEA, lea_name="Alameda Unified")
    assert (
        "disproportionate in any year" in ax.get_title()
        and "Alameda Unified (0000001)" in ax.get_title()
    )
    assert ax.get_xlabel() == "School year" and ax.get_ylabel() == "Ratio used"
    assert [t.get_text() for t in ax.get_xticklabels()] == YEARS
    lines = _lines(ax, "ratio:")
    assert [line.get_gid() for line in lines] == ["ratio:ident_id:BL", "ratio:ident_sld:HI"]
    np.testing.assert_allclose(lines[0].get_ydata(), [2.5, 3.5, 4.0])
    np.testing.assert_allclose(lines[1].get_ydata(), [3.2, 1.0, 1.1])
    # BL ident_id: 3.5 and 4.0 exceed 3 (2022-23, 2023-24), 2.5 does not
    assert lines[0].get_label() == (
        f"{RACE_LABELS['BL']}: {CATEGORY_LABELS['ident_id']} (above the threshold in 2 of 3 years)"
    )
    assert lines[1].get_label().endswith("(above the threshold in 1 of 3 years)")
    assert ax.get_ylim()[1] > 4.0  # the highest point is not cut by the frame
    (threshold,) = _lines(ax, "threshold")
    np.testing.assert_allclose(threshold.get_ydata(), [THRESHOLD, THRESHOLD])
    (flagged,) = _lines(ax, "flagged")
    # flagged years: BL 2022-23 and 2023-24 (x = 1, 2) and HI 2021-22 (x = 0)
    points = sorted(zip(flagged.get_xdata(), flagged.get_ydata(), strict=True))
    assert points == [(0.0, 3.2), (1.0, 3.5), (2.0, 4.0)]
    assert _render(ax).startswith(b"\x89PNG")


def test_ratio_trajectories_categories_and_nothing_flagged(results):
    ax = ratio_trajectories(results, LEA, categories=["ident_sld"])
    assert [line.get_gid() for line in _lines(ax, "ratio:")] == ["ratio:ident_sld:HI"]
    quiet = results[~((results["lea_id"] == LEA) & results["exceeds_threshold"])]
    ax = ratio_trajectories(quiet, LEA)
    assert not _lines(ax, "ratio:")
    assert any("No category and group exceeded" in t.get_text() for t in ax.texts)
    assert len(_lines(ax, "threshold")) == 1


def test_ratio_heatmap_cells_and_not_calculated(results):
    ax = ratio_heatmap(results, LEA)
    assert ax.get_title().startswith("Ratios by group and category, 2023-24")
    assert ax.get_xlabel() == "Category" and ax.get_ylabel() == "Racial/ethnic group"
    (image,) = ax.images
    data = image.get_array()
    assert data.shape == (len(RACES), len(CATS))  # 7 groups x 3 categories
    latest = results[(results["lea_id"] == LEA) & (results["school_year"] == "2023-24")]
    expected = latest.pivot(index="race_ethnicity", columns="category", values="ratio")
    expected = expected.reindex(index=list(RACES), columns=CATS).to_numpy()
    np.testing.assert_allclose(data.filled(np.nan), expected)
    # not-calculated cells are masked (not drawn as zeros) and marked by reason
    mask = np.ma.getmaskarray(data)
    assert mask.sum() == 2
    assert mask[RACES.index("PI"), CATS.index("ident_id")]
    assert mask[RACES.index("MU"), CATS.index("ident_sld")]
    gids = {c.get_gid() for c in ax.collections}
    assert {"not_calculated:group_below_min_cell", "not_calculated:missing_input",
            "flagged"} <= gids  # fmt: skip
    texts = {t.get_text() for t in ax.texts}
    assert {
        "C",
        "M",
        "4.00",
        f"{latest.loc[latest['race_ethnicity'] == 'AS'].iloc[1]['ratio']:.2f}*",
    } <= texts
    legend = ax.figure.legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert any(REASON_LABELS["group_below_min_cell"] in label for label in labels)
    assert any(REASON_LABELS["missing_input"] in label for label in labels)
    assert any("alternate risk ratio" in label for label in labels)
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert any(line.get_gid() == "threshold" for a in colorbar_axes for line in a.get_lines())
    assert _render(ax).startswith(b"\x89PNG")


def test_ratio_heatmap_on_given_axes_and_errors(results):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert ratio_heatmap(results, LEA, school_year="2021-22", ax=ax) is ax
    assert ax.get_legend() is not None and not fig.legends
    with pytest.raises(UsageError, match=r"no results for 1999-00"):
        ratio_heatmap(results, LEA, school_year="1999-00")
    with pytest.raises(UsageError, match=r"LEA 7777777 has no rows"):
        ratio_heatmap(results, "7777777")


def test_funnel_plot_points_limits_and_highlight(results):
    ax = funnel_plot(results, category="ident_id", race_ethnicity="BL", school_year="2023-24",
                     lea_id=LEA)  # fmt: skip
    title = ax.get_title()
    assert CATEGORY_LABELS["ident_id"] in title and RACE_LABELS["BL"] in title
    assert "2023-24" in title
    assert ax.get_xscale() == "log" and "Students in the group" in ax.get_xlabel()
    rows = results[(results["category"] == "ident_id") & (results["race_ethnicity"] == "BL")
                   & (results["school_year"] == "2023-24")]  # fmt: skip
    shown = rows[rows["ratio"].notna()]
    (plain,) = _lines(ax, "leas")
    (flagged,) = _lines(ax, "flagged")
    assert len(plain.get_xdata()) + len(flagged.get_xdata()) == len(shown) == 11
    np.testing.assert_allclose(sorted(flagged.get_ydata()), [4.0, 5.0])
    (mine,) = _lines(ax, f"lea:{LEA}")
    row = rows[rows["lea_id"] == LEA].iloc[0]
    assert (mine.get_xdata()[0], mine.get_ydata()[0]) == (row["denominator"], 4.0)
    uppers = _lines(ax, "limit:") and [ln for ln in _lines(ax, "limit:") if "upper" in ln.get_gid()]
    assert len(uppers) == 2
    # limits around 1 with SE sqrt(p0 (1 - p0) / n) / p0, p0 = the State's ID risk that year
    year = results[(results["category"] == "ident_id") & (results["school_year"] == "2023-24")]
    p0 = year["numerator"].sum() / year["denominator"].sum()
    x, y = uppers[0].get_xdata(), uppers[0].get_ydata()
    np.testing.assert_allclose(y, 1 + 1.959963984540054 * np.sqrt(p0 * (1 - p0) / x) / p0)
    (threshold,) = _lines(ax, "threshold")
    assert threshold.get_ydata()[0] == THRESHOLD
    assert any("1 LEA without a ratio" in t.get_text() for t in ax.texts)
    assert _render(ax).startswith(b"\x89PNG")


def test_funnel_plot_rate_category_and_not_calculated_lea(results):
    ax = funnel_plot(results, category="ident_id", race_ethnicity="BL", school_year="2023-24",
                     lea_id="0000006")  # fmt: skip
    assert not _lines(ax, "lea:0000006")
    assert any(REASON_LABELS["comparison_below_min"] in t.get_text() for t in ax.texts)
    ax = funnel_plot(results, category="disc_tdr", race_ethnicity="WH", school_year="2022-23")
    year = results[(results["category"] == "disc_tdr") & (results["school_year"] == "2022-23")]
    p0 = year["numerator"].sum() / year["denominator"].sum()
    upper = [ln for ln in _lines(ax, "limit:0.95") if "upper" in ln.get_gid()][0]
    x = upper.get_xdata()
    # removals are events: Poisson standard error sqrt(p0 / n) / p0
    np.testing.assert_allclose(upper.get_ydata(), 1 + 1.959963984540054 * np.sqrt(p0 / x) / p0)
    with pytest.raises(UsageError, match=r"no 'ident_xx' rows"):
        funnel_plot(results, category="ident_xx", race_ethnicity="BL", school_year="2023-24")


def test_indicator_trends_values(indicator_results):
    ax = indicator_trends(indicator_results, LEA, indicators=["1"])
    assert ax.get_title().startswith("Graduation rate (indicator 1)")
    assert "Trend:" in ax.get_title()
    assert ax.get_xlabel() == "School year" and ax.get_ylabel() == "Rate"
    mine = indicator_results[(indicator_results["lea_id"] == LEA)
                             & (indicator_results["indicator"] == "1")]  # fmt: skip
    (lea_line,) = _lines(ax, "lea:1")
    (state_line,) = _lines(ax, "state:1")
    (target_line,) = _lines(ax, "target:1")
    np.testing.assert_allclose(lea_line.get_ydata(), mine["rate"])
    np.testing.assert_allclose(state_line.get_ydata(), mine["state_rate"])
    np.testing.assert_allclose(target_line.get_ydata(), [0.75] * 3)
    (small,) = _lines(ax, "small:1")  # 2021-22 rests on 20 students
    np.testing.assert_allclose(small.get_xdata(), [0.0])
    ax = indicator_trends(indicator_results, LEA)
    assert {line.get_gid() for line in ax.get_lines()} >= {"lea:1", "lea:2", "state:2"}
    assert not _lines(ax, "target:2")  # indicator 2 has no target: no target line
    assert _render(ax).startswith(b"\x89PNG")


def test_indicator_trends_figure_small_multiples(indicator_results):
    fig = indicator_trends_figure(indicator_results, LEA, ncols=3)
    visible = [a for a in fig.axes if a.get_visible()]
    assert len(visible) == 2
    assert [_lines(a, "lea:")[0].get_gid() for a in visible] == ["lea:1", "lea:2"]
    assert "SPP/APR indicators and other measures against their targets" in fig.get_suptitle()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "LEA",
        "State",
        "Target",
        "Small denominator",
    ]
    with pytest.raises(UsageError, match=r"ncols must be at least 1"):
        indicator_trends_figure(indicator_results, LEA, ncols=0)


def test_lea_figures_builds_everything_without_pyplot(results, indicator_results):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures = lea_figures(results, indicator_results, LEA)
    assert list(figures) == ["ratio_trajectories", "ratio_heatmap", "indicator_trends",
                             "funnel_ident_id_BL"]  # fmt: skip
    assert plt.get_fignums() == before  # nothing registered with pyplot, nothing shown
    png = figures_to_png(figures, dpi=50)
    assert all(v.startswith(b"\x89PNG") for v in png.values())
    assert "indicator_trends" not in lea_figures(results, None, LEA)
    with pytest.raises(UsageError, match=r"LEA 7777777 has no rows"):
        lea_figures(results, indicator_results, "7777777")


def _matplotlib_pixels(figure, dpi: int) -> np.ndarray:
    """The figure drawn by matplotlib's own Agg canvas, as figures_to_png draws it."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with mpl.rc_context({"text.hinting": "auto"}):
        canvas = FigureCanvasAgg(figure)
        figure.set_dpi(dpi)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba()).copy()


def test_png_has_the_pixels_matplotlib_draws(results, indicator_results):
    """The text-caching canvas draws exactly what FigureCanvasAgg draws, first time and again.

    The second LEA's charts are drawn from the caches the first filled (same fonts, sizes and
    many of the same strings: tick labels, titles, legends, rotated category names).
    """
    from PIL import Image

    for lea in (LEA, "0000005", LEA):
        png = figures_to_png(lea_figures(results, indicator_results, lea, lea_name="A"), dpi=80)
        again = lea_figures(results, indicator_results, lea, lea_name="A")
        assert list(png) == list(again)
        for name, figure in again.items():
            image = Image.open(BytesIO(png[name]))
            expected = _matplotlib_pixels(figure, 80)
            assert image.mode == "RGB" and image.info["dpi"] == pytest.approx((80, 80), abs=0.01)
            assert (expected[..., 3] == 255).all()  # opaque: RGB loses nothing
            assert np.array_equal(np.asarray(image), expected[..., :3]), (lea, name)


def test_charts_of_one_lea_do_not_depend_on_the_lea_drawn_before(results, indicator_results):
    """Drawing LEA A then LEA B (reused figures, warm text caches) gives B's PNG bytes as a
    fresh process drawing B alone on new figures."""
    import subprocess
    import sys

    for lea in ("0000005", LEA):  # A (one flagged row), then B (flagged, identified, gaps)
        with reused_figures():
            after_a = figures_to_png(
                lea_figures(results, indicator_results, lea, lea_name=lea), dpi=70
            )
    code = (
        "import sys, matplotlib; matplotlib.use('Agg')\n"
        "from cimrca.charts import figures_to_png, lea_figures\n"
        "from tests.test_charts import LEA, _indicator_results, _results\n"
        "png = figures_to_png(lea_figures(_results(), _indicator_results(), LEA, lea_name=LEA),"
        " dpi=70)\n"
        "sys.stdout.buffer.write(b''.join(len(v).to_bytes(8, 'big') + v for v in png.values()))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         check=True).stdout  # fmt: skip
    alone = []
    while out:
        n = int.from_bytes(out[:8], "big")
        alone.append(out[8 : 8 + n])
        out = out[8 + n :]
    assert alone == list(after_a.values())


def test_reused_figures_are_reused_and_draw_what_new_ones_draw(results, indicator_results):
    """Inside reused_figures the second LEA's charts are the first's figures, emptied; outside
    the block every chart gets a new figure; the images equal those of new figures."""
    new = {
        lea: figures_to_png(lea_figures(results, indicator_results, lea, lea_name="N"), dpi=60)
        for lea in (LEA, "0000005", "0000002")
    }
    seen: set[int] = set()
    reused = 0
    for lea in (LEA, "0000005", "0000002", LEA, "0000002"):
        with reused_figures():
            figures = lea_figures(results, indicator_results, lea, lea_name="N")
            reused += sum(id(f) in seen for f in figures.values())
            seen.update(id(f) for f in figures.values())
            assert figures_to_png(figures, dpi=60) == new[lea], lea
    assert reused >= 8  # the trajectories, heat map and indicators of the later LEAs at least
    outside = lea_figures(results, indicator_results, LEA)
    assert not {id(f) for f in outside.values()} & seen


@pytest.mark.slow
def test_reused_figures_across_the_sample():
    """Charts of sample LEAs drawn one after another on reused figures equal new figures'."""
    results, indicators = _sample_tables()
    leas = sorted(results["lea_id"].unique())[::5]
    new = {lea: figures_to_png(lea_figures(results, indicators, lea), dpi=60) for lea in leas}
    for lea in leas + leas[::-1]:
        with reused_figures():
            assert figures_to_png(lea_figures(results, indicators, lea), dpi=60) == new[lea], lea


def test_inputs_are_not_mutated(results, indicator_results):
    r, i = results.copy(deep=True), indicator_results.copy(deep=True)
    lea_figures(results, indicator_results, LEA)
    funnel_plot(results, category="ident_id", race_ethnicity="BL", school_year="2023-24")
    pd.testing.assert_frame_equal(results, r)
    pd.testing.assert_frame_equal(indicator_results, i)


def test_missing_columns_are_reported(results):
    with pytest.raises(UsageError, match=r"lacks column\(s\) threshold"):
        ratio_trajectories(results.drop(columns="threshold"), LEA)


def test_indicator_summary_values_and_status(indicator_results):
    ax = indicator_summary(indicator_results, LEA, lea_name="Alameda Unified")
    mine = indicator_results[(indicator_results["lea_id"] == LEA)
                             & (indicator_results["school_year"] == "2023-24")]  # fmt: skip
    mine = mine.set_index("indicator")
    # rows from the top in reading order, labelled "<code>: <label>"
    codes = [t.get_text().split(":")[0] for t in ax.get_yticklabels()]
    assert codes == ["1", "2"]
    np.testing.assert_allclose(ax.get_yticks(), [0.0, 1.0])
    title = ax.get_title(loc="left")
    assert (
        "SPP/APR indicators and other measures, 2023-24" in title
        and "Alameda Unified (0000001)" in title
    )
    # indicator 1: 0.80 against a target of 0.75 (higher is better): met; 2 has no target
    assert mine.loc["1", "target_status"] == "met"
    (met,) = _lines(ax, "rate:met")
    np.testing.assert_allclose(met.get_xdata(), [mine.loc["1", "rate"]])
    np.testing.assert_allclose(met.get_ydata(), [0.0])
    (none,) = _lines(ax, "rate:no target")
    np.testing.assert_allclose(none.get_xdata(), [mine.loc["2", "rate"]])
    (not_met,) = _lines(ax, "rate:not met")
    assert len(not_met.get_xdata()) == 0
    (target,) = _lines(ax, "target")
    np.testing.assert_allclose(target.get_xdata(), [0.75])
    (state,) = _lines(ax, "state")
    np.testing.assert_allclose(state.get_xdata(), mine.loc[["1", "2"], "state_rate"])
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert texts["value:1"] == f"{mine.loc['1', 'rate']:.1%} / 75.0%"
    assert texts["status:1"] == "met" and texts["status:2"] == "no target"
    assert texts["trend:1"].endswith(mine.loc["1", "trend_direction"])
    assert ax.get_xlim() == (0.0, 1.0)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["LEA rate, target met", "LEA rate, target not met", "LEA rate, no target",
                      "Target", "State rate"]  # fmt: skip
    assert _render(ax).startswith(b"\x89PNG")


def test_indicator_summary_not_met_and_empty(indicator_results):
    lower = indicator_results.assign(target=indicator_results["target"] + 0.2)
    lower = lower.assign(
        target_status=np.where(lower["target"].notna(), "not met", "no target"),
        consecutive_missed=3,
    )
    ax = indicator_summary(lower, LEA)
    (not_met,) = _lines(ax, "rate:not met")
    assert len(not_met.get_xdata()) == 1
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert texts["status:1"] == "not met, 3 yrs"
    ax = indicator_summary(indicator_results, "7777777")
    assert any("No indicator data" in t.get_text() for t in ax.texts)


def _sample_tables():
    if not (SAMPLE / "leas.csv").exists():
        return _results(), _indicator_results()
    from cimrca.dataset import load_dataset
    from cimrca.methodology import compute_results
    from cimrca.profiles import load_profile

    dataset = load_dataset(SAMPLE)
    results = compute_results(dataset, load_profile("california"))
    indicators = (
        compute_indicators(dataset.indicators, dataset.targets)
        if dataset.indicators is not None
        else None
    )
    return results, indicators


@pytest.mark.slow
def test_a_few_leas_of_the_sample_without_warnings():
    """All charts of a few LEAs of data/sample (a hand-made table when the sample is absent)."""
    results, indicators = _sample_tables()
    flagged = results.loc[results["exceeds_threshold"].astype(bool), "lea_id"]
    most = flagged.value_counts().index[:RENDERED_LEAS].tolist()
    clean = sorted(set(results["lea_id"]) - set(flagged))[:1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lea in most + clean:
            figures = lea_figures(results, indicators, lea)
            assert {"ratio_trajectories", "ratio_heatmap"} <= set(figures)
            assert sum(name.startswith("funnel_") for name in figures) <= 3
            # layout and glyph warnings surface only when drawn
            png = figures_to_png(figures, dpi=40)
            assert all(v.startswith(b"\x89PNG") for v in png.values())


@pytest.mark.slow
def test_one_lea_charts_are_fast():
    """Building and rendering one LEA's charts (the sample's busiest LEA) stays fast.

    The goal is under 1 s of wall time on a quiet machine (benchmarks/charts.py); the bound
    here is the CPU time of this thread (the charts are drawn on it; ``process_time`` would
    also count idle library thread pools of the process), with room for a shared machine.
    """
    results, indicators = _sample_tables()
    flagged = results.loc[results["exceeds_threshold"].astype(bool), "lea_id"]
    lea = flagged.value_counts().index[0]
    figures_to_png(lea_figures(results, indicators, lea))  # warm imports and font caches
    start = time.thread_time()
    figures_to_png(lea_figures(results, indicators, lea))
    assert time.thread_time() - start < 5.0  # before the redesign: 6-7 s (benchmarks/charts.py)


# --- the drill-down bars ---------------------------------------------------------------------


def _drill_rows(parts: dict[str, float]) -> pd.DataFrame:
    """One finding's school rows, as compute_drilldown gives them (only the drawn columns)."""
    n = len(parts)
    return pd.DataFrame({
        "school_year": ["2024-25"] * n, "lea_id": ["0100001"] * n,
        "category": ["ident_ed"] * n, "race_ethnicity": ["BL"] * n,
        "dimension": ["school"] * n, "value": list(parts),
        "label": [f"School {code[-2:]}" for code in parts],
        "over_threshold": list(parts.values()),
    })  # fmt: skip


def _bars(ax) -> dict[str, float]:
    return {
        p.get_gid(): p.get_width() for p in ax.patches if str(p.get_gid() or "").startswith("part:")
    }


def test_drilldown_bars_read_back_by_gid_equal_the_data():
    from cimrca.charts import drilldown_bars

    parts = {"0100013": -1.5, "0100011": 6.25, "0100012": 2.0, "0100014": 0.0}
    ax = drilldown_bars(_drill_rows(parts))
    # every part is one bar, its width the part, largest first from the top
    assert _bars(ax) == {f"part:{code}": value for code, value in parts.items()}
    order = sorted(ax.patches, key=lambda p: p.get_y())  # y grows downward (inverted axis)
    assert ax.yaxis_inverted()
    assert [p.get_gid() for p in order] == ["part:0100011", "part:0100012", "part:0100014",
                                            "part:0100013"]  # fmt: skip
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "School 11",
        "School 12",
        "School 14",
        "School 13",
    ]
    # the zero line (the threshold's level) is marked
    [zero] = [line for line in ax.get_lines() if line.get_gid() == "zero"]
    assert set(zero.get_xdata()) == {0.0}
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert texts["value:0100011"] == "6.2" and texts["value:0100013"] == "-1.5"
    assert "the parts add up to 6.8" in ax.get_title(loc="left")
    assert ax.figure.get_axes() == [ax]


def test_drilldown_bars_fold_the_smallest_parts_into_one_bar():
    from cimrca.charts import drilldown_bars

    parts = {f"01000{i:02d}": 5.0 - i for i in range(10)}  # 5, 4, ..., -4
    ax = drilldown_bars(_drill_rows(parts), max_bars=4)
    bars = _bars(ax)
    assert list(bars) == ["part:0100000", "part:0100001", "part:0100002", "part:other"]
    assert bars["part:other"] == pytest.approx(sum(5.0 - i for i in range(3, 10)))
    assert sum(bars.values()) == pytest.approx(sum(parts.values()))
    assert ax.get_yticklabels()[-1].get_text() == "7 other schools, together"


def test_drilldown_bars_of_the_sample_lea_2071593():
    """The bars equal compute_drilldown's parts; two middle schools lead (sample README)."""
    from cimrca import compute_results, load_dataset, load_profile
    from cimrca.charts import drilldown_bars
    from cimrca.drilldown import compute_drilldown

    ds, profile = load_dataset(SAMPLE), load_profile("california")
    results = compute_results(ds, profile)
    finding = pd.DataFrame({"school_year": ["2024-25"], "lea_id": ["2071593"],
                            "category": ["ident_ed"], "race_ethnicity": ["BL"]})  # fmt: skip
    drill = compute_drilldown(ds, results, profile=profile, findings=finding)
    school = drill[drill["dimension"] == "school"]
    ax = drilldown_bars(drill, max_bars=len(school))
    assert _bars(ax) == dict(zip("part:" + school["value"], school["over_threshold"], strict=True))
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[:2] == ["Bittercress Grove Middle School", "Greenmoss Creek Middle School"]


def test_drilldown_bars_errors():
    from cimrca.charts import drilldown_bars

    rows = _drill_rows({"0100011": 1.0})
    two = pd.concat([rows, rows.assign(race_ethnicity="HI")])
    with pytest.raises(UsageError, match="several findings"):
        drilldown_bars(two)
    with pytest.raises(UsageError, match="no 'grade_band' rows"):
        drilldown_bars(rows, dimension="grade_band")
    with pytest.raises(UsageError, match="lacks column"):
        drilldown_bars(rows.drop(columns="over_threshold"))


def test_trend_arrow_is_the_direction_of_change_and_color_better_or_worse():
    """cim_workbook.md section 4: a suspension rate that rose from 0.7% to 7.2% (the packet of
    LEA 2071593) is worsening with an arrow pointing UP, in the 'worse' color; a falling
    graduation rate is worsening with an arrow pointing down."""
    from cimrca.charts import PALETTE, trend_label

    up_worse = trend_label("worsening", 0.072 - 0.007)
    assert up_worse == ("\u2191 worsening", PALETTE[1])
    assert trend_label("worsening", -0.02) == ("\u2193 worsening", PALETTE[1])
    assert trend_label("improving", 0.02) == ("\u2191 improving", PALETTE[2])
    assert trend_label("improving", -0.02) == ("\u2193 improving", PALETTE[2])
    assert trend_label("no clear trend", 0.001)[0] == "\u2192 no clear trend"
    assert trend_label("not enough years", float("nan"))[0] == "too few years"
