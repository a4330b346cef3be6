"""Importer for the federal IDEA Section 618 state child count and educational environments file.

``bchildcountandedenvironmentsYYYY-YY.csv`` (U.S. Department of Education) has a 4-line
preamble, then one row per state x educational environment x disability category with counts by
age, and by race for ages 3-5 and 6-21. :func:`read_state_environments` turns a state's
"All Disabilities" rows of the eight school-age environments into ``state_totals.csv`` rows
(table ``environments``, ages 6-21, by race). ``-`` marks a cell that does not apply to its row.

No importer exists for the IDEA 618 LEA child-count file (spec README, decision 6): it has no
race breakdown.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ImportError_
from .common import (
    ROW,
    ImportedFile,
    finalise,
    normalise_header,
    normalise_school_year,
    parse_counts,
    read_delimited,
    require_columns,
)

__all__ = ["FEDERAL_ENVIRONMENTS", "FEDERAL_RACES", "read_state_environments"]

#: The eight school-age (6-21) environment rows, by normalised name, to canonical codes.
#: The 3-5 rows ("Separate School, Age 3-5", "Home", "Separate Class", ...) are early
#: childhood settings and are not imported.
FEDERAL_ENVIRONMENTS: dict[str, str] = {
    normalise_header("Inside regular class 80% or more of the day"): "RC80",
    normalise_header("Inside regular class 40% through 79% of the day"): "RC40_79",
    normalise_header("Inside regular class less than 40% of the day"): "RC_LT40",
    normalise_header("Separate School, Age 6-21"): "SEP_SCHOOL",
    normalise_header("Residential Facility, Age 6-21"): "RESIDENTIAL",
    normalise_header("Homebound/Hospital"): "HOMEBOUND_HOSPITAL",
    normalise_header("Correctional Facilities"): "CORRECTIONAL",
    normalise_header("Parentally Placed in Private Schools"): "PRIVATE_PARENT",
}
#: The row holding the file's own 6-21 total, used as a check.
TOTAL_6_21 = normalise_header("Total, Age 6-21")
#: Federal race column prefixes (normalised) to canonical codes.
FEDERAL_RACES: dict[str, str] = {
    "americanindianoralaskanative": "AM",
    "asian": "AS",
    "blackorafricanamerican": "BL",
    "hispanic/latino": "HI",
    "nativehawaiianorotherpacificislander": "PI",
    "twoormoreraces": "MU",
    "white": "WH",
}
ALL_DISABILITIES_LABEL = normalise_header("All Disabilities")
_RACE_6_21 = re.compile(r"^(?P<race>.+?)age(s)?6(to|-|through)21$")
_WHAT = "IDEA 618 state child count and educational environments file"


def read_state_environments(path: Path, *, state: str = "California") -> ImportedFile:
    """Read a state's school-age environments by race into ``state_totals`` rows.

    Parameters
    ----------
    path : Path
        ``bchildcountandedenvironmentsYYYY-YY.csv`` (4-line preamble, then the header).
    state : str
        The ``State Name`` whose rows are read.

    Returns
    -------
    ImportedFile
        ``state_totals`` rows: table ``environments``, the eight school-age environments, the
        seven races, ``Year`` 2017 as ``2017-18``.

    Notes
    -----
    Only ``SEA Disability Category`` = "All Disabilities" rows are used. The eight
    environment rows must add up to the file's own ``Total, Age 6-21`` row for each race; a
    difference is reported in the summary.
    """

    raw = read_delimited(path, sep=",", header_starts="Year")
    cols = require_columns(
        raw,
        {
            "year": ("year",),
            "state": ("statename",),
            "environment": ("seaeducationenvironment",),
            "disability": ("seadisabilitycategory",),
        },
        _WHAT,
    )
    race_cols: dict[str, str] = {}
    for column in raw.frame.columns:
        m = _RACE_6_21.match(column)
        if m and m.group("race") in FEDERAL_RACES:
            race_cols[FEDERAL_RACES[m.group("race")]] = column
    missing = sorted(set(FEDERAL_RACES.values()) - set(race_cols))
    if missing:
        raise ImportError_(
            f"{raw.path} does not look like an {_WHAT}: no ages 6-21 race column for "
            f"{', '.join(missing)} (expected headers like 'White Age 6 to21'). Check the KIND "
            "given to `cimrca import`.",
            file=raw.path,
        )
    f = raw.frame
    rows = raw.rows()
    in_state = f[cols["state"]].str.lower().eq(state.lower())
    if not in_state.any():
        raise ImportError_(
            f"{raw.path}: no rows for State Name {state!r}. Check that the file covers it.",
            file=raw.path,
            column="State Name",
        )
    env_key = f[cols["environment"]].map(normalise_header)
    all_dis = f[cols["disability"]].map(normalise_header).eq(ALL_DISABILITIES_LABEL)
    pick = in_state & all_dis & env_key.isin(FEDERAL_ENVIRONMENTS)
    total_pick = in_state & all_dis & env_key.eq(TOTAL_6_21)
    years = normalise_school_year(f[cols["year"]], rows, path=raw.path, column="Year")
    keep = pick | total_pick
    wide = f.loc[keep, list(race_cols.values())].rename(
        columns={c: r for r, c in race_cols.items()}
    )
    wide = wide.assign(school_year=years[keep], env=env_key[keep], **{ROW: rows[keep]})
    long_ = wide.melt(
        id_vars=["school_year", "env", ROW], var_name="race_ethnicity", value_name="cell"
    )
    counts, suppressed = parse_counts(
        long_["cell"], long_[ROW], path=raw.path, column="race, ages 6-21", not_applicable=True
    )
    long_["count"] = counts
    is_total = long_["env"].eq(TOTAL_6_21)
    out = long_.loc[~is_total].assign(
        table="environments", code=lambda d: d["env"].map(FEDERAL_ENVIRONMENTS)
    )
    notes: list[str] = []
    absent = sorted(set(FEDERAL_ENVIRONMENTS.values()) - set(out["code"]))
    if absent:
        notes.append(f"environment row(s) not in the file for {state}: {', '.join(absent)}")
    if is_total.any():
        keys = ["school_year", "race_ethnicity"]
        sums = out.groupby(keys)["count"].sum(min_count=1).rename("sum")
        check = long_.loc[is_total].join(sums, on=keys)
        off = check[check["count"].notna() & check["count"].ne(check["sum"])]
        notes.extend(
            f"{y} {r}: the eight environments add up to {g:,.0f}, the file's Total, "
            f"Age 6-21 is {t:,.0f}"
            for y, r, g, t in off[[*keys, "sum", "count"]].itertuples(index=False)
        )
        if off.empty:
            notes.append(
                "the eight school-age environments add up to the file's own Total, Age 6-21 "
                f"for every race ({out['count'].sum():,.0f} children ages 6-21 in {state})"
            )
    tables = {"state_totals": finalise(out, "state_totals", raw.path)}
    return ImportedFile(
        "idea618-state-environments",
        raw.path,
        raw.encoding,
        len(f),
        tables,
        suppressed,
        notes,
    )
