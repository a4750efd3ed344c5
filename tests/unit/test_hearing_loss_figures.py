"""The paper's pictures are written as real PNG files from evaluation outputs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.hearing_loss import figures

pytestmark = pytest.mark.unit
PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == PNG and path.stat().st_size > 5_000


def test_group_f1_bars(tmp_path: Path) -> None:
    summary = {f"{key}_mean": 0.6 for key, _ in figures.GROUPS} | {
        f"{key}_std": 0.02 for key, _ in figures.GROUPS
    }
    summary |= {f"random_{key}_mean": 0.4 for key, _ in figures.GROUPS}
    path = figures.plot_group_f1({"Marlin": summary, "Marlin+VM+ABM": summary}, tmp_path / "f1.png")
    assert _is_png(path)


def test_age_probe_and_tsne(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"s{i}" for i in range(12)], 5)
    ages = np.repeat(rng.integers(18, 88, 12), 5)
    frame = pd.DataFrame({"subject_id": subjects, "age": ages, "age_estimate": rng.normal(50, 5, 60)})
    assert _is_png(figures.plot_age_probe(frame, tmp_path / "age.png", r=0.1, p=0.5))
    frame["embedding"] = list(rng.standard_normal((60, 16)))
    assert _is_png(figures.plot_tsne({"a": frame, "b": frame}, tmp_path / "tsne.png"))
