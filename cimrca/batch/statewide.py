"""The statewide tables of a batch: computed once per run, written once, read by every packet."""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_path, atomic_write_text
from ..dataset import Dataset
from ..indicators import compute_indicators, write_indicator_results
from ..lea_tables import (
    LeaTables,
    light_dataset,
    read_in_table_order,
    read_lea,
    write_by_lea,
    write_indicators,
    write_lea_tables,
)
from ..methodology import compute_results, write_results
from ..monitoring import compute_monitoring, write_monitoring
from ..outputs import OutputLayout
from ..profiles import Profile
from .plan import per_lea_digest, sha256_file

__all__ = [
    "Statewide",
    "prepare_statewide",
    "ResultsCsv",
    "write_results_csv",
    "csv_rows",
    "release_memory",
]


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
    write_indicators(indicators, tables)
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


def write_results_csv(out: OutputLayout) -> bool:
    """Write ``results.csv`` from ``results.parquet``, one row group at a time.

    The bytes are those of :func:`cimrca.methodology.write_results` on the whole table (same
    rows, order and formatting; :func:`csv_rows`), while only one row group's rows are in
    memory. Nothing is written
    when ``results.csv`` is the one written from this same ``results.parquet`` (its stamp
    matches and the file is untouched since). Returns whether the file was written.
    """
    parquet, csv, stamp = out.results_parquet, out.results_csv, out.results_csv_stamp
    source = sha256_file(parquet)
    if csv.is_file() and stamp.is_file():
        st = csv.stat()
        now = [source, str(st.st_size), str(st.st_mtime_ns)]
        if stamp.read_text(encoding="utf-8").split() == now:
            return False
    import pyarrow.parquet as pq

    source_file = pq.ParquetFile(parquet)
    with atomic_path(csv) as tmp, tempfile.TemporaryDirectory(prefix="cimrca-csv-") as parts:
        # each row group read once (the file is sorted by LEA) and split by school year into
        # one part per year; the parts, in order, are the table when it is ordered by year,
        # then LEA (checked from the rows' places in the table)
        files: dict[str, Any] = {}
        place: dict[str, list[int]] = {}  # year: [first place, rows]
        in_order = True
        try:
            for group in range(source_file.num_row_groups):
                rows = source_file.read_row_group(group).to_pandas()
                for year, part in rows.groupby("school_year", sort=False):
                    part = part.sort_index(kind="stable")
                    first, n = place.setdefault(str(year), [int(part.index[0]), 0])
                    expected = range(first + n, first + n + len(part))
                    in_order = in_order and part.index.equals(
                        pd.RangeIndex(expected.start, expected.stop)
                    )
                    place[str(year)][1] += len(part)
                    if str(year) not in files:
                        files[str(year)] = open(  # noqa: SIM115 - closed below
                            Path(parts) / f"{len(files)}.csv", "w", encoding="utf-8", newline=""
                        )
                    csv_rows(part, files[str(year)], header=False)
        finally:
            for fh in files.values():
                fh.close()
        years = sorted(place)
        at = 0
        for year in years:
            in_order = in_order and place[year][0] == at
            at += place[year][1]
        if not in_order:
            write_results(read_in_table_order(parquet), tmp)
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as out_fh:
                out_fh.write(_header(parquet))
            with open(tmp, "ab") as out_fh:
                for year in years:
                    with open(files[year].name, "rb") as part_fh:
                        shutil.copyfileobj(part_fh, out_fh, 1 << 20)
    st = csv.stat()
    atomic_write_text(stamp, f"{source} {st.st_size} {st.st_mtime_ns}\n")
    return True


def _header(parquet: Path) -> str:
    """The CSV header line of the table in ``parquet`` (its columns, without the index)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(parquet)
    meta = schema.pandas_metadata or {}
    index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    names = [n for n in schema.names if n not in index]
    return pd.DataFrame(columns=names).to_csv(index=False, lineterminator="\n")


def _float_text(values: np.ndarray) -> Any:
    """Floats as pandas writes them to CSV (Python's ``repr``; NaN empty), as Arrow strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(values, from_pandas=True), pa.string())
    arrow_exponent = pc.fill_null(pc.match_substring(text, "e"), False).to_numpy(
        zero_copy_only=False
    )
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(values)
        size = np.abs(np.where(finite, values, 0.0))
        # where repr and Arrow disagree on an exponent: repr's own (below 1e-4, from 1e16)
        # and Arrow's (it switches earlier for large numbers)
        odd = finite & (((size < 1e-4) & (values != 0)) | (size >= 1e16) | arrow_exponent)
        whole = finite & (np.floor(values) == values) & ~odd
    odd = np.flatnonzero(odd)
    text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    if len(odd):
        strings = text.to_numpy(zero_copy_only=False).astype(object)
        strings[odd] = [repr(float(v)) for v in values[odd]]
        text = pa.array(strings, type=pa.string())
    return text


def csv_rows(frame: pd.DataFrame, fh: Any, *, header: bool) -> None:
    """Write ``frame`` to the open text file ``fh`` with the bytes ``frame.to_csv(index=False,
    lineterminator="\\n")`` gives, through Arrow's CSV writer (several times faster).

    Floats are written as Python's ``repr`` (``1.0``, ``1e-05``), booleans ``True``/``False``,
    missing values empty. A text value that would need quotes makes it fall back to pandas.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    columns = []
    for name in frame.columns:
        values = frame[name]
        if values.dtype == np.float64:
            columns.append(_float_text(values.to_numpy()))
            continue
        array = pa.array(values, from_pandas=True)
        if pa.types.is_boolean(array.type):
            array = pc.if_else(array, "True", "False")
        columns.append(array)
    if header:
        fh.write(frame.iloc[:0].to_csv(index=False, lineterminator="\n"))
    sink = io.BytesIO()
    try:
        pcsv.write_csv(
            pa.table(columns, names=[str(c) for c in frame.columns]),
            sink,
            pcsv.WriteOptions(include_header=False, quoting_style="none"),
        )
    except pa.ArrowInvalid:  # a value with a comma, quote or line break: pandas quotes it
        fh.write(frame.to_csv(index=False, header=False, lineterminator="\n"))
        return
    fh.write(sink.getvalue().decode("utf-8"))


def release_memory() -> None:
    """Give the memory of released tables back to the system: Arrow's pool keeps freed
    buffers, and glibc's heap keeps freed pages, so a process that held the State's tables
    would otherwise stay at its peak size while the packets run."""
    import gc

    from ..processes import trim_memory

    gc.collect()
    trim_memory()


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
