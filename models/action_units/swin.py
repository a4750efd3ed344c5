"""A compact Swin Transformer (Liu et al. 2021, the paper's backbone [16]), pure PyTorch.

Patch embedding, stages of (shifted-)window attention with relative position bias, patch merging
between stages. Swin-T is embed 96, depths (2, 2, 6, 2), heads (3, 6, 12, 24), window 7 at 224 px
(NOTES-wave2 §1.2). As in the reference code, a stage whose grid is no larger than the window uses
one window and no shift. ``forward`` returns the stage-3 map (stride 16: 14 x 14 x 384 at Swin-T,
the grid of the AU attention maps, paper §2.2) and the pooled last stage (768 at Swin-T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias, std=0.02)
        coords = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer(
            "index", relative[..., 0] * (2 * window - 1) + relative[..., 1], persistent=False
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` [B * windows, N, C]; ``mask`` [windows, N, N] (0 / -100) for shifted windows."""
        batch, n, channels = x.shape
        q, k, v = self.qkv(x).reshape(batch, n, 3, self.heads, channels // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1) + self.bias[self.index].permute(2, 0, 1)[None]
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(batch // windows, windows, self.heads, n, n) + mask[None, :, None]
            attn = attn.view(batch, self.heads, n, n)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, n, channels)
        return self.proj(out)


def _windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * windows, window * window, C]."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def _merge(windows: torch.Tensor, window: int, b: int, h: int, w: int) -> torch.Tensor:
    x = windows.view(b, h // window, w // window, window, window, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, resolution: int, window: int, shift: int) -> None:
        super().__init__()
        if resolution <= window:  # reference behaviour: one window, nothing to shift
            window, shift = resolution, 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        mask = None
        if shift:
            regions = torch.zeros(1, resolution, resolution, 1)
            cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
            label = 0
            for hs in cuts:
                for ws in cuts:
                    regions[:, hs, ws, :] = label
                    label += 1
            ids = _windows(regions, window).squeeze(-1)
            mask = (ids[:, None, :] != ids[:, :, None]).float() * -100.0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, H * W, C]."""
        b, _, c = x.shape
        h = w = self.resolution
        y = self.norm1(x).view(b, h, w, c)
        if self.shift:
            y = torch.roll(y, (-self.shift, -self.shift), dims=(1, 2))
        y = _merge(self.attn(_windows(y, self.window), self.mask), self.window, b, h, w)
        if self.shift:
            y = torch.roll(y, (self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, resolution: int) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, resolution, resolution, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class Swin(nn.Module):
    def __init__(
        self,
        image_size: int,
        patch: int,
        embed_dim: int,
        depths: tuple[int, ...],
        heads: tuple[int, ...],
        window: int,
    ) -> None:
        super().__init__()
        if len(depths) != 4 or len(heads) != 4:
            raise ValueError("Swin has 4 stages: depths and heads need 4 entries each")
        if image_size % (patch * 8):
            raise ValueError(f"image_size {image_size} must divide by patch * 8 = {patch * 8}")
        self.embed = nn.Conv2d(3, embed_dim, patch, stride=patch)
        self.embed_norm = nn.LayerNorm(embed_dim)
        self.stages = nn.ModuleList()
        self.merges = nn.ModuleList()
        self.resolutions = []
        resolution, dim = image_size // patch, embed_dim
        for i, (depth, n_heads) in enumerate(zip(depths, heads, strict=True)):
            blocks = [
                SwinBlock(dim, n_heads, resolution, window, 0 if j % 2 == 0 else window // 2)
                for j in range(depth)
            ]
            self.stages.append(nn.Sequential(*blocks))
            self.resolutions.append(resolution)
            if i < 3:
                self.merges.append(PatchMerging(dim))
                resolution, dim = resolution // 2, dim * 2
        self.norm = nn.LayerNorm(dim)
        self.stage3_dim, self.dim = embed_dim * 4, dim

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` [B, 3, S, S] -> (stage-3 map [B, 4C, S/16, S/16], pooled last stage [B, 8C])."""
        x = self.embed(images).flatten(2).transpose(1, 2)
        x = self.embed_norm(x)
        stage3 = None
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == 2:
                r = self.resolutions[2]
                stage3 = x.transpose(1, 2).reshape(x.shape[0], -1, r, r)
            if i < 3:
                x = self.merges[i](x, self.resolutions[i])
        return stage3, F.layer_norm(x, (self.dim,), self.norm.weight, self.norm.bias).mean(dim=1)
