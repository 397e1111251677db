"""Fresh fakes every epoch from the real training faces (self-supervised training on real
faces only, as Self-Blended Images does): no fake is seen twice, and a user with only real
photos can train a detector.

Each epoch pairs every real training crop with one new fake made from it by a kind drawn
from :attr:`SynthesisConfig.kinds` — ``sbi`` (the face blended back from a jittered copy of
itself, :func:`dfd.data.synth.self_blend`), ``swap`` (the face of another real training crop
pasted in, :func:`dfd.data.synth.face_swap`) or ``upsample`` (the whole crop rebuilt through a
generator-like up-sampler, :func:`dfd.data.synth.upsampling_trace`) — so the two classes share
identities, poses and processing and differ only by the manipulation. The crops are aligned
to the ArcFace template, so their five landmarks sit at :func:`dfd.faces.template_points`.
Validation and test keep the manifest's fixed fakes, so in-domain figures stay comparable;
``fixed_fakes`` also trains on the manifest's training fakes (a downloaded dataset's own fakes
plus synthetic ones). The fakes of an epoch are a pure function of (seed, epoch): same seed,
same fakes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dfd.data.synth import face_swap, self_blend, upsampling_trace
from dfd.faces.alignment import template_points

KINDS = ("sbi", "swap", "upsample")


@dataclass(frozen=True)
class SynthesisConfig:
    kinds: tuple[str, ...] = ("sbi",)  # empty: no fresh fakes (train on the manifest's fakes)
    weights: tuple[float, ...] = ()  # relative frequency of each kind; empty: equal
    fixed_fakes: bool = False  # half of each epoch's fakes from the manifest's training fakes
    margin: float = 0.3  # the crops' margin around the ArcFace framing (where the landmarks are)

    def __post_init__(self):
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"synthesis kinds must be among {KINDS}, not {unknown}")
        if self.weights and (len(self.weights) != len(self.kinds) or min(self.weights) < 0 or sum(self.weights) <= 0):
            raise ValueError(f"synthesis weights must be one non-negative number per kind {self.kinds}, "
                             f"not {self.weights}")

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    @classmethod
    def from_dict(cls, fields: dict | None) -> "SynthesisConfig":
        """From a recipe's ``synthesis`` (None: off)."""
        if not fields:
            return cls(kinds=())
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class FreshFakes:
    """One new fake of every real crop per epoch (:meth:`epoch`).

    ``reals``: ``(N, S, S, 3)`` uint8 aligned real crops; ``fixed``: the manifest's training
    fakes (used only when ``config.fixed_fakes``)."""

    def __init__(self, reals: np.ndarray, config: SynthesisConfig, seed: int = 0, fixed: np.ndarray | None = None):
        if not config.enabled:
            raise ValueError("FreshFakes needs at least one synthesis kind")
        if len(reals) < 2:
            raise ValueError(f"fresh fakes need at least 2 real training faces, got {len(reals)}")
        self.reals = reals
        self.config = config
        self.seed = int(seed)
        self.fixed = fixed if config.fixed_fakes and fixed is not None and len(fixed) else None
        self.landmarks = template_points(reals.shape[1], config.margin)
        w = np.asarray(config.weights or [1.0] * len(config.kinds), np.float64)
        self._p = w / w.sum()

    def fake_of(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """A fresh fake of real crop ``i`` and its kind."""
        kind = self.config.kinds[int(rng.choice(len(self.config.kinds), p=self._p))]
        real = self.reals[i]
        if kind == "sbi":
            fake, _ = self_blend(real, self.landmarks, rng)
        elif kind == "swap":
            donor = int(rng.integers(len(self.reals) - 1))
            donor += donor >= i  # never the face itself
            fake, _ = face_swap(real, self.landmarks, self.reals[donor], self.landmarks, rng)
        else:
            fake, _ = upsampling_trace(real, rng)
        return fake, kind

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(images, labels, kinds)`` of epoch ``epoch``, shuffled: every real crop (label 0)
        and as many fakes (label 1; kind "fixed" for a manifest fake)."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        n = len(self.reals)
        n_fixed = min(len(self.fixed), n // 2) if self.fixed is not None else 0
        fresh_of = rng.permutation(n)[: n - n_fixed]
        images = [self.reals]
        kinds = ["real"] * n
        fakes = []
        for i in fresh_of:
            fake, kind = self.fake_of(int(i), rng)
            fakes.append(fake)
            kinds.append(kind)
        if fakes:
            images.append(np.stack(fakes))
        if n_fixed:
            images.append(self.fixed[rng.choice(len(self.fixed), n_fixed, replace=False)])
            kinds += ["fixed"] * n_fixed
        x = np.concatenate(images)
        y = np.r_[np.zeros(n, np.int64), np.ones(len(x) - n, np.int64)]
        order = rng.permutation(len(x))
        return x[order], y[order], [kinds[j] for j in order]
