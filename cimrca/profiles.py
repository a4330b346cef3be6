"""State profiles: every policy choice of the calculation, read from YAML (methodology.md section 6).

A profile is named (``california``, ``federal_defaults``, shipped in the package) or given as a
path to a YAML file. :func:`load_profile` validates it and returns a frozen :class:`Profile`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .codes import CATEGORY_CODES
from .errors import ProfileError
from .values import is_school_year

__all__ = ["Profile", "MonitoringRules", "load_profile", "shipped_profiles", "DEFAULT_PROFILE"]

DEFAULT_PROFILE = "california"
_KNOWN_KEYS = {
    "name", "threshold", "min_cell", "min_n", "years_required", "reasonable_progress",
    "suppress_public_counts_below", "watch_fraction", "skip_years", "categories", "description",
    "monitoring",
}  # fmt: skip
#: Keys of the optional ``monitoring`` section (monitoring.md section 2); every one is required.
_MONITORING_KEYS = (
    "small_lea_max_swd", "min_denominator", "domains", "min_domains", "intensive_bands",
    "targeted_3_band", "lre_indicators", "lre_bottom",
)  # fmt: skip
_DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MonitoringRules:
    """The numbers of the monitoring-level rules (monitoring.md section 2), from a profile.

    ``domains`` maps a domain name (``achievement``) to its indicator codes, in the profile's
    order; ``intensive_bands`` are the composite percentiles at or under which an LEA is
    Intensive 3, 2 and 1, ascending; ``targeted_3_band`` is the Targeted 3 band above them.
    """

    small_lea_max_swd: int
    min_denominator: int
    domains: Mapping[str, tuple[str, ...]]
    min_domains: int
    intensive_bands: tuple[float, float, float]
    targeted_3_band: float
    lre_indicators: tuple[str, ...]
    lre_bottom: float

    @property
    def ranked_indicators(self) -> tuple[str, ...]:
        """Every indicator that is ranked: those of the domains, then the LRE indicators."""
        codes = [c for codes in self.domains.values() for c in codes] + list(self.lre_indicators)
        return tuple(dict.fromkeys(codes))

    def to_dict(self) -> dict[str, Any]:
        """The rules as plain JSON values (lists and a mapping of lists)."""
        return {
            "small_lea_max_swd": self.small_lea_max_swd,
            "min_denominator": self.min_denominator,
            "domains": {name: list(codes) for name, codes in self.domains.items()},
            "min_domains": self.min_domains,
            "intensive_bands": list(self.intensive_bands),
            "targeted_3_band": self.targeted_3_band,
            "lre_indicators": list(self.lre_indicators),
            "lre_bottom": self.lre_bottom,
        }

    def to_display(self) -> dict[str, Any]:
        """The rules as one number or one line of text per key (for a Parameters sheet)."""
        d = self.to_dict()
        d["domains"] = "; ".join(f"{k}: {', '.join(v)}" for k, v in self.domains.items())
        d["intensive_bands"] = ", ".join(f"{b:g}" for b in self.intensive_bands)
        d["lre_indicators"] = ", ".join(self.lre_indicators) or "(none)"
        return d


@dataclass(frozen=True)
class Profile:
    """A validated state profile.

    ``threshold``, ``min_cell`` and ``min_n`` hold one value per category code (a profile may
    give one number for all, or a mapping with ``default``); use :meth:`threshold_for` and
    friends rather than indexing. ``monitoring`` holds the monitoring-level rules
    (monitoring.md section 2), or ``None`` when the profile defines no monitoring levels.
    ``source`` is where the profile was read from.
    """

    name: str
    threshold: Mapping[str, float]
    min_cell: Mapping[str, int]
    min_n: Mapping[str, int]
    years_required: int = 3
    reasonable_progress: bool = False
    reasonable_progress_min_decrease: float = 0.0
    suppress_public_counts_below: int = 11
    watch_fraction: float = 0.8
    skip_years: tuple[str, ...] = ()
    categories: tuple[str, ...] = CATEGORY_CODES
    monitoring: MonitoringRules | None = None
    source: str = field(default="", compare=False)

    def threshold_for(self, category: str) -> float:
        return self.threshold[category]

    def min_cell_for(self, category: str) -> int:
        return self.min_cell[category]

    def min_n_for(self, category: str) -> int:
        return self.min_n[category]

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain values, for the Parameters sheet, packets and results metadata."""
        d = asdict(self)
        d.pop("monitoring")
        if self.monitoring is not None:
            d["monitoring"] = self.monitoring.to_display()
        for key in ("threshold", "min_cell", "min_n"):
            values = set(d[key].values())
            d[key] = values.pop() if len(values) == 1 else dict(d[key])
        d["skip_years"] = list(self.skip_years)
        d["categories"] = list(self.categories)
        return d


def shipped_profiles() -> list[str]:
    """Names of the profiles shipped with the package, ready to use (``example_state`` is a
    template to copy and fill in, not a profile)."""
    folder = resources.files("cimrca") / "state_profiles"
    names = (p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
    return sorted(n for n in names if n != "example_state")


def load_profile(name_or_path: str | Path | Mapping[str, Any] = DEFAULT_PROFILE) -> Profile:
    """Load and validate a state profile.

    Parameters
    ----------
    name_or_path
        A shipped profile's name (``"california"``, ``"federal_defaults"``), a path to a YAML
        file, or an already parsed mapping.

    Raises
    ------
    ProfileError
        When the file is missing or not YAML, a required key (``threshold``) is missing, a value
        is out of range (``min_cell`` below 1) or a category code is unknown.

    Examples
    --------
    >>> p = load_profile("california")
    >>> p.threshold_for("ident_all"), p.min_cell_for("ident_all"), p.years_required
    (3.0, 10, 3)
    """
    if isinstance(name_or_path, Mapping):
        return _parse(dict(name_or_path), source="<mapping>")
    text, source = _read(name_or_path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(
            f"profile {source} is not valid YAML: {exc}. Fix the file's syntax.", file=source
        ) from None
    if not isinstance(raw, dict):
        raise ProfileError(
            f"profile {source} must be a YAML mapping of keys such as threshold and min_cell.",
            file=source,
        )
    return _parse(raw, source=source)


def _read(name_or_path: str | Path) -> tuple[str, str]:
    candidate = Path(name_or_path)
    looks_like_path = any(sep in str(name_or_path) for sep in ("/", "\\"))
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists() or looks_like_path:
        if not candidate.is_file():
            raise ProfileError(
                f"profile file {candidate} does not exist. Give a path to a YAML file or one of "
                f"the shipped profiles: {', '.join(shipped_profiles())}.",
                file=candidate,
            )
        return candidate.read_text(encoding="utf-8"), str(candidate)
    name = str(name_or_path)
    resource = resources.files("cimrca") / "state_profiles" / f"{name}.yaml"
    if not resource.is_file():
        raise ProfileError(
            f"unknown profile {name!r}. Use one of {', '.join(shipped_profiles())} "
            "or a path to a YAML file."
        )
    return resource.read_text(encoding="utf-8"), f"{name} (shipped)"


def _parse(raw: dict[str, Any], *, source: str) -> Profile:
    def fail(message: str) -> ProfileError:
        return ProfileError(f"profile {source}: {message}", file=source)

    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(unknown)}. Known keys: {', '.join(sorted(_KNOWN_KEYS))}."
        )

    categories = raw.get("categories", "all")
    if categories in (None, "all"):
        categories = CATEGORY_CODES
    elif isinstance(categories, list) and categories:
        bad = [c for c in categories if c not in CATEGORY_CODES]
        if bad:
            raise fail(
                f"unknown category {bad[0]!r} in categories. Known: {', '.join(CATEGORY_CODES)}."
            )
        categories = tuple(c for c in CATEGORY_CODES if c in categories)
    else:
        raise fail("categories must be `all` or a non-empty list of category codes.")

    if raw.get("threshold") is None:
        raise fail(
            "the key `threshold` is missing. Set `threshold:` to the State's risk ratio threshold "
            "(a number such as 3.0, or a mapping like {default: 3.0, disc_tdr: 2.5})."
        )
    threshold = _per_category(raw["threshold"], "threshold", float, 0.0, strict_min=True, fail=fail)
    min_cell = _per_category(raw.get("min_cell", 10), "min_cell", int, 1, fail=fail)
    min_n = _per_category(raw.get("min_n", 30), "min_n", int, 1, fail=fail)

    years_required = raw.get("years_required", 3)
    if (
        not isinstance(years_required, int)
        or isinstance(years_required, bool)
        or not 1 <= years_required <= 3
    ):
        raise fail(f"years_required must be 1, 2 or 3 (300.647(d)(1)), found {years_required!r}.")

    rp = raw.get("reasonable_progress", {}) or {}
    if isinstance(rp, bool):
        rp = {"enabled": rp}
    if not isinstance(rp, dict) or set(rp) - {"enabled", "min_decrease"}:
        raise fail(
            "reasonable_progress must be a mapping {enabled: true/false, min_decrease: number}."
        )
    rp_enabled = rp.get("enabled", False)
    if not isinstance(rp_enabled, bool):
        raise fail(f"reasonable_progress.enabled must be true or false, found {rp_enabled!r}.")
    rp_d = _number(rp.get("min_decrease", 0.0), "reasonable_progress.min_decrease", fail)
    if rp_d < 0:
        raise fail(f"reasonable_progress.min_decrease must be 0 or more, found {rp_d!r}.")

    watch = _number(raw.get("watch_fraction", 0.8), "watch_fraction", fail)
    if not 0 < watch <= 1:
        raise fail(f"watch_fraction must be greater than 0 and at most 1, found {watch!r}.")
    suppress = raw.get("suppress_public_counts_below", 11)
    if not isinstance(suppress, int) or suppress < 0:
        raise fail(f"suppress_public_counts_below must be a whole number, found {suppress!r}.")

    skip = raw.get("skip_years") or []
    if not isinstance(skip, list) or any(not is_school_year(y) for y in skip):
        raise fail(f'skip_years must be a list of school years like "2019-20", found {skip!r}.')

    name = raw.get("name") or (
        "custom" if source.startswith("<") else Path(source.split(" ")[0]).stem
    )
    return Profile(
        name=str(name),
        threshold=threshold,
        min_cell=min_cell,
        min_n=min_n,
        years_required=years_required,
        reasonable_progress=rp_enabled,
        reasonable_progress_min_decrease=rp_d,
        suppress_public_counts_below=suppress,
        watch_fraction=watch,
        skip_years=tuple(skip),
        categories=tuple(categories),
        monitoring=_monitoring(raw.get("monitoring"), fail),
        source=source,
    )


def _monitoring(raw: Any, fail) -> MonitoringRules | None:
    """Validate the optional ``monitoring`` section (monitoring.md section 2)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail("monitoring must be a mapping of the keys " + ", ".join(_MONITORING_KEYS) + ".")
    unknown = sorted(set(raw) - set(_MONITORING_KEYS))
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(f'monitoring.{k}' for k in unknown)}. "
            f"Known: {', '.join(_MONITORING_KEYS)}."
        )
    missing = [k for k in _MONITORING_KEYS if raw.get(k) is None]
    if missing:
        raise fail(
            f"the key `monitoring.{missing[0]}` is missing. Set it (example_state.yaml "
            "documents every key of the monitoring section)."
        )

    def whole(key: str, minimum: int) -> int:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise fail(f"monitoring.{key} must be a whole number of at least {minimum}, "
                       f"found {value!r}.")  # fmt: skip
        return value

    def percentile(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise fail(f"monitoring.{key} must be a percentile from 0 to 100, found {value!r}.")
        return float(value)

    def codes(key: str, value: Any, *, allow_empty: bool) -> tuple[str, ...]:
        ok = isinstance(value, list) and (allow_empty or value)
        if not ok or any(
            isinstance(c, bool) or not isinstance(c, str | int) or not str(c).strip() for c in value
        ):
            raise fail(f"monitoring.{key} must be a list of indicator codes such as "
                       f"[5A, 5B, 5C], found {value!r}.")  # fmt: skip
        return tuple(dict.fromkeys(str(c).strip() for c in value))

    domains_raw = raw["domains"]
    if not isinstance(domains_raw, dict) or not domains_raw:
        raise fail(
            "monitoring.domains must be a mapping of domain names to lists of indicator codes, "
            f"such as {{achievement: [3B_ELA, 3B_MATH]}}, found {domains_raw!r}."
        )
    domains = {}
    for name, value in domains_raw.items():
        if not isinstance(name, str) or not _DOMAIN_NAME.match(name):
            raise fail(
                f"monitoring.domains: the domain name {name!r} must be lower-case letters, "
                "digits and underscores, starting with a letter (it names a column)."
            )
        domains[name] = codes(f"domains.{name}", value, allow_empty=False)

    min_domains = whole("min_domains", 1)
    if min_domains > len(domains):
        raise fail(
            f"monitoring.min_domains must be at most the number of domains ({len(domains)}), "
            f"found {min_domains!r}."
        )
    bands = raw["intensive_bands"]
    if not isinstance(bands, list) or len(bands) != 3:
        raise fail(
            "monitoring.intensive_bands must be a list of three ascending percentiles "
            f"(Intensive 3, 2, 1), such as [4, 8, 10], found {bands!r}."
        )
    bands = tuple(percentile("intensive_bands", b) for b in bands)
    if not bands[0] < bands[1] < bands[2]:
        raise fail(
            "monitoring.intensive_bands must be strictly ascending (Intensive 3, 2, 1), "
            f"found {list(raw['intensive_bands'])!r}."
        )
    targeted = percentile("targeted_3_band", raw["targeted_3_band"])
    if targeted < bands[2]:
        raise fail(
            f"monitoring.targeted_3_band must be at least the last intensive band ({bands[2]:g}), "
            f"found {raw['targeted_3_band']!r}."
        )
    return MonitoringRules(
        small_lea_max_swd=whole("small_lea_max_swd", 0),
        min_denominator=whole("min_denominator", 1),
        domains=domains,
        min_domains=min_domains,
        intensive_bands=bands,
        targeted_3_band=targeted,
        lre_indicators=codes("lre_indicators", raw["lre_indicators"], allow_empty=True),
        lre_bottom=percentile("lre_bottom", raw["lre_bottom"]),
    )


def _number(value: Any, key: str, fail) -> float:
    """A finite number (YAML's ``.nan`` and ``.inf`` are refused, naming ``key``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{key} must be a number, found {value!r}.")
    if not math.isfinite(value):
        raise fail(f"{key} must be a finite number, found {value!r}. Write a number such as 0.8.")
    return float(value)


def _per_category(value, key, kind, minimum, *, fail, strict_min=False) -> dict[str, Any]:
    """Expand a number or a ``{default: x, <category>: y}`` mapping to one value per category."""
    if isinstance(value, dict):
        unknown = [k for k in value if k != "default" and k not in CATEGORY_CODES]
        if unknown:
            raise fail(
                f"unknown category {unknown[0]!r} in {key}. Known: default, {', '.join(CATEGORY_CODES)}."
            )
        missing = [c for c in CATEGORY_CODES if c not in value]
        if missing and "default" not in value:
            raise fail(f"{key} has no value for {missing[0]}: add a `default` entry.")
        values = {c: value.get(c, value.get("default")) for c in CATEGORY_CODES}
    else:
        values = dict.fromkeys(CATEGORY_CODES, value)
    out = {}
    for category, v in values.items():
        if kind is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, int | float) and not isinstance(v, bool)
        where = key if not isinstance(value, dict) else f"{key} ({category})"
        if not ok:
            noun = "a whole number" if kind is int else "a number"
            raise fail(f"{where} must be {noun}, found {v!r}.")
        if not math.isfinite(v):
            raise fail(f"{where} must be a finite number, found {v!r}. Write a number such as 3.0.")
        too_small = v <= minimum if strict_min else v < minimum
        if too_small:
            bound = f"greater than {minimum:g}" if strict_min else f"at least {minimum}"
            raise fail(f"{where} must be {bound}, found {v!r}.")
        out[category] = kind(v)
    return out
