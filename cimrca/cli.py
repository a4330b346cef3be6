"""The ``cimrca`` command line: parses arguments, calls the package, reports.

Exit status: 0 success, 1 when some LEAs failed in a batch, 2 for bad input or usage.
User errors (:class:`~cimrca.errors.CimrcaError`) print plain lines on stderr without a
traceback unless ``--debug`` is given. Heavy modules are imported inside the handlers so that
``cimrca --help`` and ``cimrca compute`` start fast.
"""

from __future__ import annotations

import argparse
import errno
import sys
import textwrap
from pathlib import Path

from . import __version__
from .errors import CimrcaError, UsageError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cimrca",
        description=(
            "Significant-disproportionality risk ratios (34 CFR 300.647), SPP/APR indicator "
            "trends and per-LEA root-cause packets for California's Compliance and Improvement "
            "Monitoring (CIM)."
        ),
        epilog="Run `cimrca COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"cimrca {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a full traceback for errors (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # --- sample -------------------------------------------------------------------------------
    p = sub.add_parser(
        "sample",
        help="write a synthetic canonical data set",
        description="Write a seeded synthetic California-like data set (every canonical table).",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to write the CSVs into")
    p.add_argument("--leas", type=int, default=50, metavar="N", help="number of LEAs (default 50)")
    p.add_argument("--years", type=int, default=5, metavar="K", help="school years (default 5)")
    p.add_argument("--seed", type=int, default=2024, metavar="S", help="random seed (default 2024)")
    p.set_defaults(handler=_cmd_sample)

    # --- validate -----------------------------------------------------------------------------
    p = sub.add_parser(
        "validate",
        help="load and validate a data set; print every problem",
        description="Load a canonical data set and check every rule of data.md section 1. "
        "Prints every problem with file, row, column and value; exit status 2 if any.",
    )
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder of canonical CSVs")
    p.set_defaults(handler=_cmd_validate)

    # --- compute ------------------------------------------------------------------------------
    p = sub.add_parser(
        "compute",
        help="statewide results table of risk ratios and determinations",
        description="Compute every risk ratio, alternate risk ratio and multi-year determination "
        "for every LEA, and write the results table (.csv or .parquet by extension).",
    )
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder of canonical CSVs")
    p.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="results .csv or .parquet"
    )
    _add_profile(p)
    p.set_defaults(handler=_cmd_compute)

    # --- monitoring ---------------------------------------------------------------------------
    p = sub.add_parser(
        "monitoring",
        help="monitoring level of every LEA and school year (who needs CIM, and why)",
        description="Compute every LEA's monitoring level in every school year (Universal, "
        "Targeted 1-3, Intensive 1-3, cyclical) from the profile's monitoring rules, with "
        "significant disproportionality and the reasons, and write monitoring.csv "
        "(.csv or .parquet by extension). The Annual Determination Letter is the official level.",
    )
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder of canonical CSVs")
    p.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="monitoring .csv or .parquet"
    )
    _add_profile(p)
    p.set_defaults(handler=_cmd_monitoring)

    # --- import -------------------------------------------------------------------------------
    from .importers.registry import KINDS

    p = sub.add_parser(
        "import",
        help="convert real CDE / IDEA 618 files or a student roster into canonical tables",
        description=textwrap.fill(
            "Convert real public files or a student roster into canonical tables in DATA_DIR, "
            "merging with what is there; a value that differs from one already stored is an "
            "error naming both sources."
        ),
        epilog="kinds:\n"
        + "\n".join(
            f"  {k.name}\n"
            + textwrap.fill(k.description, initial_indent=" " * 6, subsequent_indent=" " * 6)
            for k in KINDS.values()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "kind", choices=tuple(KINDS), metavar="KIND", help="the kind of file (kinds below)"
    )
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="files to import")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DATA_DIR", help="canonical data folder"
    )
    p.add_argument(
        "--mapping", type=Path, metavar="YAML", help="roster only: YAML mapping of column names"
    )
    p.add_argument(
        "--spedps-level",
        choices=("D", "A"),
        default="D",
        help="cde-spedps only: read reporting-district rows (D, default) or district of "
        "special-education accountability rows (A)",
    )
    p.set_defaults(handler=_cmd_import)

    # --- batch --------------------------------------------------------------------------------
    p = sub.add_parser(
        "batch",
        help="per-LEA packets: workbook, executed notebook, HTML",
        description="Run the packet notebook for each LEA and write OUT_DIR/leas/<lea_id>/ with "
        "the root-cause workbook, the executed notebook, the HTML packet and a findings JSON; "
        "also results.csv, monitoring.csv, manifest.csv and the state overview.",
    )
    p.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folder of canonical CSVs")
    p.add_argument("--out", type=Path, required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument(
        "--lea",
        action="append",
        default=[],
        metavar="ID",
        help="an LEA to run (repeatable; default all)",
    )
    p.add_argument("--selpa", metavar="NAME", help="run the LEAs whose selpa in leas.csv is NAME")
    p.add_argument(
        "--jobs", type=int, metavar="N",
        help="parallel workers (default: one per core, as many as the free memory holds)",
    )  # fmt: skip
    _add_profile(p)
    p.add_argument(
        "--shard", metavar="I/N", help="run the I-th of N disjoint slices of the LEAs (1-based)"
    )
    p.add_argument("--force", action="store_true", help="redo LEAs whose inputs are unchanged")
    p.add_argument(
        "--annotations",
        type=Path,
        metavar="DB",
        help="annotation store (default OUT_DIR/annotations.sqlite)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask distributed scheduler address (needs the dask extra)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wall-clock limit per LEA (default 600)",
    )
    p.add_argument(
        "--cim-only",
        action="store_true",
        help="only the LEAs required to complete CIM in the latest year (monitoring.csv); "
        "combines with --lea, --selpa and --shard",
    )
    p.add_argument(
        "--public",
        action="store_true",
        help="also write each LEA's packet for sharing (leas/<lea>/<lea>_public.html and "
        "_public_findings.json): small counts suppressed (profile key "
        "suppress_public_counts_below), no notes",
    )
    p.set_defaults(handler=_cmd_batch)

    # --- annotations --------------------------------------------------------------------------
    p = sub.add_parser(
        "annotations",
        help="harvest, export or import consultants' annotations",
        description="Work with the annotation store that keeps consultants' notes across re-runs.",
    )
    asub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = asub.add_parser(
        "harvest",
        help="read consultants' edits back from the workbooks",
        description="Read every workbook under OUT_DIR/leas and record new and changed annotations.",
    )
    a.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    a.add_argument(
        "--annotations", type=Path, metavar="DB", help="store (default OUT_DIR/annotations.sqlite)"
    )
    a.set_defaults(handler=_cmd_annotations_harvest)
    a = asub.add_parser(
        "export",
        help="write the store's current annotations to CSV or .xlsx",
        description="Write the store's current annotations to a CSV file (values that a "
        "spreadsheet would run as a formula get a leading apostrophe, which import removes) or "
        "to an .xlsx workbook of text cells.",
    )
    a.add_argument("db", type=Path, metavar="DB")
    where = a.add_mutually_exclusive_group(required=True)
    where.add_argument("--csv", type=Path, metavar="FILE", help="write a CSV file")
    where.add_argument(
        "--xlsx", type=Path, metavar="FILE", help="write an .xlsx workbook of text-formatted cells"
    )
    a.add_argument(
        "--history",
        action="store_true",
        help="write every value ever recorded (value, kind, source, time), not only current ones",
    )
    a.set_defaults(handler=_cmd_annotations_export)
    a = asub.add_parser(
        "import",
        help="load annotations from CSV (same conflict rules as harvest)",
        description="Load annotations from a CSV written by `export`; conflicts follow the "
        "harvest rules. Every row is checked first (status, reviewed_on, finding key, LEA); "
        "nothing is imported if one is bad.",
    )
    a.add_argument("db", type=Path, metavar="DB")
    a.add_argument("--csv", type=Path, required=True, metavar="FILE")
    a.add_argument(
        "--create", action="store_true", help="create the store DB if it does not exist yet"
    )
    a.add_argument(
        "--data",
        type=Path,
        metavar="DATA_DIR",
        help="also refuse LEAs that are not in this data set's leas.csv",
    )
    a.set_defaults(handler=_cmd_annotations_import)
    return parser


def _add_profile(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default="california",
        metavar="NAME_OR_YAML",
        help="state profile: a shipped name (california, federal_defaults) or a YAML path (default california)",
    )


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sample import write_sample

    for line in write_sample(args.out_dir, n_leas=args.leas, n_years=args.years, seed=args.seed):
        print(line)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .dataset import load_dataset

    ds = load_dataset(args.data_dir)
    print(ds.describe())
    return 0


def _cmd_compute(args: argparse.Namespace) -> int:
    from .dataset import load_dataset
    from .methodology import compute_results, write_results
    from .profiles import load_profile

    out = Path(args.out)
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise UsageError(f"--out must end in .csv or .parquet, found {out.name!r}.")
    profile = load_profile(args.profile)
    ds = load_dataset(args.data_dir)
    results = compute_results(ds, profile)
    for note in results.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    write_results(results, out)
    n_ident = results.loc[results["significantly_disproportionate"], "lea_id"].nunique()
    print(
        f"wrote {len(results):,} rows for {results['lea_id'].nunique():,} LEAs to {out} "
        f"(profile {profile.name}; {n_ident} LEA(s) significantly disproportionate)"
    )
    return 0


def _cmd_monitoring(args: argparse.Namespace) -> int:
    from .dataset import load_dataset
    from .methodology import compute_results
    from .monitoring import LEVELS, compute_monitoring, monitoring_rules, write_monitoring
    from .profiles import load_profile

    out = Path(args.out)
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise UsageError(f"--out must end in .csv or .parquet, found {out.name!r}.")
    profile = load_profile(args.profile)
    monitoring_rules(profile)  # a profile without the section stops here, before any work
    ds = load_dataset(args.data_dir)
    monitoring = compute_monitoring(ds, compute_results(ds, profile), None, profile)
    write_monitoring(monitoring, out)
    latest = monitoring[monitoring["school_year"] == monitoring["school_year"].max()]
    counts = latest["level"].value_counts()
    summary = ", ".join(f"{level} {counts[level]}" for level in LEVELS if level in counts)
    print(
        f"wrote {len(monitoring):,} rows for {monitoring['lea_id'].nunique():,} LEAs to {out} "
        f"(profile {profile.name}); {latest['school_year'].max() if len(latest) else 'no year'}: "
        f"{summary or 'no LEA'}; {int(latest['cim_required'].sum())} need CIM. Computed from the "
        "profile's rules; the Annual Determination Letter is the official level."
    )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from .importers import import_files

    for line in import_files(
        args.kind, args.paths, args.out, mapping=args.mapping, spedps_level=args.spedps_level
    ):
        print(line)
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from .processes import use_system_allocator

    use_system_allocator()  # before pyarrow is imported; the workers and kernels inherit it
    from .batch import run_batch_cli

    return run_batch_cli(args)


def _cmd_annotations_harvest(args: argparse.Namespace) -> int:
    from .annotations import harvest_cli

    return harvest_cli(args)


def _cmd_annotations_export(args: argparse.Namespace) -> int:
    from .annotations import export_cli

    return export_cli(args)


def _cmd_annotations_import(args: argparse.Namespace) -> int:
    from .annotations import import_cli

    return import_cli(args)


#: Errors of a write the user can fix: no space, quota, read-only medium, permission.
_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS, errno.EACCES, errno.EPERM}
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cimrca`` command. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except CimrcaError as exc:
        if args.debug:
            raise
        print(f"cimrca {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        again = (
            "; run the same command again to continue (finished LEAs are kept and skipped)"
            if args.command == "batch"
            else ""
        )
        print(f"cimrca: interrupted{again}", file=sys.stderr)
        return 130
    except OSError as exc:
        # a full disk, a read-only medium or a refused write met while writing outputs: one
        # line naming the file (outputs.md section 5.1); any other OSError is a bug to report
        if args.debug or exc.errno not in _WRITE_ERRNOS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"cimrca {args.command}: error: {exc.strerror or exc}{where}. Free space or fix the "
            "folder's permissions, then re-run; finished packets and stored notes are kept.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
