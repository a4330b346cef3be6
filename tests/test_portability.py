"""Portability: cimrca runs where POSIX-only modules are missing (Windows), and a workbook that
Excel holds open fails with advice, never a traceback.

The suite runs on Linux; these tests keep Windows working from there. A one-LEA batch runs with
``fcntl`` unimportable in every process (the ``cimrca`` command, its workers and their Jupyter
kernels, which inherit ``PYTHONPATH``), a scan of the package finds no POSIX-only import or
process call outside a platform guard, and a refused rename (Windows' ``PermissionError`` for a
file open in Excel) is turned into a :class:`~cimrca.errors.WorkbookError`.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import tokenize
from pathlib import Path

import pandas as pd
import psutil
import pytest

from cimrca import atomic
from cimrca.atomic import atomic_path, atomic_write_bytes, file_lock, temp_files_for
from cimrca.errors import CimrcaError, WorkbookError
from cimrca.processes import kill_process_tree, process_alive

from .conftest import ROOT, SAMPLE

PACKAGE = ROOT / "cimrca"
LEA = "2071593"
EXCEL_ADVICE = r"Close the workbook in Excel, then re-run"

#: Modules that exist only on POSIX systems, or only on Windows.
PLATFORM_MODULES = frozenset(
    {"fcntl", "termios", "tty", "pty", "resource", "pwd", "grp", "posix", "crypt", "syslog",
     "nis", "spwd", "msvcrt", "winreg", "winsound", "_winapi"}
)  # fmt: skip
#: ``os`` functions missing on Windows, and ``os.kill``, which ends a process there when used
#: to probe it with signal 0.
POSIX_OS_CALLS = frozenset({"kill", "killpg", "getpgid", "setsid", "fork", "getuid", "geteuid"})
#: ``signal`` names missing on Windows.
POSIX_SIGNALS = frozenset({"SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM"})


# ------------------------------------------------------------------------------------------------
# The package's source: no POSIX-only module or call outside a platform guard
# ------------------------------------------------------------------------------------------------


def _sources() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10, files
    return files


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits in ``try: ... except ImportError`` or under a platform test."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            caught = {ast.unparse(h.type) for h in parent.handlers if h.type is not None}
            if caught & {"ImportError", "ModuleNotFoundError", "(ImportError, AttributeError)"}:
                return True
        if isinstance(parent, ast.If | ast.IfExp):
            test = ast.unparse(parent.test)
            if "sys.platform" in test or "os.name" in test:
                return True
        node = parent
    return False


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    parents = _parents(tree)
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT).as_posix()}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        else:
            names = []
        for name in names:
            if name in PLATFORM_MODULES and not _guarded(node, parents):
                found.append(f"{where}: imports {name}, which one platform lacks")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and not _guarded(node, parents)
        ):
            if node.value.id == "os" and node.attr in POSIX_OS_CALLS:
                found.append(
                    f"{where}: os.{node.attr} (POSIX only, or ends the process on Windows)"
                )
            if node.value.id == "signal" and node.attr in POSIX_SIGNALS:
                found.append(f"{where}: signal.{node.attr} does not exist on Windows")
        if isinstance(node, ast.ImportFrom) and node.module in {"os", "signal"}:
            bad = {a.name for a in node.names} & (POSIX_OS_CALLS | POSIX_SIGNALS)
            if bad:
                found.append(f"{where}: from {node.module} import {', '.join(sorted(bad))}")
    return found


def test_package_uses_no_posix_only_module_or_process_call():
    offences = [o for path in _sources() for o in _offences(path)]
    assert not offences, "\n".join(offences)


def _code_tokens(path: Path) -> list[tokenize.TokenInfo]:
    """The file's tokens without comments and strings (docstrings may name what code must not)."""
    with path.open("rb") as fh:
        tokens = list(tokenize.tokenize(fh.readline))
    return [t for t in tokens if t.type not in (tokenize.COMMENT, tokenize.STRING)]


def test_package_never_probes_a_process_with_os_kill():
    # token by token as well, so that no spelling the AST scan misses (getattr aside) slips by
    hits = []
    for path in _sources():
        tokens = [t for t in _code_tokens(path) if t.type in (tokenize.NAME, tokenize.OP)]
        for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
            if (a.string, b.string, c.string) == ("os", ".", "kill"):
                hits.append(f"{path.relative_to(ROOT).as_posix()}:{a.start[0]}: os.kill")
        hits += [
            f"{path.relative_to(ROOT).as_posix()}:{t.start[0]}: SIGKILL"
            for t in tokens
            if t.string == "SIGKILL"
        ]
    assert not hits, hits


@pytest.mark.parametrize(
    "source",
    [
        "import fcntl\n",
        "def f():\n    import termios\n",
        "from resource import getrlimit\n",
        "import os\nos.kill(1, 0)\n",
        "import signal\nx = signal.SIGKILL\n",
        "from os import killpg\n",
    ],
)
def test_the_scan_finds_what_it_forbids(tmp_path, source, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    assert _offences(path)


@pytest.mark.parametrize(
    "source",
    [
        "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n",
        "import sys\nif sys.platform != 'win32':\n    import pwd\n",
        "import os\nif os.name == 'posix':\n    os.killpg(1, 9)\n",
    ],
)
def test_the_scan_accepts_a_guarded_use(tmp_path, source, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    assert _offences(path) == []


# ------------------------------------------------------------------------------------------------
# Processes through psutil
# ------------------------------------------------------------------------------------------------


def test_process_alive_and_kill_process_tree():
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"  # noqa: E501
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):  # wait for the child to start
            if psutil.Process(proc.pid).children():
                break
            time.sleep(0.1)
        child = psutil.Process(proc.pid).children()[0].pid
        assert process_alive(proc.pid) and process_alive(child)
        assert kill_process_tree(proc.pid) == 2
        proc.wait(10)
        assert not process_alive(child)
        assert not process_alive(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert kill_process_tree(proc.pid) == 0  # already gone: nothing to do
    assert not process_alive(0)


def test_file_lock_serialises_and_keeps_its_api(tmp_path):
    lock = tmp_path / "x.lock"
    with file_lock(lock):
        assert lock.exists()
    with file_lock(str(lock)):  # a str path too, and the lock can be taken again
        pass


# ------------------------------------------------------------------------------------------------
# A workbook open in Excel (Windows refuses to replace it)
# ------------------------------------------------------------------------------------------------


def _refuse_replace(monkeypatch, *, times: int | None = None) -> list[tuple[str, str]]:
    """Make ``os.replace`` raise Windows' PermissionError (``times`` times; None: always)."""
    calls: list[tuple[str, str]] = []
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        calls.append((str(src), str(dst)))
        if times is None or len(calls) <= times:
            raise PermissionError(13, "The process cannot access the file because it is being "
                                  "used by another process", str(dst))  # fmt: skip
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(atomic, "REPLACE_RETRY_SECONDS", (0.0, 0.0))
    return calls


def test_workbook_open_in_excel_fails_with_advice_and_is_left_as_it_was(tmp_path, monkeypatch):
    target = tmp_path / "2071593_workbook.xlsx"
    target.write_bytes(b"the consultant's workbook")
    calls = _refuse_replace(monkeypatch)
    with pytest.raises(WorkbookError, match=rf"2071593_workbook\.xlsx.*{EXCEL_ADVICE}") as err:
        atomic_write_bytes(target, b"new packet")
    assert err.value.file == str(target)
    assert err.value.exit_status == 1
    assert err.value.__cause__ is None  # one plain message, no chained traceback
    assert len(calls) == 3  # tried, then retried twice
    assert target.read_bytes() == b"the consultant's workbook"
    assert temp_files_for(target) == []  # the temporary file is removed


def test_a_brief_refusal_is_retried(tmp_path, monkeypatch):
    target = tmp_path / "results.csv"
    calls = _refuse_replace(monkeypatch, times=1)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"a,b\n")
    assert target.read_bytes() == b"a,b\n"
    assert len(calls) == 2
    assert temp_files_for(target) == []


def test_another_locked_file_gets_the_same_advice_without_excel(tmp_path, monkeypatch):
    target = tmp_path / "2071593.html"
    _refuse_replace(monkeypatch)
    with pytest.raises(CimrcaError, match=r"2071593\.html.*Close it there, then re-run") as err:
        atomic_write_bytes(target, b"<html>")
    assert not isinstance(err.value, WorkbookError)
    assert not target.exists()
    assert temp_files_for(target) == []


def test_compute_onto_an_open_results_file_prints_advice_not_a_traceback(
    tmp_path, monkeypatch, capsys
):
    from cimrca.cli import main

    out = tmp_path / "results.csv"
    out.write_text("open in Excel\n", encoding="utf-8")
    _refuse_replace(monkeypatch)
    status = main(["compute", str(SAMPLE), "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 1
    assert EXCEL_ADVICE in err and "results.csv" in err
    assert "Traceback" not in err
    assert out.read_text(encoding="utf-8") == "open in Excel\n"


# ------------------------------------------------------------------------------------------------
# Paths and text files
# ------------------------------------------------------------------------------------------------


def test_windows_paths_reach_the_notebook_unchanged():
    from papermill.translators import PythonTranslator

    path = r"C:\Users\analyst\cimrca data\sample"
    cell = PythonTranslator.codify({"data_dir": path, "out_dir": "D:\\out\\n\\t"})
    namespace: dict[str, str] = {}
    exec(cell, namespace)  # noqa: S102 - the parameters cell papermill injects
    assert namespace["data_dir"] == path
    assert namespace["out_dir"] == "D:\\out\\n\\t"


def test_a_backslash_profile_is_read_as_a_path(tmp_path):
    from cimrca.errors import ProfileError
    from cimrca.profiles import load_profile

    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(r"C:\profiles\nevada")


def test_csv_results_are_utf8_with_unix_newlines(tmp_path):
    from cimrca.methodology import write_results

    frame = pd.DataFrame({"lea_id": ["0100000"], "lea_name": ["Peñasco Unified"]})
    path = write_results(frame, tmp_path / "results.csv")
    assert path.read_bytes() == "lea_id,lea_name\n0100000,Peñasco Unified\n".encode()


# ------------------------------------------------------------------------------------------------
# A real batch with fcntl unimportable in every process
# ------------------------------------------------------------------------------------------------

# Started first in every Python process (the command, its workers, their kernels): records that
# fcntl was unimportable there and, when asked, refuses to replace files as Windows does for a
# file open in Excel.
_SITECUSTOMIZE = """\
import json, os, sys
try:
    import fcntl  # noqa: F401
    blocked = False
except ImportError:
    blocked = True
with open(os.environ["CIMRCA_TEST_PROCESS_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({"pid": os.getpid(), "argv": sys.orig_argv, "blocked": blocked}) + "\\n")
_locked = os.environ.get("CIMRCA_TEST_OPEN_IN_EXCEL", "")
if _locked:
    _real_replace = os.replace

    def _replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) == _locked:
            raise PermissionError(
                13, "The process cannot access the file because it is being used by another "
                "process", os.fspath(dst))
        return _real_replace(src, dst, *args, **kwargs)

    os.replace = _replace
"""


def _no_fcntl_env(folder: Path, **extra: str) -> dict[str, str]:
    """An environment in which ``import fcntl`` raises in every Python process started."""
    shim = folder / "no_posix"
    shim.mkdir()
    (shim / "fcntl.py").write_text(
        "raise ImportError(\"No module named 'fcntl' (as on Windows)\")\n", encoding="utf-8"
    )
    (shim / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    temp = folder / "temp"  # a fresh temporary folder: kernel logs and the start-up lock
    temp.mkdir()
    path = os.pathsep.join([str(shim), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path.rstrip(os.pathsep),
        "CIMRCA_TEST_PROCESS_LOG": str(folder / "processes.jsonl"),
        "TMPDIR": str(temp),
        "TEMP": str(temp),
        "TMP": str(temp),
        **extra,
    }


def _batch(out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--lea", LEA,
         *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _processes(folder: Path) -> list[dict]:
    log = folder / "processes.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def no_fcntl_run(tmp_path_factory):
    """A one-LEA batch run with fcntl unimportable everywhere: (folder, out, process)."""
    folder = tmp_path_factory.mktemp("no_fcntl")
    out = folder / "out"
    return folder, out, _batch(out, _no_fcntl_env(folder))


@pytest.mark.slow
def test_one_lea_batch_without_fcntl_in_any_process(no_fcntl_run):
    folder, out, proc = no_fcntl_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    workbooks = list(out.rglob(f"{LEA}_workbook.xlsx"))
    assert workbooks, sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert workbooks[0].read_bytes()[:2] == b"PK"  # a zip, as every .xlsx is
    manifest = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert set(manifest["status"]) == {"ok"}, manifest.to_string()

    processes = _processes(folder)
    assert all(p["blocked"] for p in processes), processes
    kernels = [p for p in processes if any("ipykernel" in a for a in p["argv"])]
    assert kernels, processes  # the kernels ran without fcntl too
    assert len({p["pid"] for p in processes}) >= 3  # the command, a worker, a kernel


@pytest.mark.slow
def test_batch_fails_the_lea_whose_workbook_is_open_in_excel(no_fcntl_run, tmp_path):
    import shutil

    _, first, _ = no_fcntl_run
    out = tmp_path / "out"
    shutil.copytree(first, out)
    (workbook,) = out.rglob(f"{LEA}_workbook.xlsx")
    before = workbook.read_bytes()
    env = _no_fcntl_env(tmp_path, CIMRCA_TEST_OPEN_IN_EXCEL=workbook.name)
    proc = _batch(out, env, "--force")
    assert proc.returncode == 1, proc.stderr[-3000:]  # some LEAs failed
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    manifest = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    row = manifest.set_index("lea_id").loc[LEA]
    assert row["status"] == "failed", manifest.to_string()
    assert row["error"].startswith("WorkbookError: "), row["error"]
    assert EXCEL_ADVICE in row["error"] and workbook.name in row["error"], row["error"]
    assert workbook.read_bytes() == before  # left as it was
    assert temp_files_for(workbook) == []
