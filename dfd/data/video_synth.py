"""How the video dataset's clips move and are manipulated: a slow hand-held shot of a still
photo, the square crop of a source video, a manipulation applied frame by frame with
per-frame jitter (the flicker of per-frame deepfake pipelines) and the choice of a swap
donor."""

from __future__ import annotations

import math

import cv2
import numpy as np


def _square_crop_matrix(center, side: float, size: int) -> np.ndarray:
    """2x3 matrix taking a side x side square centred on ``center`` to a size x size frame."""
    s = size / side
    return np.array([[s, 0.0, size / 2 - s * center[0]], [0.0, s, size / 2 - s * center[1]]])


def _camera_matrices(rng: np.random.Generator, n: int, face, size: int) -> list[np.ndarray]:
    """A slow hand-held shot of a still photo: per-frame 2x3 matrices photo -> frame."""
    x, y, w, h = face.box
    c0 = np.array([x + w / 2, y + h / 2 + 0.05 * h])
    side0 = max(w, h) * rng.uniform(2.0, 2.6)
    direction = rng.uniform(0, 2 * np.pi)
    pan = rng.uniform(0.0, 0.08) * side0
    zoom_end = math.exp(rng.uniform(-0.12, 0.12))
    rot_end = rng.uniform(-4.0, 4.0)
    shake_amp = rng.uniform(0.0, 0.006) * side0
    phases = rng.uniform(0, 2 * np.pi, 4)
    freqs = rng.uniform(0.5, 1.5, 4)
    mats = []
    for t in range(n):
        u = t / max(1, n - 1)
        u = u * u * (3 - 2 * u)  # ease in and out
        shake = shake_amp * np.array([math.sin(freqs[0] * t + phases[0]) + 0.5 * math.sin(freqs[1] * 2.1 * t + phases[1]),
                                      math.sin(freqs[2] * t + phases[2]) + 0.5 * math.sin(freqs[3] * 1.7 * t + phases[3])])
        centre = c0 + pan * (u - 0.5) * np.array([math.cos(direction), math.sin(direction)]) + shake
        side = side0 / (zoom_end**u)
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), rot_end * u, size / side)
        m[:, 2] += np.array([size / 2, size / 2]) - centre
        mats.append(m)
    return mats


class _Manipulator:
    """Applies one manipulation to consecutive frames with per-frame jitter."""

    def __init__(self, kind: str, rng: np.random.Generator, donor=None):
        from dfd.data import synth

        self.synth = synth
        self.kind = kind
        self.rng = rng
        self.base = synth.sample_params(kind, rng)
        self.amount = float(rng.uniform(0.1, 0.3))  # how much the pipeline flickers
        self.lm_jitter = float(rng.uniform(0.005, 0.02))  # landmark noise, in inter-ocular distances
        self.donor = donor  # (rgb, landmarks) for swaps

    def __call__(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        params = self.synth.jitter_params(self.base, self.rng, self.amount)
        iod = float(np.linalg.norm(landmarks[1] - landmarks[0])) or 1.0
        lm = landmarks + self.rng.normal(0.0, self.lm_jitter * iod, landmarks.shape)
        if self.kind == "sbi":
            out, _ = self.synth.self_blend(frame, lm, self.rng, params=params)
        else:
            out, _ = self.synth.face_swap(frame, lm, self.donor[0], self.donor[1], self.rng, params=params)
        return out


def _pick_donor(target, pool: list[dict], rng: np.random.Generator) -> dict | None:
    """A donor of another identity with a similar head pose and face size."""
    from dfd.data import synth

    others = [p for p in pool if p["group"] != target["group"]]
    if not others:
        return None
    yaw = synth.estimate_yaw(target["face"].landmarks)
    gaps = np.array([abs(synth.estimate_yaw(p["face"].landmarks) - yaw) * 4.0
                     + abs(math.log(max(p["face"].box[2], 1) / max(target["face"].box[2], 1))) for p in others])
    order = np.argsort(gaps)
    return others[int(rng.choice(order[: min(5, len(order))]))]
