"""The density of generated spectrograms and the annealing that splits them (paper §2.2).

IWAE (Burda et al. [4], NOTES-wave2 §3.3): log p(x) ~ LSE_i [log p(x|z_i) + log p(z_i) - log q(z_i|x)]
- log k with z_i ~ q(z|x) = N(Enc_t(x), I) (UNIT's unit-variance posterior) and, as UNIT reconstructs
with L1, a Laplace likelihood p(x|z) (choice, NOTES §3.3).
"""

from __future__ import annotations

import math

import torch

from models.audio_emotion.model import UNIT


@torch.no_grad()
def iwae_log_density(unit: UNIT, x: torch.Tensor, samples: int, scale: float) -> torch.Tensor:
    """[B] IWAE estimates of log p(x) for z-scored spectrograms ``x`` [B, 156, 64] under VAE_t."""
    mu = unit.encode(x, "t")
    terms = []
    for _ in range(samples):
        noise = torch.randn_like(mu)
        z = mu + noise
        reconstruction = unit.decode(z, "t")
        log_px_z = (-(x - reconstruction).abs() / scale - math.log(2 * scale)).flatten(1).sum(1)
        log_pz = (-0.5 * z**2).flatten(1).sum(1)  # the 2 pi constants of p(z) and q(z|x) cancel
        log_qz = (-0.5 * noise**2).flatten(1).sum(1)
        terms.append(log_px_z + log_pz - log_qz)
    return torch.logsumexp(torch.stack(terms), 0) - math.log(samples)


def epsilon(round_: int, rounds: int, maximum: float) -> float:
    """§2.2: the share of generations sent to D_t, 0 at the start of training rising to ``maximum``
    (0.8) at its end (choice: linearly over the rounds)."""
    return 0.0 if rounds <= 1 else maximum * round_ / (rounds - 1)


def split_by_density(log_density: torch.Tensor, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the densest ``share`` of a batch (into D_t) and of the rest (into D_g)."""
    order = torch.argsort(log_density, descending=True)
    n_high = math.floor(share * len(order) + 1e-9)
    return order[:n_high], order[n_high:]
