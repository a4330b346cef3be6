"""State profiles: shipped names, YAML paths, and every validation error."""

from __future__ import annotations

import pytest

from cimrca.codes import CATEGORY_CODES
from cimrca.errors import ProfileError
from cimrca.profiles import load_profile, shipped_profiles


def test_shipped_profiles_load():
    # example_state is a template to fill in, not offered as a profile (it has no threshold)
    assert set(shipped_profiles()) == {"california", "federal_defaults"}
    ca = load_profile("california")
    # Source: methodology.md section 6 (CDE methodology: min_cell 10, min_n 20, 3 years).
    assert (ca.min_cell_for("ident_all"), ca.min_n_for("ident_all"), ca.years_required) == (
        10,
        20,
        3,
    )
    assert ca.categories == CATEGORY_CODES
    fed = load_profile("federal_defaults")
    assert fed.min_n_for("disc_tdr") == 30  # the federal presumptive cap (300.647(b)(1)(iv))


def test_example_template_has_no_threshold_and_says_which_key_to_set():
    with pytest.raises(ProfileError, match="`threshold` is missing"):
        load_profile("example_state")


def test_yaml_path_and_per_category_values(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nthreshold: {default: 3.0, disc_tdr: 2.5}\nmin_cell: 5\nmin_n: 15\n"
    )
    p = load_profile(path)
    assert (
        p.name == "mine"
        and p.threshold_for("disc_tdr") == 2.5
        and p.threshold_for("ident_id") == 3.0
    )
    assert p.to_dict()["threshold"] == {
        c: (2.5 if c == "disc_tdr" else 3.0) for c in CATEGORY_CODES
    }


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"min_cell": 10}, "`threshold` is missing"),
        ({"threshold": 3.0, "min_cell": 0}, "min_cell must be at least 1, found 0"),
        ({"threshold": 3.0, "min_n": 0}, "min_n must be at least 1"),
        ({"threshold": 0}, "threshold must be greater than 0"),
        ({"threshold": "high"}, "threshold must be a number, found 'high'"),
        ({"threshold": 3.0, "min_cell": 2.5}, "min_cell must be a whole number"),
        (
            {"threshold": {"ident_xyz": 2.0, "default": 3.0}},
            "unknown category 'ident_xyz' in threshold",
        ),
        ({"threshold": {"ident_id": 2.0}}, "threshold has no value for ident_all: add a `default`"),
        (
            {"threshold": 3.0, "categories": ["ident_id", "nope"]},
            "unknown category 'nope' in categories",
        ),
        ({"threshold": 3.0, "years_required": 4}, "years_required must be 1, 2 or 3"),
        ({"threshold": 3.0, "watch_fraction": 1.5}, "watch_fraction must be greater than 0"),
        ({"threshold": 3.0, "skip_years": ["2019"]}, "skip_years must be a list of school years"),
        (
            {"threshold": 3.0, "skip_years": ["2019-21"]},
            "skip_years must be a list of school years",
        ),
        (
            {"threshold": 3.0, "reasonable_progress": {"enabled": "yes"}},
            "enabled must be true or false",
        ),
        ({"threshold": 3.0, "colour": "red"}, "unknown key\\(s\\) colour"),
    ],
)
def test_invalid_profiles_are_explained(keys, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(keys)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("threshold: .nan", r"threshold must be a finite number, found nan"),
        ("threshold: .inf", r"threshold must be a finite number, found inf"),
        ("threshold: -.inf", r"threshold must be a finite number, found -inf"),
        ("threshold: 0", r"threshold must be greater than 0, found 0"),
        ("threshold: -2.5", r"threshold must be greater than 0, found -2.5"),
        ("threshold: {default: 3.0, disc_tdr: .nan}", r"threshold \(disc_tdr\) must be a finite"),
        ("threshold: 3.0\nreasonable_progress: {min_decrease: .nan}",
         r"reasonable_progress.min_decrease must be a finite number, found nan"),
        ("threshold: 3.0\nreasonable_progress: {min_decrease: .inf}",
         r"reasonable_progress.min_decrease must be a finite number, found inf"),
        ("threshold: 3.0\nwatch_fraction: .nan", r"watch_fraction must be a finite number"),
    ],
)  # fmt: skip
def test_non_finite_and_non_positive_numbers_are_refused(tmp_path, text, message):
    # Before: `threshold: .nan` loaded and identified no LEA; .inf and min_decrease: .nan too.
    path = tmp_path / "p.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=f"profile {path}: " + message):
        load_profile(path)


def test_unknown_name_and_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ProfileError, match="unknown profile 'texas'. Use one of"):
        load_profile("texas")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("threshold: [3.0\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(bad)


def test_categories_subset_limits_results(tmp_path):
    from cimrca.dataset import dataset_from_frames
    from cimrca.methodology import compute_results

    from .conftest import ident_tables, lea_id

    ds = dataset_from_frames(
        ident_tables({("2023-24", lea_id(1)): {"BL": (30, 300), "WH": (40, 4000)}})
    )
    p = load_profile({"threshold": 3.0, "categories": ["ident_id", "ident_all"]})
    assert set(compute_results(ds, p)["category"]) == {"ident_id", "ident_all"}


# --- the monitoring section (monitoring.md section 2) -------------------------------------------

MONITORING = {
    "small_lea_max_swd": 100,
    "min_denominator": 30,
    "domains": {"achievement": ["3B_ELA", "3B_MATH"], "placement": ["5A", "5B", "5C"]},
    "min_domains": 2,
    "intensive_bands": [4, 8, 10],
    "targeted_3_band": 20,
    "lre_indicators": ["5A", "5B", "5C"],
    "lre_bottom": 10,
}


def test_california_carries_the_monitoring_rules_of_the_spec():
    rules = load_profile("california").monitoring
    # Source: monitoring.md section 2 (rules 2, 5, 6 and 7 give these numbers).
    assert rules.small_lea_max_swd == 100 and rules.min_denominator == 30
    assert dict(rules.domains) == {
        "achievement": ("3B_ELA", "3B_MATH"),
        "placement": ("5A", "5B", "5C"),
        "climate": ("SUSP_SWD", "CHRONIC_SWD"),
    }
    assert (rules.min_domains, rules.intensive_bands, rules.targeted_3_band) == (2, (4, 8, 10), 20)
    assert (rules.lre_indicators, rules.lre_bottom) == (("5A", "5B", "5C"), 10)
    assert load_profile("california").to_dict()["monitoring"]["intensive_bands"] == "4, 8, 10"


def test_monitoring_section_is_optional_and_documented_in_the_template():
    assert load_profile("federal_defaults").monitoring is None
    assert "monitoring" not in load_profile("federal_defaults").to_dict()
    from importlib import resources

    import yaml

    from cimrca.profiles import _MONITORING_KEYS

    text = (resources.files("cimrca") / "state_profiles" / "example_state.yaml").read_text()
    template = yaml.safe_load(text)
    assert sorted(template["monitoring"]) == sorted(_MONITORING_KEYS)
    rules = load_profile({"threshold": 3.0, "monitoring": template["monitoring"]}).monitoring
    assert rules.ranked_indicators == ("3B_ELA", "3B_MATH", "5A", "5B", "5C", "SUSP_SWD",
                                       "CHRONIC_SWD")  # fmt: skip


def test_monitoring_codes_written_as_numbers_become_strings():
    rules = load_profile(
        {
            "threshold": 3.0,
            "monitoring": {**MONITORING, "domains": {"timelines": [11, 12]}, "min_domains": 1},
        }  # fmt: skip
    ).monitoring
    assert rules.domains["timelines"] == ("11", "12")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"small_lea_max_swd": -1}, "monitoring.small_lea_max_swd must be a whole number of at least 0, found -1"),
        ({"small_lea_max_swd": 99.5}, "monitoring.small_lea_max_swd must be a whole number"),
        ({"min_denominator": 0}, "monitoring.min_denominator must be a whole number of at least 1, found 0"),
        ({"domains": []}, "monitoring.domains must be a mapping"),
        ({"domains": {"Achievement!": ["3B_ELA"]}}, "domain name 'Achievement!'"),
        ({"domains": {"achievement": []}}, "monitoring.domains.achievement must be a list"),
        ({"min_domains": 3}, "monitoring.min_domains must be at most the number of domains \\(2\\), found 3"),
        ({"min_domains": 0}, "monitoring.min_domains must be a whole number of at least 1"),
        ({"intensive_bands": [4, 8]}, "monitoring.intensive_bands must be a list of three"),
        ({"intensive_bands": [8, 4, 10]}, "strictly ascending .* found \\[8, 4, 10\\]"),
        ({"intensive_bands": [4, 8, 120]}, "monitoring.intensive_bands must be a percentile from 0 to 100, found 120"),
        ({"targeted_3_band": 5}, "monitoring.targeted_3_band must be at least the last intensive band \\(10\\), found 5"),
        ({"lre_indicators": "5A"}, "monitoring.lre_indicators must be a list of indicator codes"),
        ({"lre_bottom": -2}, "monitoring.lre_bottom must be a percentile from 0 to 100, found -2"),
        ({"colour": "red"}, "unknown key\\(s\\) monitoring.colour"),
        ({"lre_bottom": None}, "the key `monitoring.lre_bottom` is missing"),
    ],
)  # fmt: skip
def test_invalid_monitoring_sections_name_key_and_value(change, message):
    with pytest.raises(ProfileError, match=message):
        load_profile({"threshold": 3.0, "monitoring": {**MONITORING, **change}})
    with pytest.raises(ProfileError, match="monitoring must be a mapping"):
        load_profile({"threshold": 3.0, "monitoring": [1, 2]})
