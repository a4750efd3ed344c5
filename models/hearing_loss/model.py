"""The hearing-loss detector's architecture and losses (paper §3.2), pure PyTorch.

E (facial encoder, §3.2.1) is a one-layer GRU with average pooling over Marlin-Small frame
features; V (variation encoder, §3.2.2) concatenates E of two segments with a shared E; the
heads per variant follow §4.4 / Table 2. No training loop here: that lives beside this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.common.layers import GradientReversal
from models.contract import BaseConfig
from models.hearing_loss.dataset import FEATURE_DIM

VARIANTS = ("marlin", "marlin_age", "marlin_anchor", "marlin_vm", "marlin_vm_abm")  # paper §4.4, Table 2
ANCHOR_VARIANTS = ("marlin_anchor", "marlin_vm", "marlin_vm_abm")  # take V(current, anchor)
VM_VARIANTS = ("marlin_vm", "marlin_vm_abm")  # pre-trained with variation modeling (§3.2.2)
NOISY_LEVELS_DBA = (55, 65, 75)  # paper §4.1: the non-quiet levels


@dataclass
class HearingLossConfig(BaseConfig):
    """Architecture and training hyper-parameters; defaults are the paper's where it gives them."""

    variant: str = "marlin_vm_abm"  # paper §4.4: the full model, best in Table 2
    feature_dim: int = FEATURE_DIM  # paper §3.2.1: Marlin-Small features
    gru_hidden: int = 256  # choice: paper gives no size
    classifier_hidden: int = 128  # choice: paper gives no size
    age_hidden: int = 128  # choice: paper gives no size
    dropout: float = 0.1  # choice: paper gives no rate
    grl_lambda: float = 1.0  # paper §3.2.3: GRL multiplies the gradient by -1
    triplet_margin: float = 1.0  # paper Eq. 1
    noisy_levels: tuple[int, ...] = (75,)  # paper Fig. 6: 75 dBA alone pre-trains best
    lr: float = 1e-4  # paper §4.3 (AdamW)
    batch_size: int = 64  # paper §4.3
    epochs: int = 15  # paper §4.3
    # choice: the paper gives 15 epochs for training and no separate pre-training length; VM
    # pre-training gets the same 15 epochs, each of as many triplets as there are training segments
    vm_epochs: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; valid: {', '.join(VARIANTS)}")
        for name in (
            "feature_dim",
            "gru_hidden",
            "classifier_hidden",
            "age_hidden",
            "batch_size",
            "epochs",
            "vm_epochs",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.grl_lambda < 0:
            raise ValueError(
                f"grl_lambda must be >= 0 (the GRL itself supplies the sign), got {self.grl_lambda}"
            )
        if self.triplet_margin <= 0:
            raise ValueError(f"triplet_margin must be > 0, got {self.triplet_margin}")
        # params.yaml gives lists; keep a tuple so the config stays hashable and comparable
        self.noisy_levels = tuple(int(level) for level in self.noisy_levels)
        if not self.noisy_levels or not set(self.noisy_levels) <= set(NOISY_LEVELS_DBA):
            raise ValueError(
                f"noisy_levels must be a non-empty subset of {NOISY_LEVELS_DBA}, got {self.noisy_levels}"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    @property
    def uses_anchor(self) -> bool:
        return self.variant in ANCHOR_VARIANTS

    @property
    def uses_age_input(self) -> bool:
        return self.variant == "marlin_age"

    @property
    def has_age_head(self) -> bool:
        return self.variant == "marlin_vm_abm"

    @property
    def pretrains_vm(self) -> bool:
        return self.variant in VM_VARIANTS


def _check_segments(x: torch.Tensor, lengths: torch.Tensor, name: str) -> None:
    if x.dim() != 3:
        raise ValueError(f"{name} must be [B, T, D], got shape {tuple(x.shape)}")
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"{name}_lengths must be [B] = [{x.shape[0]}], got shape {tuple(lengths.shape)}")
    if bool((lengths < 1).any()) or bool((lengths > x.shape[1]).any()):
        raise ValueError(f"{name}_lengths must lie in [1, T={x.shape[1]}], got {lengths.tolist()}")


class FacialEncoder(nn.Module):
    """E (paper §3.2.1): one-layer GRU over frame features, then average pooling over valid steps."""

    def __init__(self, feature_dim: int = FEATURE_DIM, hidden: int = 256) -> None:
        super().__init__()
        self.gru = nn.GRU(feature_dim, hidden, num_layers=1, batch_first=True)
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` [B, T, D] right-padded, ``lengths`` [B] valid frames -> [B, hidden]."""
        _check_segments(x, lengths, "segment")
        lengths = lengths.to(x.device)
        # A unidirectional GRU's output at step t depends only on steps <= t, so right padding
        # cannot reach valid steps; masking the mean is enough and avoids packing's sort overhead.
        out, _ = self.gru(x)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        # where, not multiply: padding may hold NaN/inf garbage and 0 * NaN is NaN
        out = torch.where(valid[..., None], out, torch.zeros((), dtype=out.dtype, device=out.device))
        return out.sum(dim=1) / lengths[:, None].to(out.dtype)


class VariationEncoder(nn.Module):
    """V (paper §3.2.2): ``Concat(E(s1), E(s2))`` with one shared E."""

    def __init__(self, encoder: FacialEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.out_dim = 2 * encoder.out_dim

    def forward(
        self, s1: torch.Tensor, s1_lengths: torch.Tensor, s2: torch.Tensor, s2_lengths: torch.Tensor
    ) -> torch.Tensor:
        return torch.cat([self.encoder(s1, s1_lengths), self.encoder(s2, s2_lengths)], dim=-1)


def _mlp(in_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    # paper: no head architecture given; one hidden layer is the smallest non-linear head
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


class HearingLossModel(nn.Module):
    """Encoder plus heads for one of the paper's variants (§4.4, Table 2).

    Outputs a dict: ``logit`` [B] (hearing loss), ``embedding`` (the representation fed to the
    classifier, before any age input; for t-SNE as in Fig. 4) and, for ``marlin_vm_abm``,
    ``age_z_hat`` [B] (z-scored age predicted behind the GRL).
    """

    def __init__(self, config: HearingLossConfig) -> None:
        super().__init__()
        self.config = config
        # Every variant keeps E inside V so VM pre-trained weights share one state-dict layout.
        self.variation = VariationEncoder(FacialEncoder(config.feature_dim, config.gru_hidden))
        embed_dim = self.variation.out_dim if config.uses_anchor else self.variation.encoder.out_dim
        # paper §4.4 Marlin+Age: the age is concatenated to the encoded features
        classifier_in = embed_dim + (1 if config.uses_age_input else 0)
        self.classifier = _mlp(classifier_in, config.classifier_hidden, config.dropout)
        self.age_estimator: nn.Module | None = None
        if config.has_age_head:
            # paper §3.2.3: the GRL sits at the beginning of the age estimator
            self.age_estimator = nn.Sequential(
                GradientReversal(config.grl_lambda), _mlp(embed_dim, config.age_hidden, config.dropout)
            )

    @property
    def encoder(self) -> FacialEncoder:
        return self.variation.encoder

    def forward(
        self,
        current: torch.Tensor,
        current_lengths: torch.Tensor,
        anchor: torch.Tensor | None = None,
        anchor_lengths: torch.Tensor | None = None,
        age_z: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        variant = self.config.variant
        if self.config.uses_anchor:
            if anchor is None or anchor_lengths is None:
                raise ValueError(
                    f"variant {variant} needs anchor and anchor_lengths (the session's first quiet segment)"
                )
            embedding = self.variation(current, current_lengths, anchor, anchor_lengths)
        else:
            if anchor is not None or anchor_lengths is not None:
                raise ValueError(f"variant {variant} takes no anchor; only {', '.join(ANCHOR_VARIANTS)} do")
            embedding = self.encoder(current, current_lengths)
        features = embedding
        if self.config.uses_age_input:
            if age_z is None:
                raise ValueError("variant marlin_age needs age_z (z-scored age) as input")
            if age_z.shape != (current.shape[0],):
                raise ValueError(f"age_z must be [B] = [{current.shape[0]}], got shape {tuple(age_z.shape)}")
            features = torch.cat([embedding, age_z.to(embedding.dtype)[:, None]], dim=-1)
        elif age_z is not None:
            # paper §3.2: inference needs no age; only the Marlin+Age ablation (§4.4) may see it
            raise ValueError(f"variant {variant} must not take age as input; only marlin_age does")
        out = {"logit": self.classifier(features).squeeze(-1), "embedding": embedding}
        if self.age_estimator is not None:
            out["age_z_hat"] = self.age_estimator(embedding).squeeze(-1)
        return out


def build(config: HearingLossConfig) -> HearingLossModel:
    """The model for ``config.variant``, seeded by ``config.seed`` so initial weights are reproducible."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return HearingLossModel(config)


def vm_embed(
    model: HearingLossModel | VariationEncoder,
    s_n: torch.Tensor,
    n_lengths: torch.Tensor,
    s_q1: torch.Tensor,
    q1_lengths: torch.Tensor,
    s_q2: torch.Tensor,
    q2_lengths: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(v_a, v_p, v_n) = (V(s_n, s_q1), V(s_n, s_q2), V(s_q1, s_q2)) (paper §3.2.2)."""
    variation = model.variation if isinstance(model, HearingLossModel) else model
    # E is shared and deterministic given its input (a one-layer GRU has no dropout), so encode
    # each segment once instead of twice: same V values, half the GRU work
    e_n = variation.encoder(s_n, n_lengths)
    e_q1 = variation.encoder(s_q1, q1_lengths)
    e_q2 = variation.encoder(s_q2, q2_lengths)
    return torch.cat([e_n, e_q1], -1), torch.cat([e_n, e_q2], -1), torch.cat([e_q1, e_q2], -1)


def triplet_loss(
    v_a: torch.Tensor, v_p: torch.Tensor, v_n: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """Paper Eq. 1: mean over the batch of max(margin + D(v_a, v_p) - D(v_a, v_n), 0), D Euclidean."""
    d_pos = torch.linalg.vector_norm(v_a - v_p, dim=-1)  # paper: Euclidean distance, not squared
    d_neg = torch.linalg.vector_norm(v_a - v_n, dim=-1)
    return torch.clamp(margin + d_pos - d_neg, min=0.0).mean()


def finetune_loss(
    logit: torch.Tensor,
    label: torch.Tensor,
    age_z_hat: torch.Tensor | None = None,
    age_z: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Paper §3.2.3, one-stage: L = L_B (BCE) + L_M (MSE on z-scored age, §4.3); L = L_B without an age head.

    Returns ``{"loss", "bce"}`` plus ``"mse"`` when the age head is used.
    """
    if (age_z_hat is None) != (age_z is None):
        raise ValueError("age_z_hat and age_z must be given together (age head) or both omitted")
    bce = F.binary_cross_entropy_with_logits(logit, label.to(logit.dtype))
    if age_z_hat is None:
        return {"loss": bce, "bce": bce}
    # The GRL makes the encoder maximise this term while the age estimator minimises it; the sum
    # itself carries a plus sign (paper §3.2.3)
    mse = F.mse_loss(age_z_hat, age_z.to(age_z_hat.dtype))
    return {"loss": bce + mse, "bce": bce, "mse": mse}
