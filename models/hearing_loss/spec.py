"""The hearing-loss detector's family spec (paper: hearing-loss-detection.txt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from models.common.lazy import Lazy
from models.contract import (
    DataPart,
    EvaluatePart,
    FamilySpec,
    KFolds,
    MonitorPart,
    ServePart,
    Traffic,
    TrainPart,
)
from models.hearing_loss import (
    checkpoint,
    data,
    dataset,
    expectations,
    figures,
    media,
    model,
    predict,
    requests,
    schema,
    split,
    summary,
    synth,
    traffic,
)

# promotion gates (components/gates.py): quality, fairness across age groups (the model must not buy
# F1 with age as a shortcut) and the Fig. 5 age probe. Choice, from Table 2: Marlin+Age (young 16.1,
# gap 0.70) and plain Marlin (young 32.9, gap 0.46) fail; Marlin+Anchor / +VM / +VM+ABM (young >= 40.6,
# gap <= 0.40) pass; coin flipping (47.9 overall) fails the quality floor
PROMOTION_GATES = {
    "quality": {"f1": 0.55, "f1_vs_champion": 0.02},
    "fairness": {"f1_young": 0.35, "f1_gap": 0.40},
    "age_probe": {"abs_age_probe_r": 0.5},
}


def tiny_config() -> model.HearingLossConfig:
    """The paper's full model (VM + ABM) at a size that trains in seconds on a CPU."""
    return replace(
        model.HearingLossConfig(), gru_hidden=8, classifier_hidden=4, age_hidden=4, epochs=1, vm_epochs=1
    )


def tiny_cohort() -> synth.SynthConfig:
    """10 subjects in 5-6 minute sessions: every age group, both classes, five folds of sessions."""
    return replace(synth.SynthConfig(), subjects=10, session_seconds=(300.0, 400.0), seed=0)


SPEC = FamilySpec(
    name="hearing_loss",
    paper="hearing-loss-detection.txt",
    summary=(
        "Detects hearing loss from a conversation partner's facial-expression features under noise, "
        "without using age as a shortcut (variation modeling + age-bias mitigation)."
    ),
    data=DataPart(
        formats=("affectops hearing-loss cohort (RLR-CHAT stand-in): manifest.parquet + per-subject .npy",),
        synth_config=synth.SynthConfig,
        synthesize=synth.synthesize,
        tiny=tiny_cohort,
        summarize=summary.summarize,
        format_summary=summary.format_summary,
        expectations=expectations,
        partitions=KFolds(split=split.split, file=dataset.FOLDS_FILE, k=expectations.N_FOLDS),
        load=data.load_split,
        featurize=Lazy("models.hearing_loss.recordings:build_cohort_from_videos"),
    ),
    train=TrainPart(
        config=model.HearingLossConfig,
        build=model.build,
        train=Lazy("models.hearing_loss.train:train"),
        load=checkpoint.load,
        tiny=tiny_config,
    ),
    evaluate=EvaluatePart(
        paper_metric="f1",
        evaluate=Lazy("models.hearing_loss.evaluate:evaluate"),
        protocol=Lazy("models.hearing_loss.crossval:cross_validate"),
        gates=PROMOTION_GATES,
        plots=figures.plot_evaluation,
    ),
    serve=ServePart(
        schema=schema.serving_schema,
        example=schema.example_input,
        predict=predict.predict_request,
        predict_batch=predict.predict_batch,
        media=media.MEDIA,
    ),
    monitor=MonitorPart(
        config=Path(__file__).parent / "monitoring.yaml",
        reference_requests=requests.held_out_requests,
        training_requests=requests.training_requests,
        traffic=Traffic(cohort=traffic.demo_cohort, window=traffic.window, shift=traffic.SHIFT),
    ),
)
