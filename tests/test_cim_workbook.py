"""Tests of the workbook as the LEA's CIM working file (cim_workbook.md sections 1-4).

Workbooks are written to real files and read back with openpyxl; the CCEIS formula is
recalculated by the real LibreOffice (``soffice --headless``); notes typed in the new sheets
survive a forced batch re-run in a real subprocess.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cimrca import annotations as ann
from cimrca import layout
from cimrca.workbook import write_workbook

from .test_workbook import make_inputs

FIXTURES = Path(__file__).parent / "fixtures"
#: A workbook written by cimrca before plain headers (column A header ``finding_id``, headers
#: ``consultant_note``, ``progress_measure``...), with notes in it: last year's workbook.
OLD_WORKBOOK = FIXTURES / "workbook_old_headers.xlsx"

#: British spellings a reader must not meet (cim_workbook.md section 3: American spelling).
BRITISH = (
    "behaviour", "colour", "organisation", "organise", "analyse", "analysed", "programme",
    "centre", "favour", "recognise", "practise", "practised", "labour", "honour", "licence",
    "judgement", "catalogue", "enrol ", "enrolment", "modelling", "travelling", "utilise",
    "prioritise", "summarise", "emphasise", "minimise", "defence", "neighbour",
)  # fmt: skip
#: A machine name shown as a word: lower-case words joined by underscores (``consultant_note``).
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: Keys (``2024-25:ident_ed:BL:rc:1``) may hold machine codes; they are not words to read.
KEY = re.compile(r"\d{4}-\d{2}:[A-Za-z0-9_:]+")


def british_words(text: str) -> list[str]:
    low = text.lower()
    return [w for w in BRITISH if w in low]


def snake_words(text: str) -> list[str]:
    return SNAKE.findall(KEY.sub("", text))


def workbook_texts(path: Path) -> list[tuple[str, str, str, bool]]:
    """(sheet, cell, text, is_heading) of every text cell; headings are bold cells."""
    wb = load_workbook(path)
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    out.append((ws.title, cell.coordinate, cell.value, bool(cell.font.b)))
    return out


# --------------------------------------------------------------------------------------------
# section 3: plain headers, the old-header workbook, words
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identified_workbook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cim")
    return write_workbook(folder, make_inputs())


def test_display_headers_are_the_spec_table():
    """cim_workbook.md section 3, the table of keys and headers shown."""
    spec = {
        "finding_id": "Finding ID",
        "status": "Status",
        "consultant_note": "Note",
        "reviewer": "Reviewer",
        "reviewed_on": "Reviewed on",
        "previous_note": "Last year's note",
        "progress_measure": "Progress measure",
    }
    assert {k: layout.display_header(k) for k in spec} == spec
    assert layout.header_names("consultant_note") == ("Note", "consultant_note")


def test_review_headers_shown_in_plain_words(identified_workbook):
    wb = load_workbook(identified_workbook)
    ws = wb["Disproportionality"]
    header = next(r for r in ws.iter_rows() if r[0].value == "Finding ID")
    shown = [c.value for c in header if c.value]
    for name in ("Status", "Note", "Reviewer", "Reviewed on", "Last year's note"):
        assert name in shown
    assert not [h for h in shown if snake_words(h)], shown
    ws = wb["Action Plan"]
    header = next(r for r in ws.iter_rows() if r[0].value == "Finding ID")
    assert "Progress measure" in [c.value for c in header]


def test_old_header_workbook_is_harvested():
    """A workbook written by the code before plain headers (tests/fixtures) still harvests."""
    first = load_workbook(OLD_WORKBOOK)["Disproportionality"]
    assert any(r[0].value == "finding_id" for r in first.iter_rows())  # really the old headers
    got = ann.read_workbook_annotations(OLD_WORKBOOK)
    assert got[("Disproportionality", "2023-24:ident_id:BL", "consultant_note")] == (
        "Checked CALPADS codes at two sites"
    )
    assert got[("Disproportionality", "2023-24:ident_id:BL", "status")] == "Confirmed"
    assert got[("Disproportionality", "2023-24:ident_id:BL", "reviewed_on")] == "2024-10-01"
    assert got[("Indicators", "2023-24:indicator:4A", "consultant_note")].startswith("Suspensions")
    assert got[("Action Plan", "2023-24:ident_id:BL:ap:1", "progress_measure")] == (
        "SST referrals by group each quarter"
    )
    assert got[("Root Causes", "2023-24:ident_id:BL:rc:1", "response")] == "Team statement"
    keys = ann.read_workbook_keys(OLD_WORKBOOK)
    assert ("Disproportionality", "2023-24:ident_id:BL") in keys


def test_new_workbook_harvests_the_same_as_the_old(tmp_path):
    """The same notes written with plain headers read back under the same machine names."""
    notes = ann.read_workbook_annotations(OLD_WORKBOOK)
    path = write_workbook(tmp_path, make_inputs(), annotations=notes)
    assert ann.read_workbook_annotations(path) == notes


def test_no_snake_case_heading_nor_british_spelling_in_the_workbook(identified_workbook):
    """Every cell of the workbook: no heading is a machine name, no word is British."""
    texts = workbook_texts(identified_workbook)
    assert texts
    british = [(s, c, british_words(t)) for s, c, t, _ in texts if british_words(t)]
    assert not british, british
    # a heading (bold: titles, header rows, labels, finding headings) holds no machine name,
    # nor does a label of column A (Parameters' names); values (a profile's name) may
    headings = [(s, c, t) for s, c, t, bold in texts if bold and snake_words(t)]
    assert not headings, headings
    labels = [(s, c, t) for s, c, t, _ in texts
              if re.fullmatch(r"A\d+", c) and snake_words(t)]  # fmt: skip
    assert not labels, labels


def test_words_disproportionate_caution_and_glossary(identified_workbook):
    texts = workbook_texts(identified_workbook)
    every = "\n".join(t for _, _, t, _ in texts)
    assert "flagged" not in every.lower()
    dis = {t for s, _, t, _ in texts if s == "Disproportionality"}
    assert "Disproportionate (above the threshold)" in dis  # the 1-year finding's level
    assert any("not a target for identifying fewer students" in t and "300.646(f)" in t
               for t in dis)  # fmt: skip
    wb = load_workbook(identified_workbook)
    assert layout.GLOSSARY_SHEET in wb.sheetnames
    terms = [r[0] for r in wb[layout.GLOSSARY_SHEET].iter_rows(min_row=5, values_only=True)]
    for term in ("Risk", "Risk ratio", "Alternate risk ratio", "Threshold",
                 "Minimum cell and n-size", "CCEIS", "Educational partners", "LRE",
                 "Identification", "Placement", "Discipline"):  # fmt: skip
        assert term in terms, term
    meaning = {r[0]: r[1] for r in wb[layout.GLOSSARY_SHEET].iter_rows(values_only=True)}
    assert "ages 3 through 21" in meaning["Identification"]
    assert "ages 5 (in kindergarten) through 21" in meaning["Placement"]
    assert "ages 3 through 21" in meaning["Discipline"]


def test_statements_of_law_in_the_workbook(identified_workbook):
    """cim_workbook.md section 4, as the Summary and the sheets state it."""
    texts = workbook_texts(identified_workbook)
    every = " ".join(" ".join(t.split()) for _, _, t, _ in texts)
    assert "children of all other racial or ethnic groups in the State" in every
    assert "lack of access to scientifically based instruction" in every
    assert "inappropriate use of disciplinary removals" in every
    assert "confirm them against the State's Annual Determination Letter" in every
    assert "age 3 through grade 12" in every and "not only" in every
    assert "even if the LEA stops being significantly disproportionate" in every
    assert "within two years" in every
    assert "SPP/APR indicators and other measures" in every


# --------------------------------------------------------------------------------------------
# section 2: root causes to actions
# --------------------------------------------------------------------------------------------


def test_action_plan_root_cause_drop_down_and_measures(tmp_path):
    notes = {("Root Causes", "2023-24:ident_id:BL:rc:9", "response"): "SST teams skip tier 2"}
    path = write_workbook(tmp_path, make_inputs(), annotations=notes)
    wb = load_workbook(path)
    ws = wb["Action Plan"]
    header = next(r for r in ws.iter_rows() if r[0].value == "Finding ID")
    shown = [c.value for c in header]
    assert shown[2:] == ["Root cause", "SMART goal", "Baseline", "Target", "Activity", "Owner",
                         "Timeline", "Resources", "Implementation measure", "Outcome measure",
                         "Progress measure"]  # fmt: skip
    row = next(r[0].row for r in ws.iter_rows() if r[0].value == "2023-24:ident_id:BL:ap:1")
    for col in range(3, 14):
        assert ws.cell(row, col).protection.locked is False
    assert ws.cell(row, 2).protection.locked is True
    # the root-cause cell is a list validation fed by the hidden Lists sheet
    dv = [d for d in ws.data_validations.dataValidation if f"C{row}" in str(d.sqref)]
    assert len(dv) == 1 and dv[0].type == "list"
    source = dv[0].formula1  # e.g. Lists!$C$2:$C$31
    lists = wb[layout.LISTS_SHEET]
    assert lists.sheet_state == "hidden"
    col = re.search(r"\$([A-Z]+)\$", source).group(1)
    assert lists[f"{col}1"].value == "Root cause"  # the list's name, then its choices
    choices = [c.value for c in lists[col][1:] if c.value]
    assert "2023-24:ident_id:BL:rc:9 Five whys 2: SST teams skip tier 2" in choices
    assert "2023-24:ident_id:BL:rc:2 Fishbone: Policies, practices and procedures" in choices
    assert not any(v.startswith("2023-24:ident_id:BL:rc:1 ") for v in choices)  # problem
    n_blocks = 2  # the identified and the disproportionate finding (make_inputs)
    assert len(choices) == n_blocks * (len(_rc_steps()) - 1)


def _rc_steps():
    from cimrca.workbook import load_prompts

    p = load_prompts()
    return [1, *p["fishbone"], *p["five_whys"], *p["hypotheses"], p["factors_prompt"]]


def test_root_causes_cultural_lens_and_six_factors(identified_workbook):
    ws = load_workbook(identified_workbook)["Root Causes"]
    text = " ".join(str(c) for r in ws.iter_rows(values_only=True) for c in r if c)
    text = " ".join(text.split())
    for lens in ("adults believe", "bias enter referral and assessment",
                 "what do families of this group say",
                 "staff who apply them reflect the students they serve"):  # fmt: skip
        assert lens in text, lens
    from cimrca.statements import ROOT_CAUSE_FACTORS

    rows = {r[0]: r for r in ws.iter_rows(values_only=True) if r[0]}
    factors = rows["2023-24:ident_id:BL:rc:16"]
    assert factors[1] == "Root-cause factors"
    for factor in ROOT_CAUSE_FACTORS[:5]:
        assert factor.split(" appropriate")[0].lower() in " ".join(factors[2].split()).lower()


def test_harvest_reads_the_new_action_plan_columns(tmp_path):
    notes = {
        ("Action Plan", "2023-24:ident_id:BL:ap:1", "root_cause"): "2023-24:ident_id:BL:rc:9",
        ("Action Plan", "2023-24:ident_id:BL:ap:1", "smart_goal"): "Halve referrals by June",
        ("Action Plan", "2023-24:ident_id:BL:ap:1", "outcome_measure"): "ED identification",
    }
    path = write_workbook(tmp_path, make_inputs(), annotations=notes)
    assert ann.read_workbook_annotations(path) == notes
