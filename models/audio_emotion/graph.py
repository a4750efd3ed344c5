"""Graph smoothness over Dis_t's features and the reliability path (paper §2.3, NOTES-wave2 §3.4).

Nodes are spectrograms of D_t and D_u; an edge joins i and j when ||f_i - f_j||^2 <= beta, weighted
W_ij = exp(-gamma ||f_i - f_j||^2); S = 1/2 sum W_ij ||y_i - y_j||^2 = tr(Y^T L Y), L = D - W, with Y
one-hot on labelled nodes and Dis_t's softmax on unlabelled ones. Choices: features are L2-normalized
(so beta lives in [0, 4]); S is computed per mini-batch and divided by its node count; the
reliability path gives an unlabelled node a label when every labelled node of its connected component
in the beta-graph agrees on it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components


def squared_distances(features: torch.Tensor) -> torch.Tensor:
    f = F.normalize(features, dim=1)
    return torch.cdist(f, f).pow(2)


def smoothness(features: torch.Tensor, y: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """S = tr(Y^T L Y) / n over one batch's features [n, d] and label distributions Y [n, K]."""
    d2 = squared_distances(features)
    w = torch.exp(-gamma * d2) * (d2 <= beta)
    w = w - torch.diag(torch.diag(w))
    laplacian = torch.diag(w.sum(1)) - w
    return torch.trace(y.T @ laplacian @ y) / len(y)


def reliability_labels(features: np.ndarray, labels: np.ndarray, beta: float) -> np.ndarray:
    """Labels for every node along reliability paths: ``labels`` has -1 on unlabelled nodes; the
    result keeps known labels and gives an unlabelled node its component's single label, else -1."""
    f = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    d2 = np.maximum(2.0 - 2.0 * f @ f.T, 0.0)
    n_components, component = connected_components(csr_matrix(d2 <= beta), directed=False)
    out = labels.copy()
    for c in range(n_components):
        members = component == c
        known = np.unique(labels[members & (labels >= 0)])
        if len(known) == 1:
            out[members & (labels < 0)] = known[0]
    return out
