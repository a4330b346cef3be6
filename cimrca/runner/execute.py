"""Run the packet notebook for one LEA by hand or in tests (papermill, then the HTML)."""

from __future__ import annotations

import time
from pathlib import Path

from ..outputs import LeaFiles
from ..resources import packet_notebook
from .html import render_html
from .kernel import kernel_name

__all__ = ["execute_packet"]


def _resolve(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _path_parameter(value: str | Path) -> str:
    return str(_resolve(value)) if str(value) else ""


def execute_packet(
    lea_id: str,
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    profile: str | Path = "california",
    results_path: str | Path = "",
    indicators_path: str | Path = "",
    annotations_db: str | Path = "",
    annotations_json: str | Path = "",
    notebook: str | Path | None = None,
    kernel: str | None = None,
    timeout_seconds: float = 600,
) -> dict[str, Path | float]:
    """Run the packet notebook for one LEA with papermill, then render its HTML.

    Parameters
    ----------
    lea_id, data_dir, profile, results_path, indicators_path, annotations_db, annotations_json
        The notebook's parameters (:func:`cimrca.packet.load_packet`). Paths are made absolute against the
        current working directory before they reach the notebook.
    out_dir
        Receives ``<lea_id>.ipynb`` (executed), ``<lea_id>.html``, the workbook and the
        findings JSON.
    notebook
        The notebook to execute; default the shipped ``notebooks/lea_packet.ipynb``
        (:func:`cimrca.resources.packet_notebook`).
    kernel
        Kernel name; default :func:`kernel_name`.
    timeout_seconds
        Longest time one cell may run.

    Returns
    -------
    dict
        ``notebook``, ``html``, ``workbook``, ``findings`` (paths) and ``seconds``.

    Raises
    ------
    papermill.PapermillExecutionError
        A cell failed; the partial notebook stays at ``<out_dir>/<lea_id>.ipynb``.
    """
    import papermill as pm

    started = time.perf_counter()
    out = _resolve(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = _resolve(notebook or packet_notebook())
    lea_id = str(lea_id)
    files = LeaFiles(out, lea_id)
    executed = files.notebook
    parameters = {
        "lea_id": lea_id,
        "data_dir": _path_parameter(data_dir),
        "out_dir": str(out),
        "profile": _path_parameter(profile) if Path(str(profile)).suffix else str(profile),
        "results_path": _path_parameter(results_path),
        "indicators_path": _path_parameter(indicators_path),
        "annotations_db": _path_parameter(annotations_db),
        "annotations_json": _path_parameter(annotations_json),
    }
    pm.execute_notebook(
        str(source),
        str(executed),
        parameters=parameters,
        kernel_name=kernel or kernel_name(),
        cwd=str(source.parent),
        progress_bar=False,
        execution_timeout=timeout_seconds,
    )
    page = render_html(executed, files.html)
    return {
        "notebook": executed,
        "html": page,
        "workbook": files.workbook,
        "findings": files.findings,
        "seconds": time.perf_counter() - started,
    }
