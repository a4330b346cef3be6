"""Faults injected into real `cimrca batch` runs (issue 16, outputs.md section 5.1).

Each fault gives one plain line (no traceback) and the right exit status, leaves no partial
file under a final name, and a clean re-run afterwards produces the same packets and the same
notes as before the fault. Faults: a full disk (a small tmpfs where this process may mount one,
else a write patched to raise ``ENOSPC``), a read-only OUT_DIR, OUT_DIR that is a file, a
``--annotations`` path into a missing folder, a 0-byte ``manifest.csv``, the annotation store
locked longer than the (patched, small) busy timeout in the middle of a run, and Ctrl-C (SIGINT to
the process group, as a terminal sends it) in the middle of a run.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cimrca import annotations as ann
from cimrca.layout import KEY_HEADER, display_header
from cimrca.outputs import OutputLayout

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
LEA = "2071593"  # identified in ident_ed for BL (data/sample/README.md)
FINDING = "2024-25:ident_ed:BL"
NOTE = "Referral data checked with the district (fault-injection test)"

pytestmark = pytest.mark.xdist_group("batch")


def batch_args(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--lea", LEA,
            "--jobs", "1", *extra]  # fmt: skip


def batch(out: Path, *extra: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        batch_args(out, *extra), capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def one_line(proc: subprocess.CompletedProcess, status: int, *expected: str) -> str:
    """The run ended with ``status`` and one error line on stderr naming ``expected``."""
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def note_cell(path: Path, value: str | None = None) -> str | None:
    wb = openpyxl.load_workbook(path)
    ws = wb["Disproportionality"]
    header = next(r for r in ws.iter_rows() if r[0].value == display_header(KEY_HEADER))
    col = next(c.column for c in header if c.value == display_header("consultant_note"))
    row = next(r[0].row for r in ws.iter_rows() if r[0].value == FINDING)
    if value is not None:
        ws.cell(row, col).value = value
        wb.save(path)
    return ws.cell(row, col).value


def snapshot(out: Path) -> dict[str, object]:
    """What must come back after a fault: the packet files, the notes in store and workbook."""
    layout = OutputLayout(out)
    files = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)
    )
    for nb in out.rglob("*.ipynb"):
        json.loads(nb.read_bytes())  # every notebook under its final name is whole
    with ann.AnnotationStore(layout.annotations_store, create=False) as store:
        notes = store.current_frame()[["lea_id", "sheet", "finding_id", "column", "value"]]
    return {
        "files": files,
        "notes": notes.values.tolist(),
        "cell": note_cell(layout.lea(LEA).workbook),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, object]]:
    """A built OUT_DIR with a note typed in the workbook and harvested, and its snapshot."""
    out = tmp_path_factory.mktemp("built") / "out"
    assert batch(out).returncode == 0
    note_cell(OutputLayout(out).lea(LEA).workbook, NOTE)
    assert batch(out).returncode == 0
    shot = snapshot(out)
    assert (
        shot["cell"] == NOTE
        and [LEA, "Disproportionality", FINDING, "consultant_note", NOTE] in (shot["notes"])
    )
    return out, shot


def copy_of(built, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(built[0], out)
    return out


def rerun_is_clean(out: Path, expected: dict[str, object]) -> None:
    proc = batch(out, "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert snapshot(out) == expected
    leftovers = [p for p in out.rglob("*") if ".tmp" in p.name or ".running." in p.name]
    assert not leftovers, leftovers


# ------------------------------------------------------------------------------------------------
# Mounts (where this process may make them)
# ------------------------------------------------------------------------------------------------


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


def _umount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# ------------------------------------------------------------------------------------------------
# OUT_DIR unusable, bad --annotations: one line, exit 2, nothing written
# ------------------------------------------------------------------------------------------------


def test_out_dir_that_is_a_file(tmp_path):
    target = tmp_path / "out"
    target.write_text("not a folder")
    one_line(batch(target), 2, str(target), "is a file, not a folder")
    assert target.read_text() == "not a folder"


def test_read_only_out_dir(tmp_path):
    out = tmp_path / "ro"
    if _mount_tmpfs(out, "1m"):
        subprocess.run(["mount", "-o", "remount,ro", str(out)], check=True, capture_output=True)
    elif os.name == "posix" and os.geteuid() != 0:
        out.mkdir()
        out.chmod(0o555)
    else:
        pytest.skip("neither a read-only mount nor a read-only folder can be made here")
    try:
        one_line(batch(out / "run"), 2, "cannot write into the output folder")
        one_line(batch(out), 2, "cannot write into the output folder")
    finally:
        if os.geteuid() == 0:
            _umount(out)
        else:
            out.chmod(0o755)


def test_annotations_in_a_missing_folder_fails_before_results_are_written(tmp_path):
    """Before: the batch computed and wrote results.csv, then failed on the store."""
    out = tmp_path / "out"
    missing = tmp_path / "no_such_folder" / "notes.sqlite"
    one_line(batch(out, "--annotations", str(missing)), 2, "does not exist")
    assert not (out / "results.csv").exists() and not (out / "results.parquet").exists()


# ------------------------------------------------------------------------------------------------
# Faults in the middle of a run; then a clean re-run
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_empty_manifest_is_rebuilt(built, tmp_path):
    """Before: a 0-byte manifest.csv made every later run fail with a pandas traceback."""
    out = copy_of(built, tmp_path)
    (out / "manifest.csv").write_bytes(b"")
    proc = batch(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "manifest.csv was empty" in proc.stdout
    manifest = pd.read_csv(out / "manifest.csv", dtype=str)
    assert LEA in set(manifest["lea_id"])
    assert snapshot(out) == built[1]


_LOCK_MID_RUN = textwrap.dedent(
    """
    import sqlite3, sys
    import cimrca.annotations as a
    from cimrca.batch import run as r
    from cimrca.cli import main

    a.BUSY_TIMEOUT_SECONDS = 0.5
    prepare, holder = r._Run.prepare, []

    def locked_prepare(self, task):
        if task.lea_id and not holder:  # another program takes the store now, mid-run
            c = sqlite3.connect(str(self.store.path), isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            holder.append(c)
        return prepare(self, task)

    r._Run.prepare = locked_prepare
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.slow
def test_store_locked_longer_than_the_timeout_mid_run(built, tmp_path):
    out = copy_of(built, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", _LOCK_MID_RUN, *batch_args(out, "--force")[3:]],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    line = one_line(proc, 2, "annotation store is locked by another program", "not damaged")
    assert "backup" not in line
    rerun_is_clean(out, built[1])


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="a process group's SIGINT is POSIX")
def test_ctrl_c_mid_run(built, tmp_path):
    """Before: worker tracebacks (KeyboardInterrupt) printed before "interrupted"."""
    out = copy_of(built, tmp_path)
    proc = subprocess.Popen(
        batch_args(out, "--force"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.rglob(".*.running.ipynb")):
        time.sleep(0.05)
    assert list(out.rglob(".*.running.ipynb")), "no notebook started"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("cimrca: interrupted; run the same command again to continue"), last
    time.sleep(1)
    rerun_is_clean(out, built[1])


@pytest.mark.slow
def test_disk_full(built, tmp_path):
    """Before: a traceback, and a truncated .ipynb under its final name."""
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "32m"):
        pytest.skip("no tmpfs here; test_notebook_write_failure_leaves_no_partial_file covers it")
    try:
        out = mnt / "out"
        shutil.copytree(built[0], out)
        free = os.statvfs(mnt)
        filler = mnt / "filler"
        with open(filler, "wb") as fh:  # fill the disk
            try:
                fh.write(b"\0" * (free.f_bavail * free.f_frsize))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        proc = batch(out, "--force")
        assert proc.returncode in (1, 2), proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        if proc.returncode == 2:
            line = one_line(proc, 2)
            assert "No space left on device" in line or "disk is full" in line, line
            assert "backup" not in line  # the store is not damaged: no advice to replace it
        else:
            assert "FAILED" in proc.stdout
        for nb in out.rglob("*.ipynb"):
            json.loads(nb.read_bytes())  # nothing truncated under a final name
        filler.unlink()
        rerun_is_clean(out, built[1])
    finally:
        _umount(mnt)


@pytest.mark.slow
def test_notebook_write_failure_leaves_no_partial_file(built, tmp_path, monkeypatch):
    """The worker's piece: papermill's write of the executed notebook stops half-way with
    ENOSPC; the old notebook stays whole under its name and no partial file is left."""
    from papermill.iorw import LocalHandler

    from cimrca.batch.workers import LeaTask, run_task, shutdown_kernels
    from cimrca.resources import PACKET_NOTEBOOK_NAME, notebook_dir
    from cimrca.runner.kernel import kernel_name

    out = copy_of(built, tmp_path)
    files = OutputLayout(out).lea(LEA)
    old_notebook = files.notebook.read_bytes()

    def full_disk(self, buf, path):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(buf[: len(buf) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(LocalHandler, "write", full_disk)
    monkeypatch.setenv("CIMRCA_KERNEL_DIR", str(tmp_path / "kernels"))
    nb = json.loads(old_notebook)
    params = {  # the parameters the batch gave, pointed at the copy
        k: v.replace(str(built[0]), str(out)) if isinstance(v, str) else v
        for k, v in nb["metadata"]["papermill"]["parameters"].items()
    }
    task = LeaTask(
        key=LEA, lea_id=LEA, name=LEA, notebook=str(notebook_dir() / PACKET_NOTEBOOK_NAME),
        folder=str(files.folder), parameters=params, kernel_name=kernel_name(), timeout=300,
    )  # fmt: skip
    try:
        outcome = run_task(task)
    finally:
        shutdown_kernels()
    assert outcome["status"] == "failed" and "No space left" in outcome["error"]
    assert files.notebook.read_bytes() == old_notebook
    assert not files.running_notebook.exists()
    monkeypatch.undo()
    rerun_is_clean(out, built[1])
