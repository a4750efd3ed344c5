"""Training the expression recognizer (paper §3.3-§3.5, §4.3) on CPU, one GPU, or DDP under torchrun.

Adam with R-Drop (Eq. 4): every segment goes through the model twice. The Transformer trains on
shuffled segments; the LSTM on shuffled batches of whole videos, walked segment by segment with
its state carried across (Eq. 2). The state after every epoch goes to ``<out>/last.pt``; a rerun
with the same config resumes from it.

Under torchrun ``batch_size`` stays the global batch (as in the hearing-loss trainer): each rank
takes its ``batch_size / world`` share of every step (``step_plan``) and divides its loss sums by
the step's frame counts over all ranks, so the averaged gradient is the one process's gradient.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from models.common.folds import select_folds
from models.common.training import MODEL_FILE, FamilyTrainer, train_function
from models.expression import checkpoint
from models.expression.data import feature_stats, load_split, pad_segments
from models.expression.dataset import VideoStore
from models.expression.model import ExpressionConfig, ExpressionModel, LSTMState, RDropPair, build, rdrop_loss
from models.expression.segments import segment_table
from models.expression.step_plan import Segment, Step, lstm_steps, transformer_steps

log = logging.getLogger(__name__)


class _Trainer(FamilyTrainer):
    config: ExpressionConfig

    def prepare(self) -> None:
        self.videos = select_folds(load_split(self.data), self.holdout, train=True)
        if self.videos.empty:
            raise ValueError(f"no training videos in {self.data} with fold {self.holdout} held out")
        self.store = VideoStore(self.data, self.config.features)
        torch.manual_seed(self.config.seed)  # the initial weights are part of what a seed fixes
        self.model: ExpressionModel = build(self.config)
        mean, std = feature_stats(self.store, self.videos)
        self.model.feature_mean.copy_(torch.from_numpy(mean))
        self.model.feature_std.copy_(torch.from_numpy(std))
        self.model.to(self.runtime.device)
        self.pair = self.runtime.wrap(RDropPair(self.model))

    def run(self, resume: bool) -> Path:
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)  # paper §4.3
        start = self._resume(optimizer) if resume else 0
        runtime = self.runtime
        if runtime.is_main:
            self.tracker.log_params(
                {
                    **asdict(self.config),
                    "holdout_fold": self.holdout,
                    "train_videos": len(self.videos),
                    "train_frames": int(self.videos["n_frames"].sum()),
                    "world_size": runtime.world,
                    "device": str(runtime.device),
                }
            )
        for epoch in range(start, self.config.epochs):
            # seeds derive from (seed, epoch): a resumed run draws what an uninterrupted one would; every
            # rank draws the same order, and its own dropout
            rng = np.random.default_rng([self.config.seed, epoch])
            torch.manual_seed(self.config.seed * 10_000 + epoch + 1_000_003 * runtime.rank)
            self.model.train()
            started = time.perf_counter()
            plan = self._lstm_plan(rng) if self.config.variant == "lstm" else self._transformer_plan(rng)
            sums: dict[str, list[float]] = {}
            frames = 0
            for group in plan:
                state: LSTMState | None = None  # each group of videos starts fresh (Eq. 2)
                for segments in group:
                    losses, n, state = self._step(segments, optimizer, state)
                    frames += n
                    for key, value in losses.items():
                        sums.setdefault(key, []).append(value)
            seconds = time.perf_counter() - started
            # a rank's losses are its share of each step's loss; the step's is their sum over ranks
            totals = {key: runtime.mean(float(np.mean(v))) * runtime.world for key, v in sums.items()}
            metrics = {**totals, "frames_per_s": runtime.mean(frames) * runtime.world / seconds}
            if runtime.is_main:
                self.tracker.log_metrics(metrics, step=epoch + 1)
                self.state.save(self.model, optimizer, epoch=epoch + 1)
                shown = " ".join(f"{key} {value:.4f}" for key, value in metrics.items())
                log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, self.config.epochs, shown, seconds)
        path = self.out_dir / MODEL_FILE
        if runtime.is_main:
            checkpoint.save(checkpoint.TrainedModel(self.model, self.holdout), path)
            self.tracker.log_artifact(path)
        runtime.barrier()
        return path

    def _step(
        self, segments: Step, optimizer: torch.optim.Optimizer, state: LSTMState | None
    ) -> tuple[dict[str, float], int, LSTMState | None]:
        """One R-Drop step (paper Eq. 4): two passes of the same segments, dropout differs.

        ``segments`` None: this rank has nothing at this step but must join DDP's all-reduce, so it
        runs a real segment at zero weight (an all-padding input makes attention NaN, and NaN * 0 is NaN).
        """
        weight = 0.0 if segments is None else 1.0
        if state is not None and segments is not None:  # videos that ended drop out of the carried state
            state = (state[0][:, : len(segments)].contiguous(), state[1][:, : len(segments)].contiguous())
        x, y, mask = (t.to(self.runtime.device) for t in pad_segments(self.store, segments or [self.spare]))
        totals = None
        if self.runtime.distributed:
            counts = torch.stack([(mask & (y >= 0)).sum(), mask.sum()]).to(torch.float64) * weight
            dist.all_reduce(counts)
            totals = (float(counts[0]), float(counts[1]))
        logits1, logits2, carried = self.pair(x, mask, None if segments is None else state)
        losses = rdrop_loss(logits1, logits2, y, mask, self.config.rdrop_alpha, totals)
        # DDP averages the ranks' gradients; the step's loss is the sum of their shares
        scale = weight * self.runtime.world
        optimizer.zero_grad(set_to_none=True)
        (losses["loss"] * scale).backward()
        optimizer.step()
        if segments is None:
            return {k: 0.0 for k in losses}, 0, None
        if carried is not None:  # truncated back-propagation: the next segment sees values only
            carried = (carried[0].detach(), carried[1].detach())
        return {k: v.item() for k, v in losses.items()}, int(mask.sum()), carried

    @property
    def spare(self) -> Segment:
        """A real segment for zero-weight steps: the first training video's first segment."""
        video, n = self.videos[["video_id", "n_frames"]].iloc[0]
        return (video, 0, min(int(n), self.config.segment_length))

    def _transformer_plan(self, rng: np.random.Generator) -> list[list[Step]]:
        """Shuffled segments of every training video, in global batches (one group, no state)."""
        lengths = dict(self.videos[["video_id", "n_frames"]].itertuples(index=False))
        table = segment_table(lengths, self.config.segment_length, self.config.stride)
        order = [table[i] for i in rng.permutation(len(table))]
        return [transformer_steps(order, self.per_rank_batch, self.runtime.rank, self.runtime.world)]

    def _lstm_plan(self, rng: np.random.Generator) -> list[list[Step]]:
        """Paper Eq. 2: batches of videos, segment k of each video after segment k-1, state carried."""
        videos = self.videos.iloc[rng.permutation(len(self.videos))]
        return lstm_steps(
            videos, self.per_rank_batch, self.config.segment_length, self.runtime.rank, self.runtime.world
        )

    # -- resumable state ----------------------------------------------------------------------

    def _resume(self, optimizer: torch.optim.Optimizer) -> int:
        """The epochs already done by an interrupted run of this fingerprint (0 if none)."""
        state = self.state.load(self.model)
        if state is None:
            return 0
        optimizer.load_state_dict(state["optimizer"])
        log.info("resuming at epoch %d/%d from %s", state["epoch"] + 1, self.config.epochs, self.out_dir)
        return int(state["epoch"])


train = train_function(_Trainer)
