"""A papermill engine that keeps one warm Jupyter kernel per worker (used by ``cimrca batch``).

Starting a kernel and importing pandas, matplotlib and the package in it costs a few seconds,
more than a packet notebook itself takes once the statewide results are precomputed. The
kernel starts once (:class:`WarmKernel`), and the engine of :func:`warm_engine` (registered as
``cimrca-warm``) runs notebook after notebook in it:

- before each notebook the kernel's namespace is reset (``%reset -f``, every matplotlib figure
  closed, the execution counter set back to 1), so one LEA's variables never leak into the
  next LEA's packet; imported modules stay loaded, which is what makes it fast;
- the kernel is restarted every ``restart_every`` notebooks (bounding any slow leak) and after
  a notebook error or a kernel failure;
- on POSIX the kernel talks over IPC (Unix sockets in the run's kernel folder), so kernels
  started at once cannot race for a TCP port; elsewhere (or when that folder's path is too
  long for a socket) over TCP on localhost, with start-ups serialised across processes of this
  host by a file lock (:data:`START_LOCK_NAME` in the temporary folder) and retried, because two
  kernels started at once can pick the same free port;
- the kernel's log and connection files (and IPC sockets) go to one folder
  (:func:`kernel_dir`): the batch's per-run folder (environment variable
  :data:`KERNEL_DIR_ENV`), removed when the batch ends, killed kernels or not; otherwise a
  folder of this process, removed when it exits (outputs.md section 5.1: nothing left behind).

Papermill still parameterises the notebook, records cell timings and writes the output
notebook, so an executed notebook looks the same as one from the ``papermill`` command.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = [
    "ENGINE_NAME",
    "RESTART_EVERY",
    "START_LOCK_NAME",
    "START_RETRIES",
    "PRELOAD_MODULES",
    "KERNEL_DIR_ENV",
    "kernel_dir",
    "TransientKernelError",
    "WarmKernel",
    "warm_engine",
    "default_kernel_name",
    "is_transient",
    "register_engine",
]

#: Name under which :func:`warm_engine`'s class is registered with papermill.
ENGINE_NAME = "cimrca-warm"
#: Notebooks run in one kernel before it is restarted (bounds slow leaks in a long batch).
RESTART_EVERY = 25
#: Attempts to start a kernel before giving up (port conflicts, slow start-up).
START_RETRIES = 3
#: Seconds to wait for a kernel to answer after it is started.
STARTUP_TIMEOUT = 60.0
#: Seconds the namespace reset may take.
RESET_TIMEOUT = 30.0
#: Modules a new kernel imports before its first notebook (what the packet notebook uses).
PRELOAD_MODULES: tuple[str, ...] = (
    "pandas",
    "matplotlib.pyplot",
    "cimrca.packet",
    "cimrca.packet.display",
    "cimrca.charts",
    "cimrca.workbook",
    "cimrca.indicators",
    "cimrca.methodology",
)
#: Lock file (in the temporary folder) that serialises kernel start-ups on this host (TCP only).
START_LOCK_NAME = "cimrca-kernel-start.lock"
#: Environment variable naming the folder for kernels' logs, connection files and sockets.
KERNEL_DIR_ENV = "CIMRCA_KERNEL_DIR"
#: Longest folder path under which IPC sockets are made (a Unix socket path has at most 107
#: bytes on Linux, 103 on macOS; the socket's own name takes about 30).
_MAX_IPC_DIR = 70
_OWN_DIR: Path | None = None
_KERNEL_NUMBERS = itertools.count(1)


def kernel_dir() -> Path:
    """The folder for this process's kernel logs, connection files and IPC sockets.

    The folder named by :data:`KERNEL_DIR_ENV` (a batch sets it to its per-run folder, which it
    removes at the end); else a folder of this process in the temporary folder, removed when
    the process exits.
    """
    global _OWN_DIR
    named = os.environ.get(KERNEL_DIR_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    if _OWN_DIR is None or not _OWN_DIR.is_dir():
        _OWN_DIR = Path(tempfile.mkdtemp(prefix=f"cimrca-kernels-{os.getpid()}-"))
    return _OWN_DIR


def _remove_own_dir() -> None:
    if _OWN_DIR is not None:
        shutil.rmtree(_OWN_DIR, ignore_errors=True)


# registered at import, so it runs after every kernel's own shutdown (atexit is last-in first-out)
atexit.register(_remove_own_dir)

# Clears what a notebook defined (every name but IPython's own) and the output cache, closes
# figures and sets the counter back to 1, binding no name itself; then collects the notebook's
# cyclic garbage (figures, frames) and gives the freed memory back to the system, so a kernel
# stays at the size of the packet it runs, not of the largest table it ever held. The
# collection takes milliseconds: the modules' own objects were frozen out of it by
# :meth:`WarmKernel.preload` (`%reset -f`'s full collections took half a second per LEA).
_RESET_CODE = """\
if "matplotlib.pyplot" in __import__("sys").modules:
    __import__("sys").modules["matplotlib.pyplot"].close("all")
(lambda ip: (
    [ip.user_ns.pop(n) for n in [n for n in ip.user_ns if n not in ip.user_ns_hidden]],
    ip.user_ns["_oh"].clear(),
    ip.user_ns.update({"_": "", "__": "", "___": ""}),
    setattr(ip, "execution_count", 1),
))(get_ipython())
__import__("gc").collect()
__import__("cimrca.processes", fromlist=["trim_memory"]).trim_memory()
"""


class TransientKernelError(RuntimeError):
    """The kernel failed (died, did not start, lost its connection): worth one more try.

    A notebook that raises is not transient: the error is recorded, not retried.
    """


def default_kernel_name() -> str:
    """The kernel that runs the notebooks: :func:`cimrca.runner.kernel.kernel_name`."""
    from .kernel import kernel_name

    return kernel_name()


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a kernel failure worth retrying (not an error raised by a notebook)."""
    if isinstance(exc, TransientKernelError):
        return True
    try:
        from nbclient.exceptions import DeadKernelError
    except ImportError:  # pragma: no cover - nbclient is a dependency
        DeadKernelError = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(exc, DeadKernelError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    markers = ("address already in use", "kernel died", "kernel didn't respond", "zmqerror")
    return isinstance(exc, TimeoutError | RuntimeError | OSError) and any(
        m in text for m in markers
    )


def _kernel_log(folder: Path):
    """An append-mode log file for this worker's kernels, in the kernel folder."""
    path = folder / f"cimrca-kernel-{os.getpid()}.log"
    return open(path, "ab")


#: IPython options of every warm kernel.
_KERNEL_ARGUMENTS = ["--HistoryManager.enabled=False"]


def _kernel_manager(kernel_name: str) -> tuple[Any, bool]:
    """A KernelManager whose files live in :func:`kernel_dir`; whether it uses IPC."""
    from jupyter_client.manager import KernelManager

    folder = kernel_dir()
    stem = f"kernel-{os.getpid()}-{next(_KERNEL_NUMBERS)}"
    ipc = os.name == "posix" and len(str(folder)) <= _MAX_IPC_DIR
    km = KernelManager(
        kernel_name=kernel_name,
        connection_file=str(folder / f"{stem}.json"),
        **({"transport": "ipc", "ip": str(folder / f"{stem}-ipc")} if ipc else {}),
    )
    return km, ipc


def _start_lock():
    """The host-wide lock that serialises kernel start-ups (two kernels started at once can
    pick the same free port)."""
    from ..atomic import file_lock

    return file_lock(Path(tempfile.gettempdir()) / START_LOCK_NAME)


class WarmKernel:
    """One Jupyter kernel kept running across notebooks, reset between them.

    Parameters
    ----------
    kernel_name
        The kernelspec to start (explicit, never read from the notebook).
    restart_every
        Restart the kernel after this many notebooks.
    startup_timeout
        Seconds to wait for a started kernel to answer.
    """

    def __init__(
        self,
        kernel_name: str,
        *,
        restart_every: int = RESTART_EVERY,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        if restart_every < 1:
            raise ValueError(f"restart_every must be at least 1, got {restart_every}")
        self.kernel_name = kernel_name
        self.restart_every = restart_every
        self.startup_timeout = startup_timeout
        self.km: Any = None
        self.kc: Any = None
        self.runs = 0
        self.starts = 0
        self.preloaded = False
        atexit.register(self.shutdown)

    @property
    def pid(self) -> int | None:
        """Process id of the running kernel, or ``None``."""
        prov = getattr(self.km, "provisioner", None)
        proc = getattr(prov, "process", None)
        return getattr(proc, "pid", None)

    def alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    def start(self) -> None:
        """Start the kernel (serialised on this host, retried on port conflicts)."""
        self.shutdown()
        last: BaseException | None = None
        for attempt in range(START_RETRIES):
            km, ipc = _kernel_manager(self.kernel_name)
            try:
                with contextlib.nullcontext() if ipc else _start_lock():
                    # the kernel's own log (start-up notices, crashes) goes to a file, not the
                    # batch's terminal; cell errors still reach papermill as messages
                    with _kernel_log(Path(km.connection_file).parent) as log:
                        # no input history: kernels of parallel workers would share one
                        # history database and print its lock notices into a packet
                        km.start_kernel(stderr=log, extra_arguments=_KERNEL_ARGUMENTS)
                kc = km.client()
                kc.start_channels()
                kc.wait_for_ready(timeout=self.startup_timeout)
            except Exception as exc:  # noqa: BLE001 - any start-up failure is retried
                last = exc
                try:
                    km.shutdown_kernel(now=True)
                except Exception:  # noqa: BLE001
                    pass
                time.sleep(0.2 * (attempt + 1))
                continue
            self.km, self.kc = km, kc
            self.runs = 0
            self.preloaded = False
            self.starts += 1
            return
        raise TransientKernelError(
            f"could not start the {self.kernel_name!r} kernel after {START_RETRIES} attempts: "
            f"{last}"
        )

    def preload(self, modules: tuple[str, ...] = PRELOAD_MODULES) -> None:
        """Import ``modules`` in the kernel (binding no name), so the first notebook is fast,
        and freeze what exists then (the modules' objects) out of the garbage collector's way:
        the collection after each notebook then looks at that notebook's objects only.

        A module that cannot be imported is ignored: the notebook reports it if it needs it.
        Objects made later are never frozen, so a notebook's garbage (figures emptied for the
        next LEA, evicted cache entries) is always collected.
        """
        code = "".join(
            f"try:\n    __import__({m!r})\nexcept ImportError:\n    pass\n" for m in modules
        )
        code += "__import__('gc').freeze()\n"
        self.kc.execute_interactive(
            code, silent=True, store_history=False, timeout=self.startup_timeout,
            output_hook=lambda msg: None,
        )  # fmt: skip
        self.preloaded = True

    def reset(self) -> None:
        """Clear the namespace and figures; the kernel keeps its imported modules."""
        reply = self.kc.execute_interactive(
            _RESET_CODE,
            silent=True,
            store_history=False,
            timeout=RESET_TIMEOUT,
            output_hook=lambda msg: None,
        )
        if reply["content"].get("status") != "ok":
            raise TransientKernelError(f"resetting the kernel failed: {reply['content']}")

    def ready(self) -> None:
        """Make the kernel ready for the next notebook: start, restart or reset it, and
        preload it when it has not been."""
        if not self.alive() or self.runs >= self.restart_every:
            self.start()
        elif self.runs:
            try:
                self.reset()
            except Exception as exc:  # noqa: BLE001 - a kernel that cannot reset is restarted
                if not is_transient(exc) and not isinstance(exc, TimeoutError):
                    raise
                self.start()
        if not self.preloaded:
            self.preload()

    def kill(self) -> None:
        """Kill the kernel process and its children at once (used when the worker must stop now)."""
        pid = self.pid
        if pid:
            from ..processes import kill_process_tree

            kill_process_tree(pid)

    def shutdown(self) -> None:
        """Stop the kernel and its channels, if any."""
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001
                self.kill()
        self.km = self.kc = None


_ENGINE: type | None = None


def warm_engine() -> type:
    """The papermill engine class running notebooks in a :class:`WarmKernel`.

    Built on first use, so that importing this module does not import papermill. Use it
    through :func:`papermill.execute_notebook` with ``engine_name=ENGINE_NAME`` and
    ``warm_kernel=WarmKernel(...)`` (after :func:`register_engine`). It raises
    :class:`TransientKernelError` when the kernel fails; a notebook error is recorded in the
    notebook and raised by papermill as ``PapermillExecutionError`` as usual.
    """
    global _ENGINE
    if _ENGINE is not None:
        return _ENGINE
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import Engine

    class WarmEngine(Engine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            warm_kernel: WarmKernel | None = None,
            execution_timeout: float | None = None,
            **kwargs: Any,
        ) -> Any:
            if warm_kernel is None:
                raise ValueError(f"the {ENGINE_NAME} engine needs warm_kernel=WarmKernel(...)")
            warm_kernel.ready()
            client = PapermillNotebookClient(
                nb_man,
                km=warm_kernel.km,
                kernel_name=kernel_name,
                timeout=execution_timeout,
                log_output=kwargs.get("log_output", False),
            )
            client.kc = warm_kernel.kc
            warm_kernel.runs += 1
            # papermill saves the whole notebook (validated, images included) before and after
            # every cell, and again when execution ends; after its first save (the notebook a
            # killed run leaves), the batch's notebook is written once: by papermill's final
            # write after a run, or by the save at the end of a failed one.
            output_path, nb_man.output_path = nb_man.output_path, None
            try:
                return client.execute()
            except Exception as exc:
                nb_man.output_path = output_path
                if is_transient(exc) or not warm_kernel.alive():
                    warm_kernel.shutdown()
                    raise TransientKernelError(f"the kernel failed: {exc}") from exc
                raise
            finally:
                atexit.unregister(client._cleanup_kernel)
                _name_paths_by_file(nb_man.nb)

    _ENGINE = WarmEngine
    return _ENGINE


def _name_paths_by_file(nb: Any) -> None:
    """Record the notebook's input and output by file name, not by the machine's folders
    (README decision 14: no output names a path of the machine that made it)."""
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if meta.get(key):
            meta[key] = Path(str(meta[key])).name
    if meta.get("output_path"):  # the batch writes ".<name>.running.ipynb", then renames it
        meta["output_path"] = re.sub(r"^\.(.+)\.running\.ipynb$", r"\1.ipynb", meta["output_path"])


def register_engine() -> None:
    """Register :func:`warm_engine`'s class with papermill as :data:`ENGINE_NAME` (idempotent)."""
    from papermill.engines import papermill_engines

    papermill_engines.register(ENGINE_NAME, warm_engine())
