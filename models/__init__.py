"""Model families, one per paper; the platform reaches them only through ``FAMILIES``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from models.hearing_loss import expectations as hearing_loss_expectations
from models.hearing_loss import summary as hearing_loss_summary
from models.hearing_loss import synth as hearing_loss_synth


@dataclass(frozen=True)
class FamilySpec:
    """What the platform knows about a family. Later layers add training, evaluation and serving."""

    name: str
    paper: str
    synth_config: type  # dataclass whose defaults are the paper's dataset scale
    synthesize: Callable[[Any, Path], pd.DataFrame]
    summarize: Callable[[Path], dict]
    format_summary: Callable[[dict], str]
    expectations: ModuleType  # tables(cohort), EXPECTATIONS, ID_COLUMNS for the validation gate


FAMILIES: dict[str, FamilySpec] = {
    "hearing_loss": FamilySpec(
        name="hearing_loss",
        paper="hearing-loss-detection.txt",
        synth_config=hearing_loss_synth.SynthConfig,
        synthesize=hearing_loss_synth.synthesize,
        summarize=hearing_loss_summary.summarize,
        format_summary=hearing_loss_summary.format_summary,
        expectations=hearing_loss_expectations,
    ),
}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
