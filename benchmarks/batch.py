"""Benchmark: a plain ``papermill`` CLI loop against ``cimrca batch`` on the same LEAs.

Usage::

    python benchmarks/batch.py [--data data/sample] [--leas 8] [--jobs 2] [--all]

The plain loop runs, for each LEA, ``papermill notebooks/lea_packet.ipynb OUT.ipynb -p lea_id
... -k KERNEL`` with empty ``results_path`` / ``indicators_path``, as someone would by hand (each
notebook computes the statewide results itself; no HTML). ``cimrca batch --jobs N --force``
then builds the full packets (workbook, notebook, HTML, findings) for the same LEAs. Prints
each side's wall time, throughput (LEAs per minute), the speed-up ratio and the peak resident
memory of each side's process tree (sampled every 0.2 s). ``--all`` also runs the whole data
set through ``cimrca batch`` and reports its time and peak memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
#: Seconds between memory samples of a running process tree.
SAMPLE_SECONDS = 0.2


def _tree_rss(pid: int) -> int:
    """Resident memory (bytes) of ``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def _run(args: list[str]) -> tuple[float, int, int]:
    """Run a command; return (seconds, peak tree RSS in bytes, exit status)."""
    peak = 0
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    status = proc.wait()
    done.set()
    thread.join()
    return time.monotonic() - started, peak, status


def _papermill_loop(data: Path, leas: list[str], out: Path, kernel: str) -> tuple[float, int]:
    notebook = ROOT / "notebooks" / "lea_packet.ipynb"
    total, peak = 0.0, 0
    for lea in leas:
        folder = out / lea
        folder.mkdir(parents=True, exist_ok=True)
        seconds, rss, status = _run(
            [sys.executable, "-m", "papermill", str(notebook), str(folder / f"{lea}.ipynb"),
             "-r", "lea_id", lea, "-r", "data_dir", str(data), "-r", "out_dir", str(folder),
             "-k", kernel, "--cwd", str(ROOT / "notebooks")]
        )  # fmt: skip
        if status != 0:
            raise SystemExit(f"papermill failed for {lea} (exit {status})")
        total, peak = total + seconds, max(peak, rss)
        print(f"  papermill {lea}: {seconds:.1f} s", flush=True)
    return total, peak


def _batch(data: Path, leas: list[str], out: Path, jobs: int) -> tuple[float, int]:
    args = [sys.executable, "-m", "cimrca", "batch", str(data), "--out", str(out), "--force"]
    args += [a for lea in leas for a in ("--lea", lea)] + ["--jobs", str(jobs)]
    seconds, peak, status = _run(args)
    if status != 0:
        raise SystemExit(f"cimrca batch failed (exit {status})")
    return seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--leas", type=int, default=8, help="LEAs to compare (default 8)")
    parser.add_argument("--jobs", type=int, default=2, help="cimrca batch --jobs (default 2)")
    parser.add_argument("--all", action="store_true", help="also run the whole data set")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cimrca.runner.engine import default_kernel_name

    data = args.data.resolve()
    leas = sorted(pd.read_csv(data / "leas.csv", dtype=str)["lea_id"])[: args.leas]
    kernel = default_kernel_name()
    with tempfile.TemporaryDirectory(prefix="cimrca-bench-") as tmp:
        print(f"{len(leas)} LEAs of {data}, kernel {kernel!r}, {os.cpu_count()} cores")
        plain, plain_rss = _papermill_loop(data, leas, Path(tmp) / "plain", kernel)
        fast, fast_rss = _batch(data, leas, Path(tmp) / "batch", args.jobs)
        print(f"{'':28}{'seconds':>9}{'LEAs/min':>10}{'peak MB':>9}")
        for name, sec, rss in (
            ("plain papermill loop", plain, plain_rss),
            (f"cimrca batch --jobs {args.jobs}", fast, fast_rss),
        ):
            print(f"{name:28}{sec:9.1f}{60 * len(leas) / sec:10.1f}{rss / 2**20:9.0f}")
        print(f"speed-up: {plain / fast:.1f}x")
        if args.all:
            n = len(pd.read_csv(data / "leas.csv", dtype=str))
            sec, rss = _batch(data, [], Path(tmp) / "all", args.jobs)
            print(f"full data set: {n} LEAs in {sec:.1f} s ({60 * n / sec:.1f} LEAs/min), "
                  f"peak memory {rss / 2**20:.0f} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
