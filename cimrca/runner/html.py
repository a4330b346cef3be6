"""The offline HTML packet: an executed notebook rendered without code (README decision 5)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import UsageError
from ..resources import TEMPLATE_NAME, template_dir

__all__ = ["TITLE_METADATA", "render_html"]

#: Key of the output metadata that carries the packet's title to :func:`render_html`.
TITLE_METADATA = "cimrca_title"


def _title_from_outputs(nb: Any) -> str | None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            title = output.get("metadata", {}).get(TITLE_METADATA)
            if title:
                return str(title)
    return None


def _template_dir() -> Path:
    """The folder holding the ``packet/`` template (:func:`cimrca.resources.template_dir`)."""
    folder = template_dir()
    if not (folder / TEMPLATE_NAME / "index.html.j2").is_file():
        raise UsageError(
            f"the HTML packet template {TEMPLATE_NAME}/index.html.j2 was not found in {folder}. "
            "Reinstall cimrca, or point $CIMRCA_TEMPLATE_DIR at a folder that holds it."
        )
    return folder


@functools.lru_cache(maxsize=2)
def _html_exporter(template_dir: str):
    """The packet's HTML exporter, made once per process: its templates load and compile once
    (a batch worker renders packet after packet)."""
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[template_dir],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        optimistic_validation=True,  # validate once, after every preprocessor, not after each
    )


def render_html(
    notebook_path: str | Path,
    html_path: str | Path,
    *,
    title: str | None = None,
    notebook: Any = None,
) -> Path:
    """Render an executed notebook as the offline HTML packet, without code, atomically.

    Parameters
    ----------
    notebook_path
        The executed notebook.
    html_path
        The HTML file to write.
    title
        The page title; ``None`` takes the title the packet's header recorded in its output
        (:func:`cimrca.packet.packet_header`), else the notebook's file name.
    notebook
        The executed notebook already in memory (what papermill returned after writing
        ``notebook_path``), so it is not read back; its stderr outputs are removed.

    Returns
    -------
    pathlib.Path
        ``html_path``.

    Notes
    -----
    README decision 5: the page is self-contained. The ``templates/packet`` template empties
    every block of the stock templates that links a script from a CDN (require.js, MathJax,
    Mermaid, widgets); styles are inlined and images are data URIs. Code cells, prompts and
    ``stderr`` streams (warnings) are left out; the executed notebook keeps all of them.
    """
    import nbformat

    source = Path(notebook_path)
    nb = notebook if notebook is not None else nbformat.read(source, as_version=4)
    title = title or _title_from_outputs(nb) or source.stem
    for cell in nb.cells:
        if "outputs" in cell:
            cell["outputs"] = [
                o
                for o in cell["outputs"]
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    nb.metadata["title"] = title
    body, _ = _html_exporter(str(_template_dir())).from_notebook_node(
        nb, resources={"metadata": {"name": title}}
    )
    target = Path(html_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, body)
    return target
