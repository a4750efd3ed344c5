"""A short, printable description of an expression dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.common.folds import read_folds
from models.expression.annotations import read_annotation
from models.expression.dataset import FOLDS_FILE, annotation_path, read_meta, read_videos
from models.expression.features import CLASSES, N_CLASSES


def summarize(root: Path) -> dict:
    videos = read_videos(root)
    counts = np.zeros(N_CLASSES + 1, dtype=np.int64)  # last slot: invalid (-1) frames
    for video in videos["video_id"]:
        labels = read_annotation(annotation_path(root, video))
        counts += np.bincount(np.where(labels < 0, N_CLASSES, labels), minlength=N_CLASSES + 1)
    summary = {
        "videos": len(videos),
        "subjects": int(videos["subject_id"].nunique()),
        "frames": int(videos["n_frames"].sum()),
        "frames_per_video": {"min": int(videos["n_frames"].min()), "max": int(videos["n_frames"].max())},
        "partitions": videos["partition"].value_counts().sort_index().to_dict(),
        "features": read_meta(root).get("features", {}),
        "class_frames": {name: int(counts[i]) for i, name in enumerate(CLASSES)},
        "invalid_frames": int(counts[N_CLASSES]),
    }
    if (Path(root) / FOLDS_FILE).exists():
        folds = read_folds(root).merge(videos[["video_id", "n_frames"]], on="video_id")
        summary["folds"] = {
            int(f): {"videos": len(g), "frames": int(g["n_frames"].sum())} for f, g in folds.groupby("fold")
        }
    return summary


def format_summary(summary: dict) -> str:
    valid = sum(summary["class_frames"].values())
    lines = [
        f"{summary['videos']} videos of {summary['subjects']} subjects, {summary['frames']} frames "
        f"({summary['frames_per_video']['min']}-{summary['frames_per_video']['max']} per video), "
        f"{summary['invalid_frames']} invalid",
        "  features: " + ", ".join(f"{name} ({dim})" for name, dim in summary["features"].items()),
        "  class share: "
        + ", ".join(f"{name} {count / max(valid, 1):.2f}" for name, count in summary["class_frames"].items()),
        "  partitions: " + ", ".join(f"{k} {v}" for k, v in summary["partitions"].items()),
    ]
    if "folds" in summary:
        lines.append(
            "  folds (videos, frames): "
            + ", ".join(f"{k}: {v['videos']} ({v['frames']})" for k, v in summary["folds"].items())
        )
    return "\n".join(lines)
