"""A reference of all the subjects a version was developed on, answered on its held-out ones only:
inputs and demographics are compared over everyone, outputs over the answered subjects."""

import pandas as pd
import pytest

from models.hearing_loss.traffic import synthetic_reference, synthetic_window
from monitoring.config import load_config
from monitoring.drift import drift_report
from monitoring.report import build_report, reference_composition

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config("hearing_loss")


def _developed_on(subjects: int = 80, answered: int = 16) -> pd.DataFrame:
    return synthetic_reference(3000, seed=2, subjects=subjects, answered=answered)


def test_every_age_group_is_compared_and_outputs_only_where_enough_subjects_answered(config) -> None:
    reference = _developed_on()
    current, _ = synthetic_window(3000, seed=5, subjects=80)
    report, _ = drift_report(current, reference, config)
    for group in ("young", "mid", "old"):
        part = report[group]
        assert "skipped" not in part and part["units"]["reference"] >= 10  # all 80 subjects count
        assert {"age", "gender"} <= set(part["columns"])  # demographics over everyone
        # a group has a few of the 16 answered subjects: its outputs are not compared, and it says why
        assert {"probability", "age_estimate"} <= set(part["skipped_columns"])
        assert "fewer than 10" in part["skipped_columns"]["probability"]
        assert "probability" not in part["columns"]
    overall = report["overall"]
    assert overall["units"]["reference"] == 80 and not overall["skipped_columns"]
    # the outputs overall: over the 16 answered subjects, as a reference of those alone would give
    alone, _ = drift_report(current, reference[reference["scored"]], config)
    for column in ("probability", "age_estimate", "label"):
        assert overall["columns"][column]["score"] == pytest.approx(
            alone["overall"]["columns"][column]["score"]
        )
    assert overall["positive_rate"]["reference"] == pytest.approx(
        alone["overall"]["positive_rate"]["reference"]
    )


def test_unanswered_rows_are_not_a_category_of_their_own(config) -> None:
    # rows as units (no pseudonyms): the label is a category, and a missing one is dropped
    reference = _developed_on().drop(columns="subject_pseudonym")
    current = synthetic_window(3000, seed=5, subjects=80)[0].drop(columns="subject_pseudonym")
    report, _ = drift_report(current, reference, config)
    alone, _ = drift_report(current, reference[reference["scored"]], config)
    assert report["overall"]["unit"] == "row"
    label, label_alone = report["overall"]["columns"]["label"], alone["overall"]["columns"]["label"]
    assert label["method"] == "jensenshannon" and label["score"] == pytest.approx(label_alone["score"])


def test_the_report_says_what_the_reference_holds(config) -> None:
    reference = _developed_on()
    assert reference_composition(reference) == {
        "all": {"rows": 3000, "subjects": 80},
        "answered": {"rows": int(reference["scored"].sum()), "subjects": 16},
        "answers_from": "the held-out rows",
    }
    earlier = reference[reference["scored"]].drop(columns="scored")  # a version logged before the column
    assert reference_composition(earlier)["answers_from"] == "every reference row"
    current, labels = synthetic_window(2000, seed=5, subjects=80)
    report = build_report(current, reference, labels, config=config)
    assert report["reference"]["answered"]["subjects"] == 16
    assert all("skipped" not in report["drift"][g] for g in ("young", "mid", "old"))
