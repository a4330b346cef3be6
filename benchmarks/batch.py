"""Benchmark: a plain ``papermill`` CLI loop against ``cimrca batch`` on the same LEAs.

Usage::

    python benchmarks/batch.py [--data data/sample] [--leas 8] [--jobs 2] [--all] [--repeat K]
    python benchmarks/batch.py --state 2300 [--leas 100] [--jobs 2] [--compare]

The plain loop runs, for each LEA, ``papermill notebooks/lea_packet.ipynb OUT.ipynb -p lea_id
... -k KERNEL`` with empty ``results_path`` / ``indicators_path``, as someone would by hand (each
notebook computes the statewide results itself; no HTML). ``cimrca batch --jobs N --force``
then builds the full packets (workbook, notebook, HTML, findings) for the same LEAs. Prints
each side's wall time, throughput (LEAs per minute), the speed-up ratio and the peak resident
memory of each side's process tree (sampled every 0.2 s). ``--repeat K`` runs both sides K
times, alternating, and reports the medians (the machine's speed drifts between runs).
``--all`` also runs the whole data set through ``cimrca batch`` and reports its time and peak
memory.

State-scale mode (``--state N``): generates a State of N LEAs x ``--years`` school years
(seed 7, cached under benchmarks/.work/), runs ``cimrca batch --force`` on its first
``--leas`` LEAs (default 100) for each ``--jobs`` value given (``--jobs 1 2``), and prints wall
time, throughput, the peak memory of the whole process tree (the batch, its workers and their
kernels, summed, sampled with psutil every 0.2 s: resident size and proportional set size,
see :class:`Memory`), the parent's own peak, the peak of the packet phase, the memory each
extra job adds there, and the hours for every LEA of the State (the fixed cost, plus every LEA
at the measured seconds per LEA and worker). ``--compare`` runs the same number of LEAs of
``--data`` (the sample) just before each, side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from generated import generated_state

ROOT = Path(__file__).resolve().parent.parent
#: Seconds between memory samples of a running process tree.
SAMPLE_SECONDS = 0.2
#: A kernel's resident size once it has imported pandas, matplotlib and cimrca (a bare kernel
#: is about 55 MB, a loaded one 250 MB or more).
KERNEL_LOADED_BYTES = 150 * 2**20


@dataclass
class Memory:
    """Peak memory of a process tree, in bytes, sampled every :data:`SAMPLE_SECONDS`.

    ``rss``: resident size summed over the tree (a page shared by several processes, such as
    a library's code, counts once per process); ``pss``: proportional set size summed (a shared
    page is divided among the processes sharing it, so the sum is what the tree takes from the
    machine; Linux only, and only when sampled ``with_pss``, else equal to ``rss``);
    ``own``: the command's own process; ``packets_rss``/``packets_pss``: the peaks from the
    moment a kernel holds the packet's modules (over :data:`KERNEL_LOADED_BYTES`; the packet
    phase, which grows with ``--jobs``).
    """

    rss: int = 0
    pss: int = 0
    own: int = 0
    packets_rss: int = 0
    packets_pss: int = 0
    in_packets: bool = False

    def sample(self, pid: int, *, with_pss: bool = False) -> None:
        """One sample; ``with_pss``: read proportional set sizes too (about 2 ms per process,
        so the speed comparison leaves it out)."""
        import psutil

        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = pss = 0
        for proc in procs:
            try:
                info = proc.memory_full_info() if with_pss else proc.memory_info()
                if info.rss > KERNEL_LOADED_BYTES and "ipykernel" in " ".join(proc.cmdline()):
                    self.in_packets = True
            except psutil.Error:
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            if proc.pid == pid:
                self.own = max(self.own, info.rss)
        self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
        if self.in_packets:
            self.packets_rss = max(self.packets_rss, rss)
            self.packets_pss = max(self.packets_pss, pss)


def _run(args: list[str]) -> tuple[float, int, int]:
    """Run a command; return (seconds, peak tree RSS in bytes, exit status)."""
    seconds, memory, status = _run_measured(args)
    return seconds, memory.rss, status


def _run_measured(args: list[str], *, with_pss: bool = False) -> tuple[float, Memory, int]:
    """Run a command; return (seconds, its tree's peak :class:`Memory`, exit status)."""
    memory = Memory()
    started = time.monotonic()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            memory.sample(proc.pid, with_pss=with_pss)
            time.sleep(SAMPLE_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    status = proc.wait()
    done.set()
    thread.join()
    return time.monotonic() - started, memory, status


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


def _batch_run(data: Path, n: int, out: Path, jobs: int) -> dict[str, float]:
    """``cimrca batch --force --jobs J`` on the first ``n`` LEAs of ``data``, measured."""
    leas = sorted(pd.read_csv(data / "leas.csv", dtype=str)["lea_id"])[:n]
    args = [sys.executable, "-m", "cimrca", "batch", str(data), "--out", str(out), "--force"]
    args += [a for lea in leas for a in ("--lea", lea)] + ["--jobs", str(jobs)]
    seconds, memory, status = _run_measured(args, with_pss=True)
    if status != 0:
        raise SystemExit(f"cimrca batch failed (exit {status}): {' '.join(args)}")
    manifest = pd.read_csv(out / "manifest.csv", dtype={"lea_id": str})
    packet_seconds = float(manifest.loc[manifest["lea_id"].isin(leas), "seconds"].sum())
    return {"n": len(leas), "seconds": seconds, "memory": memory, "packets": packet_seconds}


def state_scale(args: argparse.Namespace) -> int:
    """``--state N``: N LEAs of a generated State through ``cimrca batch``, side by side with
    the same number of LEAs of ``--data`` when ``--compare`` is given; prints throughput, peak
    memory of the process tree and the hours for every LEA of the State."""
    data = generated_state(args.state, args.years)
    n_all = len(pd.read_csv(data / "leas.csv", dtype=str))
    n = args.leas or 100
    runs: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="cimrca-bench-") as tmp:
        for jobs in args.jobs:
            if args.compare:
                label = f"sample, {min(n, 50)} LEAs, --jobs {jobs}"
                runs.append((label, _batch_run(args.data.resolve(), n, Path(tmp) / f"s{jobs}",
                                               jobs)))  # fmt: skip
                print(f"  {label}: {runs[-1][1]['seconds']:.1f} s", flush=True)
            label = f"State {args.state}, {n} LEAs, --jobs {jobs}"
            runs.append((label, _batch_run(data, n, Path(tmp) / f"b{jobs}", jobs)))
            print(f"  {label}: {runs[-1][1]['seconds']:.1f} s", flush=True)
    mb = 2**20
    print(f"{os.cpu_count()} cores; memory: peaks summed over the process tree, MB (RSS counts a "
          "shared page once per process, PSS divides it among them)")  # fmt: skip
    print(f"{'':36}{'seconds':>8}{'LEAs/min':>9}{'RSS':>6}{'PSS':>6}{'parent':>7}"
          f"{'packets RSS':>12}{'PSS':>6}{'whole h':>8}")  # fmt: skip
    for label, r in runs:
        jobs, m = int(label.rsplit(" ", 1)[1]), r["memory"]
        # the fixed cost is what the packets' own seconds (spread over the workers) leave
        per_lea = r["packets"] / r["n"] / jobs
        fixed = max(r["seconds"] - per_lea * r["n"], 0.0)
        hours = (fixed + per_lea * n_all) / 3600 if label.startswith("State") else float("nan")
        print(f"{label:36}{r['seconds']:8.1f}{60 * r['n'] / r['seconds']:9.1f}{m.rss / mb:6.0f}"
              f"{m.pss / mb:6.0f}{m.own / mb:7.0f}{m.packets_rss / mb:12.0f}"
              f"{m.packets_pss / mb:6.0f}{hours:8.1f}")  # fmt: skip
    state = [(int(label.rsplit(" ", 1)[1]), r["memory"]) for label, r in runs
             if label.startswith("State")]  # fmt: skip
    for (j0, m0), (j1, m1) in zip(state, state[1:], strict=False):
        if j1 > j0:
            extra = j1 - j0
            print(f"--jobs {j0} to {j1}: packet phase +{(m1.packets_rss - m0.packets_rss) / extra / mb:.0f}"
                  f" MB RSS, +{(m1.packets_pss - m0.packets_pss) / extra / mb:.0f} MB PSS per extra "
                  "job (goal: under 300 MB)")  # fmt: skip
    if args.compare:
        for jobs in args.jobs:
            pair = [r for label, r in runs if label.endswith(f"--jobs {jobs}")]
            print(f"--jobs {jobs}: State / sample = {pair[1]['seconds'] / pair[0]['seconds']:.2f}x"
                  " (goal: at most 2x)")  # fmt: skip
    print(
        f"whole State: {n_all} LEAs; 'whole h' = fixed cost + {n_all} x the measured seconds "
        "per LEA per worker"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--leas", type=int, help="LEAs to run (default 8; 100 with --state)")
    parser.add_argument(
        "--jobs", type=int, nargs="+", default=[2], help="cimrca batch --jobs (default 2)"
    )
    parser.add_argument("--all", action="store_true", help="also run the whole data set")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run both sides this many times (medians)"
    )
    parser.add_argument("--state", type=int, help="State-scale mode: a generated State of N LEAs")
    parser.add_argument("--years", type=int, default=5, help="school years of --state")
    parser.add_argument(
        "--compare", action="store_true", help="with --state: the same LEAs count of --data too"
    )
    args = parser.parse_args(argv)
    if args.state:
        return state_scale(args)
    args.leas, args.jobs = args.leas or 8, args.jobs[0]
    sys.path.insert(0, str(ROOT))
    from cimrca.runner.engine import default_kernel_name

    data = args.data.resolve()
    leas = sorted(pd.read_csv(data / "leas.csv", dtype=str)["lea_id"])[: args.leas]
    kernel = default_kernel_name()
    with tempfile.TemporaryDirectory(prefix="cimrca-bench-") as tmp:
        print(f"{len(leas)} LEAs of {data}, kernel {kernel!r}, {os.cpu_count()} cores")
        plains, fasts = [], []
        for run in range(args.repeat):  # side by side, alternating: the machine's speed drifts
            plain, plain_rss = _papermill_loop(data, leas, Path(tmp) / f"plain{run}", kernel)
            fast, fast_rss = _batch(data, leas, Path(tmp) / f"batch{run}", args.jobs)
            plains.append(plain)
            fasts.append(fast)
            print(f"  run {run + 1}: papermill loop {plain:.1f} s, cimrca batch {fast:.1f} s, "
                  f"{plain / fast:.1f}x", flush=True)  # fmt: skip
        plain, fast = statistics.median(plains), statistics.median(fasts)
        if args.repeat > 1:
            print(f"medians of {args.repeat} runs:")
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
