"""The loss terms of Image2Audio (paper Eq. 8, Eq. 9) as functions of logits and tensors.

Dis_t keeps K logits l and a fake logit fixed at 0 (Bad-GAN [9], NOTES-wave2 §3.2), so with
LSE = logsumexp(l):  -log P(K+1 | x) = softplus(LSE),  -log P(y < K+1 | x) = softplus(LSE) - LSE,
and over the K + 1 outputs -log P(y | x) = softplus(LSE) - l_y.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fake_nll(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 9's first term on D_g, negated: mean -log P(K+1 | x)."""
    return F.softplus(torch.logsumexp(logits, 1)).mean()


def real_nll(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 9's D_u term, negated: mean -log P(y < K+1 | x), i.e. "some real class"."""
    lse = torch.logsumexp(logits, 1)
    return (F.softplus(lse) - lse).mean()


def class_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log P(y | x) over the K + 1 outputs: a generated sample that Dis_t takes for real class y
    (the class-aware generator loss of GAN_{s->t}; choice, as the conditional GAN of [2])."""
    lse = torch.logsumexp(logits, 1)
    return (F.softplus(lse) - logits.gather(1, labels[:, None])[:, 0]).mean()


def conditional_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 9's sum_k P(k|x) log P(k|x) on D_u, negated: the mean entropy over the K real classes."""
    p = F.softmax(logits, 1)
    return -(p * F.log_softmax(logits, 1)).sum(1).mean()


def kl(mu: torch.Tensor) -> torch.Tensor:
    """UNIT's KL to N(0, I) with unit-variance noise: mean(mu^2) (NOTES §3.1)."""
    return (mu**2).mean()


def generator_adversarial(logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss of a plain discriminator's logits on generated samples (GAN_{t->s})."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def discriminator_adversarial(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Dis_s's loss: real faces 1, translated ones 0."""
    return F.binary_cross_entropy_with_logits(
        real, torch.ones_like(real)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
