"""A registered AU detector's pictures: per-AU F1 bars (Tables 1-2's shape) and the relation matrix M
(Fig. 2) it was pre-trained with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.figures import pyplot, save


def plot_f1(report: Mapping, out_dir: Path) -> Path:
    aus = [int(key[5:]) for key in report if key.startswith("f1_au")]
    if report.get("f1") is None or not aus:
        raise ValueError("report: no mean F1 ('f1') or per-AU F1 ('f1_au<N>'); pass the family's evaluation")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(aus))
    ax.bar(x, [100 * report[f"f1_au{au}"] for au in aus], 0.6, label="F1 per AU")
    ax.axhline(100 * report["f1"], color="tab:red", label=f"mean F1 = {report['f1']:.3f}")
    if report.get("random_f1") is not None:
        ax.axhline(100 * report["random_f1"], color="black", linestyle="--", label="coin flip at base rates")
    ax.set_xticks(x, [f"AU{au}" for au in aus])
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Held-out F1 per action unit")
    ax.legend(fontsize=8)
    return save(fig, Path(out_dir) / "f1_by_au.png")


def plot_relation(relation: np.ndarray, aus: tuple[int, ...], out_dir: Path) -> Path:
    """M_ij = P(AU_j | AU_i) on the training folds (Fig. 2's matrix)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(relation, vmin=0, vmax=1, cmap="viridis")
    ticks = [f"AU{au}" for au in aus]
    ax.set_xticks(range(len(aus)), ticks, rotation=90)
    ax.set_yticks(range(len(aus)), ticks)
    ax.set_xlabel("AU j")
    ax.set_ylabel("AU i")
    ax.set_title("Relation matrix M = P(AU j | AU i)")
    fig.colorbar(image, ax=ax)
    return save(fig, Path(out_dir) / "relation_matrix.png")


def plot_evaluation(report: Mapping, reference: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The spec's plots: per-AU F1; with a reference, each AU's predicted activation rate."""
    paths = [plot_f1(report, out_dir)]
    columns = (
        [c for c in reference.columns if c.startswith("au") and c[2:].isdigit()] if len(reference) else []
    )
    if columns:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.bar(range(len(columns)), [100 * reference[c].astype(float).mean() for c in columns], 0.6)
        ax.set_xticks(range(len(columns)), [c.upper() for c in columns])
        ax.set_ylabel("requests predicted active (%)")
        ax.set_title(f"Predicted AU activation over {len(reference)} held-out requests")
        paths.append(save(fig, Path(out_dir) / "predicted_activation.png"))
    return paths
