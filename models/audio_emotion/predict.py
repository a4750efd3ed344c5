"""Requests through a trained model: Dis_t's class probabilities of each spectrogram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from models.audio_emotion.checkpoint import TrainedModel


@torch.inference_mode()
def probabilities(trained: TrainedModel, spectrograms: np.ndarray) -> np.ndarray:
    """[N, 156, 64] raw spectrograms -> [N, K] float32 probabilities over the K real classes."""
    model = trained.model.eval()
    device = model.spec_mean.device
    logits = model.classify(torch.from_numpy(np.ascontiguousarray(spectrograms, dtype=np.float32)).to(device))
    return torch.softmax(logits, 1).cpu().numpy().astype(np.float32)


def _outputs(p: np.ndarray) -> dict[str, np.ndarray]:
    return {"probabilities": p, "label": np.asarray(p.argmax(), dtype=np.int64)}


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (checked against ``serving_schema``) -> its probabilities and label."""
    return _outputs(probabilities(trained, tensors["spectrogram"][None])[0])


def predict_batch(
    trained: TrainedModel, requests: Sequence[Mapping[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    """Several requests in one forward pass, each answered as ``predict_request`` would."""
    batch = probabilities(trained, np.stack([r["spectrogram"] for r in requests]))
    return [_outputs(p) for p in batch]
