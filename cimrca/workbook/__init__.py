"""The per-LEA root-cause workbook (outputs.md section 4); see :mod:`cimrca.workbook.sheets`."""

from .sheets import (
    DEFAULT_PROMPTS,
    FINDING_LEVELS,
    RATIO_PREFIX,
    WorkbookInputs,
    findings,
    load_prompts,
    previous_note_key,
    workbook_filename,
    workbook_keys,
    write_workbook,
)

__all__ = [
    "WorkbookInputs",
    "findings",
    "write_workbook",
    "workbook_filename",
    "load_prompts",
    "previous_note_key",
    "workbook_keys",
    "RATIO_PREFIX",
    "FINDING_LEVELS",
    "DEFAULT_PROMPTS",
]
