"""Project plumbing: environment.yml agrees with pyproject.toml; ruff is clean."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import yaml

from .conftest import ROOT


def test_environment_yml_agrees_with_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    minimum = pyproject["project"]["requires-python"].removeprefix(">=")
    assert python.split("=")[-1] >= minimum
    pip = next(d for d in deps if isinstance(d, dict))["pip"]
    assert pip == ["-e .[test]"]
    assert "test" in pyproject["project"]["optional-dependencies"]
    assert "dask" in pyproject["project"]["optional-dependencies"]
    # environment.yml holds no package that pyproject.toml does not declare (one source of truth).
    conda_only = {d.split("=")[0] for d in deps if isinstance(d, str)}
    assert conda_only <= {"python", "pip", "ipykernel"}


def test_ruff_is_clean():
    for args in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "cimrca", "tests", "benchmarks"],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


def _loaded_after(code: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys; {code}; print([m for m in {modules!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip() or done.stderr


def test_cli_starts_without_heavy_imports():
    heavy = ("pandas", "statsmodels", "matplotlib", "scipy", "nbconvert")
    assert _loaded_after("import cimrca.cli as c; c.build_parser()", heavy) == "[]"


def test_batch_worker_starts_without_the_packet_libraries():
    """A local batch worker runs papermill and nbconvert, not the packet: pandas, numpy,
    pyarrow and matplotlib load in its kernel only (issue 13: memory per extra job)."""
    code = (
        "import cimrca.batch.workers as w; w._skip_iri_grammar(); w._skip_hdfs_support(); "
        "w._warm_worker_imports(); import papermill.iorw, nbconvert"
    )
    assert _loaded_after(code, ("pandas", "numpy", "pyarrow", "matplotlib")) == "[]"
