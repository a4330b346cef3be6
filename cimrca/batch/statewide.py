"""The statewide tables of a batch: computed once per run, written once, read by every packet."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, atomic_write_text
from ..dataset import Dataset
from ..indicators import compute_indicators, write_indicator_results
from ..lea_tables import (
    LeaTables,
    in_table_order,
    light_dataset,
    read_lea,
    write_by_lea,
    write_lea_tables,
)
from ..methodology import compute_results, write_results
from ..monitoring import compute_monitoring, write_monitoring
from ..outputs import OutputLayout
from ..profiles import Profile
from .plan import per_lea_digest

__all__ = ["Statewide", "prepare_statewide", "ResultsCsv", "write_results_csv"]


@dataclass(frozen=True, eq=False)
class Statewide:
    """What every packet of a run shares: the data set, the profile and the statewide tables.

    ``indicators`` is ``None`` when the data set has no ``indicators.csv``; ``profile_arg`` is
    the profile as the notebooks receive it (a name, or an absolute YAML path); ``monitoring``
    is the monitoring table (monitoring.md section 3), ``None`` when the profile defines no
    monitoring levels.

    ``results`` is the statewide results table, or ``None`` once released
    (``prepare_statewide(..., keep_results=False)``, what a batch does): :meth:`lea_results`
    then reads one LEA's rows from ``results_parquet``, and ``digests`` holds the per-LEA
    digests of the LEAs asked for, computed before the table was released.
    """

    dataset: Dataset
    profile: Profile
    profile_arg: str
    results: pd.DataFrame | None
    indicators: pd.DataFrame | None
    monitoring: pd.DataFrame | None = None
    results_parquet: Path | None = None
    digests: dict[str, dict[str, str]] = field(default_factory=dict)

    def lea_results(self, lea_id: str) -> pd.DataFrame:
        """The LEA's rows of the results table, in the table's order."""
        if self.results is not None:
            return self.results[self.results["lea_id"].astype(str) == str(lea_id)]
        assert self.results_parquet is not None
        return read_lea(self.results_parquet, lea_id)

    def cim_required(self) -> list[str] | None:
        """The LEAs with ``cim_required`` in the latest school year of the monitoring table.

        ``None`` when the profile defines no monitoring levels.
        """
        if self.monitoring is None:
            return None
        mon = self.monitoring
        latest = mon["school_year"].astype(str) == mon["school_year"].astype(str).max()
        return sorted(mon.loc[latest & mon["cim_required"], "lea_id"].astype(str))

    @property
    def latest_monitoring_year(self) -> str:
        """The latest school year of the monitoring table ("" without one)."""
        if self.monitoring is None or self.monitoring.empty:
            return ""
        return str(self.monitoring["school_year"].astype(str).max())


def prepare_statewide(
    dataset: Dataset,
    profile: Profile,
    profile_arg: str,
    out: OutputLayout,
    *,
    lea_ids: Sequence[str] | None = None,
    keep_results: bool = True,
    write_csv: bool = True,
) -> Statewide:
    """Compute the statewide results and indicator results once and write them into ``out``.

    Writes ``results.parquet`` (what the notebooks read; sorted by LEA, see
    :func:`cimrca.lea_tables.write_by_lea`), the per-LEA tables the packets read instead of the
    data set (``out.lea_tables``), when the data set has indicators, ``indicators.parquet``,
    when the profile has a ``monitoring`` section, ``monitoring.csv`` (monitoring.md section 3),
    and, with ``write_csv``, ``results.csv`` (the contract, outputs.md section 2; a batch
    passes ``write_csv=False`` and writes it in the background with :class:`ResultsCsv`).
    Each file is written atomically through a temporary file of this process's own, so shards
    writing the same table at once never mix their bytes.

    ``lea_ids``: the LEAs whose per-LEA digests (results, indicators, monitoring) go into
    :attr:`Statewide.digests`. ``keep_results=False``: the returned :class:`Statewide` holds
    neither the results table nor the full data set (only what the packets read of it), so a
    batch's parent does not hold State-sized tables while the packets run.
    """
    results = compute_results(dataset, profile)
    write_by_lea(results, out.results_parquet)
    tables = LeaTables(out.lea_tables)
    write_lea_tables(dataset, results, tables)
    if write_csv:
        write_results(results, out.results_csv)
    indicators = None
    if dataset.indicators is not None:
        indicators = compute_indicators(dataset.indicators, dataset.targets)
        write_indicator_results(indicators, out.indicators)
    monitoring = None
    if profile.monitoring is not None:
        monitoring = compute_monitoring(dataset, results, indicators, profile)
        write_monitoring(monitoring, out.monitoring)
    digests = {}
    if lea_ids is not None:
        digests = {
            "results": per_lea_digest(results, lea_ids),
            "indicators": per_lea_digest(indicators, lea_ids),
            "monitoring": per_lea_digest(monitoring, lea_ids),
        }
    if keep_results:
        return Statewide(
            dataset, profile, profile_arg, results, indicators, monitoring,
            out.results_parquet, digests,
        )  # fmt: skip
    del results
    light = light_dataset(dataset.path or Path("."), tables)
    return Statewide(
        light, profile, profile_arg, None, indicators, monitoring, out.results_parquet, digests
    )


def _sha256(parquet: Path) -> str:
    h = hashlib.sha256()
    with open(parquet, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_results_csv(out: OutputLayout) -> bool:
    """Write ``results.csv`` from ``results.parquet``, one school year at a time.

    The bytes are those of :func:`cimrca.methodology.write_results` on the whole table (same
    rows, order and formatting), while only one year's rows are in memory. Nothing is written
    when ``results.csv`` is the one written from this same ``results.parquet`` (its stamp
    matches and the file is untouched since). Returns whether the file was written.
    """
    parquet, csv, stamp = out.results_parquet, out.results_csv, out.results_csv_stamp
    source = _sha256(parquet)
    if csv.is_file() and stamp.is_file():
        st = csv.stat()
        now = [source, str(st.st_size), str(st.st_mtime_ns)]
        if stamp.read_text(encoding="utf-8").split() == now:
            return False
    import pyarrow.parquet as pq

    years = pq.read_table(parquet, columns=["school_year"]).column(0).unique().to_pylist()
    with atomic_path(csv) as tmp:
        end = 0
        for year in sorted(years):
            rows = pq.read_table(parquet, filters=[("school_year", "==", year)]).to_pandas()
            rows = rows.sort_index(kind="stable")
            if rows.index[0] != end or rows.index[-1] != end + len(rows) - 1:
                # the table is not ordered by school year first: write it whole
                write_results(in_table_order(pd.read_parquet(parquet)), tmp)
                break
            rows.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n",
                        mode="w" if end == 0 else "a", header=end == 0)  # fmt: skip
            end += len(rows)
    st = csv.stat()
    atomic_write_text(stamp, f"{source} {st.st_size} {st.st_mtime_ns}\n")
    return True


class ResultsCsv:
    """:func:`write_results_csv` in a background thread, while the packets run.

    :meth:`wait` returns when the file is written and raises what the writer raised.
    """

    def __init__(self, out: OutputLayout) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(out,), daemon=True)
        self.thread.start()

    def _run(self, out: OutputLayout) -> None:
        try:
            write_results_csv(out)
        except BaseException as exc:  # noqa: BLE001 - raised again by wait()
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error
