"""68-point face landmarks: the point groups, a mean-face template, and the paper's face alignment
(§3.1: ICP of every frame's 3D landmarks onto the average face, then orthogonal projection to 2D)."""

from __future__ import annotations

import numpy as np

CANVAS = 256.0  # landmark coordinates are in pixels of a 256² frame (NOTES §2.3: LMD at 256²)
JAW, BROWS, NOSE = slice(0, 17), slice(17, 27), slice(27, 36)
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
OUTER_LIP, INNER_LIP = slice(48, 60), slice(60, 68)
MOUTH = slice(48, 68)  # LMD's mouth region (NOTES §2.3)
# MakeItTalk's rigid points for ICP (util/icp.py, NOTES §2.1): nose bridge and tip, eye corners
RIGID = np.array([27, 28, 29, 30, 33, 36, 39, 42, 45])
UPPER_INNER_LIP, LOWER_INNER_LIP = 62, 66  # the lip distance of the paper's Fig. 2


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int) -> np.ndarray:
    angles = np.linspace(start, stop, n)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def template() -> np.ndarray:
    """A frontal neutral mean face, float64 [68, 3] in 256² pixels (y down, z towards the camera),
    in iBUG-68 point order."""
    jaw = _arc(128, 112, 78, 104, np.pi, 0.0, 17)  # ear to ear under the chin (y down)
    brow_left = _arc(92, 96, 24, 10, np.pi * 1.1, np.pi * 1.9, 5)
    brow_right = _arc(164, 96, 24, 10, np.pi * 1.1, np.pi * 1.9, 5)
    bridge = np.stack([np.full(4, 128.0), np.linspace(106, 142, 4)], axis=1)
    nostrils = np.stack([np.linspace(114, 142, 5), np.array([152, 155, 157, 155, 152.0])], axis=1)

    def eye(cx: float) -> np.ndarray:
        upper = _arc(cx, 112, 14, 6, np.pi, 2 * np.pi, 4)  # outer corner, two upper points, inner corner
        lower = _arc(cx, 112, 14, 6, np.pi / 3, np.pi * 2 / 3, 2)  # back along the lower lid
        return np.concatenate([upper, lower])

    outer_upper = _arc(128, 186, 34, 9, np.pi, 2 * np.pi, 7)  # 48 .. 54
    outer_lower = _arc(128, 186, 34, 12, np.pi / 6, np.pi * 5 / 6, 5)  # 55 .. 59, right to left
    inner_upper = _arc(128, 186, 22, 3, np.pi, 2 * np.pi, 5)  # 60 .. 64
    inner_lower = _arc(128, 186, 22, 3, np.pi / 4, np.pi * 3 / 4, 3)  # 65 .. 67, right to left
    points_2d = np.concatenate(
        [
            jaw,
            brow_left,
            brow_right,
            bridge,
            nostrils,
            eye(98),
            eye(158),
            outer_upper,
            outer_lower,
            inner_upper,
            inner_lower,
        ]
    )
    # depth: a convex face, the nose tip furthest forward
    r2 = ((points_2d[:, 0] - 128) / 90) ** 2 + ((points_2d[:, 1] - 140) / 110) ** 2
    z = 40 * (1 - np.clip(r2, 0, 1.5))
    z[NOSE] += np.array([4, 10, 16, 22, 10, 12, 14, 12, 10])
    return np.concatenate([points_2d, z[:, None]], axis=1)


def kabsch(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rotation R and translation t that best map ``source`` [n, 3] onto ``target`` (least squares)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((source - mu_s).T @ (target - mu_t))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, mu_t - rotation @ mu_s


def icp(source: np.ndarray, target: np.ndarray, iterations: int = 10, tol: float = 1e-6) -> np.ndarray:
    """Iterative Closest Point (Besl & McKay [25]): rigid (R, t) mapping ``source`` onto ``target``,
    alternating nearest-neighbour correspondences and the closed-form fit; returns the 4x4 transform."""
    current = source.copy()
    transform = np.eye(4)
    previous = np.inf
    for _ in range(iterations):
        distances = np.linalg.norm(current[:, None] - target[None], axis=2)
        nearest = target[distances.argmin(axis=1)]
        rotation, translation = kabsch(current, nearest)
        current = current @ rotation.T + translation
        step = np.eye(4)
        step[:3, :3], step[:3, 3] = rotation, translation
        transform = step @ transform
        error = float(np.mean(np.linalg.norm(current - nearest, axis=1)))
        if abs(previous - error) < tol:
            break
        previous = error
    return transform


def align(landmarks: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Paper §3.1: every frame of ``landmarks`` [T, 68, 3] rigidly aligned with ICP on the rigid points
    onto ``reference`` (default: the clip's average face), then projected orthogonally: [T, 68, 2].

    Choice: ICP starts from the Kabsch fit on the index correspondences of the rigid points, so it
    begins at the right pose and the nearest-neighbour iterations only refine it."""
    reference = landmarks.mean(axis=0) if reference is None else reference
    target = reference[RIGID]
    out = np.empty((*landmarks.shape[:2], 2), dtype=np.float32)
    for t, frame in enumerate(landmarks.astype(np.float64)):
        rotation, translation = kabsch(frame[RIGID], target)
        start = frame @ rotation.T + translation
        refine = icp(start[RIGID], target)
        aligned = start @ refine[:3, :3].T + refine[:3, 3]
        out[t] = aligned[:, :2]  # orthogonal projection onto the image plane
    return out


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The head rotation of Euler angles in radians (y up the face's vertical axis)."""
    cy, sy, cp, sp, cr, sr = (
        np.cos(yaw),
        np.sin(yaw),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(roll),
        np.sin(roll),
    )
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_roll @ r_pitch @ r_yaw


def lip_distance(landmarks_2d: np.ndarray) -> np.ndarray:
    """The distance between the upper and lower inner lip per frame (the curves of the paper's Fig. 2)."""
    return np.linalg.norm(
        landmarks_2d[..., LOWER_INNER_LIP, :] - landmarks_2d[..., UPPER_INNER_LIP, :], axis=-1
    )
