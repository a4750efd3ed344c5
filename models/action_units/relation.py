"""The AU relation matrix M (paper §2.3, Fig. 2), counted on training labels only.

Choice (NOTES-wave2 §1.5; AU-GCN's formula was not found): M_ij = P(AU_j = 1 | AU_i = 1) = n_ij / n_i
over frames coded for both AUs. Entries lie in [0, 1] as the cost C = 1 - M (Eq. 4) needs, the
diagonal is 1, and M is asymmetric. An AU never present gives a row of 0 (diagonal 1).
"""

from __future__ import annotations

import numpy as np


def relation_matrix(labels: np.ndarray) -> np.ndarray:
    """``labels`` [n, K] of 1 / 0 / -1 (uncoded) -> M float32 [K, K]."""
    labels = np.asarray(labels)
    present = (labels == 1).astype(np.float64)
    coded = (labels >= 0).astype(np.float64)
    both = present.T @ present  # n_ij: frames with AU i and AU j present
    n_i = present.T @ coded  # frames with AU i present and AU j coded
    m = np.divide(both, n_i, out=np.zeros_like(both), where=n_i > 0)
    np.fill_diagonal(m, 1.0)
    return m.astype(np.float32)
