"""One request through a trained hearing-loss model: what serving runtimes call (paper §3.2, inference)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from models.hearing_loss.checkpoint import TrainedModel


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (unbatched arrays already checked against ``serving_schema``) -> named outputs.

    Age and noise level are never inputs (paper §3.2); ``age_estimate`` is the ABM head's output.
    """
    model, config = trained.model.eval(), trained.config
    device = next(model.parameters()).device

    def batch(name: str) -> tuple[torch.Tensor, torch.Tensor]:
        # the model takes [B, T, D] and lengths [B]; one request is B = 1 with no padding
        frames = torch.from_numpy(np.ascontiguousarray(tensors[name])).to(device).unsqueeze(0)
        return frames, torch.tensor([frames.shape[1]])

    current, current_lengths = batch("current")
    inputs: dict[str, torch.Tensor] = {}
    if config.uses_anchor:
        inputs["anchor"], inputs["anchor_lengths"] = batch("anchor")
    with torch.inference_mode():
        out = model(current, current_lengths, **inputs)
    probability = float(torch.sigmoid(out["logit"]).reshape(-1)[0])
    result = {
        "probability": np.asarray(probability, dtype=np.float32),
        "label": np.asarray(int(probability >= trained.threshold), dtype=np.int64),
        "threshold": np.asarray(trained.threshold, dtype=np.float32),
    }
    if "age_z_hat" in out:
        age = trained.age_scaler.inverse(out["age_z_hat"].reshape(-1).cpu().numpy())[0]
        result["age_estimate"] = np.asarray(age, dtype=np.float32)
    return result
