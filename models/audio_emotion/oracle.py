"""Model-free checks that a dataset's emotions are separable at all (run on the synthetic data once,
before any model, to freeze its design): leave-one-speaker-out nearest class centroid.

Spectrograms: each clip's per-band mean and standard deviation over time (128 numbers, z-scored);
faces: the image shrunk to 32 x 32 and z-scored by itself (lighting and skin tone out). A centroid
classifier has no parameters to tune, so its accuracy
is a property of the data, not of a model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.audio_emotion.corpus import CLASSES
from models.audio_emotion.dataset import clips, image_table, read_meta
from models.audio_emotion.spectrogram import decode_wav, spectrogram


def nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """Accuracy of nearest class centroid, each group (speaker, identity) predicted from the others."""
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    correct = 0
    for group in np.unique(groups):
        test = groups == group
        classes = np.unique(labels[~test])
        centroids = np.stack([features[~test & (labels == k)].mean(0) for k in classes])
        distance = ((features[test][:, None, :] - centroids[None]) ** 2).sum(-1)
        correct += int((classes[distance.argmin(1)] == labels[test]).sum())
    return correct / len(labels)


def spectrogram_summary(spectrograms: np.ndarray) -> np.ndarray:
    """[N, 156, 64] -> [N, 128]: per-band mean and std over time."""
    return np.concatenate([spectrograms.mean(1), spectrograms.std(1)], axis=1)


def separability(root: Path) -> dict[str, float]:
    """Leave-one-actor-out accuracy on the clips' spectrograms, leave-one-image-group-out on the IFER
    faces (5 interleaved groups of images), each beside chance (1 / K)."""
    root = Path(root)
    classes = CLASSES[read_meta(root)["corpus"]]
    table = clips(root)
    specs = np.stack([spectrogram(decode_wav(str(root / p))) for p in table["path"]])
    labels = np.array([classes.index(e) for e in table["emotion"]])
    audio = nearest_centroid_accuracy(spectrogram_summary(specs), labels, table["actor"].to_numpy())
    images = image_table(root)
    pixels = np.stack(
        [
            cv2.resize(cv2.imread(str(root / p), cv2.IMREAD_GRAYSCALE), (32, 32)).ravel()
            for p in images["path"]
        ]
    ).astype(np.float32)
    pixels = (pixels - pixels.mean(1, keepdims=True)) / (pixels.std(1, keepdims=True) + 1e-6)
    image_labels = np.array([classes.index(e) for e in images["emotion"]])
    groups = np.arange(len(images)) % 5
    faces = nearest_centroid_accuracy(pixels, image_labels, groups)
    return {"audio_accuracy": audio, "face_accuracy": faces, "chance": 1.0 / len(classes)}
