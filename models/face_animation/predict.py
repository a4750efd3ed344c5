"""Speech and a reference face through a trained model: landmarks (stage 1) and frames (stage 2)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from models.face_animation.audio import frame_energy, pitch_hz
from models.face_animation.checkpoint import TrainedModel
from models.face_animation.data import preprocess_audio
from models.face_animation.dataset import FPS, SAMPLE_RATE
from models.face_animation.images import landmark_images, pose_back, to_tensor, to_uint8
from models.face_animation.landmarks import CANVAS, align, lip_distance

FRAMES_PER_PASS = 32  # U-Net frames per forward pass
SILENCE_DB = -50.0  # a request whose loudest 40 ms stays below this is silence


@torch.inference_mode()
def predict_landmarks(trained: TrainedModel, windows: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Eq. 9: L_p [T, 68, 2] (aligned, 256²) of F_a ``windows`` [T, 18, 80] and L_0 ``reference`` [68, 2]."""
    model, device = trained.model, next(trained.model.parameters()).device
    model.eval()
    out = model.landmarks(
        torch.from_numpy(windows).to(device), torch.from_numpy(reference[None]).to(device), [len(windows)]
    )
    return out["landmarks"].cpu().numpy()


@torch.inference_mode()
def render_frames(trained: TrainedModel, posed: np.ndarray, reference_image: np.ndarray) -> np.ndarray:
    """§3.4: the U-Net's frames uint8 [T, S, S, 3] for landmarks ``posed`` [T, 68, 2] in the reference
    image's pose and ``reference_image`` uint8 [H, W, 3]."""
    model, size = trained.model, trained.config.image_size
    device = next(model.parameters()).device
    reference = to_tensor(reference_image[None], size).to(device)
    out = []
    for first in range(0, len(posed), FRAMES_PER_PASS):
        m = landmark_images(posed[first : first + FRAMES_PER_PASS], size).to(device)
        out.append(to_uint8(model.unet(m, reference.expand(len(m), -1, -1, -1))))
    return np.concatenate(out)


def animate(
    trained: TrainedModel, samples: np.ndarray, reference_image: np.ndarray, reference_landmarks: np.ndarray
) -> dict[str, np.ndarray]:
    """16 kHz speech ``samples``, the reference image and its 3D landmarks [68, 3] (in its pixels) -> the
    aligned landmark sequence, the frames in the reference's pose and the lip distance (Fig. 2)."""
    n_frames = int(len(samples) / SAMPLE_RATE * FPS)
    if n_frames < 1:
        raise ValueError(f"audio: {len(samples)} samples is shorter than one video frame (40 ms)")
    level = frame_energy(samples, n_frames)
    if level.max() < SILENCE_DB:
        raise ValueError(f"audio: silence (loudest 40 ms at {level.max():.1f} dB, below {SILENCE_DB} dB)")
    scale = CANVAS / reference_image.shape[1]
    marks = reference_landmarks.astype(np.float64) * scale
    l0 = align(marks[None], trained.mean_face)[0]
    predicted = predict_landmarks(trained, preprocess_audio(samples, SAMPLE_RATE, n_frames), l0)
    frames = render_frames(trained, pose_back(predicted, l0, marks[:, :2]), reference_image)
    return {
        "landmarks": predicted.astype(np.float32),
        "frames": frames,
        "lip_distance": lip_distance(predicted).astype(np.float32),
    }


def predict_request(trained: TrainedModel, tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One request (checked against ``serving_schema``) -> its outputs, with the descriptors of the
    speech and the motion that monitoring compares (duration, loudness, pitch, mouth opening)."""
    pixels = tensors["reference_image"]
    side = math.isqrt(len(pixels))
    if side * side != len(pixels):
        raise ValueError(f"reference_image: {len(pixels)} pixels is not a square image (S² pixels of S×S)")
    image = pixels.reshape(side, side, 3)
    audio = tensors["audio"]
    out = animate(trained, audio, image, tensors["reference_landmarks"])
    out["mouth_opening"] = np.float32(out["lip_distance"].mean())
    out["duration_s"] = np.float32(len(audio) / SAMPLE_RATE)
    out["loudness_db"] = np.float32(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + 1e-12))
    pitch = pitch_hz(audio)
    out["pitch_hz"] = np.float32(0.0 if np.isnan(pitch) else pitch)
    return out
