"""Public packets (cimrca/packet/public.py, ``cimrca batch --public``; issue 14).

Every public output is read back as a reader would: the scanner of
:mod:`cimrca.suppression` over the HTML and the JSON, and :func:`recoverable` over the counts the
JSON shows (mapped back to the cells of the suppressed tables). California's rule (profile key
``suppress_public_counts_below: 11``): counts from 1 to 10 are "10 or fewer".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimrca.dataset import load_dataset
from cimrca.errors import UsageError
from cimrca.indicators import compute_indicators
from cimrca.methodology import compute_results
from cimrca.monitoring import compute_monitoring
from cimrca.packet import (
    PacketAnnotations,
    build_packet,
    load_packet,
    public_payload,
    public_tables,
    render_public_html,
    write_public_packet,
)
from cimrca.packet.assemble import replace_annotations
from cimrca.packet.public import PUBLIC_VOCABULARY
from cimrca.profiles import load_profile
from cimrca.sample import write_sample
from cimrca.suppression import recoverable, scan_public_text

from .conftest import SAMPLE

ROOT = Path(__file__).resolve().parent.parent
LEA = "2071593"  # data/sample/README.md: significantly disproportionate, ident_ed BL
BELOW = 11
SMALL = "10 or fewer"
NUMBER = re.compile(r"\d{1,3}(,\d{3})*")
FINDING = ["school_year", "lea_id", "category", "race_ethnicity"]


# --- reading a public packet as a reader would -----------------------------------------------


def shown_counts(payload: dict, lea_id: str) -> pd.DataFrame:
    """Every count the public JSON shows, one row per (keys, column) with its display text."""
    rows = []
    for f in payload["findings"]:
        keys = {"school_year": f["school_year"], "lea_id": lea_id, "category": f["category"],
                "race_ethnicity": f["race_ethnicity"]}  # fmt: skip
        rows += [{"table": "results", **keys, "column": c, "shown": v}
                 for c, v in f["counts"].items()]  # fmt: skip
        for d in f["drilldown"] or []:
            for s in d["slices"]:
                rows += [{"table": "drilldown", **keys, "dimension": d["dimension"],
                          "value": s["value"], "column": c, "shown": s[c]}
                         for c in ("numerator", "denominator")]  # fmt: skip
    for i in payload["indicators"]:
        code = i["code"].removeprefix("Indicator ")
        rows += [{"table": "indicators", "school_year": i["school_year"], "lea_id": lea_id,
                  "indicator": code, "column": c, "shown": i[c]}
                 for c in ("numerator", "denominator")]  # fmt: skip
    return pd.DataFrame(rows)


def reader_frame(payload: dict, tables: dict, lea_id: str, *, strict: bool = True) -> pd.DataFrame:
    """The counts of the JSON as ``cell`` and ``display`` (for :func:`recoverable`), checking
    that each one is a cell the suppression decided and (``strict``) is shown as it decided."""
    shown = shown_counts(payload, lea_id)
    frames = []
    for name, part in shown.groupby("table"):
        t = tables[name].to_frame()
        t = t[t["row"].notna()].astype({"school_year": str})
        keys = [k for k in (*tables[name].keys, "column") if k in part.columns]
        merged = part.merge(t, on=keys, how="left", validate="one_to_one")
        assert merged["cell"].notna().all(), merged[merged["cell"].isna()]
        shown_as = merged["shown"].replace("-", "")
        if strict:
            assert (shown_as == merged["display"]).all(), merged[shown_as != merged["display"]]
        frames.append(pd.DataFrame({"cell": merged["cell"], "display": merged["shown"]}))
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"cell": [], "display": []})
    )


def check_public(payload_text: str, html_text: str, tables: dict, lea_id: str) -> None:
    """The checks every public packet must pass (issue 14)."""
    for text, kind in ((html_text, "html"), (payload_text, "json")):
        problems = scan_public_text(text, below=BELOW, kind=kind, allow=PUBLIC_VOCABULARY)
        assert problems == [], [str(p) for p in problems[:5]]
    assert "<script" not in html_text.lower()
    assert "<img" not in html_text.lower() and "data:" not in html_text
    payload = json.loads(payload_text)
    frame = reader_frame(payload, tables, lea_id)
    numbers = pd.to_numeric(
        frame["display"].where(frame["display"].str.fullmatch(NUMBER.pattern), "")
        .str.replace(",", ""), errors="coerce",
    )  # fmt: skip
    assert not numbers.between(1, BELOW - 1).any()
    found = hidden_recovered(frame, tables)
    assert found.empty, found


def hidden_recovered(frame: pd.DataFrame, tables: dict) -> pd.DataFrame:
    """What :func:`recoverable` gives back from ``frame`` that the suppression hid (a total the
    packet does not print but that adds up from shown counts is no secret)."""
    relations = pd.concat([t.relations for t in tables.values()]).drop_duplicates()
    found = recoverable(frame, relations, below=BELOW)
    cells = pd.concat([t.to_frame() for t in tables.values()])
    hidden = cells.loc[cells["status"].isin(["suppressed", "complementary"]), "cell"]
    return found[found["cell"].isin(set(hidden))]


# --- LEA 2071593 of the sample ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rushmere():
    packet = load_packet(LEA, data_dir=SAMPLE)
    tables = public_tables(packet)
    payload = public_payload(packet, tables)
    return packet, tables, payload


def test_sample_small_cases_are_shown_as_ten_or_fewer(rushmere):
    packet, tables, payload = rushmere
    # 2024-25, in-school suspensions of 10 days or fewer: 7 of the 128 multiracial children
    # with disabilities (data/sample; tests/test_suppression.py)
    r = tables["results"].display()
    mu = r["school_year"].eq("2024-25") & r["category"].eq("disc_iss_le10")
    mu &= r["race_ethnicity"].eq("MU")
    assert packet.lea_results.loc[mu[mu].index, "numerator"].item() == 7
    assert r.loc[mu, ["numerator", "risk"]].values.tolist() == [[SMALL, "8% or less"]]
    # the finding ident_ed BL: grades 9-12 hold 3 of its students, of 621 enrolled
    (finding,) = payload["findings"]
    assert finding["key"] == "2024-25:ident_ed:BL"
    grades = next(d for d in finding["drilldown"] if d["dimension"] == "grade_band")
    nine = next(s for s in grades["slices"] if s["value"] == "9-12")
    assert (nine["numerator"], nine["denominator"]) == (SMALL, "621")
    d = packet.drilldown
    row = d["dimension"].eq("grade_band") & d["value"].eq("9-12")
    assert d.loc[row, "numerator"].item() == 3
    # the finding's own counts: 31 of 2,178 shown; its students over the threshold (9) hidden
    assert finding["counts"]["numerator"] == "31"
    assert finding["counts"]["students_over_threshold"] == SMALL
    assert finding["ratio"] == "4.09" and finding["years_in_a_row"] == "five years"


def test_sample_public_packet_passes_the_checks(rushmere):
    packet, tables, payload = rushmere
    text = json.dumps(payload, indent=2)
    check_public(text, render_public_html(payload), tables, LEA)


def test_concentration_sentence_says_the_gap_sits_in_hidden_parts(rushmere):
    packet, tables, payload = rushmere
    sentences = {d["dimension"]: d["sentence"] for d in payload["findings"][0]["drilldown"]}
    # the 21 schools with shown counts have 0 students of the finding; the gap sits in middle
    # schools of 10 or fewer (data/sample/README.md), so no sentence says "none is over"
    d = packet.drilldown
    over = d[d["dimension"].eq("school") & d["over_threshold"].gt(0)]
    assert over["numerator"].between(1, BELOW - 1).all() and len(over) >= 2
    for dimension in ("school", "grade_band", "gender", "english_learner"):
        assert "none is" not in sentences[dimension] and "it is not" not in sentences[dimension]
    assert sentences["school"] == (
        "The schools where the gap sits have counts that cannot be shown (10 or fewer, or "
        "hidden to protect such a count), so they are not named here."
    )
    assert sentences["gender"].startswith("The genders where the gap sits")


def test_concentration_sentence_with_shown_and_hidden_parts_of_the_gap():
    from cimrca.packet.public import _sentence

    s = {"dimension": "school", "slices": 3, "top_slices": 1, "top_share": 1.0,
         "top_labels": ["Foxtail Mesa Middle School"], "hidden_gap": True}  # fmt: skip
    assert _sentence(s, 5, BELOW) == (
        "The counts of three of the five schools can be shown (the others are too small); of "
        "these, one accounts for 100% of the students over the threshold in them: Foxtail Mesa "
        "Middle School. Other schools where the gap sits have counts that cannot be shown (10 "
        "or fewer, or hidden to protect such a count), so they are not named here."
    )
    # every part of the gap shown: the sentence is as before
    assert _sentence({**s, "hidden_gap": False}, 5, BELOW).endswith("Foxtail Mesa Middle School.")
    none = {**s, "top_slices": 0, "top_labels": []}
    assert _sentence(none, 5, BELOW).startswith("The schools where the gap sits")
    assert _sentence({**none, "hidden_gap": False}, 5, BELOW).endswith(
        "none is over the threshold's level."
    )


def test_grade_bands_not_exact_beside_hidden_schools(rushmere):
    packet, tables, payload = rushmere
    grades = next(d for d in payload["findings"][0]["drilldown"] if d["dimension"] == "grade_band")
    six = next(s for s in grades["slices"] if s["value"] == "6-8")
    d = packet.drilldown
    assert d.loc[d["dimension"].eq("grade_band") & d["value"].eq("6-8"), "numerator"].item() == 22
    assert six["numerator"] == "11 or more" and six["denominator"] == "479"
    assert any('"11 or more"' in n for n in payload["suppression"]["notes"])


def test_public_tables_are_in_a_public_order(rushmere):
    packet, tables, payload = rushmere
    dims = {d["dimension"]: d["slices"] for d in payload["findings"][0]["drilldown"]}
    names = [s["label"] for s in dims["school"]]
    assert names == sorted(names, key=str.casefold)
    # the internal order (largest part of the gap first) put two hidden middle schools first
    internal = packet.drilldown[packet.drilldown["dimension"].eq("school")]["label"].tolist()
    assert internal[:2] != names[:2]
    assert [s["value"] for s in dims["grade_band"]] == ["PK", "K-5", "6-8", "9-12", "UG"]
    assert [s["value"] for s in dims["gender"]] == ["F", "M", "X"]


def test_target_met_withheld_when_the_count_is_hidden():
    packet = load_packet("0161810", data_dir=SAMPLE)
    ir = packet.indicator_results
    raw = ir[ir["lea_id"].eq("0161810") & ir["indicator"].eq("3B_MATH")
             & ir["school_year"].eq("2024-25")]  # fmt: skip
    assert raw["target_status"].item() == "met" and raw["numerator"].item() <= BELOW - 1
    payload = public_payload(packet)
    row = next(i for i in payload["indicators"] if i["code"] == "Indicator 3B_MATH")
    assert (row["numerator"], row["denominator"]) == (SMALL, "55")
    assert row["rates_by_year"]["2024-25"] == "19% or less" and row["target"] == "16.0%"
    assert row["target_status"] == "withheld" and row["trend"] == "withheld"
    html = render_public_html(payload)
    assert "whether a target is met is withheld" in html


def test_public_packet_explains_and_uses_the_shared_words(rushmere):
    from cimrca.statements import GLOSSARY, PROFILE_CONFIRM

    packet, tables, payload = rushmere
    html = unescape(render_public_html(payload))
    assert "<h2>What significant disproportionality is</h2>" in html
    for phrase in ("Risk ratio", "Alternate risk ratio", "Threshold",
                   "children of all other racial or ethnic groups in the State"):  # fmt: skip
        assert phrase in html
    assert dict(GLOSSARY)["Alternate risk ratio"] in html  # the internal packet's words
    assert "this workbook" not in html
    # beside the findings' threshold: confirm it against the Annual Determination Letter
    findings = html[html.index("<h2>Findings</h2>") : html.index("<h2>Where in the LEA</h2>")]
    assert PROFILE_CONFIRM in findings and "Annual Determination Letter" in findings
    # 2071593: significantly disproportionate 2022-23 to 2024-25 (data/sample/README.md)
    assert payload["continuing"].startswith(
        "Continuing LEA: significantly disproportionate three school years in a row, first "
        "identified in 2022-23."
    )
    assert payload["continuing"] in html
    assert "(targeted_" not in html and "(Targeted 3)" in html
    assert "<h2>SPP/APR indicators and other measures</h2>" in html
    assert "Indicator CHRONIC_SWD" not in html and "Indicator SUSP_SWD" not in html
    labels = {i["code"]: i["indicator"] for i in payload["indicators"]}
    assert labels["CHRONIC_SWD"].startswith("Chronic absenteeism")
    assert labels["SUSP_SWD"].startswith("Suspension rate")


def test_checks_fail_on_a_leak(rushmere):
    """The checks above can fail: a small count typed back into the outputs is found."""
    packet, tables, payload = rushmere
    leaked = json.loads(json.dumps(payload))
    nine = next(d for d in leaked["findings"][0]["drilldown"] if d["dimension"] == "grade_band")
    next(s for s in nine["slices"] if s["value"] == "9-12")["numerator"] = "3"
    with pytest.raises(AssertionError):
        check_public(json.dumps(leaked), render_public_html(payload), tables, LEA)
    html = render_public_html(leaked)
    assert scan_public_text(html, below=BELOW, kind="html", allow=PUBLIC_VOCABULARY)
    # a complement shown by mistake is recovered by subtraction
    leaked = json.loads(json.dumps(payload))
    male = next(d for d in leaked["findings"][0]["drilldown"] if d["dimension"] == "gender")
    hidden = next(s for s in male["slices"] if s["value"] == "M")
    raw = packet.drilldown
    hidden["numerator"] = str(
        raw.loc[raw["dimension"].eq("gender") & raw["value"].eq("M"), "numerator"].item()
    )
    frame = reader_frame(leaked, tables, LEA, strict=False)
    found = hidden_recovered(frame, tables)
    assert not found.empty  # the female count (10 or fewer) = all girls and boys - the boys


def test_nothing_internal_in_the_public_packet(rushmere, tmp_path):
    packet, _, _ = rushmere
    note, reviewer = "Referral data checked with Ms Quillfeather", "Dana Okonkwo-Reyes"
    fid = packet.findings.loc[0, "finding_id"]
    values = {("Disproportionality", fid, "consultant_note"): note,
              ("Disproportionality", fid, "reviewer"): reviewer,
              ("Disproportionality", fid, "status"): "Confirmed"}  # fmt: skip
    orphans = pd.DataFrame({"sheet": ["Disproportionality"], "finding_id": ["2019-20:x:BL"],
                            "column": ["consultant_note"], "value": ["an orphaned remark"]})  # fmt: skip
    noted = replace_annotations(
        packet, PacketAnnotations(values, {fid: "an earlier year's note"}, orphans, "json")
    )
    paths = write_public_packet(noted, tmp_path, audience="public")
    assert [p.name for p in paths] == [f"{LEA}_public.html", f"{LEA}_public_findings.json"]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for secret in (note, reviewer, "Confirmed", "earlier year", "orphaned", "annotations"):
            assert secret not in text, (path.name, secret)
        assert str(ROOT) not in text and str(tmp_path) not in text  # no path of this machine
    html = paths[0].read_text(encoding="utf-8")
    assert "<script" not in html and "SYNTHETIC DATA" in html


def test_audience_internal_writes_nothing_and_removes_a_stale_public_packet(rushmere, tmp_path):
    packet, _, _ = rushmere
    assert write_public_packet(packet, tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    written = write_public_packet(packet, tmp_path, audience="public")
    assert all(p.is_file() for p in written)
    assert write_public_packet(packet, tmp_path, audience="internal") == []
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="audience must be internal or public, not 'everyone'"):
        write_public_packet(packet, tmp_path, audience="everyone")


def test_monitoring_reasons_for_the_public():
    from cimrca.packet.public import _public_reason

    # a small LEA monitored on a cycle: its count of students with disabilities is a count
    assert _public_reason(
        "students with disabilities 7, at most 100: a small LEA, monitored on a cycle (cyclical)",
        BELOW,
    ) == ("students with disabilities 10 or fewer, at most 100: a small LEA, monitored on a "
          "cycle (Cyclical (small LEA))")  # fmt: skip
    assert _public_reason("students with disabilities 1,058, at most 2,000", BELOW) == (
        "students with disabilities 1,058, at most 2,000"
    )
    # indicator codes stay codes; numbers of years and indicators are written in words
    assert _public_reason(
        "missed the target on 9 indicators: 1, 2, 3A_MATH, 11 (targeted_2); x (5 years)", BELOW
    ) == (
        "missed the target on nine indicators: Indicator 1, Indicator 2, 3A_MATH, Indicator 11 "
        "(Targeted 2); x (five years)"
    )


# --- property: random LEAs of a generated sample ----------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    write_sample(folder, n_leas=25, n_years=3, seed=14)
    dataset, profile = load_dataset(folder), load_profile("california")
    results = compute_results(dataset, profile)
    indicators = compute_indicators(dataset.indicators, dataset.targets)
    monitoring = compute_monitoring(dataset, results, indicators, profile)
    return dataset, results, indicators, monitoring, profile


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(pick=st.integers(0, 10**6))
def test_property_random_leas_pass_the_checks(generated, pick):
    dataset, results, indicators, monitoring, profile = generated
    leas = sorted(results["lea_id"].astype(str).unique())
    lea = leas[pick % len(leas)]
    packet = build_packet(lea, dataset, results, indicators, profile, monitoring=monitoring)
    before = packet.lea_results.copy()
    tables = public_tables(packet)
    payload = public_payload(packet, tables)
    pd.testing.assert_frame_equal(packet.lea_results, before)  # the packet is not modified
    check_public(json.dumps(payload), render_public_html(payload), tables, lea)


# --- end to end: cimrca batch --public ---------------------------------------------------------

_STAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}|\s*UTC)?"
)


def _batch(out: Path, *extra: str) -> subprocess.CompletedProcess:
    # a private IPython folder: a history database shared with other kernels on the machine
    # can print "Session/line number was not unique" into whichever cell runs first
    env = {**os.environ, "IPYTHONDIR": str(out.parent / "ipython")}
    proc = subprocess.run(
        [sys.executable, "-m", "cimrca", "batch", str(SAMPLE), "--out", str(out), "--lea", LEA,
         "--jobs", "1", *extra],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


#: What differs between any two runs: papermill gives its injected-parameters cell a new id
#: each run (the cell holds the parameters, ``audience`` among them); pandas' Styler names its
#: CSS classes with a random ``T_xxxxx``.
_RUN_NOISE = re.compile(
    r'<div class="jp-Cell [^"]*celltag_injected-parameters".*?(?=<div class="jp-Cell )|'
    r'id="cell-id=[0-9a-f-]+"|(?<=T_)[0-9a-f]{5}(?=[_"])',
    re.S,
)


def _internal(folder: Path) -> dict[str, object]:
    """The internal outputs of the LEA, timestamps and per-run noise blanked: HTML, findings
    JSON, workbook."""
    import openpyxl

    html = (folder / f"{LEA}.html").read_text(encoding="utf-8")
    html = _STAMP.sub("<time>", _RUN_NOISE.sub("", html))
    findings = _STAMP.sub("<time>", (folder / f"{LEA}_findings.json").read_text(encoding="utf-8"))
    wb = openpyxl.load_workbook(folder / f"{LEA}_workbook.xlsx")
    cells = {
        ws.title: [[_STAMP.sub("<time>", str(v)) if v is not None else None for v in row]
                   for row in ws.iter_rows(values_only=True)]
        for ws in wb.worksheets
    }  # fmt: skip
    return {"html": html, "findings": findings, "workbook": cells}


@pytest.mark.slow
def test_batch_public_beside_unchanged_internal_outputs(tmp_path):
    import openpyxl

    from cimrca.layout import display_header, header_names

    out = tmp_path / "out"
    folder = out / "leas" / LEA
    _batch(out)
    assert not (folder / f"{LEA}_public.html").exists()
    internal = _internal(folder)
    # the same OUT_DIR with --public: the LEA is run again (its public packet is missing)
    proc = _batch(out, "--public")
    assert "1 ok" in proc.stdout, proc.stdout
    public_html = folder / f"{LEA}_public.html"
    public_json = folder / f"{LEA}_public_findings.json"
    assert public_html.is_file() and public_json.is_file()
    assert _internal(folder) == internal  # the internal outputs are unchanged
    packet = load_packet(LEA, data_dir=SAMPLE)
    tables = public_tables(packet)
    html, text = public_html.read_text(encoding="utf-8"), public_json.read_text(encoding="utf-8")
    check_public(text, html, tables, LEA)
    assert json.loads(text) == public_payload(packet, tables)
    # a consultant types a note and a name into the workbook; the next run stores them and shows
    # them in the internal packet, never in the public one
    path = folder / f"{LEA}_workbook.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["Disproportionality"]
    # plain headers ("Finding ID", "Note"), or machine names in older workbooks
    header = next(r for r in ws.iter_rows() if r[0].value in header_names("finding_id"))
    column = {c.value: c.column for c in header}
    row = next(r[0].row for r in ws.iter_rows(min_row=header[0].row + 1) if r[0].value)
    note, reviewer = "Referral forms reviewed with the Quillfeather team", "Marisol Tenbrook"
    ws.cell(row=row, column=column[display_header("consultant_note")]).value = note
    ws.cell(row=row, column=column[display_header("reviewer")]).value = reviewer
    wb.save(path)
    _batch(out, "--public")
    inside = (folder / f"{LEA}.html").read_text(encoding="utf-8")
    assert note in inside and reviewer in inside  # so the check below can fail
    for public in (public_html, public_json):
        shared = public.read_text(encoding="utf-8")
        assert note not in shared and reviewer not in shared and "Quillfeather" not in shared
        assert "<script" not in shared
    check_public(public_json.read_text(encoding="utf-8"), public_html.read_text(encoding="utf-8"),
                 tables, LEA)  # fmt: skip
