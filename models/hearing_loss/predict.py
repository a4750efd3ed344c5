"""Requests through a trained hearing-loss model: what serving runtimes call (paper §3.2, inference)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from models.hearing_loss.checkpoint import TrainedModel


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (unbatched arrays already checked against ``serving_schema``) -> named outputs.

    Age and noise level are never inputs (paper §3.2); ``age_estimate`` is the ABM head's output.
    """
    return predict_batch(trained, [tensors])[0]


def predict_batch(
    trained: TrainedModel, requests: Sequence[Mapping[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    """Several requests in one forward pass -> each one's outputs, as ``predict_request`` gives them.

    Segments of different lengths are right-padded to the batch's longest and their lengths passed
    on: the encoder's GRU is unidirectional and its average pooling counts valid frames only
    (``SegmentEncoder.forward``), so padding changes no request's answer beyond float rounding.
    """
    model, config = trained.model.eval(), trained.config
    device = next(model.parameters()).device

    def stacked(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        arrays = [np.ascontiguousarray(request[name]) for request in requests]
        if len(arrays) == 1:  # one request: [1, T, D], no padding, no copy
            return torch.from_numpy(arrays[0]).to(device).unsqueeze(0), torch.tensor([len(arrays[0])])
        lengths = [len(a) for a in arrays]
        frames = np.zeros((len(arrays), max(lengths), arrays[0].shape[1]), dtype=np.float32)
        for i, array in enumerate(arrays):
            frames[i, : len(array)] = array
        return torch.from_numpy(frames).to(device), torch.tensor(lengths)

    current, current_lengths = stacked("current")
    inputs: dict[str, torch.Tensor] = {}
    if config.uses_anchor:
        inputs["anchor"], inputs["anchor_lengths"] = stacked("anchor")
    with torch.inference_mode():
        out = model(current, current_lengths, **inputs)
    probabilities = torch.sigmoid(out["logit"]).reshape(-1).cpu().numpy()
    ages = None
    if "age_z_hat" in out:
        ages = trained.age_scaler.inverse(out["age_z_hat"].reshape(-1).cpu().numpy())
    results = []
    for i, probability in enumerate(probabilities.tolist()):
        result = {
            "probability": np.asarray(probability, dtype=np.float32),
            "label": np.asarray(int(probability >= trained.threshold), dtype=np.int64),
            "threshold": np.asarray(trained.threshold, dtype=np.float32),
        }
        if ages is not None:
            result["age_estimate"] = np.asarray(ages[i], dtype=np.float32)
        results.append(result)
    return results
