"""Benchmark: one LEA's charts (``lea_figures`` + ``figures_to_png``) on a sample data set.

Computes the results and indicator tables of DATA once, then, in this warm process, times for a
few LEAs (an identified LEA, the LEA with the most flagged rows in the latest year, and a clean
LEA unless given with ``--lea``):

- ``lea_figures`` (building every figure),
- ``figures_to_png`` (rendering them at the packet's dpi),

each the median of N runs, as wall time (``time.perf_counter``) and CPU time of this process
(``time.process_time``: the machine may be shared, so wall time alone can mislead). A per-chart
breakdown follows: the build time of each plot function and the render time of each figure.

Goal (issue: "drawing all of one LEA's charts stays under a second"): build + render under 1 s
wall time per LEA on a quiet machine.

    python benchmarks/charts.py [DATA] [--runs 5] [--lea 2071593 ...] [--dpi 110]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "data" / "sample"
#: The packet's dpi (cimrca.packet.FIGURE_DPI).
DEFAULT_DPI = 110


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``runs`` calls, and the last call's value."""
    walls, cpus, value = [], [], None
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), value


def pick_leas(results, findings_level: str = "identified") -> dict[str, str]:
    """An identified LEA, the LEA with the most flagged rows in the latest year, a clean LEA."""
    latest = results["school_year"].max()
    now = results[results["school_year"] == latest]
    flagged = now[now["exceeds_threshold"].astype(bool)]
    counts = flagged.groupby("lea_id").size().sort_values(ascending=False, kind="stable")
    chosen: dict[str, str] = {}
    if "significantly_disproportionate" in now.columns:
        ident = now.loc[now["significantly_disproportionate"].astype(bool), "lea_id"]
        if len(ident):
            chosen["identified"] = str(sorted(ident.unique())[0])
    if len(counts):
        chosen["most findings"] = str(counts.index[0])
    clean = sorted(set(results["lea_id"]) - set(results.loc[
        results["exceeds_threshold"].astype(bool), "lea_id"]))  # fmt: skip
    if clean:
        chosen["clean"] = str(clean[0])
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(SAMPLE))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lea", action="append", default=[], help="LEA code (repeatable)")
    parser.add_argument("--dpi", type=int, default=DEFAULT_DPI)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    from cimrca import charts
    from cimrca.dataset import load_dataset
    from cimrca.indicators import compute_indicators
    from cimrca.methodology import compute_results
    from cimrca.profiles import load_profile

    dataset = load_dataset(args.data)
    results = compute_results(dataset, load_profile("california"))
    indicators = (
        compute_indicators(dataset.indicators, dataset.targets)
        if dataset.indicators is not None
        else None
    )
    leas = {f"--lea {code}": code for code in args.lea} or pick_leas(results)
    names = dict(zip(dataset.leas["lea_id"].astype(str), dataset.leas["lea_name"], strict=False))

    # warm: imports, font cache, text layout caches
    charts.figures_to_png(charts.lea_figures(results, indicators, next(iter(leas.values()))))

    print(f"{dataset.name}: {results['lea_id'].nunique()} LEAs, median of {args.runs} runs, "
          f"dpi {args.dpi}")  # fmt: skip
    print(f"{'LEA':<24}{'charts':>7}{'build wall':>12}{'build cpu':>11}{'png wall':>10}"
          f"{'png cpu':>9}{'total wall':>12}{'total cpu':>11}")  # fmt: skip
    breakdown: dict[str, dict[str, tuple[float, float]]] = {}
    for why, lea in leas.items():
        name = names.get(lea)
        bw, bc, figures = timed(
            lambda lea=lea, name=name: charts.lea_figures(results, indicators, lea, lea_name=name),
            args.runs,
        )
        rw, rc, _ = timed(lambda f=figures: charts.figures_to_png(f, dpi=args.dpi), args.runs)
        print(f"{lea + ' (' + why + ')':<24}{len(figures):>7}{bw:>12.3f}{bc:>11.3f}{rw:>10.3f}"
              f"{rc:>9.3f}{bw + rw:>12.3f}{bc + rc:>11.3f}")  # fmt: skip
        parts: dict[str, tuple[float, float]] = {}
        for key, fig in figures.items():
            w, c, _ = timed(lambda key=key, fig=fig: charts.figures_to_png({key: fig}, dpi=args.dpi),
                            args.runs)  # fmt: skip
            parts[f"render {key}"] = (w, c)
        breakdown[f"{lea} ({why})"] = parts

    print("\nper chart (render, median wall / cpu seconds):")
    for lea, parts in breakdown.items():
        print(f"  {lea}")
        for key, (w, c) in parts.items():
            print(f"    {key:<44}{w:>8.3f}{c:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
