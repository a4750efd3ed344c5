"""Per-frame class probabilities of one video's feature sequence (paper §3.3: segment, encode, classify),
and one serving request through a model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from models.expression.checkpoint import TrainedModel
from models.expression.model import ExpressionModel
from models.expression.segments import segment_starts

SEGMENTS_PER_PASS = 64  # Transformer segments batched per forward pass


@torch.inference_mode()
def frame_logits(model: ExpressionModel, x: np.ndarray) -> np.ndarray:
    """``x`` float32 [n, D] (one video, raw features) -> logits [n, 8], one inference pass (§3).

    LSTM: non-overlapping segments in order, the state carried (Eq. 2). Transformer: segments of
    stride p; a frame covered by several segments gets the mean of their logits.
    """
    config, device = model.config, next(model.parameters()).device
    model.eval()
    n, length = len(x), config.segment_length
    features = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
    starts = segment_starts(n, length, config.stride)
    if config.variant == "lstm":
        state, parts = None, []
        for start in starts:
            window = features[start : start + length][None]
            real = torch.ones(window.shape[:2], dtype=torch.bool, device=device)
            logits, state = model(window, real, state)
            parts.append(logits[0])
        return torch.cat(parts).cpu().numpy()
    sums = np.zeros((n, model.head[-1].out_features), dtype=np.float64)
    counts = np.zeros(n, dtype=np.int64)
    for first in range(0, len(starts), SEGMENTS_PER_PASS):
        chunk = starts[first : first + SEGMENTS_PER_PASS]
        width = int(min(length, n - chunk[0]))  # the first segment of a chunk is the longest
        batch = torch.zeros((len(chunk), width, x.shape[1]), device=device)
        mask = torch.zeros((len(chunk), width), dtype=torch.bool, device=device)
        for i, start in enumerate(chunk):
            stop = min(start + length, n)
            batch[i, : stop - start] = features[start:stop]
            mask[i, : stop - start] = True
        logits, _ = model(batch, mask)
        logits = logits.cpu().numpy()
        for i, start in enumerate(chunk):
            stop = min(start + length, n)
            sums[start:stop] += logits[i, : stop - start]
            counts[start:stop] += 1
    return (sums / counts[:, None]).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (arrays already checked against ``serving_schema``) -> per-frame outputs."""
    names = trained.config.features
    lengths = {name: len(tensors[name]) for name in names}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every feature needs the same number of frames T, got {lengths}")
    x = np.concatenate([tensors[name] for name in names], axis=1)  # paper Eq. 1's [f^v; f^a]
    probabilities = softmax(frame_logits(trained.model, x)).astype(np.float32)
    return {"probabilities": probabilities, "labels": probabilities.argmax(axis=1).astype(np.int64)}
