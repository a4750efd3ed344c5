"""RRL's pre-training losses (paper §2.1-§2.3): global (Eq. 2), local (Eq. 3), OT relation (Eqs. 4-6),
their sum (Eq. 7), the target's EMA (Eq. 1) and its schedule.

Text errors corrected as NOTES-wave2 §1.3 says: Eq. 2's target projection is g_xi (the text writes
g_theta), and Eq. 5's marginals are a_i = max(o_i . t_g, 0), b_j = max(t_j . o_g, 0) (the text lost
the max and writes t_i).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SINKHORN_EPS = 0.1  # NOTES §1.4 (UniVIP's; unverified there)
SINKHORN_ITERS = 50
MARGINAL_EPS = 1e-6  # choice: keeps an all-zero ReLU marginal a valid distribution


def ema_momentum(step: int, total: int, base: float) -> float:
    """BYOL's schedule (NOTES §1.3): m = 1 - (1 - base)(cos(pi k / K) + 1) / 2, base -> 1 (paper §3.1)."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / max(total, 1)) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: torch.nn.Module, online: torch.nn.Module, m: float) -> None:
    """Paper Eq. 1: xi = m * xi + (1 - m) * theta; buffers (BN statistics) copied."""
    for xi, theta in zip(target.parameters(), online.parameters(), strict=True):
        xi.mul_(m).add_(theta.detach(), alpha=1.0 - m)
    for xi, theta in zip(target.buffers(), online.buffers(), strict=True):
        xi.copy_(theta)


def global_loss(target_projection: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 2: -cos(g_xi(t_g), q_theta(z_1^g)), batch mean."""
    return -F.cosine_similarity(target_projection, prediction, dim=-1).mean()


def local_loss(
    local_prediction: torch.Tensor, local_target: torch.Tensor, global_prediction: torch.Tensor
) -> torch.Tensor:
    """Paper Eq. 3: -(1/2K) sum_k [cos(q(z_1^k), g_xi(t_k)) + cos(g_xi(t_k), q(z_1^g))], batch mean.

    ``local_prediction``, ``local_target`` [B, K, d]; ``global_prediction`` [B, d].
    """
    own = F.cosine_similarity(local_prediction, local_target, dim=-1)
    to_global = F.cosine_similarity(local_target, global_prediction[:, None, :], dim=-1)
    return -(own + to_global).mean(dim=1).mul(0.5).mean()


def sinkhorn(cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float, iters: int) -> torch.Tensor:
    """Entropic OT plans by log-domain Sinkhorn-Knopp: ``cost`` [K, K], marginals ``a``, ``b`` [B, K]
    (each summing to 1) -> plans [B, K, K]."""
    log_kernel = (-cost / eps)[None]
    log_a, log_b = a.log(), b.log()
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)
    for _ in range(iters):
        f = log_a - torch.logsumexp(log_kernel + g[:, None, :], dim=2)
        g = log_b - torch.logsumexp(log_kernel + f[:, :, None], dim=1)
    return torch.exp(f[:, :, None] + log_kernel + g[:, None, :])


def marginals(local: torch.Tensor, other_global: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 5 (with its max): max(v_i . global, 0), normalised to sum 1 (NOTES §1.4) -> [B, K]."""
    weight = torch.relu(torch.einsum("bkd,bd->bk", local, other_global)) + MARGINAL_EPS
    return weight / weight.sum(dim=1, keepdim=True)


def relation_loss(
    online_local: torch.Tensor,
    online_global: torch.Tensor,
    target_local: torch.Tensor,
    target_global: torch.Tensor,
    relation: torch.Tensor,
    eps: float = SINKHORN_EPS,
    iters: int = SINKHORN_ITERS,
) -> torch.Tensor:
    """Paper Eqs. 4-6: cost C = 1 - M, marginals a (online AUs vs target global) and b (target AUs vs
    online global), plan pi* by Sinkhorn, detached (UniVIP, NOTES §1.4); -sum_ij pi*_ij cos(o_i, t_j)."""
    with torch.no_grad():
        a = marginals(online_local, target_global)
        b = marginals(target_local, online_global)
        plan = sinkhorn(1.0 - relation, a, b, eps, iters)  # paper: Eq. 4
    cos = F.cosine_similarity(online_local[:, :, None, :], target_local[:, None, :, :], dim=-1)
    return -(plan * cos).sum(dim=(1, 2)).mean()  # paper: Eq. 6
