"""The two corpora's file conventions (NOTES-wave2 §3.5): emotions, intensities, actors in file names.

CREMA-D: ``AudioWAV/{actor 1001-1091}_{sentence}_{emotion}_{level}.wav``.
RAVDESS: ``Actor_{nn}/{modality}-{channel}-{emotion}-{intensity}-{statement}-{repetition}-{actor}.wav``
(audio-only modality 03; channel 01 speech, 02 song; odd actors are male).
Both map onto one class vocabulary; a corpus's classes are the paper's K for that corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CREMA_D = "crema_d"
RAVDESS = "ravdess"
CORPORA = (CREMA_D, RAVDESS)

# class order per corpus: the index a model predicts
CLASSES: dict[str, tuple[str, ...]] = {
    CREMA_D: ("neutral", "happy", "sad", "angry", "fearful", "disgust"),
    RAVDESS: ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
}
CREMA_EMOTIONS = {
    "NEU": "neutral",
    "HAP": "happy",
    "SAD": "sad",
    "ANG": "angry",
    "FEA": "fearful",
    "DIS": "disgust",
}
CREMA_LEVELS = ("LO", "MD", "HI", "XX")  # XX: unspecified
CREMA_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
RAVDESS_EMOTIONS = {f"{i + 1:02d}": name for i, name in enumerate(CLASSES[RAVDESS])}
RAVDESS_INTENSITIES = {"01": "normal", "02": "strong"}
RAVDESS_CHANNELS = {"01": "speech", "02": "song"}
RAVDESS_SONG_CLASSES = ("neutral", "calm", "happy", "sad", "angry", "fearful")  # song has no disgust/surprise

_CREMA = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
_RAVDESS = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class ClipName:
    """What a clip's file name says. ``emotion`` is None for a code the corpus does not define
    (``code`` keeps the raw one); ``actor`` is the corpus's actor id as a string."""

    actor: str
    code: str  # the emotion code as written
    emotion: str | None
    intensity: str | None
    channel: str  # speech or song (CREMA-D: speech)
    sentence: str


def parse(corpus: str, stem: str) -> ClipName | None:
    """A clip's file stem -> its fields; None when the stem does not follow the corpus's convention."""
    if corpus == CREMA_D:
        match = _CREMA.match(stem)
        if not match:
            return None
        actor, sentence, code, level = match.groups()
        return ClipName(
            actor,
            code,
            CREMA_EMOTIONS.get(code),
            level if level in CREMA_LEVELS else None,
            "speech",
            sentence,
        )
    if corpus == RAVDESS:
        match = _RAVDESS.match(stem)
        if not match:
            return None
        _modality, channel, code, intensity, statement, repetition, actor = match.groups()
        return ClipName(
            actor,
            code,
            RAVDESS_EMOTIONS.get(code),
            RAVDESS_INTENSITIES.get(intensity),
            RAVDESS_CHANNELS.get(channel, channel),
            f"{statement}-{repetition}",
        )
    raise ValueError(f"corpus {corpus!r}: not one of {', '.join(CORPORA)}")


def crema_stem(actor: int, sentence: str, emotion: str, level: str) -> str:
    code = {name: code for code, name in CREMA_EMOTIONS.items()}[emotion]
    return f"{actor}_{sentence}_{code}_{level}"


def ravdess_stem(
    actor: int, channel: str, emotion: str, intensity: str, statement: int, repetition: int
) -> str:
    codes = {name: code for code, name in RAVDESS_EMOTIONS.items()}
    channel_code = {name: code for code, name in RAVDESS_CHANNELS.items()}[channel]
    intensity_code = {name: code for code, name in RAVDESS_INTENSITIES.items()}[intensity]
    return f"03-{channel_code}-{codes[emotion]}-{intensity_code}-{statement:02d}-{repetition:02d}-{actor:02d}"


def gender(corpus: str, actor: str) -> str | None:
    """RAVDESS: odd actor numbers are male. CREMA-D keeps gender in a separate demographics file."""
    if corpus == RAVDESS and actor.isdigit():
        return "male" if int(actor) % 2 else "female"
    return None
