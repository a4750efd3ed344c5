"""The expression recognizer's architecture and loss (paper §3.2.3-§3.5), pure PyTorch.

Per frame: z-scored features of the chosen extractors are concatenated and fused by one FC layer
(Eq. 1), a temporal encoder models the segment (LSTM carrying its state across segments, Eq. 2,
or a Transformer encoder over one segment, Eq. 3), and FC blocks classify 8 expressions (§3.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.contract import BaseConfig
from models.expression.features import N_CLASSES, check_features, total_dim

VARIANTS = ("transformer", "lstm")  # paper §3.3.1 / §3.3.2
# paper §4.6: the cross-validated model's features (visual mae, ires100; audio wav2vec, ecapatdnn, hubert)
PAPER_FEATURES = ("mae", "ires100", "wav2vec", "ecapatdnn", "hubert")

LSTMState = tuple[torch.Tensor, torch.Tensor]


@dataclass
class ExpressionConfig(BaseConfig):
    """Architecture and training hyper-parameters; defaults are the paper's where it gives them.

    Choices where the paper is silent: features are z-scored with training-set statistics (the
    extractors' scales differ by orders of magnitude); Transformer feed-forward width 2 x 1024 and
    sinusoidal positions; LSTM one layer of 1024 (the "affine dimension"); the LSTM's R-Drop
    passes both start from the same carried state and the first pass's state is carried on,
    detached (truncated back-propagation through one segment); the Transformer's stride equals
    its segment length and overlapping windows (p < l) average their logits; batches of 32
    segments; the R-Drop KL term covers every real frame (it needs no label), cross-entropy only
    the valid ones (label != -1).
    """

    variant: str = "transformer"  # paper §4.6 cross-validates a Transformer
    features: tuple[str, ...] = PAPER_FEATURES
    fusion_dim: int = 1024  # paper §4.3: "affine dimension is 1024"
    layers: int = 4  # paper §4.3
    heads: int = 4  # paper §4.3
    feedforward_dim: int = 2048  # choice
    lstm_layers: int = 1  # choice
    dropout: float = 0.3  # paper §4.3 (also the classifier's, §3.4)
    segment_length: int = 128  # paper §4.3: l
    stride: int = 128  # paper §3.3.1: p = l for the LSTM; choice for the Transformer
    classifier_hidden: tuple[int, ...] = (512, 256)  # paper §4.3
    rdrop_alpha: float = 5.0  # paper §4.3, Eq. 4
    lr: float = 1e-4  # paper §4.3 (Adam)
    epochs: int = 25  # paper §4.3
    batch_size: int = 32  # choice: segments per step
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        self.features = check_features(self.features, "features")
        self.classifier_hidden = tuple(int(h) for h in self.classifier_hidden)
        for name in (
            "fusion_dim",
            "layers",
            "heads",
            "feedforward_dim",
            "lstm_layers",
            "segment_length",
            "stride",
            "epochs",
            "batch_size",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if any(h < 1 for h in self.classifier_hidden):
            raise ValueError(f"classifier_hidden sizes must be >= 1, got {self.classifier_hidden}")
        if self.fusion_dim % self.heads:
            raise ValueError(f"fusion_dim {self.fusion_dim} must divide by heads {self.heads}")
        if self.stride > self.segment_length:
            raise ValueError(f"stride {self.stride} must be <= segment_length {self.segment_length}")
        if self.variant == "lstm" and self.stride != self.segment_length:
            # paper §3.3.1: no overlap, so the carried state ends right before the next segment
            raise ValueError(
                f"the lstm variant needs stride == segment_length (paper §3.3.1), got {self.stride} != "
                f"{self.segment_length}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.rdrop_alpha < 0:
            raise ValueError(f"rdrop_alpha must be >= 0, got {self.rdrop_alpha}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    @property
    def input_dim(self) -> int:
        return total_dim(self.features)


class SinusoidalPositions(nn.Module):
    def __init__(self, width: int, max_len: int) -> None:
        super().__init__()
        position = torch.arange(max_len)[:, None]
        scale = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
        table = torch.zeros(max_len, width)
        table[:, 0::2] = torch.sin(position * scale)
        table[:, 1::2] = torch.cos(position * scale)[:, : width // 2]
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]]


def classifier(in_dim: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    """Paper §3.4: blocks of {FC, Dropout, ReLU}, then one FC to the 8 classes."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.Dropout(dropout), nn.ReLU()]
        in_dim = width
    layers.append(nn.Linear(in_dim, N_CLASSES))
    return nn.Sequential(*layers)


class ExpressionModel(nn.Module):
    def __init__(self, config: ExpressionConfig) -> None:
        super().__init__()
        self.config = config
        # z-scoring statistics of the training frames, saved with the weights
        self.register_buffer("feature_mean", torch.zeros(config.input_dim))
        self.register_buffer("feature_std", torch.ones(config.input_dim))
        self.fusion = nn.Linear(config.input_dim, config.fusion_dim)  # paper: Eq. 1
        if config.variant == "lstm":
            self.encoder: nn.Module = nn.LSTM(
                config.fusion_dim, config.fusion_dim, num_layers=config.lstm_layers, batch_first=True
            )
        else:
            self.positions = SinusoidalPositions(config.fusion_dim, config.segment_length)
            layer = nn.TransformerEncoderLayer(
                config.fusion_dim,
                config.heads,
                config.feedforward_dim,
                dropout=config.dropout,
                batch_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.head = classifier(config.fusion_dim, config.classifier_hidden, config.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState | None]:
        """``x`` [B, T, D] features (T <= segment length), ``mask`` [B, T] real frames ->
        (logits [B, T, 8], the LSTM's final state or None).

        Padding sits at the end of a video's last segment only, so the LSTM state it pollutes is
        never carried on.
        """
        if x.dim() != 3 or x.shape[-1] != self.config.input_dim:
            raise ValueError(f"x must be [B, T, {self.config.input_dim}], got {tuple(x.shape)}")
        if x.shape[1] > self.config.segment_length:
            raise ValueError(f"segments hold at most {self.config.segment_length} frames, got {x.shape[1]}")
        fused = self.fusion((x - self.feature_mean) / self.feature_std)  # paper: Eq. 1
        if self.config.variant == "lstm":
            encoded, state = self.encoder(fused, state)  # paper: Eq. 2, g_i, h_i = LSTM(f_i, h_{i-1})
        else:
            # paper: Eq. 3, g_i = TRMEncoder(f_i), within one segment
            encoded = self.encoder(self.positions(fused), src_key_padding_mask=~mask)
            state = None
        return self.head(encoded), state


def build(config: ExpressionConfig) -> ExpressionModel:
    return ExpressionModel(config)


def rdrop_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    labels: torch.Tensor,
    mask: torch.Tensor,
    alpha: float,
    totals: tuple[float, float] | None = None,
) -> dict[str, torch.Tensor]:
    """Paper Eq. 4: mean of the two passes' CE plus alpha times the mean of both KL directions.

    ``logits*`` [B, T, C], ``labels`` [B, T] (-1: no label), ``mask`` [B, T] real frames. CE is
    averaged over labelled frames, KL (summed over classes) over real frames. ``totals`` (labelled,
    real frames of the whole step across DDP ranks) replaces this batch's counts as the divisors, so
    the ranks' losses add up to the loss of the step's union of frames.
    """
    labelled = mask & (labels >= 0)
    log_p1 = F.log_softmax(logits1[mask], dim=-1)
    log_p2 = F.log_softmax(logits2[mask], dim=-1)
    # KL(p1 || p2) and KL(p2 || p1), summed over classes, per frame
    kl12 = (log_p1.exp() * (log_p1 - log_p2)).sum(-1)
    kl21 = (log_p2.exp() * (log_p2 - log_p1)).sum(-1)
    if totals is None:
        ce1 = F.cross_entropy(logits1[labelled], labels[labelled]) if labelled.any() else logits1.sum() * 0
        ce2 = F.cross_entropy(logits2[labelled], labels[labelled]) if labelled.any() else logits2.sum() * 0
        kl12, kl21 = kl12.mean(), kl21.mean()
    else:
        # paper: Eq. 4's means over the union of all ranks' frames (no frames: the sums are 0)
        n_labelled, n_real = (max(float(total), 1.0) for total in totals)
        ce1 = F.cross_entropy(logits1[labelled], labels[labelled], reduction="sum") / n_labelled
        ce2 = F.cross_entropy(logits2[labelled], labels[labelled], reduction="sum") / n_labelled
        kl12, kl21 = kl12.sum() / n_real, kl21.sum() / n_real
    ce = 0.5 * (ce1 + ce2)
    kl = 0.5 * (kl12 + kl21)
    return {"loss": ce + alpha * kl, "ce": ce, "kl": kl}


class RDropPair(nn.Module):
    """The two passes of an R-Drop step (Eq. 4) as one forward, which is what DDP expects per backward."""

    def __init__(self, model: ExpressionModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, LSTMState | None]:
        logits1, carried = self.model(x, mask, state)
        logits2, _ = self.model(x, mask, state)  # dropout differs between the passes
        return logits1, logits2, carried
