"""Processes of this host, the same way on Linux, macOS and Windows (through ``psutil``).

Two things the batch needs about other processes: whether one still runs (a temporary file of
a write that may still be going on, a parent that may have gone) and how to stop one at once
with everything it started (a worker over its time limit and its Jupyter kernel).

The standard library's ways are POSIX-only or dangerous elsewhere: ``os.kill(pid, 0)`` probes a
process on POSIX but terminates it on Windows, and ``signal.SIGKILL`` does not exist on Windows.
``psutil`` is imported on first use, so importing this module costs nothing.

And one thing about this process: :func:`trim_memory` gives freed memory back to the system (a
batch's parent after the statewide step, a warm kernel between two LEAs).
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = [
    "KILL_WAIT_SECONDS",
    "kill_process_tree",
    "process_alive",
    "trim_memory",
    "use_system_allocator",
]

#: Seconds :func:`kill_process_tree` waits for killed processes to be gone.
KILL_WAIT_SECONDS: float = 5.0


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this host now (a zombie counts as gone).

    Never sends a signal: safe on Windows, where ``os.kill(pid, 0)`` would end the process.

    Examples
    --------
    >>> import os
    >>> process_alive(os.getpid())
    True
    """
    import psutil

    if pid <= 0 or not psutil.pid_exists(pid):
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # exists, owned by someone else
        return True


def kill_process_tree(pid: int, *, wait_seconds: float = KILL_WAIT_SECONDS) -> int:
    """Kill process ``pid`` and every process it started, at once, and wait for them to go.

    Parameters
    ----------
    pid
        The root of the tree (a batch worker, or a Jupyter kernel).
    wait_seconds
        How long to wait for the killed processes to be gone.

    Returns
    -------
    int
        How many processes were killed (0 when ``pid`` had already gone).

    Notes
    -----
    Children are listed before anything is killed (a killed root's children are handed to another
    parent and can no longer be found from it); the root goes first, so it cannot start a new
    child meanwhile. SIGKILL on POSIX, ``TerminateProcess`` on Windows; processes already gone,
    or not ours to kill, are skipped.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    killed = []
    for proc in procs:
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        killed.append(proc)
    psutil.wait_procs(killed, timeout=wait_seconds)
    return len(killed)


def use_system_allocator() -> None:
    """Make Arrow take its buffers from the system allocator (unless the user chose a pool).

    Arrow's own pools keep freed buffers for reuse; with the system allocator a freed table goes
    back to the heap, where :func:`trim_memory` can return it. For a batch's statewide step on
    a 2,300-LEA State this lowers the peak by about 100 MB. Call it before pyarrow is imported
    (the pool is chosen once); processes started from this one inherit it.
    """
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def trim_memory() -> None:
    """Give this process's freed memory back to the system, without a garbage collection.

    Arrow's memory pool keeps freed buffers and glibc's heap keeps freed pages, so a process
    that once held a large table stays at that size: a batch's parent after the statewide
    tables, a warm kernel after a large LEA. Releases Arrow's unused buffers (if Arrow is
    loaded) and trims glibc's heap (on Linux with glibc; elsewhere nothing to do).
    """
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass
