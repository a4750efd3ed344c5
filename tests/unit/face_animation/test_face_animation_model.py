"""The face animator: the paper's losses, the networks' shapes and variants, training, the metrics and
serving (one session-cached tiny model, conftest.face_model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.face_animation import checkpoint
from models.face_animation.evaluate import evaluate, lmd
from models.face_animation.losses import emotion_loss, identity_loss, landmark_loss
from models.face_animation.model import FaceAnimationConfig, build
from models.face_animation.predict import predict_request
from models.face_animation.schema import example_input, serving_schema
from models.face_animation.spec import PROMOTION_GATES, tiny_config

pytestmark = pytest.mark.unit


def test_the_emotion_loss_is_eq5() -> None:
    e_r = torch.tensor([[0.0, 0.0]])
    e_s = torch.tensor([[0.2, 0.0]])  # d_rs = 0.1
    e_p = torch.tensor([[0.04, 0.0]])  # d_rp = 0.02 < margin 0.1
    same, other = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    # λ_rs = 1 (same expression), λ_rp = 0 (orthogonal expressions): 1 * 0.1 + 1 * (0.1 - 0.02)
    assert emotion_loss(e_r, e_s, e_p, same, same, other).item() == pytest.approx(0.18)
    # λ_rp = 1: a V_p with the same expression is not pushed away
    assert emotion_loss(e_r, e_s, e_p, same, same, same).item() == pytest.approx(0.1)
    far = torch.tensor([[0.5, 0.0]])  # d_rp = 0.25 beyond the margin: no push
    assert emotion_loss(e_r, e_r, far, same, same, other).item() == pytest.approx(0.0)
    assert identity_loss(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(1.0)
    assert landmark_loss(torch.zeros(1, 68, 2), torch.full((1, 68, 2), 2.0)).item() == pytest.approx(2.0)


def test_table1_sizes_and_the_variants() -> None:
    config = FaceAnimationConfig()
    assert (config.mlp_c, config.lstm, config.mlp_t) == (
        (80, 256, 161),
        (161, 256, 256, 256),
        (256, 512, 256, 136),
    )
    assert (config.lr, config.weight_decay) == (1e-5, 1e-5)
    small = tiny_config()
    full = build(small).landmarks
    lengths = [5, 7]
    out = full(torch.rand(12, 18, 80), torch.rand(2, 68, 2), lengths)
    assert out["landmarks"].shape == (12, 68, 2) and out["emotion"].shape == (12, small.mlp_e[-1])
    without = build(replace(small, variant="no_style")).landmarks
    assert without.style is None and set(without(torch.rand(12, 18, 80), torch.rand(2, 68, 2), lengths)) == {
        "landmarks"
    }
    with pytest.raises(ValueError, match="variant 'nope'"):
        replace(small, variant="nope")
    with pytest.raises(ValueError, match="Concat"):
        replace(small, mlp_s=(10, 136))


def test_training_lowers_every_steps_loss_and_writes_a_loadable_model(face_model: Path) -> None:
    rows = [
        json.loads(line)
        for line in (face_model.parent / "tracking" / "metrics.jsonl").read_text().splitlines()
    ]
    for key in ("content_landmark", "style_landmark", "style_emotion", "style_identity", "image_image"):
        values = [row[key] for row in rows if key in row]
        assert len(values) == tiny_config().epochs and values[-1] < values[0], key
    trained = checkpoint.load(face_model)
    assert trained.holdout == "test" and trained.mean_face.shape == (68, 3)


def test_a_rerun_resumes_and_another_config_is_refused(face_model: Path, face_dataset: Path) -> None:
    from models.common.tracking import NullTracker
    from models.face_animation.train import train

    before = checkpoint.load(face_model).model.state_dict()
    again = train(
        tiny_config(), face_dataset, NullTracker(), out_dir=face_model.parent, holdout="test", device="cpu"
    )
    after = checkpoint.load(again).model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # every epoch was done: nothing retrained
    with pytest.raises(ValueError, match="another config"):
        train(
            replace(tiny_config(), lr=1e-2),
            face_dataset,
            NullTracker(),
            out_dir=face_model.parent,
            holdout="test",
            device="cpu",
        )


def test_evaluation_reports_lmd_and_es_with_the_stand_in_on_unseen_speakers(face_model, face_dataset) -> None:
    trained = checkpoint.load(face_model)
    report = evaluate(trained, face_dataset)
    assert report["partition"] == "test" and "stand-in" in report["es_classifier"]
    assert 0 < report["lmd"] < 10 and report["lmd_mouth"] > 0 and 0 <= report["es"] <= 1
    assert set(report["per_emotion"]) and report["lmd_still"] > 0
    with pytest.raises(ValueError, match="it trained on that partition"):
        evaluate(trained, face_dataset, "dev")
    assert PROMOTION_GATES["quality"]["abs_lmd"] > 0


def test_lmd_removes_each_frames_centroid() -> None:
    truth = np.random.default_rng(0).normal(size=(4, 68, 2))
    assert lmd(truth + 5.0, truth) == pytest.approx(0.0)
    shifted = truth.copy()
    shifted[:, 0] += [3.0, 4.0]
    assert lmd(shifted, truth) > 0


def test_a_request_animates_the_reference_face(face_model: Path) -> None:
    trained = checkpoint.load(face_model)
    schema = serving_schema(trained.config)
    tensors = example_input(trained.config)
    schema.check_inputs(tensors)
    out = predict_request(trained, tensors)
    for spec in schema.outputs:
        spec.check(np.asarray(out[spec.name]))
    assert len(out["frames"]) == len(out["landmarks"]) == 25  # 1 s at 25 fps


def test_hostile_requests_get_errors_naming_the_field(face_model: Path) -> None:
    trained = checkpoint.load(face_model)
    schema = serving_schema(trained.config)
    good = example_input(trained.config)
    cases = {
        "audio: silence": {**good, "audio": np.zeros(16_000, np.float32)},
        r"audio: dim 0 must lie in \[3200, 160000\]": {**good, "audio": np.zeros(200_000, np.float32)},
        "audio: contains NaN": {**good, "audio": np.full(16_000, np.nan, np.float32)},
        "reference_image: 1000 pixels is not a square": {
            **good,
            "reference_image": np.zeros((1000, 3), np.uint8),
        },
        "reference_image: must have 2 dims": {**good, "reference_image": np.zeros((32, 32, 3), np.uint8)},
        "reference_image: dtype must be uint8": {
            **good,
            "reference_image": good["reference_image"].astype(float),
        },
        "reference_landmarks: dim 0 must be 68": {
            **good,
            "reference_landmarks": np.zeros((5, 3), np.float32),
        },
    }
    for message, tensors in cases.items():
        with pytest.raises(ValueError, match=message):
            schema.check_inputs(tensors)
            predict_request(trained, tensors)


def test_the_monitoring_reference_carries_the_speech_and_motion_columns(face_model, face_dataset) -> None:
    from fnmatch import fnmatch

    from components.reference import reference_frame
    from monitoring.config import load_config

    frame = reference_frame("face_animation", face_model, face_dataset, "test")
    config = load_config("face_animation")
    assert set(config["drift"]["numerical"]) <= set(frame.columns)
    assert sorted(c for c in frame.columns if fnmatch(c, config["drift"]["feature_column"])) == [
        "reference_image_mean",
        "reference_landmarks_mean",
    ]
    assert (frame["duration_s"] > 0).all() and (frame["pitch_hz"] > 60).all()  # espeak voices are voiced
    assert (frame["mouth_opening"] > 0).all()
