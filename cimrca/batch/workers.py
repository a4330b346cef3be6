"""The worker side of a batch: one notebook run in a warm kernel, and the pools that run them.

Local workers are processes started with ``spawn`` that each keep a warm kernel
(:mod:`cimrca.runner.engine`); ``--scheduler`` sends the same tasks to a Dask cluster.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..outputs import LeaFiles

__all__ = ["LeaTask", "run_task", "shutdown_kernels", "LocalPool", "DaskPool", "KERNEL_ATTEMPTS"]

#: Attempts of one notebook in a worker when the kernel fails (not when the notebook raises).
KERNEL_ATTEMPTS = 3
#: Seconds the submitting process waits beyond ``--timeout`` for a Dask task before failing it.
DASK_GRACE_SECONDS = 30.0
#: Seconds between a worker's checks that its parent is still alive.
PARENT_POLL_SECONDS = 0.5


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
    from ..runner.engine import WarmKernel, register_engine

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


def _render_html(nb_path: Path, html_path: Path, title: str | None, notebook: Any) -> None:
    from ..runner.html import render_html

    render_html(nb_path, html_path, title=title, notebook=notebook)


def _warm_worker_imports() -> None:
    """Import what a worker needs (papermill, nbconvert's templates) while its kernel starts,
    so the first LEA does not pay for it (a failure here resurfaces, with its message, in the
    first task). The packet's own modules (pandas, matplotlib) are imported by the kernel
    only: the worker process does not run them, and would hold about 60 MB more."""
    with contextlib.suppress(Exception):
        import papermill  # noqa: F401

        from ..runner.html import _html_exporter, _template_dir

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

    from ..runner.engine import ENGINE_NAME, is_transient

    started = time.monotonic()
    files = LeaFiles(Path(task.folder), task.name)
    files.folder.mkdir(parents=True, exist_ok=True)
    final, running = files.notebook, files.running_notebook
    status, error, attempts = "ok", "", 0
    kernel = executed = None
    for attempt in range(1, KERNEL_ATTEMPTS + 1):
        attempts = attempt
        try:
            kernel = _warm_kernel(task.kernel_name)
            executed = pm.execute_notebook(
                task.notebook,
                str(running),
                parameters=task.parameters,
                engine_name=ENGINE_NAME,
                kernel_name=task.kernel_name,
                warm_kernel=kernel,
                execution_timeout=math.ceil(task.timeout),  # papermill takes whole seconds
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
    if running.exists() and (status == "ok" or _complete_notebook(running)):
        os.replace(running, final)
        notebook = str(final)
    else:  # a write that failed (a full disk): no partial file under the final name
        running.unlink(missing_ok=True)
    if status == "ok":
        try:
            _render_html(final, files.html, task.title, executed)
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


def _complete_notebook(path: Path) -> bool:
    """Whether ``path`` holds a whole notebook (JSON), not a write cut short by a full disk."""
    import json

    try:
        return isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False


def _skip_iri_grammar() -> None:
    """Spare a worker 2-3 s of start-up: papermill imports nbformat, whose jsonschema compiles
    an IRI grammar at import when the optional ``rfc3987_syntax`` is installed (it comes with
    JupyterLab). The notebook schema never uses IRI formats, so a worker marks the module as
    unavailable, which jsonschema handles; other processes are not affected."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _skip_hdfs_support() -> None:
    """Keep pyarrow and numpy out of a local worker (about 40 MB and 0.2 s each): papermill
    imports ``pyarrow.fs`` at import only to read notebooks from HDFS, which a batch never does.
    Marked unavailable, papermill installs its own "missing dependency" stand-in. Only local
    worker processes do this, before anything imports pyarrow: a Dask worker may use it."""
    if "pyarrow" not in sys.modules:
        sys.modules.setdefault("pyarrow.fs", None)  # type: ignore[arg-type]


def _watch_parent(parent_pid: int) -> None:
    from ..processes import process_alive

    while True:
        time.sleep(PARENT_POLL_SECONDS)
        # Windows keeps an orphan's parent id, so the parent itself is checked too
        if os.getppid() != parent_pid or not process_alive(parent_pid):
            for kernel in list(_KERNELS.values()):
                kernel.kill()
            os._exit(1)


def _worker_main(
    slot: int,
    tasks: Any,
    results: Any,
    parent_pid: int,
    kernel_name: str,
    kernel_folder: str = "",
    preload: bool = True,
) -> None:
    """Loop of a local worker process: run tasks until ``None``; report to ``results``.

    Before the first task the worker imports papermill while its kernel starts and, with
    ``preload``, imports the packet's modules, so both heavy start-ups overlap and happen once
    per worker (without it, the kernel imports them before its first notebook: a pool started
    while the batch holds a large State stays small until then). Its kernels' files go to
    ``kernel_folder`` (the batch's per-run folder), when given.
    """
    # Ctrl-C reaches every process of the terminal's group: the parent stops the batch and
    # kills the workers, which must not print tracebacks of their own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if kernel_folder:
        from ..runner.engine import KERNEL_DIR_ENV

        os.environ[KERNEL_DIR_ENV] = kernel_folder
    # a kernel stays at the size of one packet's tables (its environment is this process's)
    from ..processes import use_system_allocator

    use_system_allocator()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    _skip_iri_grammar()
    _skip_hdfs_support()
    importer = threading.Thread(target=_warm_worker_imports, daemon=True)
    importer.start()
    try:
        kernel = _warm_kernel(kernel_name)
        kernel.start()
        if preload:
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


def _kill_worker(proc: Any) -> None:
    """Kill a worker process with its kernel (on every platform), and reap it."""
    from ..processes import kill_process_tree

    kill_process_tree(proc.pid)
    proc.join(5)


class LocalPool:
    """Worker processes started with ``spawn``, one task at a time each, killed on timeout."""

    def __init__(
        self, jobs: int, kernel_name: str, kernel_folder: str | Path = "", *, preload: bool = True
    ) -> None:
        self.kernel_name = kernel_name
        self.kernel_folder = str(kernel_folder)
        self.preload = preload
        self.ctx = mp.get_context("spawn")
        self.results = self.ctx.Queue()
        self.jobs = self.slots = jobs
        self.workers: list[dict[str, Any]] = [self._spawn(slot) for slot in range(jobs)]

    def _spawn(self, slot: int) -> dict[str, Any]:
        tasks = self.ctx.SimpleQueue()
        proc = self.ctx.Process(
            target=_worker_main,
            args=(
                slot,
                tasks,
                self.results,
                os.getpid(),
                self.kernel_name,
                self.kernel_folder,
                self.preload,
            ),  # fmt: skip
            name=f"cimrca-batch-{slot}",
            daemon=True,
        )
        proc.start()
        return {"proc": proc, "tasks": tasks, "task": None, "since": 0.0, "released": False}

    def capacity(self) -> int:
        return sum(w["task"] is None and not w["released"] for w in self.workers)

    def release_idle(self) -> None:
        """Let every idle worker stop now (nothing is left to give it): its kernel shuts down
        while the other workers finish their last notebooks."""
        for worker in self.workers:
            if worker["task"] is None and not worker["released"]:
                worker["tasks"].put(None)
                worker["released"] = True

    def submit(self, task: LeaTask) -> None:
        slot = next(
            i for i, w in enumerate(self.workers) if w["task"] is None and not w["released"]
        )
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

    def kill(self) -> None:
        """Kill every worker with its kernel now (Ctrl-C, or the batch stopped on an error)."""
        for worker in self.workers:
            if worker["proc"].is_alive():
                _kill_worker(worker["proc"])

    def close(self) -> None:
        self.release_idle()
        for worker in self.workers:
            worker["proc"].join(15)
            if worker["proc"].is_alive():
                _kill_worker(worker["proc"])


class DaskPool:
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

    def release_idle(self) -> None:
        """Dask workers stay up; their kernels are stopped by :meth:`close`."""

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
