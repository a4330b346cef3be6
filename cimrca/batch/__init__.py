"""``cimrca batch``: the packet of every LEA, in parallel, resumable, shardable (outputs.md s. 3).

What one run does
-----------------
1. Loads the data set and the profile, computes the statewide results table **once** and writes
   ``OUT_DIR/results.csv``; computes the statewide indicator results once
   (``OUT_DIR/indicators.csv``). Every packet notebook reads both (``results_path``,
   ``indicators_path``), so per-LEA work is only its own slice, charts and workbook. With a
   profile that has monitoring levels, computes them once too and writes
   ``OUT_DIR/monitoring.csv`` (``monitoring_path``; monitoring.md section 3).
2. Chooses the LEAs (``--lea``, ``--selpa``, ``--shard I/N``, and ``--cim-only``: those with
   ``cim_required`` in the latest year) and, for each, hashes its inputs: its slice of the
   statewide results, its indicator rows, its monitoring rows, the profile, the package version,
   the notebook, its stored annotations, the data set's name and flag. An LEA whose hash and
   workbook are those of its last successful run is skipped (``--force`` redoes it).
3. For each LEA to run, the parent process (and only it) opens the annotation store: it harvests
   the existing workbook (``cimrca.annotations.prepare_rewrite``) and writes what the new
   workbook must carry to a JSON file the notebook reads (``annotations_json``). A workbook that
   cannot be read (corrupted, open in a spreadsheet program) is not replaced: the LEA fails
   with that reason.
4. Runs ``notebooks/lea_packet.ipynb`` with papermill per LEA in worker processes (``--jobs``,
   started with ``spawn``) that each keep a warm kernel (:mod:`cimrca.runner.engine`), renders the
   HTML, and after success records the new workbook's baseline
   (``cimrca.annotations.finish_rewrite``). The parent enforces a wall-clock limit per LEA
   (``--timeout``): a worker over it is killed and replaced, and the LEA fails. Kernel failures
   are retried; an error raised by the notebook is recorded, not retried.
5. Updates ``OUT_DIR/manifest.csv`` as each LEA finishes, under a lock, atomically, so shards
   running into one folder build one manifest; an interrupted run continues where it stopped.

Where each step lives
---------------------
:mod:`~cimrca.batch.plan` (which LEAs, which can be skipped), :mod:`~cimrca.batch.statewide`
(the tables computed once), :mod:`~cimrca.batch.workers` (a notebook in a warm kernel; local
and Dask pools), :mod:`~cimrca.batch.manifest`, and :mod:`~cimrca.batch.run` (the run itself).
Every path under OUT_DIR comes from :class:`cimrca.outputs.OutputLayout`.

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

from importlib import import_module
from pathlib import Path

from ..outputs import STATE_OVERVIEW_NAME, OutputLayout
from ..resources import notebook_dir

# Names are imported on first use: a worker process imports cimrca.batch.workers, and must not
# pay for pandas (about 60 MB and half a second per worker) through this package's other modules.
_EXPORTS = {
    "MANIFEST_COLUMNS": "manifest",
    "read_manifest": "manifest",
    "update_manifest": "manifest",
    "parse_shard": "plan",
    "select_leas": "plan",
    "BatchSummary": "run",
    "run_batch": "run",
    "run_batch_cli": "run",
    "LeaTask": "workers",
    "run_task": "workers",
    "shutdown_kernels": "workers",
}

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
    "run_task",
    "run_batch",
    "run_batch_cli",
    "notebook_dir",
    "shutdown_kernels",
]

_NAMES = OutputLayout(Path("."))
#: File names in OUT_DIR (outputs.md section 3), from :class:`cimrca.outputs.OutputLayout`.
MANIFEST_NAME = _NAMES.manifest.name
RESULTS_NAME = _NAMES.results_csv.name
INDICATORS_NAME = _NAMES.indicators.name


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cimrca.batch' has no attribute {name!r}")
