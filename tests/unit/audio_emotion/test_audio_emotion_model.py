"""Image2Audio's parts (paper §2): UNIT's shared layers, Dis_t's K+1 terms, IWAE density and the
annealing, graph smoothness and the reliability path; training in its settings; the paper's metrics."""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.audio_emotion import checkpoint
from models.audio_emotion.density import epsilon, iwae_log_density, split_by_density
from models.audio_emotion.evaluate import evaluate, frechet_distance, inception_score
from models.audio_emotion.graph import reliability_labels, smoothness
from models.audio_emotion.losses import class_nll, conditional_entropy, fake_nll, real_nll
from models.audio_emotion.model import AudioEmotionConfig, build, uses
from models.audio_emotion.spec import tiny_config
from models.audio_emotion.train import train
from models.common.tracking import LocalTracker

pytestmark = pytest.mark.unit


def test_dis_t_terms_are_a_k_plus_1_softmax_with_the_fake_logit_at_zero() -> None:
    logits = torch.randn(5, 6)
    full = F.log_softmax(torch.cat([logits, torch.zeros(5, 1)], 1), 1)  # class K+1 = index 6
    labels = torch.tensor([0, 3, 5, 1, 2])
    torch.testing.assert_close(fake_nll(logits), -full[:, 6].mean())
    torch.testing.assert_close(real_nll(logits), -torch.log1p(-full[:, 6].exp()).mean())
    torch.testing.assert_close(class_nll(logits, labels), F.nll_loss(full, labels))
    sure = torch.tensor([[50.0, 0, 0], [0, 50.0, 0]])
    assert conditional_entropy(sure) < 1e-6 < conditional_entropy(torch.zeros(2, 3))


def test_unit_shares_its_middle_layers_between_faces_and_spectrograms() -> None:
    config = replace(tiny_config(), channels=4)
    model = build(config)
    faces, specs = torch.randn(2, 64, 64), torch.randn(2, 156, 64)
    z_s, z_t = model.unit.encode(faces, "s"), model.unit.encode(specs, "t")
    assert z_s.shape == z_t.shape == (2, 8, 16, 16)  # one latent grid for both domains
    assert model.unit.decode(z_s, "t").shape == (2, 156, 64) and model.unit.decode(z_t, "s").shape == (
        2,
        64,
        64,
    )
    shared = [*model.unit.shared_encoder.parameters(), *model.unit.shared_generator.parameters()]
    for domain, x in (("s", faces), ("t", specs)):
        model.zero_grad()
        model.unit.decode(model.unit.encode(x, domain), domain).sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in shared), domain
    logits, features = model.dis_t(specs)
    assert logits.shape == (2, 6) and features.shape == (2, 32)  # K logits; the fake one is implicit


def test_iwae_is_the_log_mean_of_importance_weights_and_the_annealing_splits_by_it() -> None:
    model = build(replace(tiny_config(), channels=4)).eval()
    x = torch.randn(3, 156, 64)
    torch.manual_seed(7)
    estimate = iwae_log_density(model.unit, x, samples=4, scale=0.5)
    torch.manual_seed(7)
    mu, weights = model.unit.encode(x, "t"), []
    for _ in range(4):
        noise = torch.randn_like(mu)
        z = mu + noise
        log_px = (-(x - model.unit.decode(z, "t")).abs() / 0.5 - math.log(1.0)).flatten(1).sum(1)
        log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        log_q = (-0.5 * noise**2 - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        weights.append(log_px + log_pz - log_q)
    torch.testing.assert_close(estimate, torch.logsumexp(torch.stack(weights), 0) - math.log(4))
    assert epsilon(0, 10, 0.8) == 0.0 and epsilon(9, 10, 0.8) == pytest.approx(0.8)
    high, low = split_by_density(torch.tensor([0.0, 5.0, -3.0, 2.0, 1.0]), 0.4)
    assert high.tolist() == [1, 3] and sorted(low.tolist()) == [0, 2, 4]
    assert len(split_by_density(torch.zeros(4), 0.0)[0]) == 0  # round 0: every translation to D_g


def test_smoothness_charges_label_changes_across_close_edges_only() -> None:
    features = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])
    same = F.one_hot(torch.tensor([0, 0, 1]), 2).float()
    split = F.one_hot(torch.tensor([0, 1, 1]), 2).float()
    assert smoothness(features, same, beta=0.5, gamma=1.0) == pytest.approx(0.0)  # node 2 is beyond beta
    w01 = math.exp(-((torch.nn.functional.normalize(features, dim=1)[0:2].diff(dim=0) ** 2).sum().item()))
    assert smoothness(features, split, beta=0.5, gamma=1.0).item() == pytest.approx(2 * w01 / 3, rel=1e-4)


def test_the_reliability_path_labels_a_component_only_when_its_labels_agree() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3)
    features = np.concatenate([c + 0.01 * rng.standard_normal((4, 3)) for c in centres])
    known = np.full(12, -1)
    known[[0, 4, 8, 9]] = [2, 0, 1, 0]  # cluster 3 holds two labelled nodes that disagree
    out = reliability_labels(features, known, beta=0.5)
    assert out[:4].tolist() == [2, 2, 2, 2] and out[4:8].tolist() == [0] * 4
    assert out[8:].tolist() == [1, 0, -1, -1]


def test_table_1_rows_switch_the_augmentation_sources() -> None:
    assert uses("base") == {"translation": False, "high": False, "low": False, "reliability": False}
    assert uses("low_rel")["high"] and not uses("low_rel")["low"] and not uses("low_rel")["reliability"]
    assert uses("low")["reliability"] and not uses("low")["low"]
    assert uses("high_rel")["low"] and not uses("high_rel")["high"]
    assert all(uses("all").values())
    with pytest.raises(ValueError, match="unknown variant 'everything'"):
        AudioEmotionConfig(variant="everything")
    with pytest.raises(ValueError, match="unknown setting 'paired'"):
        AudioEmotionConfig(setting="paired")


def test_the_trained_model_reports_accuracy_is_and_fid_on_s4(emotion_model: Path, emotion_data: Path) -> None:
    trained = checkpoint.load(emotion_model)
    assert trained.holdout == "S4" and trained.config == tiny_config()
    report = evaluate(trained, emotion_data)
    assert report["partition"] == "S4" and report["clips"] == 32
    assert 0.0 <= report["accuracy"] <= 1.0 and np.asarray(report["confusion"]).sum() == 32
    for key in ("is_base", "is_high", "is_low"):
        assert 1.0 <= report[key] <= 6.0, key  # IS lies between 1 and K
    assert report["fid_high"] >= 0 and report["fid_low"] >= 0


def test_is_and_fid_behave_as_defined() -> None:
    assert inception_score(np.full((4, 3), 1 / 3)) == pytest.approx(1.0)
    assert inception_score(np.eye(3)) == pytest.approx(3.0, rel=1e-6)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + 2.0) == pytest.approx(12.0, rel=1e-6)


def test_a_rerun_resumes_and_settings_p_and_base_train(
    emotion_model: Path, emotion_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(emotion_model.parent, out)
    again = train(
        tiny_config(), emotion_data, LocalTracker(out / "tracking2"), out_dir=out, holdout="S4", device="cpu"
    )
    assert LocalTracker(out / "tracking2").metrics() == []  # all rounds were done: nothing retrained
    before, after = (
        checkpoint.load(emotion_model).model.state_dict(),
        checkpoint.load(again).model.state_dict(),
    )
    assert all(torch.equal(before[k], after[k]) for k in before)
    for variant, setting in (("all", "P"), ("base", "UP")):
        config = replace(tiny_config(), variant=variant, setting=setting, epochs=1)
        tracker = LocalTracker(tmp_path / f"{variant}{setting}")
        path = train(
            config,
            emotion_data,
            tracker,
            out_dir=tmp_path / f"{variant}{setting}",
            holdout="S4",
            device="cpu",
        )
        assert checkpoint.load(path).config.setting == setting
        logged = tracker.metrics()[-1]
        assert ("translation" in logged) == (variant != "base")
    with pytest.raises(ValueError, match="S1 is the only labelled partition"):
        train(
            tiny_config(),
            emotion_data,
            LocalTracker(tmp_path / "x"),
            out_dir=tmp_path / "x",
            holdout="S1",
            device="cpu",
        )
