"""The public packet of one LEA: what it can hand to educational partners, parents, a board.

Built in Python from the :class:`~cimrca.packet.assemble.Packet`, never from the executed
notebook (which carries every count and the consultants' review). One suppression decides
every count shown (:func:`cimrca.suppression.suppress_packet`: the results, the drill-down and
the indicators together), and the packet shows only the ``display`` texts of those tables,
never their ``number`` column. :func:`public_payload` is that content as plain data (the
``<lea>_public_findings.json``); :func:`render_public_html` lays the same payload out with the
Jinja2 template ``templates/public/packet.html.j2`` (``<lea>_public.html``).

What it shows: the LEA, the school year, the synthetic-data banner, the monitoring level and
its reasons, the findings (category, group, ratio or its side of the threshold, status in
words, the group's counts), each finding's drill-down (a concentration sentence computed from
the slices that can be shown, and the slices' counts), the SPP/APR indicators and what CIM
asks next. What it leaves out: consultants' notes, statuses, reviewer names and dates, root
causes and action plans, earlier years' notes, orphaned and conflicting annotations, the
profile's internals, paths, and charts (a chart is pixels the checks cannot read; the tables
carry the same shown values).

Numbers that are not counts (years in a row, numbers of indicators or schools) are written in
words where they are ten or less, so that no digit from 1 to 10 stands alone in a public file
(:func:`cimrca.suppression.scan_public_text`); fixed labels that contain such a digit (the
level "Targeted 3", the category "In-school suspensions, 10 days or fewer") are listed in
:data:`PUBLIC_VOCABULARY`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .. import __version__
from ..atomic import atomic_write_text
from ..codes import CATEGORIES, CATEGORY_LABELS, DIMENSION_LABELS, RACES
from ..drilldown import FINDING_KEYS, SLICE_NOUNS, concentration
from ..errors import UsageError
from ..outputs import LeaFiles
from ..statements import (
    CONTINUING_DUTY,
    GLOSSARY,
    PROFILE_CONFIRM,
    STUDENTS_OVER_CAUTION,
    plain_reason,
)
from ..suppression import (
    REASONS,
    PublicTable,
    reason_text,
    spell_small_numbers,
    suppress_packet,
    suppressed_text,
)
from .assemble import Packet, _resolve
from .markup import (
    _LEVEL_WORDS,
    _RATIO_TYPE_WORDS,
    SYNTHETIC_MARK,
    finding_identity,
)

__all__ = [
    "AUDIENCES",
    "PUBLIC_JSON_VERSION",
    "PUBLIC_TEMPLATE",
    "PUBLIC_VOCABULARY",
    "EXPLAINED_TERMS",
    "public_tables",
    "public_payload",
    "render_public_html",
    "write_public_packet",
]

Audience = Literal["internal", "public"]
#: The notebook parameter ``audience``: ``internal`` (the packet only) or ``public`` (also the
#: suppressed packet beside it).
AUDIENCES: tuple[str, ...] = ("internal", "public")
#: Version of the public findings JSON layout.
PUBLIC_JSON_VERSION = 1
#: The template folder under ``templates/`` and the file in it.
PUBLIC_TEMPLATE = ("public", "packet.html.j2")


def _vocabulary() -> tuple[str, ...]:
    from ..monitoring import LEVEL_LABELS

    labels = [*LEVEL_LABELS.values(), *CATEGORY_LABELS.values()]
    return tuple(re.escape(v) for v in labels if re.search(r"\d", v))


#: Regular expressions of fixed labels whose digits are not counts ("Targeted 3", "In-school
#: suspensions, 10 days or fewer"): pass them as ``allow`` to
#: :func:`cimrca.suppression.scan_public_text` when checking a public packet.
PUBLIC_VOCABULARY: tuple[str, ...] = _vocabulary()

_RESULT_COUNTS = (
    "numerator", "denominator", "lea_comparison_numerator", "lea_comparison_denominator",
    "students_over_threshold",
)  # fmt: skip
_SLICE_COUNTS = ("numerator", "denominator")


_LEVEL_ORDER = ("identified", "flagged", "watch")
_CATEGORY_ORDER = {c.code: i for i, c in enumerate(CATEGORIES)}
#: The order of the drill-down's fixed slices (schools and disabilities go by name).
_SLICE_ORDER = {
    v: i for i, v in enumerate(("PK", "K-5", "6-8", "9-12", "UG", "F", "M", "X", "Y", "N"))
}


def _below(packet: Packet) -> int:
    return int(packet.profile.suppress_public_counts_below)


def _words(text: Any, below: int) -> str:
    return spell_small_numbers(str(text), below=below, allow=PUBLIC_VOCABULARY)


def public_tables(packet: Packet) -> dict[str, PublicTable]:
    """Suppress every count the public packet can show, in one pass.

    The LEA's whole results slice (every school year, category and group), its drill-down and
    its indicator rows of every school year go into one
    :func:`cimrca.suppression.suppress_packet`, so a count shared by several rows (a group's
    enrollment, the LEA's count behind the drill-down's slices) is hidden everywhere or
    nowhere, and the trend's and prior year's measures see every year's counts.
    """
    indicators = None
    if packet.indicator_results is not None:
        ir = packet.indicator_results
        indicators = ir[ir["lea_id"].astype(str) == packet.lea_id].reset_index(drop=True)
        indicators = indicators if len(indicators) else None
    drill = packet.drilldown if not packet.drilldown.empty else None
    return suppress_packet(
        packet.lea_results, profile=packet.profile, drilldown=drill, indicators=indicators
    )


def _shown(text: Any) -> str:
    """A display text as a table cell: ``-`` for an empty one (nothing to show)."""
    return str(text) if isinstance(text, str) and text else "-"


def _findings(packet: Packet, results: pd.DataFrame, below: int) -> list[dict[str, Any]]:
    """The findings with the display texts of their rows (``results`` is the suppressed
    table's :meth:`~cimrca.suppression.PublicTable.display`)."""
    f = packet.findings
    if f.empty:
        return []
    keys = list(FINDING_KEYS)
    row = f[[*keys, "finding_id", "level", "ratio_type", "threshold", "consecutive_years"]]
    shown = row.merge(results[[*keys, "ratio", *_RESULT_COUNTS]], on=keys, how="left")
    pair = ["category", "race_ethnicity"]
    by_year = results[[*pair, "school_year", "ratio", "ratio_type"]].copy()
    by_year["ratio"] = by_year["ratio"].where(by_year["ratio"].astype(str) != "", "not calculated")
    years = by_year.pivot_table(
        index=pair, columns="school_year", values="ratio", aggfunc="first"
    ).reindex(columns=list(packet.school_years))
    # public keys only: an order by ratio would rank ratios the packet withholds
    shown = shown.assign(
        _level=shown["level"].map({v: i for i, v in enumerate(_LEVEL_ORDER)}).fillna(99),
        _category=shown["category"].map(_CATEGORY_ORDER).fillna(99),
        _group=shown["race_ethnicity"].map({g: i for i, g in enumerate(RACES)}).fillna(99),
    ).sort_values(["_level", "_category", "_group", "finding_id"], kind="stable")
    out = []
    for r in shown.to_dict("records"):  # a few findings
        n = int(r["consecutive_years"]) if pd.notna(r["consecutive_years"]) else 0
        ratios = years.loc[(r["category"], r["race_ethnicity"])] if len(years) else {}
        out.append(
            {
                **finding_identity(r),
                "status": _LEVEL_WORDS.get(r["level"], r["level"]),
                "ratio": _shown(r["ratio"]) if r["ratio"] else "not calculated",
                "ratio_type": _RATIO_TYPE_WORDS.get(r["ratio_type"], r["ratio_type"]),
                "threshold": f"{float(r['threshold']):.1f}",
                "years_in_a_row": _words(f"{n} year{'' if n == 1 else 's'}", below),
                "ratios_by_year": {y: _shown(v) for y, v in dict(ratios).items()},
                "counts": {c: _shown(r[c]) for c in _RESULT_COUNTS},
            }
        )
    return out


def _nouns(dimension: str, n: int, below: int) -> str:
    one, many = SLICE_NOUNS.get(dimension, ("slice", "slices"))
    return _words(f"{n} {one if n == 1 else many}", below)


def _sentence(s: Mapping[str, Any], total: int, below: int) -> str:
    """The concentration sentence of one finding and dimension, from its shown slices only.

    ``s["hidden_gap"]`` says whether a slice whose part cannot be shown is over the
    threshold's level: the sentence then says plainly that the parts where the gap sits are
    not named, and never that no part is over the level. The share is that of the students
    over the threshold in the shown slices, so it is worked out from shown numbers only.
    """
    dim, shown = s["dimension"], int(s["slices"])
    one, many = SLICE_NOUNS.get(dim, ("slice", "slices"))
    hidden = (
        f"The {many} where the gap sits have counts that cannot be shown ({suppressed_text(below)}, "
        "or hidden to protect such a count), so they are not named here"
    )
    if shown == 0:
        if s.get("hidden_gap"):
            return hidden + "."
        return (
            f"The counts of every {one} are too small to show where the students over the "
            "threshold are."
        )
    top = int(s["top_slices"])
    if s.get("hidden_gap") and top == 0:
        return hidden + "."
    if shown == total:
        lead = f"Of the {_nouns(dim, total, below)}, "
    else:
        lead = (
            f"The counts of {_words(shown, below)} of the {_nouns(dim, total, below)} can be "
            "shown (the others are too small); "
        )
        lead += "of these, " if shown > 1 else ""
    if top == 0:
        return lead + ("none is" if shown > 1 else "it is not") + " over the threshold's level."
    names = [str(x) for x in s["top_labels"]]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    who = (
        "it accounts" if shown == 1 else f"{_words(top, below)} account" + ("s" if top == 1 else "")
    )
    text = (
        f"{lead}{who} for {round(100 * float(s['top_share'])):d}% of the students over the "
        "threshold in them" + (f": {listed}" if len(names) <= 3 else "")
    )
    if s.get("hidden_gap"):
        return f"{text}. Other {hidden[4:]}."
    return text + "."


def _drilldown(
    packet: Packet, tables: Mapping[str, PublicTable], below: int
) -> dict[str, list[dict[str, Any]]]:
    """By ``finding_id`` (findings above the threshold): per dimension, the sentence and the
    slices' display texts."""
    if "drilldown" not in tables:
        return {}
    table = tables["drilldown"]
    drill, shown = packet.drilldown.reset_index(drop=True), table.display()
    cells = table.to_frame()
    over = cells[cells["column"].eq("over_threshold")].set_index("row")["status"]
    visible = over.reindex(range(len(drill))).eq("shown").to_numpy()
    keys = [*FINDING_KEYS, "dimension"]
    summary = concentration(drill[visible]) if visible.any() else None
    # a slice over the threshold's level whose part is not shown: the gap sits (partly) there
    gap = (~visible) & (drill["over_threshold"].astype(float).fillna(0.0) > 0).to_numpy()
    totals = (
        drill.assign(_gap=gap)
        .groupby(keys, sort=False)
        .agg(_total=("value", "size"), hidden_gap=("_gap", "any"))
        .reset_index()
    )
    if summary is not None:
        totals = totals.merge(summary, on=keys, how="left")
    above = packet.findings[packet.findings["level"].isin(["identified", "flagged"])]
    ids = above[[*FINDING_KEYS, "finding_id"]]
    totals = totals.merge(ids, on=list(FINDING_KEYS))
    shown = shown.merge(ids, on=list(FINDING_KEYS))
    # public keys only: the internal order (largest part first) would rank hidden counts
    shown = shown.assign(
        _fixed=shown["value"].map(_SLICE_ORDER).fillna(len(_SLICE_ORDER)),
        _unknown=shown["value"].eq("UNKNOWN"),
        _name=shown["label"].fillna(shown["value"]).astype(str).str.casefold(),
    ).sort_values(["_unknown", "_fixed", "_name", "value"], kind="stable")
    out: dict[str, list[dict[str, Any]]] = {}
    for s in totals.to_dict("records"):  # findings x dimensions: a few dozen rows
        s = {**s, "slices": 0 if pd.isna(s.get("slices")) else s["slices"]}
        s["top_slices"] = 0 if pd.isna(s.get("top_slices")) else s["top_slices"]
        part = shown[
            shown["finding_id"].eq(s["finding_id"]) & shown["dimension"].eq(s["dimension"])
        ]
        out.setdefault(s["finding_id"], []).append(
            {
                "dimension": s["dimension"],
                "dimension_label": DIMENSION_LABELS.get(s["dimension"], s["dimension"]),
                "sentence": _sentence(s, int(s["_total"]), below),
                "slices": [
                    {
                        "value": str(v["value"]),
                        "label": str(v["label"] or v["value"]),
                        **{c: _shown(v[c]) for c in _SLICE_COUNTS},
                        "ratio": _shown(v["ratio"]),
                    }
                    for v in part.to_dict("records")
                ],
            }
        )
    return out


def _indicators(
    packet: Packet, tables: Mapping[str, PublicTable], below: int
) -> list[dict[str, Any]]:
    """The indicators of the packet's review year, in reading order, with display texts."""
    rows = packet.indicator_rows
    if rows is None or rows.empty or "indicators" not in tables:
        return []
    shown = tables["indicators"].display()
    shown["school_year"] = shown["school_year"].astype(str)
    year = rows["finding_id"].astype(str).str.split(":").str[0]
    current = pd.DataFrame({"school_year": year, "indicator": rows["indicator"].astype(str)})
    current = current.merge(shown, on=["school_year", "indicator"], how="left")
    rates = shown.pivot_table(index="indicator", columns="school_year", values="rate",
                              aggfunc="first")  # fmt: skip
    pct = lambda v: "-" if pd.isna(v) else f"{100 * float(v):.1f}%"  # noqa: E731
    return [
        {
            "indicator": _indicator_name(str(c["indicator"]), label, below),
            # the code as the other files name it; numbered codes keep "Indicator " before them
            # so that no bare digit stands alone
            "code": _indicator_code(str(c["indicator"])),
            "label": _words(label, below),
            "school_year": str(c["school_year"]),
            "rates_by_year": {
                y: _shown(rates.loc[c["indicator"], y]) if c["indicator"] in rates.index else "-"
                for y in rates.columns
            },
            "numerator": _shown(c["numerator"]),
            "denominator": _shown(c["denominator"]),
            "state_rate": pct(c["state_rate"]),
            "target": pct(c["target"]),
            "target_status": _shown(c["target_status"]),
            "trend": _shown(c["trend_direction"]),
        }
        for c, label in zip(current.to_dict("records"), rows["label"], strict=True)
    ]


def _indicator_name(code: str, label: str, below: int) -> str:
    """ "Indicator 3B_MATH" for an SPP/APR indicator; a named measure (``SUSP_SWD``,
    ``CHRONIC_SWD``: no number) by its label, as the internal packet names it."""
    return f"Indicator {code}" if code[:1].isdigit() else _words(label, below)


def _indicator_code(code: str) -> str:
    return f"Indicator {code}" if code[:1].isdigit() else code


def _public_reason(reason: str, below: int) -> str:
    """A monitoring reason for the public: the small LEA's count of students with
    disabilities suppressed, bare indicator codes named, small numbers in words."""

    def count(m: re.Match) -> str:
        n = int(m.group(1).replace(",", ""))
        return (
            m.group(0)
            if n >= below or n == 0
            else m.group(0).replace(m.group(1), suppressed_text(below))
        )

    text = re.sub(
        r"students with disabilities (\d{1,3}(?:,\d{3})+|\d+)", count, plain_reason(reason)
    )
    # "missed the target on 9 indicators: 1, 2, 3A_MATH": a bare code is an indicator
    text = re.sub(r"(?<=: |, )(\d{1,2})(?=,|$| \()", r"Indicator \1", text)
    return _words(text, below)


def _monitoring(packet: Packet, below: int) -> dict[str, Any] | None:
    from ..monitoring import LEVEL_LABELS, OFFICIAL_LEVEL_NOTE

    row = packet.monitoring_row
    if row is None:
        return None
    level = str(row["level"])
    reasons = [r.strip() for r in str(row.get("reasons", "") or "").split("; ") if r.strip()]
    return {
        "school_year": str(row["school_year"]),
        "level": level,
        "level_label": LEVEL_LABELS.get(level, level),
        "cim_required": bool(row["cim_required"]),
        "reasons": [_public_reason(r, below) for r in reasons],
        "note": OFFICIAL_LEVEL_NOTE,
    }


def _status(packet: Packet, below: int) -> str:
    f, yr, name = packet.findings, packet.latest_year, packet.lea_name
    n = int((f["level"] == "identified").sum())
    if n:
        what = _words(f"{n} {'category and group' if n == 1 else 'categories and groups'}", below)
        return f"{name} is significantly disproportionate in {yr} (34 CFR 300.647) in {what}."
    return (
        f"{name} is not significantly disproportionate in {yr}: no category and group had a "
        f"ratio above the threshold for {_words(packet.profile.years_required, below)} "
        "consecutive years."
    )


#: The terms of :data:`cimrca.statements.GLOSSARY` the public section "What significant
#: disproportionality is" explains, in this order (the internal packet's and workbook's words).
EXPLAINED_TERMS: tuple[str, ...] = (
    "Risk", "Risk ratio", "Alternate risk ratio", "Threshold", "Disproportionate",
    "Significantly disproportionate", "Students over the threshold",
    "Annual Determination Letter",
)  # fmt: skip


def _explanations(below: int) -> list[dict[str, str]]:
    """What significant disproportionality is: the shared statements, small numbers in words."""
    meaning = dict(GLOSSARY)
    # the glossary is written for the workbook; this is the packet
    return [
        {"term": t, "text": _words(meaning[t].replace("this workbook", "this packet"), below)}
        for t in EXPLAINED_TERMS
    ]


def _continuing(packet: Packet, below: int) -> str | None:
    """The first-identified year and the continuing-LEA duty, for an LEA significantly
    disproportionate two or more school years in a row (cim_workbook.md section 4)."""
    from ..findings import identification_run

    first, years = identification_run(packet.lea_results)
    if years < 2:
        return None
    return _words(
        f"Continuing LEA: significantly disproportionate {years} school years in a row, first "
        f"identified in {first}. {CONTINUING_DUTY}",
        below,
    )


def _next_steps(packet: Packet, below: int) -> list[str]:
    from .display import next_steps_markdown

    lines = str(next_steps_markdown(packet)).splitlines()
    return [_words(re.sub(r"^\s*\d+\.\s*", "", ln).replace("**", ""), below)
            for ln in lines if ln.strip()]  # fmt: skip


def public_payload(
    packet: Packet, tables: Mapping[str, PublicTable] | None = None
) -> dict[str, Any]:
    """The public packet's content: only display texts, plain data (the public JSON).

    Parameters
    ----------
    packet
        The LEA's packet (:func:`cimrca.packet.load_packet`).
    tables
        :func:`public_tables` of ``packet`` (computed when not given).

    Returns
    -------
    dict
        ``format_version``, ``audience`` (``"public"``), ``lea_id``, ``lea_name``,
        ``school_years``, ``latest_school_year``, ``synthetic``, ``dataset``, ``profile``
        (its name), ``cimrca_version``, ``suppression`` (``below``, ``small_count_text``,
        ``notes``: the sentences saying why values are hidden), ``status`` (a sentence),
        ``continuing`` (the first-identified year and the continuing LEA's duty, or ``null``),
        ``explanations`` (``term``, ``text``: what significant disproportionality is, the
        shared statements of :mod:`cimrca.statements`),
        ``threshold_note`` (confirm against the Annual Determination Letter),
        ``students_over_note``,
        ``monitoring`` (``school_year``, ``level``, ``level_label``, ``cim_required``,
        ``reasons`` in plain words, ``note``; ``null`` without monitoring levels), ``findings``
        (per finding, in a public order: level, category, group;
        ``key``, labels, ``status``, ``ratio`` (a number, or its side of the threshold),
        ``ratios_by_year``, ``counts`` (``numerator``, ``denominator``,
        ``lea_comparison_numerator``, ``lea_comparison_denominator``,
        ``students_over_threshold``) and ``drilldown`` (per dimension: ``sentence`` and
        ``slices``, by name or code)), ``indicators`` (``indicator``: "Indicator 3B_MATH" or a
        named measure's label, ``code``: "Indicator 3B_MATH" or ``SUSP_SWD``, ...) and ``next_steps``. Every count and measure is a string:
        a number, "10 or fewer", "suppressed to protect a small count", a band or "withheld".

    Notes
    -----
    34 CFR 300.646(c) asks an identified LEA to report revisions of its policies, practices
    and procedures publicly; 34 CFR 99.31(b)(1) allows releasing de-identified records once
    personally identifiable information is removed. The suppression rules are in
    :mod:`cimrca.suppression` and the README ("Sharing packets").
    """
    below = _below(packet)
    tables = dict(tables) if tables is not None else public_tables(packet)
    results = tables["results"].display()
    results["school_year"] = results["school_year"].astype(str)
    findings = _findings(packet, results, below)
    drill = _drilldown(packet, tables, below)
    for f in findings:
        f["drilldown"] = drill.get(f["key"])
    present = set().union(*(set(t.cells["reason"]) for t in tables.values()))
    notes = [_words(reason_text(r, below=below), below) for r in REASONS if r in present]
    return {
        "format_version": PUBLIC_JSON_VERSION,
        "audience": "public",
        "lea_id": packet.lea_id,
        "lea_name": packet.lea_name,
        "school_years": list(packet.school_years),
        "latest_school_year": packet.latest_year,
        "synthetic": packet.is_synthetic,
        "dataset": packet.dataset.name,
        "profile": packet.profile.name,
        "cimrca_version": __version__,
        "suppression": {
            "below": below,
            "small_count_text": suppressed_text(below),
            "notes": notes,
        },
        "status": _status(packet, below),
        "continuing": _continuing(packet, below),
        "explanations": _explanations(below),
        "threshold_note": PROFILE_CONFIRM,
        "students_over_note": _words(STUDENTS_OVER_CAUTION, below),
        "monitoring": _monitoring(packet, below),
        "findings": findings,
        "drilldown_note": (
            _words(packet.drilldown_message, below) if packet.drilldown_message else None
        ),
        "indicators": _indicators(packet, tables, below),
        "next_steps": _next_steps(packet, below),
    }


def render_public_html(payload: Mapping[str, Any]) -> str:
    """The public packet's HTML: one self-contained page from ``payload`` (no script, no
    image, no embedded data), laid out by ``templates/public/packet.html.j2``."""
    import jinja2

    from ..resources import template_dir

    folder, name = PUBLIC_TEMPLATE
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir() / folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    title = (
        f"{payload['lea_name']} ({payload['lea_id']}) - public CIM packet, "
        f"{payload['latest_school_year']}"
        + (f" - {SYNTHETIC_MARK}" if payload["synthetic"] else "")
    )
    return env.get_template(name).render(p=payload, title=title, synthetic_mark=SYNTHETIC_MARK)


def _check_audience(audience: str) -> Audience:
    if audience not in AUDIENCES:
        raise UsageError(
            f"audience must be {' or '.join(AUDIENCES)}, not {audience!r}: 'internal' writes "
            "the packet only, 'public' also the suppressed packet for sharing."
        )
    return audience  # type: ignore[return-value]


def write_public_packet(
    packet: Packet, out_dir: str | Path, *, audience: str = "internal"
) -> list[Path]:
    """Write the public packet beside the internal one, for the ``public`` audience.

    Parameters
    ----------
    packet
        The LEA's packet.
    out_dir
        The packet's folder: ``<lea>_public.html`` and ``<lea>_public_findings.json`` are
        written there (:class:`cimrca.outputs.LeaFiles`), atomically.
    audience
        ``"internal"`` (default): write nothing, and remove a public packet an earlier run
        left in ``out_dir`` (it would no longer match the packet); ``"public"``: write both.

    Returns
    -------
    list of Path
        The files written (empty for ``internal``).

    Raises
    ------
    UsageError
        ``audience`` is neither ``internal`` nor ``public``.
    """
    chosen = _check_audience(audience)
    files = LeaFiles(_resolve(out_dir), packet.lea_id)
    if chosen == "internal":
        for path in files.public_outputs:
            path.unlink(missing_ok=True)
        return []
    payload = public_payload(packet)
    files.folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(files.public_findings, text + "\n")
    atomic_write_text(files.public_html, render_public_html(payload))
    return list(files.public_outputs)
