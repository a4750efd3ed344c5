"""Image2Audio's networks (paper §2): the UNIT translation unit and the K+1 classifier Dis_t.

Domains (paper §2.4): s is the IFER face image, t the audio spectrogram; GAN_{s->t} = (Enc_s, Dec_t,
Dis_t) turns faces into spectrograms. (§2.1 names the two VAEs the other way round once; §2.4's
roles are the ones used.) UNIT (Liu et al. 2017; NOTES-wave2 §3.1): each domain has its own
front-end and back-end, and the encoders' last residual block and the generators' first residual
block are shared, so both domains meet in one latent grid. Faces (64 x 64) and spectrograms
(156 x 64) differ in shape; choice (NOTES §3.1): each front-end resizes its feature map to one
common 16 x 16 grid and each back-end resizes it back. z = mu + N(0, I) (UNIT's unit-variance
noise layer), so the KL term is mean(mu^2).

Dis_t (§2.1, Bad-GAN [9], NOTES §3.2) is the spectrogram classifier with K + 1 outputs: K class
logits and the fake class's logit fixed at 0, so P(real | x) = sigmoid(logsumexp(l)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.audio_emotion.corpus import CLASSES, CORPORA, CREMA_D
from models.audio_emotion.spectrogram import SHAPE
from models.contract import BaseConfig

# Table 1's rows: Base (labelled audio only), -Low-Rel (D_t + high-density translations), -Low (and
# the reliability path), -High-Rel (low-density translations as D_g only), All
VARIANTS = ("base", "low_rel", "low", "high_rel", "all")
SETTINGS = ("UP", "P")  # Table 1: unpaired, paired (L1 translation losses, §2.4)
GRID = 16  # the common latent grid (choice)


def uses(variant: str) -> dict[str, bool]:
    """Which of the three augmentation sources (§2.4) a Table 1 row uses."""
    return {
        "translation": variant != "base",
        "high": variant in ("low_rel", "low", "all"),  # densest share of translations into D_t
        "low": variant in ("high_rel", "all"),  # the rest as D_g, Dis_t's fake class
        "reliability": variant in ("low", "all"),  # D_u labelled along reliability paths
    }


@dataclass
class AudioEmotionConfig(BaseConfig):
    """Defaults are the paper's (or its sources', NOTES-wave2 §3) where given; the rest are choices."""

    variant: str = "all"  # Table 1: All, the paper's method
    setting: str = "UP"
    corpus: str = CREMA_D
    image_size: int = 64  # choice: IFER faces in gray at 64 x 64
    channels: int = 32  # choice: front-end width; the latent grid has 2x as many channels
    classifier_channels: int = 32  # choice
    dropout: float = 0.3  # choice: Dis_t's head
    # UNIT's weights (NOTES §3.1: the 2018 code's ratios; the UNIT paper's lambda_0..4 = 10, 0.1, 100,
    # 0.1, 100 are the same ratios x 10)
    gan_weight: float = 1.0
    recon_weight: float = 10.0
    kl_weight: float = 0.01
    cycle_recon_weight: float = 10.0
    cycle_kl_weight: float = 0.01
    paired_weight: float = 10.0  # setting P's L1 terms replace the GAN terms: choice, the recon weight
    lr: float = 1e-4  # NOTES §3.1: Adam 1e-4, betas (0.5, 0.999), weight decay 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 32  # choice
    epochs: int = 100  # rounds of co-training (§2.2; choice: the paper gives no count)
    epsilon_max: float = 0.8  # §2.2: the densest share sent to D_t rises from 0 to 0.8
    iwae_samples: int = 16  # choice: importance samples of the density (Burda evaluates with 5000)
    laplace_scale: float = 1.0  # NOTES §3.3: p(x|z) Laplace (L1 reconstruction); choice of scale
    entropy_weight: float = 1.0  # Eq. 9: the conditional-entropy term has unit weight
    smooth_weight: float = 0.1  # Eq. 9's lambda (choice)
    graph_beta: float = 0.5  # §2.3: edge when ||f_i - f_j||^2 <= beta (L2-normalized features; choice)
    graph_gamma: float = 1.0  # §2.3: W_ij = exp(-gamma ||f_i - f_j||^2) (choice)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; valid: {', '.join(VARIANTS)}")
        if self.setting not in SETTINGS:
            raise ValueError(f"unknown setting {self.setting!r}; valid: {', '.join(SETTINGS)}")
        if self.corpus not in CORPORA:
            raise ValueError(f"unknown corpus {self.corpus!r}; valid: {', '.join(CORPORA)}")
        for name in ("image_size", "channels", "classifier_channels", "batch_size", "epochs", "iwae_samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.image_size % 4:
            raise ValueError(f"image_size must divide by 4, got {self.image_size}")
        if not 0.0 <= self.epsilon_max <= 1.0:
            raise ValueError(f"epsilon_max must lie in [0, 1], got {self.epsilon_max}")

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES[self.corpus]


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FrontEnd(nn.Module):
    """A domain's private encoder layers: two stride-2 convolutions, resized to the latent grid, a
    residual block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, channels, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(channels, 2 * channels, 4, 2, 1)
        )
        self.block = ResBlock(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.convs(x[:, None]), 0.2)
        return self.block(F.interpolate(h, size=(GRID, GRID), mode="bilinear", align_corners=False))


class BackEnd(nn.Module):
    """A domain's private generator layers: a residual block, resized to a quarter of the output,
    two stride-2 transposed convolutions."""

    def __init__(self, channels: int, shape: tuple[int, int], bounded: bool) -> None:
        super().__init__()
        self.shape, self.bounded = shape, bounded
        self.block = ResBlock(2 * channels)
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(channels, 1, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        quarter = (self.shape[0] // 4, self.shape[1] // 4)
        h = F.interpolate(self.block(z), size=quarter, mode="bilinear", align_corners=False)
        out = self.deconvs(h)[:, 0]
        return torch.tanh(out) if self.bounded else out  # faces in [-1, 1]; spectrograms z-scored


class UNIT(nn.Module):
    """Two coupled VAE-GANs: private front/back ends, one shared encoder block and one shared
    generator block (NOTES §3.1)."""

    def __init__(self, config: AudioEmotionConfig) -> None:
        super().__init__()
        c, size = config.channels, config.image_size
        self.front = nn.ModuleDict({"s": FrontEnd(c), "t": FrontEnd(c)})
        self.shared_encoder = ResBlock(2 * c)
        self.shared_generator = ResBlock(2 * c)
        self.back = nn.ModuleDict(
            {"s": BackEnd(c, (size, size), bounded=True), "t": BackEnd(c, SHAPE, bounded=False)}
        )

    def encode(self, x: torch.Tensor, domain: str) -> torch.Tensor:
        """The latent mean mu of ``x`` in ``domain`` (s or t): [B, 2c, 16, 16]."""
        return self.shared_encoder(self.front[domain](x))

    def decode(self, z: torch.Tensor, domain: str) -> torch.Tensor:
        return self.back[domain](self.shared_generator(z))

    @staticmethod
    def sample(mu: torch.Tensor) -> torch.Tensor:
        return mu + torch.randn_like(mu)  # UNIT's Gaussian noise layer: unit variance


class SpectrogramClassifier(nn.Module):
    """Dis_t: convolutional features (the graph's and FID's f(x)) and K class logits."""

    def __init__(self, config: AudioEmotionConfig) -> None:
        super().__init__()
        c = config.classifier_channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1),
            nn.BatchNorm2d(4 * c),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(4 * c, len(config.classes)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z-scored spectrograms [B, 156, 64] -> (K logits, features [B, 4c])."""
        f = self.features(x[:, None])
        return self.head(f), f


class ImageDiscriminator(nn.Module):
    """Dis_s: a regular real / fake discriminator on faces (§2.4)."""

    def __init__(self, config: AudioEmotionConfig) -> None:
        super().__init__()
        c = config.channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, None])[:, 0]


class Image2Audio(nn.Module):
    """The whole model: the translation unit, Dis_s, Dis_t, and the training spectrograms' mean and
    std (buffers) that z-score every spectrogram before it meets a network."""

    def __init__(self, config: AudioEmotionConfig) -> None:
        super().__init__()
        self.config = config
        self.unit = UNIT(config)
        self.dis_s = ImageDiscriminator(config)
        self.dis_t = SpectrogramClassifier(config)
        self.register_buffer("spec_mean", torch.zeros(()))
        self.register_buffer("spec_std", torch.ones(()))

    def normalize(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return (spectrograms - self.spec_mean) / self.spec_std

    def classify(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """Raw 156 x 64 spectrograms -> K class logits (the served model)."""
        return self.dis_t(self.normalize(spectrograms))[0]

    def translate(self, faces: torch.Tensor) -> torch.Tensor:
        """Faces -> z-scored spectrograms through Enc_s, the shared latent, Dec_t (GAN_{s->t})."""
        return self.unit.decode(self.unit.sample(self.unit.encode(faces, "s")), "t")


def build(config: AudioEmotionConfig) -> Image2Audio:
    return Image2Audio(config)
