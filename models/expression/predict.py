"""Per-frame class probabilities of videos' feature sequences (paper §3.3: segment, encode, classify),
and serving requests through a model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from models.expression.checkpoint import TrainedModel
from models.expression.model import ExpressionModel
from models.expression.segments import segment_starts

SEGMENTS_PER_PASS = 64  # Transformer segments batched per forward pass


def frame_logits(model: ExpressionModel, x: np.ndarray) -> np.ndarray:
    """``x`` float32 [n, D] (one video, raw features) -> logits [n, 8], one inference pass (§3)."""
    return videos_frame_logits(model, [x])[0]


@torch.inference_mode()
def videos_frame_logits(model: ExpressionModel, videos: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each video's ``x`` float32 [n, D] (raw features) -> its logits [n, 8], the videos sharing passes.

    LSTM: non-overlapping segments in order, the state carried (Eq. 2); step i runs the i-th segment
    of every video that has one, each with its own carried state. Transformer: segments of stride p,
    any video's, up to ``SEGMENTS_PER_PASS`` per pass; a frame covered by several segments gets the
    mean of their logits. A pass pads its segments to its longest and masks the padding (the
    Transformer's key padding mask; for the LSTM, padding only ends a video's last segment, whose
    state is never carried on), so a video's logits do not depend on the videos beside it.
    """
    config, device = model.config, next(model.parameters()).device
    model.eval()
    length = config.segment_length
    features = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device) for x in videos]
    # (video, start, stop) of every segment
    segments = [
        (v, int(start), int(min(start + length, len(x))))
        for v, x in enumerate(videos)
        for start in segment_starts(len(x), length, config.stride)
    ]
    sums = [np.zeros((len(x), model.head[-1].out_features), dtype=np.float64) for x in videos]
    counts = [np.zeros(len(x), dtype=np.int64) for x in videos]
    if config.variant == "lstm":
        state = None  # (h, c) [layers, videos still running, hidden]
        running = list(range(len(videos)))
        by_video = [[s for s in segments if s[0] == v] for v in range(len(videos))]
        for step in range(max(len(s) for s in by_video)):
            step_segments = [by_video[v][step] for v in running]
            logits, state = _pass(model, features, step_segments, device, state)
            for i, (v, start, stop) in enumerate(step_segments):
                sums[v][start:stop] += logits[i, : stop - start]
                counts[v][start:stop] += 1
            keep = [i for i, v in enumerate(running) if step + 1 < len(by_video[v])]
            running = [running[i] for i in keep]
            if state is not None and keep:
                index = torch.tensor(keep, device=device)
                state = tuple(part.index_select(1, index) for part in state)
    else:
        for first in range(0, len(segments), SEGMENTS_PER_PASS):
            chunk = segments[first : first + SEGMENTS_PER_PASS]
            logits, _ = _pass(model, features, chunk, device, None)
            for i, (v, start, stop) in enumerate(chunk):
                sums[v][start:stop] += logits[i, : stop - start]
                counts[v][start:stop] += 1
    return [(s / c[:, None]).astype(np.float32) for s, c in zip(sums, counts, strict=True)]


def _pass(model, features, segments, device, state):
    """One forward of ``segments`` (video, start, stop), right-padded to the longest, with their mask."""
    width = max(stop - start for _, start, stop in segments)
    if len(segments) == 1:  # one segment: no padding, no copy
        v, start, stop = segments[0]
        window = features[v][start:stop][None]
        mask = torch.ones(window.shape[:2], dtype=torch.bool, device=device)
    else:
        window = torch.zeros((len(segments), width, features[0].shape[1]), device=device)
        mask = torch.zeros((len(segments), width), dtype=torch.bool, device=device)
        for i, (v, start, stop) in enumerate(segments):
            window[i, : stop - start] = features[v][start:stop]
            mask[i, : stop - start] = True
    logits, state = model(window, mask, state)
    return logits.cpu().numpy(), state


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (arrays already checked against ``serving_schema``) -> per-frame outputs."""
    return predict_batch(trained, [tensors])[0]


def predict_batch(
    trained: TrainedModel, requests: Sequence[Mapping[str, np.ndarray]]
) -> list[dict[str, np.ndarray]]:
    """Several requests (videos of any lengths) sharing forward passes -> each one's outputs, as
    ``predict_request`` gives them; ValueError names the first request whose features disagree on T."""
    names = trained.config.features
    videos = []
    for index, tensors in enumerate(requests):
        lengths = {name: len(tensors[name]) for name in names}
        if len(set(lengths.values())) != 1:
            where = f"request {index}: " if len(requests) > 1 else ""
            raise ValueError(f"{where}every feature needs the same number of frames T, got {lengths}")
        videos.append(np.concatenate([tensors[name] for name in names], axis=1))  # paper Eq. 1's [f^v; f^a]
    results = []
    for logits in videos_frame_logits(trained.model, videos):
        probabilities = softmax(logits).astype(np.float32)
        results.append(
            {"probabilities": probabilities, "labels": probabilities.argmax(axis=1).astype(np.int64)}
        )
    return results
