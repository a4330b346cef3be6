"""Every path under a batch's OUT_DIR, in one place (outputs.md section 3).

A batch, the packet notebook, the annotation harvester and the tests all name files through
:class:`OutputLayout` (a run's folder) and :class:`LeaFiles` (one LEA's files in its folder),
so a name is spelled once. Paths recorded *inside* outputs are relative to OUT_DIR
(:meth:`OutputLayout.relative`), so a folder moved to another disk or machine keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["OutputLayout", "LeaFiles", "STATE_OVERVIEW_NAME", "LEAS_FOLDER"]

#: Stem of the state overview's notebook and HTML.
STATE_OVERVIEW_NAME = "state_overview"
#: Folder of the per-LEA folders.
LEAS_FOLDER = "leas"


@dataclass(frozen=True)
class LeaFiles:
    """One packet's files in ``folder``: ``<name>.ipynb``, ``<name>.html``, the workbook...

    ``name`` is the LEA code (or :data:`STATE_OVERVIEW_NAME` for the overview's notebook).
    """

    folder: Path
    name: str

    @property
    def notebook(self) -> Path:
        """The executed notebook (the audit trail)."""
        return self.folder / f"{self.name}.ipynb"

    @property
    def running_notebook(self) -> Path:
        """The notebook while it executes (moved to :attr:`notebook` when it ends)."""
        return self.folder / f".{self.name}.running.ipynb"

    @property
    def html(self) -> Path:
        """The packet rendered without code."""
        return self.folder / f"{self.name}.html"

    @property
    def workbook(self) -> Path:
        """The root-cause workbook."""
        return self.folder / f"{self.name}_workbook.xlsx"

    @property
    def findings(self) -> Path:
        """The machine-readable findings."""
        return self.folder / f"{self.name}_findings.json"

    @property
    def annotations_json(self) -> Path:
        """The annotations the batch hands to the notebook (a hidden, per-run file)."""
        return self.folder / f".{self.name}_annotations.json"

    @property
    def outputs(self) -> tuple[Path, ...]:
        """Every file a finished packet leaves (those written atomically)."""
        return (self.notebook, self.html, self.workbook, self.findings)

    @property
    def public_html(self) -> Path:
        """The public packet: small counts suppressed, nothing internal (README "Sharing")."""
        return self.folder / f"{self.name}_public.html"

    @property
    def public_findings(self) -> Path:
        """The public packet's machine-readable findings, suppressed like its HTML."""
        return self.folder / f"{self.name}_public_findings.json"

    @property
    def public_outputs(self) -> tuple[Path, ...]:
        """The files of the public packet (written only for the ``public`` audience)."""
        return (self.public_html, self.public_findings)


@dataclass(frozen=True)
class OutputLayout:
    """The files of a batch's output folder ``root``.

    Examples
    --------
    >>> out = OutputLayout(Path("out"))
    >>> out.lea("2071593").workbook.as_posix()
    'out/leas/2071593/2071593_workbook.xlsx'
    >>> out.relative(out.lea("2071593").workbook)
    'leas/2071593/2071593_workbook.xlsx'
    """

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.csv"

    @property
    def manifest_lock(self) -> Path:
        return self.root / ".manifest.lock"

    @property
    def results_csv(self) -> Path:
        """The statewide results table (outputs.md section 2), for people and scripts."""
        return self.root / "results.csv"

    @property
    def results_parquet(self) -> Path:
        """The same table as Parquet: what the notebooks read."""
        return self.root / "results.parquet"

    @property
    def indicators(self) -> Path:
        """Statewide indicator results, computed once per run."""
        return self.root / "indicators.parquet"

    @property
    def monitoring(self) -> Path:
        """The monitoring levels of every LEA and year (monitoring.md section 3)."""
        return self.root / "monitoring.csv"

    @property
    def lea_tables(self) -> Path:
        """What the packets read instead of the whole data set (:mod:`cimrca.lea_tables`):
        rewritten by every run."""
        return self.root / ".lea_tables"

    @property
    def results_csv_stamp(self) -> Path:
        """Which ``results.parquet`` the ``results.csv`` beside it was written from (a run
        whose results are unchanged does not write the CSV again)."""
        return self.root / ".results_csv.stamp"

    @property
    def annotations_store(self) -> Path:
        """The default annotation store."""
        return self.root / "annotations.sqlite"

    @property
    def conflicts_csv(self) -> Path:
        """Annotation conflicts still to look at (outputs.md section 5.1)."""
        return self.root / "conflicts.csv"

    @property
    def state_overview(self) -> LeaFiles:
        """The state overview's notebook and HTML (at the top of OUT_DIR)."""
        return LeaFiles(self.root, STATE_OVERVIEW_NAME)

    @property
    def state_overview_leas(self) -> Path:
        return self.root / "state_overview_leas.csv"

    @property
    def state_overview_hash(self) -> Path:
        """The inputs' hash of the last state overview (skipped when unchanged)."""
        return self.root / ".state_overview.sha256"

    @property
    def leas_folder(self) -> Path:
        return self.root / LEAS_FOLDER

    def lea(self, lea_id: str) -> LeaFiles:
        """The files of one LEA's packet, in ``leas/<lea_id>/``."""
        return LeaFiles(self.root / LEAS_FOLDER / lea_id, lea_id)

    def relative(self, path: str | Path) -> str:
        """``path`` relative to OUT_DIR, with ``/`` (what outputs record instead of a full path)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
