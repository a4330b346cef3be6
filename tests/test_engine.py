"""The warm kernel: one kernel runs notebook after notebook, and no LEA's names leak into the next."""

from __future__ import annotations

import pytest

from cimrca.runner.engine import WarmKernel, default_kernel_name


def run(kernel: WarmKernel, code: str) -> tuple[list[str], int]:
    """Execute code in the kernel; return its text outputs and the cell's execution count."""
    texts: list[str] = []

    def hook(msg):
        content = msg["content"]
        if msg["msg_type"] in ("execute_result", "display_data"):
            texts.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "stream":
            texts.append(content["text"])

    reply = kernel.kc.execute_interactive(code, output_hook=hook, timeout=60)
    return texts, reply["content"]["execution_count"]


@pytest.mark.slow
def test_reset_clears_names_outputs_and_counter_but_keeps_modules():
    kernel = WarmKernel(default_kernel_name())
    try:
        kernel.ready()
        run(kernel, "import math\nsecret_lea = '2071593'\nfrom cimrca import codes\nsecret_lea")
        kernel.runs = 1  # as after a notebook
        kernel.ready()  # resets the namespace
        out, count = run(
            kernel,
            "import sys\n"
            "print(sorted(n for n in ('secret_lea', 'codes', 'math') if n in dir()), "
            "len(Out), 'cimrca.codes' in sys.modules)",
        )
        # names and outputs gone, imported modules kept (IPython may add its own notices)
        assert "[] 0 True" in "".join(out).splitlines()
        assert count == 1  # the next notebook's first cell is numbered 1
        # parallel workers' kernels share no history database (its lock notices would be
        # printed into a packet)
        out, _ = run(kernel, "print(get_ipython().history_manager.enabled)")
        assert "False" in "".join(out).splitlines()
    finally:
        kernel.shutdown()
