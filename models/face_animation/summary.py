"""A short, printable description of a face-animation dataset."""

from __future__ import annotations

from pathlib import Path

from models.face_animation.dataset import read_meta, read_utterances


def summarize(root: Path) -> dict:
    table = read_utterances(root)
    meta = read_meta(root)
    return {
        "layout": meta.get("layout"),
        "synthetic": bool(meta.get("provenance", {}).get("synthetic")),
        "utterances": len(table),
        "speakers": table.groupby("partition")["speaker_id"].nunique().to_dict(),
        "videos": int(table["video_id"].nunique()),
        "frames": int(table["n_frames"].sum()),
        "hours": round(float(table["duration_s"].sum()) / 3600, 3),
        "emotions": table["emotion"].value_counts().sort_index().to_dict(),
    }


def format_summary(summary: dict) -> str:
    lines = [
        f"layout: {summary['layout']}{' (synthetic)' if summary['synthetic'] else ''}",
        f"utterances: {summary['utterances']} in {summary['videos']} videos, {summary['frames']} frames "
        f"({summary['hours']} h)",
        "speakers per partition: " + ", ".join(f"{k} {v}" for k, v in summary["speakers"].items()),
        "utterances per emotion: " + ", ".join(f"{k} {v}" for k, v in summary["emotions"].items()),
    ]
    return "\n".join(lines)
