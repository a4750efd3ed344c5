from dataclasses import asdict, replace

import pytest
import torch
import torch.nn.functional as F

from models import get_family
from models.common.layers import GradientReversal, GradientReversalFunction
from models.hearing_loss.model import (
    VARIANTS,
    FacialEncoder,
    HearingLossConfig,
    HearingLossModel,
    VariationEncoder,
    build,
    finetune_loss,
    triplet_loss,
    vm_embed,
)

pytestmark = pytest.mark.unit

D = 6
TINY = get_family("hearing_loss").train.tiny()


def _tiny(variant: str, **overrides) -> HearingLossConfig:
    """The spec's tiny config (STYLE 6) on D-dim features, without dropout (deterministic forward passes)."""
    return replace(TINY, **{"variant": variant, "feature_dim": D, "dropout": 0.0, **overrides})


def _batch(b: int = 3, t: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([t, 1, 4][:b])
    return torch.randn(b, t, D, generator=gen), lengths


def _inputs(config: HearingLossConfig) -> dict[str, torch.Tensor]:
    x, lengths = _batch()
    inputs = {"current": x, "current_lengths": lengths}
    if config.uses_anchor:
        anchor, _ = _batch(t=5, seed=1)
        inputs |= {"anchor": anchor, "anchor_lengths": torch.tensor([2, 5, 3])}
    if config.uses_age_input:
        inputs["age_z"] = torch.tensor([-1.0, 0.0, 1.5])
    return inputs


def test_config_defaults_are_the_papers() -> None:
    config = HearingLossConfig()
    assert config.feature_dim == 384
    assert (config.lr, config.batch_size, config.epochs) == (1e-4, 64, 15)
    assert (config.grl_lambda, config.triplet_margin, config.noisy_levels) == (1.0, 1.0, (75,))


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("variant", "marlin_xyz", "valid: marlin, marlin_age"),
        ("gru_hidden", 0, "gru_hidden"),
        ("dropout", 1.0, "dropout"),
        ("grl_lambda", -1.0, "grl_lambda"),
        ("triplet_margin", 0.0, "triplet_margin"),
        ("noisy_levels", (0, 75), "noisy_levels"),
        ("noisy_levels", (), "noisy_levels"),
        ("lr", 0.0, "lr"),
    ],
)
def test_config_rejects_bad_fields(field: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HearingLossConfig(**{field: value})


def test_config_turns_noisy_level_lists_into_tuples() -> None:
    assert HearingLossConfig(noisy_levels=[55, 65, 75]).noisy_levels == (55, 65, 75)


def test_triplet_loss_matches_hand_computed_values() -> None:
    v_a = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    v_p = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]])  # D = 5, 1, 0
    v_n = torch.tensor([[0.0, 1.0], [0.0, 5.0], [0.0, 1.0]])  # D = 1, 5, 1
    # row 0: 1 + 5 - 1 = 5; row 1: 1 + 1 - 5 < 0 -> hinge 0; row 2: 1 + 0 - 1 = 0 (margin exactly met)
    assert triplet_loss(v_a, v_p, v_n).item() == pytest.approx(5.0 / 3)
    assert triplet_loss(v_a[1:], v_p[1:], v_n[1:]).item() == 0.0
    assert triplet_loss(v_a, v_p, v_n, margin=2.0).item() == pytest.approx((6.0 + 0.0 + 1.0) / 3)


def test_triplet_loss_uses_euclidean_not_squared_distance() -> None:
    v = torch.zeros(1, 2)
    # D(a,p) = 2 (squared would be 4), D(a,n) = 2.5: loss 1 + 2 - 2.5 = 0.5
    assert triplet_loss(v, torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.5]])).item() == pytest.approx(
        0.5
    )


def test_triplet_loss_gradient_is_finite_at_zero_distance() -> None:
    v = torch.zeros(2, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(triplet_loss(v, v, v + 1.0), v)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("lambda_", [1.0, 0.5])
def test_grl_is_identity_forward_and_scales_gradient_by_minus_lambda(lambda_: float) -> None:
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    y = GradientReversal(lambda_)(x)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad(y, x, grad_outputs=upstream)
    assert torch.equal(grad, -lambda_ * upstream)
    (grad_fn,) = torch.autograd.grad(GradientReversalFunction.apply(x, lambda_), x, grad_outputs=upstream)
    assert torch.equal(grad_fn, -lambda_ * upstream)


def test_finetune_loss_is_bce_plus_mse() -> None:
    logit = torch.tensor([0.0, 2.0])
    label = torch.tensor([1, 0])
    age_z_hat, age_z = torch.tensor([0.5, -1.0]), torch.tensor([1.5, 1.0])
    bce = (torch.log(torch.tensor(2.0)) + torch.log1p(torch.exp(torch.tensor(2.0)))) / 2
    mse = (1.0**2 + 2.0**2) / 2
    parts = finetune_loss(logit, label, age_z_hat, age_z)
    assert parts["bce"].item() == pytest.approx(bce.item())
    assert parts["mse"].item() == pytest.approx(mse)
    assert parts["loss"].item() == pytest.approx(bce.item() + mse)


def test_finetune_loss_without_age_head_is_bce_only() -> None:
    logit, label = torch.tensor([0.3, -1.2, 2.0]), torch.tensor([1.0, 0.0, 1.0])
    parts = finetune_loss(logit, label)
    assert set(parts) == {"loss", "bce"}
    assert torch.equal(parts["loss"], F.binary_cross_entropy_with_logits(logit, label))
    with pytest.raises(ValueError, match="together"):
        finetune_loss(logit, label, age_z_hat=torch.zeros(3))


def _age_grads(model: HearingLossModel, inputs: dict, age_z: torch.Tensor, through_grl: bool):
    model.zero_grad()
    if through_grl:
        age_z_hat = model(**inputs)["age_z_hat"]
    else:  # the same estimator without its GRL (index 0 of the Sequential)
        embedding = model.variation(
            inputs["current"], inputs["current_lengths"], inputs["anchor"], inputs["anchor_lengths"]
        )
        age_z_hat = model.age_estimator[1](embedding).squeeze(-1)
    finetune_loss(torch.zeros(3), torch.zeros(3), age_z_hat, age_z)["mse"].backward()
    encoder = [p.grad.clone() for p in model.encoder.parameters()]
    estimator = [p.grad.clone() for p in model.age_estimator.parameters()]
    return encoder, estimator


@pytest.mark.parametrize("lambda_", [1.0, 0.25])
def test_abm_reverses_the_age_gradient_into_the_encoder_only(lambda_: float) -> None:
    config = _tiny("marlin_vm_abm", grl_lambda=lambda_)
    model = build(config)
    inputs, age_z = _inputs(config), torch.tensor([2.0, -1.0, 0.5])
    enc_grl, est_grl = _age_grads(model, inputs, age_z, through_grl=True)
    enc_plain, est_plain = _age_grads(model, inputs, age_z, through_grl=False)
    assert any(g.abs().sum() > 0 for g in enc_plain)
    for grl, plain in zip(enc_grl, enc_plain, strict=True):
        torch.testing.assert_close(grl, -lambda_ * plain)
    for grl, plain in zip(est_grl, est_plain, strict=True):
        torch.testing.assert_close(grl, plain)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_forward_with_variable_lengths(variant: str) -> None:
    config = _tiny(variant)
    out = build(config)(**_inputs(config))
    assert out["logit"].shape == (3,)
    assert ("age_z_hat" in out) == (variant == "marlin_vm_abm")
    if "age_z_hat" in out:
        assert out["age_z_hat"].shape == (3,)
    assert out["embedding"].shape == (3, 16 if config.uses_anchor else 8)
    assert all(torch.isfinite(t).all() for t in out.values())


@pytest.mark.parametrize("variant", ["marlin_anchor", "marlin_vm", "marlin_vm_abm"])
def test_anchor_variants_require_the_anchor(variant: str) -> None:
    x, lengths = _batch()
    with pytest.raises(ValueError, match="needs anchor"):
        build(_tiny(variant))(x, lengths)


@pytest.mark.parametrize("variant", ["marlin", "marlin_anchor", "marlin_vm", "marlin_vm_abm"])
def test_age_is_refused_outside_marlin_age(variant: str) -> None:
    config = _tiny(variant)
    with pytest.raises(ValueError, match="must not take age"):
        build(config)(**_inputs(config), age_z=torch.zeros(3))


def test_marlin_age_requires_age_and_single_segment_variants_refuse_an_anchor() -> None:
    x, lengths = _batch()
    with pytest.raises(ValueError, match="needs age_z"):
        build(_tiny("marlin_age"))(x, lengths)
    with pytest.raises(ValueError, match="takes no anchor"):
        build(_tiny("marlin"))(x, lengths, anchor=x, anchor_lengths=lengths)


def test_marlin_age_uses_the_age() -> None:
    model = build(_tiny("marlin_age"))
    x, lengths = _batch()
    young = model(x, lengths, age_z=torch.full((3,), -1.0))["logit"]
    old = model(x, lengths, age_z=torch.full((3,), 1.0))["logit"]
    assert not torch.allclose(young, old)


def test_bad_lengths_are_rejected() -> None:
    x, _ = _batch()
    encoder = FacialEncoder(D, 8)
    with pytest.raises(ValueError, match="lengths"):
        encoder(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="lengths"):
        encoder(x, torch.tensor([8, 1, 2]))


def test_padding_garbage_does_not_change_the_encoding() -> None:
    torch.manual_seed(0)
    encoder = FacialEncoder(D, 8)
    x, lengths = _batch(t=7)
    padded = torch.cat([x, torch.full((3, 5, D), 1e6)], dim=1)
    padded[1, 1:] = float("nan")  # row 1 has one valid frame; everything after it is garbage
    padded[2, 4:] = torch.randn(8, D) * 100
    torch.testing.assert_close(encoder(padded, lengths), encoder(x, lengths))
    # and each row equals the encoding of the unpadded segment alone
    for i, n in enumerate(lengths.tolist()):
        alone = encoder(x[i : i + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(encoder(padded, lengths)[i : i + 1], alone)


def test_variation_encoder_concatenates_a_shared_encoder() -> None:
    torch.manual_seed(0)
    encoder = FacialEncoder(D, 8)
    variation = VariationEncoder(encoder)
    s1, l1 = _batch(seed=1)
    s2, l2 = _batch(seed=2)
    torch.testing.assert_close(variation(s1, l1, s2, l2), torch.cat([encoder(s1, l1), encoder(s2, l2)], -1))
    assert sum(p.numel() for p in variation.parameters()) == sum(p.numel() for p in encoder.parameters())


def test_vm_embed_returns_the_papers_three_pairs() -> None:
    model = build(_tiny("marlin_vm"))
    (s_n, ln), (s_q1, l1), (s_q2, l2) = _batch(seed=1), _batch(seed=2), _batch(seed=3)
    v_a, v_p, v_n = vm_embed(model, s_n, ln, s_q1, l1, s_q2, l2)
    V = model.variation
    torch.testing.assert_close(v_a, V(s_n, ln, s_q1, l1))
    torch.testing.assert_close(v_p, V(s_n, ln, s_q2, l2))
    torch.testing.assert_close(v_n, V(s_q1, l1, s_q2, l2))
    triplet_loss(v_a, v_p, v_n).backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_build_is_seeded_and_vm_weights_transfer_between_anchor_variants() -> None:
    a, b = build(_tiny("marlin_vm", seed=3)), build(_tiny("marlin_vm", seed=3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    abm = build(_tiny("marlin_vm_abm"))
    encoder_state = {k: v for k, v in a.state_dict().items() if k.startswith("variation.")}
    abm.load_state_dict(encoder_state, strict=False)
    assert torch.equal(abm.encoder.gru.weight_ih_l0, a.encoder.gru.weight_ih_l0)
    assert asdict(abm.config)["variant"] == "marlin_vm_abm"
