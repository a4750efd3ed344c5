"""The face animator's family spec (paper: audio-driven-face-animation.txt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
from models.face_animation import (
    checkpoint,
    data,
    dataset,
    expectations,
    figures,
    model,
    schema,
    summary,
    synth,
)

# promotion gates (components/gates.py): ES as a floor, LMD (full face and mouth) as ceilings
# (abs_ keys). Choice: ES no lower than the weakest system of the paper's Table 2 (0.877), LMD no
# worse than its weakest (9.16, MakeItTalk), in 256² pixels; the levels of a stand-in classifier on
# other data are not the paper's, so these are floors against broken models, not the paper's claims
PROMOTION_GATES = {"quality": {"es": 0.877, "abs_lmd": 9.16, "abs_lmd_mouth": 9.16, "es_vs_champion": 0.02}}


def tiny_config() -> model.FaceAnimationConfig:
    """The real model shrunk to seconds on one CPU: narrow layers, one LSTM layer, a 3-level U-Net at
    32², lr 1e-3 (the paper's 1e-5 barely moves in a few steps)."""
    return replace(
        model.FaceAnimationConfig(),
        mlp_c=(80, 32, 24),
        lstm=(24, 32),
        lstm_dropout=0.0,  # one LSTM layer: dropout acts between layers
        mlp_e=(80, 32, 16),
        mlp_i=(80, 32, 16),
        mlp_t=(32, 32, 136),
        mlp_s=(64, 32, 136),
        image_size=32,
        unet_channels=8,
        unet_downs=3,
        epochs=3,
        batch_size=4,
        image_frames=4,
        lr=1e-3,
        es_stride=4,
    )


def tiny_dataset() -> synth.SynthConfig:
    """3 dev speakers and 1 test speaker, 2 videos of 2 one- or two-word utterances each, 32² frames."""
    return replace(
        synth.SynthConfig(),
        dev_speakers=3,
        test_speakers=1,
        videos=2,
        utterances=2,
        words=(1, 2),
        frame_size=32,
        seed=5,
    )


SPEC = FamilySpec(
    name="face_animation",
    paper="audio-driven-face-animation.txt",
    summary="Animates a reference face from speech: landmarks with emotion and identity style, then frames.",
    data=DataPart(
        formats=(
            "VoxCeleb2 layout: utterances.parquet, {dev,test}/{mp4,wav,landmarks}/id#####/<video>/#####",
            "LRW layout (read only): lipread_mp4/<WORD>/{train,val,test}/<WORD>_#####.mp4",
        ),
        synth_config=synth.SynthConfig,
        synthesize=synth.synthesize,
        tiny=tiny_dataset,
        summarize=summary.summarize,
        format_summary=summary.format_summary,
        expectations=expectations,
        partitions=FixedPartitions(names=dataset.PARTITIONS, test=dataset.TEST_PARTITION),
        load=data.load_split,
    ),
    train=TrainPart(
        config=model.FaceAnimationConfig,
        build=model.build,
        train=Lazy("models.face_animation.train:train"),
        load=checkpoint.load,
        tiny=tiny_config,
    ),
    evaluate=EvaluatePart(
        paper_metric="es",
        evaluate=Lazy("models.face_animation.evaluate:evaluate"),
        protocol=Lazy("models.face_animation.crossval:fixed_partition_protocol"),
        gates=PROMOTION_GATES,
        plots=figures.plot_evaluation,
    ),
    serve=ServePart(
        schema=schema.serving_schema,
        example=schema.example_input,
        predict=Lazy("models.face_animation.predict:predict_request"),
    ),
    monitor=MonitorPart(
        config=Path(__file__).parent / "monitoring.yaml",
        reference_requests=Lazy("models.face_animation.requests:held_out_requests"),
    ),
)
