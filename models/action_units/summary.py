"""A short, printable description of an AU dataset."""

from __future__ import annotations

from pathlib import Path

from models.action_units.aus import LAYOUT_AUS, au_columns
from models.action_units.dataset import MASKED, frame_table, pool_table, read_meta
from models.common.folds import FOLDS_FILE, read_folds


def summarize(root: Path) -> dict:
    meta = read_meta(root)
    frames = frame_table(root)
    aus = LAYOUT_AUS[meta["layout"]]
    summary = {
        "layout": meta["layout"],
        "synthetic": bool(meta.get("provenance", {}).get("synthetic", False)),
        "image_size": meta["image_size"],
        "subjects": int(frames["subject_id"].nunique()),
        "sequences": int(frames["sequence_id"].nunique()),
        "frames": len(frames),
        "pool_images": len(pool_table(root)[0]),
        "positive_rate": {
            c: float((frames[c] == 1).sum() / max((frames[c] != MASKED).sum(), 1)) for c in au_columns(aus)
        },
        "uncoded": int((frames[au_columns(aus)] == MASKED).to_numpy().sum()),
    }
    if (Path(root) / FOLDS_FILE).exists():
        folds = read_folds(root).merge(frames[["subject_id"]], on="subject_id")
        summary["folds"] = {int(f): len(g) for f, g in folds.groupby("fold")}
    return summary


def format_summary(summary: dict) -> str:
    kind = "synthetic " if summary["synthetic"] else ""
    lines = [
        f"{kind}{summary['layout']} dataset: {summary['subjects']} subjects, "
        f"{summary['sequences']} sequences, "
        f"{summary['frames']} frames at {summary['image_size']} px, {summary['uncoded']} uncoded labels; "
        f"{summary['pool_images']} unlabelled pool images",
        "  positive rate: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["positive_rate"].items()),
    ]
    if "folds" in summary:
        lines.append("  frames per fold: " + ", ".join(f"{k}: {v}" for k, v in summary["folds"].items()))
    return "\n".join(lines)
