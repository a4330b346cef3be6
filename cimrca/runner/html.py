"""The offline HTML packet: an executed notebook rendered without code (README decision 5)."""

from __future__ import annotations

import functools
import re
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


#: The ``div`` elements nbconvert's HTML exporter makes keyboard-focusable (``tabindex="0"``).
_FOCUSABLE = re.compile(
    r'<div class="([^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^"]*)"([^>]*)>'
)


def focusable(html: str) -> str:
    """``html`` with ``tabindex="0"`` on every cell input wrapper and output area, as
    nbconvert's HTML exporter sets them (keyboard users can reach each output).

    Examples
    --------
    >>> focusable('<div class="jp-OutputArea-output x" data-mime-type="text/html">')
    '<div class="jp-OutputArea-output x" data-mime-type="text/html" tabindex="0">'
    """
    return _FOCUSABLE.sub(r'<div class="\1"\2 tabindex="0">', html)


@functools.lru_cache(maxsize=1)
def _exporter_class() -> type:
    """nbconvert's ``HTMLExporter`` without its BeautifulSoup pass over the page.

    That pass (two thirds of a packet's rendering time) gives images without alternative text a
    placeholder and makes inputs and outputs focusable. The packet template gives every image
    its own alternative text, and :func:`focusable` sets the same ``tabindex`` attributes on
    the template's output as it is; the rest of the method is the exporter's own.
    """
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class PacketHTMLExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):  # type: ignore[override]
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight = self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
            )
            resources = self._init_resources(resources)
            data_type = WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight)
            self.register_filter("filter_data_type", data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return focusable(html), resources

    return PacketHTMLExporter


@functools.lru_cache(maxsize=2)
def _html_exporter(template_dir: str):
    """The packet's HTML exporter, made once per process: its templates load and compile once
    (a batch worker renders packet after packet)."""
    return _exporter_class()(
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
