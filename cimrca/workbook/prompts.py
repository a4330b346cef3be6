"""The root-cause prompts: fishbone categories, five whys, hypotheses, action-plan guidance.

They come from ``templates/root_cause_prompts.yaml``, which a State edits without touching code.
A workbook names the file it used by file name and content hash (README decision 14), never by
a path of the machine that made it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from ..errors import WorkbookError
from ..resources import PROMPTS_NAME, prompts_path

__all__ = ["load_prompts", "prompts_label", "DEFAULT_PROMPTS"]

#: The shipped prompts file (a repository file; a State may pass its own to write_workbook).
DEFAULT_PROMPTS = PROMPTS_NAME
#: Hex digits of the SHA-256 shown beside the prompts file's name.
_HASH_DIGITS = 12


def _default_prompts_path() -> Path:
    path = prompts_path()
    if not path.is_file():
        raise WorkbookError(
            f"the root-cause prompts file {DEFAULT_PROMPTS} was not found in {path.parent}. "
            "Reinstall cimrca or pass prompts_path to a copy of templates/root_cause_prompts.yaml.",
            file=path,
        )
    return path


def prompts_label(name: str, content: bytes) -> str:
    """How a workbook names a prompts file: its file name and a short SHA-256 of its bytes.

    Examples
    --------
    >>> prompts_label("root_cause_prompts.yaml", b"fishbone: []")
    'root_cause_prompts.yaml (sha256 f06f73fd38bf)'
    """
    return f"{name} (sha256 {hashlib.sha256(content).hexdigest()[:_HASH_DIGITS]})"


def load_prompts(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check the root-cause prompts YAML (``templates/root_cause_prompts.yaml``).

    Parameters
    ----------
    path
        A prompts file; ``None`` reads the shipped one.

    Returns
    -------
    dict
        The file's mapping, plus ``_source`` (the path read, for error messages) and ``_label``
        (file name and content hash, :func:`prompts_label`, what the workbook shows).

    Raises
    ------
    WorkbookError
        When the file is missing, not YAML, lacks a key, or a list is empty.

    Examples
    --------
    >>> p = load_prompts()
    >>> [f["category"] for f in p["fishbone"]][:2]
    ['Policies, practices and procedures', 'Instruction and access']
    >>> p["_label"].startswith("root_cause_prompts.yaml (sha256 ")
    True
    """
    file = Path(path) if path is not None else _default_prompts_path()
    if not file.is_file():
        raise WorkbookError(
            f"root-cause prompts file {file} does not exist. Give a copy of "
            "templates/root_cause_prompts.yaml.",
            file=file,
        )
    # a copy: the caller may change what it gets, the next LEA gets the file's contents
    return copy.deepcopy(_parsed(file, file.read_bytes()))


@functools.lru_cache(maxsize=4)
def _parsed(file: Path, content: bytes) -> dict[str, Any]:
    """``file``'s prompts, parsed and checked once per content (a batch plans LEA after LEA)."""
    try:
        raw = yaml.safe_load(content.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WorkbookError(
            f"root-cause prompts file {file} is not valid YAML: {exc}. Fix its syntax.", file=file
        ) from None
    _check(raw, file)
    raw["_source"] = str(file)
    raw["_label"] = prompts_label(file.name, content)
    return raw


def _check(raw: Any, file: Path) -> None:
    """Raise :class:`WorkbookError` naming the first key of ``raw`` that is missing or wrong."""

    def fail(message: str) -> WorkbookError:
        return WorkbookError(f"root-cause prompts file {file}: {message}", file=file)

    if not isinstance(raw, dict):
        raise fail("it must be a YAML mapping with keys such as fishbone and five_whys.")
    text_keys = ("problem_statement", "problem_prompt")
    list_keys = ("fishbone", "five_whys", "hypotheses", "supported_choices")
    for key in (*text_keys, *list_keys, "action_plan", "comparison_phrases", "outcome_phrases"):
        if key not in raw:
            raise fail(f"the key `{key}` is missing; copy it from the shipped file.")
    for key in text_keys:
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(f"`{key}` must be a non-empty text.")
    for key in list_keys:
        if not isinstance(raw[key], list) or not raw[key]:
            raise fail(f"`{key}` must be a non-empty list.")
    for i, item in enumerate(raw["fishbone"], start=1):
        if not isinstance(item, dict) or not {"category", "prompt"} <= set(item):
            raise fail(f"fishbone entry {i} must have `category` and `prompt`.")
    ap = raw["action_plan"]
    needed = ("rows_per_finding", "prompt", "cceis_note", "flagged_note")
    if not isinstance(ap, dict) or any(k not in ap for k in needed):
        raise fail(f"`action_plan` must have {', '.join(needed)} and cceis_reservation_fraction.")
    _check_indicator_families(raw, fail)
    rows = ap["rows_per_finding"]
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
        raise fail(
            f"action_plan.rows_per_finding must be a whole number of 1 or more, found {rows!r}."
        )
    frac = ap.get("cceis_reservation_fraction")
    if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0 < frac <= 1:
        raise fail(
            "action_plan.cceis_reservation_fraction must be a proportion such as 0.15 "
            f"(34 CFR 300.646(d)), found {frac!r}."
        )


def _check_indicator_families(raw: dict[str, Any], fail: Any) -> None:
    """Check the optional indicator-finding keys (monitoring.md section 4) when present.

    A prompts file without them uses the shipped file's; when present, every family needs
    ``indicators`` and one ``fishbone`` prompt per ``fishbone`` category.
    """
    n = len(raw["fishbone"])
    families = raw.get("indicator_families", {})
    if not isinstance(families, dict):
        raise fail("`indicator_families` must be a mapping of family names to entries.")
    default = raw.get("default_indicator_family")
    entries = list(families.items()) + ([("default_indicator_family", default)] if default else [])
    for name, family in entries:
        if not isinstance(family, dict) or not isinstance(family.get("fishbone"), list):
            raise fail(f"indicator family `{name}` must have a `fishbone` list.")
        if len(family["fishbone"]) != n:
            raise fail(
                f"indicator family `{name}` has {len(family['fishbone'])} fishbone prompts; "
                f"give one per fishbone category ({n})."
            )
        if name != "default_indicator_family" and not isinstance(family.get("indicators"), list):
            raise fail(f"indicator family `{name}` must list its `indicators` (codes).")
