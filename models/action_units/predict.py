"""Per-AU probabilities of face crops, and one serving request (or a batch) through a trained model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from models.action_units.attention import attention_maps
from models.action_units.checkpoint import TrainedModel

CHUNK = 64  # crops per forward pass


@torch.inference_mode()
def probabilities(trained: TrainedModel, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """uint8 [n, S, S, 3] and float [n, 68, 2] -> float32 [n, K] (sigmoid per AU, §3.1)."""
    model, config = trained.model, trained.config
    model.eval()
    device = next(model.parameters()).device
    out = []
    for first in range(0, len(images), CHUNK):
        points = landmarks[first : first + CHUNK]
        maps = np.stack([attention_maps(p, config.aus, config.image_size) for p in points])
        x = torch.from_numpy(np.ascontiguousarray(images[first : first + CHUNK])).to(device)
        out.append(torch.sigmoid(model(x, torch.from_numpy(maps).to(device))).cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def outputs_of(trained: TrainedModel, probability: np.ndarray) -> dict[str, np.ndarray]:
    threshold = np.float32(trained.config.threshold)
    out = {"threshold": np.asarray(threshold, dtype=np.float32)}
    for au, p in zip(trained.config.aus, probability, strict=True):
        out[f"p_au{au}"] = np.asarray(p, dtype=np.float32)
        out[f"au{au}"] = np.asarray(int(p >= threshold), dtype=np.int64)
    return out


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (checked against ``serving_schema``) -> per-AU probabilities and labels."""
    (probability,) = probabilities(trained, tensors["image"][None], tensors["landmarks"][None])
    return outputs_of(trained, probability)


def predict_batch(
    trained: TrainedModel, requests: Sequence[Mapping[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    """Several requests in one forward pass; each answer as ``predict_request`` gives it."""
    images = np.stack([r["image"] for r in requests])
    points = np.stack([r["landmarks"] for r in requests])
    return [outputs_of(trained, p) for p in probabilities(trained, images, points)]
