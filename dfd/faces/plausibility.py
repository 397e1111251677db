"""Whether a detection's five landmarks are laid out like a human face's.

MTCNN also fires on inset pictures, cartoon characters, statues and patterned clothes; their
"landmarks" are often where no face would put them. :func:`landmark_geometry` reduces the
five points to ratios that do not depend on size or roll (in-plane rotation), and
:func:`implausible_because` says which one is outside the range human faces span
(:data:`PLAUSIBLE`, measured: docs/experiments.md "Landmark plausibility"). The engine lists
such a face but does not let it decide alone (:mod:`dfd.inference.deciding`).
"""

from __future__ import annotations

import numpy as np

from dfd.faces.types import Face

# ratio -> (low, high). Set from the engine's detections of the main face on real faces (1129:
# crossdomain_dev's UTKFace photos, dfd-default's real test photos, 8 frames of each FF++ real
# video): each bound lies 1.5x the distance from the median to the 0.5th / 99.5th percentile
# away from the median, so real faces stay inside (docs/experiments.md "Landmark plausibility").
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "eyes_to_box": (0.37, 0.65),
    "eye_mouth_to_eyes": (0.71, 1.51),
    "mouth_to_eyes": (0.54, 1.30),
    "nose_along": (0.24, 0.91),
    "nose_across": (-0.42, 0.40),
    "tilt": (0.0, 14.68),
}


def landmark_geometry(face: Face) -> dict[str, float]:
    """Size- and roll-free ratios of a face's landmarks (image-left eye first):

    * ``eyes_to_box``: inter-ocular distance / box width;
    * ``eye_mouth_to_eyes``: distance from the eyes' centre to the mouth's centre / inter-ocular distance;
    * ``mouth_to_eyes``: mouth width / inter-ocular distance;
    * ``nose_along``: the nose's position from the eyes' centre (0) to the mouth's (1);
    * ``nose_across``: its offset sideways from that axis / inter-ocular distance (signed);
    * ``tilt``: the angle between the eye line and the mouth line, degrees."""
    p = np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2)
    le, re, nose, ml, mr = p
    eyes = re - le
    d = float(np.hypot(*eyes)) or 1e-9
    ec, mc = (le + re) / 2, (ml + mr) / 2
    axis = mc - ec
    h = float(np.hypot(*axis)) or 1e-9
    u = axis / h
    rel = nose - ec
    mouth = mr - ml
    tilt = np.degrees(np.arctan2(eyes[0] * mouth[1] - eyes[1] * mouth[0], eyes @ mouth))
    return {
        "eyes_to_box": d / max(float(face.box[2]), 1e-9),
        "eye_mouth_to_eyes": h / d,
        "mouth_to_eyes": float(np.hypot(*mouth)) / d,
        "nose_along": float(rel @ u) / h,
        "nose_across": float(rel[0] * u[1] - rel[1] * u[0]) / d,
        "tilt": float(abs(tilt)),
    }


def implausible_because(face: Face, ranges: dict[str, tuple[float, float]] | None = None) -> str | None:
    """Why the face's landmarks are unlike a human face's (the first ratio out of range), or None."""
    ranges = PLAUSIBLE if ranges is None else ranges
    geometry = landmark_geometry(face)
    for name, (lo, hi) in ranges.items():
        v = geometry[name]
        if not lo <= v <= hi:
            return f"landmarks unlike a face ({name.replace('_', ' ')} {v:.2f}, expected {lo:.2f}-{hi:.2f})"
    return None
