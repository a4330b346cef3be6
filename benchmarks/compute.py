"""Benchmark: `cimrca compute` at statewide scale against an I/O floor.

Generates a 2,300-LEA, 5-year state with the sample generator (once, cached under
benchmarks/.work/), then times, as whole processes, side by side:

- floor: a process that imports pandas, reads the same input CSVs, and writes a frame with the
  same number of rows and columns as the results table to Parquet;
- cimrca: `cimrca compute DATA --out results.parquet` (loading, full validation, every ratio,
  determination and supplementary measure, and the Parquet write).

Prints each median of N runs, peak memory, and the ratio. Goal (issue: foundation): at most 3x.

    python benchmarks/compute.py [--leas 2300] [--years 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from generated import WORK, generated_state

HERE = Path(__file__).resolve().parent

FLOOR = r"""
import sys
import numpy as np
import pandas as pd
import pyarrow as pa
data, out, n_rows, n_text, n_num = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
frames = {}
for name in ("leas", "enrollment", "child_count", "environments", "discipline"):
    frames[name] = pd.read_csv(f"{data}/{name}.csv", dtype=str, engine="pyarrow")
source = frames["child_count"]
rows = pa.array(np.arange(n_rows) % len(source))
columns = {f"t{i}": pa.array(source.iloc[:, i % 4]).take(rows).to_pandas() for i in range(n_text)}
values = np.resize(pd.to_numeric(source["count"]).to_numpy(dtype=float), n_rows)
columns.update({f"n{i}": values / (i + 1) for i in range(n_num)})
pd.DataFrame(columns).to_parquet(out, index=False)
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leas", type=int, default=2300)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    data = generated_state(args.leas, args.years)
    results = WORK / "results.parquet"
    cimrca_cmd = [sys.executable, "-m", "cimrca", "compute", str(data), "--out", str(results)]
    subprocess.run(cimrca_cmd, check=True, capture_output=True)  # warm the file cache

    import pyarrow.parquet as pq

    meta = pq.read_metadata(results)
    schema = pq.read_schema(results)
    n_text = sum(1 for f in schema if str(f.type) in ("string", "large_string"))
    floor_cmd = [
        sys.executable, "-c", FLOOR, str(data), str(WORK / "floor.parquet"),
        str(meta.num_rows), str(n_text), str(len(schema) - n_text),
    ]  # fmt: skip

    floor_times, cimrca_times, floor_mem, cimrca_mem = [], [], 0.0, 0.0
    for _ in range(args.runs):  # interleaved, so both see the same machine state
        s, m = timed(floor_cmd)
        floor_times.append(s)
        floor_mem = max(floor_mem, m)
        s, m = timed(cimrca_cmd)
        cimrca_times.append(s)
        cimrca_mem = max(cimrca_mem, m)
    floor_s, cimrca_s = statistics.median(floor_times), statistics.median(cimrca_times)
    print(f"state: {args.leas} LEAs x {args.years} years; results: {meta.num_rows:,} rows")
    print(f"{'':8} {'median s':>9} {'runs':>24}")
    print(f"{'floor':8} {floor_s:9.2f} {' '.join(f'{t:.2f}' for t in floor_times):>24}")
    print(f"{'cimrca':8} {cimrca_s:9.2f} {' '.join(f'{t:.2f}' for t in cimrca_times):>24}")
    print(f"peak memory of the runs so far: {max(floor_mem, cimrca_mem):,.0f} MiB")
    ratio = cimrca_s / floor_s
    print(
        f"ratio cimrca / floor: {ratio:.2f}x (goal: at most 3x) -> {'OK' if ratio <= 3 else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
