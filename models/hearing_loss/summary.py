"""A short, printable description of a hearing-loss cohort."""

from __future__ import annotations

from pathlib import Path

from models.common.folds import read_folds
from models.hearing_loss.dataset import FOLDS_FILE, read_manifest


def summarize(cohort: Path) -> dict:
    manifest = read_manifest(cohort)
    subjects = manifest.drop_duplicates("subject_id")
    groups = subjects.groupby("age_group")["hearing_loss"].agg(subjects="size", positive_rate="mean")
    summary = {
        "subjects": len(subjects),
        "sessions": int(manifest["session_id"].nunique()),
        "segments": len(manifest),
        "frames_per_segment": {
            "min": int(manifest["n_frames"].min()),
            "mean": round(float(manifest["n_frames"].mean()), 1),
            "max": int(manifest["n_frames"].max()),
        },
        "positive_rate": round(float(subjects["hearing_loss"].mean()), 3),
        "age_groups": {
            g: {"subjects": int(r.subjects), "positive_rate": round(r.positive_rate, 3)}
            for g, r in groups.iterrows()
        },
        "segments_per_noise_level": manifest["noise_level_dba"].value_counts().sort_index().to_dict(),
    }
    if (Path(cohort) / FOLDS_FILE).exists():
        folds = read_folds(cohort).merge(subjects[["subject_id", "hearing_loss"]], on="subject_id")
        summary["folds"] = {
            int(f): {"subjects": len(g), "positive_rate": round(float(g["hearing_loss"].mean()), 3)}
            for f, g in folds.groupby("fold")
        }
    return summary


def format_summary(summary: dict) -> str:
    lines = [
        f"{summary['subjects']} subjects in {summary['sessions']} sessions, {summary['segments']} segments "
        f"(T {summary['frames_per_segment']['min']}-{summary['frames_per_segment']['max']}, "
        f"mean {summary['frames_per_segment']['mean']}); positive rate {summary['positive_rate']}",
        "  age group   subjects  positive rate",
    ]
    for group in ("young", "mid", "old"):
        if group in summary["age_groups"]:
            row = summary["age_groups"][group]
            lines.append(f"  {group:<10}{row['subjects']:>9}  {row['positive_rate']:>13.2f}")
    levels = ", ".join(f"{k} dBA: {v}" for k, v in summary["segments_per_noise_level"].items())
    lines.append(f"  segments per noise level: {levels}")
    if "folds" in summary:
        folds = ", ".join(
            f"{k}: {v['subjects']} ({v['positive_rate']:.2f})" for k, v in summary["folds"].items()
        )
        lines.append(f"  folds (subjects, positive rate): {folds}")
    return "\n".join(lines)
