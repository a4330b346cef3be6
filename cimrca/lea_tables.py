"""A batch's per-LEA tables: statewide tables written once, sorted by LEA, read one LEA at a time.

A packet needs its own LEA's rows and a few small statewide slices, not the whole State. The
batch's parent process validates the data set and computes the statewide tables once; it then
writes them as Parquet files sorted by ``lea_id`` in modest row groups (:func:`write_by_lea`),
so a worker reads one LEA's rows with a filter (:func:`read_lea`) and its memory does not grow
with the State (issue 13). The folder :class:`LeaTables` (``OUT_DIR/.lea_tables``) holds what
the packets read of the data set itself: ``leas``, the data set's name and flags, and the
``detail`` and ``schools`` rows of the drill-down (drilldown.md section 1).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .atomic import atomic_path
from .dataset import TABLES, Dataset

__all__ = [
    "ROW_GROUP_ROWS",
    "LeaTables",
    "write_by_lea",
    "write_sorted",
    "read_lea",
    "in_table_order",
    "read_in_table_order",
    "read_where",
    "write_lea_tables",
    "light_dataset",
    "packet_results",
    "packet_indicators",
    "write_indicators",
]

#: Rows per Parquet row group: a filtered read of one LEA decodes about this many rows.
ROW_GROUP_ROWS = 16_384
#: Row groups converted from pandas to Arrow at once when writing (bounds the copy made).
CONVERT_GROUPS = 8


@dataclass(frozen=True)
class LeaTables:
    """The files of a batch's per-LEA tables in ``folder``."""

    folder: Path

    @property
    def meta(self) -> Path:
        """The data set's name, flags and notes (``dataset.yaml`` as validated)."""
        return self.folder / "dataset.json"

    @property
    def leas(self) -> Path:
        return self.folder / "leas.parquet"

    @property
    def detail(self) -> Path:
        """``detail.csv`` as validated, sorted by LEA (absent when the data set has none)."""
        return self.folder / "detail.parquet"

    @property
    def schools(self) -> Path:
        """``schools.csv`` as validated (absent when the data set has none)."""
        return self.folder / "schools.parquet"

    @property
    def indicators(self) -> Path:
        """The statewide indicator results sorted by LEA (absent when the data set has none),
        for :func:`packet_indicators`."""
        return self.folder / "indicators.parquet"

    @property
    def funnels(self) -> Path:
        """The results of the school years that are some LEA's latest, sorted by school year
        and category: a funnel plot's rows (every LEA's rows of one category in the LEA's
        latest year) are a few row groups of it."""
        return self.folder / "funnels.parquet"


def write_sorted(
    frame: pd.DataFrame, path: Path, by: Sequence[str], rows: np.ndarray | None = None
) -> Path:
    """Write ``frame`` (or its ``rows``, a boolean mask) to Parquet sorted by ``by``,
    atomically, in row groups of :data:`ROW_GROUP_ROWS` rows.

    The sort is stable and each row keeps its position in ``frame`` as the file's index, so
    any rows read back and sorted by their index are in ``frame``'s order (what a filter of
    ``frame`` gives). Rows are converted a row group at a time: the copy made here is one row
    group, not the table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.reset_index(drop=True)
    if rows is not None:
        frame = frame[rows]  # each row keeps its position in the whole frame
    codes = [pd.factorize(frame[c].astype(str), sort=True)[0] for c in reversed(by)]
    order = np.lexsort(codes)  # stable: ties keep their order
    schema = pa.Schema.from_pandas(frame, preserve_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    step = ROW_GROUP_ROWS * CONVERT_GROUPS
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, max(len(order), 1), step):
            chunk = frame.take(order[start : start + step])
            table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=True)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    return path


def write_by_lea(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` sorted by ``lea_id``, for :func:`read_lea` (see :func:`write_sorted`)."""
    return write_sorted(frame, path, ["lea_id"])


def in_table_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows read from :func:`write_sorted` files back in the order of the table written."""
    return frame.sort_index(kind="stable").reset_index(drop=True)


def read_in_table_order(
    path: Path, columns: Sequence[str] | None = None, *, latest_year: bool = False
) -> pd.DataFrame:
    """A whole Parquet table (or some of its columns), rows in the order of the table written
    (:func:`write_sorted` files are put back in order in Arrow, before pandas sees them).

    ``latest_year``: only the rows of the latest ``school_year`` (found from the row groups'
    statistics when they have them).
    """
    import pyarrow.parquet as pq

    filters = None
    if latest_year:
        meta = pq.ParquetFile(path).metadata
        at = meta.schema.to_arrow_schema().get_field_index("school_year")
        stats = [meta.row_group(i).column(at).statistics for i in range(meta.num_row_groups)]
        if stats and all(s is not None and s.has_min_max for s in stats):
            latest = max(str(s.max) for s in stats)
        else:
            years = pq.read_table(path, columns=["school_year"]).column(0)
            latest = max(map(str, years.unique().to_pylist()), default="")
        filters = [("school_year", "==", latest)]
    table = pq.read_table(
        path, columns=list(columns) if columns else None, filters=filters,
        use_pandas_metadata=True,
    )  # fmt: skip
    meta = table.schema.pandas_metadata or {}
    stored = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    if len(stored) == 1:
        table = table.sort_by(stored[0])
        return table.to_pandas().reset_index(drop=True)
    return table.to_pandas()


def read_where(
    path: Path, filters: list[Any], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The rows of a Parquet file that pass ``filters`` (pyarrow's DNF form), pandas dtypes
    as written. Row groups whose statistics rule the filter out are not read."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, filters=filters, columns=list(columns) if columns else None)
    return in_table_order(table.to_pandas())


def read_lea(path: Path, lea_id: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One LEA's rows of a table written by :func:`write_by_lea`."""
    return read_where(path, [("lea_id", "==", str(lea_id))], columns)


def write_lea_tables(dataset: Dataset, results: pd.DataFrame, tables: LeaTables) -> None:
    """Write what the packets read of the data set and the results into ``tables``.

    ``leas``, the data set's name and flags, ``detail`` sorted by LEA and ``schools`` (a file
    is removed when the data set has no such table, so the folder always matches the data set),
    and the results of every LEA's latest school year sorted by school year and category
    (:attr:`LeaTables.funnels`: a packet's funnel plots show its latest year).
    """
    tables.folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": dataset.name,
        "is_synthetic": bool(dataset.is_synthetic),
        "description": dataset.description,
        "notes": list(dataset.notes),
    }
    with atomic_path(tables.meta) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    with atomic_path(tables.leas) as tmp:
        dataset.leas.to_parquet(tmp, index=False)
    if dataset.detail is None:
        tables.detail.unlink(missing_ok=True)
    else:
        write_by_lea(dataset.detail, tables.detail)
    if dataset.schools is None:
        tables.schools.unlink(missing_ok=True)
    else:
        with atomic_path(tables.schools) as tmp:
            dataset.schools.to_parquet(tmp, index=False)
    latest = set(results.groupby("lea_id")["school_year"].max().astype(str))
    funnel_rows = results["school_year"].astype(str).isin(latest).to_numpy()
    write_sorted(results, tables.funnels, ["school_year", "category"], rows=funnel_rows)


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLES[table].columns})


def light_dataset(data_dir: Path, tables: LeaTables, lea_id: str | None = None) -> Dataset:
    """The data set as a packet of ``lea_id`` sees it, from a batch's :class:`LeaTables`.

    ``leas``, the name, flags and notes of the validated data set, and ``lea_id``'s rows of
    ``detail`` (and the ``schools`` those rows name); the count tables are empty (the packets
    read the statewide results instead), so nothing is validated again. ``lea_id`` ``None``:
    no detail rows (the state overview).
    """
    meta = json.loads(tables.meta.read_text(encoding="utf-8"))
    detail = schools = None
    if tables.detail.is_file():
        # no LEA (the state overview): no rows, and no row group read
        detail = read_lea(tables.detail, lea_id or "")
    if tables.schools.is_file():
        schools = pd.read_parquet(tables.schools)
        if detail is not None:
            named = detail.loc[detail["dimension"] == "school", "value"].unique()
            schools = schools[schools["school_code"].isin(named)].reset_index(drop=True)
    return Dataset(
        path=data_dir,
        leas=pd.read_parquet(tables.leas),
        enrollment=_empty("enrollment"),
        child_count=_empty("child_count"),
        environments=None,
        discipline=None,
        detail=detail,
        schools=schools,
        name=str(meta["name"]),
        is_synthetic=bool(meta["is_synthetic"]),
        description=str(meta["description"]),
        notes=tuple(meta["notes"]),
    )


def packet_results(results_path: Path, tables: LeaTables, lea_id: str) -> pd.DataFrame:
    """The rows of the results table one LEA's packet shows, in the table's order.

    The LEA's own rows (every year), and every LEA's rows of the latest year's categories the
    LEA exceeds the threshold in: the funnel plots' rows (a funnel plot compares the LEA with
    every LEA in one category and year, :func:`cimrca.charts.funnel_plot`). Any filter of the
    LEA's rows, or of one such category and year, equals the same filter of the whole table.
    """
    import pyarrow.parquet as pq

    lea = pq.read_table(results_path, filters=[("lea_id", "==", str(lea_id))]).to_pandas()
    if lea.empty:
        return lea.reset_index(drop=True)
    years = lea["school_year"].astype(str)
    flagged = lea["exceeds_threshold"].fillna(False).astype(bool) & (years == years.max())
    categories = sorted(lea.loc[flagged, "category"].astype(str).unique())
    parts = [lea]
    if categories:
        filters = [("school_year", "==", years.max()), ("category", "in", categories)]
        others = pq.read_table(tables.funnels, filters=filters).to_pandas()
        parts.append(others[others["lea_id"].astype(str) != str(lea_id)])
    return in_table_order(pd.concat(parts))


def write_indicators(indicator_results: pd.DataFrame | None, tables: LeaTables) -> None:
    """Write the statewide indicator results sorted by LEA into ``tables`` (or remove the file
    when there are none), for :func:`packet_indicators`."""
    if indicator_results is None:
        tables.indicators.unlink(missing_ok=True)
    else:
        write_by_lea(indicator_results, tables.indicators)


def packet_indicators(tables: LeaTables, lea_id: str, years: Iterable[str]) -> pd.DataFrame:
    """The rows of the statewide indicator results one LEA's packet uses, in the table's order.

    Read from :attr:`LeaTables.indicators`. The rows are the LEA's own (every year); every
    LEA's rows of ``years`` (the packet's review year, whose State rates the Indicators rows
    show, and the year its monitoring reasons rank it among every LEA,
    :func:`cimrca.monitoring.reason_indicators`); and every row of a school year in which the
    LEA has none, so that the school years present are the table's
    (:func:`cimrca.indicators.indicator_sheet` has a column for each). Any filter of the LEA's
    rows, or of one of those school years, equals the same filter of the whole table. The
    school years' rows are read once per process while the file is unchanged (a warm kernel
    runs LEA after LEA of the same review year); a process holds those, not the whole table.
    """
    import pyarrow.parquet as pq

    path = tables.indicators
    lea = str(lea_id)
    own = pq.read_table(path, filters=[("lea_id", "==", lea)]).to_pandas()  # index: the place
    stat = path.stat()
    stamp = (str(path), stat.st_mtime_ns, stat.st_size)
    every_year = _school_years(stamp)
    wanted = (
        set(map(str, years)) | (every_year - set(own["school_year"].astype(str)))
    ) & every_year
    others = _year_rows(stamp, tuple(sorted(wanted)))
    others = others[others["lea_id"].astype(str) != lea]
    return in_table_order(pd.concat([own, others]))


@functools.lru_cache(maxsize=2)
def _school_years(stamp: tuple[str, int, int]) -> set[str]:
    import pyarrow.parquet as pq

    years = pq.read_table(stamp[0], columns=["school_year"]).column(0)
    return set(map(str, years.unique().to_pylist()))


@functools.lru_cache(maxsize=2)
def _year_rows(stamp: tuple[str, int, int], years: tuple[str, ...]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    if not years:
        return pq.read_table(stamp[0]).schema.empty_table().to_pandas()
    table = pq.read_table(stamp[0], filters=[("school_year", "in", list(years))])
    return table.to_pandas()
