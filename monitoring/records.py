"""What the inference log keeps per request: outputs, metadata and summaries of the inputs, never raw inputs.

One flat record per inference, shared by the sink (from KServe's logged events), the reference data
logged with a registered version (from its held-out predictions) and the reports that compare them.
Family-generic: an input tensor ``[T, D]`` becomes ``{name}_frames`` (T) and ``{name}_mean`` /
``{name}_std`` (D floats each, over the first axis); a scalar output keeps its name, and a per-frame
integer output ``[T]`` (class indices, e.g. per-frame labels) becomes its class shares
``{name}_share_{k}``, the fraction of the request's frames predicted as class ``k`` (classes with no
frame are absent: 0, see ``monitoring.drift.with_class_shares``). An image ``[H, W, C]`` is summarised
as ``[H * W, C]``: its per-channel mean and std.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# the record's own columns; every other column is an output, a metadata field or a tensor summary
INFERENCE_ID = "inference_id"
TIMESTAMP = "timestamp"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
STATUS = "status"  # "ok", or the error class of a failed request (KServe's logger drops those)
BASE_COLUMNS = (INFERENCE_ID, TIMESTAMP, MODEL_NAME, MODEL_VERSION, STATUS)
# reference rows only: whether the row carries the version's answers (an example it did not train on)
# or only its inputs and metadata (one it trained on); a reference without the column is all answered
SCORED = "scored"


def tensor_summary(name: str, value: np.ndarray) -> dict[str, Any]:
    """``{name}_frames`` (T), ``{name}_mean`` and ``{name}_std`` (float32 [D]) of a [T, D] (or [T]) tensor,
    over T; a tensor [..., D] of more axes (an image [H, W, 3]) is summarised over all but its last
    (T = H * W).

    Accumulated in float64 from the tensor as it is: a float32 tensor (a v2 binary request's, a view
    of the body) is never copied to float64 first; only the deviations from the mean are a temporary.
    """
    frames = np.asarray(value)
    if frames.dtype.kind != "f":
        frames = frames.astype(np.float64)  # integers, booleans, nested lists of numbers
    if frames.ndim == 1:
        frames = frames[:, None]
    elif frames.ndim > 2:
        frames = frames.reshape(-1, frames.shape[-1])
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"{name}: cannot summarize a tensor of shape {np.shape(value)}; want [T, D], T >= 1")
    return {
        f"{name}_frames": int(frames.shape[0]),
        f"{name}_mean": frames.mean(axis=0, dtype=np.float64).astype(np.float32),
        f"{name}_std": frames.std(axis=0, dtype=np.float64).astype(np.float32),
    }


def summarize_tensor(name: str, value: np.ndarray) -> dict[str, Any]:
    """``tensor_summary`` with the vectors as lists of floats (a reference frame's cells)."""
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in tensor_summary(name, value).items()}


def summarize_inputs(tensors: Mapping[str, np.ndarray]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, value in tensors.items():
        summary.update(summarize_tensor(name, value))
    return summary


def class_shares(name: str, value: np.ndarray) -> dict[str, float]:
    """``{name}_share_{k}``: the fraction of the frames of a per-frame class output ``[T]`` that are
    class ``k``, for each class present (the predicted class distribution of one request)."""
    labels = np.asarray(value)
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name}: class shares need integer class indices [T], got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0:
        raise ValueError(f"{name}: class indices must be >= 0, got {int(labels.min())}")
    counts = np.bincount(labels)
    return {f"{name}_share_{k}": float(n / labels.size) for k, n in enumerate(counts) if n}


def scalar_outputs(outputs: Mapping[str, Any]) -> dict[str, float | int]:
    """Outputs with one value (probability, label, age_estimate, ...) as plain numbers; a per-frame
    integer output of several frames as its class shares (``class_shares``); others dropped."""
    kept: dict[str, float | int] = {}
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.size == 1:
            item = array.reshape(-1)[0].item()
            kept[name] = item if isinstance(item, (int, float)) else float(item)
        elif array.ndim == 1 and np.issubdtype(array.dtype, np.integer) and array.min() >= 0:
            kept.update(class_shares(name, array))
    return kept
