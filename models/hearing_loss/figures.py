"""The paper's pictures as PNG: F1 per age group per variant (Table 2), age probe (Fig. 5), t-SNE (Fig. 4)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.figures import pyplot, save

GROUPS = (("f1", "5-fold CV"), ("f1_young", "Young"), ("f1_mid", "Mid."), ("f1_old", "Old"))
TSNE_POINTS = 1500  # choice: t-SNE is quadratic-ish; a seeded subsample keeps the figure to seconds


def plot_group_f1(summaries: Mapping[str, Mapping], path: Path) -> Path:
    """Bars of mean F1 (± std over seeds) per age group, one bar per variant; coin-flip baseline as ticks."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(summaries), 1)
    x = np.arange(len(GROUPS))
    for i, (variant, summary) in enumerate(summaries.items()):
        means = [100 * (summary.get(f"{key}_mean") or 0.0) for key, _ in GROUPS]
        stds = [100 * (summary.get(f"{key}_std") or 0.0) for key, _ in GROUPS]
        ax.bar(x + (i - (len(summaries) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=variant)
    first = next(iter(summaries.values()), {})
    baseline = [100 * (first.get(f"random_{key}_mean") or np.nan) for key, _ in GROUPS]
    ax.scatter(x, baseline, marker="_", s=900, color="black", label="random guessing", zorder=3)
    ax.set_xticks(x, [label for _, label in GROUPS])
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Hearing-loss detection F1 per age group (mean ± std over seeds)")
    ax.legend(fontsize=8, ncols=3, loc="upper left")
    return save(fig, path)


def plot_age_probe(predictions: pd.DataFrame, path: Path, r: float, p: float) -> Path:
    """Fig. 5: the age estimator's output against true age, one point per subject."""
    plt = pyplot()
    per_subject = predictions.groupby("subject_id")[["age", "age_estimate"]].mean()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(per_subject["age"], per_subject["age_estimate"], s=14, alpha=0.8)
    low, high = per_subject["age"].min(), per_subject["age"].max()
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="perfect estimate")
    ax.set_xlabel("true age")
    ax.set_ylabel("estimated age (behind the GRL)")
    ax.set_title(f"Age probe: Pearson r = {r:.2f}, p = {p:.2g}")
    ax.legend(fontsize=8)
    return save(fig, path)


def plot_evaluation(report: Mapping, reference: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One registered model's pictures: F1 per age group with its subject-bootstrap interval beside
    coin flipping, and, with an age head, the age probe over the held-out predictions (Fig. 5)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.arange(len(GROUPS))
    # a group without positives has no F1 (None): drawn as an empty bar
    values = np.array([report.get(key) or 0.0 for key, _ in GROUPS])
    low = np.array([report.get(f"{key}_low") or report.get(key) or 0.0 for key, _ in GROUPS])
    high = np.array([report.get(f"{key}_high") or report.get(key) or 0.0 for key, _ in GROUPS])
    errors = 100 * np.stack([values - low, high - values])
    ax.bar(x, 100 * values, 0.6, yerr=errors, capsize=4, label="F1 (95% CI, subject bootstrap)")
    baseline = [100 * (report.get(f"random_{key}") or np.nan) for key, _ in GROUPS]
    ax.scatter(x, baseline, marker="_", s=900, color="black", label="random guessing", zorder=3)
    ax.set_xticks(x, ["all" if key == "f1" else label for key, label in GROUPS])
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Held-out F1 per age group")
    ax.legend(fontsize=8)
    paths = [save(fig, Path(out_dir) / "f1_by_age_group.png")]
    if "age_estimate" in reference and report.get("age_probe_r") is not None:
        predictions = reference.rename(columns={"subject_pseudonym": "subject_id"})
        probe = plot_age_probe(
            predictions, Path(out_dir) / "age_probe.png", report["age_probe_r"], report["age_probe_p"]
        )
        paths.append(probe)
    return paths


def plot_tsne(embeddings: Mapping[str, pd.DataFrame], path: Path, seed: int = 0) -> Path:
    """Fig. 4: 3D t-SNE of variation-encoder features, one column per model; colour = age (top
    row) and subject identity (bottom row). Each frame needs ``embedding``, ``age``, ``subject_id``.
    """
    from sklearn.manifold import TSNE

    plt = pyplot()
    fig = plt.figure(figsize=(4.5 * len(embeddings), 8))
    for column, (title, frame) in enumerate(embeddings.items()):
        sample = frame.sample(min(TSNE_POINTS, len(frame)), random_state=seed)
        # sklearn needs perplexity < samples; the paper's figure has thousands, tests a few dozen
        perplexity = min(30.0, (len(sample) - 1) / 3)
        points = TSNE(n_components=3, random_state=seed, init="pca", perplexity=perplexity).fit_transform(
            np.stack(sample["embedding"].to_numpy())
        )
        identity = sample["subject_id"].astype("category").cat.codes
        for row, (colour, cmap, label) in enumerate(
            ((sample["age"], "Reds", "age"), (identity, "tab20", "subject"))
        ):
            ax = fig.add_subplot(2, len(embeddings), row * len(embeddings) + column + 1, projection="3d")
            ax.scatter(*points.T, c=colour, cmap=cmap, s=4)
            ax.set_title(f"{title}: colour = {label}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    return save(fig, path)
