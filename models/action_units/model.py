"""RRL (paper §2): the encoder f, the BYOL online / target pair for pre-training, and the AU detector
(the frozen encoder with the downstream linear classifier, §3.1), pure PyTorch.

f (Fig. 1): a Swin backbone gives the pooled global vector o_g and the stage-3 map; the map times
each AU's attention map i_k goes through a small CNN (the "local feature learning network") to the
AU's local vector o_k, as wide as o_g (Eq. 5 takes their dot product). g (projector) and q
(predictor) are BYOL's MLPs (NOTES §1.3: Linear 4096, BN, ReLU, Linear 256), shared by the global
and the K local vectors (the paper writes one g and one q for both).

Choices where the paper is silent: the local CNN is two 3x3 conv-BN-ReLU layers (stage-3 width,
then o_g's width) and average pooling; the two views' losses are symmetrised (BYOL); the linear
probe reads [o_g, o_1 .. o_K] (everything of f), through BatchNorm and a bias-free linear layer
(§3.1) to one logit per AU; decision threshold 0.5.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.action_units import losses
from models.action_units.aus import LAYOUT_AUS
from models.action_units.swin import Swin
from models.contract import BaseConfig

VARIANTS = ("global", "global_local", "global_ot", "rrl")  # paper Table 3's rows
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class AUConfig(BaseConfig):
    """Pre-training and probe hyper-parameters; defaults are the paper's (§3.1) where it gives them."""

    variant: str = "rrl"  # Table 3: global; + local; + OT; all
    layout: str = "bp4d"  # the AUs: BP4D's 12 or DISFA's 8 (paper §3.1)
    image_size: int = 224  # paper §3.1
    patch: int = 4  # Swin-T (NOTES §1.2)
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    heads: tuple[int, ...] = (3, 6, 12, 24)
    window: int = 7
    projector_hidden: int = 4096  # BYOL (NOTES §1.3)
    projector_dim: int = 256
    alphas: tuple[float, ...] = (0.4, 0.6, 1.0)  # paper §3.1: alpha_1..3 of Eq. 7
    ema_base: float = 0.98  # paper §3.1: m from 0.98 to 1.0
    # paper §3.1 writes lr = 0.05 * batch / 256; DINO's recipe it follows is 0.0005 (NOTES §1.3: a typo)
    lr_base: float = 0.0005
    weight_decay: tuple[float, ...] = (0.04, 0.4)  # paper §3.1: cosine from 0.04 to 0.4
    epochs: int = 100  # choice: pre-training epochs (the paper gives none)
    batch_size: int = 256  # choice
    probe_epochs: int = 20  # choice
    probe_lr: float = 1e-3  # choice (Adam)
    probe_batch_size: int = 256  # choice
    threshold: float = 0.5  # choice
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.layout not in LAYOUT_AUS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUT_AUS)}, got {self.layout!r}")
        self.depths, self.heads = tuple(int(d) for d in self.depths), tuple(int(h) for h in self.heads)
        self.alphas = tuple(float(a) for a in self.alphas)
        self.weight_decay = tuple(float(w) for w in self.weight_decay)
        if len(self.alphas) != 3 or len(self.weight_decay) != 2:
            raise ValueError("alphas has 3 entries (Eq. 7) and weight_decay 2 (start, end)")
        if self.image_size % (self.patch * 8) or self.image_size % 16:
            raise ValueError(f"image_size {self.image_size} must divide by patch * 8 and by 16")
        for name in ("epochs", "batch_size", "probe_epochs", "probe_batch_size", "embed_dim", "window"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.ema_base < 1.0:
            raise ValueError(f"ema_base must be in [0, 1), got {self.ema_base}")

    @property
    def aus(self) -> tuple[int, ...]:
        return LAYOUT_AUS[self.layout]

    @property
    def weights(self) -> tuple[float, float, float]:
        """Eq. 7's alphas with the terms this variant leaves out set to 0."""
        a1, a2, a3 = self.alphas
        return (
            a1,
            a2 if self.variant in ("global_local", "rrl") else 0.0,
            a3 if self.variant in ("global_ot", "rrl") else 0.0,
        )


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """BYOL's projector / predictor: Linear, BN, ReLU, Linear without bias (NOTES §1.3)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim, bias=False),
    )


class Encoder(nn.Module):
    """f: images [B, 3, S, S], attention maps [B, K, S/16, S/16] -> o_g [B, D], o_l [B, K, D]."""

    def __init__(self, config: AUConfig) -> None:
        super().__init__()
        self.backbone = Swin(
            config.image_size, config.patch, config.embed_dim, config.depths, config.heads, config.window
        )
        width, dim = self.backbone.stage3_dim, self.backbone.dim
        self.local = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
        )
        self.dim, self.k = dim, len(config.aus)

    def forward(self, images: torch.Tensor, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stage3, global_vector = self.backbone(images)
        b, c, g, _ = stage3.shape
        if maps.shape != (b, self.k, g, g):
            raise ValueError(f"attention maps must be [{b}, {self.k}, {g}, {g}], got {tuple(maps.shape)}")
        regions = (stage3[:, None] * maps[:, :, None]).reshape(b * self.k, c, g, g)  # paper §2.2: fuse
        local = self.local(regions).mean(dim=(2, 3)).view(b, self.k, self.dim)
        return global_vector, local


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, S, S, 3] -> float [B, 3, S, S] in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div(255.0)


def standardise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device)[None, :, None, None]
    std = torch.tensor(IMAGENET_STD, device=x.device)[None, :, None, None]
    return (x - mean) / std


class RRL(nn.Module):
    """The pre-training pair: online (f_theta, g_theta, q_theta) and target (f_xi, g_xi), paper §2.1."""

    def __init__(self, config: AUConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.projector = mlp(self.encoder.dim, config.projector_hidden, config.projector_dim)
        self.predictor = mlp(config.projector_dim, config.projector_hidden, config.projector_dim)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.target_projector = copy.deepcopy(self.projector).requires_grad_(False)

    def online(self) -> list[nn.Module]:
        """What the optimiser trains: f_theta, g_theta and q_theta (the target follows by EMA)."""
        return [self.encoder, self.projector, self.predictor]

    def update_target(self, m: float) -> None:
        losses.ema_update(self.target_encoder, self.encoder, m)  # paper: Eq. 1
        losses.ema_update(self.target_projector, self.projector, m)

    def _project(self, projector: nn.Module, global_vector: torch.Tensor, local: torch.Tensor):
        b, k, d = local.shape
        z = projector(torch.cat([global_vector, local.reshape(b * k, d)]))
        return z[:b], z[b:].view(b, k, -1)

    def direction(self, x_online, maps_online, x_target, maps_target, relation) -> dict[str, torch.Tensor]:
        """The losses with the online network on one view and the target on the other."""
        o_g, o_l = self.encoder(x_online, maps_online)
        z_g, z_l = self._project(self.projector, o_g, o_l)
        b, k, d = z_l.shape
        q = self.predictor(torch.cat([z_g, z_l.reshape(b * k, d)]))
        q_g, q_l = q[:b], q[b:].view(b, k, -1)
        with torch.no_grad():
            t_g, t_l = self.target_encoder(x_target, maps_target)
            p_g, p_l = self._project(self.target_projector, t_g, t_l)
        return {
            "global": losses.global_loss(p_g, q_g),  # paper: Eq. 2 (g_xi)
            "local": losses.local_loss(q_l, p_l, q_g),  # paper: Eq. 3
            "relation": losses.relation_loss(o_l, o_g, t_l, t_g, relation),  # paper: Eqs. 4-6
        }

    def forward(self, view1, maps1, view2, maps2, relation) -> dict[str, torch.Tensor]:
        """Eq. 7 over both directions (symmetrised): loss and its terms."""
        one = self.direction(view1, maps1, view2, maps2, relation)
        two = self.direction(view2, maps2, view1, maps1, relation)
        terms = {key: 0.5 * (one[key] + two[key]) for key in one}
        a1, a2, a3 = self.config.weights
        return {"loss": a1 * terms["global"] + a2 * terms["local"] + a3 * terms["relation"], **terms}


class AUDetector(nn.Module):
    """The downstream model (§3.1): frozen f, BatchNorm and a bias-free linear layer, one logit per AU."""

    def __init__(self, config: AUConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        width = self.encoder.dim * (1 + self.encoder.k)
        self.probe = nn.Sequential(nn.BatchNorm1d(width), nn.Linear(width, self.encoder.k, bias=False))
        self.register_buffer("relation", torch.eye(self.encoder.k))  # M of the training folds (Fig. 2)

    def features(self, images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """uint8 images [B, S, S, 3] and maps -> [o_g, o_1 .. o_K] flattened [B, D (1 + K)]."""
        global_vector, local = self.encoder(standardise(normalise(images)), maps)
        return torch.cat([global_vector, local.flatten(1)], dim=1)

    def forward(self, images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return self.probe(self.features(images, maps))


def build(config: AUConfig) -> AUDetector:
    return AUDetector(config)


def probe_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-AU binary cross-entropy (§3.1) over coded labels only (uncoded = -1 masked)."""
    coded = labels >= 0
    if not coded.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[coded], labels[coded].float())
