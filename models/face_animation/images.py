"""Frames and landmark images as the U-Net's tensors, and the pose that maps aligned landmarks back
into the reference image."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from models.face_animation.render import landmark_image


def to_tensor(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 RGB [n, H, W, 3] -> float32 [n, 3, size, size] in [-1, 1]."""
    if frames.shape[1:3] != (size, size):
        frames = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [n, 3, H, W] in [-1, 1] -> uint8 RGB [n, H, W, 3]."""
    scaled = ((images.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def landmark_images(landmarks_2d: np.ndarray, size: int) -> torch.Tensor:
    """M_t of every frame of ``landmarks_2d`` [T, 68, 2] (256² coordinates): [T, 3, size, size]."""
    return to_tensor(np.stack([landmark_image(frame, size) for frame in landmarks_2d]), size)


def pose_back(aligned: np.ndarray, reference_aligned: np.ndarray, reference_posed: np.ndarray) -> np.ndarray:
    """Aligned landmarks [T, 68, 2] in the reference image's head pose: the 2D rigid fit (Kabsch) of the
    reference's aligned landmarks onto its landmarks in the image, applied to every frame (choice:
    MakeItTalk also animates in the reference's pose)."""
    mu_a, mu_p = reference_aligned.mean(axis=0), reference_posed.mean(axis=0)
    u, _, vt = np.linalg.svd((reference_aligned - mu_a).T @ (reference_posed - mu_p))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, d]) @ u.T
    return ((aligned - mu_a) @ rotation.T + mu_p).astype(np.float32)
