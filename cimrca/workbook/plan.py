"""The workbook's plan, decided before anything is written.

:func:`plan_workbook` turns :class:`WorkbookInputs` into a :class:`WorkbookPlan`: the LEA's
results and findings, the indicator rows, the entry rows of ``Root Causes`` and ``Action Plan``
with their prompts, the drop-down choices, and per annotatable sheet the keys of its rows
(:class:`SheetPlan`). The sheet writers only format what the plan holds, and the keys the
harvester expects (:func:`workbook_keys`) are the plan's keys, so the two cannot disagree; the
writer checks, when it writes, that the keys it wrote are exactly these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .. import layout
from ..drilldown import FINDING_KEYS, NO_DETAIL_MESSAGE, concentration_summary
from ..errors import WorkbookError
from ..findings import findings, identification_run
from ..monitoring import monitoring_row
from ..profiles import Profile
from .activities import COMPLIANT_CHOICES, plan_activities
from .prompts import load_prompts
from .wording import (
    cell_text,
    drilldown_phrase,
    finding_heading,
    indicator_problem_statement,
    problem_statement,
)

__all__ = [
    "WorkbookInputs",
    "WorkbookPlan",
    "SheetPlan",
    "FindingBlock",
    "EntryRow",
    "DrillBlock",
    "plan_workbook",
    "workbook_keys",
    "workbook_filename",
    "previous_note_key",
    "root_cause_choices",
]


@dataclass(frozen=True)
class WorkbookInputs:
    """Everything one LEA's workbook shows.

    Attributes
    ----------
    lea_id, lea_name
        The LEA (CDE 7-digit code) and its name.
    results
        The LEA's rows of the statewide results table (outputs.md section 2), every school year.
        Rows of other LEAs are ignored.
    indicator_rows
        The ``Indicators`` rows (``cimrca.indicators.indicator_sheet``): ``finding_id`` first,
        then indicator, label, ``rate <year>`` columns, target, met, trend...; ``None`` when the
        data set has no indicators.
    figures
        Chart title -> PNG bytes, inserted on ``Charts`` in the given order.
    profile
        The state profile the results were computed with.
    dataset_name, is_synthetic
        The data set's name; ``is_synthetic`` puts a "SYNTHETIC DATA" banner on ``Summary``.
    code_version
        ``cimrca.__version__`` (and anything else that identifies the code).
    generated_at
        When the workbook was made; ``None`` means now (UTC).
    prompts_path
        A root-cause prompts YAML to use instead of the shipped ``root_cause_prompts.yaml``.
    findings
        The findings of ``results`` (:func:`cimrca.findings.findings`) when the caller has them
        already (a packet computes them once); ``None``: computed here.
    drilldown
        The findings' drill-down (:func:`cimrca.drilldown.compute_drilldown`): the "Where in
        the LEA" blocks of ``Drill-Down`` and the top slices the Root Causes draft cites. An
        empty frame (no ``detail.csv``) makes both say so, with ``attrs["message"]``;
        ``None``: no drill-down was asked for, and neither sheet mentions one.
    monitoring
        The LEA's rows of the monitoring table (:func:`cimrca.monitoring.compute_monitoring`);
        ``Summary`` states the level of the review year. ``None``: the profile defines no
        monitoring levels (or they were not computed).
    reason_indicators
        The LEA's indicator findings (:func:`cimrca.monitoring.reason_indicators`): each gets
        a block on ``Root Causes`` and ``Action Plan`` keyed ``<year>:indicator:<code>``
        (monitoring.md section 4). ``None`` or empty: none.
    """

    lea_id: str
    lea_name: str
    results: pd.DataFrame
    profile: Profile
    indicator_rows: pd.DataFrame | None = None
    figures: Mapping[str, bytes] = field(default_factory=dict)
    dataset_name: str = ""
    is_synthetic: bool = False
    code_version: str = ""
    generated_at: datetime | str | None = None
    prompts_path: str | Path | None = None
    findings: pd.DataFrame | None = None
    drilldown: pd.DataFrame | None = None
    monitoring: pd.DataFrame | None = None
    reason_indicators: pd.DataFrame | None = None


@dataclass(frozen=True)
class EntryRow:
    """An annotatable row of ``Root Causes`` or ``Action Plan``: its key, step and prompt."""

    key: str
    step: str
    prompt: str


@dataclass(frozen=True, eq=False)
class FindingBlock:
    """A finding's block of entry rows, under a heading row (and an optional guidance row)."""

    finding: Mapping[str, Any]
    note: str
    rows: tuple[EntryRow, ...]


@dataclass(frozen=True, eq=False)
class DrillBlock:
    """A "Where in the LEA" block of ``Drill-Down``: one finding, one dimension.

    ``title`` names the finding and the dimension, ``sentence`` says how concentrated it is
    (:func:`cimrca.drilldown.concentration_sentence`), ``slices`` holds the dimension's rows of
    :func:`cimrca.drilldown.compute_drilldown`, largest ``over_threshold`` first.
    """

    finding_id: str
    dimension: str
    title: str
    sentence: str
    slices: pd.DataFrame


@dataclass(frozen=True)
class SheetPlan:
    """An annotatable sheet: its annotation columns and the keys of its rows, in row order."""

    name: str
    annotation_columns: tuple[str, ...]
    keys: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class WorkbookPlan:
    """What one workbook holds, decided before it is written (:func:`plan_workbook`).

    Attributes
    ----------
    inputs
        The inputs the plan was made from.
    prompts
        The root-cause prompts (:func:`cimrca.workbook.load_prompts`).
    results
        The LEA's rows of ``inputs.results``.
    years
        The school years of ``results``, oldest first; the findings are of the last.
    found
        The findings (:func:`cimrca.findings.findings`): the ``Disproportionality`` rows.
    indicators
        The ``Indicators`` rows, ``finding_id`` first (no rows when there are none).
    root_causes, action_plan
        One block of entry rows per finding: the disproportionality findings flagged in the
        latest year and the indicator findings (monitoring.md section 4), in the order
        significantly disproportionate, then the reasons for the level, then the rest.
    choices
        The drop-down lists (``status``, ``supported``, ``root_cause``) of the hidden
        ``Lists`` sheet.
    generated
        When the workbook was made (ISO 8601 text).
    sheets
        The annotatable sheets, in workbook order, with the keys of their rows.
    drill_blocks
        The "Where in the LEA" blocks of ``Drill-Down``, by finding then dimension.
    drill_note
        What ``Drill-Down`` says instead of blocks when there is no drill-down data
        (:data:`cimrca.drilldown.NO_DETAIL_MESSAGE`); ``""`` otherwise.
    monitoring
        The LEA's monitoring row of the review year as a mapping (``level``,
        ``cim_required``, ``reasons``...); ``None`` without monitoring levels.
    activities
        The CIM activity sheets after the eight
        (:class:`cimrca.workbook.activities.ActivitySheet`, cim_workbook.md section 1), in
        workbook order; none for an LEA without a finding.
    """

    inputs: WorkbookInputs
    prompts: Mapping[str, Any]
    results: pd.DataFrame
    years: tuple[str, ...]
    found: pd.DataFrame
    indicators: pd.DataFrame
    root_causes: tuple[FindingBlock, ...]
    action_plan: tuple[FindingBlock, ...]
    choices: Mapping[str, tuple[str, ...]]
    generated: str
    sheets: tuple[SheetPlan, ...]
    drill_blocks: tuple[DrillBlock, ...] = ()
    drill_note: str = ""
    monitoring: Mapping[str, Any] | None = None
    activities: tuple[Any, ...] = ()

    @property
    def latest(self) -> str | None:
        """The latest school year, ``None`` without results."""
        return self.years[-1] if self.years else None

    def keys(self) -> list[tuple[str, str]]:
        """``(sheet, finding_id)`` of every annotatable row, in sheet order, then row order."""
        return [(s.name, key) for s in self.sheets for key in s.keys]


def workbook_filename(lea_id: str) -> str:
    """The workbook's file name, ``<lea_id>_workbook.xlsx`` (outputs.md section 3)."""
    return f"{lea_id}_workbook.xlsx"


def previous_note_key(finding_id: str) -> str:
    """The key of ``previous_notes``: a finding's key without its leading ``<school_year>:``.

    ``2024-25:ident_id:BL`` -> ``ident_id:BL`` (a ``Disproportionality`` finding, that is
    ``<category>:<race_ethnicity>``); ``2024-25:indicator:4A`` -> ``indicator:4A``.

    Examples
    --------
    >>> previous_note_key("2024-25:ident_id:BL")
    'ident_id:BL'
    """
    return finding_id.split(":", 1)[1] if ":" in finding_id else finding_id


def plan_workbook(inputs: WorkbookInputs) -> WorkbookPlan:
    """Decide what one LEA's workbook holds: rows, keys, prompts, drop-down choices.

    Parameters
    ----------
    inputs
        What the workbook shows (:class:`WorkbookInputs`).

    Returns
    -------
    WorkbookPlan
        Everything :func:`cimrca.workbook.write_workbook` writes, and the keys of its rows.

    Raises
    ------
    WorkbookError
        When the results lack a column, the indicator rows lack ``finding_id``, or the prompts
        file is unusable.
    """
    prompts = load_prompts(inputs.prompts_path)
    results = _lea_results(inputs)
    years = tuple(sorted(results["school_year"].astype(str).unique())) if len(results) else ()
    found = inputs.findings if inputs.findings is not None else findings(results, inputs.profile)
    indicators = _indicator_rows(inputs)
    monitoring = monitoring_row(inputs.monitoring, years[-1] if years else None)
    flagged = _ordered_findings(found, inputs.reason_indicators, indicators, monitoring)
    drill_blocks, drill_note, phrases = _drilldown_plan(inputs.drilldown, found)
    root_causes = tuple(
        _root_cause_block(r, inputs.lea_name, prompts, phrases.get(r["finding_id"], ""))
        for r in flagged
    )
    action_plan = tuple(_action_block(r, prompts) for r in flagged)
    activities = _activities(inputs, results, years, root_causes, prompts)
    sheets = (
        _sheet("Disproportionality", [str(k) for k in found["finding_id"]]),
        _sheet("Indicators", [cell_text(k) for k in indicators[layout.KEY_HEADER]]),
        _sheet("Root Causes", [row.key for b in root_causes for row in b.rows]),
        _sheet("Action Plan", [row.key for b in action_plan for row in b.rows]),
        *(_sheet(a.name, list(a.keys)) for a in activities),
    )
    return WorkbookPlan(
        inputs=inputs,
        prompts=prompts,
        results=results,
        years=years,
        found=found,
        indicators=indicators,
        root_causes=root_causes,
        action_plan=action_plan,
        choices={
            "status": layout.STATUS_CHOICES,
            "supported": tuple(str(s) for s in prompts["supported_choices"]),
            "root_cause": root_cause_choices(root_causes),
            "compliant": COMPLIANT_CHOICES,
        },
        generated=_generated_at(inputs.generated_at),
        sheets=sheets,
        drill_blocks=drill_blocks,
        drill_note=drill_note,
        monitoring=monitoring,
        activities=activities,
    )


def _activities(
    inputs: WorkbookInputs,
    results: pd.DataFrame,
    years: tuple[str, ...],
    root_causes: tuple[FindingBlock, ...],
    prompts: Mapping[str, Any],
) -> tuple[Any, ...]:
    """The CIM activity sheets of the LEA (:func:`cimrca.workbook.activities.plan_activities`)."""
    first, run = identification_run(results)
    continuing = (
        f"Significantly disproportionate {run} school years in a row, first identified in {first}."
        if run >= 2
        else ""
    )
    return plan_activities(
        years[-1] if years else None,
        f"{inputs.lea_name} ({inputs.lea_id})",
        root_causes,
        fraction=float(prompts["action_plan"]["cceis_reservation_fraction"]),
        continuing=continuing,
    )


def root_cause_choices(blocks: tuple[FindingBlock, ...]) -> tuple[str, ...]:
    """The root-cause drop-down of Action Plan and CCEIS Plan: every Root Causes entry but the
    problem of practice, as ``<key> <step>`` (the writer adds the team's text to each).

    cim_workbook.md section 2: the Action Plan's root cause is picked from the LEA's Root
    Causes entries.
    """
    return tuple(f"{row.key} {row.step}" for b in blocks for row in b.rows[1:])


def workbook_keys(inputs: WorkbookInputs) -> list[tuple[str, str]]:
    """``(sheet, finding_id)`` of every annotatable row :func:`write_workbook` writes.

    The batch hands these to ``cimrca.annotations.prepare_rewrite`` before the workbook is
    written, to split stored annotations into those with a row and orphans. They are the keys
    of :func:`plan_workbook`, which the writer checks it wrote.

    Parameters
    ----------
    inputs
        The same inputs as given to :func:`write_workbook`.

    Returns
    -------
    list of tuple
        In sheet order, then row order: ``Disproportionality`` findings, ``Indicators`` rows,
        ``Root Causes`` and ``Action Plan`` entry rows.
    """
    return plan_workbook(inputs).keys()


def _sheet(name: str, keys: list[str]) -> SheetPlan:
    return SheetPlan(name, layout.ANNOTATION_COLUMNS[name], tuple(keys))


def _lea_results(inputs: WorkbookInputs) -> pd.DataFrame:
    results = inputs.results
    if "lea_id" in results:
        results = results[results["lea_id"].astype(str) == str(inputs.lea_id)]
    return results


def _generated_at(value: datetime | str | None) -> str:
    if value is None:
        value = datetime.now(UTC)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _indicator_rows(inputs: WorkbookInputs) -> pd.DataFrame:
    """The ``Indicators`` rows; a frame of no rows and the first three columns when none."""
    frame = inputs.indicator_rows
    if frame is None or frame.empty:
        return pd.DataFrame(columns=[layout.KEY_HEADER, "indicator", "label"])
    if layout.KEY_HEADER not in frame.columns:
        raise WorkbookError(
            f"the indicator rows lack the key column {layout.KEY_HEADER!r}; give the "
            "frame of cimrca.indicators.indicator_sheet.",
            lea_id=str(inputs.lea_id),
        )
    return frame


def _one_line(text: str) -> str:
    return " ".join(text.split())


_DRILL_BY = {
    "school": "by school",
    "grade_band": "by grade band",
    "gender": "by gender",
    "english_learner": "English learners and other students",
    "socioeconomically_disadvantaged": "socioeconomically disadvantaged and other students",
    "disability": "by disability",
}


def _drilldown_plan(
    drill: pd.DataFrame | None, found: pd.DataFrame
) -> tuple[tuple[DrillBlock, ...], str, dict[str, str]]:
    """The Drill-Down blocks, the no-data note and each finding's Root Causes phrase.

    drilldown.md section 3: per finding and dimension the slices largest part first, with the
    sentence on concentration; the Root Causes draft cites the top slices. Without drill-down
    data the note replaces the blocks and every flagged finding's draft says so.
    """
    if drill is None:
        return (), "", {}
    ids = found[[*FINDING_KEYS, "finding_id"]].astype({"lea_id": str})
    if found.empty:
        return (), "", {}
    if drill.empty:
        message = str(drill.attrs.get("message", "")) or NO_DETAIL_MESSAGE
        phrase = drilldown_phrase(pd.DataFrame(), no_data=True)
        return (), message, dict.fromkeys(ids["finding_id"], phrase)
    drill = drill.astype({"lea_id": str}).merge(ids, on=list(FINDING_KEYS))
    summary = concentration_summary(drill).merge(ids, on=list(FINDING_KEYS))
    slices = dict(tuple(drill.groupby(["finding_id", "dimension"], sort=False)))
    labels = dict(zip(found["finding_id"], found.to_dict("records"), strict=True))
    blocks = tuple(
        DrillBlock(
            finding_id=s["finding_id"],
            dimension=s["dimension"],
            title=f"{finding_heading(labels[s['finding_id']])}: {_DRILL_BY[s['dimension']]}",
            sentence=s["sentence"],
            slices=slices[(s["finding_id"], s["dimension"])].reset_index(drop=True),
        )
        for s in summary.to_dict("records")
    )
    phrases = {
        fid: drilldown_phrase(rows) for fid, rows in summary.groupby("finding_id", sort=False)
    }
    return blocks, "", phrases


#: Order of the finding blocks (monitoring.md section 4).
_SD, _REASON, _REST = 0, 1, 2


def _ordered_findings(
    found: pd.DataFrame,
    reason_indicators: pd.DataFrame | None,
    indicators: pd.DataFrame,
    monitoring: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """The findings that get Root Causes and Action Plan blocks, in their order.

    The disproportionality findings flagged in the latest year and the indicator findings
    (monitoring.md section 4), ordered: significantly disproportionate first, then the reasons
    for the LEA's level (indicators marked ``level_reason``; flagged rows above the threshold
    two or more years in a row when the level is ``targeted_3``, monitoring.md rule 7), then
    the rest; disproportionality before indicators within each, each in its own order.
    """
    flagged = found[found["level"].isin(["identified", "flagged"])].to_dict("records")
    level = str(monitoring["level"]) if monitoring is not None else ""
    for r in flagged:
        years = r.get("consecutive_years")
        two = level == "targeted_3" and pd.notna(years) and float(years) >= 2
        r["_order"] = _SD if r["level"] == "identified" else _REASON if two else _REST
    records = flagged + _indicator_findings(reason_indicators, indicators)
    return sorted(records, key=lambda r: r["_order"])


def _indicator_findings(
    reason_indicators: pd.DataFrame | None, indicators: pd.DataFrame
) -> list[dict[str, Any]]:
    """One record per indicator finding, with the ``Indicators`` row's State rate and trend."""
    if reason_indicators is None or reason_indicators.empty:
        return []
    facts = ("state_rate", "trend_direction", "trend_slope")
    by_key = (
        indicators.set_index(layout.KEY_HEADER)
        if layout.KEY_HEADER in indicators.columns
        else pd.DataFrame()
    )
    out = []
    for r in reason_indicators.to_dict("records"):
        key = layout.indicator_key(str(r["school_year"]), str(r["indicator"]))
        row = by_key.loc[key] if key in by_key.index else {}
        out.append({
            **r,
            **{f: row.get(f, None) for f in facts},
            "kind": "indicator",
            "finding_id": key,
            "level": "indicator",
            "_order": _REASON if bool(r["level_reason"]) else _REST,
        })  # fmt: skip
    return out


def _indicator_prompts(prompts: Mapping[str, Any]) -> Mapping[str, Any]:
    """``prompts`` with the indicator keys, taken from the shipped file when it lacks them."""
    keys = ("indicator_problem_statement", "indicator_families", "default_indicator_family",
            "indicator_action_note")  # fmt: skip
    if all(k in prompts for k in keys):
        return prompts
    shipped = load_prompts(None)
    return {**{k: shipped[k] for k in keys}, **prompts}


def _family(code: str, prompts: Mapping[str, Any]) -> Mapping[str, Any]:
    """The indicator family of ``code`` (its fishbone prompts), or the default family."""
    for family in prompts["indicator_families"].values():
        if code in [str(c) for c in family["indicators"]]:
            return family
    return prompts["default_indicator_family"]


def _root_cause_block(
    finding: Mapping[str, Any], lea_name: str, prompts: Mapping[str, Any], where: str = ""
) -> FindingBlock:
    """Problem of practice, fishbone categories, five whys, hypotheses: one row each.

    ``where`` (the drill-down's top slices, :func:`cimrca.workbook.wording.drilldown_phrase`)
    follows the problem statement. An indicator finding has the same steps (so its keys line
    up), with its statement drafted from the indicator and the fishbone prompts of its family
    (monitoring.md section 4).
    """
    if finding.get("kind") == "indicator":
        prompts = _indicator_prompts(prompts)
        statement = indicator_problem_statement(finding, lea_name, prompts)
        family = _family(str(finding["indicator"]), prompts)
        fishbone = [
            (f"Fishbone: {fb['category']}", str(text))
            for fb, text in zip(prompts["fishbone"], family["fishbone"], strict=False)
        ]
    else:
        statement = problem_statement(finding, lea_name, prompts)
        fishbone = [
            (f"Fishbone: {fb['category']}", str(fb["prompt"])) for fb in prompts["fishbone"]
        ]
    if where:
        statement = f"{statement} {where}"
    steps = [("Problem of practice", f"{statement}\n\n{_one_line(prompts['problem_prompt'])}")]
    steps += fishbone
    steps += [(f"Five whys {i}", str(q)) for i, q in enumerate(prompts["five_whys"], start=1)]
    steps += [(f"Hypothesis {i}", str(q)) for i, q in enumerate(prompts["hypotheses"], start=1)]
    if finding.get("kind") != "indicator" and prompts.get("factors_prompt"):
        steps.append(("Root-cause factors", str(prompts["factors_prompt"])))
    rows = tuple(
        EntryRow(
            key=layout.root_cause_key(finding["finding_id"], n),
            step=step,
            prompt=prompt if "\n" in prompt else _one_line(prompt),
        )
        for n, (step, prompt) in enumerate(steps, start=1)
    )
    return FindingBlock(finding=finding, note="", rows=rows)


def _action_block(finding: Mapping[str, Any], prompts: Mapping[str, Any]) -> FindingBlock:
    """The CCEIS (identified) or flagged guidance, then ``rows_per_finding`` action rows."""
    ap = prompts["action_plan"]
    frac = float(ap["cceis_reservation_fraction"])
    if finding.get("kind") == "indicator":
        why = str(finding.get("why", "")) or "target missed"
        note = str(_indicator_prompts(prompts)["indicator_action_note"]).replace("{level}", why)
    else:
        note = ap["cceis_note"] if finding["level"] == "identified" else ap["flagged_note"]
    rows = tuple(
        EntryRow(
            key=layout.action_key(finding["finding_id"], n),
            step="",
            prompt=_one_line(str(ap["prompt"]).format(n=n)),
        )
        for n in range(1, int(ap["rows_per_finding"]) + 1)
    )
    return FindingBlock(
        finding=finding, note=_one_line(str(note).format(fraction=f"{frac:.0%}")), rows=rows
    )
