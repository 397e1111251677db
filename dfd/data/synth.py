"""Synthetic fakes from real photos: two published manipulation families, applied to the
FULL image so the normal face stage can detect, align and crop the fake like any photo.

* **Self-blended images (SBI)** — Shiohara & Yamasaki, "Detecting Deepfakes with
  Self-Blended Images", CVPR 2022. A copy of the image is colour-jittered, blurred /
  sharpened / re-sampled and slightly shifted and scaled, then blended back into the
  original through a soft, randomly deformed face mask. The result carries the generic
  traces of face manipulation (blending boundary, colour and frequency mismatch,
  landmark misalignment) without any identity change.
* **Cross-identity face swap** — the classic landmark-based swap (FaceSwap / Face X-ray
  style "blended images"): the donor face is warped onto the target with the similarity
  transform taking its landmarks to the target's, colour-matched to the target inside the
  mask (Reinhard mean/std transfer in CIE LAB) and blended with a feathered alpha mask or
  Poisson blending (``cv2.seamlessClone``, NORMAL_CLONE).

Only the five MTCNN landmarks exist in dfd (left eye, right eye, nose, mouth left, mouth
right; "left" = image-left), so the face region is a brows-to-chin, cheek-to-cheek outline
defined once in the ArcFace 112x112 template frame (the frame :mod:`dfd.faces.stage` aligns
to) and mapped into the image with the least-squares similarity transform from the template
landmarks to the detected ones — the inter-ocular/eye-mouth geometry is the unit.

Every random choice lives in a plain, JSON-able ``params`` dict (:func:`sample_params`),
so a manipulation is a pure function of (image, landmarks, params); :func:`jitter_params`
perturbs a dict slightly for the next video frame, which gives fake clips the flicker of
per-frame deepfake pipelines. Functions take ``rng`` (a :class:`numpy.random.Generator`)
to fill in whatever ``params`` leaves out; a given generator state gives the same output.

Guarantees: outputs have the input's shape and ``uint8`` dtype; every pixel where the
returned mask is 0 is bit-identical to the source (the blend is computed, rounded and
clipped only where the mask is > 0, and the Poisson result is composited back through the
mask); the mask is exactly 0 farther than a few blur radii from the face outline.
Landmarks that are not five finite, distinct points raise
:class:`~dfd.errors.BadInputError`.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import cv2
import numpy as np

from dfd.errors import BadInputError
from dfd.faces.stage import TEMPLATE_UNIT

__all__ = [
    "CROP_IOD",
    "face_mask",
    "self_blend",
    "face_swap",
    "sample_params",
    "jitter_params",
    "similarity_transform",
    "estimate_yaw",
]

# Inter-ocular distance (px) of a face in the detector's input crop (dfd.faces.stage with
# size=128, margin=0.3). Frequency artefacts (blur, down-scaling) are sized in these "crop
# pixels" so they survive — and are equally strong — whatever the photo's resolution.
CROP_IOD = 31.0

# Face outline (brows → temple → cheek → jaw → chin) in the ArcFace 112 px template frame,
# i.e. where a typical face's brow line and jaw fall once aligned like _TEMPLATE_112.
_TEMPLATE_112 = TEMPLATE_UNIT * 112.0  # the five landmarks in the ArcFace 112 px frame
_OUTLINE_112 = np.array(
    [
        [17, 48], [22, 38], [32, 33], [44, 34], [56, 36], [68, 34], [80, 33], [90, 38], [95, 48],
        [96, 62], [94, 77], [89, 92], [80, 104], [68, 111], [56, 113],
        [44, 111], [32, 104], [23, 92], [18, 77], [16, 62],
    ],
    dtype=np.float64,
)
_FACE_CENTRE_112 = np.array([56.0, 72.0])
_TEMPLATE_IOD = float(np.linalg.norm(_TEMPLATE_112[1] - _TEMPLATE_112[0]))
_FACE_SIZE_112 = 112.0  # "face size" unit: template width, about 3.2 inter-ocular distances
_N_HARMONICS = 5
_HARMONIC_AMPLITUDE = 0.045  # radial deformation amplitude of harmonic k is ±this / k
_MIN_SPREAD_PX = 0.5

# Continuous parameters: dotted path -> (low, high). Used to sample them (uniformly) and to
# bound per-frame jitter. Lists (rgb_shift, fourier) share one range per element.
_MASK_SPEC = {
    "scale_x": (0.9, 1.08),
    "scale_y": (0.9, 1.08),
    "rot": (-4.0, 4.0),  # degrees
    "shear": (-0.06, 0.06),
    "shift_x": (-0.03, 0.03),  # face sizes
    "shift_y": (-0.03, 0.03),
    "fourier": (-1.0, 1.0),  # normalised radial harmonics, see _HARMONIC_AMPLITUDE
    "blur": (0.008, 0.05),  # Gaussian sigma of the mask edge, in face sizes
}
# A swap pastes another person's face: a tighter region keeps the donor's face contour,
# hair and background out of the paste (SBI blends the image with itself, so it may reach
# the contour).
_SWAP_MASK_SPEC = {**_MASK_SPEC, "scale_x": (0.8, 0.96), "scale_y": (0.88, 1.0)}
_DONOR_CAP = {  # the donor's own face region: undeformed, a little narrower than the template
    "scale_x": 0.96, "scale_y": 1.0, "rot": 0.0, "shear": 0.0, "shift_x": 0.0, "shift_y": 0.0,
    "fourier": [[0.0, 0.0]] * _N_HARMONICS,
}
_SBI_SPEC = {
    **{f"mask.{k}": v for k, v in _MASK_SPEC.items()},
    "color.rgb_shift": (-15.0, 15.0),  # grey levels per channel
    "color.hue": (-5.0, 5.0),  # degrees
    "color.sat": (-0.15, 0.15),  # relative
    "color.brightness": (-0.08, 0.08),  # fraction of 255
    "color.contrast": (-0.1, 0.1),  # relative, about the region mean
    "freq.strength": (0.0, 1.0),
    "warp.scale": (0.95, 1.05),
    "warp.tx": (-0.03, 0.03),  # face sizes
    "warp.ty": (-0.02, 0.02),
}
_SWAP_SPEC = {
    **{f"mask.{k}": v for k, v in _SWAP_MASK_SPEC.items()},
    "color_strength": (0.5, 1.0),  # 1 = full Reinhard transfer
    "offset.scale": (0.97, 1.03),
    "offset.rot": (-3.0, 3.0),  # degrees
    "offset.tx": (-0.02, 0.02),  # face sizes
    "offset.ty": (-0.02, 0.02),
    "downscale": (0.65, 1.0),  # donor resolution, relative to the detector crop; 1 = as is
}
_SPECS = {"sbi": _SBI_SPEC, "swap": _SWAP_SPEC}
_BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # SBI's choices, full blends favoured
_FREQ_OPS = ("blur", "sharpen", "downscale")
_BLENDS = ("feather", "poisson")
_INTERPS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


# --------------------------------------------------------------------------- parameters


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, not {type(rng).__name__}")


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int | None = None):
    if n is None:
        return float(rng.uniform(lo, hi))
    return [float(v) for v in rng.uniform(lo, hi, n)]


def _sample_mask(rng: np.random.Generator, spec: dict = _MASK_SPEC) -> dict:
    s = spec
    return {
        "scale_x": _uniform(rng, *s["scale_x"]),
        "scale_y": _uniform(rng, *s["scale_y"]),
        "rot": _uniform(rng, *s["rot"]),
        "shear": _uniform(rng, *s["shear"]),
        "shift_x": _uniform(rng, *s["shift_x"]),
        "shift_y": _uniform(rng, *s["shift_y"]),
        "fourier": [_uniform(rng, *s["fourier"], 2) for _ in range(_N_HARMONICS)],
        "blur": float(np.exp(rng.uniform(np.log(s["blur"][0]), np.log(s["blur"][1])))),
    }


def sample_params(kind: str, rng) -> dict:
    """Draw every random choice of one manipulation (``kind`` "sbi" or "swap") as a plain,
    JSON-able dict that :func:`self_blend` / :func:`face_swap` accept as ``params``."""
    rng = _rng(rng)
    if kind == "sbi":
        s = _SBI_SPEC
        return {
            "kind": "sbi",
            "mask": _sample_mask(rng),
            "blend_ratio": float(_BLEND_RATIOS[rng.integers(len(_BLEND_RATIOS))]),
            # like SBI, each colour operation is applied only some of the time (0 = off),
            # so strong combined casts stay rare
            "color": {
                key: _uniform(rng, *s[f"color.{key}"], 3 if key == "rgb_shift" else None)
                if rng.random() < 0.5
                else ([0.0, 0.0, 0.0] if key == "rgb_shift" else 0.0)
                for key in ("rgb_shift", "hue", "sat", "brightness", "contrast")
            },
            "freq": {"op": _FREQ_OPS[rng.integers(len(_FREQ_OPS))], "strength": _uniform(rng, *s["freq.strength"])},
            "warp": {
                "scale": _uniform(rng, *s["warp.scale"]),
                "tx": _uniform(rng, *s["warp.tx"]),
                "ty": _uniform(rng, *s["warp.ty"]),
            },
        }
    if kind == "swap":
        s = _SWAP_SPEC
        blend = _BLENDS[rng.integers(len(_BLENDS))]
        down = _uniform(rng, s["downscale"][0], 0.95)
        if rng.random() < 0.5:
            down = 1.0
        return {
            "kind": "swap",
            "mask": _sample_mask(rng, _SWAP_MASK_SPEC),
            "blend": blend,
            "color_strength": _uniform(rng, *s["color_strength"]),
            "offset": {
                "scale": _uniform(rng, *s["offset.scale"]),
                "rot": _uniform(rng, *s["offset.rot"]),
                "tx": _uniform(rng, *s["offset.tx"]),
                "ty": _uniform(rng, *s["offset.ty"]),
            },
            "downscale": down,
            "interp": ("linear", "cubic")[rng.integers(2)],
        }
    raise ValueError(f"kind must be 'sbi' or 'swap', not {kind!r}")


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve(kind: str, rng, params: dict | None) -> dict:
    """Full params: a fresh draw from ``rng`` with whatever ``params`` gives laid over it."""
    if params is not None and not isinstance(params, dict):
        raise TypeError(f"params must be a dict or None, not {type(params).__name__}")
    if params and params.get("kind", kind) != kind:
        raise ValueError(f"params are for {params['kind']!r}, not {kind!r}")
    full = sample_params(kind, rng)
    return _merge(full, params) if params else full


def _get(d: dict, path: str):
    for part in path.split("."):
        d = d[part]
    return d


def _set(d: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        d = d[part]
    d[last] = value


def jitter_params(params: dict, rng, amount: float = 0.2) -> dict:
    """A slightly perturbed copy of ``params`` for the next video frame.

    Every continuous setting (mask shape and deformation, edge blur, colour shifts,
    frequency strength, warp / donor placement) moves by a clipped Gaussian step of at most
    ``amount / 2`` of its sampling range and stays inside that range; discrete choices
    (blend mode, blend ratio, frequency operation, interpolation) are kept."""
    kind = params.get("kind")
    if kind not in _SPECS:
        raise ValueError("params must come from sample_params (missing or unknown 'kind')")
    amount = float(amount)
    if amount < 0:
        raise ValueError("amount must be >= 0")
    rng = _rng(rng)
    out = copy.deepcopy(params)
    for path, (lo, hi) in _SPECS[kind].items():
        try:
            value = _get(out, path)
        except (KeyError, TypeError):
            continue
        if path == "downscale" and float(value) >= 1.0:
            continue  # 1 means "no re-sampling": an on/off switch, not a level to wobble
        arr = np.asarray(value, dtype=np.float64)
        width = hi - lo
        step = np.clip(rng.normal(0.0, amount * width / 4.0, arr.shape), -amount * width / 2, amount * width / 2)
        new = np.clip(arr + step, min(lo, arr.min()), max(hi, arr.max()))  # never pushes a value out
        _set(out, path, new.tolist() if arr.ndim else float(new))
    return out


# ------------------------------------------------------------------------------ geometry


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) taking
    ``src`` points to ``dst`` points, as a 2x3 matrix (Umeyama 1991). This is the model of
    ``cv2.estimateAffinePartial2D`` without its random-sampling outlier rejection, which
    with five points buys nothing and would make results depend on OpenCV's global RNG."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs**2).sum() / len(src)
    if not np.isfinite(var_s) or var_s < 1e-12:
        raise BadInputError("face landmarks are degenerate (all points coincide); cannot fit a transform")
    cov = xd.T @ xs / len(src)
    u, sv, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ d @ vt
    scale = float(np.trace(np.diag(sv) @ d) / var_s)
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def _check_image(rgb: np.ndarray, name: str) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        got = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise BadInputError(f"{name} must be an HxWx3 uint8 RGB array, got {got}")
    if min(rgb.shape[:2]) < 2:
        raise BadInputError(f"{name} is only {rgb.shape[1]}x{rgb.shape[0]} px")


class _FaceGeom(NamedTuple):
    frame: np.ndarray  # 2x3 similarity, ArcFace-112 template frame -> image
    scale: float  # image px per template px
    yaw: float  # nose offset from the eye/mouth midline, in inter-ocular distances (signed)

    @property
    def face_px(self) -> float:
        return self.scale * _FACE_SIZE_112

    def centre(self) -> np.ndarray:
        return _apply(self.frame, _FACE_CENTRE_112[None])[0]


def _face_geom(landmarks, what: str = "landmarks") -> _FaceGeom:
    """Validate the landmarks and fit the template frame to them."""
    try:
        pts = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"{what} must be a (5, 2) array of x, y pixel coordinates") from None
    if pts.shape != (5, 2):
        raise BadInputError(f"{what} must have shape (5, 2) (eyes, nose, mouth corners), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise BadInputError(f"{what} contain NaN or infinite coordinates")
    spread = float(np.sqrt(((pts - pts.mean(0)) ** 2).sum(1).mean()))
    if spread < _MIN_SPREAD_PX:
        raise BadInputError(
            f"{what} are degenerate: the five points (nearly) coincide (spread {spread:.2f} px); "
            "cannot locate a face region"
        )
    matrix = similarity_transform(_TEMPLATE_112, pts)
    scale = float(np.hypot(*matrix[:, 0]))
    template_spread = float(np.sqrt(((_TEMPLATE_112 - _TEMPLATE_112.mean(0)) ** 2).sum(1).mean()))
    if scale * template_spread < 0.25 * spread:  # no rotation+scale fits: mirrored or scrambled order
        raise BadInputError(
            f"{what} do not look like a face (wrong point order or mirrored?); expected left eye, "
            "right eye, nose, mouth left, mouth right"
        )
    inv = cv2.invertAffineTransform(matrix)
    t = _apply(inv, pts)
    midline = (t[0, 0] + t[1, 0] + t[3, 0] + t[4, 0]) / 4.0
    yaw = float((t[2, 0] - midline) / _TEMPLATE_IOD)
    return _FaceGeom(matrix, scale, yaw)


def estimate_yaw(landmarks) -> float:
    """Signed head-turn proxy from the five landmarks: the nose's offset from the eye/mouth
    midline in inter-ocular distances (about 0 frontal, ±0.4 for a three-quarter view;
    negative = nose towards image-left). Pair swap donors and targets with similar values
    (say within 0.15): a turned donor only covers part of a frontal target's face."""
    return _face_geom(landmarks).yaw


def _mask_outline(geom: _FaceGeom, mp: dict) -> np.ndarray:
    """The deformed face outline in image coordinates (dense closed polygon).

    A turned head (nose off the eye/mouth midline) has its far cheek hidden: the outline is
    pulled in horizontally on the side the nose points to, so the mask does not reach over
    the face contour onto the background."""
    pts = _OUTLINE_112
    # densify so the radial deformation bends edges, not just corners
    nxt = np.roll(pts, -1, axis=0)
    t = np.linspace(0.0, 1.0, 6, endpoint=False)[None, :, None]
    dense = (pts[:, None, :] * (1 - t) + nxt[:, None, :] * t).reshape(-1, 2)
    c = _FACE_CENTRE_112
    rel = dense - c
    turn = max(0.0, abs(geom.yaw) - 0.06)
    if turn > 0:
        far = np.sign(rel[:, 0]) == np.sign(geom.yaw)
        rel[far, 0] *= max(0.4, 1.0 - 1.6 * turn)
    theta = np.arctan2(rel[:, 1], rel[:, 0])
    radial = np.ones_like(theta)
    for k, (a, b) in enumerate(mp["fourier"], start=1):
        radial += _HARMONIC_AMPLITUDE / k * (float(a) * np.cos(k * theta) + float(b) * np.sin(k * theta))
    rel = rel * radial[:, None]
    rot = math.radians(float(mp["rot"]))
    rmat = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    affine = rmat @ np.array([[float(mp["scale_x"]), float(mp["shear"])], [0.0, float(mp["scale_y"])]])
    shift = np.array([float(mp["shift_x"]), float(mp["shift_y"])]) * _FACE_SIZE_112
    deformed = c + rel @ affine.T + shift
    return _apply(geom.frame, deformed)


def _roi(x0: float, y0: float, x1: float, y1: float, pad: float, shape) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    return (
        max(0, int(math.floor(x0 - pad))),
        max(0, int(math.floor(y0 - pad))),
        min(w, int(math.ceil(x1 + pad)) + 1),
        min(h, int(math.ceil(y1 + pad)) + 1),
    )


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.2:
        return img
    k = 2 * int(math.ceil(3.0 * sigma)) + 1
    return cv2.GaussianBlur(img, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT101)


def _raster(poly: np.ndarray, origin, size, sigma: float) -> np.ndarray:
    """Soft mask of a polygon in a ``size`` = (w, h) window whose top-left is ``origin``."""
    shift_bits = 4
    local = np.round((poly - np.asarray(origin, np.float64)) * (1 << shift_bits)).astype(np.int32)
    sub = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(sub, [local], 255, lineType=cv2.LINE_AA, shift=shift_bits)
    soft = _gaussian(sub.astype(np.float32) / 255.0, sigma)
    soft[soft < 1.0 / 255.0] = 0.0  # exact zeros outside; a < 1/255 weight cannot change a pixel anyway
    return np.clip(soft, 0.0, 1.0, out=soft)


def _mask_sigma(geom: _FaceGeom, mp: dict) -> float:
    return max(0.3, float(mp["blur"]) * geom.face_px)


def _mask_with_roi(shape, landmarks, mp: dict) -> tuple[np.ndarray, tuple[int, int, int, int], _FaceGeom]:
    """Full-size mask, the bounding box (x0, y0, x1, y1) of its support, the face geometry."""
    geom = _face_geom(landmarks)
    sigma = _mask_sigma(geom, mp)
    poly = _mask_outline(geom, mp)
    h, w = shape[:2]
    x0, y0, x1, y1 = _roi(*poly.min(0), *poly.max(0), 3.0 * sigma + 3.0, (h, w))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise BadInputError("the face region lies outside the image")
    soft = _raster(poly, (x0, y0), (x1 - x0, y1 - y0), sigma)
    ys, xs = np.nonzero(soft)
    if len(ys) == 0:
        raise BadInputError("the face region lies outside the image")
    mask = np.zeros((h, w), np.float32)
    mask[y0:y1, x0:x1] = soft
    support = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)
    return mask, support, geom


def face_mask(shape, landmarks, rng=None, params: dict | None = None) -> np.ndarray:
    """Soft face-region mask (``float32`` HxW in [0, 1]) from the five landmarks.

    The template outline (brow line, temples, cheeks, jaw, chin) is mapped into the image
    with the landmark similarity fit, deformed (random anisotropic scale, shear, rotation,
    shift and a smooth radial wobble of up to five harmonics) and its edge blurred with a
    random Gaussian (sigma 0.8–5 % of the face size); values below 1/255 are set to 0, so the
    mask is exactly 0 outside the blurred outline. ``params`` is the mask dict of
    :func:`sample_params` (or a whole manipulation dict holding one under ``"mask"``)."""
    if params is not None and "mask" in params:
        params = params["mask"]
    mp = _sample_mask(_rng(rng))
    if params:
        mp = _merge(mp, params)
    return _mask_with_roi(tuple(shape), landmarks, mp)[0]


# ------------------------------------------------------------------------------- helpers


def _crop_zoom(geom: _FaceGeom) -> float:
    """Image pixels per detector-crop pixel for this face (< 1 for faces smaller than the crop)."""
    return geom.scale * _TEMPLATE_IOD / CROP_IOD


def _px_per_crop_px(geom: _FaceGeom) -> float:
    """Filter sizes: frequency artefacts are sized for the crop the detector sees, but
    never below one image pixel."""
    return max(1.0, _crop_zoom(geom))


def _resample_factor(resolution: float, geom: _FaceGeom) -> float:
    """Image-space down-scale factor that leaves the face at ``resolution`` (< 1) of the
    detector crop's. A face already smaller than the crop gets a milder loss
    (``resolution ** zoom``) instead of none, so small photos keep the artefact."""
    zoom = _crop_zoom(geom)
    return resolution / zoom if zoom >= 1.0 else resolution**zoom


def _resample(img: np.ndarray, factor: float, up_interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Down-scale by ``factor`` (< 1) and back: the resolution loss of a generator / codec."""
    h, w = img.shape[:2]
    sw, sh = max(2, round(w * factor)), max(2, round(h * factor))
    if sw >= w and sh >= h:
        return img
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=up_interp)


def _blend(src: np.ndarray, other: np.ndarray, alpha: np.ndarray, box) -> np.ndarray:
    """``src`` with ``other`` (the box-sized float image) blended in through ``alpha``;
    pixels where alpha == 0 are copied bit for bit."""
    x0, y0, x1, y1 = box
    out = src.copy()
    a = alpha[y0:y1, x0:x1]
    sel = a > 0
    base = src[y0:y1, x0:x1].astype(np.float32)
    mixed = base + a[..., None] * (other.astype(np.float32) - base)
    region = out[y0:y1, x0:x1]
    region[sel] = np.clip(np.rint(mixed[sel]), 0, 255).astype(np.uint8)
    return out


def _rgb_to_lab(rgb01: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb01, dtype=np.float32), cv2.COLOR_RGB2LAB)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_LAB2RGB)


def _reinhard(donor: np.ndarray, target: np.ndarray, weight: np.ndarray, strength: float) -> np.ndarray:
    """Move the donor's per-channel LAB mean and std inside ``weight`` towards the target's
    (Reinhard et al. 2001); ``strength`` 1 = full transfer. float32 0..255 in and out."""
    sel = weight > 0.5
    if sel.sum() < 4:
        sel = weight > 0
    if sel.sum() < 2:
        return donor
    d_lab = _rgb_to_lab(np.clip(donor / 255.0, 0, 1))
    t_lab = _rgb_to_lab(np.clip(target / 255.0, 0, 1))
    d_px, t_px = d_lab[sel], t_lab[sel]
    mu_d, mu_t = d_px.mean(0), t_px.mean(0)
    sd_d, sd_t = d_px.std(0) + 1e-3, t_px.std(0) + 1e-3
    ratio = np.clip(sd_t / sd_d, 0.5, 2.0) ** strength
    mu = mu_d + strength * (mu_t - mu_d)
    lab = (d_lab - mu_d) * ratio + mu
    lab[..., 0] = np.clip(lab[..., 0], 0, 100)
    return np.clip(_lab_to_rgb(lab) * 255.0, 0, 255)


# ------------------------------------------------------------------- self-blended images


def _sbi_color(img: np.ndarray, weight: np.ndarray, cp: dict) -> np.ndarray:
    x = img + np.asarray(cp["rgb_shift"], np.float32)
    hsv = cv2.cvtColor(np.clip(x / 255.0, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + float(cp["hue"]), 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 + float(cp["sat"])), 0, 1)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    sel = weight > 0.5
    mean = x[sel].mean(0) if sel.any() else x.reshape(-1, 3).mean(0)
    x = (x - mean) * (1.0 + float(cp["contrast"])) + mean + float(cp["brightness"]) * 255.0
    return np.clip(x, 0, 255)


def _sbi_freq(img: np.ndarray, fp: dict, geom: _FaceGeom) -> np.ndarray:
    unit = _px_per_crop_px(geom)
    strength = float(np.clip(fp["strength"], 0, 1))
    op = fp["op"]
    if op == "blur":
        return _gaussian(img, (0.3 + 0.6 * strength) * unit)
    if op == "sharpen":  # unsharp mask
        soft = _gaussian(img, 1.0 * unit)
        return np.clip(img + (0.25 + 0.6 * strength) * (img - soft), 0, 255)
    if op == "downscale":
        return np.clip(_resample(img, _resample_factor(0.9 - 0.3 * strength, geom)), 0, 255)
    if op == "none":
        return img
    raise ValueError(f"params['freq']['op'] must be one of {_FREQ_OPS}, not {op!r}")


def self_blend(rgb: np.ndarray, landmarks, rng=None, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Self-blended image (SBI, Shiohara & Yamasaki 2022) on the full photo.

    A copy of the face region is colour-jittered (RGB shift, hue, saturation, brightness,
    contrast), frequency-altered (blur, unsharp-mask sharpening or down-and-up sampling,
    sized in detector-crop pixels), and warped by a small scale (0.95–1.05) and shift (a
    few % of the face size) about the face centre; it is blended back through
    :func:`face_mask` times a blend ratio from {0.25, 0.5, 0.75, 1}. Returns
    ``(fake uint8 HxWx3, mask float32 HxW)``: the manipulated region (the blurred face
    mask); the blend weight actually used is ``mask * params["blend_ratio"]``."""
    _check_image(rgb, "image")
    p = _resolve("sbi", rng, params)
    mask, support, geom = _mask_with_roi(rgb.shape, landmarks, p["mask"])
    alpha = mask * np.float32(np.clip(float(p["blend_ratio"]), 0.0, 1.0))
    face_px = geom.face_px
    unit = _px_per_crop_px(geom)
    wp = p["warp"]
    pad = 0.1 * face_px + 4.0 * unit + 4.0
    box = _roi(support[0], support[1], support[2] - 1, support[3] - 1, pad, rgb.shape)
    x0, y0, x1, y1 = box
    roi = rgb[y0:y1, x0:x1].astype(np.float32)
    weight = mask[y0:y1, x0:x1]

    target = _sbi_color(roi, weight, p["color"])
    target = _sbi_freq(target, p["freq"], geom)
    cx, cy = geom.centre() - [x0, y0]
    s = float(wp["scale"])
    warp = np.array(
        [[s, 0.0, (1 - s) * cx + float(wp["tx"]) * face_px], [0.0, s, (1 - s) * cy + float(wp["ty"]) * face_px]]
    )
    target = cv2.warpAffine(
        target, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
    )
    fake = _blend(rgb, target, alpha, box)
    return fake, mask


# ------------------------------------------------------------------------------- swap


def _poisson(donor: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """cv2.seamlessClone (NORMAL_CLONE) of ``donor`` into ``target`` over the mask core
    (weight > 0.5), in place (no shift); None when OpenCV refuses (e.g. a degenerate mask).
    The Poisson boundary runs along the face outline, where the target's own colours are
    imposed — not out in the hair or background that the soft mask's tail reaches."""
    core = weight > 0.5
    if core.sum() < 16:
        core = weight > 0
    clone_mask = np.where(core, 255, 0).astype(np.uint8)
    clone_mask[0, :] = clone_mask[-1, :] = 0  # OpenCV clears the border itself; do it first
    clone_mask[:, 0] = clone_mask[:, -1] = 0  # so the bounding box below is the one it uses
    x, y, w, h = cv2.boundingRect(clone_mask)
    if w < 3 or h < 3:
        return None
    centre = (x + w // 2, y + h // 2)  # makes the destination rectangle equal the source one
    try:  # seamlessClone writes into its mask argument: give it a private copy
        out = cv2.seamlessClone(
            np.ascontiguousarray(donor), np.ascontiguousarray(target), clone_mask.copy(), centre, cv2.NORMAL_CLONE
        )
    except cv2.error:
        return None
    if out is None or out.shape != target.shape:
        return None
    return out


def face_swap(
    target_rgb: np.ndarray,
    target_landmarks,
    donor_rgb: np.ndarray,
    donor_landmarks,
    rng=None,
    params: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-identity face swap: the donor's face pasted onto the target photo.

    The donor is warped with the similarity transform taking its landmarks to the target's
    (plus a small random placement error), optionally down-sampled (generator resolution),
    colour-matched to the target inside the mask (Reinhard mean/std in LAB, partial
    strength) and blended either with the feathered :func:`face_mask` (``blend="feather"``)
    or by Poisson blending (``"poisson"``, ``cv2.seamlessClone`` NORMAL_CLONE, composited
    back through the same mask; falls back to feathering when OpenCV refuses). Returns
    ``(fake uint8 HxWx3, mask float32 HxW)``: the target's face mask, capped by the
    donor's face region; it is the feathering alpha, and with Poisson blending the pasted
    core is where it exceeds 0.5."""
    _check_image(target_rgb, "target image")
    _check_image(donor_rgb, "donor image")
    p = _resolve("swap", rng, params)
    if p["blend"] not in _BLENDS:
        raise ValueError(f"params['blend'] must be one of {_BLENDS}, not {p['blend']!r}")
    if p["interp"] not in _INTERPS:
        raise ValueError(f"params['interp'] must be one of {tuple(_INTERPS)}, not {p['interp']!r}")
    donor_geom = _face_geom(donor_landmarks, "donor landmarks")
    mask, support, geom = _mask_with_roi(target_rgb.shape, target_landmarks, p["mask"])
    face_px = geom.face_px
    unit = _px_per_crop_px(geom)

    # donor → target similarity, then a small placement error about the target face centre
    m = np.vstack([similarity_transform(donor_landmarks, target_landmarks), [0, 0, 1]])
    op = p["offset"]
    cx, cy = geom.centre()
    s, r = float(op["scale"]), math.radians(float(op["rot"]))
    a = s * np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    jitter = np.eye(3)
    jitter[:2, :2] = a
    jitter[:2, 2] = np.array([cx, cy]) - a @ [cx, cy] + np.array([float(op["tx"]), float(op["ty"])]) * face_px
    m = jitter @ m

    pad = 4.0 * unit + 4.0
    box = _roi(support[0], support[1], support[2] - 1, support[3] - 1, pad, target_rgb.shape)
    x0, y0, x1, y1 = box
    size = (x1 - x0, y1 - y0)
    to_roi = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ m

    # Only paste where the donor has face: its own undeformed, pose-aware outline, carried
    # by the same warp, caps the target mask, so neither a random bulge of the mask nor a
    # turned donor brings the donor's contour, hair or background into the paste.
    donor_poly = _apply(to_roi[:2], _mask_outline(donor_geom, _DONOR_CAP))
    donor_sigma = _mask_sigma(geom, p["mask"])
    donor_alpha = _raster(donor_poly, (0, 0), size, donor_sigma)
    mask[y0:y1, x0:x1] = np.minimum(mask[y0:y1, x0:x1], donor_alpha)
    if not (mask[y0:y1, x0:x1] > 0).any():
        raise BadInputError("the donor face does not overlap the target face region")

    donor = np.ascontiguousarray(donor_rgb)
    zoom = float(np.hypot(*to_roi[:2, 0]))  # target px per donor px
    if zoom < 0.5:  # strong shrink: pre-reduce the donor so the warp does not alias
        pre = zoom * 1.5
        dh, dw = donor_rgb.shape[:2]
        donor = cv2.resize(donor, (max(2, round(dw * pre)), max(2, round(dh * pre))), interpolation=cv2.INTER_AREA)
        to_roi = to_roi @ np.diag([1.0 / pre, 1.0 / pre, 1.0])
    interp = _INTERPS[p["interp"]]
    warped = cv2.warpAffine(donor, to_roi[:2], size, flags=interp, borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
    # generator resolution, in detector-crop pixels; skipped when the up-scaled donor is
    # already that coarse
    down = float(p["downscale"])
    factor = _resample_factor(down, geom)
    if down < 0.999 and factor < 0.98 and factor * zoom < 0.98:
        warped = np.clip(_resample(warped, factor, interp), 0, 255)

    weight = mask[y0:y1, x0:x1]
    roi = target_rgb[y0:y1, x0:x1]
    warped = _reinhard(warped, roi.astype(np.float32), weight, float(np.clip(p["color_strength"], 0, 1)))
    if p["blend"] == "poisson":
        cloned = _poisson(np.clip(np.rint(warped), 0, 255).astype(np.uint8), roi, weight)
        if cloned is not None:
            warped = cloned.astype(np.float32)
    fake = _blend(target_rgb, warped, mask, box)
    return fake, mask
