"""The random choices of a manipulation: sampling ranges, :func:`sample_params` (one
plain, JSON-able ``params`` dict per manipulation) and :func:`jitter_params` (the next video
frame's slightly perturbed copy)."""

from __future__ import annotations

import copy

import numpy as np

__all__ = ["sample_params", "jitter_params"]

_N_HARMONICS = 5  # radial harmonics that deform the mask outline (dfd.data.synth.geometry)

# Continuous parameters: dotted path -> (low, high). Used to sample them (uniformly) and to
# bound per-frame jitter. Lists (rgb_shift, fourier) share one range per element.
_MASK_SPEC = {
    "scale_x": (0.9, 1.08),
    "scale_y": (0.9, 1.08),
    "rot": (-4.0, 4.0),  # degrees
    "shear": (-0.06, 0.06),
    "shift_x": (-0.03, 0.03),  # face sizes
    "shift_y": (-0.03, 0.03),
    "fourier": (-1.0, 1.0),  # normalised radial harmonics, see geometry._HARMONIC_AMPLITUDE
    "blur": (0.008, 0.05),  # Gaussian sigma of the mask edge, in face sizes
}
# A swap pastes another person's face: a tighter region keeps the donor's face contour,
# hair and background out of the paste (SBI blends the image with itself, so it may reach
# the contour).
_SWAP_MASK_SPEC = {**_MASK_SPEC, "scale_x": (0.8, 0.96), "scale_y": (0.88, 1.0)}
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
