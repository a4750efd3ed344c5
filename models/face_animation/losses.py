"""The paper's losses: the contrastive emotion and identity losses over a (V_r, V_s, V_p) batch
(Eqs. 5-6), the landmark loss (Eq. 10) and the image loss (Eq. 11)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def landmark_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 10: |L_v - L_p|, the mean absolute coordinate difference (256² pixels)."""
    return (target - predicted).abs().mean()


def image_loss(synthesized: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 11: |I_s - I_t|, the mean absolute pixel difference."""
    return (synthesized - target).abs().mean()


def emotion_loss(
    e_r: torch.Tensor,
    e_s: torch.Tensor,
    e_p: torch.Tensor,
    p_r: torch.Tensor,
    p_s: torch.Tensor,
    p_p: torch.Tensor,
    margin: float = 0.1,
) -> torch.Tensor:
    """Eq. 5 over a batch of triplets: λ_rs·d_rs + (1 - λ_rp)·max(margin - d_rp, 0), averaged.

    ``e_*`` [B, 128] are the clips' emotion embeddings (choice: each clip's embedding averaged over
    its frames, as the clips differ in length); d is their mean absolute difference. ``p_*`` [B, C]
    are the facial-expression classifier's softmax outputs of the clips' frames; λ their cosine.
    """
    d_rs = (e_r - e_s).abs().mean(dim=1)
    d_rp = (e_r - e_p).abs().mean(dim=1)
    lambda_rs = F.cosine_similarity(p_r, p_s, dim=1)
    lambda_rp = F.cosine_similarity(p_r, p_p, dim=1)
    return (lambda_rs * d_rs + (1 - lambda_rp) * torch.clamp(margin - d_rp, min=0)).mean()


def identity_loss(i_r: torch.Tensor, i_p: torch.Tensor) -> torch.Tensor:
    """Eq. 6: |E_identity^r - E_identity^p|, V_r and V_p being one speaker in two videos (clip means)."""
    return (i_r - i_p).abs().mean()
