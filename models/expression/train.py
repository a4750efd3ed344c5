"""Training the expression recognizer (paper §3.3-§3.5, §4.3) on CPU or one GPU.

Adam with R-Drop (Eq. 4): every segment goes through the model twice. The Transformer trains on
shuffled segments; the LSTM on shuffled batches of whole videos, walked segment by segment with
its state carried across (Eq. 2). The state after every epoch goes to ``<out>/last.pt``; a rerun
with the same config resumes from it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from models.common.distributed import Runtime, setup, teardown
from models.common.tracking import Tracker
from models.expression import checkpoint
from models.expression.data import batches, feature_stats, load_split, pad_segments, select_folds
from models.expression.dataset import VideoStore
from models.expression.model import ExpressionConfig, ExpressionModel, LSTMState, build, rdrop_loss
from models.expression.segments import segment_starts, segment_table

log = logging.getLogger(__name__)

STATE_FILE = "last.pt"
MODEL_FILE = "model.pt"


def train(
    config: ExpressionConfig,
    data: Path,
    tracker: Tracker,
    *,
    out_dir: Path,
    holdout_fold: int | None = None,
    device: str = "auto",
    resume: bool = True,
) -> Path:
    """Train on every fold but ``holdout_fold`` (all folds if None); return the model artifact's path."""
    runtime = setup(device)
    try:
        if runtime.distributed:
            raise RuntimeError(
                "expression training runs in one process (CPU or one GPU); torchrun is not supported"
            )
        return _Trainer(config, Path(data), tracker, Path(out_dir), holdout_fold, runtime).run(resume)
    finally:
        teardown(runtime)


class _Trainer:
    def __init__(
        self,
        config: ExpressionConfig,
        data: Path,
        tracker: Tracker,
        out_dir: Path,
        holdout_fold: int | None,
        runtime: Runtime,
    ) -> None:
        self.config, self.tracker, self.out_dir, self.runtime = config, tracker, out_dir, runtime
        self.holdout_fold = holdout_fold
        self.videos = select_folds(load_split(data), holdout_fold, train=True)
        if self.videos.empty:
            raise ValueError(f"no training videos in {data} with fold {holdout_fold} held out")
        self.store = VideoStore(data, config.features)
        torch.manual_seed(config.seed)  # the initial weights are part of what a seed fixes
        self.model: ExpressionModel = build(config)
        mean, std = feature_stats(self.store, self.videos)
        self.model.feature_mean.copy_(torch.from_numpy(mean))
        self.model.feature_std.copy_(torch.from_numpy(std))
        self.model.to(runtime.device)

    def run(self, resume: bool) -> Path:
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)  # paper §4.3
        start = self._load_state(optimizer) if resume else 0
        self.tracker.log_params(
            {
                **asdict(self.config),
                "holdout_fold": self.holdout_fold,
                "train_videos": len(self.videos),
                "train_frames": int(self.videos["n_frames"].sum()),
                "device": str(self.runtime.device),
            }
        )
        for epoch in range(start, self.config.epochs):
            # seeds derive from (seed, epoch): a resumed run draws what an uninterrupted one would
            rng = np.random.default_rng([self.config.seed, epoch])
            torch.manual_seed(self.config.seed * 10_000 + epoch)
            self.model.train()
            started = time.perf_counter()
            step = self._lstm_epoch if self.config.variant == "lstm" else self._transformer_epoch
            totals, frames = step(rng, optimizer)
            seconds = time.perf_counter() - started
            metrics = {**totals, "frames_per_s": frames / seconds}
            self.tracker.log_metrics(metrics, step=epoch + 1)
            self._save_state(epoch + 1, optimizer)
            shown = " ".join(f"{key} {value:.4f}" for key, value in metrics.items())
            log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, self.config.epochs, shown, seconds)
        path = self.out_dir / MODEL_FILE
        checkpoint.save(checkpoint.TrainedModel(self.model, self.holdout_fold), path)
        self.tracker.log_artifact(path)
        return path

    def _step(
        self, segments: list[tuple[str, int, int]], optimizer: torch.optim.Optimizer, state: LSTMState | None
    ) -> tuple[dict[str, float], int, LSTMState | None]:
        """One R-Drop step (paper Eq. 4): two passes of the same segments, dropout differs."""
        x, y, mask = (t.to(self.runtime.device) for t in pad_segments(self.store, segments))
        logits1, carried = self.model(x, mask, state)
        logits2, _ = self.model(x, mask, state)
        losses = rdrop_loss(logits1, logits2, y, mask, self.config.rdrop_alpha)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        if carried is not None:  # truncated back-propagation: the next segment sees values only
            carried = (carried[0].detach(), carried[1].detach())
        return {k: v.item() for k, v in losses.items()}, int(mask.sum()), carried

    def _transformer_epoch(
        self, rng: np.random.Generator, optimizer: torch.optim.Optimizer
    ) -> tuple[dict[str, float], int]:
        lengths = dict(self.videos[["video_id", "n_frames"]].itertuples(index=False))
        table = segment_table(lengths, self.config.segment_length, self.config.stride)
        order = [table[i] for i in rng.permutation(len(table))]
        sums: dict[str, list[float]] = {}
        frames = 0
        for chosen in batches(order, self.config.batch_size):
            losses, n, _ = self._step(list(chosen), optimizer, None)
            frames += n
            for key, value in losses.items():
                sums.setdefault(key, []).append(value)
        return {key: float(np.mean(values)) for key, values in sums.items()}, frames

    def _lstm_epoch(
        self, rng: np.random.Generator, optimizer: torch.optim.Optimizer
    ) -> tuple[dict[str, float], int]:
        """Paper Eq. 2: batches of videos, segment k of each video after segment k-1, state carried."""
        videos = self.videos.iloc[rng.permutation(len(self.videos))]
        length = self.config.segment_length
        sums: dict[str, list[float]] = {}
        frames = 0
        for group in batches(videos, self.config.batch_size):
            # longest first, so the videos still running at segment k are a prefix of the batch
            group = group.sort_values("n_frames", ascending=False, kind="stable")
            lengths = [
                (video, int(n)) for video, n in group[["video_id", "n_frames"]].itertuples(index=False)
            ]
            starts = [segment_starts(n, length, length) for _, n in lengths]
            state: LSTMState | None = None
            for k in range(len(starts[0])):
                active = [
                    (video, int(s[k]), min(int(s[k]) + length, n))
                    for (video, n), s in zip(lengths, starts, strict=True)
                    if k < len(s)
                ]
                if state is not None:  # videos that ended drop out of the carried state
                    state = (state[0][:, : len(active)].contiguous(), state[1][:, : len(active)].contiguous())
                losses, n_frames, state = self._step(active, optimizer, state)
                frames += n_frames
                for key, value in losses.items():
                    sums.setdefault(key, []).append(value)
        return {key: float(np.mean(values)) for key, values in sums.items()}, frames

    # -- resumable state ----------------------------------------------------------------------

    def _fingerprint(self) -> dict:
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.config).items()}
        return {"config": config, "holdout_fold": self.holdout_fold}

    def _save_state(self, epochs_done: int, optimizer: torch.optim.Optimizer) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            **self._fingerprint(),
            "epoch": epochs_done,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
        }
        tmp = self.out_dir / (STATE_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.out_dir / STATE_FILE)  # atomic: an interruption leaves the previous epoch's state

    def _load_state(self, optimizer: torch.optim.Optimizer) -> int:
        path = self.out_dir / STATE_FILE
        if not path.exists():
            return 0
        state = torch.load(path, map_location=self.runtime.device, weights_only=True)
        if {key: state[key] for key in ("config", "holdout_fold")} != self._fingerprint():
            raise ValueError(
                f"{path} was written by a run with another config or holdout fold; "
                "use a new output directory or --no-resume"
            )
        self.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        log.info("resuming at epoch %d/%d from %s", state["epoch"] + 1, self.config.epochs, self.out_dir)
        return int(state["epoch"])
