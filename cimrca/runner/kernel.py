"""The one rule for the Jupyter kernel that runs the notebooks."""

from __future__ import annotations

import os

__all__ = ["KERNEL_NAME", "FALLBACK_KERNEL", "KERNEL_ENV", "kernel_name"]

#: Kernel registered by ``make venv`` (``python -m ipykernel install --sys-prefix --name cimrca``).
KERNEL_NAME = "cimrca"
#: The kernel every environment with ipykernel has (the interpreter running cimrca).
FALLBACK_KERNEL = "python3"
#: Environment variable naming another kernel.
KERNEL_ENV = "CIMRCA_KERNEL"


def kernel_name() -> str:
    """``$CIMRCA_KERNEL`` if set, else ``cimrca`` when that kernelspec is installed, else ``python3``.

    An installed wheel needs no registration: ``python3`` is ipykernel's own kernel of the
    environment cimrca runs in.
    """
    name = os.environ.get(KERNEL_ENV, "").strip()
    if name:
        return name
    from jupyter_client.kernelspec import KernelSpecManager

    return (
        KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else FALLBACK_KERNEL
    )
