"""The expression model: R-Drop (Eq. 4), LSTM state carry (Eq. 2), segment inference, voting (§4.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.expression.checkpoint import TrainedModel
from models.expression.ensemble import vote
from models.expression.model import ExpressionConfig, build, rdrop_loss
from models.expression.predict import frame_logits, predict_batch, predict_request
from models.expression.schema import example_input, serving_schema

pytestmark = pytest.mark.unit

SMALL = {"features": ("fbank", "egemaps"), "fusion_dim": 8, "layers": 1, "heads": 2, "feedforward_dim": 16}
SMALL["classifier_hidden"] = (8, 4)


def test_rdrop_loss_matches_hand_computation() -> None:
    # frame 0: p1 = (1/2, 1/2), p2 = (3/4, 1/4), label 0; frame 1: equal logits, no label (-1);
    # frame 2: padding, must not count
    logits1 = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [9.0, -9.0]]])
    logits2 = torch.tensor([[[math.log(3.0), 0.0], [1.0, 2.0], [-9.0, 9.0]]])
    labels = torch.tensor([[0, -1, 1]])
    mask = torch.tensor([[True, True, False]])
    ce = 0.5 * (math.log(2.0) - math.log(0.75))  # CE on the one labelled frame, both passes
    kl_12 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)  # KL(p1 || p2) on frame 0
    kl_21 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    kl = 0.5 * (kl_12 / 2 + kl_21 / 2)  # frame 1 adds KL 0 and counts in the mean over real frames
    out = rdrop_loss(logits1, logits2, labels, mask, alpha=5.0)
    assert out["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert out["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert out["loss"].item() == pytest.approx(ce + 5.0 * kl, rel=1e-6)  # ≈ 0.8337


def test_rdrop_kl_is_zero_for_identical_passes() -> None:
    logits = torch.randn(2, 5, 8)
    labels = torch.randint(0, 8, (2, 5))
    mask = torch.ones(2, 5, dtype=torch.bool)
    out = rdrop_loss(logits, logits, labels, mask, alpha=5.0)
    assert out["kl"].item() == pytest.approx(0.0, abs=1e-7)
    assert out["loss"].item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits.reshape(-1, 8), labels.reshape(-1)).item()
    )


def test_lstm_carries_its_state_across_segments() -> None:
    torch.manual_seed(0)
    model = build(ExpressionConfig(variant="lstm", segment_length=4, stride=4, **SMALL)).eval()
    x = np.random.default_rng(0).standard_normal((10, model.config.input_dim)).astype(np.float32)
    by_segments = frame_logits(model, x)  # segments [0:4], [4:8], [8:10], state carried
    with torch.no_grad():  # one LSTM pass over the whole video: what carrying must reproduce
        fused = model.fusion((torch.from_numpy(x) - model.feature_mean) / model.feature_std)
        whole = model.head(model.encoder(fused[None])[0])[0].numpy()
    np.testing.assert_allclose(by_segments, whole, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # the second segment from a fresh state differs: the carry matters
        fresh, _ = model(torch.from_numpy(x[4:8])[None], torch.ones(1, 4, dtype=torch.bool))
    assert not np.allclose(fresh[0].numpy(), by_segments[4:8], atol=1e-4)


def test_transformer_averages_overlapping_segments() -> None:
    torch.manual_seed(0)
    model = build(ExpressionConfig(variant="transformer", segment_length=4, stride=2, **SMALL)).eval()
    x = np.random.default_rng(1).standard_normal((6, model.config.input_dim)).astype(np.float32)
    out = frame_logits(model, x)  # segments [0:4], [2:6], [4:6]
    with torch.no_grad():

        def run(start: int, stop: int) -> np.ndarray:
            window = torch.from_numpy(x[start:stop])[None]
            return model(window, torch.ones(1, stop - start, dtype=torch.bool))[0][0].numpy()

        first, second, third = run(0, 4), run(2, 6), run(4, 6)
    np.testing.assert_allclose(out[0:2], first[0:2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[2:4], (first[2:4] + second[0:2]) / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[4:6], (second[2:4] + third) / 2, rtol=1e-5, atol=1e-5)


def test_paper_defaults_and_shapes() -> None:
    config = ExpressionConfig()
    assert (config.fusion_dim, config.layers, config.heads, config.dropout) == (1024, 4, 4, 0.3)
    assert (config.segment_length, config.rdrop_alpha, config.lr, config.epochs) == (128, 5.0, 1e-4, 25)
    model = build(ExpressionConfig(**SMALL))
    head = [type(m).__name__ for m in model.head]
    assert head == ["Linear", "Dropout", "ReLU", "Linear", "Dropout", "ReLU", "Linear"]  # §3.4
    assert model.fusion.in_features == 80 + 25 and model.head[-1].out_features == 8
    logits, state = model(torch.zeros(2, 7, 105), torch.ones(2, 7, dtype=torch.bool))
    assert logits.shape == (2, 7, 8) and state is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variant": "gru"}, "variant must be one of transformer, lstm"),
        ({"features": ("mae", "smile")}, "features: unknown feature"),
        ({"features": ("mae", "mae")}, "listed twice"),
        ({"variant": "lstm", "stride": 64}, "stride == segment_length"),
        ({"stride": 256}, "stride 256 must be <= segment_length 128"),
        ({"fusion_dim": 30}, "must divide by heads"),
        ({"dropout": 1.0}, "dropout must be in"),
    ],
)
def test_config_rejects_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExpressionConfig(**changes)


def test_vote_takes_the_majority_and_breaks_ties_by_probability() -> None:
    predictions = [np.array([0, 1, 2]), np.array([0, 3, 4]), np.array([5, 3, 2])]
    assert vote(predictions).tolist() == [0, 3, 2]
    tie = [np.array([1]), np.array([6])]
    probabilities = [np.eye(8)[[1]] * 0.4 + 0.075, np.eye(8)[[6]] * 0.9 + 0.0125]
    assert vote(tie).tolist() == [1]  # without probabilities: the lower class index
    assert vote(tie, probabilities).tolist() == [6]  # the second model is surer
    with pytest.raises(ValueError, match="class indices"):
        vote([np.array([8])])


def test_serving_schema_names_every_feature() -> None:
    config = ExpressionConfig(**SMALL)
    schema = serving_schema(config)
    assert [(s.name, s.shape) for s in schema.inputs] == [("fbank", (None, 80)), ("egemaps", (None, 25))]
    assert [(s.name, s.shape) for s in schema.outputs] == [("probabilities", (None, 8)), ("labels", (None,))]
    request = example_input(config)
    schema.check_inputs(request)
    with pytest.raises(ValueError, match="egemaps: dim 1 must be 25"):
        schema.check_inputs({**request, "egemaps": np.zeros((150, 24), dtype=np.float32)})


@pytest.mark.parametrize(("variant", "stride"), [("lstm", 4), ("transformer", 2)])
def test_a_batch_of_mixed_length_videos_gives_each_its_own_answer(variant: str, stride: int) -> None:
    """Videos of 3-13 frames (1-4 segments, partial last ones) in one batch: each equals it alone."""
    torch.manual_seed(0)
    config = ExpressionConfig(variant=variant, segment_length=4, stride=stride, **SMALL)
    trained = TrainedModel(build(config).eval(), holdout=None)
    rng = np.random.default_rng(2)
    requests = [
        {name: rng.standard_normal((n, value.shape[1])).astype(np.float32) for name, value in ex.items()}
        for n, ex in ((n, example_input(config, frames=1)) for n in (13, 3, 8, 1, 10))
    ]
    batched = predict_batch(trained, requests)
    for request, together in zip(requests, batched, strict=True):
        alone = predict_request(trained, request)
        np.testing.assert_allclose(together["probabilities"], alone["probabilities"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(together["labels"], alone["labels"])
    bad = {**requests[1], config.features[0]: requests[0][config.features[0]]}
    with pytest.raises(ValueError, match="request 1: every feature needs the same number of frames"):
        predict_batch(trained, [requests[0], bad])
