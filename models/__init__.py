"""Model families, one per paper; the platform reaches them only through ``FAMILIES``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from models.common.schema import ServingSchema
from models.expression import checkpoint as expression_checkpoint
from models.expression import crossval as expression_crossval
from models.expression import data as expression_data
from models.expression import dataset as expression_dataset
from models.expression import evaluate as expression_evaluate
from models.expression import expectations as expression_expectations
from models.expression import figures as expression_figures
from models.expression import model as expression_model
from models.expression import requests as expression_requests
from models.expression import serving as expression_serving
from models.expression import split as expression_split
from models.expression import summary as expression_summary
from models.expression import synth as expression_synth
from models.expression import train as expression_train
from models.hearing_loss import checkpoint as hearing_loss_checkpoint
from models.hearing_loss import cohort as hearing_loss_cohort
from models.hearing_loss import crossval as hearing_loss_crossval
from models.hearing_loss import data as hearing_loss_data
from models.hearing_loss import evaluate as hearing_loss_evaluate
from models.hearing_loss import expectations as hearing_loss_expectations
from models.hearing_loss import figures as hearing_loss_figures
from models.hearing_loss import model as hearing_loss_model
from models.hearing_loss import predict as hearing_loss_predict
from models.hearing_loss import requests as hearing_loss_requests
from models.hearing_loss import serving_schema as hearing_loss_serving
from models.hearing_loss import split as hearing_loss_split
from models.hearing_loss import summary as hearing_loss_summary
from models.hearing_loss import synth as hearing_loss_synth
from models.hearing_loss import train as hearing_loss_train


@dataclass(frozen=True)
class FamilySpec:
    """The model-family contract (ARCHITECTURE.md): everything the platform may call on a family."""

    name: str
    paper: str
    config: type  # dataclass with the paper's defaults; overridden by params / pipeline parameters
    build: Callable[[Any], Any]  # config -> nn.Module
    load_data: Callable[[Path], pd.DataFrame]  # a split dataset -> its training/evaluation table
    synth_config: type  # dataclass whose defaults are the paper's dataset scale
    synthesize: Callable[[Any, Path], pd.DataFrame]
    summarize: Callable[[Path], dict]
    format_summary: Callable[[dict], str]
    expectations: ModuleType  # tables(cohort), EXPECTATIONS, ID_COLUMNS for the validation gate
    # split(cohort, n_folds, seed) writes the subject-independent folds into the cohort: their path
    split: Callable[[Path, int, int], Path]
    folds_file: str  # the file ``split`` writes; a cohort that has it is split
    # train(config, data, tracker, *, out_dir, holdout_fold, device, resume) -> model artifact path
    train: Callable[..., Path]
    load_model: Callable[..., Any]  # artifact path -> trained model (with its config)
    # evaluate(trained, data, holdout_fold) -> dict of the paper's metrics (per group where reported)
    evaluate: Callable[..., dict]
    # the paper's evaluation protocol: (config, data, tracker, *, out_dir, seeds) -> (summary, predictions)
    cross_validate: Callable[..., tuple[dict, pd.DataFrame]]
    serving_schema: Callable[[Any], ServingSchema]  # config -> named input / output tensors
    example_input: Callable[[Any], dict[str, np.ndarray]]  # config -> a valid request's tensors
    # (trained model, one request's checked tensors) -> named output arrays; what serving calls
    predict_request: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]]
    # default promotion gates, {gate name: {metric: threshold}} (components/gates.py); a pipeline
    # run or `registry promote` may name others
    gates: Mapping[str, Mapping[str, float]]
    # held_out_requests(data, holdout_fold) -> (metadata, tensors) per held-out example, as a request
    # would carry them: a version's monitoring reference. None: the family is not monitored yet
    held_out_requests: Callable[[Path, int], Iterator[tuple[dict, dict[str, np.ndarray]]]] | None = None
    # plot_evaluation(report, reference frame, out_dir) -> PNG paths logged with a registered version
    plot_evaluation: Callable[[Mapping, pd.DataFrame, Path], list[Path]] | None = None
    # what monitoring reports and gates for the served model, over the platform's defaults
    # (monitoring/config.py): age groups, feature column, labels, thresholds. None: not monitored
    monitoring: Path | None = None


DEFAULT_FAMILY = "hearing_loss"
FAMILIES: dict[str, FamilySpec] = {
    "hearing_loss": FamilySpec(
        name="hearing_loss",
        paper="hearing-loss-detection.txt",
        config=hearing_loss_model.HearingLossConfig,
        build=hearing_loss_model.build,
        load_data=hearing_loss_data.load_split,
        synth_config=hearing_loss_synth.SynthConfig,
        synthesize=hearing_loss_synth.synthesize,
        summarize=hearing_loss_summary.summarize,
        format_summary=hearing_loss_summary.format_summary,
        expectations=hearing_loss_expectations,
        split=hearing_loss_split.split,
        folds_file=hearing_loss_cohort.FOLDS_FILE,
        train=hearing_loss_train.train,
        load_model=hearing_loss_checkpoint.load,
        evaluate=hearing_loss_evaluate.evaluate,
        cross_validate=hearing_loss_crossval.cross_validate,
        serving_schema=hearing_loss_serving.serving_schema,
        example_input=hearing_loss_serving.example_input,
        predict_request=hearing_loss_predict.predict_request,
        gates=hearing_loss_evaluate.PROMOTION_GATES,
        held_out_requests=hearing_loss_requests.held_out_requests,
        plot_evaluation=hearing_loss_figures.plot_evaluation,
        monitoring=Path(hearing_loss_model.__file__).parent / "monitoring.yaml",
    ),
    "expression": FamilySpec(
        name="expression",
        paper="multimodal-expression-recognition.txt",
        config=expression_model.ExpressionConfig,
        build=expression_model.build,
        load_data=expression_data.load_split,
        synth_config=expression_synth.SynthConfig,
        synthesize=expression_synth.synthesize,
        summarize=expression_summary.summarize,
        format_summary=expression_summary.format_summary,
        expectations=expression_expectations,
        split=expression_split.split,
        folds_file=expression_dataset.FOLDS_FILE,
        train=expression_train.train,
        load_model=expression_checkpoint.load,
        evaluate=expression_evaluate.evaluate,
        cross_validate=expression_crossval.cross_validate,
        serving_schema=expression_serving.serving_schema,
        example_input=expression_serving.example_input,
        predict_request=expression_serving.predict_request,
        gates=expression_evaluate.PROMOTION_GATES,
        held_out_requests=expression_requests.held_out_requests,
        plot_evaluation=expression_figures.plot_evaluation,
        monitoring=Path(expression_model.__file__).parent / "monitoring.yaml",
    ),
}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
