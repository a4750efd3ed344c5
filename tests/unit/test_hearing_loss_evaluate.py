"""The paper's metrics on hand-made predictions, and the evaluation's leakage guard."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models import get_family
from models.common.tracking import LocalTracker
from models.hearing_loss import checkpoint
from models.hearing_loss.evaluate import coin_flip_f1, evaluate, metrics
from models.hearing_loss.train import train

pytestmark = pytest.mark.unit


def _predictions() -> pd.DataFrame:
    rows = [
        # subject, age, group, gender, label, prediction, age estimate
        ("a", 25, "young", "female", 0, 0, 40.0),
        ("a", 25, "young", "female", 0, 1, 42.0),
        ("b", 30, "young", "male", 1, 1, 45.0),
        ("c", 50, "mid", "female", 1, 1, 50.0),
        ("c", 50, "mid", "female", 1, 0, 48.0),
        ("d", 70, "old", "male", 1, 1, 44.0),
        ("e", 80, "old", "male", 0, 0, 60.0),
    ]
    columns = ["subject_id", "age", "age_group", "gender", "hearing_loss", "prediction", "age_estimate"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame


def test_f1_overall_and_per_age_group_match_hand_counts() -> None:
    scores = metrics(_predictions())
    # all: TP 3 (b, c, d), FP 1 (a), FN 1 (c) -> F1 = 6 / (6 + 1 + 1)
    assert scores["f1"] == pytest.approx(0.75)
    assert scores["f1_low"] <= scores["f1"] <= scores["f1_high"]  # subject bootstrap
    assert scores["f1_young"] == pytest.approx(2 / 3)  # TP 1, FP 1, FN 0
    assert scores["f1_mid"] == pytest.approx(2 / 3)  # TP 1, FN 1
    assert scores["f1_old"] == pytest.approx(1.0)
    assert scores["accuracy"] == pytest.approx(5 / 7)
    assert scores["random_f1_young"] == pytest.approx(coin_flip_f1(1 / 3))
    assert scores["segments_old"] == 2
    # the promotion gate's fairness keys: largest gap between age groups, and by gender
    assert scores["f1_gap"] == pytest.approx(1.0 - 2 / 3)
    assert scores["f1_gap_low"] <= scores["f1_gap"] <= scores["f1_gap_high"]
    assert scores["gender_f1_female"] == pytest.approx(0.5)  # TP 1 (c), FP 1 (a), FN 1 (c): 2 / (2 + 1 + 1)
    assert scores["gender_f1_male"] == pytest.approx(1.0)


def test_a_group_without_positives_has_no_f1() -> None:
    scores = metrics(_predictions().query("subject_id != 'b'"))  # young: only negatives left
    assert scores["f1_young"] is None and scores["random_f1_young"] == 0.0
    assert scores["fpr_young"] == pytest.approx(0.5)


def test_coin_flip_f1_is_the_tables_random_row() -> None:
    # paper Table 2, random guessing: young 27.5 at a positive rate near 0.18 (Table 1)
    assert coin_flip_f1(0.18) == pytest.approx(0.2647, abs=1e-4)
    assert coin_flip_f1(0.5) == pytest.approx(0.5)


def test_age_probe_is_pearson_over_per_subject_means() -> None:
    scores = metrics(_predictions())
    ages = [25, 30, 50, 70, 80]
    estimates = [41.0, 45.0, 49.0, 44.0, 60.0]
    r, p = stats.pearsonr(ages, estimates)
    assert scores["age_probe_r"] == pytest.approx(r) and scores["age_probe_p"] == pytest.approx(p)
    assert scores["age_probe_subjects"] == 5


def test_empty_group_reports_none() -> None:
    scores = metrics(_predictions().query("age_group != 'mid'"))
    assert scores["f1_mid"] is None and "random_f1_mid" not in scores


def _trained(data: Path, out: Path, variant: str, holdout: int) -> checkpoint.TrainedModel:
    """A real model at the spec's tiny size (one epoch per stage), trained without ``holdout``."""
    config = replace(get_family("hearing_loss").train.tiny(), variant=variant)
    path = train(config, data, LocalTracker(out / "t"), out_dir=out / "run", holdout=holdout, device="cpu")
    return checkpoint.load(path)


def test_evaluation_refuses_a_fold_the_model_trained_on(tiny_split: Path, tmp_path: Path) -> None:
    trained = _trained(tiny_split, tmp_path, "marlin_anchor", holdout=1)
    with pytest.raises(ValueError, match="fold 2 is in this model's training data; it held out fold 1"):
        evaluate(trained, tiny_split, 2)
    scores = evaluate(trained, tiny_split)  # default: the held-out fold
    assert 0.0 <= scores["f1"] <= 1.0 and scores["segments"] > 0
    assert np.isfinite(scores["accuracy"])


def test_a_corrupt_model_artifact_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable hearing_loss model artifact"):
        checkpoint.load(bad)
    with pytest.raises(FileNotFoundError, match="no model artifact"):
        checkpoint.load(tmp_path / "missing.pt")


def test_one_served_request_gives_the_batched_evaluation_probability(
    tiny_split: Path, tmp_path: Path
) -> None:
    from models.common.folds import select_folds
    from models.hearing_loss.data import load_split
    from models.hearing_loss.dataset import FeatureStore
    from models.hearing_loss.evaluate import predict
    from models.hearing_loss.predict import predict_request

    trained = _trained(tiny_split, tmp_path, "marlin_vm_abm", holdout=0)
    frame = load_split(tiny_split)
    batch = predict(trained, tiny_split, frame, select_folds(frame, 0, train=False))
    store = FeatureStore(tiny_split)
    for label in batch.index[:3]:  # padded batch vs one unpadded request: same numbers
        row, anchor = frame.loc[label], frame.loc[frame.loc[label, "anchor_index"]]
        tensors = {
            "current": np.array(store.segment(row.features_file, row.feature_offset, row.n_frames)),
            "anchor": np.array(store.segment(anchor.features_file, anchor.feature_offset, anchor.n_frames)),
        }
        out = predict_request(trained, tensors)
        assert out["probability"] == pytest.approx(batch.loc[label, "probability"], abs=1e-5)
        assert out["label"] == int(out["probability"] >= 0.5) and out["threshold"] == 0.5
        assert out["age_estimate"] == pytest.approx(batch.loc[label, "age_estimate"], abs=1e-3)
