"""Shared test helpers: small canonical data sets built in code, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
RACES = ["HI", "AM", "AS", "BL", "PI", "WH", "MU"]

os.environ.setdefault("MPLBACKEND", "Agg")


def lea_id(i: int) -> str:
    return f"{100000 + i:07d}"


def ident_tables(counts, state=None, *, disability="ID"):
    """Canonical tables in which ``ident_<disability>`` has the given counts.

    counts: {(school_year, lea_id): {race: (children with the disability, enrolled)}}; a count
    of None is written as an empty (missing) cell. state: {school_year: {race: (N, D)}} written
    to state_totals (child_count with that disability, and enrollment), or None for sums.
    """
    enrollment, child = [], []
    for (year, lea), groups in counts.items():
        for race, (n, d) in groups.items():
            enrollment.append(
                {"school_year": year, "lea_id": lea, "race_ethnicity": race, "count": d}
            )
            child.append({"school_year": year, "lea_id": lea, "race_ethnicity": race,
                          "disability": disability, "count": n})  # fmt: skip
    leas = sorted({lea for _, lea in counts})
    tables = {
        "leas": pd.DataFrame({"lea_id": leas, "lea_name": [f"LEA {x}" for x in leas]}),
        "enrollment": pd.DataFrame(enrollment, columns=["school_year", "lea_id", "race_ethnicity", "count"]),
        "child_count": pd.DataFrame(child, columns=["school_year", "lea_id", "race_ethnicity", "disability", "count"]),
        "environments": pd.DataFrame(columns=["school_year", "lea_id", "race_ethnicity", "environment", "count"]),
        "discipline": pd.DataFrame(columns=["school_year", "lea_id", "race_ethnicity", "removal_type", "count"]),
    }  # fmt: skip
    if state is not None:
        rows = []
        for year, groups in state.items():
            for race, (n, d) in groups.items():
                rows.append(
                    {
                        "school_year": year,
                        "table": "enrollment",
                        "race_ethnicity": race,
                        "code": "",
                        "count": d,
                    }
                )
                rows.append({"school_year": year, "table": "child_count", "race_ethnicity": race, "code": disability, "count": n})  # fmt: skip
        tables["state_totals"] = pd.DataFrame(rows)
    return tables


def write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """Write tables as canonical CSVs (the way a data team's export would look)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        out = frame.copy()
        for column in out.columns:
            if column in ("count", "numerator", "denominator"):
                out[column] = out[column].map(lambda v: "" if pd.isna(v) else str(int(v)))
        out.to_csv(folder / f"{name}.csv", index=False)
    return folder


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python -m cimrca ARGS`` as a real subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cimrca", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
    )


@pytest.fixture
def profile():
    """An explicit test profile (tests never rely on the shipped California values)."""
    from cimrca.profiles import load_profile

    return load_profile({"name": "test", "threshold": 3.0, "min_cell": 10, "min_n": 20})
