"""A MARLIN-compatible ViT video encoder in plain PyTorch (paper §3.2.1: Marlin-Small features).

Written from the architecture description of MARLIN (Cai et al., CVPR 2023) so that the encoder part
of the public checkpoints (``marlin_vit_small_ytf.{encoder,full}.pt``) loads with ``strict=True``;
the ``marlin-pytorch`` package itself is CC BY-NC and also pulls in torchvision, so it is not used.

Input: clips ``[B, 3, n_frames, H, W]``, RGB in [0, 1] (MARLIN divides uint8 frames by 255 and
applies no mean/std normalisation). A clip becomes ``n_frames / tubelet_size × (H / patch)²``
tokens (1568 for 16 × 224²), a fixed sine-cosine positional table is added, and pre-norm
transformer blocks follow. Weights are only read from a local file: nothing is downloaded.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)

# Where the encoder's tensors sit in the checkpoints MARLIN publishes: ``Marlin`` modules keep the
# encoder under ``encoder.`` (next to ``decoder.``, ``enc_dec_proj.`` and, in training checkpoints,
# ``discriminator.``); the Hugging Face wrapper nests the same module under ``marlin.``.
ENCODER_PREFIXES = ("encoder.", "marlin.encoder.")


@dataclass(frozen=True)
class MarlinConfig:
    """MARLIN ViT-Small (``marlin_vit_small_ytf``); the other sizes differ in width, depth and heads.

    Attention always has the q/v biases of the released checkpoints (their ``qkv_bias=True``).
    """

    img_size: int = 224  # paper §4.3: 224 × 224 face crops
    patch_size: int = 16
    n_frames: int = 16  # frames per clip
    tubelet_size: int = 2  # frames per token
    embed_dim: int = 384  # paper §3.2.1: Marlin-Small, 384-d features
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.n_frames % self.tubelet_size:
            raise ValueError(
                f"n_frames {self.n_frames} is not a multiple of tubelet_size {self.tubelet_size}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not a multiple of num_heads {self.num_heads}")

    @property
    def grid(self) -> tuple[int, int]:
        """Tokens per clip as (tubelets, patches per frame)."""
        return self.n_frames // self.tubelet_size, (self.img_size // self.patch_size) ** 2


def tiny_config() -> MarlinConfig:
    """The real config shrunk for tests: same clip geometry (224², 16 frames), 32 wide, one block."""
    return replace(MarlinConfig(), embed_dim=32, depth=1, num_heads=2)


def sincos_table(n_positions: int, dim: int) -> Tensor:
    """``[n_positions, dim]``: sin on even, cos on odd channels, wavelengths 10000^(2⌊i/2⌋/dim)."""
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]
    exponent = 2 * torch.div(torch.arange(dim), 2, rounding_mode="floor").double() / dim
    angle = position / torch.pow(10000.0, exponent)
    table = torch.empty(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float()


class PatchEmbedding3d(nn.Module):
    """Non-overlapping tubelet × patch × patch cubes projected to ``dim`` by one Conv3d."""

    def __init__(self, config: MarlinConfig) -> None:
        super().__init__()
        kernel = (config.tubelet_size, config.patch_size, config.patch_size)
        self.projection = nn.Conv3d(3, config.embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, clips: Tensor) -> Tensor:
        # [B, D, t, h, w] -> [B, t·h·w, D]: time-major token order, as the positional table expects
        return self.projection(clips).flatten(2).transpose(1, 2)


class SinCosPositionalEmbedding(nn.Module):
    """Fixed table; a persistent buffer because the checkpoints carry it (``pos_embedding.emb``)."""

    def __init__(self, n_positions: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("emb", sincos_table(n_positions, dim)[None])

    def forward(self, tokens: Tensor) -> Tensor:
        return tokens + self.emb


class Attention(nn.Module):
    """Multi-head self-attention; the key gets no bias, only query and value (as in MARLIN/BEiT)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # default scale head_dim**-0.5, as MARLIN's
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class _Dense(nn.Module):
    """A Linear one level down, because MARLIN's MLP names its weights ``layers.<i>.linear``."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_Dense(dim, hidden), _Dense(hidden, dim)])

    def forward(self, x: Tensor) -> Tensor:
        return self.layers[1](F.gelu(self.layers[0](x)))


class Block(nn.Module):
    """Pre-norm transformer block (no layer scale: the released models use ``init_values=0``)."""

    def __init__(self, config: MarlinConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, config.num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MarlinEncoder(nn.Module):
    """The MARLIN encoder; ``state_dict()`` keys equal the checkpoints' ``encoder.*`` keys, unprefixed."""

    def __init__(self, config: MarlinConfig = MarlinConfig(), seed: int = 0) -> None:
        super().__init__()
        self.config = config
        tubelets, patches = config.grid
        # Seeded, and without touching the caller's global RNG: random weights are reproducible.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.patch_embedding = PatchEmbedding3d(config)
            self.pos_embedding = SinCosPositionalEmbedding(tubelets * patches, config.embed_dim)
            self.norm = nn.LayerNorm(config.embed_dim)
            self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
            self.apply(_init_weights)

    def _tokens(self, clips: Tensor) -> Tensor:
        size = self.config.img_size
        if clips.ndim != 5 or clips.shape[1] != 3 or clips.shape[2:] != (self.config.n_frames, size, size):
            raise ValueError(
                f"expected clips [B, 3, {self.config.n_frames}, {size}, {size}], got {list(clips.shape)}"
            )
        x = self.pos_embedding(self.patch_embedding(clips))
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, clips: Tensor) -> Tensor:
        """Token features ``[B, tubelets · patches, D]`` (MARLIN's ``extract_features(keep_seq=True)``)."""
        return self.norm(self._tokens(clips))

    def frame_features(self, frames: Tensor) -> Tensor:
        """One ``D``-vector per frame: ``[T, 3, H, W]`` in [0, 1] -> ``[T, D]``, any ``T >= 1``.

        Per-frame scheme (the GRU of paper §3.2.1 consumes a feature per frame): the frames are cut
        into non-overlapping ``n_frames`` clips, the last one padded by repeating the last frame;
        each tubelet's tokens are mean-pooled over space and then layer-normed (MARLIN's own clip
        feature pools then norms, over all tokens), and a tubelet's vector is given to each of its
        ``tubelet_size`` frames. Padding frames' outputs are dropped, so ``T`` out equals ``T`` in.
        Pass ``T`` in multiples of ``n_frames`` per call to bound memory on long videos.
        """
        if frames.ndim != 4 or len(frames) == 0:
            raise ValueError(f"expected frames [T >= 1, 3, H, W], got {list(frames.shape)}")
        n_frames, tubelet = self.config.n_frames, self.config.tubelet_size
        t = len(frames)
        pad = -t % n_frames
        if pad:
            frames = torch.cat([frames, frames[-1:].expand(pad, *frames.shape[1:])])
        clips = frames.unflatten(0, (-1, n_frames)).transpose(1, 2)  # [clips, 3, n_frames, H, W]
        tubelets, patches = self.config.grid
        tokens = self._tokens(clips).unflatten(1, (tubelets, patches))
        per_tubelet = self.norm(tokens.mean(dim=2))  # [clips, tubelets, D]
        return per_tubelet.repeat_interleave(tubelet, dim=1).flatten(0, 1)[:t]


def _init_weights(module: nn.Module) -> None:
    # MARLIN's initialisation (Xavier-uniform linears, zero biases); the patch projection is
    # initialised like a linear layer over its flattened cube, as in MAE/VideoMAE.
    if isinstance(module, nn.Linear | nn.Conv3d):
        nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class CheckpointMismatchError(ValueError):
    """A checkpoint's encoder tensors do not fit the configured encoder."""


def encoder_state(checkpoint: Mapping[str, object]) -> dict[str, Tensor]:
    """The encoder's tensors, unprefixed, from a full, encoder-only or bare-encoder state dict.

    A Lightning-style ``{"state_dict": ...}`` wrapper is unwrapped first. Non-encoder entries
    (decoder, ``enc_dec_proj``, discriminator) are dropped and logged.
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointMismatchError(f"checkpoint 'state_dict' is a {type(state).__name__}, not a mapping")
    for prefix in ENCODER_PREFIXES:
        selected = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if selected:
            ignored = sorted({k.split(".")[0] for k in state if not k.startswith(prefix)})
            if ignored:
                log.info("checkpoint: kept %d '%s*' tensors, ignored %s", len(selected), prefix, ignored)
            return selected
    return dict(state)  # already a bare encoder state dict; load_encoder_state checks its keys


def load_encoder_state(encoder: MarlinEncoder, checkpoint: Mapping[str, object]) -> None:
    """Load strictly, first naming every missing, unexpected and mis-shaped key."""
    state = encoder_state(checkpoint)
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: checkpoint {list(state[k].shape)} vs model {list(v.shape)}"
        for k, v in expected.items()
        if k in state and isinstance(state[k], Tensor) and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{len(missing)} missing: {_head(missing)}" if missing else "",
            f"{len(unexpected)} unexpected: {_head(unexpected)}" if unexpected else "",
            f"{len(shapes)} shape mismatches: {_head(shapes)}" if shapes else "",
        ]
        raise CheckpointMismatchError(
            f"checkpoint does not fit MarlinEncoder({encoder.config}): " + "; ".join(p for p in parts if p)
        )
    encoder.load_state_dict(state, strict=True)


def _head(items: list[str], n: int = 8) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def load_encoder(path: Path | str, config: MarlinConfig = MarlinConfig()) -> MarlinEncoder:
    """A frozen encoder (eval mode, no grad) from a local checkpoint file; never downloads."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MARLIN checkpoint {path} does not exist (weights are never downloaded)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise CheckpointMismatchError(
            f"{path} is not a readable tensor-only torch checkpoint: {err}"
        ) from err
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    encoder = MarlinEncoder(config)
    load_encoder_state(encoder, checkpoint)
    return encoder.eval().requires_grad_(False)


def save_encoder(encoder: MarlinEncoder, path: Path | str) -> Path:
    """Save as MARLIN's encoder-only checkpoints are laid out (keys ``encoder.*``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({f"encoder.{k}": v for k, v in encoder.state_dict().items()}, path)
    return path
