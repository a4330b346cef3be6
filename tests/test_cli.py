"""The command line as a user meets it: help, version, compute, exit statuses."""

from __future__ import annotations

import pandas as pd
import pytest

from cimrca import __version__

from .conftest import SAMPLE, run_cli


def test_version_and_help():
    assert run_cli("--version").stdout.strip() == f"cimrca {__version__}"
    top = run_cli("--help")
    assert top.returncode == 0
    for command in ("sample", "validate", "compute", "import", "batch", "annotations"):
        assert command in top.stdout
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "usage: cimrca" in sub.stdout, command
    for action in ("harvest", "export", "import"):
        assert run_cli("annotations", action, "--help").returncode == 0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_compute_writes_the_results_table(tmp_path, suffix):
    out = tmp_path / f"results{suffix}"
    done = run_cli("compute", str(SAMPLE), "--out", str(out), "--profile", "california")
    assert done.returncode == 0, done.stderr
    assert "significantly disproportionate" in done.stdout
    results = pd.read_csv(out, dtype={"lea_id": str}) if suffix == ".csv" else pd.read_parquet(out)
    assert len(results) == 50 * 5 * 14 * 7
    assert results["significantly_disproportionate"].any()
    assert {"risk_ratio", "alternate_risk_ratio", "not_calculated"} <= set(results["ratio_type"])
    assert set(results["reason"].fillna("")) >= {
        "", "missing_input", "group_below_min_cell", "group_below_min_n", "comparison_below_min"}  # fmt: skip


def test_usage_errors_exit_2(tmp_path):
    bad_out = run_cli("compute", str(SAMPLE), "--out", str(tmp_path / "r.xlsx"))
    assert bad_out.returncode == 2 and "--out must end in .csv or .parquet" in bad_out.stderr
    bad_profile = run_cli(
        "compute", str(SAMPLE), "--out", str(tmp_path / "r.csv"), "--profile", "mars"
    )
    assert bad_profile.returncode == 2 and "unknown profile 'mars'" in bad_profile.stderr
    assert "Traceback" not in bad_profile.stderr
    no_command = run_cli()
    assert no_command.returncode == 2


def test_debug_shows_traceback(tmp_path):
    done = run_cli("--debug", "compute", str(SAMPLE), "--out", str(tmp_path / "r.txt"))
    assert done.returncode != 0 and "Traceback" in done.stderr
