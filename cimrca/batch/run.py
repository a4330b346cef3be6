"""One batch run, step by step: choose the LEAs, prepare the statewide tables, plan which LEAs
to run, then run them (harvesting each workbook before, recording it after) and report."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..atomic import atomic_write_text, remove_stale_temps
from ..errors import CimrcaError, UsageError, WorkbookError
from ..outputs import STATE_OVERVIEW_NAME, OutputLayout
from ..resources import PACKET_NOTEBOOK_NAME, STATE_NOTEBOOK_NAME, notebook_dir
from .manifest import read_manifest, update_manifest
from .plan import (
    annotation_digest,
    combine,
    parse_shard,
    per_lea_digest,
    select_leas,
    sha256_file,
    unchanged,
)
from .statewide import ResultsCsv, Statewide, prepare_statewide, release_memory
from .workers import DaskPool, LeaTask, LocalPool

__all__ = ["BatchSummary", "run_batch", "run_batch_cli"]

#: Times the parent resubmits an LEA whose worker process died (crash, out of memory).
WORKER_RETRIES = 1
#: Seconds between checks of the running tasks' wall-clock limits.
POLL_SECONDS = 0.2
#: Data sets up to this size (their CSV files) start the workers, and their kernels import the
#: packet's modules, while the statewide tables are computed; for larger ones the kernels wait
#: for their first notebook to import them, so the tree stays small while the batch holds the
#: State (a worker and a bare kernel are about 130 MB, a kernel with its imports 250 MB more).
EARLY_START_BYTES = 16 * 2**20
#: Memory one local worker (its process and its kernel) needs at most, for the default --jobs.
WORKER_MEMORY_BYTES = 600 * 2**20
#: Memory kept for the batch's own process (it computes the statewide tables) and the system.
PARENT_MEMORY_BYTES = 1536 * 2**20


@dataclass
class BatchSummary:
    """What a batch did; ``exit_status`` is 0 when nothing failed, else 1."""

    out_dir: Path
    ok: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    left_out: str = ""
    conflicts: list[str] = field(default_factory=list)
    open_conflicts: int = 0
    workers: str = ""

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0

    def text(self) -> str:
        overview = STATE_OVERVIEW_NAME
        ok = [x for x in self.ok if x != overview]
        failed = [x for x in self.failed if x != overview]
        n = len(ok) + len(self.skipped) + len(failed)
        lines = [
            f"{n} LEA packet(s) in {self.seconds:.1f} s: {len(ok)} ok, {len(self.skipped)} "
            f"skipped (unchanged), {len(failed)} failed. Output: {self.out_dir}"
        ]
        if self.workers:
            lines.append(f"  {self.workers}")
        if overview in self.ok or overview in self.failed:
            done = "written" if overview in self.ok else "FAILED"
            lines.append(f"  state overview: {done}")
        if self.left_out:
            lines.append(self.left_out)
        for lea, (error, notebook) in sorted(self.failed.items()):
            where = f" (notebook: {notebook})" if notebook else ""
            lines.append(f"  FAILED {lea}: {error}{where}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        if self.conflicts or self.open_conflicts:
            lines.append(
                f"  {len(self.conflicts)} annotation conflict(s) found in this run, "
                f"{self.open_conflicts} listed in conflicts.csv: the value typed in the workbook "
                "was kept in its cell; the other value is on the workbook's Conflicts sheet"
            )
            lines.extend(f"  {c}" for c in self.conflicts)
        return "\n".join(lines)


class _Progress:
    """A tqdm bar on a terminal; a plain line per LEA otherwise (outputs.md section 3)."""

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


def _clear_leftovers(out: OutputLayout, leas: list[str], *, state_overview: bool) -> None:
    """Remove what a killed run left half-done for the LEAs of this run.

    Shards own disjoint LEAs (and only the first runs the state overview), so the files removed
    here belong to this run: an executing notebook's ``.running.ipynb`` and atomic-write temporary
    files whose process is gone.
    """
    packets = [out.lea(lea) for lea in leas]
    if state_overview:
        packets.append(out.state_overview)
    for files in packets:
        files.running_notebook.unlink(missing_ok=True)
        for path in (*files.outputs, *files.public_outputs):
            remove_stale_temps(path)


class _Run:
    """The state of one run: inputs' hashes, the annotation store, the summary and progress.

    :meth:`prepare` runs in the parent before a packet's notebook (harvest the old workbook,
    hand over the annotations for the packet's own keys); :meth:`finish` after it (record the
    new workbook's baseline, update the manifest).
    """

    def __init__(
        self,
        out: OutputLayout,
        state: Statewide,
        chosen: list[str],
        store: Any,
        packet_nb: Path,
        summary: BatchSummary,
    ) -> None:
        ds = state.dataset
        self.out, self.state, self.store, self.summary = out, state, store, summary
        self.common = {
            "version": __version__,
            "pandas": pd.__version__,
            "profile": repr(state.profile),
            "notebook": sha256_file(packet_nb),
            "dataset": f"{ds.name}|{ds.is_synthetic}",
        }
        digests = state.digests
        if not digests or any(lea not in digests["results"] for lea in chosen):
            digests = {
                "results": per_lea_digest(state.results, chosen),
                "indicators": per_lea_digest(state.indicators, chosen),
                "monitoring": per_lea_digest(state.monitoring, chosen),
            }
        self.results_digest = digests["results"]
        self.indicators_digest = digests["indicators"]
        self.monitoring_digest = digests["monitoring"]
        self.names = dict(
            zip(ds.leas["lea_id"].astype(str), ds.leas["lea_name"].astype(str), strict=True)
        )
        self.rewrites: dict[str, Any] = {}
        self.hashes: dict[str, str] = {}
        self.progress = _Progress(0)
        self.state_digest = ""
        self.public = False

    def inputs_hash(self, lea: str, annotations: pd.DataFrame) -> str:
        """Everything the LEA's packet shows (outputs.md section 3), hashed."""
        return combine(
            {
                **self.common,
                "lea": f"{lea}|{self.names.get(lea, '')}",
                "results": self.results_digest[lea],
                "indicators": self.indicators_digest[lea],
                "monitoring": self.monitoring_digest[lea],
                "annotations": annotation_digest(annotations),
            }
        )

    def plan(self, chosen: list[str], *, force: bool) -> list[str]:
        """The LEAs to run; the others (unchanged since their last run) are recorded as skipped."""
        manifest = read_manifest(self.out.root).set_index("lea_id")
        current = self.store.current_frame()
        by_lea = dict(tuple(current.groupby("lea_id"))) if not current.empty else {}
        to_run, skipped = [], []
        for lea in chosen:
            digest = self.inputs_hash(lea, by_lea.get(lea, pd.DataFrame()))
            if (
                not force
                and lea in manifest.index
                and unchanged(self.out, lea, manifest.loc[lea], digest)
                and self._public_present(lea)
            ):
                row = manifest.loc[lea].to_dict()
                skipped.append({**row, "lea_id": lea, "status": "skipped", "seconds": "0"})
            else:
                to_run.append(lea)
        if skipped:
            update_manifest(self.out.root, skipped)
        self.progress = _Progress(len(chosen))
        for row in skipped:
            self.summary.skipped.append(row["lea_id"])
            self.progress.update(row["lea_id"], "skipped", 0.0)
        return to_run

    def _public_present(self, lea: str) -> bool:
        """With ``--public``, an LEA is redone unless its public packet is there too."""
        return not self.public or all(p.is_file() for p in self.out.lea(lea).public_outputs)

    def state_overview_task(
        self, state_nb: Path, *, force: bool, kernel: str, timeout: float
    ) -> LeaTask | None:
        """The state overview's notebook, unless its inputs are unchanged since the last run."""
        out = self.out
        self.state_digest = combine(
            {
                **self.common,
                "notebook": "",
                "results": sha256_file(out.results_parquet),
                "state_nb": sha256_file(state_nb),
                "monitoring": sha256_file(out.monitoring) if out.monitoring.is_file() else "",
            }
        )
        done = (
            out.state_overview_hash.is_file()
            and out.state_overview_hash.read_text(encoding="utf-8").strip() == self.state_digest
            and out.state_overview.html.is_file()
        )
        if done and not force:
            return None
        self.progress.total += 1
        parameters = {
            "data_dir": str(self.state.dataset.path),
            "profile": self.state.profile_arg,
            "results_path": str(out.results_parquet),
            "out_dir": str(out.root),
            "monitoring_path": self._monitoring_path(),
            "lea_tables": str(out.lea_tables),
        }
        return LeaTask(
            key=STATE_OVERVIEW_NAME, lea_id="", name=STATE_OVERVIEW_NAME,
            notebook=str(state_nb), folder=str(out.root), parameters=parameters,
            kernel_name=kernel, timeout=timeout,
        )  # fmt: skip

    def packet_task(self, lea: str, packet_nb: Path, *, kernel: str, timeout: float) -> LeaTask:
        """The packet notebook of one LEA, with the parameters ``load_packet`` takes."""
        out, files = self.out, self.out.lea(lea)
        parameters = {
            "lea_id": lea,
            "data_dir": str(self.state.dataset.path),
            "out_dir": str(files.folder),
            "profile": self.state.profile_arg,
            "results_path": str(out.results_parquet),
            "indicators_path": str(out.indicators) if self.state.indicators is not None else "",
            "annotations_db": "",
            "annotations_json": str(files.annotations_json),
            "monitoring_path": self._monitoring_path(),
            "audience": "public" if self.public else "internal",
            "lea_tables": str(out.lea_tables),
        }
        return LeaTask(
            key=lea, lea_id=lea, name=lea, notebook=str(packet_nb), folder=str(files.folder),
            parameters=parameters, kernel_name=kernel, timeout=timeout,
        )  # fmt: skip

    def _monitoring_path(self) -> str:
        """``monitoring.csv`` of the run, or "" when the profile defines no levels."""
        return str(self.out.monitoring) if self.state.monitoring is not None else ""

    def prepare(self, task: LeaTask) -> str:
        """Harvest the old workbook and hand over its annotations; an error, or "" when ready.

        The workbook's keys come from :func:`cimrca.packet.build_packet`, the function the
        notebook builds its packet with, so a note is handed over for the row it was typed on.
        """
        from ..annotations import prepare_rewrite, write_annotations_json
        from ..packet import build_packet

        if not task.lea_id:
            return ""
        lea, state, files = task.lea_id, self.state, self.out.lea(task.lea_id)
        try:
            packet = build_packet(
                lea, state.dataset, state.lea_results(lea), state.indicators, state.profile,
                monitoring=state.monitoring,
            )  # fmt: skip
        except CimrcaError as exc:  # this LEA's data cannot make a packet; the others go on
            return str(exc)
        try:
            rewrite = prepare_rewrite(
                self.store, lea, files.workbook, packet.workbook_keys, command="batch"
            )
        except WorkbookError as exc:
            return str(exc)
        if rewrite.harvest is not None:
            self.summary.conflicts.extend(str(c) for c in rewrite.harvest.conflicts)
        files.folder.mkdir(parents=True, exist_ok=True)
        write_annotations_json(rewrite, files.annotations_json)
        self.rewrites[lea] = rewrite
        self.hashes[lea] = self.inputs_hash(lea, self.store.current_frame(lea))
        return ""

    def finish(self, task: LeaTask, outcome: dict[str, Any]) -> None:
        """Record one finished notebook: the workbook's baseline, the manifest, the summary."""
        if not task.lea_id:
            self._finish_state_overview(outcome)
            return
        from ..annotations import finish_rewrite

        status, error = outcome["status"], outcome["error"]
        lea, path = task.lea_id, self.out.lea(task.lea_id).workbook
        wb_sha = ""
        if status == "ok":
            try:
                diff = finish_rewrite(self.store, lea, path, self.rewrites[lea])
                if diff:
                    self.summary.warnings.append(
                        f"{lea}: {len(diff)} annotation(s) differ from the store in the new "
                        f"workbook (first: {diff[0]})"
                    )
                wb_sha = sha256_file(path)
            except (WorkbookError, FileNotFoundError) as exc:
                status, error = "failed", f"the new workbook cannot be read: {exc}"
        row = {
            "lea_id": lea, "status": status, "seconds": f"{outcome['seconds']:.2f}",
            "error": error, "inputs_sha256": self.hashes.get(lea, "") if status == "ok" else "",
            "finished_at": _now(), "notebook": outcome.get("notebook", "") if status != "ok" else "",
            "workbook_sha256": wb_sha,
        }  # fmt: skip
        update_manifest(self.out.root, [row])
        if status == "ok":
            self.summary.ok.append(lea)
        else:
            self.summary.failed[lea] = (error, row["notebook"])
        self.progress.update(lea, status, outcome["seconds"], error)

    def _finish_state_overview(self, outcome: dict[str, Any]) -> None:
        status, error = outcome["status"], outcome["error"]
        if status == "ok":
            atomic_write_text(self.out.state_overview_hash, self.state_digest + "\n")
            self.summary.ok.append(STATE_OVERVIEW_NAME)
        else:
            self.summary.failed[STATE_OVERVIEW_NAME] = (error, outcome.get("notebook", ""))
        self.progress.update(STATE_OVERVIEW_NAME, status, outcome["seconds"], error)


def _drive(pool: Any, tasks: deque[LeaTask], run: _Run, timeout: float) -> None:
    """Feed ``tasks`` to ``pool`` as it has room; finish each as it ends, dies or overruns.

    The parent's own work per LEA (harvesting the old workbook and planning the new one's keys
    before, reading the new workbook back after) is done while the workers run, not between
    two of their notebooks: up to one task per worker is prepared ahead, a worker that frees up
    gets the next prepared task before the parent finishes the one it returned.
    """
    retries: dict[str, int] = {}
    ready: deque[LeaTask] = deque()
    inflight = 0

    def submit_ready() -> None:
        nonlocal inflight
        while ready and pool.capacity() > 0:
            pool.submit(ready.popleft())
            inflight += 1

    while tasks or ready or inflight:
        submit_ready()
        wait = POLL_SECONDS
        if tasks and len(ready) < pool.slots:
            task = tasks.popleft()
            reason = run.prepare(task)
            if reason:
                run.finish(task, {"status": "failed", "error": reason, "seconds": 0.0})
            else:
                ready.append(task)
            wait = 0.0  # more to prepare: look at the workers and come back
        done = pool.poll(wait)
        inflight -= len(done)
        submit_ready()
        if not tasks and not ready:
            pool.release_idle()  # a worker with nothing left stops while the others finish
        for task, outcome in done:
            if outcome is None:
                if retries.get(task.key, 0) < WORKER_RETRIES:
                    retries[task.key] = retries.get(task.key, 0) + 1
                    tasks.appendleft(task)
                    continue
                outcome = {"status": "failed", "seconds": 0.0, "notebook": "",
                           "error": "the worker process died while running it"}  # fmt: skip
            run.finish(task, outcome)
        for task in pool.overdue(timeout):
            inflight -= 1
            run.finish(task, _overdue_outcome(task, timeout))


def _overdue_outcome(task: LeaTask, timeout: float) -> dict[str, Any]:
    """A task killed over its limit: its partial notebook is kept for inspection."""
    from ..outputs import LeaFiles

    files = LeaFiles(Path(task.folder), task.name)
    if files.running_notebook.exists():
        os.replace(files.running_notebook, files.notebook)
    return {
        "status": "failed",
        "seconds": timeout,
        "notebook": str(files.notebook) if files.notebook.exists() else "",
        "error": f"timed out after {timeout:g} s (--timeout)",
    }


def _open_out_dir(path: Path) -> OutputLayout:
    """OUT_DIR created and checked writable; a plain one-line error when it cannot be used."""
    out = OutputLayout(path.resolve())
    if out.root.exists() and not out.root.is_dir():
        raise UsageError(
            f"{out.root}: is a file, not a folder. Give --out a folder (it is created if missing)."
        )
    try:
        out.leas_folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.leas_folder):
            pass
    except OSError as exc:
        raise UsageError(
            f"{out.root}: cannot write into the output folder ({exc.strerror or exc}). Give --out "
            "a folder you can write to (not on a read-only medium), or fix its permissions."
        ) from None
    return out


#: Prefix of a batch's temporary folder (its kernels' logs, connection files and sockets).
RUN_FOLDER_PREFIX = "cimrca-run-"


def _make_run_folder() -> Path:
    """A new temporary folder for this run's kernel files (removed when the run ends).

    Folders left by runs of this host that were killed (their process is gone) are removed
    first, so a killed run leaves nothing behind for long (outputs.md section 5.1). The folder
    is in the system's temporary folder, not in OUT_DIR, so that IPC socket paths stay short.
    """
    from ..processes import process_alive

    temp = Path(tempfile.gettempdir())
    for old in temp.glob(f"{RUN_FOLDER_PREFIX}*"):
        pid = old.name[len(RUN_FOLDER_PREFIX) :].split("-", 1)[0]
        if old.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{RUN_FOLDER_PREFIX}{os.getpid()}-"))


def _check_options(jobs: int | None, timeout: float) -> Path:
    """Validate the numeric options; return the packet notebook."""
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, found {jobs}.")
    if not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, found {timeout}.")
    packet_nb = notebook_dir() / PACKET_NOTEBOOK_NAME
    if not packet_nb.is_file():
        raise UsageError(f"the packet notebook {packet_nb} is missing; reinstall cimrca.")
    return packet_nb


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
    cim_only: bool = False,
    public: bool = False,
) -> BatchSummary:
    """Run the packet notebook for the chosen LEAs into ``out_dir`` (see :mod:`cimrca.batch`).

    Parameters
    ----------
    data_dir, out_dir
        Canonical data folder; output folder (created).
    lea_ids, selpa, shard
        Which LEAs (:func:`~cimrca.batch.plan.select_leas`); ``shard`` as ``"I/N"``.
    jobs
        Local worker processes (default: :func:`default_jobs`, one per core as memory allows).
        Ignored with ``scheduler``.
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
        Jupyter kernel (default :func:`cimrca.runner.kernel_name`).
    cim_only
        Build packets only for the LEAs with ``cim_required`` in the latest year of the
        monitoring table, intersected with ``lea_ids``, ``selpa`` and ``shard``; the summary
        says how many were left out and why. Needs a profile with a ``monitoring`` section.
    public
        Also write each LEA's public packet (``<lea>_public.html``,
        ``<lea>_public_findings.json``: small counts suppressed, nothing internal;
        :func:`cimrca.packet.write_public_packet`). The internal files are the same either
        way. An LEA re-run without it loses the public packet an earlier run left, which would
        no longer match.

    Returns
    -------
    BatchSummary

    Raises
    ------
    UsageError
        Bad shard, unknown LEA or SELPA, bad ``jobs`` or ``timeout``, missing notebook.
    ProfileError
        ``cim_only`` with a profile that defines no monitoring levels.
    DataValidationError
        The data set or profile is unusable.
    """
    from ..annotations import AnnotationStore, write_conflicts_csv
    from ..dataset import load_dataset
    from ..profiles import load_profile
    from ..runner.kernel import kernel_name as default_kernel_name

    started = time.monotonic()
    shard_t = parse_shard(shard)
    packet_nb = _check_options(jobs, timeout)
    profile_arg = (
        str(Path(profile).resolve()) if Path(profile).suffix in {".yaml", ".yml"} else profile
    )
    prof = load_profile(profile_arg)
    if cim_only:
        from ..monitoring import monitoring_rules

        monitoring_rules(prof)  # a profile without monitoring levels cannot choose CIM LEAs
    data_path = Path(data_dir).resolve()
    out = _open_out_dir(Path(out_dir))
    kernel = kernel_name or default_kernel_name()
    n_jobs, workers = default_jobs(jobs)
    run_folder = _make_run_folder()
    early_pool: Any = None
    pool: Any = None
    run: _Run | None = None
    store: AnnotationStore | None = None
    try:
        # When every chosen LEA will run (a first run, or --force), start the workers first:
        # their kernels start while the data set is loaded and the statewide tables are
        # computed. A large State's statewide step is the run's peak of memory: its kernels
        # import the packet's modules with their first notebook, after it (issue 13).
        if scheduler is None:
            small = _data_bytes(data_path) <= EARLY_START_BYTES
            early_pool = _early_pool(
                data_path, out, lea_ids, selpa, shard_t, force, n_jobs, kernel, run_folder,
                preload=small,
            )  # fmt: skip
        ds = load_dataset(data_path)
        chosen = select_leas(ds.leas, lea_ids=lea_ids, selpa=selpa, shard=shard_t)
        # the store first: a bad --annotations path fails before anything is written
        store = AnnotationStore(
            Path(annotations).resolve() if annotations else out.annotations_store
        )
        summary = BatchSummary(out_dir=out.root, workers=workers)
        if scheduler:
            summary.workers = f"Dask scheduler {scheduler}"
        if out.manifest.is_file() and out.manifest.stat().st_size == 0:
            summary.warnings.append(
                f"{out.manifest} was empty (0 bytes, a run stopped by a full disk?); it is "
                "rebuilt from this run, and every chosen LEA is run again"
            )
        state = prepare_statewide(
            ds, prof, profile_arg, out, lea_ids=chosen, keep_results=False, write_csv=False
        )
        del ds  # the packets read what they need of it from out.lea_tables
        release_memory()
        # results.csv (outputs.md section 2) is written while the packets run
        csv_writer = ResultsCsv(out)
        if cim_only:
            chosen, summary.left_out = _cim_only(
                state.dataset, state, lea_ids, selpa, shard_t, chosen
            )
        run = _Run(out, state, chosen, store, packet_nb, summary)
        run.public = public
        owns_overview = shard_t is None or shard_t[0] == 1
        _clear_leftovers(out, chosen, state_overview=owns_overview)
        to_run = run.plan(chosen, force=force)
        tasks: deque[LeaTask] = deque()
        state_nb = notebook_dir() / STATE_NOTEBOOK_NAME
        if state_nb.is_file() and owns_overview:
            task = run.state_overview_task(state_nb, force=force, kernel=kernel, timeout=timeout)
            if task is not None:
                tasks.append(task)
        tasks.extend(
            run.packet_task(lea, packet_nb, kernel=kernel, timeout=timeout) for lea in to_run
        )
        pool = early_pool
        if tasks:
            if scheduler:
                pool = DaskPool(scheduler)
            elif pool is None:
                pool = LocalPool(min(n_jobs, len(tasks)), kernel, run_folder)
            if isinstance(pool, LocalPool) and pool.jobs < n_jobs:
                summary.workers += f"; {pool.jobs} started for {len(tasks)} notebook(s)"
            _drive(pool, tasks, run, timeout)
        elif not scheduler:
            summary.workers = "no workers: nothing to run"
        summary.open_conflicts = write_conflicts_csv(store, out.conflicts_csv)
        csv_writer.wait()
    except BaseException:
        # Ctrl-C, a full disk, a store locked too long: stop the workers now, not after their
        # notebooks (a half-run notebook stays hidden and is removed by the next run)
        for p in {id(x): x for x in (pool, early_pool) if x is not None}.values():
            if hasattr(p, "kill"):
                p.kill()
        raise
    finally:
        for p in {id(x): x for x in (pool, early_pool) if x is not None}.values():
            p.close()
        if run is not None:
            run.progress.close()
        if store is not None:
            store.close()
        shutil.rmtree(run_folder, ignore_errors=True)
    summary.seconds = time.monotonic() - started
    return summary


def _early_pool(
    data_path: Path,
    out: OutputLayout,
    lea_ids: Sequence[str],
    selpa: str | None,
    shard: tuple[int, int] | None,
    force: bool,
    n_jobs: int,
    kernel: str,
    run_folder: Path,
    *,
    preload: bool,
) -> LocalPool | None:
    """Local workers started before the data set is loaded, when every chosen LEA will run:
    with ``--force``, when the manifest has no row, or when it holds none of ``lea_ids`` (the
    LEAs chosen by code alone). ``None`` when some may be skipped."""
    if not force:
        done = read_manifest(out.root)["lea_id"]
        if len(done) and (not lea_ids or selpa or shard or done.isin(lea_ids).any()):
            return None
    workers = min(n_jobs, _most_notebooks(data_path, lea_ids, selpa, shard))
    return LocalPool(workers, kernel, run_folder, preload=preload)


def _most_notebooks(
    data_path: Path, lea_ids: Sequence[str], selpa: str | None, shard: tuple[int, int] | None
) -> int:
    """The most notebooks a run can have before its LEAs are known (no more workers are
    started): the LEAs asked for by code, else the LEAs of ``leas.csv`` (of one shard), and
    the state overview."""
    if lea_ids and not (selpa or shard):
        return len(lea_ids) + 1
    rows = _csv_rows(data_path / "leas.csv")
    return (-(-rows // shard[1]) if shard else rows) + 1


def _csv_rows(path: Path) -> int:
    """Data rows of a CSV file (lines after the header); 0 when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return max(sum(1 for line in fh if line.strip()) - 1, 0)
    except OSError:
        return 0


def _data_bytes(folder: Path | None) -> int:
    """The size of a data set's CSV files."""
    if folder is None:
        return 0
    return sum(f.stat().st_size for f in Path(folder).glob("*.csv") if f.is_file())


def default_jobs(asked: int | None = None) -> tuple[int, str]:
    """The number of local workers: ``asked`` (``--jobs``), else one per core; never more than
    the available memory holds.

    Each worker is counted at :data:`WORKER_MEMORY_BYTES` (its process and kernel with one
    packet's tables; measured at about 360 MB in benchmarks/README.md), after
    :data:`PARENT_MEMORY_BYTES` for the batch itself: a ``--jobs`` that would not fit is
    lowered, and the summary says so. Returns the number and the summary's words for it, e.g.
    ``"2 workers (2 cores, 23 GB free)"``.
    """
    import psutil

    cores = os.cpu_count() or 1
    free = psutil.virtual_memory().available
    fit = max(int((free - PARENT_MEMORY_BYTES) // WORKER_MEMORY_BYTES), 1)
    wanted = asked if asked is not None else cores
    jobs = min(wanted, fit)
    why = "" if jobs == wanted else f", limited by memory: {WORKER_MEMORY_BYTES // 2**20} MB each"
    if asked is not None and jobs < asked:
        why += f"; --jobs {asked} asked"
    return jobs, (
        f"{jobs} worker{'s' if jobs != 1 else ''} ({cores} core{'s' if cores != 1 else ''}, "
        f"{free / 2**30:.0f} GB free{why})"
    )


def _cim_only(
    ds: Any,
    state: Statewide,
    lea_ids: Sequence[str],
    selpa: str | None,
    shard: tuple[int, int] | None,
    chosen: list[str],
) -> tuple[list[str], str]:
    """``--cim-only``: the chosen LEAs with ``cim_required`` in the latest year, and the line
    of the summary that says how many were left out and why."""
    cim = select_leas(
        ds.leas, lea_ids=lea_ids, selpa=selpa, shard=shard, cim_required=state.cim_required()
    )
    n = len(chosen) - len(cim)
    year = state.latest_monitoring_year
    return cim, (
        f"{n} LEA{'s' if n != 1 else ''} left out by --cim-only: not required to complete CIM "
        f"in {year}."
    )


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
        cim_only=args.cim_only,
        public=args.public,
    )
    print(summary.text())
    return summary.exit_status
