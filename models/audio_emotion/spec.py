"""The audio-emotion family's spec (paper: image2audio-emotion.txt)."""

from __future__ import annotations

from dataclasses import replace

from models.audio_emotion import synth


def tiny_dataset() -> synth.SynthConfig:
    """8 actors (two per partition) saying CREMA-D's IEO at every level: 128 clips, 10 faces per class."""
    return replace(synth.SynthConfig(), actors=8, sentences=1, ifer_identities=5, ifer_per_class=10, seed=0)
