"""The config (paper defaults) and the networks: content encoder, style encoder, landmark predictor
(paper §3.2-3.3, Table 1) and the U-Net image translator (§3.4)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from models.contract import BaseConfig
from models.face_animation.audio import N_MELS
from models.face_animation.dataset import N_LANDMARKS

# Table 2's rows of this method: full; w/o D_style (no style encoder); w/o L_emotion (style encoder
# trained with the content encoder's loss only, so neither contrastive loss)
VARIANTS = ("full", "no_style", "no_emotion")


@dataclass
class FaceAnimationConfig(BaseConfig):
    """Paper defaults (Table 1, §4.2); choices where it is silent are marked."""

    variant: str = "full"
    mlp_c: tuple[int, ...] = (N_MELS, 256, 161)  # Table 1
    lstm: tuple[int, ...] = (161, 256, 256, 256)  # Table 1: input 161, three layers of 256
    lstm_dropout: float = 0.2  # §4.2
    mlp_e: tuple[int, ...] = (N_MELS, 256, 128, 128)  # Table 1
    mlp_i: tuple[int, ...] = (N_MELS, 256, 128, 128)  # Table 1
    mlp_t: tuple[int, ...] = (256, 512, 256, 2 * N_LANDMARKS)  # Table 1
    # Table 1 lists MLP_s with input 256, but Eq. 8's Concat(E_content, E_style) is 512 wide (NOTES
    # §2.1): choice 512, the rest as Table 1
    mlp_s: tuple[int, ...] = (512, 512, 256, 2 * N_LANDMARKS)
    attention_heads: int = 2  # choice: MakeItTalk's speaker branch (NOTES §2.1) uses 2 heads, N = 2
    attention_layers: int = 2
    image_size: int = 256  # NOTES §2.1: 256² image translation
    unet_channels: int = 64  # choice: pix2pix's ngf
    unet_downs: int = 6  # MakeItTalk's ResUnetGenerator(num_downs=6)
    margin: float = 0.1  # Eq. 5's max(0.1 - d_rp, 0)
    lr: float = 1e-5  # §4.2: Adam, lr 1e-5, weight decay 1e-5
    weight_decay: float = 1e-5
    epochs: int = 100  # choice: per training step (§4.2 gives 60 GPU hours, not epochs)
    batch_size: int = 8  # choice: (V_r, V_s, V_p) triplets per step
    image_frames: int = 8  # choice: frames per utterance per step of the U-Net (step 3)
    es_stride: int = 5  # choice: ES reads every 5th frame (the classifier is the slowest part)

    def __post_init__(self) -> None:
        for name in ("mlp_c", "lstm", "mlp_e", "mlp_i", "mlp_t", "mlp_s"):  # artifacts store lists
            setattr(self, name, tuple(int(d) for d in getattr(self, name)))
        if self.variant not in VARIANTS:
            raise ValueError(f"variant {self.variant!r}: one of {', '.join(VARIANTS)}")
        if self.mlp_c[-1] != self.lstm[0] or self.lstm[-1] != self.mlp_t[0]:
            raise ValueError("mlp_c's output must be the LSTM's input, the LSTM's width MLP_t's input")
        if self.mlp_s[0] != self.lstm[-1] + self.mlp_e[-1] + self.mlp_i[-1]:
            raise ValueError("mlp_s's input is Concat(E_content, E_style) (Eq. 8)")
        if self.image_size % (2**self.unet_downs):
            raise ValueError(f"image_size {self.image_size} must divide by 2^unet_downs")

    @property
    def has_style(self) -> bool:
        return self.variant != "no_style"


def mlp(dims: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with BatchNorm and LeakyReLU after each hidden layer (§4.2; slope 0.2 as MakeItTalk)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers += [nn.BatchNorm1d(b), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


def _per_frame(module: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """``module`` on every mel frame of ``windows`` [N, W, D] -> [N, W, out]."""
    n, w, d = windows.shape
    return module(windows.reshape(n * w, d)).reshape(n, w, -1)


class ContentEncoder(nn.Module):
    """Eq. 1: E_content = LSTM(MLP_c(F_a)), the LSTM over each frame's mel window, its last step kept
    (MakeItTalk's Audio2landmark_content, NOTES §2.1); Eq. 7: D_content = MLP_t(E_content)."""

    def __init__(self, config: FaceAnimationConfig) -> None:
        super().__init__()
        self.mlp_c = mlp(config.mlp_c)
        self.lstm = nn.LSTM(
            config.lstm[0],
            config.lstm[1],
            num_layers=len(config.lstm) - 1,
            batch_first=True,
            dropout=config.lstm_dropout,
        )
        self.mlp_t = mlp(config.mlp_t)

    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """[N, WINDOW, 80] -> E_content [N, 256]."""
        out, _ = self.lstm(_per_frame(self.mlp_c, windows))
        return out[:, -1]


class StyleEncoder(nn.Module):
    """Eqs. 2-4: E_emotion = MLP_e(F_a), E_identity = MLP_i(F_a) per mel frame (averaged over the
    frame's window: choice), E_style = a self-attention encoder [27] over Concat(E_emotion, E_identity)
    along the utterance; Eq. 8: D_style = MLP_s(Concat(E_content, E_style))."""

    def __init__(self, config: FaceAnimationConfig) -> None:
        super().__init__()
        self.mlp_e, self.mlp_i = mlp(config.mlp_e), mlp(config.mlp_i)
        width = config.mlp_e[-1] + config.mlp_i[-1]
        layer = nn.TransformerEncoderLayer(
            width, config.attention_heads, dim_feedforward=2 * width, dropout=0.1, batch_first=True
        )
        self.attention = nn.TransformerEncoder(layer, config.attention_layers, enable_nested_tensor=False)
        self.mlp_s = mlp(config.mlp_s)

    def embeddings(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[N, WINDOW, 80] -> E_emotion [N, 128], E_identity [N, 128]."""
        return _per_frame(self.mlp_e, windows).mean(dim=1), _per_frame(self.mlp_i, windows).mean(dim=1)

    def style(self, emotion: torch.Tensor, identity: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """E_style per frame [N, 256] of the concatenated utterances of ``lengths`` frames each."""
        joined = torch.cat([emotion, identity], dim=1)
        parts = torch.split(joined, lengths)
        padded = nn.utils.rnn.pad_sequence(parts, batch_first=True)
        mask = (
            torch.arange(padded.shape[1], device=joined.device)[None]
            >= torch.tensor(lengths, device=joined.device)[:, None]
        )
        out = self.attention(padded, src_key_padding_mask=mask)
        return torch.cat([out[i, :n] for i, n in enumerate(lengths)])


class LandmarkPredictor(nn.Module):
    """Audio -> landmarks, Eq. 9: L_p = L_0 + D_content + D_style."""

    def __init__(self, config: FaceAnimationConfig) -> None:
        super().__init__()
        self.config = config
        self.content = ContentEncoder(config)
        self.style = StyleEncoder(config) if config.has_style else None

    def forward(self, windows: torch.Tensor, reference: torch.Tensor, lengths: list[int]) -> dict:
        """``windows`` [N, WINDOW, 80] of utterances of ``lengths`` frames (N = sum), ``reference`` L_0
        [len(lengths), 68, 2] -> predicted landmarks [N, 68, 2] and the embeddings the losses read."""
        e_content = self.content.encode(windows)
        displacement = self.content.mlp_t(e_content)
        out: dict = {}
        if self.style is not None:
            emotion, identity = self.style.embeddings(windows)
            e_style = self.style.style(emotion, identity, lengths)
            displacement = displacement + self.style.mlp_s(torch.cat([e_content, e_style], dim=1))
            out.update(emotion=emotion, identity=identity)
        l0 = torch.repeat_interleave(reference, torch.tensor(lengths, device=reference.device), dim=0)
        out["landmarks"] = l0 + displacement.reshape(-1, N_LANDMARKS, 2)
        return out


class UNetBlock(nn.Module):
    """One level of the pix2pix U-Net: down (conv 4×4 stride 2), the inner levels, up, skip concat."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, outermost: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        down = [nn.Conv2d(outer if not outermost else 6, inner, 4, 2, 1)]
        if not outermost:
            down = [nn.LeakyReLU(0.2), *down]
            if sub is not None:
                down.append(nn.BatchNorm2d(inner))
        up_in = inner if sub is None else inner * 2
        up: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(up_in, 3 if outermost else outer, 4, 2, 1)]
        up += [nn.Tanh()] if outermost else [nn.BatchNorm2d(outer)]
        self.down, self.sub, self.up = nn.Sequential(*down), sub, nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        if self.sub is not None:
            y = self.sub(y)
        y = self.up(y)
        return y if self.outermost else torch.cat([x, y], dim=1)


class UNet(nn.Module):
    """§3.4: (landmark image M_t, reference image I) stacked to 6 channels -> the frame I_t, in [-1, 1]."""

    def __init__(self, config: FaceAnimationConfig) -> None:
        super().__init__()
        c, downs = config.unet_channels, config.unet_downs
        widths = [min(c * 2**i, c * 8) for i in range(downs)]
        block = None
        for i in range(downs - 1, 0, -1):
            block = UNetBlock(widths[i - 1], widths[i], block)
        self.net = UNetBlock(6, widths[0], block, outermost=True)

    def forward(self, landmark_image: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([landmark_image, reference], dim=1))


class FaceAnimator(nn.Module):
    """The two stages: audio -> landmarks, then landmark image + reference image -> frames."""

    def __init__(self, config: FaceAnimationConfig) -> None:
        super().__init__()
        self.config = config
        self.landmarks = LandmarkPredictor(config)
        self.unet = UNet(config)


def build(config: FaceAnimationConfig) -> FaceAnimator:
    return FaceAnimator(config)
