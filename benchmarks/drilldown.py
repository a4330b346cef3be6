"""Benchmark: the drill-down of every finding of a 2,300-LEA State.

Generates a 2,300-LEA, 5-year State with the sample generator (once, cached under
benchmarks/.work/; it writes detail.csv and schools.csv for the districts), then times in one
process:

- loading with full validation, with and without detail.csv and schools.csv (what the detail
  checks add, the partition check included);
- ``compute_results`` (for reference);
- ``compute_drilldown`` of every finding (the latest year's rows at or above watch_fraction x
  threshold), and ``concentration`` of its output.

Prints the median of N runs of each. Goal (issue 12): the drill-down adds little to a batch.

    python benchmarks/drilldown.py [--leas 2300] [--years 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from generated import WORK, generated_state

HERE = Path(__file__).resolve().parent


def median_time(function, runs: int):
    """Median wall seconds of ``runs`` calls, and the last call's value."""
    seconds, value = [], None
    for _ in range(runs):
        start = time.perf_counter()
        value = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leas", type=int, default=2300)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    data = generated_state(args.leas, args.years)
    bare = WORK / f"state_{args.leas}x{args.years}_without_detail"
    if not bare.exists():
        bare.mkdir(parents=True)
        for path in data.glob("*.csv"):
            if path.name not in ("detail.csv", "schools.csv"):
                shutil.copy(path, bare / path.name)

    from cimrca.dataset import load_dataset
    from cimrca.drilldown import compute_drilldown, concentration, finding_rows
    from cimrca.methodology import compute_results
    from cimrca.profiles import load_profile

    profile = load_profile("california")
    t_bare, _ = median_time(lambda: load_dataset(bare), args.runs)
    t_load, dataset = median_time(lambda: load_dataset(data), args.runs)
    t_results, results = median_time(lambda: compute_results(dataset, profile), args.runs)
    findings = finding_rows(results, profile=profile)
    t_drill, drill = median_time(
        lambda: compute_drilldown(dataset, results, profile=profile, findings=findings), args.runs
    )
    t_conc, summary = median_time(lambda: concentration(drill), args.runs)

    print(f"State: {len(dataset.leas):,} LEAs, {len(dataset.school_years)} school years")
    print(f"detail.csv: {len(dataset.detail):,} rows for {dataset.detail['lea_id'].nunique():,} "
          f"LEAs; schools.csv: {len(dataset.schools):,} schools")  # fmt: skip
    print(f"findings (latest year, at or above watch level): {len(findings):,} in "
          f"{findings['lea_id'].nunique():,} LEAs")  # fmt: skip
    print(f"load + validation without detail : {t_bare:7.2f} s")
    print(f"load + validation with detail    : {t_load:7.2f} s  (+{t_load - t_bare:.2f} s)")
    print(f"compute_results                  : {t_results:7.2f} s")
    print(f"compute_drilldown (every finding): {t_drill:7.2f} s  ({len(drill):,} slice rows)")
    print(f"concentration                    : {t_conc:7.2f} s  ({len(summary):,} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
