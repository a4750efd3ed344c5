"""A short, printable description of an audio-emotion dataset."""

from __future__ import annotations

from pathlib import Path

from models.audio_emotion.corpus import CLASSES
from models.audio_emotion.dataset import PARTITIONS, clips, image_table, read_meta


def summarize(root: Path) -> dict:
    meta = read_meta(root)
    table = clips(root)
    images = image_table(root)
    classes = CLASSES[meta["corpus"]]
    return {
        "corpus": meta["corpus"],
        "synthetic": bool(meta.get("synthetic")),
        "clips": len(table),
        "actors": int(table["actor"].nunique()),
        "channels": table["channel"].value_counts().sort_index().to_dict(),
        "class_clips": {k: int((table["emotion"] == k).sum()) for k in classes},
        "ifer_images": {k: int((images["emotion"] == k).sum()) for k in classes},
        "partitions": {
            p: {"actors": int(g["actor"].nunique()), "clips": len(g)}
            for p in PARTITIONS
            for g in [table[table["partition"] == p]]
        },
    }


def format_summary(summary: dict) -> str:
    kind = "SYNTHETIC " if summary["synthetic"] else ""
    return "\n".join(
        [
            f"{kind}{summary['corpus']}: {summary['clips']} clips of {summary['actors']} actors "
            f"({', '.join(f'{k} {v}' for k, v in summary['channels'].items())})",
            "  clips per class: " + ", ".join(f"{k} {v}" for k, v in summary["class_clips"].items()),
            "  IFER images per class: " + ", ".join(f"{k} {v}" for k, v in summary["ifer_images"].items()),
            "  partitions (actors, clips; S1 labelled, S2+S3 unlabelled, S4 test): "
            + ", ".join(f"{p} {v['actors']} ({v['clips']})" for p, v in summary["partitions"].items()),
        ]
    )
