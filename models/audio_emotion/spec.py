"""The audio-emotion family's spec (paper: image2audio-emotion.txt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from models.audio_emotion import (
    checkpoint,
    data,
    expectations,
    figures,
    media,
    model,
    predict,
    requests,
    schema,
    summary,
    synth,
)
from models.audio_emotion.dataset import PARTITIONS, TEST
from models.common.lazy import Lazy
from models.contract import (
    DataPart,
    EvaluatePart,
    FamilySpec,
    FixedPartitions,
    MonitorPart,
    ServePart,
    TrainPart,
)

# promotion gates (components/gates.py): quality only, on S4 accuracy. Choice: a floor above Table 1's
# Base rows (30.8% CREMA-D, 30.7% RAVDESS) and about twice chance over 6 classes (0.17)
PROMOTION_GATES = {"quality": {"accuracy": 0.35, "accuracy_vs_champion": 0.02}}


def tiny_config() -> model.AudioEmotionConfig:
    """The paper's full method (All, unpaired) with narrow networks, 2 importance samples and a
    higher learning rate, so three rounds train in seconds on a CPU."""
    return replace(
        model.AudioEmotionConfig(),
        channels=4,
        classifier_channels=8,
        batch_size=16,
        epochs=3,
        iwae_samples=2,
        lr=1e-3,
    )


def tiny_dataset() -> synth.SynthConfig:
    """8 actors (two per partition) saying CREMA-D's IEO at every level: 128 clips, 10 faces per class."""
    return replace(synth.SynthConfig(), actors=8, sentences=1, ifer_identities=5, ifer_per_class=10, seed=0)


SPEC = FamilySpec(
    name="audio_emotion",
    paper="image2audio-emotion.txt",
    summary=(
        "Recognizes the emotion of an utterance from its spectrogram, with labelled face images "
        "translated into extra training spectrograms (UNIT + K+1 semi-supervised classifier)."
    ),
    data=DataPart(
        formats=(
            "CREMA-D layout: AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav",
            "RAVDESS layout: Actor_nn/{modality}-{channel}-{emotion}-{intensity}-{statement}-{rep}-{actor}"
            ".wav",
            "IFER images: IFER/<emotion>/*.png; S1-S4 in partitions.parquet; dataset.json",
        ),
        synth_config=synth.SynthConfig,
        synthesize=synth.synthesize,
        tiny=tiny_dataset,
        summarize=summary.summarize,
        format_summary=summary.format_summary,
        expectations=expectations,
        partitions=FixedPartitions(names=PARTITIONS, test=TEST),
        load=data.load,
    ),
    train=TrainPart(
        config=model.AudioEmotionConfig,
        build=model.build,
        train=Lazy("models.audio_emotion.train:train"),
        load=checkpoint.load,
        tiny=tiny_config,
    ),
    evaluate=EvaluatePart(
        paper_metric="accuracy",
        evaluate=Lazy("models.audio_emotion.evaluate:evaluate"),
        protocol=Lazy("models.audio_emotion.crossval:protocol"),
        gates=PROMOTION_GATES,
        plots=figures.plot_evaluation,
    ),
    serve=ServePart(
        schema=schema.serving_schema,
        example=schema.example_input,
        predict=predict.predict_request,
        predict_batch=predict.predict_batch,
        media=media.MEDIA,  # WAV uploads -> the 156 x 64 spectrogram
    ),
    monitor=MonitorPart(
        config=Path(__file__).parent / "monitoring.yaml",
        reference_requests=requests.held_out_requests,
    ),
)
