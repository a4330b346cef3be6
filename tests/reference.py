"""An independent, deliberately plain implementation of 34 CFR 300.647's rule, for tests.

It follows methodology.md sections 3-4 literally, one row at a time with dictionaries and
loops, sharing no code with cimrca.methodology. Tests compare the two on held-out data.
"""

from __future__ import annotations

import math

RACES = ["HI", "AM", "AS", "BL", "PI", "WH", "MU"]


def year_start(year: str) -> int:
    return int(year[:4])


def reference_results(counts, state, *, min_cell, min_n, threshold, years_required,
                      skip_years=(), progress=None):  # fmt: skip
    """counts: {(year, lea): {race: (N or None, D or None)}} for ONE category.

    state: {year: {race: (N, D)}} (the State's counts for the category).
    progress: None (off) or min_decrease. Returns {(year, lea, race): row dict}.
    """
    rows = {}
    for (year, lea), groups in counts.items():
        any_missing = any(n is None or d is None for n, d in (groups.get(r, (0, 0)) for r in RACES))
        for race in RACES:
            n, d = groups.get(race, (0, 0))
            row = {"ratio_type": "not_calculated", "ratio": None, "reason": ""}
            if any_missing:
                row["reason"] = "missing_input"
            elif n < min_cell:
                row["reason"] = "group_below_min_cell"
            elif d < min_n:
                row["reason"] = "group_below_min_n"
            else:
                nc = sum(groups.get(r, (0, 0))[0] for r in RACES if r != race)
                dc = sum(groups.get(r, (0, 0))[1] for r in RACES if r != race)
                sn = sum(state[year].get(r, (0, 0))[0] for r in RACES if r != race)
                sd = sum(state[year].get(r, (0, 0))[1] for r in RACES if r != race)
                if nc >= min_cell and dc >= min_n:
                    row.update(ratio_type="risk_ratio", ratio=(n / d) / (nc / dc))
                elif sn >= min_cell and sd >= min_n:
                    row.update(ratio_type="alternate_risk_ratio", ratio=(n / d) / (sn / sd))
                else:
                    row["reason"] = "comparison_below_min"
            row["exceeds_threshold"] = row["ratio"] is not None and row["ratio"] > threshold
            rows[(year, lea, race)] = row

    leas = {lea for _, lea in counts}
    all_years = sorted({y for y, _ in counts}, key=year_start)
    first, last = year_start(all_years[0]), year_start(all_years[-1])
    calendar = [f"{y}-{(y + 1) % 100:02d}" for y in range(first, last + 1)]
    for lea in leas:
        for race in RACES:
            run = 0
            kept_ratios = []  # ratios of non-skipped years, in order
            last_identified, last_progress = False, False
            for year in calendar:
                row = rows.get((year, lea, race))
                if year in skip_years:
                    if row is not None:
                        row["consecutive_years"] = run
                        row["significantly_disproportionate"] = last_identified
                        row["reasonable_progress"] = last_progress if progress is not None else None
                    continue
                flagged = row is not None and row["exceeds_threshold"]
                run = run + 1 if flagged else 0
                ratio = row["ratio"] if row is not None else None
                kept_ratios.append(ratio)
                made_progress = False
                if progress is not None and len(kept_ratios) >= 3:
                    r0, r1, r2 = kept_ratios[-1], kept_ratios[-2], kept_ratios[-3]
                    made_progress = (
                        None not in (r0, r1, r2) and r0 < r1 - progress and r1 < r2 - progress
                    )
                identified = run >= years_required and not made_progress
                last_identified, last_progress = identified, made_progress
                if row is not None:
                    row["consecutive_years"] = run
                    row["significantly_disproportionate"] = identified
                    row["reasonable_progress"] = made_progress if progress is not None else None
    return rows


def katz_interval(a, n1, c, n0, z=1.959963984540054):
    """Katz log interval, written out (Bollmer et al. 2014)."""
    rr = (a / n1) / (c / n0)
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    return rr * math.exp(-z * se), rr * math.exp(z * se)
