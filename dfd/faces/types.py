"""What the face stage hands on: a detected :class:`Face` (box, confidence, five landmarks).

Landmark order everywhere in dfd: left eye, right eye, nose, mouth left, mouth right, where
"left" means image-left (smaller x)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height in image pixels
    score: float
    landmarks: np.ndarray = field(repr=False)  # (5, 2) x, y in image pixels

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": np.round(np.asarray(self.landmarks, dtype=float), 2).tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Face:
        return cls(tuple(d["box"]), float(d["score"]), np.asarray(d["landmarks"], dtype=np.float64))
