"""Benchmark: one packet's notebook cells in a warm process, as a batch worker runs them.

Runs, in this one process, what ``notebooks/lea_packet.ipynb`` calls for an LEA (load the
packet from a batch's statewide tables, every display helper, the charts, the workbook and the
findings JSON), after one warm-up packet, and prints the median wall and CPU seconds of N runs
per LEA with a per-step breakdown. The statewide tables come from a batch's OUT_DIR
(``results.parquet``, ``indicators.parquet``), written first when missing.

Goal (issue 13): the median packet at or under 1.0 s on the sample.

    python benchmarks/packet.py [--data data/sample] [--out /tmp/cimrca-bench-packet]
                                [--runs 7] [--lea 2071593 ...] [--profile FILE.prof]

``--profile`` also writes a cProfile of every timed run (``python -m pstats FILE.prof``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The identified sample LEA, the one with the most rows above the threshold, a clean one.
DEFAULT_LEAS = ("2071593", "2075725", "0110017")

STEPS = (
    "load_packet",
    "display",
    "charts",
    "workbook",
    "findings_json",
)


def _statewide(data: Path, out: Path) -> tuple[Path, Path]:
    """``results.parquet`` and ``indicators.parquet`` of a batch of ``data`` in ``out``."""
    results, indicators = out / "results.parquet", out / "indicators.parquet"
    if not all(
        p.exists() for p in (results, indicators, out / ".lea_tables" / "indicators.parquet")
    ):
        subprocess.run(
            [sys.executable, "-m", "cimrca", "batch", str(data), "--out", str(out), "--lea",
             DEFAULT_LEAS[0]],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return results, indicators


def one_packet(lea: str, data: Path, results: Path, indicators: Path, out: Path) -> dict:
    """Seconds (wall, cpu) of each step of one packet, as the notebook runs them."""
    from cimrca import packet as cp

    times: dict[str, tuple[float, float]] = {}
    mark = (time.perf_counter(), time.process_time())

    def step(name: str) -> None:
        nonlocal mark
        now = (time.perf_counter(), time.process_time())
        times[name] = (now[0] - mark[0], now[1] - mark[1])
        mark = now

    batch = results.parent  # what a batch's notebook reads (cimrca.batch.run: packet_task)
    packet = cp.load_packet(
        lea, data_dir=data, results_path=results, indicators_path=indicators,
        monitoring_path=batch / "monitoring.csv", lea_tables=batch / ".lea_tables",
    )  # fmt: skip
    step("load_packet")
    # what the notebook displays (rendered to their mime bundles, as IPython would)
    shown = [
        cp.packet_header(packet)._repr_mimebundle_(),
        cp.summary_markdown(packet),
        cp.profile_markdown(packet),
        cp.findings_table(packet),
        cp.indicators_table(packet),
        cp.consultant_notes_markdown(packet),
        cp.next_steps_markdown(packet),
    ]
    for item in shown:
        for method in ("_repr_html_", "to_html"):
            if hasattr(item, method):
                getattr(item, method)()
                break
    step("display")
    for kind in ("ratios", "funnels", "indicators"):
        cp.figure_items(packet, kind)
    step("charts")
    workbook = cp.write_packet_workbook(packet, out)
    step("workbook")
    findings = cp.write_findings_json(packet, out)
    cp.files_markdown(workbook, findings)
    step("findings_json")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "sample"))
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "cimrca-bench-packet"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--lea", action="append", default=[], help="LEA code (repeatable)")
    parser.add_argument("--profile", default="", help="write a cProfile of the timed runs")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    data, out = Path(args.data).resolve(), Path(args.out).resolve()
    results, indicators = _statewide(data, out)
    leas = args.lea or list(DEFAULT_LEAS)
    packets = out / "packets"
    one_packet(leas[0], data, results, indicators, packets)  # warm: imports, reads, fonts

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    print(f"median of {args.runs} runs per LEA, wall / cpu seconds")
    print(f"{'LEA':<10}" + "".join(f"{s:>15}" for s in STEPS) + f"{'packet':>15}")
    every: list[float] = []
    for lea in leas:
        runs = []
        for _ in range(args.runs):
            if profiler:
                profiler.enable()
            runs.append(one_packet(lea, data, results, indicators, packets))
            if profiler:
                profiler.disable()
        totals = [sum(w for w, _ in r.values()) for r in runs]
        cpu_totals = [sum(c for _, c in r.values()) for r in runs]
        every.extend(totals)
        cells = [
            f"{statistics.median(r[s][0] for r in runs):>7.3f}/"
            f"{statistics.median(r[s][1] for r in runs):<7.3f}"
            for s in STEPS
        ]
        total = f"{statistics.median(totals):>7.3f}/{statistics.median(cpu_totals):<7.3f}"
        print(f"{lea:<10}" + "".join(f"{c:>15}" for c in cells) + f"{total:>15}")
    print(f"median packet over every run: {statistics.median(every):.3f} s wall")
    if profiler:
        profiler.dump_stats(args.profile)
        print(f"profile: {args.profile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
