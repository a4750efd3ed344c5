"""RRL's parts (Swin, losses, EMA, OT, augmentations), then one session-cached tiny detector through
evaluation, the 3-fold score and serving."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from models.action_units import losses, spec, split, synth
from models.action_units.augment import VIEWS, augment
from models.action_units.model import RRL, AUConfig
from models.action_units.swin import Swin
from models.common.tracking import LocalTracker

pytestmark = pytest.mark.unit


def test_swin_t_has_the_papers_size_and_stage3_grid() -> None:
    torch.manual_seed(0)
    backbone = Swin(224, 4, 96, (2, 2, 6, 2), (3, 6, 12, 24), 7)
    assert sum(p.numel() for p in backbone.parameters()) == pytest.approx(
        27.52e6, rel=0.01
    )  # timm: 28.3 M with its head
    with torch.no_grad():
        stage3, pooled = backbone(torch.randn(1, 3, 224, 224))
    assert stage3.shape == (1, 384, 14, 14) and pooled.shape == (1, 768)  # NOTES §1.2


def test_ema_schedule_and_update_follow_eq1() -> None:
    assert losses.ema_momentum(0, 100, 0.98) == pytest.approx(0.98)
    assert losses.ema_momentum(50, 100, 0.98) == pytest.approx(0.99)
    assert losses.ema_momentum(100, 100, 0.98) == pytest.approx(1.0)
    online, target = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    expected = 0.9 * target.weight.detach() + 0.1 * online.weight.detach()
    losses.ema_update(target, online, 0.9)
    torch.testing.assert_close(target.weight, expected)


def test_global_and_local_losses_are_minus_one_at_agreement() -> None:
    z = torch.randn(4, 8)
    assert float(losses.global_loss(z, 3 * z)) == pytest.approx(-1.0)
    local = torch.randn(4, 5, 8)
    same = local[:, :1].expand(4, 5, 8)  # every local target equals the first, and the global prediction
    assert float(losses.local_loss(same, same, same[:, 0])) == pytest.approx(-1.0)
    assert float(losses.local_loss(local, -local, local[:, 0])) > -0.6


def test_sinkhorn_meets_both_marginals_and_follows_the_relation_cost() -> None:
    a = torch.tensor([[0.5, 0.3, 0.2]])
    b = torch.tensor([[0.2, 0.3, 0.5]])
    relation = torch.eye(3)
    plan = losses.sinkhorn(1.0 - relation, a, b, 0.1, 200)
    torch.testing.assert_close(plan.sum(2), a, atol=1e-4, rtol=0)
    torch.testing.assert_close(plan.sum(1), b, atol=1e-4, rtol=0)
    uniform = losses.sinkhorn(torch.zeros(3, 3), a, b, 0.1, 200)
    assert (
        plan.diagonal(dim1=1, dim2=2).sum() > uniform.diagonal(dim1=1, dim2=2).sum() + 0.2
    )  # cheap pairs carry more


def test_relation_loss_uses_a_detached_plan_and_relu_marginals() -> None:
    torch.manual_seed(0)
    o_l, t_l = torch.randn(2, 4, 6, requires_grad=True), torch.randn(2, 4, 6)
    o_g, t_g = torch.randn(2, 6), torch.randn(2, 6)
    relation = torch.rand(4, 4).fill_diagonal_(1.0)
    loss = losses.relation_loss(o_l, o_g, t_l, t_g, relation)
    a, b = losses.marginals(o_l.detach(), t_g), losses.marginals(t_l, o_g)
    assert (a > 0).all() and torch.allclose(a.sum(1), torch.ones(2))
    plan = losses.sinkhorn(1.0 - relation, a, b, losses.SINKHORN_EPS, losses.SINKHORN_ITERS)
    cos = torch.nn.functional.cosine_similarity(o_l[:, :, None], t_l[:, None], dim=-1)
    torch.testing.assert_close(loss, -(plan * cos).sum((1, 2)).mean())
    loss.backward()
    assert o_l.grad is not None and o_l.grad.abs().sum() > 0


def test_augmentations_flip_the_maps_with_the_image_and_differ_between_views() -> None:
    images = torch.rand(8, 3, 32, 32)
    maps = torch.rand(8, 12, 2, 2)
    x1, m1 = augment(images, maps, VIEWS[0], torch.Generator().manual_seed(1))
    again, _ = augment(images, maps, VIEWS[0], torch.Generator().manual_seed(1))
    x2, _ = augment(images, maps, VIEWS[1], torch.Generator().manual_seed(2))
    torch.testing.assert_close(x1, again)
    assert x1.min() >= 0 and x1.max() <= 1 and not torch.allclose(x1, x2)
    for i in range(8):
        flipped = torch.equal(m1[i], maps[i].flip(-1))
        assert flipped or torch.equal(m1[i], maps[i])
    no_colour = replace(VIEWS[1], jitter_p=0.0, grey_p=0.0, blur_p=0.0)
    y, m = augment(images, maps, no_colour, torch.Generator().manual_seed(3))
    for i in range(8):  # without colour changes a view is the image or its mirror, maps alike
        mirrored = torch.equal(y[i], images[i].flip(-1))
        assert mirrored == torch.equal(m[i], maps[i].flip(-1)) and (mirrored or torch.equal(y[i], images[i]))


def test_variants_switch_eq7s_terms() -> None:
    tiny = spec.tiny_config()
    assert tiny.weights == (0.4, 0.6, 1.0)
    assert replace(tiny, variant="global").weights == (0.4, 0.0, 0.0)
    assert replace(tiny, variant="global_ot").weights == (0.4, 0.0, 1.0)
    with pytest.raises(ValueError, match="variant must be one of global, global_local, global_ot, rrl"):
        AUConfig(variant="vgg")
    torch.manual_seed(0)
    rrl = RRL(tiny)
    x, maps = torch.rand(4, 3, 64, 64), torch.rand(4, 12, 4, 4)
    out = {k: v.detach() for k, v in rrl(x, maps, x.flip(-1), maps.flip(-1), torch.eye(12)).items()}
    assert set(out) == {"loss", "global", "local", "relation"}
    assert float(out["loss"]) == pytest.approx(
        float(0.4 * out["global"] + 0.6 * out["local"] + out["relation"]), abs=1e-5
    )
    assert all(not p.requires_grad for p in rrl.target_encoder.parameters())


# -- one tiny detector, trained once ----------------------------------------------------------------


@pytest.fixture(scope="session")
def au_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, AUConfig]:
    root = tmp_path_factory.mktemp("au_model")
    data = root / "data"
    synth.synthesize(spec.tiny_dataset(), data)
    split.split(data)
    config = spec.tiny_config()
    path = spec.SPEC.train.train(
        config, data, LocalTracker(root / "run" / "tracking"), out_dir=root / "run", holdout=0, device="cpu"
    )
    return data, path, config


def test_training_logs_pretraining_and_resumes_without_retraining(au_model) -> None:
    data, path, config = au_model
    tracked = LocalTracker(path.parent / "tracking").metrics()
    epochs = [m for m in tracked if "pretrain_loss" in m]
    assert len(epochs) == config.epochs and all(np.isfinite(m["pretrain_loss"]) for m in epochs)
    before = path.stat().st_mtime_ns
    again = spec.SPEC.train.train(
        config, data, LocalTracker(path.parent / "tracking2"), out_dir=path.parent, holdout=0, device="cpu"
    )
    assert again == path and path.stat().st_mtime_ns >= before
    assert not [
        m for m in LocalTracker(path.parent / "tracking2").metrics() if "pretrain_loss" in m
    ]  # resumed at the end
    trained = spec.SPEC.train.load(path)
    m = trained.model.relation.numpy()
    assert np.allclose(np.diag(m), 1.0) and m.min() >= 0 and not np.allclose(m, np.eye(len(config.aus)))


def test_training_refuses_a_dataset_of_another_layout(au_model, tmp_path: Path) -> None:
    data, _, config = au_model
    with pytest.raises(ValueError, match="a bp4d dataset of 64 px; the config wants disfa"):
        spec.SPEC.train.train(
            replace(config, layout="disfa"),
            data,
            LocalTracker(tmp_path / "t"),
            out_dir=tmp_path,
            holdout=0,
            device="cpu",
        )


def test_evaluation_is_per_au_f1_on_the_held_out_fold(au_model) -> None:
    from models.action_units.evaluate import evaluate

    data, path, config = au_model
    trained = spec.SPEC.train.load(path)
    report = evaluate(trained, data)
    assert set(f"f1_au{au}" for au in config.aus) <= set(report)
    assert report["f1"] == pytest.approx(np.mean([report[f"f1_au{au}"] for au in config.aus]))
    assert report["subjects"] == 2 and report["frames"] == 80
    with pytest.raises(ValueError, match="fold 1 is in this model's training data"):
        evaluate(trained, data, 1)


def test_f1_masks_uncoded_frames_and_the_protocol_averages_folds() -> None:
    from models.action_units.crossval import score
    from models.action_units.evaluate import f1

    assert f1(np.array([1, 1, 0, -1, -1]), np.array([1, 0, 1, 1, 1])) == pytest.approx(0.5)
    assert f1(np.array([0, 0, -1]), np.array([0, 0, 1])) == 0.0
    predictions = pd.DataFrame(
        {"fold": [0, 0, 1, 1], "au1": [1, 0, 1, 1], "p_au1": [0.9, 0.1, 0.9, 0.1], "pred_au1": [1, 0, 1, 0]}
    )
    scores = score(predictions)
    assert scores["f1_fold0"] == 1.0 and scores["f1_fold1"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx((1 + 2 / 3) / 2)  # the paper's average over folds
    assert scores["f1_pooled"] == pytest.approx(4 / 5)  # tp 2, fn 1


def test_serving_answers_per_au_and_names_bad_tensors(au_model) -> None:
    from models.action_units.predict import predict_batch, predict_request

    _, path, config = au_model
    trained = spec.SPEC.train.load(path)
    schema = spec.SPEC.serve.schema(config)
    example = spec.SPEC.serve.example(config)
    schema.check_inputs(example)
    out = predict_request(trained, example)
    assert set(out) == {t.name for t in schema.outputs}
    for au in config.aus:
        assert 0.0 <= float(out[f"p_au{au}"]) <= 1.0 and int(out[f"au{au}"]) == int(out[f"p_au{au}"] >= 0.5)
    (batched,) = predict_batch(trained, [example])
    np.testing.assert_allclose(batched["p_au12"], out["p_au12"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"image: dim 0 must be 64, got 32"):
        schema.check_inputs({**example, "image": np.zeros((32, 32, 3), np.uint8)})
    with pytest.raises(ValueError, match="image: dtype must be uint8, got float32"):
        schema.check_inputs({**example, "image": example["image"].astype(np.float32)})
    with pytest.raises(ValueError, match="landmarks: contains NaN or inf"):
        schema.check_inputs({**example, "landmarks": np.full((68, 2), np.nan, np.float32)})


def test_a_disfa_dataset_trains_the_8_au_detector(tmp_path: Path) -> None:
    from models.action_units.evaluate import evaluate

    data = tmp_path / "disfa"
    synth.synthesize(
        replace(spec.tiny_dataset(), layout="disfa", subjects_per_part=1, frames=16, pool_images=16), data
    )
    split.split(data)
    config = replace(spec.tiny_config(), layout="disfa", epochs=1, batch_size=16, probe_epochs=2)
    path = spec.SPEC.train.train(
        config, data, LocalTracker(tmp_path / "t"), out_dir=tmp_path / "run", holdout=2, device="cpu"
    )
    report = evaluate(spec.SPEC.train.load(path), data)
    assert {key for key in report if key.startswith("f1_au")} == {
        f"f1_au{au}" for au in (1, 2, 4, 6, 9, 12, 25, 26)
    }
    assert report["frames"] == 16 and 0.0 <= report["f1"] <= 1.0
