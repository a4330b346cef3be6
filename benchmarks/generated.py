"""The generated State the benchmarks share: made once by `cimrca sample`, kept in .work/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Where the benchmarks keep what they generate (git-ignored).
WORK = Path(__file__).resolve().parent / ".work"


def generated_state(leas: int, years: int) -> Path:
    """The synthetic State of ``leas`` LEAs x ``years`` school years (seed 7), made on first use.

    A folder made before the generator wrote ``detail.csv`` is made again, so every benchmark
    measures the same, complete data set.
    """
    data = WORK / f"state_{leas}x{years}"
    if not (data / "detail.csv").is_file():
        print(f"generating {leas} LEAs x {years} years into {data} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "cimrca", "sample", str(data), "--leas", str(leas),
             "--years", str(years), "--seed", "7"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return data
