"""Per-family training hooks: each model family's own steps around the generic fit.

:func:`dfd.training.train.train` is the same for every image model: it adapts the
unsupervised layers, compiles and fits what the family's hooks hand it, and saves the
model with its card. What only one family needs (the multistream model's exact readout
fit, DeepfakeBench style: each detector's quirks in its own class) lives in a
:class:`FamilyHooks` subclass named in :data:`FAMILY_HOOKS`; a family without an entry
trains with the base class, which changes nothing."""

from __future__ import annotations

import importlib

import numpy as np

# family (a model config's "model" key) -> "module:class" of its hooks, imported when used
FAMILY_HOOKS: dict[str, str | type] = {
    "multistream": "dfd.training.multistream:MultiStreamHooks",
}


class FamilyHooks:
    """The default hooks: gradient descent fits the whole model, prediction is
    ``model.predict``, the card gets nothing extra.

    ``config`` is the resolved config the model was built with (``built_config``); one
    instance serves one training run, so hooks may keep what they measured for the card."""

    def __init__(self, config: dict, verbose: int = 0):
        self.config = config
        self.verbose = verbose

    def prepare(self, model, images: np.ndarray, labels: np.ndarray, started: float):
        """Called once the unsupervised layers are adapted, before compiling; ``images`` /
        ``labels`` are the un-augmented training split, ``started`` the run's start time
        (``time.time()``). Returns the model gradient descent fits (``model`` or a part
        sharing its layers)."""
        return model

    def after_fit(self, model, images: np.ndarray, labels: np.ndarray) -> None:
        """Called after the best epoch's weights are restored, with the validation split."""

    def predict(self, model, split: str, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """P(fake) (1-D) of the evaluated ``split`` ("valid", "test") of the finished model."""
        return np.asarray(model.predict(images, batch_size=64, verbose=0)).reshape(-1)

    def card_extras(self) -> dict:
        """Entries for the model card's ``training`` section."""
        return {}


def hooks_for(family: str) -> type[FamilyHooks]:
    """The hooks class of ``family`` (:class:`FamilyHooks` when it has none of its own)."""
    spec = FAMILY_HOOKS.get(family, FamilyHooks)
    if isinstance(spec, str):
        module, name = spec.split(":")
        spec = getattr(importlib.import_module(module), name)
    return spec
