"""A registered audio-emotion model's pictures: the confusion matrix on the test partition (paper
Fig. 4) and, with a monitoring reference, the share of requests predicted as each class."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.figures import pyplot, save


def plot_evaluation(report: Mapping, reference: pd.DataFrame, out_dir: Path) -> list[Path]:
    if report.get("confusion") is None or report.get("classes") is None:
        raise ValueError("report: no confusion matrix and classes; pass the family's evaluation report")
    names = list(report["classes"])
    confusion = np.asarray(report["confusion"], dtype=float)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion on {report.get('partition', 'S4')} (accuracy {report.get('accuracy', 0):.3f})")
    paths = [save(fig, Path(out_dir) / "confusion_matrix.png")]
    if not reference.empty and "label" in reference:
        shares = (
            reference["label"]
            .astype(int)
            .value_counts(normalize=True)
            .reindex(range(len(names)), fill_value=0)
        )
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.bar(range(len(names)), 100 * shares.to_numpy())
        ax.set_xticks(range(len(names)), names, rotation=45)
        ax.set_ylabel("requests predicted (%)")
        ax.set_title(f"Predicted classes over {len(reference)} held-out requests")
        paths.append(save(fig, Path(out_dir) / "predicted_classes.png"))
    return paths
