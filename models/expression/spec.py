"""The expression recognizer's family spec (paper: multimodal-expression-recognition.txt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from models.common.lazy import Lazy
from models.contract import DataPart, EvaluatePart, FamilySpec, KFolds, MonitorPart, ServePart, TrainPart
from models.expression import (
    checkpoint,
    data,
    dataset,
    expectations,
    figures,
    model,
    predict,
    requests,
    schema,
    split,
    summary,
    synth,
)

# promotion gates (components/gates.py): quality only, on Eq. 5's mean F1. Choice: a floor below the
# paper's single models on Aff-Wild2's validation set (Table 2) and far above guessing over 8 classes (~0.12)
PROMOTION_GATES = {"quality": {"f1": 0.3, "f1_vs_champion": 0.02}}


def tiny_config() -> model.ExpressionConfig:
    """A 1-layer LSTM over two features that learns the synthetic data in seconds on one CPU thread."""
    return replace(
        model.ExpressionConfig(),
        variant="lstm",
        features=("mae", "fbank"),
        fusion_dim=32,
        layers=1,
        heads=2,
        feedforward_dim=64,
        segment_length=32,
        stride=32,
        classifier_hidden=(32, 16),
        epochs=10,
        batch_size=8,
        lr=2e-3,
    )


def tiny_dataset() -> synth.SynthConfig:
    """12 short videos of two features, every class equally likely: five subject-independent folds."""
    return replace(
        synth.SynthConfig(),
        videos=12,
        frames=(60, 90),
        features=("mae", "fbank"),
        class_prior=(1.0,) * 8,
        seed=3,
    )


SPEC = FamilySpec(
    name="expression",
    paper="multimodal-expression-recognition.txt",
    summary="Recognizes one of 8 expressions per video frame from fused visual and audio features.",
    data=DataPart(
        formats=("Aff-Wild2 layout: videos.parquet, annotations/<video>.txt, faces/, features/<name>/",),
        synth_config=synth.SynthConfig,
        synthesize=synth.synthesize,
        tiny=tiny_dataset,
        summarize=summary.summarize,
        format_summary=summary.format_summary,
        expectations=expectations,
        partitions=KFolds(split=split.split, file=dataset.FOLDS_FILE, k=expectations.N_FOLDS),
        load=data.load_split,
    ),
    train=TrainPart(
        config=model.ExpressionConfig,
        build=model.build,
        train=Lazy("models.expression.train:train"),
        load=checkpoint.load,
        tiny=tiny_config,
    ),
    evaluate=EvaluatePart(
        paper_metric="f1",
        evaluate=Lazy("models.expression.evaluate:evaluate"),
        protocol=Lazy("models.expression.crossval:cross_validate"),
        gates=PROMOTION_GATES,
        plots=figures.plot_evaluation,
    ),
    serve=ServePart(
        schema=schema.serving_schema,
        example=schema.example_input,
        predict=predict.predict_request,
        predict_batch=predict.predict_batch,
    ),
    monitor=MonitorPart(
        config=Path(__file__).parent / "monitoring.yaml",
        reference_requests=requests.held_out_requests,
    ),
)
