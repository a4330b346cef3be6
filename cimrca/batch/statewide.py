"""The statewide tables of a batch: computed once per run, written once, read by every packet."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..dataset import Dataset
from ..indicators import compute_indicators, write_indicator_results
from ..methodology import compute_results, write_results
from ..monitoring import compute_monitoring, write_monitoring
from ..outputs import OutputLayout
from ..profiles import Profile

__all__ = ["Statewide", "prepare_statewide"]


@dataclass(frozen=True, eq=False)
class Statewide:
    """What every packet of a run shares: the data set, the profile and the statewide tables.

    ``indicators`` is ``None`` when the data set has no ``indicators.csv``; ``profile_arg`` is
    the profile as the notebooks receive it (a name, or an absolute YAML path); ``monitoring``
    is the monitoring table (monitoring.md section 3), ``None`` when the profile defines no
    monitoring levels.
    """

    dataset: Dataset
    profile: Profile
    profile_arg: str
    results: pd.DataFrame
    indicators: pd.DataFrame | None
    monitoring: pd.DataFrame | None = None

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
    dataset: Dataset, profile: Profile, profile_arg: str, out: OutputLayout
) -> Statewide:
    """Compute the statewide results and indicator results once and write them into ``out``.

    Writes ``results.csv`` (the contract, outputs.md section 2), ``results.parquet`` (what the
    notebooks read), when the data set has indicators, ``indicators.parquet``, and, when the
    profile has a ``monitoring`` section, ``monitoring.csv`` (monitoring.md section 3); each
    atomically through a temporary file of this process's own, so shards writing the same table
    at once never mix their bytes.
    """
    results = compute_results(dataset, profile)
    write_results(results, out.results_csv)
    write_results(results, out.results_parquet)
    indicators = None
    if dataset.indicators is not None:
        indicators = compute_indicators(dataset.indicators, dataset.targets)
        write_indicator_results(indicators, out.indicators)
    monitoring = None
    if profile.monitoring is not None:
        monitoring = compute_monitoring(dataset, results, indicators, profile)
        write_monitoring(monitoring, out.monitoring)
    return Statewide(dataset, profile, profile_arg, results, indicators, monitoring)
