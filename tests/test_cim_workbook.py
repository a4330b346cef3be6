"""Tests of the workbook as the LEA's CIM working file (cim_workbook.md sections 1-4).

Workbooks are written to real files and read back with openpyxl; the CCEIS formula is
recalculated by the real LibreOffice (``soffice --headless``); notes typed in the new sheets
survive a forced batch re-run in a real subprocess.
"""

from __future__ import annotations

import re
from pathlib import Path
from shutil import which as shutil_which

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


# --------------------------------------------------------------------------------------------
# section 1: the CIM activity sheets, their keys, the CCEIS formula
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
#: The sample's designed LEAs (data/sample/README.md): significantly disproportionate in
#: ident_ed BL; Targeted 1 through one missed target (3B_MATH), not identified; Universal,
#: without a finding.
SD_LEA, TARGETED_LEA, NO_FINDING_LEA = "2071593", "4271214", "0161810"
FOUR = ("CIM Team", "Policies Review", "Infrastructure", "Parent Input")


@pytest.fixture(scope="module")
def sample_plans():
    from cimrca import packet as cp
    from cimrca.workbook import plan_workbook

    return {
        lea: plan_workbook(
            cp.load_packet(lea, data_dir=SAMPLE).workbook_inputs(
                with_figures=False, with_drilldown=False
            )
        )
        for lea in (SD_LEA, TARGETED_LEA, NO_FINDING_LEA)
    }


def _sheet_keys(path: Path) -> dict[str, list[str]]:
    wb = load_workbook(path)
    out = {}
    for name in wb.sheetnames:
        ws = wb[name]
        at = next((r[0].row for r in ws.iter_rows(max_col=1) if r[0].value == "Finding ID"), None)
        if at is not None:
            out[name] = [r[0].value for r in ws.iter_rows(min_row=at + 1, max_col=1) if r[0].value]
    return out


def test_identified_lea_has_all_six_sheets_in_order(sample_plans, tmp_path):
    from cimrca.workbook import write_workbook as write

    plan = sample_plans[SD_LEA]
    path = write(tmp_path, plan.inputs, plan=plan)
    names = load_workbook(path).sheetnames
    assert names == [*layout.SHEETS, *layout.CIM_SHEETS, layout.GLOSSARY_SHEET,
                     layout.LISTS_SHEET]  # fmt: skip
    keys = _sheet_keys(path)
    assert keys["CIM Team"] == [f"2024-25:team:{n}" for n in range(1, 11)]
    # ident_ed BL (identification), disproportionality and indicator findings: the areas
    assert keys["Policies Review"][:3] == ["2024-25:ppr:1", "2024-25:ppr:2", "2024-25:ppr:3"]
    assert keys["Infrastructure"] == [f"2024-25:infra:{n}" for n in range(1, 11)]
    assert keys["Parent Input"] == [f"2024-25:parent:{n}" for n in range(1, 6)]
    assert keys["Case Study"] == [f"2024-25:case:{n}" for n in range(1, 6)]  # one finding
    assert keys["CCEIS Plan"][:2] == ["2024-25:cceis:1", "2024-25:cceis:2"]
    # the keys written are the plan's, which the harvester reads back
    for sheet in layout.CIM_SHEETS:
        assert [k for s, k in plan.keys() if s == sheet] == keys[sheet]
        assert all(layout.KEY_PATTERNS[sheet].fullmatch(k) for k in keys[sheet])
    assert {s for s, _ in ann.read_workbook_keys(path)} >= set(layout.CIM_SHEETS)
    ws = load_workbook(path)["Policies Review"]
    row = next(r for r in ws.iter_rows(values_only=True) if r[0] == "2024-25:ppr:3")
    assert row[1] == "Emotional disturbance eligibility criteria"  # the finding's area
    assert "Identification, emotional disturbance - Black or African American" in row[3]


def test_targeted_only_lea_has_the_four_sheets(sample_plans, tmp_path):
    plan = sample_plans[TARGETED_LEA]
    path = write_workbook(tmp_path, plan.inputs, plan=plan)
    names = load_workbook(path).sheetnames
    assert names == [*layout.SHEETS, *FOUR, layout.GLOSSARY_SHEET, layout.LISTS_SHEET]
    keys = _sheet_keys(path)
    # its one finding is indicator 3B_MATH: the assessment participation policies, and the
    # rows kept for the team's own
    assert keys["Policies Review"] == ["2024-25:ppr:9", "2024-25:ppr:11", "2024-25:ppr:12"]


def test_lea_without_findings_has_none(sample_plans, tmp_path):
    plan = sample_plans[NO_FINDING_LEA]
    assert plan.activities == ()
    path = write_workbook(tmp_path, plan.inputs, plan=plan)
    assert load_workbook(path).sheetnames == [*layout.SHEETS, layout.GLOSSARY_SHEET,
                                              layout.LISTS_SHEET]  # fmt: skip


def _cceis_rows(ws) -> dict[str, int]:
    return {r[1].value: r[1].row for r in ws.iter_rows(min_col=1, max_col=2) if r[1].value}


def test_cceis_reservation_is_a_locked_formula_and_allocations_are_yellow(identified_workbook):
    ws = load_workbook(identified_workbook)["CCEIS Plan"]
    rows = _cceis_rows(ws)
    r611, r619, res = rows["Section 611 allocation"], rows["Section 619 allocation"], None
    res = next(r for name, r in rows.items() if name.startswith("CCEIS reservation"))
    assert ws.cell(res, 4).value == f"=0.15*(D{r611}+D{r619})"
    assert ws.cell(res, 4).protection.locked is True
    assert ws.cell(r611, 4).protection.locked is False
    assert ws.cell(r619, 4).protection.locked is False
    assert ws.protection.sheet is True


@pytest.mark.slow
@pytest.mark.skipif(shutil_which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_recalculates_the_cceis_reservation(identified_workbook, tmp_path):
    """Allocations typed (openpyxl, as a spreadsheet program saves them), LibreOffice opens
    and recalculates: the reservation is 0.15 x (611 + 619), and the budget left follows."""
    import subprocess

    wb = load_workbook(identified_workbook)
    ws = wb["CCEIS Plan"]
    rows = _cceis_rows(ws)
    ws.cell(rows["Section 611 allocation"], 4).value = 1_234_567.0
    ws.cell(rows["Section 619 allocation"], 4).value = 45_678.0
    ws.cell(rows["Budget line 1"], 4).value = 100_000.0
    typed = tmp_path / "typed.xlsx"
    wb.save(typed)
    out = tmp_path / "lo"
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
         "--convert-to", "xlsx", "--outdir", str(out), str(typed)],
        check=True, capture_output=True, timeout=240,
    )  # fmt: skip
    back = load_workbook(out / "typed.xlsx", data_only=True)["CCEIS Plan"]
    rows = _cceis_rows(back)
    res = next(r for name, r in rows.items() if name.startswith("CCEIS reservation"))
    expected = 0.15 * (1_234_567.0 + 45_678.0)  # = 192,036.75
    assert back.cell(res, 4).value == pytest.approx(expected)
    assert back.cell(rows["Budgeted"], 4).value == pytest.approx(100_000.0)
    assert back.cell(rows["Left to budget"], 4).value == pytest.approx(expected - 100_000.0)


# --------------------------------------------------------------------------------------------
# notes in every new sheet survive a forced batch re-run; the HTML packet's words
# --------------------------------------------------------------------------------------------

#: One typed note per activity sheet: (sheet, key, column, value).
TYPED = (
    ("CIM Team", "2024-25:team:1", "name", "R. Alvarez, director of special education"),
    ("CIM Team", "2024-25:team:5", "group_represented", "Families of Black students"),
    ("Policies Review", "2024-25:ppr:3", "compliant", "Partly"),
    ("Policies Review", "2024-25:ppr:3", "evidence", "ED criteria not applied at two sites"),
    ("Infrastructure", "2024-25:infra:2", "coordinator", "PBIS coach, K. Ito"),
    ("Parent Input", "2024-25:parent:2", "themes", "Families not told of SST outcomes"),
    ("Case Study", "2024-25:case:1", "case_label", "Case A"),
    ("Case Study", "2024-25:case:1", "days_to_eligibility", "57"),
    ("CCEIS Plan", "2024-25:cceis:1", "amount", 2000000),
    ("CCEIS Plan", "2024-25:cceis:2", "amount", 100000),
    ("CCEIS Plan", "2024-25:cceis:3", "description", "Tier 2 reading coaches"),
)


def _type(path: Path, edits) -> None:
    wb = load_workbook(path)
    for sheet, key, column, value in edits:
        ws = wb[sheet]
        header = next(r for r in ws.iter_rows() if r[0].value == "Finding ID")
        col = next(c.column for c in header if c.value in layout.header_names(column))
        row = next(r[0].row for r in ws.iter_rows(min_row=header[0].row + 1) if r[0].value == key)
        ws.cell(row, col).value = value
    wb.save(path)


@pytest.mark.slow
def test_notes_in_every_new_sheet_survive_a_forced_rerun_and_the_packet_reads_well(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    args = [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out),
            "--lea", SD_LEA, "--jobs", "1"]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    path = out / "leas" / SD_LEA / f"{SD_LEA}_workbook.xlsx"
    _type(path, TYPED)
    run = subprocess.run([*args, "--force"], capture_output=True, text=True, cwd=ROOT,
                         timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    got = ann.read_workbook_annotations(path)
    for sheet, key, column, value in TYPED:
        assert (
            float(got[(sheet, key, column)]) == value
            if isinstance(value, int)
            else (got[(sheet, key, column)] == value)
        ), (sheet, key, column)
    ws = load_workbook(path)["CCEIS Plan"]
    rows = _cceis_rows(ws)
    res = next(r for name, r in rows.items() if name.startswith("CCEIS reservation"))
    r611, r619 = rows["Section 611 allocation"], rows["Section 619 allocation"]
    assert ws.cell(res, 4).value == f"=0.15*(D{r611}+D{r619})"  # still a formula
    assert ws.cell(r611, 4).value == 2000000  # the allocation written back as a number
    cached = load_workbook(path, data_only=True)["CCEIS Plan"].cell(res, 4).value
    assert cached == pytest.approx(0.15 * 2_100_000)
    # the HTML packet: no machine name as a heading, American spelling, the CIM steps
    html = (out / "leas" / SD_LEA / f"{SD_LEA}.html").read_text(encoding="utf-8")
    headings = re.findall(r"<(h[1-4]|th)[^>]*>(.*?)</\1>", html, flags=re.S)
    assert headings
    bad = [text for _, text in headings if snake_words(re.sub(r"<[^>]+>", "", text))]
    assert not bad, bad
    body = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", html)
    assert not british_words(re.sub(r"<[^>]+>", " ", body))
    text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    for words in (
        "CIM step 1, Gather and Inquire",
        "SPP/APR indicators and other measures",
        "children of all other racial or ethnic groups in the State",
        "not a target for identifying fewer students",
        "Annual Determination Letter",
        "separate schools and residential facilities",
    ):
        assert words in text, words  # fmt: skip
    assert "flagged" not in text.lower()
