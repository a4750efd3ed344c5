"""The paper's augmentations (§3.1) in torch, per sample, on float images in [0, 1] [B, 3, H, W].

Paper: random horizontal flip, grey scaling, Gaussian blur and colour distortion (brightness,
saturation, contrast, hue) with different values for the two views. Choices where it is silent
(BYOL's, Grill et al. 2020 [17]): jitter with probability 0.8 at strengths brightness 0.4, contrast
0.4, saturation 0.2, hue 0.1, applied in that fixed order; grey with probability 0.2; blur with
probability 1.0 on the first view and 0.1 on the second ("different values"), sigma 0.1-2.0 px at
224 px (scaled with the image), kernel 10% of the image. Hue is a rotation of the chroma plane
in YIQ space (a close stand-in for an HSV hue shift). No random crop: crops can cut AU regions
away (§2.2). A flip mirrors the attention maps with the image (the AU regions are left-right pairs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_GREY = torch.tensor([0.299, 0.587, 0.114])
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


@dataclass(frozen=True)
class ViewPolicy:
    blur_p: float
    jitter_p: float = 0.8
    grey_p: float = 0.2
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1


VIEWS = (ViewPolicy(blur_p=1.0), ViewPolicy(blur_p=0.1))  # the two views' policies


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (x * _GREY.to(x)[None, :, None, None]).sum(1, keepdim=True)


def _per_sample(generator: torch.Generator, n: int, low: float, high: float, device) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * (high - low) + low).to(device)[:, None, None, None]


def _hue(x: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    yiq = torch.einsum("ij,bjhw->bihw", _TO_YIQ.to(x), x)
    angle = 2 * math.pi * turn[:, 0, 0, 0]
    cos, sin = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_TO_YIQ).to(x), yiq)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    radius = max(1, int(0.05 * h))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma.view(b, 1) ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [B * C, k]
    flat = x.reshape(1, b * c, h, w)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=b * c
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=b * c
    )
    return flat.view(b, c, h, w)


def augment(
    images: torch.Tensor, maps: torch.Tensor, policy: ViewPolicy, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One view of ``images`` [B, 3, H, W] in [0, 1] and their attention maps [B, K, g, g]."""
    b, device = images.shape[0], images.device
    pick = lambda p: (torch.rand(b, generator=generator) < p).to(device)[:, None, None, None]  # noqa: E731
    flip = pick(0.5)
    x = torch.where(flip, images.flip(-1), images)
    maps = torch.where(flip, maps.flip(-1), maps)
    jitter = pick(policy.jitter_p)
    y = x * _per_sample(generator, b, 1 - policy.brightness, 1 + policy.brightness, device)
    mean = _grey(y).mean(dim=(2, 3), keepdim=True)
    y = mean + (y - mean) * _per_sample(generator, b, 1 - policy.contrast, 1 + policy.contrast, device)
    grey = _grey(y)
    y = grey + (y - grey) * _per_sample(generator, b, 1 - policy.saturation, 1 + policy.saturation, device)
    y = _hue(y, _per_sample(generator, b, -policy.hue, policy.hue, device))
    x = torch.where(jitter, y.clamp(0, 1), x)
    x = torch.where(pick(policy.grey_p), _grey(x).expand_as(x), x)
    sigma = _per_sample(generator, b, 0.1, 2.0, device) * images.shape[-1] / 224
    x = torch.where(pick(policy.blur_p), _blur(x, sigma.view(b)), x)
    return x, maps
