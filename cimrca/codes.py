"""Canonical vocabularies: race/ethnicity groups, categories, disabilities, settings, removals.

Every code used anywhere in cimrca is defined here once (data.md section 1, methodology.md
section 1). Codes are strings; the order of each tuple is the display order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "RACES",
    "RACE_LABELS",
    "NOT_REPORTED",
    "ALL_RACE_CODES",
    "DISABILITIES",
    "DISABILITY_LABELS",
    "ALL_DISABILITIES",
    "ENVIRONMENTS",
    "ENVIRONMENT_LABELS",
    "REMOVAL_TYPES",
    "REMOVAL_LABELS",
    "Category",
    "CATEGORIES",
    "CATEGORY_CODES",
    "CATEGORY_LABELS",
    "RATIO_TYPES",
    "REASONS",
    "REASON_LABELS",
    "STATE_TABLES",
    "TableName",
    "RatioType",
    "Reason",
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "UNKNOWN_SLICE",
    "GRADE_BANDS",
    "GENDERS",
    "YES_NO",
    "SLICE_LABELS",
]

#: The seven racial/ethnic groups of 34 CFR 300.647(b)(2), in display order.
RACES: tuple[str, ...] = ("HI", "AM", "AS", "BL", "PI", "WH", "MU")
RACE_LABELS: dict[str, str] = {
    "HI": "Hispanic/Latino",
    "AM": "American Indian or Alaska Native",
    "AS": "Asian (incl. Filipino)",
    "BL": "Black or African American",
    "PI": "Native Hawaiian or Other Pacific Islander",
    "WH": "White",
    "MU": "Two or more races",
    "NR": "Not reported",
}
#: Not reported: kept in totals for display, excluded from every ratio.
NOT_REPORTED = "NR"
ALL_RACE_CODES: tuple[str, ...] = RACES + (NOT_REPORTED,)

#: The 13 federal disability categories (child count, ages 3-21).
DISABILITIES: tuple[str, ...] = (
    "AUT", "DB", "DD", "ED", "HI", "ID", "MD", "OHI", "OI", "SLD", "SLI", "TBI", "VI",
)  # fmt: skip
DISABILITY_LABELS: dict[str, str] = {
    "AUT": "Autism",
    "DB": "Deaf-blindness",
    "DD": "Developmental delay",
    "ED": "Emotional disturbance",
    "HI": "Hearing impairment",
    "ID": "Intellectual disability",
    "MD": "Multiple disabilities",
    "OHI": "Other health impairment",
    "OI": "Orthopedic impairment",
    "SLD": "Specific learning disability",
    "SLI": "Speech or language impairment",
    "TBI": "Traumatic brain injury",
    "VI": "Visual impairment",
    "ALL": "All disabilities",
}
#: Disability code for sources that give children with disabilities by race only (CDE spedps).
ALL_DISABILITIES = "ALL"

#: School-age educational environments (ages 6-21, or 5 in kindergarten).
ENVIRONMENTS: tuple[str, ...] = (
    "RC80", "RC40_79", "RC_LT40", "SEP_SCHOOL", "RESIDENTIAL",
    "HOMEBOUND_HOSPITAL", "CORRECTIONAL", "PRIVATE_PARENT",
)  # fmt: skip
ENVIRONMENT_LABELS: dict[str, str] = {
    "RC80": "Regular class 80% or more of the day",
    "RC40_79": "Regular class 40-79% of the day",
    "RC_LT40": "Regular class less than 40% of the day",
    "SEP_SCHOOL": "Separate school",
    "RESIDENTIAL": "Residential facility",
    "HOMEBOUND_HOSPITAL": "Homebound or hospital",
    "CORRECTIONAL": "Correctional facility",
    "PRIVATE_PARENT": "Parentally placed in private school",
}

#: Disciplinary removals: children removed (four kinds) and the number of removals (TDR).
REMOVAL_TYPES: tuple[str, ...] = ("OSS_LE10", "OSS_GT10", "ISS_LE10", "ISS_GT10", "TDR")
REMOVAL_LABELS: dict[str, str] = {
    "OSS_LE10": "Out-of-school suspensions/expulsions, 10 days or fewer",
    "OSS_GT10": "Out-of-school suspensions/expulsions, more than 10 days",
    "ISS_LE10": "In-school suspensions, 10 days or fewer",
    "ISS_GT10": "In-school suspensions, more than 10 days",
    "TDR": "Total disciplinary removals",
}

TableName = Literal["enrollment", "child_count", "environments", "discipline"]
#: Tables that `state_totals.csv` may supply, with the column that holds their code.
STATE_TABLES: dict[str, str | None] = {
    "enrollment": None,
    "child_count": "disability",
    "environments": "environment",
    "discipline": "removal_type",
}


@dataclass(frozen=True)
class Category:
    """One of the fourteen categories of 34 CFR 300.647(b)(3)-(4).

    ``numerator_table``/``numerator_codes`` say which canonical rows are the outcome
    (empty codes: every code of the table); ``denominator`` names the base population.
    """

    code: str
    label: str
    kind: Literal["identification", "placement", "discipline"]
    numerator_table: TableName
    numerator_codes: tuple[str, ...]
    denominator: Literal["enrollment", "environments", "child_count"]
    is_rate: bool = False  # True for counts of events (TDR), which may exceed the base


CATEGORIES: tuple[Category, ...] = (
    Category("ident_all", "Identification, all disabilities", "identification", "child_count", (), "enrollment"),
    Category("ident_id", "Identification, intellectual disability", "identification", "child_count", ("ID",), "enrollment"),
    Category("ident_sld", "Identification, specific learning disability", "identification", "child_count", ("SLD",), "enrollment"),
    Category("ident_ed", "Identification, emotional disturbance", "identification", "child_count", ("ED",), "enrollment"),
    Category("ident_sli", "Identification, speech or language impairment", "identification", "child_count", ("SLI",), "enrollment"),
    Category("ident_ohi", "Identification, other health impairment", "identification", "child_count", ("OHI",), "enrollment"),
    Category("ident_aut", "Identification, autism", "identification", "child_count", ("AUT",), "enrollment"),
    Category("place_rc_lt40", "Placement in a regular class less than 40% of the day", "placement", "environments", ("RC_LT40",), "environments"),
    Category("place_separate", "Placement in separate schools and residential facilities", "placement", "environments", ("SEP_SCHOOL", "RESIDENTIAL"), "environments"),
    Category("disc_oss_le10", "Out-of-school suspensions and expulsions, 10 days or fewer", "discipline", "discipline", ("OSS_LE10",), "child_count"),
    Category("disc_oss_gt10", "Out-of-school suspensions and expulsions, more than 10 days", "discipline", "discipline", ("OSS_GT10",), "child_count"),
    Category("disc_iss_le10", "In-school suspensions, 10 days or fewer", "discipline", "discipline", ("ISS_LE10",), "child_count"),
    Category("disc_iss_gt10", "In-school suspensions, more than 10 days", "discipline", "discipline", ("ISS_GT10",), "child_count"),
    Category("disc_tdr", "Total disciplinary removals", "discipline", "discipline", ("TDR",), "child_count", is_rate=True),
)  # fmt: skip
CATEGORY_CODES: tuple[str, ...] = tuple(c.code for c in CATEGORIES)
CATEGORY_LABELS: dict[str, str] = {c.code: c.label for c in CATEGORIES}

RatioType = Literal["risk_ratio", "alternate_risk_ratio", "not_calculated"]
RATIO_TYPES: tuple[str, ...] = ("risk_ratio", "alternate_risk_ratio", "not_calculated")

Reason = Literal[
    "missing_input", "group_below_min_cell", "group_below_min_n", "comparison_below_min"
]
REASONS: tuple[str, ...] = (
    "missing_input",
    "group_below_min_cell",
    "group_below_min_n",
    "comparison_below_min",
)
REASON_LABELS: dict[str, str] = {
    "missing_input": "a count needed for the ratio is missing (suppressed or empty)",
    "group_below_min_cell": "the group's outcome count is below the minimum cell size",
    "group_below_min_n": "the group's base population is below the minimum n-size",
    "comparison_below_min": "neither the LEA nor the State comparison group meets the minimums",
}


# --- the drill-down below the LEA (drilldown.md section 1) ------------------------------------

#: Dimensions of ``detail.csv``, in display order.
DIMENSIONS: tuple[str, ...] = (
    "school", "grade_band", "gender", "english_learner", "socioeconomically_disadvantaged",
    "disability",
)  # fmt: skip
DIMENSION_LABELS: dict[str, str] = {
    "school": "School",
    "grade_band": "Grade band",
    "gender": "Gender",
    "english_learner": "English learner",
    "socioeconomically_disadvantaged": "Socioeconomically disadvantaged",
    "disability": "Disability",
}
#: The slice of the students without a value for a dimension.
UNKNOWN_SLICE = "UNKNOWN"
GRADE_BANDS: tuple[str, ...] = ("PK", "K-5", "6-8", "9-12", "UG")
#: ``X`` is CALPADS' nonbinary.
GENDERS: tuple[str, ...] = ("F", "M", "X")
YES_NO: tuple[str, ...] = ("Y", "N")
#: Display names of the slice codes of every dimension but ``school`` (schools.csv names those).
SLICE_LABELS: dict[str, dict[str, str]] = {
    "grade_band": {
        "PK": "Preschool", "K-5": "Grades K-5", "6-8": "Grades 6-8", "9-12": "Grades 9-12",
        "UG": "Ungraded",
    },
    "gender": {"F": "Female", "M": "Male", "X": "Nonbinary"},
    "english_learner": {"Y": "English learners", "N": "Not English learners"},
    "socioeconomically_disadvantaged": {
        "Y": "Socioeconomically disadvantaged", "N": "Not socioeconomically disadvantaged",
    },
    "disability": {k: v for k, v in DISABILITY_LABELS.items() if k != ALL_DISABILITIES},
}  # fmt: skip
