"""Running notebooks: the warm-kernel papermill engine, the kernel rule and the HTML packet.

- :mod:`cimrca.runner.kernel`: which Jupyter kernel runs the notebooks (one rule).
- :mod:`cimrca.runner.engine`: a papermill engine that keeps one kernel warm per worker.
- :mod:`cimrca.runner.html`: the offline HTML packet rendered from an executed notebook.
- :mod:`cimrca.runner.execute`: one LEA's notebook run by hand or in tests.
"""

from __future__ import annotations

from .execute import execute_packet
from .html import render_html
from .kernel import FALLBACK_KERNEL, KERNEL_NAME, kernel_name

__all__ = ["FALLBACK_KERNEL", "KERNEL_NAME", "kernel_name", "render_html", "execute_packet"]
