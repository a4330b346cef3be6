"""Small-cell suppression for packets an LEA can share (issue 14, README "Sharing packets").

A public packet never shows a count from 1 to ``suppress_public_counts_below - 1`` (California:
11, so "10 or fewer"), nor a number from which such a count can be worked out. Three steps, each
vectorised over every cell of a table:

1. **Primary suppression.** Every count from 1 to ``below - 1`` is shown as "10 or fewer" (the
   number from the profile). Zero is shown: the State's own files mark a suppressed count ``*``
   (CDE, 10 or fewer) or ``-8`` (IDEA 618) and print zeros (data.md section 2,
   ``shared/data/real``), and a zero names no student.
2. **Complementary suppression.** Counts are cells of additive relations: (a) a group's count
   and its comparison count add up to the LEA's count of all seven groups, and the seven groups'
   counts add up to it too; (b) the slices of a drill-down dimension add up to the LEA's count.
   Where a relation has exactly one hidden (or missing) cell, it could be recovered by
   subtraction, so the smallest shown part of that relation is hidden too ("suppressed to protect
   a small count"); also where every hidden part is small and the known sum of them pins each one
   (they are all 1, or all ``below - 1``). The loop repeats until no relation is exposed; each
   round hides at least one more cell, so it ends within as many rounds as there are cells.
3. **Rates and ratios.** (c) A rate with its denominator gives its numerator: a rate, ratio or
   other measure computed from a hidden count is withheld, or shown as a band that says no more
   than the hidden count does ("21% or less" when 10 or fewer of 48; a ratio as the side of the
   threshold, which the determination states anyway).

The same count shown in several rows (the enrollment of a group is the base of every
identification category; children with disabilities are the outcome of ``ident_all`` and the
base of discipline) is one cell, so it is hidden everywhere or nowhere. State comparison counts
get primary suppression only: CDE publishes State totals unsuppressed (data.md section 2).

:func:`scan_public_text` and :func:`recoverable` are the independent checks a public output
must pass: no count in the suppressed range in its text, and no hidden cell that a relation
gives back.
"""

from __future__ import annotations

import html.parser
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .codes import CATEGORIES, RACES
from .errors import Problem, UsageError

if TYPE_CHECKING:
    from .profiles import Profile

__all__ = [
    "COMPLEMENTARY_TEXT",
    "overlap_text",
    "WITHHELD_TEXT",
    "STATUSES",
    "REASONS",
    "PUBLIC_COLUMNS",
    "PublicTable",
    "suppressed_text",
    "reason_text",
    "suppress_results",
    "suppress_indicators",
    "suppress_slices",
    "suppress_packet",
    "RESULT_INPUT_COLUMNS",
    "SLICE_INPUT_COLUMNS",
    "INDICATOR_INPUT_COLUMNS",
    "scan_public_text",
    "recoverable",
    "spell_small_numbers",
]

#: Display of a count hidden only so that a small count cannot be recovered by subtraction.
COMPLEMENTARY_TEXT = "suppressed to protect a small count"
#: Display of a rate, ratio or measure that would reveal a hidden count.
WITHHELD_TEXT = "withheld"
#: ``status`` of a cell: shown as a number; primary (``suppressed``) or ``complementary``
#: suppression of a count; a measure ``banded`` or ``withheld``; ``missing`` in the data.
#: ``overlap``: a count shown only as "11 or more" because another breakdown of the same
#: finding hides some of its counts (see :func:`overlap_text`).
STATUSES: tuple[str, ...] = (
    "shown", "suppressed", "complementary", "banded", "withheld", "missing", "overlap",
)  # fmt: skip
#: ``reason`` codes (empty for a shown cell); :func:`reason_text` gives the sentence.
REASONS: tuple[str, ...] = ("small_count", "complement", "reveals_hidden_count", "overlap")
#: Columns of :meth:`PublicTable.to_frame` after the input's key columns.
PUBLIC_COLUMNS: tuple[str, ...] = (
    "row", "column", "cell", "number", "status", "display", "reason",
)  # fmt: skip

_HIDDEN = ("suppressed", "complementary", "overlap")
_RESULT_KEYS = ("school_year", "lea_id", "category", "race_ethnicity")
_INDICATOR_KEYS = ("school_year", "lea_id", "indicator")
_SLICE_KEYS = (*_RESULT_KEYS, "dimension", "value")
Format = Literal["count", "percent", "ratio", "points", "number"]


def suppressed_text(below: int) -> str:
    """The display of a count in the suppressed range: ``"10 or fewer"`` for ``below`` 11."""
    return f"{below - 1} or fewer"


def overlap_text(below: int) -> str:
    """The display of a drill-down count withheld because another breakdown of the same
    finding hides counts: ``"11 or more"`` for ``below`` 11 (the count is not small)."""
    return f"{below} or more"


def reason_text(reason: str, *, below: int) -> str:
    """The plain sentence a public packet prints for a ``reason`` code (its note saying why)."""
    texts = {
        "small_count": (
            f'Counts from 1 to {below - 1} are shown as "{suppressed_text(below)}" to protect '
            "the privacy of the students counted."
        ),
        "complement": (
            f'Some larger counts are hidden too ("{COMPLEMENTARY_TEXT}"): otherwise a hidden '
            "small count could be worked out by subtracting the other counts from a total."
        ),
        "reveals_hidden_count": (
            "Rates and ratios computed from a hidden count are shown as a range or withheld, "
            "and whether a target is met is withheld, because the exact number or the "
            "comparison would narrow the count down."
        ),
        "overlap": (
            f"Where one breakdown of a finding (for example its schools) hides some counts, the "
            f'other breakdowns of that finding show their counts only as "{overlap_text(below)}": '
            "a grade band can be the sum of a few schools, so its exact count could give the "
            "hidden school counts back."
        ),
    }
    if reason not in texts:
        raise UsageError(f"unknown suppression reason {reason!r}; use one of {', '.join(REASONS)}.")
    return texts[reason]


@dataclass(frozen=True)
class PublicTable:
    """One table of a public packet after suppression.

    ``cells`` is long: one row per input row x treated column, with the input's key columns
    (:attr:`keys`), then :data:`PUBLIC_COLUMNS`: ``row`` (position in the input), ``column``,
    ``cell`` (the count's identity: one count shown in several rows is one cell; empty for a
    measure), ``number`` (the full-precision value: internal, never to be published), ``status`` (:data:`STATUSES`),
    ``display`` (the text a public output shows) and ``reason`` (:data:`REASONS`, or empty).
    Rows whose ``row`` is missing are the LEA totals the relations use (shown in a packet as
    totals, or derivable from a group and its comparison). ``relations`` lists the additive
    relations: ``relation``, ``cell``, ``role`` (``part`` or ``total``).
    """

    name: str
    keys: tuple[str, ...]
    below: int
    cells: pd.DataFrame = field(repr=False)
    relations: pd.DataFrame = field(repr=False)
    source: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The long frame described on the class (a copy)."""
        return self.cells.copy()

    def display(self) -> pd.DataFrame:
        """The input frame with every treated column replaced by its display text.

        Same rows, same columns, same order as the input; untreated columns (booleans, codes,
        labels) are unchanged. This is what a public table, chart label or JSON shows.
        """
        out = self.source.copy()
        bound = self.cells[self.cells["row"].notna()]
        for column, part in bound.groupby("column", sort=False):
            text = pd.Series("", index=range(len(out)), dtype=object)
            text.iloc[part["row"].astype(int).to_numpy()] = part["display"].to_numpy()
            out[column] = text.to_numpy()
        return out

    def notes(self) -> list[str]:
        """The sentences explaining each kind of suppression present, in :data:`REASONS` order."""
        present = set(self.cells.loc[self.cells["row"].notna(), "reason"])
        return [reason_text(r, below=self.below) for r in REASONS if r in present]


# --- the engine: cells, relations, the complementary loop ------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What one table's suppression needs: its count columns bound to cells, the cells, the
    relations, and for each measure the cells it is computed from."""

    counts: pd.DataFrame  # row, column, cell
    cells: pd.DataFrame  # cell, value
    relations: pd.DataFrame  # relation, cell, role
    deps: pd.DataFrame  # row, column, cell
    formats: Mapping[str, Format]
    #: drill-down counts: cell, group (the LEA count the slices split), dimension, value
    overlaps: pd.DataFrame | None = None


def _statuses(
    cells: pd.DataFrame, relations: pd.DataFrame, *, below: int, start: pd.Series | None = None
) -> pd.Series:
    """Status of every cell (``shown``, ``suppressed``, ``complementary``, ``missing``).

    ``cells``: ``cell`` (unique), ``value``. ``relations``: ``relation``, ``cell``, ``role``.
    Each round finds the exposed relations with one groupby and hides the smallest shown part
    of each (positive parts first, then zeros, then the total); see the module docstring.
    """
    value = cells.set_index("cell")["value"].astype(float)
    status = pd.Series("shown", index=value.index, dtype=object)
    status[value.isna().to_numpy()] = "missing"
    status[((value >= 1) & (value <= below - 1)).to_numpy()] = "suppressed"
    if start is not None:  # statuses decided before (overlaps): kept, the loop goes on from them
        status = start.reindex(value.index).fillna(status)
    rel = relations[relations["cell"].isin(value.index)].reset_index(drop=True)
    if rel.empty:
        return status
    rel_value = value.reindex(rel["cell"]).to_numpy()
    is_part = rel["role"].eq("part").to_numpy()
    for _ in range(len(status) + 1):  # each round hides at least one more cell
        st = status.reindex(rel["cell"]).to_numpy()
        unknown = st != "shown"
        s = (
            pd.DataFrame(
                {
                    "unknown": unknown,
                    "primary_parts": (st == "suppressed") & is_part,
                    "unknown_parts": unknown & is_part,
                    "unknown_total": unknown & ~is_part,
                    "known_total": np.where(~unknown & ~is_part, rel_value, 0.0),
                    "known_parts": np.where(~unknown & is_part, rel_value, 0.0),
                }
            )
            .groupby(rel["relation"].to_numpy(), sort=False)
            .sum()
        )
        hidden_sum = s["known_total"] - s["known_parts"]
        h = s["unknown_parts"]
        pinned = (
            s["unknown_total"].eq(0)
            & h.ge(2)
            & h.eq(s["primary_parts"])
            & (hidden_sum.eq(h) | hidden_sum.eq(h * (below - 1)))
        )
        exposed = s.index[s["unknown"].eq(1) | pinned]
        if len(exposed) == 0:
            return status
        pick = rel[rel["relation"].isin(exposed).to_numpy() & ~unknown].copy()
        pick["_value"] = value.reindex(pick["cell"]).to_numpy()
        is_pos = pick["_value"].to_numpy() > 0
        pick["_rank"] = np.where(pick["role"].eq("part"), np.where(is_pos, 0, 1), 2)
        pick = pick.sort_values(["relation", "_rank", "_value", "cell"], kind="stable")
        status[pick.drop_duplicates("relation")["cell"].unique()] = "complementary"
    raise RuntimeError("complementary suppression did not converge; this is a bug")


def _count_text(value: np.ndarray, status: np.ndarray, *, below: int) -> np.ndarray:
    text = np.array(["" if np.isnan(v) else f"{int(round(v)):,}" for v in value], dtype=object)
    text[status == "suppressed"] = suppressed_text(below)
    text[status == "complementary"] = COMPLEMENTARY_TEXT
    text[status == "overlap"] = overlap_text(below)
    return text


_FORMATTERS = {
    "percent": lambda v: f"{100 * v:.1f}%",
    "ratio": lambda v: f"{v:.2f}",
    "points": lambda v: f"{100 * v:+.1f} points",
    "number": lambda v: f"{v:.3f}",
}


def _measure_text(values: np.ndarray, kind: Format) -> np.ndarray:
    fmt = _FORMATTERS[kind]
    return np.array(["" if np.isnan(v) else fmt(v) for v in values], dtype=object)


Bands = Callable[[Callable[[str], pd.Series]], Mapping[str, tuple[np.ndarray, np.ndarray]]]


def _layout(
    name: str,
    frame: pd.DataFrame,
    keys: tuple[str, ...],
    plan: _Plan,
    status: pd.Series,
    value: pd.Series,
    relations: pd.DataFrame,
    *,
    below: int,
    bands: Bands | None = None,
) -> PublicTable:
    """The long frame of :class:`PublicTable` for one table, given every cell's status."""
    c = plan.counts
    own = pd.Index(plan.cells["cell"].unique())
    extra = own[~own.isin(c["cell"])]  # the LEA totals, bound to no column
    c = pd.concat(
        [c, pd.DataFrame({"row": pd.NA, "column": "total", "cell": extra})], ignore_index=True
    )
    c["number"] = value.reindex(c["cell"]).to_numpy()
    c["status"] = status.reindex(c["cell"]).to_numpy()
    c["display"] = _count_text(c["number"].to_numpy(), c["status"].to_numpy(), below=below)
    c["reason"] = c["status"].map(_COUNT_REASON).fillna("")

    def column_status(column: str) -> pd.Series:
        part = c[c["column"].eq(column) & c["row"].notna()]
        out = pd.Series("missing", index=range(len(frame)), dtype=object)
        out.iloc[part["row"].astype(int).to_numpy()] = part["status"].to_numpy()
        return out

    band = dict(bands(column_status)) if bands else {}
    d = plan.deps
    d_hidden = status.reindex(d["cell"]).isin(_HIDDEN).to_numpy()
    hidden = pd.Series(d_hidden).groupby([d["row"].to_numpy(), d["column"].to_numpy()]).any()
    measures = []
    for column, kind in plan.formats.items():  # a loop over columns, not over data
        values = frame[column].astype(float).to_numpy()
        rows = np.arange(len(frame))
        index = pd.MultiIndex.from_arrays([rows, np.full(len(frame), column, dtype=object)])
        withheld = hidden.reindex(index).fillna(False).to_numpy(bool) & ~np.isnan(values)
        text = _measure_text(values, kind)
        state = np.where(np.isnan(values), "missing", "shown").astype(object)
        state[withheld], text[withheld] = "withheld", WITHHELD_TEXT
        if column in band:
            use = withheld & band[column][0]
            state[use], text[use] = "banded", band[column][1][use]
        measures.append(
            pd.DataFrame(
                {
                    "row": rows,
                    "column": column,
                    "cell": "",
                    "number": values,
                    "status": state,
                    "display": text,
                    "reason": np.where(withheld, "reveals_hidden_count", ""),
                }
            )
        )
    long = pd.concat([c, *measures], ignore_index=True)
    long["row"] = long["row"].astype("Int64")
    at = long["row"].to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(at)
    source = frame.reset_index(drop=True)
    for k in keys:
        col = np.full(len(long), None, dtype=object)
        col[known] = source[k].to_numpy(dtype=object)[at[known].astype(int)]
        long[k] = col
    mine = relations[relations["cell"].isin(own)]
    mine = relations[relations["relation"].isin(mine["relation"])].reset_index(drop=True)
    return PublicTable(
        name=name,
        keys=keys,
        below=below,
        cells=long[[*keys, *PUBLIC_COLUMNS]],
        relations=mine,
        source=source.copy(),
    )


_COUNT_REASON = {"suppressed": "small_count", "complementary": "complement", "overlap": "overlap"}


def _suppress(
    tables: Mapping[str, tuple[pd.DataFrame, tuple[str, ...], _Plan, Bands | None]],
    *,
    below: int,
) -> dict[str, PublicTable]:
    """One joint suppression over several tables' cells and relations (shared cells agree)."""
    cells = pd.concat([t[2].cells for t in tables.values()], ignore_index=True)
    # a cell named by several rows or tables keeps its first known value
    cells = cells.sort_values("value", key=lambda v: v.isna(), kind="stable")
    cells = cells.drop_duplicates("cell").reset_index(drop=True)
    relations = pd.concat([t[2].relations for t in tables.values()], ignore_index=True)
    relations = relations.drop_duplicates(["relation", "cell"]).reset_index(drop=True)
    status = _statuses(cells, relations, below=below)
    overlaps = [t[2].overlaps for t in tables.values() if t[2].overlaps is not None]
    if overlaps:
        groups = pd.concat(overlaps, ignore_index=True).drop_duplicates("cell")
        for _ in range(len(cells) + 1):  # each round marks at least one more cell
            more = _overlapping(status, groups)
            if len(more) == 0:
                break
            status[more] = "overlap"
            status = _statuses(cells, relations, below=below, start=status)
    value = cells.set_index("cell")["value"].astype(float)
    return {
        name: _layout(name, frame, keys, plan, status, value, relations, below=below, bands=bands)
        for name, (frame, keys, plan, bands) in tables.items()
    }


def _overlapping(status: pd.Series, groups: pd.DataFrame) -> pd.Index:
    """Shown positive drill-down counts that share their finding and count with a hidden (or
    missing) count of another dimension: the cells the cross-dimension rule withholds.

    ``detail.csv`` has no cross-tabulation of its dimensions, so the relations between them (a
    school sits in one grade band; a grade band is the sum of the schools serving it) are
    unknown here. A zero overlaps nothing and stays shown; so does every count of a finding
    whose dimensions hide nothing.
    """
    st = status.reindex(groups["cell"]).to_numpy()
    hidden = pd.Series(np.isin(st, [*_HIDDEN, "missing"]))
    g, dim = groups["group"].to_numpy(), groups["dimension"].to_numpy()
    own = hidden.groupby([g, dim]).transform("any").astype(bool)
    by_dim = hidden.groupby([g, dim]).any().groupby(level=0).sum()
    others = by_dim.reindex(g).to_numpy() - own.to_numpy().astype(int)
    pick = (st == "shown") & (groups["value"].to_numpy(dtype=float) > 0) & (others > 0)
    return pd.Index(groups["cell"].to_numpy()[pick])


def _below(profile: Profile) -> int:
    return int(profile.suppress_public_counts_below)


def _need(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"the {what} frame lacks column(s) {', '.join(missing)}; give the frame as "
            "cimrca computes it."
        )


def _key(*parts: pd.Series | str) -> pd.Series:
    """Cell identities as ``a|b|c`` strings, vectorised (the first part must be a Series)."""
    out = parts[0].astype(str)
    for p in parts[1:]:
        out = out + "|" + (p.astype(str) if isinstance(p, pd.Series) else p)
    return out.reset_index(drop=True)


def _bind(row: np.ndarray, keys: Mapping[str, pd.Series]) -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame({"row": row, "column": col, "cell": k}) for col, k in keys.items()],
        ignore_index=True,
    )


def _deps(row: np.ndarray, by_measure: Mapping[str, list[pd.Series]]) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"row": row, "column": col, "cell": k})
        for col, ks in by_measure.items()
        for k in ks
    ]
    return pd.concat(frames, ignore_index=True)


def _relation(name: pd.Series, cell: pd.Series, role: str) -> pd.DataFrame:
    return pd.DataFrame({"relation": name, "cell": cell, "role": role})


def _rate_band(
    numerator: pd.Series, denominator_value: pd.Series, denominator: pd.Series, *, below: int
) -> tuple[np.ndarray, np.ndarray]:
    """A rate whose numerator is in the suppressed range and whose denominator ``d`` is shown:
    "p% or less" with ``p = ceil(100 (below - 1) / d)``, which says no more than "10 or fewer"
    of ``d`` already does."""
    d = denominator_value.astype(float).to_numpy()
    ok = (numerator.eq("suppressed") & denominator.eq("shown")).to_numpy() & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.ceil(100 * (below - 1) / d - 1e-9)
    text = np.array([f"{p_:.0f}% or less" if o else "" for p_, o in zip(p, ok, strict=True)])
    return ok, text.astype(object)


# --- the results table (disproportionality rows) ---------------------------------------------

_QTY_NUM = {c.code: f"{c.numerator_table}:{'+'.join(c.numerator_codes) or '*'}" for c in CATEGORIES}
_QTY_DEN = {c.code: f"{c.denominator}:*" for c in CATEGORIES}
_RESULT_COUNTS = (
    "numerator", "denominator", "lea_comparison_numerator", "lea_comparison_denominator",
    "state_comparison_numerator", "state_comparison_denominator", "students_over_threshold",
)  # fmt: skip
_RESULT_FORMATS: dict[str, Format] = {
    "risk": "percent",
    "ratio": "ratio",
    "weighted_risk_ratio": "ratio",
    "risk_difference": "points",
    "composition": "percent",
    "e_formula_upper": "percent",
    "ci_low": "ratio",
    "ci_high": "ratio",
}
#: Columns :func:`suppress_results` needs.
RESULT_INPUT_COLUMNS: tuple[str, ...] = (
    *_RESULT_KEYS, *_RESULT_COUNTS, *_RESULT_FORMATS, "ratio_type", "threshold",
    "exceeds_threshold",
)  # fmt: skip


def _result_cells(r: pd.DataFrame) -> dict[str, pd.Series]:
    year, lea, group = r["school_year"], r["lea_id"], r["race_ethnicity"]
    qn, qd = r["category"].map(_QTY_NUM), r["category"].map(_QTY_DEN)
    other = "~" + group.astype(str)
    return {
        "numerator": _key(year, lea, qn, group),
        "denominator": _key(year, lea, qd, group),
        "lea_comparison_numerator": _key(year, lea, qn, other),
        "lea_comparison_denominator": _key(year, lea, qd, other),
        "state_comparison_numerator": _key(year, "STATE", qn, other),
        "state_comparison_denominator": _key(year, "STATE", qd, other),
        "students_over_threshold": _key(year, lea, r["category"], group, "over"),
        "_total_numerator": _key(year, lea, qn, "*"),
        "_total_denominator": _key(year, lea, qd, "*"),
    }


def _result_plan(r: pd.DataFrame) -> _Plan:
    row = np.arange(len(r))
    k = _result_cells(r)
    counts = _bind(row, {c: k[c] for c in _RESULT_COUNTS})
    value = np.concatenate([r[c].astype(float).to_numpy() for c in _RESULT_COUNTS])
    cells = [pd.DataFrame({"cell": counts["cell"], "value": value})]
    relations = []
    for own, comp in (("numerator", "lea_comparison_numerator"),
                      ("denominator", "lea_comparison_denominator")):  # fmt: skip
        total = k[f"_total_{own}"]
        both = (r[own].astype(float) + r[comp].astype(float)).to_numpy()
        cells.append(pd.DataFrame({"cell": total, "value": both}))
        pair = total + "|" + r["race_ethnicity"].astype(str).to_numpy() + "|pair"
        groups = total + "|groups"
        relations += [
            _relation(pair, k[own], "part"),
            _relation(pair, k[comp], "part"),
            _relation(pair, total, "total"),
            _relation(groups, k[own], "part"),
            _relation(groups, total, "total"),
        ]
    alternate = r["ratio_type"].eq("alternate_risk_ratio").to_numpy()
    comp_n = k["lea_comparison_numerator"].where(~alternate, k["state_comparison_numerator"])
    comp_d = k["lea_comparison_denominator"].where(~alternate, k["state_comparison_denominator"])
    own_counts = [k["numerator"], k["denominator"]]
    lea_counts = [*own_counts, k["lea_comparison_numerator"], k["lea_comparison_denominator"]]
    used = [*own_counts, comp_n, comp_d]
    deps = _deps(
        row,
        {
            "risk": own_counts,
            "ratio": used,
            "risk_difference": lea_counts,
            "composition": lea_counts,
            "e_formula_upper": lea_counts,
            "ci_low": used,
            "ci_high": used,
            "students_over_threshold": used,
        },
    )
    # the weighted risk ratio uses the risks of every group of the LEA-year-category
    lea_category = _key(r["school_year"], r["lea_id"], r["category"])
    members = pd.concat(
        [pd.DataFrame({"_g": lea_category, "cell": k[c]}) for c in ("numerator", "denominator")]
    )
    wrr = pd.DataFrame({"row": row, "_g": lea_category}).merge(members, on="_g")
    deps = pd.concat(
        [deps, wrr.assign(column="weighted_risk_ratio")[["row", "column", "cell"]]],
        ignore_index=True,
    )
    return _Plan(
        counts=counts,
        cells=pd.concat(cells, ignore_index=True),
        relations=pd.concat(relations, ignore_index=True),
        deps=deps,
        formats=_RESULT_FORMATS,
    )


def _result_bands(r: pd.DataFrame, *, below: int) -> Bands:
    def bands(status: Callable[[str], pd.Series]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        risk = _rate_band(status("numerator"), r["denominator"], status("denominator"), below=below)
        side = np.where(r["exceeds_threshold"].astype(bool), "above", "not above")
        threshold = r["threshold"].astype(float).to_numpy()
        text = np.array(
            [f"{s} the threshold ({t:.1f})" for s, t in zip(side, threshold, strict=True)],
            dtype=object,
        )
        return {"risk": risk, "ratio": (np.ones(len(r), dtype=bool), text)}

    return bands


def _check_results(results: pd.DataFrame) -> pd.DataFrame:
    _need(results, RESULT_INPUT_COLUMNS, "results")
    sizes = results.groupby(["school_year", "lea_id", "category"])["race_ethnicity"].nunique()
    short = sizes[sizes < len(RACES)]
    if len(short):
        first = short.index[0]
        raise UsageError(
            f"the results rows of {':'.join(map(str, first))} have {short.iloc[0]} of the "
            f"{len(RACES)} groups; suppress the LEA's whole results slice, then choose the rows "
            "to show."
        )
    return results.reset_index(drop=True)


def suppress_results(lea_results: pd.DataFrame, *, profile: Profile) -> PublicTable:
    """Suppress the disproportionality rows of a public packet.

    Parameters
    ----------
    lea_results
        Rows of the results table (:data:`cimrca.methodology.RESULT_COLUMNS`) holding all
        seven groups of every school year x LEA x category they cover. Pass the LEA's whole
        slice, then show any subset of its rows: showing fewer cells is safe, showing cells the
        suppression did not see is not. Not modified.
    profile
        Gives ``suppress_public_counts_below`` (California 11: "10 or fewer").

    Returns
    -------
    PublicTable
        Counts (``numerator``, ``denominator``, ``lea_comparison_numerator``,
        ``lea_comparison_denominator``, ``state_comparison_numerator``,
        ``state_comparison_denominator``, ``students_over_threshold``): status ``shown``,
        ``suppressed`` ("10 or fewer"), ``complementary`` or ``missing``. Measures (``risk``,
        ``ratio``, ``weighted_risk_ratio``, ``risk_difference``, ``composition``,
        ``e_formula_upper``, ``ci_low``, ``ci_high``): ``shown``, ``withheld`` or ``banded``:
        ``risk`` as "21% or less" (10 or fewer of a shown 48), ``ratio`` as "above the
        threshold (3.0)" or "not above the threshold (3.0)", the side the row's
        ``exceeds_threshold`` states anyway.

    Raises
    ------
    UsageError
        A column is missing, or a school year x LEA x category lacks some of the seven groups
        (its comparison counts would then give away the absent groups).

    Notes
    -----
    The relations are those of the comparison group of 34 CFR 300.647(b)(5) ("all other
    children" in the LEA): per school year x LEA and count (the outcome or the base of a
    category), a group's count plus its comparison count is the LEA's count of the seven
    groups, and the seven groups' counts add up to it. ``students_over_threshold``
    (methodology.md section 5) is a count: primary suppression, and withheld when a count it is
    computed from is hidden.

    Examples
    --------
    >>> from cimrca import load_dataset, load_profile
    >>> from cimrca.methodology import compute_results
    >>> profile = load_profile("california")
    >>> results = compute_results(load_dataset("data/sample"), profile)
    >>> rows = results[results["lea_id"].eq("2071593") & results["school_year"].eq("2024-25")]
    >>> shown = suppress_results(rows, profile=profile).display()
    >>> shown.loc[shown["category"].eq("disc_iss_le10"), ["race_ethnicity", "numerator"]].head(5)
       race_ethnicity    numerator
    7              AM            0
    8              AS  10 or fewer
    9              BL           18
    10             HI           40
    11             MU  10 or fewer
    """
    r = _check_results(lea_results)
    below = _below(profile)
    plan = _result_plan(r)
    return _suppress({"results": (r, _RESULT_KEYS, plan, _result_bands(r, below=below))},
                     below=below)["results"]  # fmt: skip


# --- the drill-down (drilldown.md section 2) --------------------------------------------------

_SLICE_COUNTS = ("numerator", "denominator", "comparison_numerator", "comparison_denominator")
_SLICE_FORMATS: dict[str, Format] = {
    "risk": "percent",
    "comparison_risk": "percent",
    "ratio": "ratio",
    "over_threshold": "number",
    "share": "percent",
}
#: Columns :func:`suppress_slices` needs (those of :func:`cimrca.drilldown.compute_drilldown`).
SLICE_INPUT_COLUMNS: tuple[str, ...] = (*_SLICE_KEYS, *_SLICE_COUNTS, *_SLICE_FORMATS)


def _slice_plan(s: pd.DataFrame) -> _Plan:
    row = np.arange(len(s))
    year, lea, group = s["school_year"], s["lea_id"], s["race_ethnicity"]
    qn, qd = s["category"].map(_QTY_NUM), s["category"].map(_QTY_DEN)
    other = "~" + group.astype(str)
    whole = {
        "numerator": _key(year, lea, qn, group),
        "denominator": _key(year, lea, qd, group),
        "comparison_numerator": _key(year, lea, qn, other),
        "comparison_denominator": _key(year, lea, qd, other),
    }
    k = {c: _key(w, s["dimension"], s["value"]) for c, w in whole.items()}
    counts = _bind(row, k)
    value = np.concatenate([s[c].astype(float).to_numpy() for c in _SLICE_COUNTS])
    cells = [pd.DataFrame({"cell": counts["cell"], "value": value})]
    relations = []
    for c in _SLICE_COUNTS:
        # the whole is the LEA's count: the sum of the slices of a dimension, unknown when a
        # slice is missing (with the results in the same suppression, their value is used)
        sums = s.groupby([whole[c], s["dimension"]], sort=False)[c]
        total = sums.transform(lambda v: v.astype(float).sum(min_count=len(v)))
        total = total.where(sums.transform(lambda v: v.notna().all()).astype(bool))
        cells.append(pd.DataFrame({"cell": whole[c], "value": total.to_numpy(dtype=float)}))
        name = _key(whole[c], s["dimension"], "slices")
        relations += [_relation(name, k[c], "part"), _relation(name, whole[c], "total")]
    lea_counts = list(whole.values())
    overlaps = pd.concat(
        [
            pd.DataFrame(
                {
                    "cell": k[c],
                    "group": whole[c],
                    "dimension": s["dimension"].to_numpy(),
                    "value": s[c].astype(float).to_numpy(),
                }
            )  # fmt: skip
            for c in _SLICE_COUNTS
        ],
        ignore_index=True,
    )
    deps = _deps(
        row,
        {
            "risk": [k["numerator"], k["denominator"]],
            "comparison_risk": [k["comparison_numerator"], k["comparison_denominator"]],
            "ratio": list(k.values()),
            "over_threshold": [k["numerator"], k["denominator"], *lea_counts[2:]],
            "share": [k["numerator"], k["denominator"], *lea_counts],
        },
    )
    return _Plan(
        counts=counts,
        cells=pd.concat(cells, ignore_index=True),
        relations=pd.concat(relations, ignore_index=True),
        deps=deps,
        formats=_SLICE_FORMATS,
        overlaps=overlaps,
    )


def _slice_bands(s: pd.DataFrame, *, below: int) -> Bands:
    def bands(status: Callable[[str], pd.Series]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            "risk": _rate_band(
                status("numerator"), s["denominator"], status("denominator"), below=below
            ),
            "comparison_risk": _rate_band(
                status("comparison_numerator"),
                s["comparison_denominator"],
                status("comparison_denominator"),
                below=below,
            ),  # fmt: skip
        }

    return bands


def suppress_slices(
    drilldown: pd.DataFrame, *, profile: Profile, results: pd.DataFrame | None = None
) -> PublicTable:
    """Suppress the drill-down slices of a public packet.

    Parameters
    ----------
    drilldown
        The output of :func:`cimrca.drilldown.compute_drilldown` (:data:`SLICE_INPUT_COLUMNS`).
        Not modified.
    profile
        Gives ``suppress_public_counts_below``.
    results
        The LEA's results slice, when the packet shows both: the LEA's counts are then the same
        cells in both, suppressed together (use :func:`suppress_packet` to get both tables).

    Returns
    -------
    PublicTable
        Counts ``numerator``, ``denominator``, ``comparison_numerator``,
        ``comparison_denominator`` per slice; measures ``risk`` and ``comparison_risk``
        (banded "p% or less" like a results risk), ``ratio``, ``over_threshold`` and ``share``
        (withheld when a count they use is hidden).

    Notes
    -----
    Relation (b): for each finding, dimension and count, the slices add up to the LEA's count
    (drilldown.md section 1: a student without a value is in the slice ``UNKNOWN``). The LEA's
    count is one cell shared by every dimension and by the results rows; without ``results`` it
    is the sum of the slices, taken as shown unless it is itself small. ``over_threshold`` uses
    the LEA's comparison risk, so it is withheld when a comparison count is hidden too.
    """
    if results is not None:
        return suppress_packet(results, profile=profile, drilldown=drilldown)["drilldown"]
    s = _check_slices(drilldown)
    below = _below(profile)
    plan = _slice_plan(s)
    tables = {"drilldown": (s, _SLICE_KEYS, plan, _slice_bands(s, below=below))}
    return _suppress(tables, below=below)["drilldown"]


def _check_slices(drilldown: pd.DataFrame) -> pd.DataFrame:
    _need(drilldown, SLICE_INPUT_COLUMNS, "drill-down")
    return drilldown.reset_index(drop=True)


# --- the indicators (SPP/APR rates) ----------------------------------------------------------

_INDICATOR_FORMATS: dict[str, Format] = {
    "rate": "percent",
    "prior_rate": "percent",
    "change": "points",
    "change_z": "number",
    "change_p_value": "number",
    "trend_slope": "points",
    "trend_se": "points",
    "trend_ci_low": "points",
    "trend_ci_high": "points",
    "trend_p_value": "number",
}
_TREND = ("trend_slope", "trend_se", "trend_ci_low", "trend_ci_high", "trend_p_value")
#: Columns :func:`suppress_indicators` needs (those of :func:`cimrca.compute_indicators`).
INDICATOR_INPUT_COLUMNS: tuple[str, ...] = (
    *_INDICATOR_KEYS, "numerator", "denominator", *_INDICATOR_FORMATS,
)  # fmt: skip


def _indicator_plan(i: pd.DataFrame) -> _Plan:
    row = np.arange(len(i))
    series = _key(i["lea_id"], i["indicator"])
    base = _key(i["school_year"], i["lea_id"], i["indicator"])
    k = {"numerator": base + "|numerator", "denominator": base + "|denominator"}
    counts = _bind(row, k)
    value = np.concatenate([i[c].astype(float).to_numpy() for c in k])
    own = [k["numerator"], k["denominator"]]
    # the prior school year's counts of the same series
    start = i["school_year"].astype(str).str[:4].astype(int)
    prior_year = (start - 1).astype(str) + "-" + (start % 100).map("{:02d}".format)
    prior = _key(prior_year, i["lea_id"], i["indicator"])
    by_measure = {"rate": own}
    by_measure |= {c: [prior + "|numerator", prior + "|denominator"] for c in ("prior_rate",)}
    for c in ("change", "change_z", "change_p_value"):
        by_measure[c] = [*own, prior + "|numerator", prior + "|denominator"]
    deps = _deps(row, by_measure)
    # the trend uses every year of the series
    members = pd.concat([pd.DataFrame({"_s": series, "cell": k[c]}) for c in k])
    trend = pd.DataFrame({"row": row, "_s": series}).merge(members, on="_s")
    deps = pd.concat(
        [deps, *(trend.assign(column=c)[["row", "column", "cell"]] for c in _TREND)],
        ignore_index=True,
    )
    return _Plan(
        counts=counts,
        cells=pd.DataFrame({"cell": counts["cell"], "value": value}),
        relations=pd.DataFrame({"relation": [], "cell": [], "role": []}, dtype=object),
        deps=deps,
        formats=_INDICATOR_FORMATS,
    )


def suppress_indicators(indicator_rows: pd.DataFrame, *, profile: Profile) -> PublicTable:
    """Suppress the SPP/APR indicator rows of a public packet.

    Parameters
    ----------
    indicator_rows
        Rows of :func:`cimrca.compute_indicators` (:data:`INDICATOR_INPUT_COLUMNS`); pass every
        school year of a series the packet shows (the trend uses them all). Not modified.
    profile
        Gives ``suppress_public_counts_below``.

    Returns
    -------
    PublicTable
        Counts ``numerator`` and ``denominator``; ``rate`` banded "p% or less" when its
        numerator is hidden and its denominator shown, else withheld; ``prior_rate``,
        ``change``, ``change_z`` and ``change_p_value`` withheld when a count of the year or of
        the prior year is hidden; the trend's numbers (``trend_slope``, ``trend_se``,
        ``trend_ci_low``, ``trend_ci_high``, ``trend_p_value``) and, when the frame has them,
        ``trend_direction`` withheld when any count of the series is hidden;
        ``target_status`` ("met", "not met") withheld when a count of its row is hidden (a
        band and the target would otherwise narrow the count). The State's rate and the target
        are not counts of the LEA and are left as they are.

    Notes
    -----
    An indicator's numerator and denominator are in no additive relation with other rows, so
    only primary suppression and relation (c) apply (SPP/APR, 34 CFR 300.602(b)(1): the State
    reports each LEA's performance publicly, without personally identifiable information).
    """
    _need(indicator_rows, INDICATOR_INPUT_COLUMNS, "indicators")
    i = indicator_rows.reset_index(drop=True)
    below = _below(profile)

    def bands(status: Callable[[str], pd.Series]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            "rate": _rate_band(
                status("numerator"), i["denominator"], status("denominator"), below=below
            )
        }

    tables = {"indicators": (i, _INDICATOR_KEYS, _indicator_plan(i), bands)}
    return _withhold_words(_suppress(tables, below=below)["indicators"])


#: Words an indicator row states about its counts: whether the target is met (a comparison of
#: the rate with the target) and the trend's direction (a comparison across the years).
_INDICATOR_WORDS = ("target_status", "trend_direction")


def _withhold_words(table: PublicTable) -> PublicTable:
    """``target_status`` withheld when a count of its row is hidden, ``trend_direction`` when
    a count of its series is: "met" beside "19% or less" and a target of 16% would narrow
    "10 or fewer of 55" to 9 or 10."""
    i, cells = table.source, table.cells
    counts = cells[cells["column"].isin(["numerator", "denominator"]) & cells["row"].notna()]
    hidden = counts["status"].isin(_HIDDEN).groupby(counts["row"].astype(int)).any()
    row_hidden = hidden.reindex(range(len(i))).fillna(False).to_numpy(bool)
    series = _key(i["lea_id"], i["indicator"])
    series_hidden = pd.Series(row_hidden).groupby(series.to_numpy()).transform("any").to_numpy()
    extra = []
    for column, withheld in (("target_status", row_hidden), ("trend_direction", series_hidden)):
        if column not in i.columns:
            continue
        text = i[column].astype(object).where(i[column].notna(), "").astype(str).to_numpy()
        # "no target" and "no data" compare nothing with the counts
        withheld = withheld & (text != "") & ~np.isin(text, ["no target", "no data"])
        state = np.where(text == "", "missing", "shown").astype(object)
        state[withheld], text[withheld] = "withheld", WITHHELD_TEXT
        part = pd.DataFrame(
            {"row": np.arange(len(i)), "column": column, "cell": "", "number": np.nan,
             "status": state, "display": text,
             "reason": np.where(withheld, "reveals_hidden_count", "")}
        )  # fmt: skip
        for k in table.keys:
            part[k] = i[k].to_numpy(dtype=object)
        extra.append(part[list(cells.columns)])
    if not extra:
        return table
    long = pd.concat([cells, *extra], ignore_index=True)
    long["row"] = long["row"].astype("Int64")
    return replace(table, cells=long)


def suppress_packet(
    results: pd.DataFrame,
    *,
    profile: Profile,
    drilldown: pd.DataFrame | None = None,
    indicators: pd.DataFrame | None = None,
) -> dict[str, PublicTable]:
    """Suppress every table of one public packet together.

    The LEA's counts are the same cells in the results rows and in the drill-down's wholes, so
    one suppression decides them for both. Returns ``{"results": ..., "drilldown": ...,
    "indicators": ...}`` (the last two only when given); each value is as
    :func:`suppress_results`, :func:`suppress_slices` and :func:`suppress_indicators` describe.
    """
    below = _below(profile)
    r = _check_results(results)
    tables = {"results": (r, _RESULT_KEYS, _result_plan(r), _result_bands(r, below=below))}
    if drilldown is not None:
        s = _check_slices(drilldown)
        tables["drilldown"] = (s, _SLICE_KEYS, _slice_plan(s), _slice_bands(s, below=below))
    out = _suppress(tables, below=below)
    if indicators is not None:
        out["indicators"] = suppress_indicators(indicators, profile=profile)
    return out


# --- the checks a public output must pass -----------------------------------------------------

#: A number that stands alone: not part of a word, a code, a decimal, a range, a date or a
#: school year (no letter, digit, ``.``, ``,``, ``/``, ``:`` or ``-`` joined to it), not
#: followed by ``%``. Thousands separators are read (``1,702``).
_NUMBER = re.compile(r"(?<![\w.,/:+-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w%]|[.,/:-]\d)")
#: Numbers that are not counts: legal citations (``300.647(b)(5)``) and indicator codes.
_NOT_COUNTS = (
    re.compile(r"\d+(?:\.\d+)?(?:\([A-Za-z0-9]+\))+"),
    re.compile(r"\b(?:CFR|U\.S\.C\.|section|§)\s*[\d.]+", re.IGNORECASE),
    re.compile(r"\bIndicator\s+\d+[A-Z]?\b"),
)
#: JSON keys whose numbers are counts.
_COUNT_KEY = re.compile(r"(^|_)(numerator|denominator|count|students_over_threshold)$")
_HTML_ATTRIBUTES = ("alt", "title", "aria-label", "aria-description", "content", "value")


def _text_problems(
    text: str, *, below: int, name: str, line: int, where: str | None, allow: tuple[re.Pattern, ...]
) -> list[Problem]:
    problems = []
    clean = text.replace(suppressed_text(below), " ")
    for pattern in (*_NOT_COUNTS, *allow):
        clean = pattern.sub(lambda m: re.sub(r"\S", " ", m.group()), clean)
    for m in _NUMBER.finditer(clean):
        token = m.group(1)
        if len(token) > 1 and token.startswith("0"):
            continue  # a code with leading zeros
        if 1 <= int(token.replace(",", "")) <= below - 1:
            problems.append(
                Problem(
                    file=name,
                    row=line + clean.count("\n", 0, m.start()),
                    column=where,
                    value=token,
                    message=f"a count from 1 to {below - 1} is shown",
                    fix=f'Show it as "{suppressed_text(below)}" (the display text of '
                    "cimrca.suppression), or write the number in words if it is not a count",
                )
            )
    return problems


class _HtmlScan(html.parser.HTMLParser):
    def __init__(self, scan: Callable[[str, int, str | None], list[Problem]], name: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scan, self.name = scan, name
        self.problems: list[Problem] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        if tag == "script":
            self.problems.append(
                Problem(
                    self.name, line, "<script>", None, "the public HTML contains a script",
                    "Render the public packet without scripts",
                )
            )  # fmt: skip
        if tag in ("style", "script"):
            self.skip += 1
        for key, value in attrs:
            if value and (key in _HTML_ATTRIBUTES or key.startswith("data-")):
                self.problems += self.scan(value, line, f"<{tag} {key}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.problems += self.scan(data, self.getpos()[0], None)


def scan_public_text(
    text: str,
    *,
    below: int,
    kind: Literal["text", "html", "json"] = "text",
    name: str = "<text>",
    allow: Iterable[str] = (),
) -> list[Problem]:
    """Find counts in the suppressed range (1 to ``below - 1``) in a public output.

    Parameters
    ----------
    text
        The output's text: plain text or Markdown, HTML, or JSON.
    below
        The profile's ``suppress_public_counts_below``.
    kind
        ``"text"``; ``"html"``: the text of the page and the attributes a reader or a screen
        reader sees (``alt``, ``title``, ``aria-label``, ``content``, ``value``, ``data-*``),
        not ``<style>``; any ``<script>`` is a problem of its own; ``"json"``: every number
        under a count key (``numerator``, ``denominator``, ``count``, keys ending ``_numerator``,
        ``_denominator``, ``_count``, ``students_over_threshold``) and every string, as text.
    name
        The file name the problems cite.
    allow
        Regular expressions of further phrases whose numbers are not counts.

    Returns
    -------
    list of Problem
        One per offending number: ``row`` the line (text, HTML), ``column`` the HTML tag and
        attribute or the JSON path, ``value`` the number as written.

    Notes
    -----
    A number counts when it stands alone: not joined to a letter, a digit, ``.``, ``,``, ``/``,
    ``:`` or ``-`` and not followed by ``%``. So school years (``2024-25``), dates, grade bands
    (``6-8``), decimals (ratios ``3.62``, thresholds ``3.0``), percentages (``7%``), codes
    (``4A``, ``0128242``) and ``1,702`` read as one number are not flagged; the display text
    "10 or fewer" itself, legal citations (``34 CFR 300.647(b)(5)``) and "Indicator 1" are
    skipped. "Grade 3" or "3 schools" are flagged: write small numbers that are not counts in
    words, or pass an ``allow`` pattern.
    """
    patterns = tuple(re.compile(a) for a in allow)

    def scan(chunk: str, line: int, where: str | None) -> list[Problem]:
        return _text_problems(chunk, below=below, name=name, line=line, where=where,
                              allow=patterns)  # fmt: skip

    if kind == "text":
        return scan(text, 1, None)
    if kind == "html":
        parser = _HtmlScan(scan, name)
        parser.feed(text)
        parser.close()
        return parser.problems
    if kind == "json":
        problems: list[Problem] = []

        def walk(node: object, path: str) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    child = f"{path}.{key}"
                    if (
                        _COUNT_KEY.search(str(key))
                        and isinstance(value, int | float)
                        and not isinstance(value, bool)
                        and 1 <= value <= below - 1
                    ):
                        problems.append(
                            Problem(
                                name, None, child, str(value),
                                f"a count from 1 to {below - 1} is shown",
                                f'Show it as "{suppressed_text(below)}"',
                            )
                        )  # fmt: skip
                    walk(value, child)
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, f"{path}[{i}]")
            elif isinstance(node, str):
                problems.extend(scan(node, 1, path or "$"))

        walk(json.loads(text), "$")
        return problems
    raise UsageError(f"unknown kind {kind!r}; use text, html or json.")


def recoverable(frame: pd.DataFrame, relations: pd.DataFrame, *, below: int) -> pd.DataFrame:
    """Hidden cells that a reader could work out from what a public table shows.

    An independent check of the suppression, from the reader's side: only the ``display``
    texts are used. A cell is known when its display is a whole number (``1,702``), unknown
    otherwise. For each relation (``relation``, ``cell``, ``role``: its parts add up to its
    total):

    - one unknown cell: it is the total minus the other parts (or the sum of the parts);
    - every unknown cell a part shown as "10 or fewer", two or more of them, whose known sum
      leaves each one a single possible value (all 1, or all ``below - 1``).

    A cell shown with two different displays is reported too (its number is then known).

    Parameters
    ----------
    frame
        :meth:`PublicTable.to_frame` (columns ``cell`` and ``display`` are used), or several
        tables' frames concatenated.
    relations
        :attr:`PublicTable.relations`.
    below
        The profile's ``suppress_public_counts_below``.

    Returns
    -------
    pandas.DataFrame
        Columns ``relation``, ``cell``, ``recovered`` (the number a reader gets) and ``how``
        (``subtraction``, ``bounds`` or ``shown twice``); empty when nothing can be recovered.
    """
    small = suppressed_text(below)
    counts = frame[frame["cell"].astype(str) != ""]
    shown: dict[str, set[str]] = {}
    for cell, display in zip(counts["cell"], counts["display"], strict=True):
        shown.setdefault(cell, set()).add(display)
    found = []
    known: dict[str, int] = {}
    for cell, displays in shown.items():
        numbers = [d for d in displays if re.fullmatch(r"\d{1,3}(,\d{3})*", d)]
        if numbers:
            known[cell] = int(numbers[0].replace(",", ""))
            if len(displays) > 1:
                found.append(("", cell, known[cell], "shown twice"))
    members: dict[str, list[tuple[str, str]]] = {}
    for relation, cell, role in zip(
        relations["relation"], relations["cell"], relations["role"], strict=True
    ):
        members.setdefault(relation, []).append((cell, role))
    for relation, cells in members.items():
        unknown = [(c, role) for c, role in cells if c not in known]
        total = sum(known[c] for c, role in cells if role == "total" and c in known)
        parts = sum(known[c] for c, role in cells if role == "part" and c in known)
        if len(unknown) == 1:
            cell, role = unknown[0]
            found.append(
                (relation, cell, parts if role == "total" else total - parts, "subtraction")
            )
        elif len(unknown) >= 2 and all(
            role == "part" and small in shown.get(c, ()) for c, role in unknown
        ):
            rest = total - parts
            if rest in (len(unknown), len(unknown) * (below - 1)):
                for cell, _ in unknown:
                    found.append((relation, cell, rest // len(unknown), "bounds"))
    return pd.DataFrame(found, columns=["relation", "cell", "recovered", "how"])


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def spell_small_numbers(text: str, *, below: int, allow: Iterable[str] = ()) -> str:
    """``text`` with every number :func:`scan_public_text` would flag written in words.

    For texts whose numbers are not counts (years in a row, numbers of indicators or schools,
    "10 days or fewer" in a category's name): "five years in a row" reads as well as
    "5 years" and cannot be mistaken for a count. The numbers the scanner passes (school
    years, decimals, percentages, codes, citations, the text "10 or fewer", phrases matching
    ``allow``) are left as they are. Numbers above ten keep their digits (``below`` is at most
    eleven in practice; a larger one spells up to ten and leaves the rest, which the scanner
    then reports).

    Examples
    --------
    >>> spell_small_numbers("disproportionate (5 years); missed 8 of 17 targets", below=11)
    'disproportionate (five years); missed eight of 17 targets'
    """
    patterns = [re.compile(re.escape(suppressed_text(below))), *_NOT_COUNTS]
    patterns += [re.compile(a) for a in allow]
    keep = np.zeros(len(text), dtype=bool)
    for pattern in patterns:
        for m in pattern.finditer(text):
            keep[m.start() : m.end()] = True
    out, last = [], 0
    for m in _NUMBER.finditer(text):
        token = m.group(1)
        value = int(token.replace(",", ""))
        if keep[m.start()] or (len(token) > 1 and token.startswith("0")):
            continue
        if 1 <= value <= min(below - 1, len(_WORDS) - 1):
            out += [text[last : m.start()], _WORDS[value]]
            last = m.end()
    return "".join([*out, text[last:]])
