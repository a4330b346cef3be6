"""The statewide tables of a batch: computed once per run, written once, read by every packet."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..dataset import Dataset
from ..indicators import compute_indicators, write_indicator_results
from ..methodology import compute_results, write_results
from ..outputs import OutputLayout
from ..profiles import Profile

__all__ = ["Statewide", "prepare_statewide"]


@dataclass(frozen=True, eq=False)
class Statewide:
    """What every packet of a run shares: the data set, the profile and the statewide tables.

    ``indicators`` is ``None`` when the data set has no ``indicators.csv``; ``profile_arg`` is
    the profile as the notebooks receive it (a name, or an absolute YAML path).
    """

    dataset: Dataset
    profile: Profile
    profile_arg: str
    results: pd.DataFrame
    indicators: pd.DataFrame | None


def prepare_statewide(
    dataset: Dataset, profile: Profile, profile_arg: str, out: OutputLayout
) -> Statewide:
    """Compute the statewide results and indicator results once and write them into ``out``.

    Writes ``results.csv`` (the contract, outputs.md section 2), ``results.parquet`` (what the
    notebooks read) and, when the data set has indicators, ``indicators.parquet``; each
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
    return Statewide(dataset, profile, profile_arg, results, indicators)
