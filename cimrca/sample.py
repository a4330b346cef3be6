"""The synthetic California-like sample data set (``cimrca sample``, data.md section 3).

:func:`generate_sample` builds every canonical table of data.md section 1 from a seed, with no
file access; :func:`write_sample` writes them as CSV with a ``dataset.yaml`` that marks them
synthetic and a ``README.md`` that lists the built-in cases.

How the counts are made (all vectorised over LEAs x years x groups with numpy):

- LEAs: about 2.5% county offices, 56.5% charters, the rest districts (unified, elementary and
  high school districts in California's proportions). Enrollment is log-normal by kind of LEA,
  with a few large unified districts of 30,000 to 150,000 (and one of about 420,000 at state
  scale); charters are small. Every name is invented.
- Enrollment by race: each LEA's shares are drawn from a Dirichlet distribution around the
  statewide shares, then raked so that the state matches California's (:data:`STATE_RACE_SHARES`)
  while each LEA keeps its own mix; shares drift from year to year.
- Child count: identification near 13% (:data:`IDENTIFICATION_RATE`) with LEA and group
  variation, split across the 13 disabilities by a multinomial draw around
  :data:`DISABILITY_MIX`, adjusted by group (:data:`RACE_DISABILITY_FACTORS`).
- Environments (school-age children, :data:`SCHOOL_AGE_SHARE` of the child count) and discipline
  (children removed, and removals ``TDR``) vary by LEA and group; discipline drops in 2020-21
  (distance learning, :data:`DISCIPLINE_YEAR_FACTORS`). Suspensions of more than 10 days in school
  (``ISS_GT10``) are almost absent statewide, as in California.
- Indicators: SPP/APR rates per LEA and year around statewide means, with targets; most
  LEAs at exactly 100% on the compliance indicators 11, 12 and 13 (:attr:`IndicatorSpec.full_share`),
  and two LEAs given rates that meet their targets, so that the sample shows every monitoring
  level (monitoring.md): one Universal, one Targeted 1 (:data:`TARGETED_1_MISS`).
- Built-in cases (:data:`BUILT_IN_CASES`): chosen LEAs get counts set so that a given group's
  ratio in a given category follows a designed series, or a designed not-calculated path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .codes import (
    ALL_RACE_CODES,
    CATEGORIES,
    DISABILITIES,
    ENVIRONMENTS,
    NOT_REPORTED,
    REMOVAL_TYPES,
)
from .errors import UsageError
from .values import is_school_year

__all__ = [
    "BUILT_IN_CASES",
    "BuiltInCase",
    "CANONICAL_FILES",
    "DESIGN_THRESHOLD",
    "DRILLDOWN_CASES",
    "DrilldownCase",
    "DISABILITY_MIX",
    "IDENTIFICATION_RATE",
    "INDICATORS",
    "IndicatorSpec",
    "STATE_RACE_SHARES",
    "built_in_cases",
    "generate_detail",
    "generate_sample",
    "school_years",
    "write_sample",
]

# --- statewide parameters (documented sources; every number of the generator lives here) -------

#: Statewide enrollment shares by race, California Census Day enrollment (CDE DataQuest,
#: 2023-24, rounded): Hispanic 56%, White 21%, Asian with Filipino 12%, Black 5%, two or more
#: races 4%, American Indian and Pacific Islander under 1% each, not reported under 1%.
STATE_RACE_SHARES: Mapping[str, float] = {
    "HI": 0.562, "AM": 0.0045, "AS": 0.118, "BL": 0.048,
    "PI": 0.004, "WH": 0.213, "MU": 0.042, "NR": 0.0085,
}  # fmt: skip
#: Dirichlet concentration of an LEA's race shares around the statewide shares (lower = LEAs
#: differ more from one another).
RACE_SHARE_CONCENTRATION = 5.0
#: Yearly log-drift of each group's share (growth of two-or-more-races, decline of White).
RACE_SHARE_TREND: Mapping[str, float] = {
    "HI": 0.004, "AM": -0.01, "AS": 0.008, "BL": -0.015,
    "PI": 0.0, "WH": -0.02, "MU": 0.04, "NR": 0.0,
}  # fmt: skip
#: Raking passes that bring the statewide race shares to :data:`STATE_RACE_SHARES`.
RAKING_PASSES = 6

#: Children with disabilities (ages 3-21) per child enrolled, statewide (about 13%), in the
#: middle school year of the sample (identification grows by :data:`IDENTIFICATION_GROWTH`).
IDENTIFICATION_RATE = 0.13
#: Relative identification by group (federal and California child-count patterns).
RACE_IDENTIFICATION_FACTOR: Mapping[str, float] = {
    "HI": 1.0, "AM": 1.35, "AS": 0.55, "BL": 1.45, "PI": 1.0, "WH": 1.05, "MU": 0.95, "NR": 0.9,
}  # fmt: skip
#: Log-normal spread of the identification rate across LEAs and across an LEA's groups.
LEA_IDENTIFICATION_SD = 0.2
LEA_GROUP_IDENTIFICATION_SD = 0.15
#: Yearly growth of identification (California's child count has grown about 1-2% a year).
IDENTIFICATION_GROWTH = 0.012
#: Cap of a group's identification rate (keeps tiny groups plausible).
MAX_IDENTIFICATION_RATE = 0.6

#: Share of each disability among children with disabilities before the group factors and
#: trends below, chosen so that the statewide mix is near California's child count (SLD about
#: 35%, SLI 20%, autism 15%, OHI 13%, ID 6%, ED 3%).
DISABILITY_MIX: Mapping[str, float] = {
    "SLD": 0.385, "SLI": 0.19, "AUT": 0.135, "OHI": 0.115, "ID": 0.06, "ED": 0.03, "DD": 0.02,
    "MD": 0.013, "HI": 0.011, "OI": 0.007, "VI": 0.004, "TBI": 0.002, "DB": 0.0002,
}  # fmt: skip
#: How each group's disability mix differs from the statewide mix (multiplicative).
RACE_DISABILITY_FACTORS: Mapping[str, Mapping[str, float]] = {
    "HI": {"SLD": 1.12, "AUT": 0.85, "ED": 0.75},
    "AM": {"SLD": 1.1, "ED": 1.5},
    "AS": {"AUT": 2.0, "SLD": 0.6, "SLI": 1.3, "ED": 0.5},
    "BL": {"ED": 1.4, "ID": 1.25, "OHI": 1.1},
    "PI": {},
    "WH": {"OHI": 1.3, "AUT": 1.2, "ED": 1.3, "SLD": 0.85},
    "MU": {"AUT": 1.1, "ED": 1.2},
    "NR": {},
}
#: Log-normal spread of an LEA's disability mix (some LEAs identify more autism, and so on).
LEA_DISABILITY_SD = 0.25
#: Yearly log-drift of each disability's share (autism grows, learning disability declines).
DISABILITY_TREND: Mapping[str, float] = {"AUT": 0.06, "SLD": -0.01}

#: Share of the child count (ages 3-21) that is school-age and counted in environments.
SCHOOL_AGE_SHARE = 0.89
#: School-age settings statewide (California, IDEA 618 environments, rounded).
ENVIRONMENT_MIX: Mapping[str, float] = {
    "RC80": 0.57, "RC40_79": 0.165, "RC_LT40": 0.205, "SEP_SCHOOL": 0.035, "RESIDENTIAL": 0.001,
    "HOMEBOUND_HOSPITAL": 0.004, "CORRECTIONAL": 0.002, "PRIVATE_PARENT": 0.018,
}  # fmt: skip
RACE_ENVIRONMENT_FACTORS: Mapping[str, Mapping[str, float]] = {
    "BL": {"RC_LT40": 1.25, "SEP_SCHOOL": 1.4, "CORRECTIONAL": 2.5},
    "AS": {"RC_LT40": 1.3},
    "WH": {"RC80": 1.05, "PRIVATE_PARENT": 1.8},
    "HI": {"RC_LT40": 1.05},
}
#: Log-normal spread of settings across LEAs (inclusion practice varies widely).
LEA_ENVIRONMENT_SD = 0.35
#: Yearly log-drift of settings (slowly more inclusion).
ENVIRONMENT_TREND: Mapping[str, float] = {"RC80": 0.02, "RC_LT40": -0.01}

#: Children with disabilities removed, per child with a disability, by removal type.
#: ``ISS_GT10`` is 0: in-school suspensions of more than 10 days are almost absent in California;
#: :data:`ISS_GT10_EVENTS_PER_YEAR` single removals are scattered over the State instead.
REMOVAL_RATE: Mapping[str, float] = {
    "OSS_LE10": 0.045, "OSS_GT10": 0.0035, "ISS_LE10": 0.02, "ISS_GT10": 0.0,
}  # fmt: skip
#: Relative removal rate by group (suspension data show Black students removed most often).
RACE_DISCIPLINE_FACTOR: Mapping[str, float] = {
    "HI": 0.95, "AM": 1.6, "AS": 0.35, "BL": 1.8, "PI": 1.3, "WH": 0.95, "MU": 1.1, "NR": 1.0,
}  # fmt: skip
#: Spread of discipline across LEAs (log-normal): overall, and for in-school suspension use.
LEA_DISCIPLINE_SD = 0.5
LEA_ISS_SD = 1.0
LEA_GROUP_DISCIPLINE_SD = 0.3
#: Discipline by school year relative to a normal year: 2019-20 lost the spring to closures,
#: 2020-21 was taught mostly at a distance.
DISCIPLINE_YEAR_FACTORS: Mapping[str, float] = {"2019-20": 0.75, "2020-21": 0.12, "2021-22": 0.85}
#: Removals beyond the first per child removed (TDR = children removed x (1 + this), Poisson).
REPEAT_REMOVALS = 0.6
#: Single ``ISS_GT10`` removals scattered over the State each year (fewer than ``min_cell``, so
#: the State comparison of ``disc_iss_gt10`` stays below the minimum).
ISS_GT10_EVENTS_PER_YEAR = 3

#: The threshold the built-in ratio series are designed around (the ``california`` profile):
#: targets above it are rounded up, targets below it are rounded down.
DESIGN_THRESHOLD = 3.0
#: Consecutive flagged years the built-in series are designed around (the ``california`` profile).
DESIGN_YEARS_REQUIRED = 3

# LEA directory.
#: Shares of county offices and charters among LEAs (California: 58 county offices, about
#: 1,300 charter LEAs and about 940 districts).
COUNTY_OFFICE_SHARE = 0.025
CHARTER_SHARE = 0.565
#: District kinds in California's proportions: 345 unified, 522 elementary, 76 high.
DISTRICT_KINDS: Mapping[str, float] = {"unified": 0.37, "elementary": 0.55, "high": 0.08}
#: Log-normal enrollment: (median, log standard deviation, minimum, maximum).
SIZE_PARAMS: Mapping[str, tuple[float, float, float, float]] = {
    "unified": (5000.0, 1.0, 300.0, 29000.0),
    "elementary": (900.0, 1.2, 30.0, 15000.0),
    "high": (3000.0, 1.0, 200.0, 25000.0),
    "county_office": (900.0, 0.7, 150.0, 5000.0),
    "charter": (350.0, 0.75, 60.0, 5000.0),
}
#: Share of unified districts that are large (30,000 to 150,000 enrolled), at least one.
LARGE_DISTRICT_SHARE = 0.07
LARGE_DISTRICT_RANGE = (30_000.0, 150_000.0)
#: At state scale (this many districts or more) the largest district has about this enrollment.
STATE_SCALE_DISTRICTS = 400
LARGEST_DISTRICT = 420_000.0
#: Yearly enrollment change (mean, spread): districts decline, charters grow.
ENROLLMENT_TREND: Mapping[str, tuple[float, float]] = {
    "district": (-0.01, 0.015), "county_office": (-0.01, 0.03), "charter": (0.02, 0.04),
}  # fmt: skip
#: LEAs per county (before the cap of 58 counties), and how skewed county sizes are (Zipf).
LEAS_PER_COUNTY = 8
COUNTY_SIZE_EXPONENT = 0.8
#: Enrollment at or above which a district is its own SELPA.
SINGLE_DISTRICT_SELPA = 25_000.0
#: Charters per charter-only SELPA (about 60% of charters belong to one).
CHARTERS_PER_CHARTER_SELPA = 300
CHARTER_SELPA_SHARE = 0.6
#: Share of charters that serve high-school grades.
CHARTER_HIGH_SCHOOL_SHARE = 0.3

CANONICAL_FILES: tuple[str, ...] = (
    "leas.csv", "enrollment.csv", "child_count.csv", "environments.csv", "discipline.csv",
    "indicators.csv", "targets.csv", "state_totals.csv", "detail.csv", "schools.csv",
)  # fmt: skip
_WRITTEN_TABLES = ("leas", "enrollment", "child_count", "environments", "discipline",
                   "indicators", "targets")  # fmt: skip
_SOURCE_PREFIX = "cimrca sample"

_COUNTY_NAMES = (
    "Arbolada", "Bellota", "Caliza", "Cresta", "Encinal", "Halcon", "Lindero", "Madera Alta",
    "Nogal", "Oro Fino", "Pedregal", "Quintero", "Roblar", "Salitre", "Tejada", "Umbral",
    "Vallecito Norte", "Yerbal", "Zarzal", "Alameda Sur", "Barranca", "Cardonal", "Duraznal",
    "Escondida", "Fresnal", "Garzal", "Higueral", "Jarilla", "Laurel Bajo", "Manzanal",
    "Naranjal", "Olivar", "Palomar Sur", "Quebrada", "Romeral", "Sauzal", "Tular Alto", "Uvalde",
    "Venado", "Zacatal", "Aliso Norte", "Berrendo", "Colorado Chico", "Durazno", "Estero Bajo",
    "Frontera Alta", "Gavilan Norte", "Huerta", "Islote", "Jacal", "Lomerio", "Mesquital",
    "Nopalera", "Ojo Claro", "Piedra Azul", "Ranchito", "Sotol", "Tecolote",
)  # fmt: skip
#: Words put before an invented LEA name that is already taken (at state scale names repeat).
_NAME_REPEAT_PREFIX = ("North", "South", "East", "West", "Upper", "Lower", "New", "Old")
_NAME_FIRST = (
    "Tansy", "Larkin", "Sorrel", "Tamarack", "Yarrow", "Toyon", "Heron", "Wren", "Cobalt",
    "Quailbrush", "Fernhollow", "Amberly", "Bramble", "Calico", "Dunmore", "Elderberry",
    "Foxtail", "Gildan", "Hawthorn", "Ironbark", "Juncal", "Kestrel", "Lupine", "Marlow",
    "Nettle", "Osprey", "Pennyroyal", "Quillan", "Rushmere", "Saltbush", "Thistle", "Umber",
    "Verbena", "Willowmere", "Yellowjacket", "Zephyr", "Arrowweed", "Bittercress", "Coyotebush",
    "Deerbrush", "Eastwind", "Flintridge", "Greenmoss", "Hollyleaf", "Indigo", "Jasperline",
)  # fmt: skip
_NAME_SECOND = (
    "Hollow", "Flats", "Bend", "Mesa", "Crossing", "Springs", "Vista", "Ridge", "Valley",
    "Creek", "Meadows", "Point", "Canyon", "Grove", "Landing", "Basin", "Terrace", "Knoll",
)  # fmt: skip
_CHARTER_SUFFIX = (
    "Charter Academy", "Preparatory Charter", "Community Charter", "Charter School of the Arts",
    "STEM Charter", "Language Academy", "Virtual Charter", "Leadership Charter",
)  # fmt: skip
_DISTRICT_SUFFIX = {
    "unified": "Unified School District",
    "elementary": "Elementary School District",
    "high": "Union High School District",
}


# --- built-in cases ------------------------------------------------------------------------------

CaseKind = Literal["ratio", "alternate", "missing", "comparison", "below_min_n"]


@dataclass(frozen=True)
class BuiltInCase:
    """A designed situation that the sample must exercise, placed on one LEA.

    Attributes
    ----------
    key
        Short identifier (also used in the README).
    kind
        ``ratio``: the group's ratio in ``category`` follows ``ratios`` (one per school year, the
        last for the latest year; earlier years repeat the first). ``alternate``: the LEA is
        almost entirely one group, so the LEA comparison fails and the alternate risk ratio is
        used. ``missing``: the group's and ``also_missing`` groups' discipline counts are empty
        (suppressed) in the last two years. ``comparison``: the group has ``count`` removals of
        the category while the rest of the State has almost none. ``below_min_n``: the group has
        ``population`` children enrolled and ``count`` removals (TDR), so its base is below
        ``min_n`` while its count meets ``min_cell``.
    category, race
        Category code (methodology.md section 1) and group code.
    lea_type, enrollment, shares
        The LEA the case is placed on: its kind, its enrollment in the first year, and race
        shares that replace the drawn ones (other groups share the rest in statewide
        proportions).
    purpose
        What the case exercises, in plain words (for the README).
    """

    key: str
    kind: CaseKind
    category: str
    race: str
    purpose: str
    lea_type: Literal["district", "charter"] = "district"
    enrollment: float = 10_000.0
    shares: Mapping[str, float] = field(default_factory=dict)
    ratios: tuple[float, ...] = ()
    count: int = 0
    population: int = 0
    also_missing: tuple[str, ...] = ()


#: The built-in cases, in the order they are placed on LEAs. Ratio series are designed around
#: :data:`DESIGN_THRESHOLD` (3.0) with ``min_cell`` 10, ``min_n`` 20 and three years required.
BUILT_IN_CASES: tuple[BuiltInCase, ...] = (
    BuiltInCase(
        "sd_ident_ed_bl", "ratio", "ident_ed", "BL",
        "significantly disproportionate in identification: Black students identified with "
        "emotional disturbance, risk ratio above 3 in every year",
        enrollment=24_000, shares={"BL": 0.10}, ratios=(3.6, 3.8, 3.7, 3.9, 4.1),
    ),
    BuiltInCase(
        "sd_place_separate_hi", "ratio", "place_separate", "HI",
        "significantly disproportionate in placement: Hispanic students in separate schools "
        "and residential facilities, flagged in the last three years only",
        enrollment=14_000, shares={"HI": 0.45}, ratios=(2.2, 2.9, 3.4, 3.6, 3.5),
    ),
    BuiltInCase(
        "sd_disc_oss_le10_bl", "ratio", "disc_oss_le10", "BL",
        "significantly disproportionate in discipline: Black students with out-of-school "
        "suspensions of 10 days or fewer, from 2021-22 on (in 2020-21, taught at a distance, "
        "the counts are small)",
        enrollment=18_000, shares={"BL": 0.09}, ratios=(2.5, 3.5, 3.4, 3.8, 3.6),
    ),
    BuiltInCase(
        "sd_ident_aut_as", "ratio", "ident_aut", "AS",
        "significantly disproportionate in identification: Asian students identified with "
        "autism",
        enrollment=11_000, shares={"AS": 0.22}, ratios=(3.2, 3.4, 3.5, 3.3, 3.6),
    ),
    BuiltInCase(
        "recent_two_ident_ohi_wh", "ratio", "ident_ohi", "WH",
        "flagged in the two most recent years only (not yet significantly disproportionate): "
        "White students identified with other health impairment",
        enrollment=7_000, shares={"WH": 0.35}, ratios=(1.9, 2.2, 2.5, 3.2, 3.4),
    ),
    BuiltInCase(
        "last_year_ident_sli_as", "ratio", "ident_sli", "AS",
        "flagged in the latest year only: Asian students identified with speech or language "
        "impairment",
        enrollment=9_000, shares={"AS": 0.18}, ratios=(1.6, 1.8, 2.0, 2.3, 3.3),
    ),
    BuiltInCase(
        "broken_run_ident_sld_bl", "ratio", "ident_sld", "BL",
        "flagged in four of five years but never three in a row (the middle year breaks the "
        "run): Black students identified with specific learning disability",
        enrollment=12_000, shares={"BL": 0.10}, ratios=(3.4, 3.5, 2.6, 3.3, 3.5),
    ),
    BuiltInCase(
        "near_threshold_ident_id_bl", "ratio", "ident_id", "BL",
        "near the threshold (2.4 to 3.0, a finding under watch_fraction 0.8, never flagged): "
        "Black students identified with intellectual disability",
        enrollment=15_000, shares={"BL": 0.08}, ratios=(2.5, 2.6, 2.75, 2.85, 2.9),
    ),
    BuiltInCase(
        "alternate_hi", "alternate", "ident_sld", "HI",
        "alternate risk ratio: a rural district that is 97.5% Hispanic, so the comparison "
        "group of all other students is too small in most categories and the State's "
        "comparison group is used",
        enrollment=2_600,
        shares={"HI": 0.975, "WH": 0.012, "AS": 0.004, "BL": 0.003, "MU": 0.004,
                "AM": 0.001, "PI": 0.001, "NR": 0.0},  # fmt: skip
    ),
    BuiltInCase(
        "comparison_iss_gt10_hi", "comparison", "disc_iss_gt10", "HI",
        "not calculated, comparison_below_min: Hispanic students with in-school suspensions "
        "of more than 10 days (12 a year) where the rest of the LEA and of the State have "
        "almost none",
        enrollment=6_000, shares={"HI": 0.60}, count=12,
    ),
    BuiltInCase(
        "missing_disc_am_pi", "missing", "disc_oss_le10", "AM",
        "not calculated, missing_input: the discipline counts of American Indian and Pacific "
        "Islander students are empty (suppressed) in the last two years, so every discipline "
        "category of the LEA is not calculated in those years",
        lea_type="charter", enrollment=900, also_missing=("PI",),
    ),
    BuiltInCase(
        "below_min_n_tdr_am", "below_min_n", "disc_tdr", "AM",
        "not calculated, group_below_min_n: 15 American Indian students, a few of them with "
        "disabilities, with 12 removals a year (total disciplinary removals may exceed the "
        "children, so the count meets min_cell while the base is below min_n)",
        lea_type="charter", enrollment=600, count=12, population=15,
    ),
)  # fmt: skip
#: Years of discipline that the ``missing`` case leaves empty, counted back from the latest.
MISSING_YEARS = 2
#: Children with disabilities given to the ``below_min_n`` group when it has fewer.
BELOW_MIN_N_CHILDREN = 2


# --- indicators ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorSpec:
    """One SPP/APR indicator series of the sample.

    ``mean`` is the statewide rate (``year_means`` overrides it for named school years);
    ``base`` names the LEA population the denominator is taken from and ``base_share`` the share
    of it; ``derived`` indicators take their numerator from the count tables instead of a draw.
    ``target`` (first year) moves by ``target_step`` a year; ``None`` means no target.
    ``full_share`` is the share of LEA-years at exactly 100% (compliance indicators, where most
    LEAs are fully compliant); it is drawn after every other draw, so the others do not move.
    """

    code: str
    label: str
    higher_is_better: bool
    mean: float
    base: Literal["cwd", "school_age", "preschool"]
    base_share: float
    lea_sd: float = 0.35
    needs: Literal["all", "high_school", "preschool"] = "all"
    derived: str | None = None
    target: float | None = None
    target_step: float = 0.0
    year_means: Mapping[str, float] = field(default_factory=dict)
    full_share: float = 0.0


#: Share of LEA-years at exactly 100% on the compliance indicators 11, 12 and 13: most LEAs are
#: fully compliant on timelines and transition (California's SPP/APR reports statewide rates of
#: 97-99% on them), so most are not Targeted on these alone.
COMPLIANCE_FULL_SHARE = 0.85
#: Students with disabilities an LEA needs to carry a designed monitoring level: more than
#: California's small-LEA line (100, monitoring.md rule 2), so that it is ranked.
LEVEL_CASE_MIN_SWD = 100
#: The LRE indicators whose targets the designed Universal and Targeted 1 LEAs already meet
#: (they come from the environments counts, which the design does not touch).
LEVEL_CASE_LRE = ("5A", "5B", "5C")
#: The one indicator the designed Targeted 1 LEA misses in the latest year.
TARGETED_1_MISS = "3B_MATH"
#: How far beyond its target a designed LEA's drawn rate is set (or missed by, for the miss).
LEVEL_CASE_MARGIN = 0.02
#: A designed LEA's rate on a lower-is-better indicator without a target (chronic absence), as
#: a share of the State mean: a strong climate domain.
LEVEL_CASE_NO_TARGET_FACTOR = 0.75

#: The indicator series (CDE's LEA report codes, data.md section 1). Means are California's
#: statewide rates for students with disabilities, rounded; targets are plausible SPP/APR ones.
INDICATORS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec("1", "Graduation rate (students with IEPs)", True, 0.70, "cwd", 0.07,
                  needs="high_school", target=0.70, target_step=0.01),
    IndicatorSpec("2", "Dropout rate (students with IEPs)", False, 0.11, "cwd", 0.07,
                  needs="high_school", target=0.105, target_step=-0.003),
    IndicatorSpec("3A_ELA", "Assessment participation, ELA", True, 0.94, "school_age", 0.55,
                  lea_sd=0.5, target=0.95),
    IndicatorSpec("3A_MATH", "Assessment participation, mathematics", True, 0.935, "school_age",
                  0.55, lea_sd=0.5, target=0.95),
    IndicatorSpec("3B_ELA", "Proficiency, ELA (regular assessment)", True, 0.16, "school_age",
                  0.5, target=0.17, target_step=0.01),
    IndicatorSpec("3B_MATH", "Proficiency, mathematics (regular assessment)", True, 0.11,
                  "school_age", 0.5, target=0.12, target_step=0.01),
    IndicatorSpec("4A", "Suspension or expulsion of more than 10 days (rate)", False, 0.0,
                  "cwd", 1.0, derived="removed_gt10"),
    IndicatorSpec("5A", "Regular class 80% or more of the day", True, 0.0, "school_age", 1.0,
                  derived="RC80", target=0.56, target_step=0.005),
    IndicatorSpec("5B", "Regular class less than 40% of the day", False, 0.0, "school_age", 1.0,
                  derived="RC_LT40", target=0.21, target_step=-0.003),
    IndicatorSpec("5C", "Separate schools, residential facilities, homebound or hospital", False,
                  0.0, "school_age", 1.0, derived="separate", target=0.038, target_step=-0.001),
    IndicatorSpec("6A", "Preschool: regular early childhood program", True, 0.33, "preschool",
                  1.0, needs="preschool", target=0.33, target_step=0.01),
    IndicatorSpec("6B", "Preschool: separate class, school or residential facility", False,
                  0.31, "preschool", 1.0, needs="preschool", target=0.31, target_step=-0.01),
    IndicatorSpec("11", "Initial evaluations within 60 days", True, 0.965, "cwd", 0.11,
                  lea_sd=0.6, target=1.0, full_share=COMPLIANCE_FULL_SHARE),
    IndicatorSpec("12", "Part C to Part B transition by age 3", True, 0.975, "preschool", 0.35,
                  lea_sd=0.6, needs="preschool", target=1.0, full_share=COMPLIANCE_FULL_SHARE),
    IndicatorSpec("13", "Secondary transition goals and services in the IEP", True, 0.91, "cwd",
                  0.25, lea_sd=0.6, needs="high_school", target=1.0,
                  full_share=COMPLIANCE_FULL_SHARE),
    IndicatorSpec("SUSP_SWD", "Suspension rate, students with disabilities", False, 0.0, "cwd",
                  1.1, derived="suspended"),
    IndicatorSpec("CHRONIC_SWD", "Chronic absenteeism rate, students with disabilities", False,
                  0.22, "school_age", 1.0, lea_sd=0.3,
                  year_means={"2019-20": 0.2, "2020-21": 0.24, "2021-22": 0.42, "2022-23": 0.36,
                              "2023-24": 0.31, "2024-25": 0.28}),
)  # fmt: skip
#: Yearly drift of an LEA's indicator rates on the logit scale (standard deviation).
INDICATOR_SLOPE_SD = 0.05


# --- public functions ---------------------------------------------------------------------------


def school_years(n_years: int, last_year: str = "2024-25") -> tuple[str, ...]:
    """The ``n_years`` school years ending with ``last_year``, oldest first.

    Examples
    --------
    >>> school_years(3, "2024-25")
    ('2022-23', '2023-24', '2024-25')
    """
    first = _parse_year(last_year)
    return tuple(f"{y}-{(y + 1) % 100:02d}" for y in range(first - n_years + 1, first + 1))


def generate_sample(
    *, n_leas: int = 50, n_years: int = 5, seed: int = 2024, last_year: str = "2024-25"
) -> dict[str, pd.DataFrame]:
    """Generate a synthetic California-like canonical data set.

    Parameters
    ----------
    n_leas
        Number of LEAs (districts, county offices and charters). The built-in cases need about
        12 districts and 2 charters (``n_leas`` of 25 or more); with fewer LEAs the cases that
        do not fit are left out (:func:`built_in_cases` lists the ones placed).
    n_years
        Number of school years, ending with ``last_year``.
    seed
        Random seed; the same arguments always give the same tables.
    last_year
        The latest school year, ``YYYY-YY``.

    Returns
    -------
    dict of str to DataFrame
        ``leas``, ``enrollment``, ``child_count``, ``environments``, ``discipline``,
        ``indicators`` and ``targets`` with the columns of data.md section 1. Code columns are
        strings; counts are float with NaN for a missing (suppressed) count. Rows with a zero
        count are left out of ``child_count``, ``environments`` and ``discipline`` (an absent
        row means zero).

    Raises
    ------
    UsageError
        When ``n_leas`` or ``n_years`` is below 1 or ``last_year`` is malformed.

    Notes
    -----
    The built-in cases are designed for the ``california`` profile (threshold 3.0, ``min_cell``
    10, ``min_n`` 20, three consecutive years; 34 CFR 300.647(b) and (d)). A designed ratio is
    set exactly: the group's count is the target ratio times the LEA comparison group's risk
    times the group's base, rounded to the nearest count but never across
    :data:`DESIGN_THRESHOLD`.

    Examples
    --------
    >>> tables = generate_sample(n_leas=30, n_years=3, seed=7)
    >>> sorted(tables)
    ['child_count', 'discipline', 'enrollment', 'environments', 'indicators', 'leas', 'targets']
    >>> tables["leas"]["lea_id"].str.len().eq(7).all()
    np.True_
    """
    _check_arguments(n_leas, n_years)
    years = school_years(n_years, last_year)
    streams = np.random.SeedSequence(seed).spawn(4)
    directory = _directory(n_leas, np.random.default_rng(streams[0]))
    rng = np.random.default_rng(streams[1])
    counts = _counts(directory, years, rng)
    indicators = _indicators(directory, counts, years, np.random.default_rng(streams[2]))
    return {
        "leas": directory.leas.copy(),
        "enrollment": _long(counts.enrollment, directory, years, None, None),
        "child_count": _long(counts.child_count, directory, years, "disability", DISABILITIES),
        "environments": _long(counts.environments, directory, years, "environment", ENVIRONMENTS),
        "discipline": _long(counts.discipline, directory, years, "removal_type", REMOVAL_TYPES),
        "indicators": indicators,
        "targets": _targets(years),
    }


def built_in_cases(*, n_leas: int = 50, seed: int = 2024) -> pd.DataFrame:
    """The built-in cases placed in the sample of ``n_leas`` LEAs and ``seed``.

    Returns
    -------
    DataFrame
        One row per case placed: ``case``, ``kind``, ``lea_id``, ``lea_name``, ``category``,
        ``race_ethnicity``, ``designed_ratios`` (the ratio series, oldest year first, for
        ``ratio`` cases; empty otherwise) and ``purpose``.

    Examples
    --------
    >>> cases = built_in_cases(n_leas=50, seed=2024)
    >>> len(cases)
    12
    """
    _check_arguments(n_leas, 1)
    directory = _directory(n_leas, np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[0]))
    rows = []
    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        rows.append({
            "case": case.key,
            "kind": case.kind,
            "lea_id": directory.leas["lea_id"].iloc[lea],
            "lea_name": directory.leas["lea_name"].iloc[lea],
            "category": case.category,
            "race_ethnicity": case.race,
            "designed_ratios": ", ".join(f"{r:g}" for r in case.ratios),
            "purpose": case.purpose,
        })  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["case", "kind", "lea_id", "lea_name", "category", "race_ethnicity",
                 "designed_ratios", "purpose"],
    )  # fmt: skip


def write_sample(
    out_dir: str | Path,
    *,
    n_leas: int = 50,
    n_years: int = 5,
    seed: int = 2024,
    last_year: str = "2024-25",
) -> list[str]:
    """Generate the sample and write it to ``out_dir`` as a canonical data set.

    Writes ``leas.csv``, ``enrollment.csv``, ``child_count.csv``, ``environments.csv``,
    ``discipline.csv``, ``indicators.csv``, ``targets.csv``, ``detail.csv`` and ``schools.csv``
    (:func:`generate_detail`), ``dataset.yaml`` (``synthetic:
    true`` and the command that makes it) and ``README.md`` (the built-in cases), each atomically.

    Parameters
    ----------
    out_dir
        Folder to write into; created when absent.
    n_leas, n_years, seed, last_year
        As for :func:`generate_sample`.

    Returns
    -------
    list of str
        Summary lines for the command line.

    Raises
    ------
    UsageError
        When ``out_dir`` already holds a canonical CSV, ``dataset.yaml`` or ``README.md`` that
        differs from what would be written and the folder is not this generator's earlier output
        (a ``dataset.yaml`` with ``synthetic: true`` and a ``source`` starting with
        ``cimrca sample``). A user's data is never overwritten.

    Examples
    --------
    >>> import tempfile
    >>> lines = write_sample(Path(tempfile.mkdtemp()) / "s", n_leas=20, n_years=3, seed=1)
    >>> lines[0].startswith("Wrote a synthetic data set")
    True
    """
    import yaml

    from .atomic import atomic_write_text

    out = Path(out_dir)
    tables = generate_sample(n_leas=n_leas, n_years=n_years, seed=seed, last_year=last_year)
    years = school_years(n_years, last_year)
    source = f"{_SOURCE_PREFIX} --leas {n_leas} --years {n_years} --seed {seed}"
    if last_year != "2024-25":
        source += f" (last year {last_year})"
    meta = {
        "name": "Synthetic California sample",
        "synthetic": True,
        "description": (
            f"SYNTHETIC data: {n_leas} invented LEAs, school years {years[0]} to {years[-1]}, "
            "made by cimrca's seeded generator to look like California. No real student, "
            "school or district is described."
        ),
        "source": source,
    }
    cases = built_in_cases(n_leas=n_leas, seed=seed)
    contents: dict[str, str] = {f"{name}.csv": _to_csv(tables[name]) for name in _WRITTEN_TABLES}
    contents["dataset.yaml"] = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    contents["README.md"] = _readme(tables, cases, meta, years)
    drill = generate_detail(tables, n_leas=n_leas, seed=seed)
    contents.update({f"{name}.csv": _to_csv(frame) for name, frame in drill.items()})
    contents["README.md"] += _detail_readme(drill, cases)
    _refuse_to_clobber(out, contents)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        atomic_write_text(out / name, text)

    leas = tables["leas"]
    kinds = leas["lea_type"].value_counts()
    lines = [
        f"Wrote a synthetic data set to {out} (seed {seed}): {len(leas):,} LEAs "
        f"({_plural(kinds.get('district', 0), 'district')}, "
        f"{_plural(kinds.get('county_office', 0), 'county office')}, "
        f"{_plural(kinds.get('charter', 0), 'charter')}), school years {years[0]} to {years[-1]}.",
    ]
    for name in _WRITTEN_TABLES:
        lines.append(f"  {name}.csv: {len(tables[name]):,} rows")
    for name, frame in drill.items():
        lines.append(f"  {name}.csv: {len(frame):,} rows")
    lines.append(f"  built-in cases: {len(cases)} (listed in {out / 'README.md'})")
    return lines


# --- the LEA directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Directory:
    leas: pd.DataFrame
    kind: np.ndarray  # unified, elementary, high, county_office, charter
    size: np.ndarray  # first-year enrollment
    cases: tuple[BuiltInCase, ...]
    case_leas: tuple[int, ...]
    has_high_school: np.ndarray
    has_preschool: np.ndarray

    @property
    def case_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.leas), dtype=bool)
        mask[list(self.case_leas)] = True
        return mask


def _directory(n_leas: int, rng: np.random.Generator) -> _Directory:
    """LEA ids, names, counties, SELPAs, kinds, sizes, and which LEA carries which case."""
    n_coe = round(n_leas * COUNTY_OFFICE_SHARE)
    n_charter = round(n_leas * CHARTER_SHARE)
    n_district = max(n_leas - n_coe - n_charter, min(n_leas, 1))
    n_charter = n_leas - n_coe - n_district
    district_kind = rng.choice(
        list(DISTRICT_KINDS), size=n_district, p=_normalised(list(DISTRICT_KINDS.values()))
    )
    kind = np.concatenate(
        [district_kind, np.repeat("county_office", n_coe), np.repeat("charter", n_charter)]
    ).astype(object)

    # sizes: log-normal by kind, a few large unified districts
    median, sd, low, high = (
        np.array([SIZE_PARAMS[k][i] for k in kind], dtype=float) for i in range(4)
    )
    size = np.clip(median * np.exp(sd * rng.standard_normal(n_leas)), low, high)
    unified = np.flatnonzero(kind == "unified")
    if len(unified) == 0 and n_district:
        unified = np.array([0])
        kind[0] = "unified"
    n_large = max(1, round(LARGE_DISTRICT_SHARE * len(unified))) if len(unified) else 0
    large = rng.choice(unified, size=n_large, replace=False) if n_large else np.array([], int)
    lo, hi = np.log(LARGE_DISTRICT_RANGE[0]), np.log(LARGE_DISTRICT_RANGE[1])
    size[large] = np.exp(rng.uniform(lo, hi, size=n_large))
    if n_district >= STATE_SCALE_DISTRICTS and n_large:
        size[large[0]] = LARGEST_DISTRICT

    # built-in cases: districts that are not large, then charters, in a seeded order
    districts = rng.permutation(np.setdiff1d(np.arange(n_district), large))
    charters = rng.permutation(np.flatnonzero(kind == "charter"))
    pools = {"district": list(districts), "charter": list(charters)}
    cases, case_leas = [], []
    for case in BUILT_IN_CASES:
        if pools[case.lea_type]:
            lea = int(pools[case.lea_type].pop(0))
            cases.append(case)
            case_leas.append(lea)
            size[lea] = case.enrollment
            if case.lea_type == "district":
                kind[lea] = "unified"
    size = np.round(size)

    # counties: invented names, California-like codes 01-58, skewed sizes, one county office each
    n_counties = int(np.clip(max(n_leas // LEAS_PER_COUNTY, n_coe), 3, len(_COUNTY_NAMES)))
    county_codes = np.sort(rng.choice(np.arange(1, 59), size=n_counties, replace=False))
    county_weight = 1.0 / np.arange(1, n_counties + 1) ** COUNTY_SIZE_EXPONENT
    county = rng.choice(n_counties, size=n_leas, p=_normalised(county_weight))
    coe_at = np.flatnonzero(kind == "county_office")
    county[coe_at] = np.arange(len(coe_at)) % n_counties
    county_code = np.char.zfill(county_codes[county].astype(str), 2)
    county_name = np.array(_COUNTY_NAMES[:n_counties], dtype=object)[county]

    # ids: county office CC10017; district CC + 5 digits 61000-76999; charter 7-digit school code
    lea_type = np.where(np.isin(kind, ["charter", "county_office"]), kind, "district")
    district_part = rng.choice(np.arange(61_000, 77_000), size=n_leas, replace=False)
    school_code = rng.choice(np.arange(120_000, 140_000), size=n_leas, replace=False)
    lea_id = np.char.add(county_code, district_part.astype(str)).astype(object)
    lea_id[kind == "county_office"] = np.char.add(
        county_code[kind == "county_office"], "10017"
    ).astype(object)
    is_charter = kind == "charter"
    lea_id[is_charter] = np.char.zfill(school_code[is_charter].astype(str), 7).astype(object)
    # two county offices in one county would share an id: give the later ones a district code
    dup = pd.Series(lea_id).duplicated().to_numpy()
    lea_id[dup] = np.char.add(county_code[dup], district_part[dup].astype(str)).astype(object)

    # names
    first = rng.choice(np.array(_NAME_FIRST, dtype=object), size=n_leas)
    second = rng.choice(np.array(_NAME_SECOND, dtype=object), size=n_leas)
    suffix = pd.Series(kind).map(_DISTRICT_SUFFIX).to_numpy(dtype=object)
    charter_suffix = rng.choice(np.array(_CHARTER_SUFFIX, dtype=object), size=n_leas)
    suffix[is_charter] = charter_suffix[is_charter]
    name = pd.Series(first) + " " + pd.Series(second) + " " + pd.Series(suffix)
    coe = kind == "county_office"
    name[coe] = (pd.Series(county_name) + " County Office of Education")[coe]
    # an invented name may repeat at state scale: "North ...", "South ...", then numbered
    repeat = name.groupby(name).cumcount().to_numpy()
    n_prefix = len(_NAME_REPEAT_PREFIX)
    prefix = np.array(("",) + _NAME_REPEAT_PREFIX, dtype=object)[np.minimum(repeat, n_prefix)]
    number = np.where(repeat > n_prefix, " " + (repeat - n_prefix + 1).astype(str), "")
    name = pd.Series(prefix) + np.where(repeat > 0, " ", "") + name + pd.Series(number)

    # SELPAs: large districts alone, charters in charter SELPAs or their county's, others county
    selpa = (pd.Series(county_name) + " County SELPA").to_numpy(dtype=object)
    alone = (lea_type == "district") & (size >= SINGLE_DISTRICT_SELPA)
    own_selpa = name.str.replace(" School District", "", regex=False) + " SELPA"
    selpa[alone] = own_selpa.to_numpy(dtype=object)[alone]
    n_charter_selpas = max(1, n_charter // CHARTERS_PER_CHARTER_SELPA) if n_charter else 0
    charter_selpa_names = np.array(
        [f"{_NAME_FIRST[-1 - i]} Charter SELPA" for i in range(n_charter_selpas)], dtype=object
    )
    in_charter_selpa = is_charter & (rng.random(n_leas) < CHARTER_SELPA_SHARE)
    if n_charter_selpas:
        pick = rng.integers(0, n_charter_selpas, size=n_leas)
        selpa[in_charter_selpa] = charter_selpa_names[pick][in_charter_selpa]

    leas = pd.DataFrame({
        "lea_id": pd.array(lea_id.astype(str), dtype="str"),
        "lea_name": pd.array(name.to_numpy(dtype=str), dtype="str"),
        "county": pd.array(county_name.astype(str), dtype="str"),
        "selpa": pd.array(selpa.astype(str), dtype="str"),
        "lea_type": pd.array(lea_type.astype(str), dtype="str"),
    })  # fmt: skip
    has_high_school = np.isin(kind, ["unified", "high", "county_office"]) | (
        is_charter & (rng.random(n_leas) < CHARTER_HIGH_SCHOOL_SHARE)
    )
    has_preschool = np.isin(kind, ["unified", "elementary", "county_office"])
    order = np.argsort(leas["lea_id"].to_numpy(), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(n_leas)
    return _Directory(
        leas=leas.iloc[order].reset_index(drop=True),
        kind=kind[order],
        size=size[order],
        cases=tuple(cases),
        case_leas=tuple(int(rank[i]) for i in case_leas),
        has_high_school=has_high_school[order],
        has_preschool=has_preschool[order],
    )


# --- counts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    enrollment: np.ndarray  # [L, Y, R]
    child_count: np.ndarray  # [L, Y, R, D]
    environments: np.ndarray  # [L, Y, R, S]
    discipline: np.ndarray  # [L, Y, R, K], NaN = suppressed


_R = {code: i for i, code in enumerate(ALL_RACE_CODES)}
_GROUPS = np.array([code != NOT_REPORTED for code in ALL_RACE_CODES])  # the seven groups
_D = {code: i for i, code in enumerate(DISABILITIES)}
_S = {code: i for i, code in enumerate(ENVIRONMENTS)}
_K = {code: i for i, code in enumerate(REMOVAL_TYPES)}
_CATEGORY = {c.code: c for c in CATEGORIES}


def _counts(directory: _Directory, years: tuple[str, ...], rng: np.random.Generator) -> _Counts:
    n_leas, n_years, n_races = len(directory.leas), len(years), len(ALL_RACE_CODES)
    t = np.arange(n_years, dtype=float)
    vary = (~directory.case_mask).astype(float)[:, None]  # case LEAs get no random LEA effects

    # enrollment totals by year
    kind = directory.kind
    trend_kind = np.where(kind == "charter", "charter",
                          np.where(kind == "county_office", "county_office", "district"))  # fmt: skip
    mean = np.array([ENROLLMENT_TREND[k][0] for k in trend_kind])
    spread = np.array([ENROLLMENT_TREND[k][1] for k in trend_kind])
    growth = mean + spread * rng.standard_normal(n_leas) * vary[:, 0]
    totals = np.round(directory.size[:, None] * np.exp(growth[:, None] * t[None, :]))

    # race shares: Dirichlet around the State, raked to the State's shares, case overrides fixed
    state = np.array([STATE_RACE_SHARES[r] for r in ALL_RACE_CODES])
    state = state / state.sum()
    gamma = rng.standard_gamma(
        np.maximum(RACE_SHARE_CONCENTRATION * state, 1e-6), (n_leas, n_races)
    )
    shares = gamma / gamma.sum(axis=1, keepdims=True)
    fixed = np.zeros(n_leas, dtype=bool)
    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        if case.shares:
            shares[lea] = _override_shares(case.shares, state)
            fixed[lea] = True
    if (~fixed).any():
        weight = directory.size
        need = state * weight.sum() - (weight[fixed, None] * shares[fixed]).sum(axis=0)
        need = np.maximum(need, 1e-9 * weight.sum())
        free = shares[~fixed]
        for _ in range(RAKING_PASSES):
            have = (weight[~fixed, None] * free).sum(axis=0)
            free = free * (need / np.maximum(have, 1e-12))[None, :]
            free = free / free.sum(axis=1, keepdims=True)
        shares[~fixed] = free
    drift = np.exp(np.array([RACE_SHARE_TREND[r] for r in ALL_RACE_CODES])[None, :] * t[:, None])
    shares_y = shares[:, None, :] * drift[None, :, :]
    shares_y /= shares_y.sum(axis=2, keepdims=True)
    enrollment = rng.multinomial(totals.astype(np.int64), shares_y).astype(float)
    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        if case.kind == "below_min_n":
            enrollment[lea, :, _R[case.race]] = case.population

    # identification
    race_factor = np.array([RACE_IDENTIFICATION_FACTOR[r] for r in ALL_RACE_CODES])
    base_rate = IDENTIFICATION_RATE / float((state * race_factor).sum())
    lea_eff = _lognormal(rng, LEA_IDENTIFICATION_SD, (n_leas, 1, 1)) ** vary[:, :, None]
    group_eff = (
        _lognormal(rng, LEA_GROUP_IDENTIFICATION_SD, (n_leas, 1, n_races)) ** vary[:, :, None]
    )
    rate = (base_rate * race_factor[None, None, :] * lea_eff * group_eff
            * (1 + IDENTIFICATION_GROWTH) ** (t - t.mean())[None, :, None])  # fmt: skip
    rate = np.minimum(rate, MAX_IDENTIFICATION_RATE)
    cwd = rng.binomial(enrollment.astype(np.int64), rate)
    mix = np.array([DISABILITY_MIX[d] for d in DISABILITIES])
    race_mix = np.array(
        [[RACE_DISABILITY_FACTORS[r].get(d, 1.0) for d in DISABILITIES] for r in ALL_RACE_CODES]
    )
    lea_mix = _lognormal(rng, LEA_DISABILITY_SD, (n_leas, 1, 1, len(DISABILITIES)))
    lea_mix = lea_mix ** vary[:, :, None, None]
    mix_trend = np.exp(
        np.array([DISABILITY_TREND.get(d, 0.0) for d in DISABILITIES])[None, :] * t[:, None]
    )
    p = (
        mix[None, None, None, :]
        * race_mix[None, None, :, :]
        * lea_mix
        * mix_trend[None, :, None, :]
    )
    child_count = rng.multinomial(cwd, p / p.sum(axis=3, keepdims=True)).astype(float)

    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        category = _CATEGORY[case.category]
        if case.kind == "ratio" and category.kind == "identification":
            d = _D[category.numerator_codes[0]]
            numerator = child_count[lea, :, :, d]
            new = _designed(numerator, enrollment[lea], case, n_years)
            child_count[lea, :, _R[case.race], d] = new
        elif case.kind == "below_min_n":
            g = _R[case.race]
            short = np.maximum(BELOW_MIN_N_CHILDREN - child_count[lea, :, g].sum(axis=1), 0)
            child_count[lea, :, g, _D["SLD"]] += short

    # environments (school-age children)
    cwd_total = child_count.sum(axis=3)
    school_age = rng.binomial(cwd_total.astype(np.int64), SCHOOL_AGE_SHARE)
    env = np.array([ENVIRONMENT_MIX[s] for s in ENVIRONMENTS])
    race_env = np.array(
        [[RACE_ENVIRONMENT_FACTORS.get(r, {}).get(s, 1.0) for s in ENVIRONMENTS]
         for r in ALL_RACE_CODES]
    )  # fmt: skip
    lea_env = _lognormal(rng, LEA_ENVIRONMENT_SD, (n_leas, 1, 1, len(ENVIRONMENTS)))
    lea_env = lea_env ** vary[:, :, None, None]
    env_trend = np.exp(
        np.array([ENVIRONMENT_TREND.get(s, 0.0) for s in ENVIRONMENTS])[None, :] * t[:, None]
    )
    p = (
        env[None, None, None, :]
        * race_env[None, None, :, :]
        * lea_env
        * env_trend[None, :, None, :]
    )
    environments = rng.multinomial(school_age, p / p.sum(axis=3, keepdims=True)).astype(float)
    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        category = _CATEGORY[case.category]
        if case.kind == "ratio" and category.kind == "placement":
            idx = [_S[s] for s in category.numerator_codes]
            g = _R[case.race]
            numerator = environments[lea][:, :, idx].sum(axis=2)
            base = environments[lea].sum(axis=2)
            new = _designed(numerator, base, case, n_years)
            others = numerator[:, g] - environments[lea, :, g, idx[0]]  # e.g. RESIDENTIAL
            delta = np.maximum(new - others, 0) - environments[lea, :, g, idx[0]]
            delta = np.minimum(delta, environments[lea, :, g, _S["RC80"]])
            environments[lea, :, g, idx[0]] += delta
            environments[lea, :, g, _S["RC80"]] -= delta

    # discipline: children removed, then removals
    year_factor = np.array([DISCIPLINE_YEAR_FACTORS.get(y, 1.0) for y in years])
    race_disc = np.array([RACE_DISCIPLINE_FACTOR[r] for r in ALL_RACE_CODES])
    lea_disc = _lognormal(rng, LEA_DISCIPLINE_SD, (n_leas, 1, 1, 1)) ** vary[:, :, None, None]
    lea_iss = _lognormal(rng, LEA_ISS_SD, (n_leas, 1, 1, 1)) ** vary[:, :, None, None]
    group_disc = _lognormal(rng, LEA_GROUP_DISCIPLINE_SD, (n_leas, 1, n_races, 1))
    group_disc = group_disc ** vary[:, :, None, None]
    removal = np.array([REMOVAL_RATE.get(k, 0.0) for k in REMOVAL_TYPES])
    is_iss = np.array([k.startswith("ISS") for k in REMOVAL_TYPES])
    p = (removal[None, None, None, :] * race_disc[None, None, :, None] * lea_disc * group_disc
         * np.where(is_iss[None, None, None, :], lea_iss, 1.0)
         * year_factor[None, :, None, None])  # fmt: skip
    cwd_total = child_count.sum(axis=3)
    discipline = rng.binomial(cwd_total.astype(np.int64)[..., None], np.minimum(p, 1.0))
    discipline = discipline.astype(float)
    discipline[..., _K["TDR"]] = 0.0

    # ISS_GT10: a few single removals scattered over the State (Gumbel top-k per year)
    excluded = np.zeros(n_leas, dtype=bool)
    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        if case.kind == "comparison":
            excluded[lea] = True
    weight = np.where(
        (cwd_total > 0) & _GROUPS[None, None, :] & ~excluded[:, None, None], cwd_total, 0.0
    )
    k_events = min(ISS_GT10_EVENTS_PER_YEAR, n_leas * int(_GROUPS.sum()))
    keys = np.where(weight > 0, np.log(np.maximum(weight, 1e-300)) + rng.gumbel(size=weight.shape),
                    -np.inf).transpose(1, 0, 2).reshape(n_years, -1)  # fmt: skip
    top = np.argpartition(-keys, k_events - 1, axis=1)[:, :k_events]
    chosen = np.take_along_axis(keys, top, axis=1) > -np.inf
    yy = np.repeat(np.arange(n_years), k_events)[chosen.ravel()]
    flat = top.ravel()[chosen.ravel()]
    ll, rr = np.divmod(flat, n_races)
    discipline[ll, yy, rr, _K["ISS_GT10"]] = 1.0

    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        category = _CATEGORY[case.category]
        if category.kind != "discipline":
            continue
        k = _K[category.numerator_codes[0]]
        if case.kind == "ratio" and not category.is_rate:
            new = _designed(discipline[lea, :, :, k], cwd_total[lea], case, n_years)
            discipline[lea, :, _R[case.race], k] = np.minimum(new, cwd_total[lea, :, _R[case.race]])
        elif case.kind == "comparison":
            g = _R[case.race]
            discipline[lea, :, g, k] = np.minimum(case.count, cwd_total[lea, :, g])

    removed = discipline[..., ~np.isin(REMOVAL_TYPES, ["TDR"])].sum(axis=3)
    discipline[..., _K["TDR"]] = removed + rng.poisson(REPEAT_REMOVALS * removed)
    for case, lea in zip(directory.cases, directory.case_leas, strict=True):
        category = _CATEGORY[case.category]
        if case.kind == "ratio" and category.is_rate:
            new = _designed(discipline[lea, :, :, _K["TDR"]], cwd_total[lea], case, n_years)
            discipline[lea, :, _R[case.race], _K["TDR"]] = new
        elif case.kind == "below_min_n":
            discipline[lea, :, _R[case.race], _K["TDR"]] = case.count
        elif case.kind == "missing":
            last = slice(max(n_years - MISSING_YEARS, 0), n_years)
            for race in (case.race, *case.also_missing):
                discipline[lea, last, _R[race], :] = np.nan
    return _Counts(enrollment, child_count, environments, discipline)


def _designed(numerator: np.ndarray, base: np.ndarray, case: BuiltInCase, n_years: int):
    """The group's count that gives ``case.ratios`` against the LEA comparison group.

    ``numerator`` and ``base`` are [year, race] arrays of one LEA. The count is the target
    ratio x the comparison risk x the group's base, rounded to the nearest count but never across
    :data:`DESIGN_THRESHOLD`, so a designed ratio is never flagged or unflagged by rounding.
    """
    g = _R[case.race]
    ratios = _designed_series(case, n_years)
    groups = _GROUPS.copy()
    groups[g] = False
    comp_n = numerator[:, groups].sum(axis=1)
    comp_d = base[:, groups].sum(axis=1)
    comp_risk = np.divide(comp_n, comp_d, out=np.zeros_like(comp_n), where=comp_d > 0)
    exact = ratios * comp_risk * base[:, g]
    at_threshold = np.floor(DESIGN_THRESHOLD * comp_risk * base[:, g])  # largest count not flagged
    count = np.where(ratios > DESIGN_THRESHOLD,
                     np.maximum(np.round(exact), at_threshold + 1),
                     np.minimum(np.round(exact), at_threshold))  # fmt: skip
    return np.minimum(count, base[:, g]) if not _CATEGORY[case.category].is_rate else count


# --- indicators and targets ---------------------------------------------------------------------


def _indicators(
    directory: _Directory, counts: _Counts, years: tuple[str, ...], rng: np.random.Generator
) -> pd.DataFrame:
    n_leas, n_years = len(directory.leas), len(years)
    t = np.arange(n_years, dtype=float)
    cwd = counts.child_count.sum(axis=(2, 3))
    env = counts.environments.sum(axis=2)  # [L, Y, S]
    school_age_all = env.sum(axis=2)
    school_age = school_age_all - env[..., _S["PRIVATE_PARENT"]]
    preschool = cwd - school_age_all
    disc = np.nan_to_num(counts.discipline).sum(axis=2)  # [L, Y, K]
    derived = {
        "RC80": env[..., _S["RC80"]],
        "RC_LT40": env[..., _S["RC_LT40"]],
        "separate": env[..., [_S["SEP_SCHOOL"], _S["RESIDENTIAL"], _S["HOMEBOUND_HOSPITAL"]]].sum(
            -1
        ),
        "removed_gt10": disc[..., _K["OSS_GT10"]] + disc[..., _K["ISS_GT10"]],
        "suspended": disc[..., [_K[k] for k in REMOVAL_TYPES if k != "TDR"]].sum(-1),
    }
    bases = {"cwd": cwd, "school_age": school_age, "preschool": preschool}
    needs = {
        "all": np.ones(n_leas, dtype=bool),
        "high_school": directory.has_high_school,
        "preschool": directory.has_preschool,
    }
    specs = INDICATORS
    n_ind = len(specs)
    den = np.stack(
        [np.round(bases[s.base] * s.base_share) * needs[s.needs][:, None] for s in specs]
    )
    means = np.array([[s.year_means.get(y, s.mean) for y in years] for s in specs])  # [I, Y]
    sd = np.array([s.lea_sd for s in specs])[:, None, None]
    logit = np.log(np.clip(means, 1e-6, 1 - 1e-6) / (1 - np.clip(means, 1e-6, 1 - 1e-6)))
    effect = sd * rng.standard_normal((n_ind, n_leas, 1))
    slope = INDICATOR_SLOPE_SD * rng.standard_normal((n_ind, n_leas, 1))
    z = logit[:, None, :] + effect + slope * t[None, None, :]
    rate = 1.0 / (1.0 + np.exp(-z))
    num = rng.binomial(den.astype(np.int64), rate).astype(float)
    for i, spec in enumerate(specs):
        if spec.derived is not None:
            num[i] = np.minimum(derived[spec.derived] * needs[spec.needs][:, None], den[i])
    full_share = np.array([s.full_share for s in specs])[:, None, None]
    full = rng.random(num.shape) < full_share  # drawn last: the draws above do not move
    num = np.where(full, den, num)
    targets = _target_array(years)
    chosen = _level_case_leas(
        directory,
        num,
        den,
        targets,
        np.nansum(counts.child_count[:, -1].reshape(n_leas, -1), axis=1),
    )
    num = _level_case_rates(num, den, targets, means, chosen)
    keep = den > 0
    ii, ll, yy = np.nonzero(keep)
    frame = pd.DataFrame({
        "school_year": pd.array(np.asarray(years)[yy], dtype="str"),
        "lea_id": pd.array(directory.leas["lea_id"].to_numpy()[ll], dtype="str"),
        "indicator": pd.array(np.array([s.code for s in specs])[ii], dtype="str"),
        "numerator": num[keep],
        "denominator": den[keep],
    })  # fmt: skip
    frame = frame.sort_values(["school_year", "lea_id", "indicator"], kind="stable").reset_index(
        drop=True
    )
    ids = directory.leas["lea_id"].to_numpy()
    frame.attrs["level_cases"] = dict(zip(("universal", "targeted_1"), ids[chosen], strict=False))
    return frame


def _target_array(years: tuple[str, ...]) -> np.ndarray:
    """Every indicator's target by year, ``[I, Y]`` (NaN: no target)."""
    t = np.arange(len(years), dtype=float)
    return np.array([
        np.full(len(years), np.nan) if s.target is None
        else np.clip(s.target + s.target_step * t, 0.0, 1.0).round(3)
        for s in INDICATORS
    ])  # fmt: skip


def _met(num: np.ndarray, den: np.ndarray, target: np.ndarray, higher: np.ndarray) -> np.ndarray:
    """Whether each rate meets its target (``rate >= target``, or ``<=`` when lower is better);
    True where there is no rate or no target (nothing to miss)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = num / den
        met = np.where(higher, rate >= target, rate <= target)
    return met | (den <= 0) | np.isnan(target)


def _level_case_leas(
    directory: _Directory, num: np.ndarray, den: np.ndarray, targets: np.ndarray, swd: np.ndarray
) -> np.ndarray:
    """The (at most two) LEAs given target-meeting indicators: Universal, then Targeted 1.

    The first two LEAs, in directory order, that carry no built-in case, have more than
    :data:`LEVEL_CASE_MIN_SWD` students with disabilities in the latest year and already meet
    the targets of :data:`LEVEL_CASE_LRE` in it.
    """
    codes = [s.code for s in INDICATORS]
    lre = [codes.index(c) for c in LEVEL_CASE_LRE]
    higher = np.array([s.higher_is_better for s in INDICATORS])[lre, None]
    met = _met(num[lre, :, -1], den[lre, :, -1], targets[lre, -1][:, None], higher)
    ok = met.all(axis=0) & ~directory.case_mask & (swd > LEVEL_CASE_MIN_SWD)
    return np.flatnonzero(ok)[:2]


def _level_case_rates(
    num: np.ndarray, den: np.ndarray, targets: np.ndarray, means: np.ndarray, chosen: np.ndarray
) -> np.ndarray:
    """Numerators of the designed LEAs: every drawn indicator beyond its target by
    :data:`LEVEL_CASE_MARGIN` in every year (chronic absence at
    :data:`LEVEL_CASE_NO_TARGET_FACTOR` of the State mean); the second LEA then misses
    :data:`TARGETED_1_MISS` in the latest year. Derived indicators are left as counted."""
    num = num.copy()
    for i, spec in enumerate(INDICATORS):
        if spec.derived is not None or not len(chosen):
            continue
        d, n = den[i, chosen], num[i, chosen]
        if spec.target is None:
            if not spec.higher_is_better:
                cap = np.floor(d * means[i][None, :] * LEVEL_CASE_NO_TARGET_FACTOR)
                num[i, chosen] = np.minimum(n, cap)
            continue
        goal = targets[i][None, :]
        if spec.higher_is_better:
            need = np.ceil(d * np.minimum(goal + LEVEL_CASE_MARGIN, 1.0))
            num[i, chosen] = np.minimum(np.maximum(n, need), d)
        else:
            num[i, chosen] = np.minimum(n, np.floor(d * np.maximum(goal - LEVEL_CASE_MARGIN, 0.0)))
    if len(chosen) > 1:
        i = [s.code for s in INDICATORS].index(TARGETED_1_MISS)
        lea, goal = chosen[1], targets[i, -1]
        num[i, lea, -1] = np.floor(den[i, lea, -1] * max(goal - LEVEL_CASE_MARGIN, 0.0))
    return num


def _targets(years: tuple[str, ...]) -> pd.DataFrame:
    target_array = _target_array(years)
    rows = []
    for spec, target in zip(INDICATORS, target_array, strict=True):
        rows.append(pd.DataFrame({
            "school_year": years,
            "indicator": spec.code,
            "target": target,
            "higher_is_better": spec.higher_is_better,
            "label": spec.label,
        }))  # fmt: skip
    frame = pd.concat(rows, ignore_index=True)
    for column in ("school_year", "indicator", "label"):
        frame[column] = frame[column].astype("str")
    return frame.sort_values(["school_year", "indicator"], kind="stable").reset_index(drop=True)


# --- helpers ------------------------------------------------------------------------------------


def _long(
    values: np.ndarray,
    directory: _Directory,
    years: tuple[str, ...],
    code_column: str | None,
    codes: tuple[str, ...] | None,
) -> pd.DataFrame:
    """A [lea, year, race(, code)] array as a tidy frame sorted by year, LEA, race, code.

    Zero counts are left out of tables with a code column (an absent row means zero); missing
    (NaN) counts are kept as rows with an empty count.
    """
    arr = np.moveaxis(values, 1, 0)  # year first
    shape = arr.shape
    index = np.indices(shape).reshape(len(shape), -1)
    count = arr.reshape(-1)
    keep = np.ones(count.shape, dtype=bool) if code_column is None else (count != 0)
    data = {
        "school_year": pd.array(np.asarray(years)[index[0][keep]], dtype="str"),
        "lea_id": pd.array(directory.leas["lea_id"].to_numpy()[index[1][keep]], dtype="str"),
        "race_ethnicity": pd.array(np.asarray(ALL_RACE_CODES)[index[2][keep]], dtype="str"),
    }
    if code_column is not None and codes is not None:
        data[code_column] = pd.array(np.asarray(codes)[index[3][keep]], dtype="str")
    data["count"] = count[keep].astype(float)
    return pd.DataFrame(data)


def _designed_series(case: BuiltInCase, n_years: int) -> np.ndarray:
    """``case.ratios`` for ``n_years`` years: the last ones, earlier years repeating the first."""
    ratios = np.array(case.ratios, dtype=float)
    pad = np.full(max(n_years - len(ratios), 0), ratios[0])
    return np.concatenate([pad, ratios])[-n_years:]


def _expected(case: BuiltInCase, years: tuple[str, ...]) -> str:
    """The determination a designed ratio series gives under the ``california`` profile."""
    if case.kind == "ratio":
        flagged = _designed_series(case, len(years)) > DESIGN_THRESHOLD
        run = 0
        identified = []
        for year, flag in zip(years, flagged, strict=True):
            run = run + 1 if flag else 0
            if run >= DESIGN_YEARS_REQUIRED:
                identified.append(year)
        flagged_years = [y for y, f in zip(years, flagged, strict=True) if f]
        text = f"flagged {', '.join(flagged_years) or 'never'}"
        if identified:
            text += f"; significantly disproportionate {', '.join(identified)}"
        return text
    return {
        "alternate": "alternate_risk_ratio rows",
        "comparison": "not calculated: comparison_below_min",
        "missing": f"not calculated: missing_input in {', '.join(years[-MISSING_YEARS:])}",
        "below_min_n": "not calculated: group_below_min_n",
    }[case.kind]


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _lognormal(rng: np.random.Generator, sd: float, shape: tuple[int, ...]) -> np.ndarray:
    """Mean-one log-normal multipliers with log standard deviation ``sd``."""
    return np.exp(sd * rng.standard_normal(shape) - sd * sd / 2.0)


def _normalised(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _override_shares(given: Mapping[str, float], state: np.ndarray) -> np.ndarray:
    """Race shares with ``given`` fixed and the rest shared in statewide proportions."""
    out = np.array([given.get(r, np.nan) for r in ALL_RACE_CODES], dtype=float)
    free = np.isnan(out)
    rest = max(1.0 - float(np.nansum(out)), 0.0)
    out[free] = rest * state[free] / state[free].sum() if free.any() else 0.0
    return out / out.sum()


def _parse_year(text: str) -> int:
    if not is_school_year(text):
        raise UsageError(
            f"last school year {text!r} is not of the form YYYY-YY with consecutive years "
            "(for example 2024-25); give a valid school year."
        )
    return int(text[:4])


def _check_arguments(n_leas: int, n_years: int) -> None:
    if int(n_leas) < 1:
        raise UsageError(f"--leas must be at least 1, found {n_leas}; give a number of LEAs.")
    if int(n_years) < 1:
        raise UsageError(f"--years must be at least 1, found {n_years}; give a number of years.")


def _to_csv(frame: pd.DataFrame) -> str:
    out = frame.copy()
    for column in ("count", "numerator", "denominator"):
        if column in out.columns:
            out[column] = out[column].round().astype("Int64")
    return out.to_csv(index=False, lineterminator="\n")


def _is_own_output(folder: Path) -> bool:
    """True when ``folder`` holds a ``dataset.yaml`` this generator wrote."""
    import yaml

    path = folder / "dataset.yaml"
    if not path.is_file():
        return False
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return (
        isinstance(meta, dict)
        and meta.get("synthetic") is True
        and str(meta.get("source", "")).startswith(_SOURCE_PREFIX)
    )


def _refuse_to_clobber(folder: Path, contents: Mapping[str, str]) -> None:
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a folder; give a folder for the sample.")
    own = _is_own_output(folder)
    conflicts = []
    for name in sorted(set(CANONICAL_FILES) | set(contents)):
        path = folder / name
        if not path.is_file():
            continue
        if name not in contents:  # a canonical file this generator never writes
            conflicts.append(name)
        elif not own and path.read_bytes() != contents[name].encode("utf-8"):
            conflicts.append(name)
    if conflicts:
        raise UsageError(
            f"{folder} already holds {', '.join(conflicts)}, which "
            f"{'is' if len(conflicts) == 1 else 'are'} not output of `cimrca sample` (no "
            "dataset.yaml with synthetic: true and source `cimrca sample ...`); refusing to "
            "overwrite a data set. Give an empty or new folder, or move those files away."
        )


def _readme(
    tables: Mapping[str, pd.DataFrame],
    cases: pd.DataFrame,
    meta: Mapping[str, object],
    years: tuple[str, ...],
) -> str:
    leas = tables["leas"]
    enrollment = tables["enrollment"]
    last = enrollment[enrollment["school_year"] == years[-1]]
    total = last["count"].sum()
    shares = last.groupby("race_ethnicity")["count"].sum() / total
    cwd = tables["child_count"]
    cwd_last = cwd.loc[cwd["school_year"] == years[-1], "count"].sum()
    kinds = leas["lea_type"].value_counts()
    lines = [
        "# Synthetic California sample data set",
        "",
        "**SYNTHETIC DATA.** Every LEA, county, SELPA and count here is invented by cimrca's",
        "seeded generator (`cimrca/sample.py`). It describes no real student, school or district;",
        "it only looks like California so that the tools can be tried and tested.",
        "",
        "Made with the command below, where OUT_DIR is this folder (for `data/sample` in the",
        "repository, `make sample` runs it):",
        "",
        "```",
        str(meta["source"]).replace(_SOURCE_PREFIX, f"{_SOURCE_PREFIX} OUT_DIR", 1),
        "```",
        "",
        "Re-running it gives the same files byte for byte. Do not edit the files by hand:",
        "change the generator and re-run it.",
        "",
        "## What is in it",
        "",
        f"- {len(leas):,} LEAs: {_plural(kinds.get('district', 0), 'district')}, "
        f"{_plural(kinds.get('county_office', 0), 'county office')} and "
        f"{_plural(kinds.get('charter', 0), 'charter')} (a charter that is its own LEA has its",
        "  7-digit school code as `lea_id`).",
        f"- School years {years[0]} to {years[-1]}; {total:,.0f} children enrolled and "
        f"{cwd_last:,.0f} children with disabilities in {years[-1]} "
        f"({cwd_last / total:.1%} identified).",
        "- Enrollment shares in "
        + years[-1]
        + ": "
        + ", ".join(f"{r} {shares.get(r, 0.0):.1%}" for r in ALL_RACE_CODES)
        + ".",
        "- Tables: `leas.csv`, `enrollment.csv`, `child_count.csv` (13 disabilities),",
        "  `environments.csv` (8 school-age settings), `discipline.csv` (5 removal types; `TDR`",
        "  counts removals), `indicators.csv` (SPP/APR series) and `targets.csv`. There is no",
        "  `state_totals.csv`: the State is the sum of these LEAs.",
        "- Rows with a zero count are left out of child count, environments and discipline (an",
        "  absent row means zero). An empty count is a suppressed (missing) count.",
        "- Discipline in 2020-21 is low (instruction was mostly at a distance), and in-school",
        "  suspensions of more than 10 days are almost absent statewide, as in California.",
        "- Indicators 4A, SUSP_SWD and CHRONIC_SWD have no target (the target cell is empty).",
        f"- Indicators 11, 12 and 13 (compliance): {COMPLIANCE_FULL_SHARE:.0%} of LEA-years are at",
        "  exactly 100%, as most California LEAs are, so few LEAs miss a target on them alone.",
        "",
        "## Built-in cases",
        "",
        "These LEAs were given counts that exercise the calculation under the `california`",
        "profile (threshold 3.0, min_cell 10, min_n 20, three consecutive years). A designed",
        "ratio series lists the ratio of each school year, oldest first. Other LEAs may be",
        "flagged by chance, as real ones are; only these are designed.",
        "",
        "| case | lea_id | LEA | category | group | designed ratios | expected | what it "
        "exercises |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {case.key: case for case in BUILT_IN_CASES}
    for row in cases.itertuples(index=False):
        expected = _expected(by_key[row.case], years)
        lines.append(
            f"| `{row.case}` | `{row.lea_id}` | {row.lea_name} | `{row.category}` | "
            f"{row.race_ethnicity} | {row.designed_ratios or '-'} | {expected} | {row.purpose} |"
        )
    lines += [
        "",
        "Groups below the minimum cell size (`group_below_min_cell`) occur throughout, chiefly",
        "American Indian and Pacific Islander students, who are under 1% of enrollment; many",
        "small LEAs use the alternate risk ratio too.",
        "",
    ]
    lines += _monitoring_readme(tables, cases, years)
    return "\n".join(lines)


def _levels_shown(level: pd.Series, labels: Mapping[str, str]) -> str:
    absent = [labels[name] for name in labels if not (level == name).any()]
    return "Every level appears." if not absent else f"No LEA is at {', '.join(absent)}."


def _monitoring_readme(
    tables: Mapping[str, pd.DataFrame], cases: pd.DataFrame, years: tuple[str, ...]
) -> list[str]:
    """The README's monitoring levels of the latest year, as ``cimrca monitoring`` computes
    them under the ``california`` profile, with the LEAs that carry each level by design."""
    from .dataset import dataset_from_frames
    from .methodology import compute_results
    from .monitoring import LEVEL_LABELS, LEVELS, compute_monitoring
    from .profiles import load_profile

    profile = load_profile("california")
    ds = dataset_from_frames(tables, name="sample", is_synthetic=True)
    mon = compute_monitoring(ds, compute_results(ds, profile), None, profile)
    now = mon[mon["school_year"] == years[-1]].set_index("lea_id")
    designed = tables["indicators"].attrs.get("level_cases", {})
    case_of = dict(zip(cases["lea_id"], cases["case"], strict=True))

    def ids(mask) -> str:
        chosen = now.index[mask]
        return (
            ", ".join(f"`{i}`" + (f" ({case_of[i]})" if i in case_of else "") for i in chosen)
            or "none"
        )

    level = now["level"]
    t3 = level == "targeted_3"
    lines = [
        f"## Monitoring levels in {years[-1]}",
        "",
        "As `cimrca monitoring` computes them under the `california` profile (monitoring.md;",
        "computed by cimrca from the profile's rules: the Annual Determination Letter is the",
        f"official level). {_levels_shown(level, LEVEL_LABELS)} Built-in cases are named in",
        "brackets.",
        "",
        "| level | LEAs | lea_id | how |",
        "|---|---|---|---|",
    ]
    how = {
        "universal": "by design: a non-case LEA whose 5A, 5B and 5C already met their targets, "
        "given drawn indicator rates beyond every target",
        "targeted_1": "by design: as the Universal LEA, but it misses "
        f"{TARGETED_1_MISS} in {years[-1]} (one element missed)",
        "targeted_2": "three or more indicator targets missed (drawn rates)",
        "targeted_3": "see below",
        "intensive_1": "composite percentile at or under 10 (drawn rates)",
        "intensive_2": "composite percentile at or under 8 (drawn rates)",
        "intensive_3": "composite percentile at or under 4 (drawn rates)",
        "cyclical": "by design: every LEA with at most 100 students with disabilities",
    }
    for name in LEVELS:
        mask = (level == name).to_numpy()
        shown = f"{mask.sum()} LEAs" if name == "cyclical" else ids(mask)
        lines.append(f"| {LEVEL_LABELS[name]} | {int(mask.sum())} | {shown} | {how[name]} |")
    lines += [
        "",
        "Targeted 3, by reason (an LEA may have several):",
        "",
        "- disproportionate two or more years in a row: "
        + ids((t3 & now["disproportionate_two_years"]).to_numpy()),
        "- bottom 10% on a least restrictive environment indicator: "
        + ids((t3 & (now["lre_bottom_list"] != "")).to_numpy()),
        "- composite percentile over 10 and at or under 20: "
        + ids((t3 & (now["composite_percentile"] > 10) & (now["composite_percentile"] <= 20))
              .to_numpy()),
        "",
        "The designed Universal and Targeted 1 LEAs: "
        + (", ".join(f"`{lea}` ({name})" for name, lea in designed.items()) or "none")
        + ".",
        "",
    ]  # fmt: skip
    return lines


# --- the drill-down below the LEA: detail.csv and schools.csv (drilldown.md section 4) ---------

#: School years sliced in ``detail.csv``, counted back from the latest (the findings' year).
DETAIL_YEARS = 1
#: LEA types given schools and detail counts ("for its districts"; a charter is one school).
DETAIL_LEA_TYPES: tuple[str, ...] = ("district", "county_office")
#: Average enrollment of a school, and the log standard deviation of school sizes.
SCHOOL_SIZE = 600.0
SCHOOL_SIZE_SD = 0.35
#: How much larger a middle and a high school are than an elementary school.
LEVEL_SIZE: Mapping[str, float] = {"Elementary": 1.0, "Middle": 1.6, "High": 2.6}
#: Shares of elementary, middle and high schools by kind of LEA.
LEVEL_SHARES: Mapping[str, tuple[float, float, float]] = {
    "unified": (0.6, 0.2, 0.2), "elementary": (0.75, 0.25, 0.0), "high": (0.0, 0.0, 1.0),
    "county_office": (0.34, 0.33, 0.33),
}  # fmt: skip
#: How unevenly each group spreads over an LEA's schools (log standard deviation).
SCHOOL_GROUP_SD = 0.3
#: Grade bands (PK, K-5, 6-8, 9-12, UG) of each table's children (CALPADS-like proportions;
#: preschool children with disabilities are a tenth of the child count, removals peak in 6-12).
GRADE_MIX: Mapping[str, tuple[float, ...]] = {
    "enrollment": (0.02, 0.47, 0.22, 0.285, 0.005),
    "child_count": (0.10, 0.42, 0.22, 0.25, 0.01),
    "environments": (0.01, 0.45, 0.24, 0.29, 0.01),
    "discipline": (0.0, 0.15, 0.40, 0.44, 0.01),
}  # fmt: skip
#: Grade bands an LEA serves, by kind (elementary districts K-8, high school districts 9-12).
GRADE_SERVED: Mapping[str, tuple[bool, ...]] = {
    "unified": (True,) * 5, "county_office": (True,) * 5,
    "elementary": (True, True, True, False, True), "high": (False, False, False, True, True),
}  # fmt: skip
#: Shares (F, M, X) by table: boys are about two thirds of children with disabilities.
GENDER_MIX: Mapping[str, tuple[float, float, float]] = {
    "enrollment": (0.486, 0.509, 0.005), "child_count": (0.33, 0.665, 0.005),
    "environments": (0.33, 0.665, 0.005), "discipline": (0.22, 0.775, 0.005),
}  # fmt: skip
#: Share of English learners and of socioeconomically disadvantaged students by table.
ENGLISH_LEARNER_SHARE: Mapping[str, float] = {
    "enrollment": 0.18, "child_count": 0.27, "environments": 0.27, "discipline": 0.22,
}  # fmt: skip
DISADVANTAGED_SHARE: Mapping[str, float] = {
    "enrollment": 0.61, "child_count": 0.68, "environments": 0.68, "discipline": 0.76,
}  # fmt: skip
#: Relative likelihood, by disability, of the most restrictive settings and of removals.
RESTRICTIVE_SETTINGS: tuple[str, ...] = ("RC_LT40", "SEP_SCHOOL", "RESIDENTIAL")
RESTRICTIVE_FACTORS: Mapping[str, float] = {
    "ID": 4.0, "AUT": 3.0, "MD": 6.0, "DB": 5.0, "ED": 2.5, "SLD": 0.3, "SLI": 0.2, "DD": 1.5,
}  # fmt: skip
REMOVAL_FACTORS: Mapping[str, float] = {
    "ED": 4.0, "OHI": 2.0, "SLD": 1.2, "AUT": 0.6, "ID": 0.8, "SLI": 0.4, "DD": 0.1,
}  # fmt: skip


@dataclass(frozen=True)
class DrilldownCase:
    """A designed concentration of a built-in case's finding (drilldown.md section 4).

    ``schools`` picks the schools that get the finding's outcome ``boost`` times their share:
    the ``n_schools`` largest of ``level``; ``grade_band`` is boosted likewise. A case with no
    boost is spread in proportion to each school's students (no uneven spread either).
    """

    case: str
    table: str
    code: str
    purpose: str
    level: str = ""
    n_schools: int = 0
    boost: float = 1.0
    grade_band: str = ""
    grade_boost: float = 1.0


#: The designed drill-down cases, on LEAs of :data:`BUILT_IN_CASES`.
DRILLDOWN_CASES: tuple[DrilldownCase, ...] = (
    DrilldownCase(
        "sd_ident_ed_bl", "child_count", "ED",
        "concentrated in two of its schools (its two largest middle schools) and in grades 6-8",
        level="Middle", n_schools=2, boost=12.0, grade_band="6-8", grade_boost=8.0,
    ),
    DrilldownCase(
        "sd_disc_oss_le10_bl", "discipline", "OSS_LE10",
        "concentrated in one high school (its largest)",
        level="High", n_schools=1, boost=15.0,
    ),
    DrilldownCase(
        "sd_ident_aut_as", "child_count", "AUT",
        "spread evenly: every school in proportion to its students, no school over 30% of the "
        "excess",
    ),
)  # fmt: skip


def generate_detail(
    tables: Mapping[str, pd.DataFrame],
    *,
    n_leas: int = 50,
    seed: int = 2024,
) -> dict[str, pd.DataFrame]:
    """``detail.csv`` and ``schools.csv`` for the districts of a generated sample.

    Parameters
    ----------
    tables
        The tables :func:`generate_sample` returned for the same ``n_leas`` and ``seed``.
    n_leas, seed
        As for :func:`generate_sample` (they place the built-in cases).

    Returns
    -------
    dict of str to DataFrame
        ``schools`` (``school_code``, ``school_name``, ``lea_id``) and ``detail`` (the columns
        of drilldown.md section 1) for districts and county offices, the latest
        :data:`DETAIL_YEARS` school year(s). Each LEA count is split over the slices of every
        dimension by largest remainders, so the slices add up to it exactly; zero slices are
        left out (an absent row means zero); suppressed LEA counts get no slices.

    Notes
    -----
    Slices are drawn independently by dimension (the file never crosses two dimensions).
    :data:`DRILLDOWN_CASES` tilt chosen findings toward some schools and a grade band.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4])
    directory = _directory(n_leas, np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[0]))
    leas = directory.leas
    years = sorted(tables["enrollment"]["school_year"].unique())[-DETAIL_YEARS:]
    chosen = leas["lea_type"].isin(DETAIL_LEA_TYPES).to_numpy()
    counts = _detail_base(tables, years, leas["lea_id"][chosen])
    schools = _schools(directory, chosen, counts, rng)
    case_leas = {
        case.key: leas["lea_id"].iloc[lea]
        for case, lea in zip(directory.cases, directory.case_leas, strict=True)
    }
    kind = pd.Series(directory.kind, index=leas["lea_id"])
    parts = [
        _school_slices(counts, schools, case_leas, rng),
        _grade_slices(counts, kind, case_leas),
        _share_slices(counts, "gender", ("F", "M", "X"), GENDER_MIX),
        _share_slices(counts, "english_learner", ("Y", "N"),
                      {t: (s, 1 - s) for t, s in ENGLISH_LEARNER_SHARE.items()}),
        _share_slices(counts, "socioeconomically_disadvantaged", ("Y", "N"),
                      {t: (s, 1 - s) for t, s in DISADVANTAGED_SHARE.items()}),
        _disability_slices(counts, tables, years),
    ]  # fmt: skip
    detail = _apportioned(counts, pd.concat(parts, ignore_index=True))
    return {"schools": schools[["school_code", "school_name", "lea_id"]], "detail": detail}


def _detail_base(tables, years, lea_ids) -> pd.DataFrame:
    """The LEA counts to slice, one long frame with a row id ``_key`` (zero and missing left out)."""
    frames = []
    for table, column in (("enrollment", None), ("child_count", "disability"),
                          ("environments", "environment"), ("discipline", "removal_type")):  # fmt: skip
        frame = tables[table]
        frame = frame[frame["school_year"].isin(years) & frame["lea_id"].isin(lea_ids)]
        frames.append(
            pd.DataFrame({
                "school_year": frame["school_year"].to_numpy(),
                "lea_id": frame["lea_id"].to_numpy(),
                "race_ethnicity": frame["race_ethnicity"].to_numpy(),
                "table": table,
                "code": frame[column].to_numpy() if column else "",
                "total": frame["count"].to_numpy(dtype=float),
            })
        )  # fmt: skip
    out = pd.concat(frames, ignore_index=True)
    out = out[out["total"].fillna(0) > 0].reset_index(drop=True)
    out["_key"] = np.arange(len(out))
    return out


def _schools(directory, chosen, counts, rng) -> pd.DataFrame:
    """Invented schools of each chosen LEA: code, name, level and share of the LEA's students."""
    leas = directory.leas
    enrolled = counts[counts["table"].eq("enrollment")].groupby("lea_id")["total"].sum()
    lea_ids = leas["lea_id"][chosen].to_numpy()
    kind = directory.kind[chosen]
    n = np.maximum(1, np.round(enrolled.reindex(lea_ids).fillna(0).to_numpy() / SCHOOL_SIZE))
    n = n.astype(int)
    lea = np.repeat(np.arange(len(lea_ids)), n)
    position = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + 0.5) / n[lea]
    shares = np.array([LEVEL_SHARES[k] for k in kind])[lea]
    level_index = (position[:, None] > np.cumsum(shares, axis=1)[:, :2]).sum(axis=1)
    level = np.array(list(LEVEL_SIZE), dtype=object)[level_index]
    size = pd.Series(level).map(LEVEL_SIZE).to_numpy() * np.exp(
        SCHOOL_SIZE_SD * rng.standard_normal(len(lea))
    )
    share = size / np.bincount(lea, weights=size)[lea]
    codes = np.sort(rng.choice(np.arange(6_000_000, 7_000_000), size=len(lea), replace=False))
    first = rng.choice(np.array(_NAME_FIRST, dtype=object), size=len(lea))
    second = rng.choice(np.array(_NAME_SECOND, dtype=object), size=len(lea))
    name = pd.Series(first + " " + second + " " + level + " School")
    return pd.DataFrame({
        "school_code": np.char.zfill(codes.astype(str), 7),
        "school_name": name.to_numpy(dtype=str),
        "lea_id": lea_ids[lea],
        "level": level,
        "share": share,
    })  # fmt: skip


def _school_slices(counts, schools, case_leas, rng) -> pd.DataFrame:
    """Weights of each school: its share of the LEA, an uneven spread by group, and the cases."""
    case_lea_ids = set(case_leas.values())
    noise = pd.DataFrame({
        "school_code": np.repeat(schools["school_code"].to_numpy(), len(ALL_RACE_CODES)),
        "race_ethnicity": np.tile(np.array(ALL_RACE_CODES, dtype=object), len(schools)),
        "_noise": np.exp(SCHOOL_GROUP_SD * rng.standard_normal(len(schools) * len(ALL_RACE_CODES))),
    })  # fmt: skip
    rows = counts.merge(schools[["school_code", "lea_id", "level", "share"]], on="lea_id")
    rows = rows.merge(noise, on=["school_code", "race_ethnicity"])
    even = rows["lea_id"].isin(case_lea_ids).to_numpy()
    weight = rows["share"].to_numpy() * np.where(even, 1.0, rows["_noise"].to_numpy())
    for case in DRILLDOWN_CASES:  # three designed cases: a loop over rules
        if case.n_schools == 0 or case.case not in case_leas:
            continue
        own = schools[schools["lea_id"].eq(case_leas[case.case]) & schools["level"].eq(case.level)]
        picked = own.nlargest(case.n_schools, "share")["school_code"]
        tilt = _case_rows(rows, case, case_leas) & rows["school_code"].isin(picked).to_numpy()
        weight = np.where(tilt, weight * case.boost, weight)
    return (
        rows[["_key", "school_code"]]
        .rename(columns={"school_code": "value"})
        .assign(dimension="school", weight=weight)
    )


def _case_rows(rows: pd.DataFrame, case: DrilldownCase, case_leas) -> np.ndarray:
    """Rows of the finding's outcome: the case's LEA, group, table and code."""
    built = {c.key: c for c in BUILT_IN_CASES}[case.case]
    return (
        rows["lea_id"].eq(case_leas[case.case]) & rows["race_ethnicity"].eq(built.race)
        & rows["table"].eq(case.table) & rows["code"].eq(case.code)
    ).to_numpy()  # fmt: skip


def _grade_slices(counts, kind: pd.Series, case_leas) -> pd.DataFrame:
    from .codes import GRADE_BANDS

    mix = np.array([GRADE_MIX[t] for t in counts["table"]])
    served = np.array([GRADE_SERVED[k] for k in kind.reindex(counts["lea_id"]).to_numpy()])
    weight = mix * served
    for case in DRILLDOWN_CASES:
        if case.grade_band and case.case in case_leas:
            band = GRADE_BANDS.index(case.grade_band)
            weight[_case_rows(counts, case, case_leas), band] *= case.grade_boost
    return _wide_to_long(counts, "grade_band", GRADE_BANDS, weight)


def _share_slices(counts, dimension, values, mix) -> pd.DataFrame:
    weight = np.array([mix[t] for t in counts["table"]])
    return _wide_to_long(counts, dimension, values, weight)


def _disability_slices(counts, tables, years) -> pd.DataFrame:
    """Children with disabilities by their disability: the LEA group's own mix, tilted toward
    the disabilities seen most in restrictive settings (placement) and in removals."""
    cc = tables["child_count"]
    cc = cc[cc["school_year"].isin(years)]
    mix = cc.pivot_table(index=["school_year", "lea_id", "race_ethnicity"], columns="disability",
                         values="count", aggfunc="sum").reindex(columns=list(DISABILITIES))  # fmt: skip
    mix = mix.fillna(0.0)
    sliced = counts[counts["table"].ne("enrollment")]
    keys = pd.MultiIndex.from_frame(sliced[["school_year", "lea_id", "race_ethnicity"]])
    weight = mix.reindex(keys).fillna(0.0).to_numpy()
    restrictive = np.array([RESTRICTIVE_FACTORS.get(d, 1.0) for d in DISABILITIES])
    removal = np.array([REMOVAL_FACTORS.get(d, 1.0) for d in DISABILITIES])
    table, code = sliced["table"].to_numpy(), sliced["code"].to_numpy()
    weight = np.where((table == "environments")[:, None] & np.isin(code, RESTRICTIVE_SETTINGS)[:, None],
                      weight * restrictive, weight)  # fmt: skip
    weight = np.where((table == "discipline")[:, None], weight * removal, weight)
    own = np.array(DISABILITIES)[None, :] == code[:, None]
    weight = np.where((table == "child_count")[:, None], own.astype(float), weight)
    return _wide_to_long(sliced, "disability", DISABILITIES, weight)


def _wide_to_long(counts, dimension, values, weight: np.ndarray) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({
        "_key": np.repeat(counts["_key"].to_numpy(), n),
        "value": np.tile(np.array(values, dtype=object), len(counts)),
        "dimension": dimension,
        "weight": weight.reshape(-1),
    })  # fmt: skip


def _apportioned(counts: pd.DataFrame, slices: pd.DataFrame) -> pd.DataFrame:
    """Split each LEA count over its slices by largest remainders (Hamilton's method).

    The slices of a dimension then sum to the LEA count exactly. Where every weight of a
    count is zero, the count is split evenly.
    """
    from .codes import DIMENSIONS

    group = pd.factorize(pd.MultiIndex.from_arrays([slices["_key"], slices["dimension"]]))[0]
    weight = slices["weight"].to_numpy(dtype=float)
    total_weight = np.bincount(group, weights=weight)
    weight = np.where(total_weight[group] > 0, weight, 1.0)
    total_weight = np.bincount(group, weights=weight)
    total = counts["total"].to_numpy()[slices["_key"].to_numpy()]
    exact = total * weight / total_weight[group]
    count = np.floor(exact + 1e-9)
    left = np.round(total - np.bincount(group, weights=count)[group])
    order = np.lexsort((np.arange(len(group)), -(exact - count), group))
    start = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    size = np.diff(np.r_[start, len(group)])
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - np.repeat(start, size)
    count = count + (rank < left)
    base = counts.iloc[slices["_key"].to_numpy()].reset_index(drop=True)
    detail = pd.DataFrame({
        "school_year": base["school_year"].to_numpy(),
        "lea_id": base["lea_id"].to_numpy(),
        "race_ethnicity": base["race_ethnicity"].to_numpy(),
        "dimension": slices["dimension"].to_numpy(),
        "value": slices["value"].to_numpy(),
        "table": base["table"].to_numpy(),
        "code": base["code"].to_numpy(),
        "count": count,
    })  # fmt: skip
    detail = detail[detail["count"] > 0]
    order_keys = {
        "dimension": DIMENSIONS, "race_ethnicity": ALL_RACE_CODES,
        "table": ("enrollment", "child_count", "environments", "discipline"),
    }  # fmt: skip
    sort = detail.assign(**{
        f"_{c}": pd.Categorical(detail[c], categories=v).codes for c, v in order_keys.items()
    })  # fmt: skip
    sort = sort.sort_values(["school_year", "lea_id", "_dimension", "value", "_race_ethnicity",
                             "_table", "code"], kind="stable")  # fmt: skip
    return sort[list(detail.columns)].reset_index(drop=True)


def _detail_readme(drill: Mapping[str, pd.DataFrame], cases: pd.DataFrame) -> str:
    """The README section on ``detail.csv``, ``schools.csv`` and the designed drill-down cases."""
    detail = drill["detail"]
    lea_ids = cases.set_index("case")["lea_id"]
    names = cases.set_index("case")["lea_name"]
    lines = [
        "",
        "## Drill-down below the LEA (`detail.csv`, `schools.csv`)",
        "",
        f"- `schools.csv`: {len(drill['schools']):,} invented schools (7-digit codes, names and "
        "their LEA) of the districts and the county office; a charter is one school and has none.",
        f"- `detail.csv`: {len(detail):,} rows for {detail['lea_id'].nunique()} LEAs, school year "
        f"{', '.join(sorted(detail['school_year'].unique()))} (the year of the findings). Each "
        "count of enrollment, child count, environments and discipline is split by school, grade "
        "band, gender, English learner, socioeconomically disadvantaged and (children with "
        "disabilities) disability; the slices of a dimension add up to the LEA's count exactly. "
        "Zero slices are left out.",
        "",
        "Designed drill-down cases (drilldown.md section 4):",
        "",
        "| case | lea_id | LEA | finding | designed concentration |",
        "|---|---|---|---|---|",
    ]
    built = {c.key: c for c in BUILT_IN_CASES}
    for case in DRILLDOWN_CASES:
        if case.case not in lea_ids.index:
            continue
        b = built[case.case]
        lines.append(
            f"| `{case.case}` | `{lea_ids[case.case]}` | {names[case.case]} | `{b.category}` "
            f"{b.race} | {case.purpose} |"
        )
    lines.append("")
    return "\n".join(lines)
