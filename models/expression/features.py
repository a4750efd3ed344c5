"""The paper's per-frame features by name (§3.2) and the 8 expression classes (§4.1)."""

from __future__ import annotations

from collections.abc import Iterable

VISUAL = "visual"
AUDIO = "audio"

# paper §3.2.1 (visual) and §3.2.2 (audio): name -> (modality, dimension). egemaps and compare are
# the real widths of openSMILE's frame-level sets (eGeMAPSv02 LLDs: 25; ComParE_2016 LLDs and their
# deltas: 65 + 65 = 130, the paper's 130); the paper prints 23 for egemaps.
FEATURES: dict[str, tuple[str, int]] = {
    "mae": (VISUAL, 768),
    "densenet": (VISUAL, 342),
    "ires100": (VISUAL, 512),
    "fau": (VISUAL, 512),
    "mobilenet": (VISUAL, 512),
    "egemaps": (AUDIO, 25),
    "compare": (AUDIO, 130),
    "fbank": (AUDIO, 80),
    "wav2vec": (AUDIO, 1024),
    "ecapatdnn": (AUDIO, 512),
    "vggish": (AUDIO, 128),
    "hubert": (AUDIO, 512),
}
# paper §4.1: Aff-Wild2's 8 expressions, in the order of the annotation files' header (labels 0-7)
CLASSES = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise", "other")
N_CLASSES = len(CLASSES)
INVALID_LABEL = -1  # Aff-Wild2 marks frames without a usable annotation with -1


def dim(name: str) -> int:
    return FEATURES[name][1]


def is_visual(name: str) -> bool:
    return FEATURES[name][0] == VISUAL


def check_features(names: Iterable[str], field: str = "features") -> tuple[str, ...]:
    """Known, distinct feature names as a tuple; ValueError naming ``field`` otherwise."""
    if isinstance(names, str):
        names = [part for part in names.replace(" ", "").split(",") if part]
    out = tuple(names)
    if not out:
        raise ValueError(f"{field} must name at least one feature; known: {', '.join(FEATURES)}")
    unknown = [name for name in out if name not in FEATURES]
    if unknown:
        raise ValueError(f"{field}: unknown feature(s) {', '.join(unknown)}; known: {', '.join(FEATURES)}")
    repeated = sorted({name for name in out if out.count(name) > 1})
    if repeated:
        raise ValueError(f"{field}: feature(s) listed twice: {', '.join(repeated)}")
    return out


def total_dim(names: Iterable[str]) -> int:
    return sum(dim(name) for name in names)
