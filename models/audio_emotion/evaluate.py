"""The paper's metrics (§3, Table 1): accuracy on the test partition S4, and the Inception Score and
FID of generated spectrograms computed with the trained spectrogram classifier Dis_t (as [2]).

IS = exp(E_x KL(p(y|x) || p(y))) with Dis_t's softmax over the K classes; FID between Dis_t's
penultimate features of generated and of real test spectrograms. "BaseScore" is the IS of the real
test spectrograms. Generated spectrograms are the translations of the IFER faces, split by their
IWAE density at the final epsilon (0.8) into High (the densest share) and Low (the rest).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import linalg

from models.audio_emotion.checkpoint import TrainedModel
from models.audio_emotion.data import ifer, labels, load, spectrograms
from models.audio_emotion.dataset import TEST
from models.audio_emotion.density import iwae_log_density, split_by_density
from models.audio_emotion.model import uses

MAX_GENERATED = 2000  # IFER faces translated for IS / FID
BATCH = 64


@torch.inference_mode()
def _classify(trained: TrainedModel, z_scored: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Dis_t's class probabilities [N, K] and features [N, d] of z-scored spectrograms."""
    model = trained.model.eval()
    probabilities, features = [], []
    for start in range(0, len(z_scored), BATCH):
        logits, f = model.dis_t(z_scored[start : start + BATCH])
        probabilities.append(torch.softmax(logits, 1).cpu().numpy())
        features.append(f.cpu().numpy())
    return np.concatenate(probabilities), np.concatenate(features)


def inception_score(probabilities: np.ndarray) -> float:
    marginal = probabilities.mean(0, keepdims=True)
    kl = (probabilities * (np.log(probabilities + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    return float(np.exp(kl.mean()))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets [n, d] (Heusel et al. [15])."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # a near-singular product (few samples): regularize as in the FID code
        offset = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))


def predict(trained: TrainedModel, data: Path, table: pd.DataFrame) -> pd.DataFrame:
    """One row per clip of ``table``: ids, ``label``, ``prediction`` and ``p_<class>``."""
    names = trained.config.classes
    x = torch.from_numpy(spectrograms(data, table))
    probabilities, _ = _classify(trained, trained.model.normalize(x))
    out = table[["clip", "actor", "gender", "partition", "emotion"]].reset_index(drop=True).copy()
    out["label"] = labels(table, names)
    out["prediction"] = probabilities.argmax(1)
    for k, name in enumerate(names):
        out[f"p_{name}"] = probabilities[:, k]
    return out


def accuracy_metrics(predictions: pd.DataFrame, names: tuple[str, ...]) -> dict:
    """Accuracy (Table 1), the confusion matrix (Fig. 4: rows true, columns predicted), accuracy by
    speaker gender where the corpus names it."""
    y, p = predictions["label"].to_numpy(), predictions["prediction"].to_numpy()
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (y, p), 1)
    out: dict = {"accuracy": float((y == p).mean()), "chance": 1.0 / len(names), "clips": len(y)}
    out["confusion"] = confusion.tolist()
    for gender, part in predictions.dropna(subset=["gender"]).groupby("gender"):
        out[f"accuracy_{gender}"] = float((part["label"] == part["prediction"]).mean())
    return out


@torch.inference_mode()
def generation_metrics(trained: TrainedModel, data: Path, real: torch.Tensor) -> dict:
    """Table 1's lower part: IS of real test spectrograms (BaseScore) and IS / FID of the High and Low
    density translations of the IFER faces."""
    config, model = trained.config, trained.model.eval()
    real_p, real_f = _classify(trained, real)
    out: dict = {"is_base": inception_score(real_p)}
    if not uses(config.variant)["translation"]:
        return out  # Base has no translator (Table 1: "-")
    faces, _ = ifer(data, config.image_size)
    faces = torch.from_numpy(faces[:MAX_GENERATED]).to(real.device)
    with torch.random.fork_rng():  # the latent noise of a seeded evaluation, the caller's RNG untouched
        torch.manual_seed(config.seed)
        generated = torch.cat([model.translate(faces[s : s + BATCH]) for s in range(0, len(faces), BATCH)])
        density = torch.cat(
            [
                iwae_log_density(
                    model.unit, generated[s : s + BATCH], config.iwae_samples, config.laplace_scale
                )
                for s in range(0, len(generated), BATCH)
            ]
        )
    high, low = split_by_density(density, config.epsilon_max)
    for name, index in (("high", high), ("low", low)):
        if len(index) < 2:
            out[f"is_{name}"] = out[f"fid_{name}"] = None
            continue
        p, f = _classify(trained, generated[index])
        out[f"is_{name}"] = inception_score(p)
        out[f"fid_{name}"] = frechet_distance(f, real_f)
    return out


def evaluate(trained: TrainedModel, data: Path, holdout: str | None = None) -> dict:
    """Accuracy and generation quality of ``trained`` on partition ``holdout`` (default: the one it
    was trained without, S4 for a model trained on all)."""
    partition = holdout or trained.holdout or TEST
    table = load(data)
    table = table[table["partition"] == partition].reset_index(drop=True)
    if table.empty:
        raise ValueError(f"{data}: no clips in partition {partition}")
    predictions = predict(trained, data, table)
    real = trained.model.normalize(torch.from_numpy(spectrograms(data, table)))
    return {
        "partition": partition,
        "classes": list(trained.config.classes),
        **accuracy_metrics(predictions, trained.config.classes),
        **generation_metrics(trained, data, real),
    }
