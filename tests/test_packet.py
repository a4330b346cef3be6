"""Tests of cimrca.packet on the bundled synthetic sample (data/sample).

Reference LEAs come from data/sample/README.md, "Built-in cases": 2071593 (sd_ident_ed_bl,
significantly disproportionate in ident_ed for BL from 2022-23 on, flagged five years),
0173141 (recent_two_ident_ohi_wh, flagged in 2023-24 and 2024-25 only), 0168889
(broken_run_ident_sld_bl, flagged 2023-24 and 2024-25 after a break), and the four sd_* LEAs
2071593, 2067073, 2067160, 2075725 as the only designed identifications. 0110017 (Arbolada
County Office of Education) has no finding at all in 2024-25 (checked with
cimrca.workbook.findings on the computed results).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
from io import BytesIO
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from cimrca import packet as cp
from cimrca.annotations import AnnotationStore, import_csv
from cimrca.errors import AnnotationError, UsageError
from cimrca.layout import ANNOTATION_COLUMNS, DISPLAY_HEADERS, KEY_HEADER, SHEETS, display_header
from cimrca.methodology import read_results, write_results

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
SD_LEA = "2071593"
SD_NAME = "Rushmere Valley Unified School District"
CLEAN_LEA = "0110017"
RECENT_TWO_LEA = "0173141"
SD_LEAS = {"2071593", "2067073", "2067160", "2075725"}
#: An image embedded as a data URI (the HTML writer may put ``alt`` before ``src``).
_EMBEDDED_PNG = re.compile(r'<img [^>]*src="data:image/png;base64,')
_DATA_URI = re.compile(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def results_csv(tmp_path_factory) -> Path:
    """The statewide results of the sample, computed once and written as the batch does."""
    from cimrca import compute_results, load_dataset, load_profile

    results = compute_results(load_dataset(SAMPLE), load_profile("california"))
    return write_results(results, tmp_path_factory.mktemp("results") / "results.csv")


@pytest.fixture(scope="module")
def sd_packet(results_csv) -> cp.Packet:
    return cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=results_csv)


@pytest.fixture(scope="module")
def clean_packet(results_csv) -> cp.Packet:
    return cp.load_packet(CLEAN_LEA, data_dir=SAMPLE, results_path=results_csv)


def _strip_images(text: str) -> str:
    return _DATA_URI.sub("", text)


def assert_offline_html(page: str) -> None:
    """No script, stylesheet or font is loaded from the network; nothing from a CDN."""
    text = _strip_images(page)
    low = text.lower()
    assert "<script src=" not in low
    assert not re.search(r"""<link[^>]+href=["']?https?:""", low)
    assert not re.search(r"@import\s+url\(\s*['\"]?https?:", low)
    for word in ("https://cdn", "require.js", "mathjax", "cdnjs", "unpkg"):
        assert word not in low, word


# ------------------------------------------------------------------------------ load_packet


def test_packet_of_identified_lea(sd_packet):
    p = sd_packet
    assert p.lea_name == SD_NAME
    assert p.latest_year == "2024-25"
    assert p.school_years == ("2020-21", "2021-22", "2022-23", "2023-24", "2024-25")
    assert p.identified and p.is_synthetic
    first = p.findings.iloc[0]
    assert (first["finding_id"], first["level"]) == ("2024-25:ident_ed:BL", "identified")
    # README: flagged in each of the five years
    assert int(first["consecutive_years"]) == 5
    # the LEA's rows are a filter of the statewide table
    assert set(p.lea_results["lea_id"]) == {SD_LEA}
    assert len(p.lea_results) < len(p.results)


def test_clean_lea_has_no_findings(clean_packet):
    assert clean_packet.findings.empty
    assert not clean_packet.identified


def test_title_marks_synthetic_data(sd_packet):
    assert cp.packet_title(sd_packet) == (
        f"{SD_NAME} ({SD_LEA}) - CIM root-cause packet, 2024-25 - SYNTHETIC DATA"
    )


def test_unknown_lea_is_a_usage_error():
    with pytest.raises(UsageError, match=r"unknown LEA 9999999: not in .*leas\.csv"):
        cp.load_packet("9999999", data_dir=SAMPLE)


def test_lea_code_without_leading_zero_is_refused():
    # "0173141" read as a number loses its leading zero
    with pytest.raises(UsageError, match="leading zeros"):
        cp.load_packet("173141", data_dir=SAMPLE)


def test_lea_code_parsed_as_a_number_gets_its_leading_zero_back():
    # `papermill -p lea_id 0173141` hands the notebook the integer 173141
    assert cp.load_packet(173141, data_dir=SAMPLE).lea_id == "0173141"


def test_both_annotation_sources_refused(tmp_path):
    with pytest.raises(UsageError, match="not both"):
        cp.load_packet(
            SD_LEA,
            data_dir=SAMPLE,
            annotations_db=tmp_path / "a.sqlite",
            annotations_json=tmp_path / "a.json",
        )


def test_results_of_another_profile_refused(results_csv, tmp_path):
    other = read_results(results_csv).assign(profile="federal_defaults")
    path = write_results(other, tmp_path / "other.csv")
    with pytest.raises(UsageError, match="computed with profile federal_defaults"):
        cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=path)


def test_computed_and_read_results_agree(sd_packet):
    computed = cp.load_packet(SD_LEA, data_dir=SAMPLE)
    np.testing.assert_allclose(
        computed.findings["ratio"].astype(float), sd_packet.findings["ratio"].astype(float)
    )


def test_indicator_results_round_trip(sd_packet, tmp_path):
    ind = sd_packet.indicator_results
    for suffix in (".csv", ".parquet"):
        path = cp.write_indicator_results(ind, tmp_path / f"ind{suffix}")
        back = cp.read_indicator_results(path)
        assert list(back.columns) == list(ind.columns)
        assert back["lea_id"].str.len().eq(7).all()  # codes stay text with leading zeros
        np.testing.assert_allclose(back["rate"].astype(float), ind["rate"].astype(float))
        assert back["met"].astype("boolean").equals(ind["met"].astype("boolean"))
    with pytest.raises(UsageError, match=r"must end in \.csv or \.parquet"):
        cp.write_indicator_results(ind, tmp_path / "ind.txt")


def test_packet_with_precomputed_indicators(results_csv, tmp_path, sd_packet):
    path = cp.write_indicator_results(sd_packet.indicator_results, tmp_path / "ind.parquet")
    p = cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=results_csv, indicators_path=path)
    pd.testing.assert_frame_equal(p.indicator_rows, sd_packet.indicator_rows)


# ------------------------------------------------------------------------------ display


def test_summary_of_identified_lea(sd_packet):
    text = cp.summary_markdown(sd_packet)
    assert f"{SD_NAME} is significantly disproportionate in 2024-25" in text
    assert "Identification, emotional disturbance, Black or African American" in text
    assert "5 years in a row" in text
    assert "15%" in text  # CCEIS reservation, 34 CFR 300.646(d)
    assert text._repr_markdown_() == str(text)


def test_summary_of_clean_lea(clean_packet):
    text = cp.summary_markdown(clean_packet)
    assert "is not significantly disproportionate in 2024-25" in text
    assert "no action" in text


def test_summary_of_lea_flagged_two_years(results_csv):
    p = cp.load_packet(RECENT_TWO_LEA, data_dir=SAMPLE, results_path=results_csv)
    text = cp.summary_markdown(p)
    # README recent_two_ident_ohi_wh: flagged 2023-24 and 2024-25; 3 years required
    assert "Identification, other health impairment, White" in text
    assert "above the threshold 2 years in a row (1 more year would lead to identification)" in (
        text
    )
    steps = cp.next_steps_markdown(p)
    assert "no CCEIS reservation for significant disproportionality is required" in steps
    assert "Monitoring level Targeted 3: the LEA completes CIM" in steps


def test_findings_table(sd_packet):
    before = sd_packet.findings.copy()
    styler = cp.findings_table(sd_packet)
    page = styler.to_html()
    assert "Significantly disproportionate" in page
    assert "4.09" in page  # README designed ratio 4.1 in 2024-25, shown to two decimals
    assert "2024-25" in page
    # the counts behind the ratio (results.csv of data/sample: 31 of 2,178 Black students
    # against 72 of 20,695 other students of the LEA; (31/2178)/(72/20695) = 4.09)
    assert "31 of 2,178" in page and "other groups in the LEA: 72 of 20,695" in page
    pd.testing.assert_frame_equal(sd_packet.findings, before)  # input not mutated


def test_findings_table_without_findings(clean_packet):
    assert cp.findings_table(clean_packet) == (
        "No category and group reached 80% of the threshold in 2024-25."
    )


def test_indicators_table(sd_packet):
    page = cp.indicators_table(sd_packet).to_html()
    assert "Graduation rate" in page
    assert "%" in page
    # natural order of codes: 2 before 11
    assert page.index(">2<") < page.index(">11<")


def test_profile_markdown(sd_packet):
    text = cp.profile_markdown(sd_packet)
    assert "**california**" in text and "**3**" in text and "**3 consecutive years**" in text


def test_figure_items(sd_packet):
    items = cp.figure_items(sd_packet, "ratios")
    images = [i for i in items if isinstance(i, cp.PngImage)]
    assert len(images) == 2
    assert all(bytes(i).startswith(b"\x89PNG") for i in images)
    assert items[0] == "**All ratios by category and group, 2024-25**"
    funnels = cp.figure_items(sd_packet, "funnels")
    assert "Every LEA compared: Identification, emotional disturbance" in funnels[0]
    with pytest.raises(UsageError, match="kind must be"):
        cp.figure_items(sd_packet, "pies")


def test_no_funnel_for_clean_lea(clean_packet):
    items = cp.figure_items(clean_packet, "funnels")
    assert items == ["No ratio was above the threshold in 2024-25, so there is no chart "
                     "comparing every LEA."]  # fmt: skip


def test_no_notes_yet(sd_packet):
    assert cp.consultant_notes_markdown(sd_packet).startswith("No notes yet")


# ------------------------------------------------------------------------------ annotations


def _store_with_notes(tmp_path: Path) -> Path:
    """A real SQLite store filled through the CSV import consultants use."""
    rows = [
        ("Disproportionality", "2024-25:ident_ed:BL", "status", "Confirmed"),
        (
            "Disproportionality",
            "2024-25:ident_ed:BL",
            "consultant_note",
            "<script src='https://evil.example/x.js'></script> *urgent* review",
        ),
        ("Disproportionality", "2024-25:ident_ed:BL", "reviewer", "M. Ortiz"),
        ("Root Causes", "2024-25:ident_ed:BL:rc:1", "response", "Referral practice at two sites"),
        ("Disproportionality", "2023-24:ident_ed:BL", "consultant_note", "Started review"),
        ("Disproportionality", "2023-24:ident_ed:BL", "status", "Data question"),
    ]
    path = tmp_path / "notes.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["lea_id", "sheet", "finding_id", "column", "value"])
        w.writerows((SD_LEA, *r) for r in rows)
    db = tmp_path / "annotations.sqlite"
    with AnnotationStore(db) as store:
        import_csv(store, path)
    return db


def test_consultant_notes_from_store(tmp_path, results_csv):
    db = _store_with_notes(tmp_path)
    p = cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=results_csv, annotations_db=db)
    assert p.annotations_source == "store"
    assert p.annotations[("Disproportionality", "2024-25:ident_ed:BL", "status")] == "Confirmed"
    assert p.previous_notes["2024-25:ident_ed:BL"] == "2023-24 - Data question: Started review"
    # the 2023-24 notes belong to an earlier year's finding: kept as orphans, never dropped
    assert set(p.orphans["finding_id"]) == {"2023-24:ident_ed:BL"}
    text = cp.consultant_notes_markdown(p)
    assert "Identification, emotional disturbance, Black or African American (2024-25)" in text
    assert "Status: Confirmed" in text
    assert "root cause entry 1: Response: Referral practice at two sites" in text
    assert "earlier review: 2023-24 - Data question: Started review" in text
    assert "2 stored notes belong to findings of earlier years" in text
    # a note is shown as typed, never as HTML or Markdown
    assert "<script" not in text and "&lt;script" in text
    assert "\\*urgent\\*" in text


def test_workbook_with_store_runs_the_full_cycle(tmp_path, results_csv):
    import openpyxl

    db = _store_with_notes(tmp_path)
    p = cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=results_csv, annotations_db=db)
    out = tmp_path / "out"
    path = cp.write_packet_workbook(p, out)
    assert path == out / f"{SD_LEA}_workbook.xlsx"
    ws = openpyxl.load_workbook(path)["Disproportionality"]
    header = _header_row(ws)
    row = _row_of(ws, "2024-25:ident_ed:BL")
    assert ws.cell(row, header["status"]).value == "Confirmed"
    assert ws.cell(row, header["reviewer"]).value == "M. Ortiz"
    assert "Started review" in ws.cell(row, header["previous_note"]).value
    with AnnotationStore(db) as store:
        baseline = store.baseline(path, SD_LEA)
    assert baseline[("Disproportionality", "2024-25:ident_ed:BL", "status")] == "Confirmed"

    # a consultant edits the workbook; the next hand run harvests it before replacing it
    wb = openpyxl.load_workbook(path)
    wb["Disproportionality"].cell(row, header["reviewer"]).value = "A. Chen"
    wb.save(path)
    cp.write_packet_workbook(p, out)
    ws = openpyxl.load_workbook(path)["Disproportionality"]
    assert ws.cell(row, header["reviewer"]).value == "A. Chen"
    with AnnotationStore(db) as store:
        assert (
            store.current_values(SD_LEA)[("Disproportionality", "2024-25:ident_ed:BL", "reviewer")]
            == "A. Chen"
        )


def test_annotations_json_from_batch(tmp_path, results_csv):
    import openpyxl

    payload = {
        "annotations": [["Disproportionality", "2024-25:ident_ed:BL", "status", "Addressed"]],
        "previous_notes": {"2024-25:ident_ed:BL": "2023-24 - Confirmed: earlier"},
        "orphans": [],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    p = cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=results_csv, annotations_json=path)
    assert p.annotations_source == "json"
    assert "Status: Addressed" in cp.consultant_notes_markdown(p)
    wb_path = cp.write_packet_workbook(p, tmp_path / "out")
    ws = openpyxl.load_workbook(wb_path)["Disproportionality"]
    header = _header_row(ws)
    row = _row_of(ws, "2024-25:ident_ed:BL")
    assert ws.cell(row, header["status"]).value == "Addressed"
    assert ws.cell(row, header["previous_note"]).value == "2023-24 - Confirmed: earlier"


def test_annotations_payload_round_trip(tmp_path, sd_packet):
    from cimrca.annotations import prepare_rewrite
    from cimrca.workbook import workbook_keys

    db = _store_with_notes(tmp_path)
    keys = workbook_keys(sd_packet.workbook_inputs(with_figures=False))
    with AnnotationStore(db) as store:
        rewrite = prepare_rewrite(store, SD_LEA, tmp_path / "none.xlsx", keys)
    path = cp.write_annotations_json(rewrite, tmp_path / "ann.json")
    notes, previous, orphans = cp.read_annotations_json(path)
    assert notes == rewrite.annotations
    assert previous == rewrite.previous_notes
    assert list(orphans["finding_id"]) == list(rewrite.orphans["finding_id"])


def test_bad_annotations_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"annotations": [["only", "three", "items"]]}', encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"bad\.json: .*\[sheet, finding_id, column, value\]"):
        cp.read_annotations_json(path)
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(AnnotationError, match="not a JSON file"):
        cp.read_annotations_json(path)
    with pytest.raises(AnnotationError, match="does not exist"):
        cp.read_annotations_json(tmp_path / "missing.json")


# ------------------------------------------------------------------------------ files


def test_findings_json(sd_packet, results_csv, tmp_path):
    path = cp.write_findings_json(sd_packet, tmp_path)
    assert path.name == f"{SD_LEA}_findings.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["lea_id"] == SD_LEA and data["lea_name"] == SD_NAME
    assert data["identified"] is True and data["synthetic"] is True
    assert data["school_years"][-1] == data["latest_school_year"] == "2024-25"
    assert data["profile"]["name"] == "california" and data["profile"]["years_required"] == 3
    first = data["findings"][0]
    results = read_results(results_csv)
    row = results[
        (results["lea_id"] == SD_LEA)
        & (results["school_year"] == "2024-25")
        & (results["category"] == "ident_ed")
        & (results["race_ethnicity"] == "BL")
    ].iloc[0]
    assert first["key"] == "2024-25:ident_ed:BL"
    assert first["category_label"] == "Identification, emotional disturbance"
    assert first["group_label"] == "Black or African American"
    assert first["ratio"] == pytest.approx(float(row["ratio"]), rel=1e-12)  # full precision
    assert first["ratio_type"] == "risk_ratio"
    assert first["consecutive_years"] == 5
    assert first["identified"] is True and first["flagged"] is True
    assert first["students_over_threshold"] == int(row["students_over_threshold"])
    assert set(first["ratios_by_year"]) == set(data["school_years"])


def test_findings_json_of_clean_lea(clean_packet, tmp_path):
    data = json.loads(cp.write_findings_json(clean_packet, tmp_path).read_text())
    assert data["identified"] is False and data["findings"] == []


def test_files_markdown(tmp_path):
    text = cp.files_markdown(tmp_path / "a_workbook.xlsx", tmp_path / "a_findings.json")
    assert "Root-cause workbook: `a_workbook.xlsx`" in text
    assert str(tmp_path) not in text


# ------------------------------------------------------------------------------ HTML


def _png() -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    buf = BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def _small_executed_notebook(path: Path) -> Path:
    """A notebook with outputs as a kernel writes them (header, Markdown, image, stderr)."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    title = f"{SD_NAME} ({SD_LEA}) - CIM root-cause packet, 2024-25 - SYNTHETIC DATA"
    header = new_code_cell(
        "HIDDEN_SOURCE = cp.packet_header(packet)",
        execution_count=1,
        outputs=[
            new_output(
                "display_data",
                data={"text/html": f"<h1>{SD_NAME}</h1>", "text/plain": title},
                metadata={"cimrca_title": title},
            ),
            new_output("stream", name="stderr", text="UserWarning: SHOULD_NOT_SHOW\n"),
        ],
    )
    image = new_code_cell(
        "cp.show_figures(packet)",
        execution_count=2,
        outputs=[
            new_output(
                "display_data",
                data={"image/png": _png(), "text/plain": "<Image>"},
                metadata={"image/png": {"alt": "Ratio chart", "width": 860}},
            ),
            new_output("display_data", data={"text/markdown": "**Caption**", "text/plain": ""}),
        ],
    )
    nb = new_notebook(cells=[new_markdown_cell("## Charts"), header, image])
    nbformat.write(nb, path)
    return path


def test_packet_exporter_gives_nbconvert_s_page(tmp_path):
    """The packet's exporter leaves out nbconvert's BeautifulSoup pass (two thirds of the
    rendering); its page, read the way that pass writes it, is the stock exporter's page:
    the same elements, alternative texts and focusable outputs."""
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    from cimrca.runner.html import TEMPLATE_NAME, _html_exporter, _template_dir

    nb = nbformat.read(_small_executed_notebook(tmp_path / "small.ipynb"), as_version=4)
    stock = HTMLExporter(
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(_template_dir())],
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        embed_images=True,
    )  # fmt: skip
    expected, _ = stock.from_notebook_node(nb)
    page, _ = _html_exporter(str(_template_dir())).from_notebook_node(nb)
    assert str(BeautifulSoup(page, features="html.parser")) == expected
    assert page.count('tabindex="0"') == expected.count('tabindex="0"') > 0


def test_render_html_is_offline_and_codeless(tmp_path):
    nb_path = _small_executed_notebook(tmp_path / "small.ipynb")
    page_path = cp.render_html(nb_path, tmp_path / "small.html")
    page = page_path.read_text(encoding="utf-8")
    assert_offline_html(page)
    assert _EMBEDDED_PNG.search(page)
    assert SD_NAME in page
    assert "HIDDEN_SOURCE" not in page and "show_figures" not in page  # no code
    assert "SHOULD_NOT_SHOW" not in page  # stderr left out
    assert "No description has been provided" not in page  # every image has alt text
    assert 'alt="Ratio chart"' in page
    body = re.sub(r"<style.*?</style>", "", page, flags=re.DOTALL)
    assert "In&nbsp;[" not in body and "Out[" not in body and "[1]:" not in body  # no prompts
    # the title comes from the header's output metadata
    assert "<title>" + SD_NAME in page and "SYNTHETIC DATA</title>" in page


def test_render_html_explicit_title(tmp_path):
    nb_path = _small_executed_notebook(tmp_path / "small.ipynb")
    page = cp.render_html(nb_path, tmp_path / "t.html", title="Given & title").read_text()
    assert "<title>Given &amp; title</title>" in page


def test_kernel_name():
    assert cp.kernel_name() in (cp.KERNEL_NAME, cp.FALLBACK_KERNEL)


# ------------------------------------------------------------------------------ state overview


def test_state_overview(results_csv):
    from cimrca import load_dataset, load_profile

    results = read_results(results_csv)
    before = results.copy()
    prof = load_profile("california")
    t = cp.state_overview(results, prof, leas=load_dataset(SAMPLE).leas)
    pd.testing.assert_frame_equal(results, before)  # input not mutated
    assert set(t["identified"]["lea_id"]) == SD_LEAS
    counts = dict(zip(t["counts"]["measure"], t["counts"]["leas"], strict=True))
    assert counts["LEAs significantly disproportionate"] == len(SD_LEAS)
    assert counts["LEAs in the results (2024-25)"] == 50  # README: 50 LEAs
    near = t["near"].set_index(["lea_id", "category", "race_ethnicity"])
    # README: recent_two and broken_run are flagged in 2023-24 and 2024-25 -> one year away
    assert near.loc[(RECENT_TWO_LEA, "ident_ohi", "WH"), "years_to_identification"] == 1
    assert near.loc[("0168889", "ident_sld", "BL"), "years_to_identification"] == 1
    assert (t["near"]["years_to_identification"].isin([1, 2])).all()
    assert t["by_category"].to_numpy().sum() == len(t["identified"])
    assert (
        t["by_category"].loc["Identification, emotional disturbance", "Black or African American"]
        == 1
    )
    per_lea = t["leas"].set_index("lea_id")
    assert per_lea.loc[SD_LEA, "identified"] and not per_lea.loc[CLEAN_LEA, "identified"]
    assert per_lea.loc[SD_LEA, "lea_name"] == SD_NAME
    dist = t["distribution"]
    assert (
        dist["ratios calculated"].sum()
        == results.loc[results["school_year"] == "2024-25", "ratio"].notna().sum()
    )


def test_state_overview_notebook_helpers(results_csv, tmp_path):
    ov = cp.load_state_overview(data_dir=SAMPLE, results_path=results_csv)
    text = cp.state_summary_markdown(ov)
    assert "**4 of 50 LEAs** are significantly disproportionate" in text
    assert "Identification, emotional disturbance" in cp.state_table(ov, "identified").to_html()
    with pytest.raises(UsageError, match="no overview table"):
        cp.state_table(ov, "nope")
    assert bytes(cp.show_ratio_distribution(ov)).startswith(b"\x89PNG")
    path = cp.write_state_overview(ov, tmp_path)
    assert pd.read_csv(path, dtype={"lea_id": str})["lea_id"].nunique() == 50


def test_ratio_distribution_plot(results_csv):
    ax = cp.ratio_distribution_plot(read_results(results_csv))
    lines = [ln for ln in ax.lines if ln.get_gid() == "threshold"]
    assert [ln.get_xdata()[0] for ln in lines] == [3.0]  # california threshold
    assert ax.get_xscale() == "log"


# ------------------------------------------------------------------------------ end to end


def _header_row(ws) -> dict[str, int]:
    for row in ws.iter_rows(min_col=1, max_col=ws.max_column):
        if row[0].value == display_header(KEY_HEADER):
            shown = {c.value: c.column for c in row if c.value is not None}
            shown |= {k[:1].lower() + k[1:]: v for k, v in shown.items()}
            machine = {k: shown[v] for k, v in DISPLAY_HEADERS.items() if v in shown}
            return shown | machine | {"_row": row[0].row}
    raise AssertionError(f"no {KEY_HEADER} header on {ws.title}")


def _row_of(ws, key: str) -> int:
    for (cell,) in ws.iter_rows(min_col=1, max_col=1):
        if cell.value == key:
            return cell.row
    raise AssertionError(f"{key} not in column A of {ws.title}")


@pytest.mark.slow
@pytest.mark.parametrize("lea_id", [SD_LEA, CLEAN_LEA])
def test_execute_packet_end_to_end(lea_id, results_csv, tmp_path):
    import openpyxl

    out = tmp_path / "leas" / lea_id
    made = cp.execute_packet(lea_id, data_dir=SAMPLE, out_dir=out, results_path=results_csv)
    assert made["notebook"] == out / f"{lea_id}.ipynb"

    # the executed notebook records its parameters (the audit trail)
    nb = nbformat.read(made["notebook"], as_version=4)
    params = nb.metadata["papermill"]["parameters"]
    assert params["lea_id"] == lea_id
    assert params["data_dir"] == str(SAMPLE.resolve())
    assert params["results_path"] == str(results_csv.resolve())
    assert params["annotations_db"] == ""

    # the workbook: sheet order, keys, protection, unlocked annotation cells, exact ratios
    wb = openpyxl.load_workbook(made["workbook"])
    assert tuple(wb.sheetnames[: len(SHEETS)]) == SHEETS
    ws = wb["Disproportionality"]
    assert ws.protection.sheet
    header = _header_row(ws)
    keys = [
        ws.cell(r, 1).value
        for r in range(header["_row"] + 1, ws.max_row + 1)
        if ws.cell(r, 1).value
    ]
    results = read_results(results_csv)
    latest = results[(results["lea_id"] == lea_id) & (results["school_year"] == "2024-25")]
    expected = cp.load_packet(lea_id, data_dir=SAMPLE, results_path=results_csv).findings
    assert keys == list(expected["finding_id"])
    for key in keys:
        row = _row_of(ws, key)
        for column in ANNOTATION_COLUMNS["Disproportionality"]:
            assert ws.cell(row, header[column]).protection.locked is False
        assert ws.cell(row, header["finding_id"]).protection.locked is True
        _, category, race = key.split(":")
        ratio = latest.loc[
            (latest["category"] == category) & (latest["race_ethnicity"] == race), "ratio"
        ].iloc[0]
        cell = ws.cell(row, header["ratio 2024-25"])
        assert isinstance(cell.value, float)
        assert cell.value == pytest.approx(float(ratio), rel=1e-12)
    if lea_id == SD_LEA:
        assert keys[0] == "2024-25:ident_ed:BL"

    # the findings JSON
    data = json.loads(made["findings"].read_text(encoding="utf-8"))
    assert data["identified"] is (lea_id == SD_LEA)

    # the HTML packet: offline, no code, an image, the LEA's name
    page = made["html"].read_text(encoding="utf-8")
    assert_offline_html(page)
    assert _EMBEDDED_PNG.search(page)
    name = cp.load_packet(lea_id, data_dir=SAMPLE, results_path=results_csv).lea_name
    assert name in page
    visible = html.unescape(_strip_images(page))
    code_lines = [
        line.strip()
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if "=" in line or "cp." in line
    ]
    assert code_lines and not [line for line in code_lines if line in visible]
    assert "SYNTHETIC DATA" in page
    assert "No notes yet" in page
    assert math.isfinite(made["seconds"])


# ------------------------------------------------------------------------------ drill-down

#: data/sample/README.md, "Designed drill-down cases": LEA 2071593's ident_ed BL finding is
#: concentrated in its two largest middle schools and in grades 6-8.
SD_MIDDLE_SCHOOLS = ("Bittercress Grove Middle School", "Greenmoss Creek Middle School")


@pytest.fixture(scope="module")
def bare_sample(tmp_path_factory) -> Path:
    """The sample without detail.csv and schools.csv: no drill-down data."""
    import shutil

    folder = tmp_path_factory.mktemp("bare") / "sample"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("detail.csv", "schools.csv"))
    return folder


@pytest.fixture(scope="module")
def bare_packet(bare_sample, results_csv) -> cp.Packet:
    return cp.load_packet(SD_LEA, data_dir=bare_sample, results_path=results_csv)


def test_packet_drilldown_is_its_own_findings_only(sd_packet):
    from cimrca.drilldown import DRILLDOWN_COLUMNS, compute_drilldown

    drill = sd_packet.drilldown
    assert tuple(drill.columns) == DRILLDOWN_COLUMNS
    assert set(drill["lea_id"]) == {SD_LEA}
    keys = ["school_year", "lea_id", "category", "race_ethnicity"]
    found = set(map(tuple, sd_packet.findings[keys].to_numpy()))
    assert set(map(tuple, drill[keys].drop_duplicates().to_numpy())) == found
    # a filter of the statewide decomposition, not another computation
    statewide = compute_drilldown(sd_packet.dataset, sd_packet.results, profile=sd_packet.profile)
    mine = statewide.merge(sd_packet.findings[keys], on=keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(drill.reset_index(drop=True), mine)
    assert sd_packet.drilldown_message == ""


def test_findings_json_drilldown_adds_up_to_the_leas_figures(sd_packet, tmp_path):
    data = json.loads(cp.write_findings_json(sd_packet, tmp_path).read_text(encoding="utf-8"))
    assert data["drilldown_note"] is None
    [finding] = data["findings"]
    row = sd_packet.lea_results.set_index(["school_year", "category", "race_ethnicity"]).loc[
        ("2024-25", "ident_ed", "BL")
    ]
    n, d = float(row["numerator"]), float(row["denominator"])
    cn, cd = float(row["lea_comparison_numerator"]), float(row["lea_comparison_denominator"])
    lea_over = n - float(row["threshold"]) * d * cn / cd  # drilldown.md section 2, risk ratio
    slices = pd.DataFrame(finding["drilldown"])
    # identification: no disability dimension (drilldown.md section 2)
    assert list(slices["dimension"].unique()) == [
        "school",
        "grade_band",
        "gender",
        "english_learner",
        "socioeconomically_disadvantaged",
    ]
    for dimension, part in slices.groupby("dimension", sort=False):
        assert part["numerator"].sum() == n, dimension
        assert part["denominator"].sum() == d, dimension
        assert part["comparison_numerator"].sum() == cn, dimension
        assert part["comparison_denominator"].sum() == cd, dimension
        assert part["over_threshold"].sum() == pytest.approx(lea_over, rel=1e-9), dimension
        assert part["share"].sum() == pytest.approx(1.0, rel=1e-9), dimension
        assert math.ceil(part["over_threshold"].sum() - 1e-9) == finding["students_over_threshold"]
        assert part["over_threshold"].is_monotonic_decreasing, dimension  # largest first
    first = finding["drilldown"][0]
    assert all(isinstance(first[k], int) for k in ("numerator", "denominator",
                                                   "comparison_numerator",
                                                   "comparison_denominator"))  # fmt: skip
    schools = slices[slices["dimension"] == "school"]
    assert tuple(schools["label"].head(2)) == SD_MIDDLE_SCHOOLS
    assert schools["value"].str.fullmatch(r"\d{7}").all()
    summary = {s["dimension"]: s for s in finding["drilldown_summary"]}
    assert summary["school"]["sentence"] == (
        "2 of 38 schools account for 81% of the students over the threshold in the schools "
        "above its level."
    )
    assert tuple(summary["school"]["top_labels"]) == SD_MIDDLE_SCHOOLS
    assert summary["grade_band"]["top_values"] == ["6-8"]
    assert summary["school"]["lea_over_threshold"] == pytest.approx(lea_over, rel=1e-9)


def test_drilldown_items_chart_and_sentences(sd_packet):
    items = cp.drilldown_items(sd_packet)
    assert [type(i).__name__ for i in items] == ["MarkdownText", "PngImage", "MarkdownText"]
    assert "Identification, emotional disturbance - Black or African American" in items[0]
    assert bytes(items[1]).startswith(b"\x89PNG")
    assert items[1].alt.startswith("Students over the threshold by school")
    text = str(items[2])
    assert ("**School**: 2 of 38 schools account for 81% of the students over the threshold "
            "in the schools above its level: Bittercress Grove Middle School and Greenmoss Creek Middle School.") in text  # fmt: skip
    assert "**Grade band**: 1 of 5 grade bands accounts for 97%" in text


def test_drilldown_items_of_a_clean_lea(clean_packet):
    [item] = cp.drilldown_items(clean_packet)
    assert "No finding is above the threshold in 2024-25" in item


def test_no_detail_csv_is_said_plainly_everywhere(bare_packet, tmp_path):
    import openpyxl

    from cimrca.drilldown import NO_DETAIL_MESSAGE

    p = bare_packet
    assert p.dataset.detail is None and p.drilldown.empty
    assert p.drilldown_message == NO_DETAIL_MESSAGE
    # the findings JSON
    data = json.loads(cp.write_findings_json(p, tmp_path).read_text(encoding="utf-8"))
    assert data["drilldown_note"] == NO_DETAIL_MESSAGE
    assert [f["drilldown"] for f in data["findings"]] == [None]
    assert [f["drilldown_summary"] for f in data["findings"]] == [None]
    # the HTML packet's section
    [item] = cp.drilldown_items(p)
    assert "No drill-down data were given" in item and "cimrca import roster" in item
    # the workbook: one plain sentence on Drill-Down; the Root Causes draft says so
    wb = openpyxl.load_workbook(cp.write_packet_workbook(p, tmp_path))
    texts = [c for row in wb["Drill-Down"].iter_rows(values_only=True) for c in row if c]
    assert "Where in the LEA" in texts and NO_DETAIL_MESSAGE in texts
    assert not [t for t in texts if isinstance(t, str) and t.startswith("part of the LEA")]
    draft = next(
        row[2]
        for row in wb["Root Causes"].iter_rows(values_only=True)
        if row[1] == "Problem of practice"
    )
    assert "Where in the LEA: not known, as no drill-down data were given" in draft
    # nothing else changes: the same findings and keys as with detail.csv
    with_detail = cp.load_packet(SD_LEA, data_dir=SAMPLE, results_path=p.parameters["results_path"])
    assert p.workbook_keys == with_detail.workbook_keys


def test_lea_absent_from_detail_csv_gets_its_own_message(results_csv):
    from cimrca.drilldown import NO_LEA_DETAIL_MESSAGE

    lea = "0121093"  # has a finding in 2024-25; not one of the 22 LEAs of detail.csv
    p = cp.load_packet(lea, data_dir=SAMPLE, results_path=results_csv)
    assert lea not in set(p.dataset.detail["lea_id"])
    assert len(p.findings) and p.drilldown.empty
    assert p.drilldown_message == NO_LEA_DETAIL_MESSAGE


@pytest.mark.slow
def test_drilldown_in_the_html_packet_end_to_end(results_csv, tmp_path):
    made = cp.execute_packet(SD_LEA, data_dir=SAMPLE, out_dir=tmp_path, results_path=results_csv)
    page = made["html"].read_text(encoding="utf-8")
    section = page[page.index("Where in the LEA") :]
    section = section[: section.index("SPP/APR indicators")]
    assert _EMBEDDED_PNG.search(section)
    assert 'alt="Students over the threshold by school' in section
    visible = html.unescape(_strip_images(section))
    assert "2 of 38 schools account for 81% of the students over the threshold in the" in visible
    assert all(name in visible for name in SD_MIDDLE_SCHOOLS)
    data = json.loads(made["findings"].read_text(encoding="utf-8"))
    assert data["findings"][0]["drilldown"][0]["label"] == SD_MIDDLE_SCHOOLS[0]


def test_intensive_lea_is_told_what_cim_asks_and_its_indicator_findings_are_in_the_json():
    # data/sample/README.md: 4764943 is Intensive 1 in 2024-25, not significantly disproportionate
    p = cp.load_packet("4764943", data_dir=SAMPLE)
    steps = cp.next_steps_markdown(p)
    assert "no action on significant disproportionality is required" in steps
    assert "Monitoring level Intensive 1: the LEA completes CIM" in steps
    payload = cp.findings_payload(p)
    keys = [f["key"] for f in payload["indicator_findings"]]
    assert keys and all(k.startswith("2024-25:indicator:") for k in keys)
    planned = {f for s, f in p.workbook_keys if s == "Root Causes"}
    assert {f"{k}:rc:1" for k in keys} <= planned  # each has its Root Causes block
    assert all("_" not in r.split("(")[-1] for r in payload["monitoring"]["reasons"])


def test_intensive_level_shows_its_composite_and_says_it_is_a_stand_in():
    # monitoring.md section 1: CDE does not publish its Intensive formula; say so with the level
    text = str(cp.monitoring_markdown(cp.load_packet("4764943", data_dir=SAMPLE)))
    assert "Composite of outcomes: percentile 9.5" in text
    assert "achievement 35.7, placement 39.7, climate 19.0" in text
    assert "CDE does not publish the formula of its Intensive evaluation" in text
