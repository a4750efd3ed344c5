"""A registered expression model's pictures: per-class F1 (Eq. 5's terms) and predicted class shares."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.figures import pyplot, save
from models.expression.features import CLASSES

SHARE_OUTPUT = "labels"  # the served per-frame class output whose shares the inference log keeps


def predicted_shares(reference: pd.DataFrame) -> np.ndarray | None:
    """Mean predicted share of each class over the reference's requests; None without share columns."""
    columns = [f"{SHARE_OUTPUT}_share_{k}" for k in range(len(CLASSES))]
    if reference.empty or not any(c in reference for c in columns):
        return None
    table = reference.reindex(columns=columns).astype(float).fillna(0.0)  # absent class: no frame of it
    return table.mean(axis=0).to_numpy()


def plot_evaluation(report: Mapping, reference: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Bars of held-out F1 per class with the mean F1 (paper Eq. 5) and guessing as lines; with a
    reference, the share of frames predicted as each class beside it."""
    if report.get("f1") is None:
        raise ValueError("report: no mean F1 ('f1'); pass the family's evaluation report")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(CLASSES))
    ax.bar(x, [100 * (report.get(f"f1_{name}") or 0.0) for name in CLASSES], 0.6, label="F1 per class")
    ax.axhline(100 * report["f1"], color="tab:red", label=f"mean F1 (Eq. 5) = {report['f1']:.3f}")
    if report.get("random_f1") is not None:
        ax.axhline(100 * report["random_f1"], color="black", linestyle="--", label="random guessing")
    ax.set_xticks(x, CLASSES, rotation=30)
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Held-out F1 per expression class")
    ax.legend(fontsize=8)
    paths = [save(fig, Path(out_dir) / "f1_by_class.png")]
    shares = predicted_shares(reference)
    if shares is not None:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(x, 100 * shares, 0.6)
        ax.set_xticks(x, CLASSES, rotation=30)
        ax.set_ylabel("frames predicted (%)")
        ax.set_title(f"Predicted class distribution over {len(reference)} held-out requests")
        paths.append(save(fig, Path(out_dir) / "predicted_classes.png"))
    return paths
