"""Benchmark: `compute_monitoring` over a statewide data set (2,300 LEAs x 5 years by default).

Generates the state with the sample generator (once, cached under benchmarks/.work/, the same
folder and seed as benchmarks/compute.py), loads it, computes the results table and the indicator
results once, then times :func:`cimrca.monitoring.compute_monitoring` alone (every level,
percentile, domain score and reason for every LEA and year) and prints the median of N runs.
Goal (issue 11): a couple of seconds.

    python benchmarks/monitoring.py [--leas 2300] [--years 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from generated import generated_state

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leas", type=int, default=2300)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    data = generated_state(args.leas, args.years)

    from cimrca import compute_indicators, compute_results, load_dataset, load_profile
    from cimrca.monitoring import LEVELS, compute_monitoring

    start = time.perf_counter()
    ds = load_dataset(data)
    profile = load_profile("california")
    results = compute_results(ds, profile)
    indicators = compute_indicators(ds.indicators, ds.targets)
    print(f"inputs (load, results, indicators): {time.perf_counter() - start:.2f} s")

    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        monitoring = compute_monitoring(ds, results, indicators, profile)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    latest = monitoring[monitoring["school_year"] == monitoring["school_year"].max()]
    print(
        f"state: {args.leas} LEAs x {args.years} years; results {len(results):,} rows, "
        f"indicator results {len(indicators):,} rows; monitoring {len(monitoring):,} rows"
    )
    print(f"compute_monitoring median {median:.2f} s  runs: {' '.join(f'{t:.2f}' for t in times)}")
    counts = latest["level"].value_counts()
    print("levels in the latest year: " + ", ".join(f"{lv} {counts[lv]}" for lv in LEVELS
                                                     if lv in counts))  # fmt: skip
    print(f"goal: a couple of seconds -> {'OK' if median <= 2.0 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
