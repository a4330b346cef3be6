"""Atomic file writes: write to a temporary file in the same folder, then rename it into place.

An interrupted run (an exception, Ctrl-C, a killed process, a power cut after the rename) leaves
either the old file or the new one, never half of one (outputs.md section 5, style.md rule 12).

The temporary file lives beside the target, so :func:`os.replace` is a rename within one file
system, which POSIX and Windows make atomic. Its name records the host and process that made it::

    .<target name>~<host>~<pid>~<random>.tmp<target suffix>

so that a later write to the same target removes temporary files left behind by a process of
this host that no longer runs (one killed with SIGKILL cannot clean up after itself), and never
touches a file another running process is still writing. The target's suffix is kept last so that
writers which pick a format from the extension (``pandas.ExcelWriter``, ``to_parquet``) still work.

On Windows a file another program holds open (a workbook open in Excel) cannot be replaced:
:func:`atomic_path` then raises :class:`~cimrca.errors.WorkbookError`, which says to close it,
and leaves the file as it was. Nothing here needs a POSIX-only module: locks come from
``filelock`` and process checks from ``psutil`` (:mod:`cimrca.processes`).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import CimrcaError, WorkbookError

__all__ = [
    "REPLACE_RETRY_SECONDS",
    "STALE_TEMP_SECONDS",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_table",
    "file_lock",
    "remove_stale_temps",
    "temp_files_for",
]

#: Age after which a temporary file is removed even when its process cannot be checked (another
#: host): one day.
STALE_TEMP_SECONDS: float = 24 * 60 * 60
#: Pauses before the rename into place is tried again when it is refused (Windows refuses it
#: while a virus scanner or the search indexer briefly holds the file); then the write fails.
REPLACE_RETRY_SECONDS: tuple[float, ...] = (0.05, 0.2, 0.5)
#: Suffixes of the files a user opens in Excel, which Windows then locks.
_SPREADSHEET_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".csv"})

_TEMP_MARK = ".tmp"
_RANDOM_BYTES = 6
_NEW_FILE_MODE = 0o666  # filtered by the process umask, like any newly created file


def _host_tag() -> str:
    """This host's name reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _temp_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(
        rf"^\.{re.escape(target.name)}~(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)~[0-9a-f]+"
        rf"{re.escape(_TEMP_MARK)}{re.escape(target.suffix)}$"
    )


def temp_files_for(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of :func:`atomic_path` for ``path`` that exist in its folder now.

    Parameters
    ----------
    path
        The target file.

    Returns
    -------
    list of Path
        Sorted paths of every temporary file whose name marks it as a write to ``path``.
    """
    target = Path(path)
    pattern = _temp_pattern(target)
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return []
    return sorted(target.parent / n for n in names if pattern.match(n))


def _process_alive(pid: int) -> bool:
    from .processes import process_alive

    return process_alive(pid)


def remove_stale_temps(
    path: str | os.PathLike[str], *, max_age_seconds: float = STALE_TEMP_SECONDS
) -> list[Path]:
    """Remove temporary files left for ``path`` by processes that no longer run.

    Parameters
    ----------
    path
        The target file whose leftover temporary files are removed.
    max_age_seconds
        A temporary file whose process cannot be checked (made on another host) is removed
        once it is older than this.

    Returns
    -------
    list of Path
        The files removed.

    Notes
    -----
    A file made by a process of this host that is still running is kept: that process is writing
    it now. Called by :func:`atomic_path` before every write, so a run killed in the middle of a
    write leaves at most one stray file, which the next successful write removes.
    """
    target = Path(path)
    pattern = _temp_pattern(target)
    host = _host_tag()
    removed: list[Path] = []
    now = time.time()
    for tmp in temp_files_for(target):
        match = pattern.match(tmp.name)
        if match is None:  # pragma: no cover - temp_files_for matched it already
            continue
        pid = int(match["pid"])
        if match["host"] == host:
            stale = pid != os.getpid() and not _process_alive(pid)
        else:
            try:
                stale = now - tmp.stat().st_mtime > max_age_seconds
            except FileNotFoundError:
                continue
        if stale:
            try:
                tmp.unlink()
            except FileNotFoundError:
                continue
            removed.append(tmp)
    return removed


def _create_temp(target: Path) -> Path:
    prefix = f".{target.name}~{_host_tag()}~{os.getpid()}~"
    while True:
        tmp = (
            target.parent / f"{prefix}{secrets.token_hex(_RANDOM_BYTES)}{_TEMP_MARK}{target.suffix}"
        )
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        os.close(fd)
        return tmp


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(tmp: Path, target: Path) -> None:
    """``os.replace(tmp, target)``, retried briefly; a refusal becomes a plain-words error."""
    for pause in (*REPLACE_RETRY_SECONDS, None):
        try:
            os.replace(tmp, target)
            return
        except PermissionError as exc:
            if pause is None:
                raise _locked_error(target, exc) from None
            time.sleep(pause)


def _locked_error(target: Path, exc: PermissionError) -> CimrcaError:
    reason = exc.strerror or str(exc)
    if target.suffix.lower() in _SPREADSHEET_SUFFIXES:
        return WorkbookError(
            f"cannot replace {target.name} in {target.parent} ({reason}): it is open in Excel or "
            "another program, which locks it on Windows. Close the workbook in Excel, then "
            f"re-run; {target.name} was left as it was.",
            file=target,
        )
    return CimrcaError(
        f"cannot replace {target.name} in {target.parent} ({reason}): another program holds it "
        f"open. Close it there, then re-run; {target.name} was left as it was.",
        file=target,
    )


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on a folder
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place atomically.

    Parameters
    ----------
    path
        The file to (re)write. Its folder must exist.

    Yields
    ------
    Path
        An empty temporary file in the same folder, with the same suffix. Write the new content
        to it (any writer that takes a path). When the ``with`` block ends normally the file is
        flushed to disk (fsync) and renamed over ``path``; the folder is then fsynced too.

    Raises
    ------
    WorkbookError
        When ``path`` is a workbook (or CSV) another program holds open, so it cannot be
        replaced (Windows, a file open in Excel); ``path`` is left as it was. Any other file:
        :class:`~cimrca.errors.CimrcaError` with the same advice.

    Notes
    -----
    If the block raises (including ``KeyboardInterrupt``), the temporary file is removed and
    ``path`` is left as it was. If the process is killed, the temporary file stays behind and the
    next :func:`atomic_path` for the same target removes it (:func:`remove_stale_temps`).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("new")
    >>> target.read_text()
    'new'
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: its folder {target.parent} does not exist")
    remove_stale_temps(target)
    tmp = _create_temp(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(
                f"the writer for {target} removed its temporary file {tmp.name} before it was "
                "moved into place"
            )
        _fsync_file(tmp)
        _replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.bin"
    >>> atomic_write_bytes(target, b"abc")
    >>> target.read_bytes()
    b'abc'
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically, without newline translation."""
    atomic_write_bytes(path, text.encode(encoding))


@contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if needed) for the ``with`` block.

    Serialises processes of one host: manifest rewrites by shards running into one folder, and
    kernel start-ups. Local file systems only, like the annotation store. A ``filelock``
    lock: ``flock`` on Linux and macOS, ``msvcrt.locking`` on Windows.
    """
    from filelock import FileLock

    with FileLock(os.fspath(path)):
        yield


def atomic_write_table(frame: Any, path: str | os.PathLike[str], *, what: str) -> Path:
    """Write a DataFrame to ``.csv`` (UTF-8, ``\n``) or ``.parquet`` by extension, atomically.

    The one writer of cimrca's tables (results, indicator results, monitoring levels): a
    temporary file of this process's own, then a rename, so shards writing one table at once
    never mix their bytes. ``what`` names the table in the message for a wrong extension.
    """
    from .errors import UsageError

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"the {what} file must end in .csv or .parquet, found {target.name!r}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    return target
