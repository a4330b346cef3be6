"""``cimrca batch``: the packet of every LEA, in parallel, resumable, shardable (outputs.md s. 3).

What one run does
-----------------
1. Loads the data set and the profile, computes the statewide results table **once** and writes
   ``OUT_DIR/results.csv``; computes the statewide indicator results once
   (``OUT_DIR/indicators.csv``). Every packet notebook reads both (``results_path``,
   ``indicators_path``), so per-LEA work is only its own slice, charts and workbook.
2. Chooses the LEAs (``--lea``, ``--selpa``, ``--shard I/N``) and, for each, hashes its inputs:
   its slice of the statewide results, its indicator rows, the profile, the package version,
   the notebook, its stored annotations, the data set's name and flag. An LEA whose hash and
   workbook are those of its last successful run is skipped (``--force`` redoes it).
3. For each LEA to run, the parent process (and only it) opens the annotation store: it harvests
   the existing workbook (``cimrca.annotations.prepare_rewrite``) and writes what the new
   workbook must carry to a JSON file the notebook reads (``annotations_json``). A workbook that
   cannot be read (corrupted, open in a spreadsheet program) is not replaced: the LEA fails
   with that reason.
4. Runs ``notebooks/lea_packet.ipynb`` with papermill per LEA in worker processes (``--jobs``,
   started with ``spawn``) that each keep a warm kernel (:mod:`cimrca.engine`), renders the
   HTML, and after success records the new workbook's baseline
   (``cimrca.annotations.finish_rewrite``). The parent enforces a wall-clock limit per LEA
   (``--timeout``): a worker over it is killed and replaced, and the LEA fails. Kernel failures
   are retried; an error raised by the notebook is recorded, not retried.
5. Updates ``OUT_DIR/manifest.csv`` as each LEA finishes, under a lock, atomically, so shards
   running into one folder build one manifest; an interrupted run continues where it stopped.

Running on a Dask cluster
-------------------------
``--scheduler ADDRESS`` submits the per-LEA notebook runs to a Dask distributed scheduler
instead of local processes (install the extra: ``pip install 'cimrca[dask]'``)::

    dask scheduler                                  # on the scheduler host (port 8786)
    dask worker tcp://SCHEDULER:8786 --nthreads 1 --nworkers 4   # on each worker host
    cimrca batch /shared/data --out /shared/out --scheduler tcp://SCHEDULER:8786

Requirements: every worker has the same cimrca version and the Jupyter kernel (``cimrca``, or
``$CIMRCA_KERNEL``) installed, and sees DATA_DIR and OUT_DIR at the same paths as the submitting
machine (a shared file system). The annotation store stays on the submitting machine's local
disk (``--annotations DB``): only the submitting process reads and writes it. Use one thread per
worker process (``--nthreads 1``): each thread keeps its own kernel. Manifest, retries and
annotation handling are the same as for local runs; the per-LEA limit is applied per cell by
the worker and by the submitting process, which marks an LEA over the limit as failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .atomic import atomic_path, atomic_write_text, file_lock
from .errors import UsageError, WorkbookError

__all__ = [
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "RESULTS_NAME",
    "INDICATORS_NAME",
    "STATE_OVERVIEW_NAME",
    "BatchSummary",
    "LeaTask",
    "parse_shard",
    "select_leas",
    "read_manifest",
    "update_manifest",
    "write_annotations_json",
    "run_task",
    "run_batch",
    "run_batch_cli",
    "notebook_dir",
]

#: File names in OUT_DIR (outputs.md section 3).
MANIFEST_NAME = "manifest.csv"
RESULTS_NAME = "results.csv"
INDICATORS_NAME = "indicators.parquet"
#: The results table as Parquet: what the notebooks read (much faster than the CSV at 2,300 LEAs).
RESULTS_PARQUET_NAME = "results.parquet"
STATE_OVERVIEW_NAME = "state_overview"
PACKET_NOTEBOOK = "lea_packet.ipynb"
_MANIFEST_LOCK = ".manifest.lock"
_STATE_HASH = ".state_overview.sha256"
#: Columns of ``manifest.csv``: the contract's six, then the failed notebook and the workbook's
#: hash (a workbook edited since it was written is harvested and regenerated).
MANIFEST_COLUMNS: tuple[str, ...] = (
    "lea_id",
    "status",
    "seconds",
    "error",
    "inputs_sha256",
    "finished_at",
    "notebook",
    "workbook_sha256",
)
#: Attempts of one notebook in a worker when the kernel fails (not when the notebook raises).
KERNEL_ATTEMPTS = 3
#: Times the parent resubmits an LEA whose worker process died (crash, out of memory).
WORKER_RETRIES = 1
#: Seconds between checks of the running tasks' wall-clock limits.
POLL_SECONDS = 0.2
#: Seconds the submitting process waits beyond ``--timeout`` for a Dask task before failing it.
DASK_GRACE_SECONDS = 30.0
#: Seconds between a worker's checks that its parent is still alive.
PARENT_POLL_SECONDS = 0.5


# ------------------------------------------------------------------------------------------------
# Selection
# ------------------------------------------------------------------------------------------------


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``; ``None`` -> ``None``.

    Raises
    ------
    UsageError
        When the text is not two positive integers with I at most N.

    Examples
    --------
    >>> parse_shard("2/3")
    (2, 3)
    """
    if text is None:
        return None
    parts = str(text).split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--shard must be I/N with whole numbers, e.g. 1/4, found {text!r}."
        ) from None
    if not 1 <= i <= n:
        raise UsageError(
            f"--shard {text}: I must be between 1 and N (1-based), e.g. 1/{max(n, 1)}."
        )
    return i, n


def select_leas(
    leas: pd.DataFrame,
    *,
    lea_ids: Sequence[str] = (),
    selpa: str | None = None,
    shard: tuple[int, int] | None = None,
) -> list[str]:
    """The LEAs a batch runs, sorted by ``lea_id``.

    Parameters
    ----------
    leas
        ``leas.csv`` of the data set (``lea_id``, optionally ``selpa``).
    lea_ids
        Only these LEAs (empty: all).
    selpa
        Only the LEAs whose ``selpa`` is this name (README decision 12).
    shard
        ``(I, N)``: the LEAs at positions ``p`` (0-based, in sorted order of the selection) with
        ``p % N == I - 1``. Deterministic and disjoint; the N shards cover the selection.

    Raises
    ------
    UsageError
        An unknown LEA or SELPA.
    """
    known = pd.Series(sorted(leas["lea_id"].astype(str).unique()))
    chosen = known
    if lea_ids:
        wanted = pd.Series(list(dict.fromkeys(str(x) for x in lea_ids)))
        unknown = wanted[~wanted.isin(known)]
        if len(unknown):
            raise UsageError(
                f"unknown LEA {', '.join(unknown)}: not in leas.csv of the data set. Use the "
                "7-digit CDE code (with leading zeros)."
            )
        chosen = chosen[chosen.isin(wanted)]
    if selpa is not None:
        if "selpa" not in leas.columns:
            raise UsageError("--selpa needs a selpa column in leas.csv; this data set has none.")
        names = leas["selpa"].astype(str)
        if not (names == selpa).any():
            shown = ", ".join(sorted(names.unique())[:10])
            raise UsageError(f"no LEA has selpa {selpa!r} in leas.csv (SELPAs include: {shown}).")
        in_selpa = leas.loc[names == selpa, "lea_id"].astype(str)
        chosen = chosen[chosen.isin(in_selpa)]
    chosen = chosen.reset_index(drop=True)
    if shard is not None:
        i, n = shard
        chosen = chosen[np.arange(len(chosen)) % n == i - 1]
    return chosen.tolist()


# ------------------------------------------------------------------------------------------------
# Manifest
# ------------------------------------------------------------------------------------------------


def read_manifest(out_dir: str | Path) -> pd.DataFrame:
    """``OUT_DIR/manifest.csv`` as text columns (:data:`MANIFEST_COLUMNS`); empty if absent."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return pd.DataFrame(columns=list(MANIFEST_COLUMNS), dtype=object)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.reindex(columns=list(MANIFEST_COLUMNS), fill_value="")


def update_manifest(out_dir: str | Path, rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Replace the rows of ``rows``' LEAs in ``OUT_DIR/manifest.csv``; keep every other row.

    The file is re-read and rewritten under an exclusive lock on ``OUT_DIR/.manifest.lock`` and
    replaced atomically, so processes (shards) writing into one folder at once build one
    manifest and a reader never sees half of one. Returns the manifest written.
    """
    out = Path(out_dir)
    new = pd.DataFrame(list(rows), dtype=object).reindex(columns=list(MANIFEST_COLUMNS))
    new = new.astype(object).where(new.notna(), "").astype(str)
    with file_lock(out / _MANIFEST_LOCK):
        old = read_manifest(out)
        merged = pd.concat([old[~old["lea_id"].isin(new["lea_id"])], new], ignore_index=True)
        merged = merged.sort_values("lea_id", kind="stable").reset_index(drop=True)
        atomic_write_text(out / MANIFEST_NAME, merged.to_csv(index=False, lineterminator="\n"))
    return merged


# ------------------------------------------------------------------------------------------------
# Inputs and their hashes
# ------------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of every row (values and column names), for per-LEA digests."""
    cols = sorted(frame.columns)
    hashed = pd.util.hash_pandas_object(frame[cols].astype(str), index=False).to_numpy()
    return hashed ^ np.uint64(int(hashlib.sha256("|".join(cols).encode()).hexdigest()[:15], 16))


def _per_lea_digest(frame: pd.DataFrame | None, lea_ids: Sequence[str]) -> dict[str, str]:
    """SHA-256 of each LEA's rows of ``frame`` (in their sorted order)."""
    if frame is None or frame.empty:
        return dict.fromkeys(lea_ids, "")
    ids = frame["lea_id"].astype(str).to_numpy()
    hashes = _row_hashes(frame)
    order = np.argsort(ids, kind="stable")
    ids, hashes = ids[order], hashes[order]
    starts = np.searchsorted(ids, lea_ids, side="left")
    ends = np.searchsorted(ids, lea_ids, side="right")
    return {
        lea: hashlib.sha256(hashes[s:e].tobytes()).hexdigest()
        for lea, s, e in zip(lea_ids, starts, ends, strict=True)
    }


def _annotation_digest(current: pd.DataFrame) -> str:
    if current.empty:
        return ""
    cols = [c for c in ("sheet", "finding_id", "column", "value") if c in current.columns]
    text = current[cols].astype(str).sort_values(cols).to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _combine(parts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# Annotations JSON (the notebook's ``annotations_json`` parameter)
# ------------------------------------------------------------------------------------------------


def write_annotations_json(path: str | Path, rewrite: Any) -> Path:
    """Write a :class:`cimrca.annotations.Rewrite` as the packet notebook's ``annotations_json``.

    Format (``cimrca.packet.annotations_payload``)::

        {"annotations": [[sheet, finding_id, column, value], ...],
         "previous_notes": {finding_id: text, ...},
         "orphans": [{column: value, ...}, ...]}

    Written atomically; ``cimrca.packet.load_packet`` reads it.
    """
    from .packet import write_annotations_json as write

    return write(rewrite, path)


# ------------------------------------------------------------------------------------------------
# Worker side
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaTask:
    """One notebook to run: the packet of an LEA, or the state overview (``lea_id`` ``""``).

    ``name`` is the stem of the notebook and HTML files in ``folder``; ``title`` the HTML page's
    title (``None``: the one the notebook's header records).
    """

    key: str
    lea_id: str
    name: str
    notebook: str
    folder: str
    parameters: dict[str, Any]
    kernel_name: str
    timeout: float
    title: str | None = None


_KERNELS: dict[tuple[int, int, str], Any] = {}
_KERNELS_LOCK = threading.Lock()


def _warm_kernel(kernel_name: str) -> Any:
    from .engine import WarmKernel, register_engine

    register_engine()
    key = (os.getpid(), threading.get_ident(), kernel_name)
    with _KERNELS_LOCK:
        if key not in _KERNELS:
            _KERNELS[key] = WarmKernel(kernel_name)
        return _KERNELS[key]


def shutdown_kernels() -> int:
    """Stop every warm kernel of this process (run on Dask workers at the end of a batch)."""
    with _KERNELS_LOCK:
        kernels = [k for (pid, _, _), k in _KERNELS.items() if pid == os.getpid()]
        _KERNELS.clear()
    for kernel in kernels:
        kernel.shutdown()
    return len(kernels)


def _render_html(nb_path: Path, html_path: Path, title: str | None) -> None:
    from .packet import render_html

    render_html(nb_path, html_path, title=title)


def _warm_worker_imports() -> None:
    """Import what a worker needs (papermill, the packet module, nbconvert's templates) while
    its kernel starts, so the first LEA does not pay for it (a failure here resurfaces, with
    its message, in the first task)."""
    with contextlib.suppress(Exception):
        import papermill  # noqa: F401

        from .packet import _html_exporter, _template_dir

        _html_exporter(str(_template_dir()))


def run_task(task: LeaTask) -> dict[str, Any]:
    """Execute one notebook with papermill in this process's warm kernel, then render its HTML.

    Never raises: returns ``{"key", "status" ("ok"/"failed"), "error", "seconds", "notebook",
    "attempts"}``. The executed notebook is written to a hidden file first and moved into place
    when execution ends (a failed notebook too: it stays for inspection), so a killed run leaves
    no half-written ``.ipynb``.
    """
    _skip_iri_grammar()
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .engine import ENGINE_NAME, is_transient

    started = time.monotonic()
    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{task.name}.ipynb"
    running = folder / f".{task.name}.running.ipynb"
    status, error, attempts = "ok", "", 0
    kernel = None
    for attempt in range(1, KERNEL_ATTEMPTS + 1):
        attempts = attempt
        try:
            kernel = _warm_kernel(task.kernel_name)
            pm.execute_notebook(
                task.notebook,
                str(running),
                parameters=task.parameters,
                engine_name=ENGINE_NAME,
                kernel_name=task.kernel_name,
                warm_kernel=kernel,
                execution_timeout=task.timeout,
                progress_bar=False,
                log_output=False,
            )
            status, error = "ok", ""
            break
        except PapermillExecutionError as exc:
            status, error = "failed", f"{exc.ename}: {exc.evalue}".strip()
            kernel.runs = kernel.restart_every  # a fresh kernel for the next notebook
            break
        except Exception as exc:  # noqa: BLE001 - recorded in the manifest, never raised
            status, error = "failed", f"{type(exc).__name__}: {exc}".strip()
            if kernel is not None:
                kernel.shutdown()
            if not is_transient(exc):
                break
    notebook = ""
    if running.exists():
        os.replace(running, final)
        notebook = str(final)
    if status == "ok":
        try:
            _render_html(final, folder / f"{task.name}.html", task.title)
        except Exception as exc:  # noqa: BLE001
            status, error = "failed", f"rendering the HTML failed: {type(exc).__name__}: {exc}"
    return {
        "key": task.key,
        "status": status,
        "error": error.splitlines()[0][:500] if error else "",
        "seconds": round(time.monotonic() - started, 3),
        "notebook": notebook,
        "attempts": attempts,
    }


def _skip_iri_grammar() -> None:
    """Spare a worker 2-3 s of start-up: papermill imports nbformat, whose jsonschema compiles
    an IRI grammar at import when the optional ``rfc3987_syntax`` is installed (it comes with
    JupyterLab). The notebook schema never uses IRI formats, so a worker marks the module as
    unavailable, which jsonschema handles; other processes are not affected."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _watch_parent(parent_pid: int) -> None:
    from .processes import process_alive

    while True:
        time.sleep(PARENT_POLL_SECONDS)
        # Windows keeps an orphan's parent id, so the parent itself is checked too
        if os.getppid() != parent_pid or not process_alive(parent_pid):
            for kernel in list(_KERNELS.values()):
                kernel.kill()
            os._exit(1)


def _worker_main(slot: int, tasks: Any, results: Any, parent_pid: int, kernel_name: str) -> None:
    """Loop of a local worker process: run tasks until ``None``; report to ``results``.

    Before the first task the worker imports papermill while its kernel starts and imports the
    packet's modules, so both heavy start-ups overlap and happen once per worker.
    """
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    _skip_iri_grammar()
    importer = threading.Thread(target=_warm_worker_imports, daemon=True)
    importer.start()
    try:
        kernel = _warm_kernel(kernel_name)
        kernel.start()
        kernel.preload()
    except Exception:  # noqa: BLE001 - the first task retries the start and reports
        pass
    importer.join()

    while True:
        task = tasks.get()
        if task is None:
            break
        results.put(("done", slot, run_task(task)))
    shutdown_kernels()


# ------------------------------------------------------------------------------------------------
# Executors: local processes, Dask
# ------------------------------------------------------------------------------------------------


def _kill_worker(proc: Any) -> None:
    """Kill a worker process with its kernel (on every platform), and reap it."""
    from .processes import kill_process_tree

    kill_process_tree(proc.pid)
    proc.join(5)


class _LocalPool:
    """Worker processes started with ``spawn``, one task at a time each, killed on timeout."""

    def __init__(self, jobs: int, kernel_name: str) -> None:
        self.kernel_name = kernel_name
        self.ctx = mp.get_context("spawn")
        self.results = self.ctx.Queue()
        self.jobs = jobs
        self.workers: list[dict[str, Any]] = [self._spawn(slot) for slot in range(jobs)]

    def _spawn(self, slot: int) -> dict[str, Any]:
        tasks = self.ctx.SimpleQueue()
        proc = self.ctx.Process(
            target=_worker_main,
            args=(slot, tasks, self.results, os.getpid(), self.kernel_name),
            name=f"cimrca-batch-{slot}",
            daemon=True,
        )
        proc.start()
        return {"proc": proc, "tasks": tasks, "task": None, "since": 0.0}

    def capacity(self) -> int:
        return sum(w["task"] is None for w in self.workers)

    def submit(self, task: LeaTask) -> None:
        slot = next(i for i, w in enumerate(self.workers) if w["task"] is None)
        worker = self.workers[slot]
        worker["task"], worker["since"] = task, time.monotonic()
        worker["tasks"].put(task)

    def poll(self, timeout: float) -> list[tuple[LeaTask, dict[str, Any] | None]]:
        """Finished tasks; ``None`` as outcome when the worker process died."""
        done: list[tuple[LeaTask, dict[str, Any] | None]] = []
        try:
            kind, slot, outcome = self.results.get(timeout=timeout)
            while True:
                worker = self.workers[slot]
                if worker["task"] is not None and worker["task"].key == outcome["key"]:
                    done.append((worker["task"], outcome))
                    worker["task"] = None
                kind, slot, outcome = self.results.get_nowait()
        except queue.Empty:
            pass
        for slot, worker in enumerate(self.workers):
            if worker["task"] is not None and not worker["proc"].is_alive():
                done.append((worker["task"], None))
                self.workers[slot] = self._spawn(slot)
        return done

    def overdue(self, limit: float) -> list[LeaTask]:
        """Kill and replace the workers whose task runs longer than ``limit`` seconds."""
        now, late = time.monotonic(), []
        for slot, worker in enumerate(self.workers):
            if worker["task"] is not None and now - worker["since"] > limit:
                late.append(worker["task"])
                _kill_worker(worker["proc"])
                self.workers[slot] = self._spawn(slot)
        return late

    def close(self) -> None:
        for worker in self.workers:
            if worker["proc"].is_alive() and worker["task"] is None:
                worker["tasks"].put(None)
        for worker in self.workers:
            worker["proc"].join(15)
            if worker["proc"].is_alive():
                _kill_worker(worker["proc"])


class _DaskPool:
    """The same interface over a Dask distributed client."""

    def __init__(self, address: str, grace: float = DASK_GRACE_SECONDS) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(
                "--scheduler needs Dask distributed: pip install 'cimrca[dask]' (or "
                "dask[distributed]) on this machine and on every worker."
            ) from None
        try:
            self.client = Client(address, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self.grace = grace
        self.futures: dict[Any, tuple[LeaTask, float]] = {}
        threads = sum(self.client.nthreads().values()) or 1
        self.slots = 2 * threads

    def capacity(self) -> int:
        return max(self.slots - len(self.futures), 0)

    def submit(self, task: LeaTask) -> None:
        future = self.client.submit(
            run_task, task, key=f"cimrca-{task.key}-{time.time_ns()}", pure=False
        )
        self.futures[future] = (task, time.monotonic())

    def poll(self, timeout: float) -> list[tuple[LeaTask, dict[str, Any] | None]]:
        from distributed import wait

        if not self.futures:
            time.sleep(timeout)
            return []
        try:
            wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        done = []
        for future in [f for f in self.futures if f.done()]:
            task, _ = self.futures.pop(future)
            try:
                done.append((task, future.result()))
            except Exception as exc:  # noqa: BLE001 - a lost worker after Dask's own retries
                done.append((task, {"key": task.key, "status": "failed", "seconds": 0.0,
                                    "error": f"Dask task failed: {type(exc).__name__}: {exc}",
                                    "notebook": "", "attempts": 1}))  # fmt: skip
        return done

    def overdue(self, limit: float) -> list[LeaTask]:
        now, late = time.monotonic(), []
        for future, (task, since) in list(self.futures.items()):
            if now - since > limit + self.grace:
                future.cancel()
                del self.futures[future]
                late.append(task)
        return late

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.run(shutdown_kernels)
        self.client.close()


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """What a batch did; ``exit_status`` is 0 when nothing failed, else 1."""

    out_dir: Path
    ok: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def text(self) -> str:
        n = len(self.ok) + len(self.skipped) + len(self.failed)
        lines = [
            f"{n} packet(s) in {self.seconds:.1f} s: {len(self.ok)} ok, {len(self.skipped)} "
            f"skipped (unchanged), {len(self.failed)} failed. Output: {self.out_dir}"
        ]
        for lea, (error, notebook) in sorted(self.failed.items()):
            where = f" (notebook: {notebook})" if notebook else ""
            lines.append(f"  FAILED {lea}: {error}{where}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def notebook_dir() -> Path:
    """Folder of the packet notebooks: ``$CIMRCA_NOTEBOOK_DIR``, else the repository's notebooks/."""
    env = os.environ.get("CIMRCA_NOTEBOOK_DIR", "")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "notebooks"


class _Progress:
    def __init__(self, total: int) -> None:
        self.total, self.n = total, 0
        self.counts = {"ok": 0, "failed": 0, "skipped": 0}
        self.bar = None
        if sys.stderr.isatty() and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="LEA", desc="packets", file=sys.stderr)

    def update(self, lea: str, status: str, seconds: float, error: str = "") -> None:
        self.n += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.bar is not None:
            self.bar.set_postfix(self.counts, refresh=False)
            self.bar.update(1)
        else:
            why = f" - {error}" if error else ""
            print(f"[{self.n}/{self.total}] {lea} {status} {seconds:.1f}s{why}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_atomic(path: Path, write: Any) -> None:
    """Write with ``write(tmp_path)`` to a temporary file, then move it over ``path``.

    Each process writes its own temporary file, so shards writing the same table at once never
    mix their bytes.
    """
    with atomic_path(path) as tmp:
        write(tmp)


def _clear_leftovers(out: Path, leas: list[str], *, state_overview: bool) -> None:
    """Remove what a killed run left half-done for the LEAs of this run.

    Shards own disjoint LEAs (and only the first runs the state overview), so the files removed
    here belong to this run: an executing notebook's ``.running.ipynb`` and atomic-write temporary
    files whose process is gone.
    """
    from .atomic import remove_stale_temps

    folders = [(out / "leas" / lea, lea) for lea in leas]
    if state_overview:
        folders.append((out, STATE_OVERVIEW_NAME))
    for folder, name in folders:
        (folder / f".{name}.running.ipynb").unlink(missing_ok=True)
        for suffix in (".ipynb", ".html", "_workbook.xlsx", "_findings.json"):
            remove_stale_temps(folder / f"{name}{suffix}")


def run_batch(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    lea_ids: Sequence[str] = (),
    selpa: str | None = None,
    jobs: int | None = None,
    profile: str = "california",
    shard: str | None = None,
    force: bool = False,
    annotations: str | Path | None = None,
    scheduler: str | None = None,
    timeout: float = 600.0,
    kernel_name: str | None = None,
) -> BatchSummary:
    """Run the packet notebook for the chosen LEAs into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    data_dir, out_dir
        Canonical data folder; output folder (created).
    lea_ids, selpa, shard
        Which LEAs (:func:`select_leas`); ``shard`` as ``"I/N"``.
    jobs
        Local worker processes (default: the number of cores). Ignored with ``scheduler``.
    profile
        Profile name or YAML path.
    force
        Redo LEAs whose inputs are unchanged.
    annotations
        The annotation store (default ``OUT_DIR/annotations.sqlite``).
    scheduler
        Address of a Dask distributed scheduler, instead of local processes.
    timeout
        Wall-clock limit per LEA in seconds.
    kernel_name
        Jupyter kernel (default :func:`cimrca.engine.default_kernel_name`).

    Returns
    -------
    BatchSummary

    Raises
    ------
    UsageError
        Bad shard, unknown LEA or SELPA, bad ``jobs`` or ``timeout``, missing notebook.
    DataValidationError, ProfileError
        The data set or profile is unusable.
    """
    from .annotations import DEFAULT_STORE_NAME, AnnotationStore
    from .dataset import load_dataset
    from .engine import default_kernel_name
    from .indicators import compute_indicators
    from .methodology import compute_results, write_results
    from .packet import write_indicator_results
    from .profiles import load_profile

    started = time.monotonic()
    shard_t = parse_shard(shard)
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, found {jobs}.")
    if not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, found {timeout}.")
    nb_dir = notebook_dir()
    packet_nb = nb_dir / PACKET_NOTEBOOK
    if not packet_nb.is_file():
        raise UsageError(f"the packet notebook {packet_nb} is missing; reinstall cimrca.")
    profile_arg = (
        str(Path(profile).resolve()) if Path(profile).suffix in {".yaml", ".yml"} else profile
    )
    prof = load_profile(profile_arg)
    data = Path(data_dir).resolve()
    ds = load_dataset(data)
    chosen = select_leas(ds.leas, lea_ids=lea_ids, selpa=selpa, shard=shard_t)

    out = Path(out_dir).resolve()
    (out / "leas").mkdir(parents=True, exist_ok=True)
    summary = BatchSummary(out_dir=out)
    manifest = read_manifest(out).set_index("lea_id")
    kernel = kernel_name or default_kernel_name()
    n_jobs = jobs or os.cpu_count() or 1
    # When every chosen LEA will run (a first run, or --force), start the workers now: their
    # kernels start and import while the statewide tables are computed below.
    early_pool = None
    if scheduler is None and chosen and (force or manifest.index.intersection(chosen).empty):
        early_pool = _LocalPool(min(n_jobs, len(chosen) + 1), kernel)

    # 1. statewide results and indicator results, once per run
    results = compute_results(ds, prof)
    results_path = out / RESULTS_NAME
    _write_atomic(results_path, lambda tmp: write_results(results, tmp))
    fast_results = out / RESULTS_PARQUET_NAME
    _write_atomic(fast_results, lambda tmp: write_results(results, tmp))
    indicators = None
    indicators_path = ""
    if ds.indicators is not None:
        indicators = compute_indicators(ds.indicators, ds.targets)
        indicators_path = str(out / INDICATORS_NAME)
        write_indicator_results(indicators, indicators_path)

    # 2. inputs per LEA
    common = {
        "version": __version__,
        "pandas": pd.__version__,
        "profile": repr(prof),
        "notebook": _sha256_file(packet_nb),
        "dataset": f"{ds.name}|{ds.is_synthetic}",
    }
    res_digest = _per_lea_digest(results, chosen)
    ind_digest = _per_lea_digest(indicators, chosen)
    store_path = Path(annotations).resolve() if annotations else out / DEFAULT_STORE_NAME
    store = AnnotationStore(store_path)
    current = store.current_frame()
    ann_groups = dict(tuple(current.groupby("lea_id"))) if not current.empty else {}
    names = dict(zip(ds.leas["lea_id"].astype(str), ds.leas["lea_name"].astype(str), strict=True))

    def inputs_hash(lea: str, ann: str) -> str:
        return _combine(
            {
                **common,
                "lea": f"{lea}|{names.get(lea, '')}",
                "results": res_digest[lea],
                "indicators": ind_digest[lea],
                "annotations": ann,
            }  # fmt: skip
        )

    _clear_leftovers(out, chosen, state_overview=shard_t is None or shard_t[0] == 1)
    to_run: list[str] = []
    skipped_rows: list[dict[str, Any]] = []
    for lea in chosen:
        ann = _annotation_digest(ann_groups.get(lea, pd.DataFrame()))
        digest = inputs_hash(lea, ann)
        if not force and lea in manifest.index and _unchanged(out, lea, manifest.loc[lea], digest):
            row = manifest.loc[lea].to_dict()
            skipped_rows.append({**row, "lea_id": lea, "status": "skipped", "seconds": "0"})
            summary.skipped.append(lea)
        else:
            to_run.append(lea)
    if skipped_rows:
        update_manifest(out, skipped_rows)

    progress = _Progress(len(chosen))
    for row in skipped_rows:
        progress.update(row["lea_id"], "skipped", 0.0)

    # the state overview: once per run (the first shard), unless unchanged
    tasks: deque[LeaTask] = deque()
    state_nb = nb_dir / f"{STATE_OVERVIEW_NAME}.ipynb"
    state_digest = _combine({**common, "notebook": "", "results": _sha256_file(results_path),
                             "state_nb": _sha256_file(state_nb) if state_nb.is_file() else ""})  # fmt: skip
    state_hash_file = out / _STATE_HASH
    state_done = (
        state_hash_file.is_file()
        and state_hash_file.read_text(encoding="utf-8").strip() == state_digest
        and (out / f"{STATE_OVERVIEW_NAME}.html").is_file()
    )
    if state_nb.is_file() and (shard_t is None or shard_t[0] == 1) and (force or not state_done):
        progress.total += 1
        tasks.append(
            LeaTask(
                key=STATE_OVERVIEW_NAME, lea_id="", name=STATE_OVERVIEW_NAME,
                notebook=str(state_nb), folder=str(out),
                parameters={"data_dir": str(data), "profile": profile_arg,
                            "results_path": str(fast_results), "out_dir": str(out)},
                kernel_name=kernel, timeout=timeout,
                title=None,
            )
        )  # fmt: skip
    for lea in to_run:
        folder = out / "leas" / lea
        tasks.append(
            LeaTask(
                key=lea, lea_id=lea, name=lea, notebook=str(packet_nb), folder=str(folder),
                parameters={"lea_id": lea, "data_dir": str(data), "out_dir": str(folder),
                            "profile": profile_arg, "results_path": str(fast_results),
                            "indicators_path": indicators_path, "annotations_db": "",
                            "annotations_json": str(folder / f".{lea}_annotations.json")},
                kernel_name=kernel, timeout=timeout,
                title=None,
            )
        )  # fmt: skip

    if not tasks:
        if early_pool is not None:
            early_pool.close()
        progress.close()
        store.close()
        summary.seconds = time.monotonic() - started
        return summary

    # 3. run
    from .workbook import WorkbookInputs, workbook_keys

    indicator_sheet = None
    if indicators is not None:
        from .indicators import indicator_sheet

    rewrites: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    retries: dict[str, int] = {}

    def prepare(task: LeaTask) -> str:
        """Harvest and write the annotations JSON; return an error, or "" when ready."""
        from .annotations import prepare_rewrite, workbook_path

        if not task.lea_id:
            return ""
        lea = task.lea_id
        lea_results = results[results["lea_id"] == lea]
        rows = indicator_sheet(indicators, lea) if indicator_sheet is not None else None
        inputs = WorkbookInputs(lea_id=lea, lea_name=names.get(lea, lea), results=lea_results,
                                profile=prof, indicator_rows=rows)  # fmt: skip
        path = workbook_path(out, lea)
        try:
            rewrite = prepare_rewrite(store, lea, path, workbook_keys(inputs), command="batch")
        except WorkbookError as exc:
            return str(exc)
        Path(task.folder).mkdir(parents=True, exist_ok=True)
        write_annotations_json(task.parameters["annotations_json"], rewrite)
        rewrites[lea] = rewrite
        hashes[lea] = inputs_hash(lea, _annotation_digest(store.current_frame(lea)))
        return ""

    def finish(task: LeaTask, outcome: dict[str, Any]) -> None:
        from .annotations import finish_rewrite, workbook_path

        status, error = outcome["status"], outcome["error"]
        if not task.lea_id:  # the state overview
            if status == "ok":
                atomic_write_text(state_hash_file, state_digest + "\n")
                summary.ok.append(STATE_OVERVIEW_NAME)
            else:
                summary.failed[STATE_OVERVIEW_NAME] = (error, outcome.get("notebook", ""))
            progress.update(STATE_OVERVIEW_NAME, status, outcome["seconds"], error)
            return
        lea = task.lea_id
        wb_sha = ""
        path = workbook_path(out, lea)
        if status == "ok":
            try:
                diff = finish_rewrite(store, lea, path, rewrites[lea])
                if diff:
                    summary.warnings.append(
                        f"{lea}: {len(diff)} annotation(s) differ from the store in the new "
                        f"workbook (first: {diff[0]})"
                    )
                wb_sha = _sha256_file(path)
            except (WorkbookError, FileNotFoundError) as exc:
                status, error = "failed", f"the new workbook cannot be read: {exc}"
        row = {
            "lea_id": lea, "status": status, "seconds": f"{outcome['seconds']:.2f}",
            "error": error, "inputs_sha256": hashes.get(lea, "") if status == "ok" else "",
            "finished_at": _now(), "notebook": outcome.get("notebook", "") if status != "ok" else "",
            "workbook_sha256": wb_sha,
        }  # fmt: skip
        update_manifest(out, [row])
        if status == "ok":
            summary.ok.append(lea)
        else:
            summary.failed[lea] = (error, row["notebook"])
        progress.update(lea, status, outcome["seconds"], error)

    if scheduler:
        pool: Any = _DaskPool(scheduler)
    else:
        pool = early_pool or _LocalPool(min(n_jobs, len(tasks)), kernel)
    inflight = 0
    try:
        while tasks or inflight:
            while tasks and pool.capacity() > 0:
                task = tasks.popleft()
                reason = prepare(task)
                if reason:
                    finish(task, {"status": "failed", "error": reason, "seconds": 0.0})
                    continue
                pool.submit(task)
                inflight += 1
            for task, outcome in pool.poll(POLL_SECONDS):
                inflight -= 1
                if outcome is None:
                    if retries.get(task.key, 0) < WORKER_RETRIES:
                        retries[task.key] = retries.get(task.key, 0) + 1
                        tasks.appendleft(task)
                        continue
                    outcome = {"status": "failed", "seconds": 0.0, "notebook": "",
                               "error": "the worker process died while running it"}  # fmt: skip
                finish(task, outcome)
            for task in pool.overdue(timeout):
                inflight -= 1
                running = Path(task.folder) / f".{task.name}.running.ipynb"
                notebook = Path(task.folder) / f"{task.name}.ipynb"
                if running.exists():
                    os.replace(running, notebook)
                finish(task, {"status": "failed", "seconds": timeout,
                              "notebook": str(notebook) if notebook.exists() else "",
                              "error": f"timed out after {timeout:g} s (--timeout)"})  # fmt: skip
    finally:
        pool.close()
        progress.close()
        store.close()
    summary.seconds = time.monotonic() - started
    return summary


def _unchanged(out: Path, lea: str, row: pd.Series, digest: str) -> bool:
    """Whether an LEA's last run is still valid: same inputs, same workbook, files present."""
    if row.get("status") not in ("ok", "skipped") or row.get("inputs_sha256") != digest:
        return False
    folder = out / "leas" / lea
    files = [folder / f"{lea}_workbook.xlsx", folder / f"{lea}.ipynb", folder / f"{lea}.html"]
    if not all(f.is_file() for f in files):
        return False
    return _sha256_file(files[0]) == row.get("workbook_sha256")


def run_batch_cli(args: argparse.Namespace) -> int:
    """``cimrca batch``: run :func:`run_batch` with the parsed arguments, print the summary.

    Returns the exit status: 0 all ok, 1 some LEAs failed, (usage or input errors raise
    :class:`~cimrca.errors.CimrcaError`, exit 2).
    """
    summary = run_batch(
        args.data_dir,
        args.out,
        lea_ids=args.lea or (),
        selpa=args.selpa,
        jobs=args.jobs,
        profile=args.profile,
        shard=args.shard,
        force=args.force,
        annotations=args.annotations,
        scheduler=args.scheduler,
        timeout=args.timeout,
    )
    print(summary.text())
    return summary.exit_status
