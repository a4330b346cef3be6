"""The per-LEA root-cause workbook (outputs.md section 4).

:func:`write_workbook` writes ``<lea_id>_workbook.xlsx`` with xlsxwriter: the eight sheets of
:data:`cimrca.layout.SHEETS` in order, then ``Orphaned annotations`` when there are any, then the
hidden ``Lists`` sheet of drop-down choices. The rows of ``Disproportionality`` are the
findings of :func:`cimrca.findings.findings` (re-exported here with :data:`RATIO_PREFIX` and
:data:`FINDING_LEVELS`).

Decide, then write: :func:`plan_workbook` decides what the workbook holds (rows, keys, prompts,
drop-down lists) as a :class:`WorkbookPlan`; :func:`workbook_keys` is the plan's keys; one small
writer per sheet formats the plan, and the writer checks that the keys it wrote are exactly the
plan's.

=================  ==========================================================================
module             what it holds
=================  ==========================================================================
``plan``           :class:`WorkbookInputs`, the plan and its keys
``prompts``        the root-cause prompts file, named by file name and content hash
``wording``        labels and sentences drafted from the data
``cells``          formats, text and number cells, keys, annotations, print setup, protection
``sheets``         Summary, Disproportionality, Indicators, Drill-Down, Charts, Parameters
``cim``            Root Causes and Action Plan
``writer``         :func:`write_workbook`: the sheets in order, orphans, lists, the key check
=================  ==========================================================================

Layout contract (:mod:`cimrca.layout`): on every annotatable sheet one header row has
``finding_id`` in column A; every row below it with a key in column A is annotatable, and its
annotation cells sit under the headers of ``layout.ANNOTATION_COLUMNS[sheet]``. Heading and
guidance rows between blocks leave column A empty. Annotation cells are unlocked; every other cell
is locked by sheet protection without a password.

The CIM prompts (fishbone categories, five whys, hypotheses, action-plan guidance, CCEIS note)
come from ``templates/root_cause_prompts.yaml``, which a State edits without touching code.
"""

from ..findings import FINDING_LEVELS, RATIO_PREFIX, findings
from .plan import (
    DrillBlock,
    EntryRow,
    FindingBlock,
    SheetPlan,
    WorkbookInputs,
    WorkbookPlan,
    plan_workbook,
    previous_note_key,
    workbook_filename,
    workbook_keys,
)
from .prompts import DEFAULT_PROMPTS, load_prompts, prompts_label
from .writer import write_workbook

__all__ = [
    "WorkbookInputs",
    "WorkbookPlan",
    "SheetPlan",
    "FindingBlock",
    "EntryRow",
    "DrillBlock",
    "plan_workbook",
    "findings",
    "write_workbook",
    "workbook_filename",
    "load_prompts",
    "prompts_label",
    "previous_note_key",
    "workbook_keys",
    "RATIO_PREFIX",
    "FINDING_LEVELS",
    "DEFAULT_PROMPTS",
]
