"""Statements of law and plain words shared by the packet and the workbook.

cim_workbook.md sections 3 and 4: the sentences a team and a parent read about the placement
categories, the comparison of the alternate risk ratio, the factors behind a finding, the
profile's values, CCEIS and the continuing LEA, written once here so the packet, its notebook
and the workbook say the same thing. American spelling throughout.
"""

from __future__ import annotations

__all__ = [
    "PLACEMENT_CATEGORIES",
    "ALTERNATE_COMPARISON",
    "ROOT_CAUSE_FACTORS",
    "ROOT_CAUSES_SENTENCE",
    "PROFILE_CONFIRM",
    "STUDENTS_OVER_CAUTION",
    "CCEIS_WHO",
    "CCEIS_SPEND",
    "CCEIS_REPORT",
    "CCEIS_BOTH_GRANTS",
    "CONTINUING_DUTY",
    "CIM_STEPS",
    "GLOSSARY",
    "plain_reason",
]

#: The two placement categories reviewed under 34 CFR 300.646(a)-(b), and their ages.
PLACEMENT_CATEGORIES = (
    "Placement counts children with disabilities ages 5 (in kindergarten) through 21 in two "
    "settings: inside a regular class less than 40% of the day, and in separate schools and "
    "residential facilities (not homebound or hospital, correctional facilities or private "
    "schools)."
)
#: 34 CFR 300.647(b).
ALTERNATE_COMPARISON = (
    "When the other groups of the LEA are too few to compare with, the alternate risk ratio "
    "compares the group's risk in the LEA with the risk of children of all other racial or "
    "ethnic groups in the State (34 CFR 300.647(b))."
)
#: The factors of 34 CFR 300.646(d)(1)(ii), in its order (cim_workbook.md section 2).
ROOT_CAUSE_FACTORS: tuple[str, ...] = (
    "lack of access to scientifically based instruction",
    "economic, cultural or linguistic barriers to appropriate identification or placement",
    "inappropriate use of disciplinary removals",
    "lack of access to appropriate diagnostic screenings",
    "differences in academic achievement",
    "policies, practices and procedures that contribute to the significant disproportionality",
)
ROOT_CAUSES_SENTENCE = (
    "The root causes are the factors contributing to the significant disproportionality, "
    "which 34 CFR 300.646(d)(1)(ii) names: " + "; ".join(ROOT_CAUSE_FACTORS) + "."
)
PROFILE_CONFIRM = (
    "These values come from the profile used here; confirm them against the State's Annual "
    "Determination Letter, which is the official word."
)
#: cim_workbook.md section 3.
STUDENTS_OVER_CAUTION = (
    "Students over the threshold is the size of the gap: how many of the group's students in "
    "the count are above what the threshold allows. It is not a target for identifying fewer "
    "students: nothing permits practices that violate child find or a free appropriate public "
    "education (34 CFR 300.646(f))."
)
#: 34 CFR 300.646(d)(2)-(3).
CCEIS_WHO = (
    "CCEIS may serve children from age 3 through grade 12, particularly but not only children "
    "of the group or groups identified, both children not identified as needing special "
    "education who need more academic or behavioral support and children with disabilities; "
    "it may not be limited to children with disabilities."
)
CCEIS_SPEND = (
    "The 15% reserved is spent on CCEIS within the grant's period of availability, even if "
    "the LEA stops being significantly disproportionate during that period."
)
CCEIS_REPORT = (
    "Each year the LEA reports the number of children who received CCEIS and how many of them "
    "went on to receive special education and related services within two years."
)
CCEIS_BOTH_GRANTS = (
    "The reservation is 15% of the LEA's section 611 and section 619 allocations together "
    "(34 CFR 300.646(d)), computed on the whole of both grants, with no deduction first."
)
CONTINUING_DUTY = (
    "An LEA significantly disproportionate in consecutive years is a continuing LEA: it files "
    "the continuing addendum to its CCEIS plan and a budget for the new reservation."
)
#: The CIM steps (SPP-TAP) each part of the packet and workbook serves.
CIM_STEPS = {
    "gather": "CIM step 1, Gather and Inquire",
    "root": "CIM step 2, root cause analysis",
    "plan": "CIM step 3, plan for improvement",
}
#: The glossary of the workbook (cim_workbook.md section 3): term, meaning.
GLOSSARY: tuple[tuple[str, str], ...] = (
    ("Risk", "The share of a group's children with the outcome: for example, Black students "
     "identified with an emotional disturbance divided by all Black students enrolled."),
    ("Risk ratio", "The group's risk divided by the risk of all other groups in the LEA. A "
     "ratio of 1 means no difference; 3 means three times as likely."),
    ("Alternate risk ratio", "The group's risk in the LEA divided by the risk of children of "
     "all other racial or ethnic groups in the State; used when the other groups of the LEA "
     "are too few (34 CFR 300.647(b))."),
    ("Threshold", "The ratio above which a year counts as disproportionate, set by the State "
     "(34 CFR 300.647(b)(1)). The value used is in the profile; confirm it against the Annual "
     "Determination Letter."),
    ("Disproportionate", "A year whose ratio is above the threshold."),
    ("Significantly disproportionate", "The determination: the ratio is above the threshold "
     "for the consecutive years the State requires (up to three) in the same category and "
     "group (34 CFR 300.647(d))."),
    ("Minimum cell and n-size", "The fewest children with the outcome (cell) and in the "
     "group (n-size) for a ratio to be calculated, so that a handful of children cannot "
     "decide it (34 CFR 300.647(b)(1)); the values used are in the profile."),
    ("Students over the threshold", STUDENTS_OVER_CAUTION),
    ("CCEIS", "Comprehensive coordinated early intervening services: the 15% of IDEA Part B "
     "funds a significantly disproportionate LEA reserves to address the factors behind it "
     "(34 CFR 300.646(d)). " + CCEIS_WHO),
    ("Continuing LEA", CONTINUING_DUTY),
    ("Educational partners", "The people the LEA involves in its CIM work: families "
     "(including parents of students with disabilities and families of the group "
     "identified), students, general and special educators, administrators, school "
     "psychologists and community members."),
    ("LRE", "Least restrictive environment: children with disabilities are educated with "
     "children without disabilities to the maximum extent appropriate (34 CFR 300.114)."),
    ("Identification", "Children ages 3 through 21 identified as children with disabilities, "
     "overall and in six categories: intellectual disability, specific learning disability, "
     "emotional disturbance, speech or language impairment, other health impairment and "
     "autism."),
    ("Placement", PLACEMENT_CATEGORIES),
    ("Discipline", "Children with disabilities ages 3 through 21: out-of-school suspensions "
     "and expulsions of 10 days or fewer and of more than 10 days, in-school suspensions of "
     "10 days or fewer and of more than 10 days, and total disciplinary removals."),
    ("Root causes", ROOT_CAUSES_SENTENCE),
    ("Annual Determination Letter", "The State's letter to the LEA with its official "
     "determinations and monitoring level; where it and this workbook differ, the letter "
     "is the official word."),
)  # fmt: skip


def plain_reason(reason: str) -> str:
    """A monitoring reason with its level code in words: ``(targeted_3)`` -> ``(Targeted 3)``.

    Examples
    --------
    >>> plain_reason("missed the target on 2 indicators: 5B, 5C (targeted_2)")
    'missed the target on 2 indicators: 5B, 5C (Targeted 2)'
    """
    import re

    from .monitoring import LEVEL_LABELS

    return re.sub(
        r"\(([a-z]+_\d|[a-z]+)\)",
        lambda m: f"({LEVEL_LABELS.get(m.group(1), m.group(1))})",
        reason,
    )
