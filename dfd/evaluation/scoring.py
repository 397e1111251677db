"""The trained members of a dataset loaded once and scored on face crops of any size (what the
study, the robust fit, the robustness sweep and the cross-dataset matrix all share)."""

from __future__ import annotations

import cv2
import numpy as np

from dfd.paths import models_dir

IMAGE_MODELS = ("cnn", "cnn_lstm", "resnext")


def load_members(dataset: str, members=IMAGE_MODELS) -> dict[str, tuple[object, int]]:
    """name -> (keras model, input size) for the trained members of ``dataset``."""
    from dfd.models import load_model

    out = {}
    for name in members:
        path = models_dir(dataset) / f"{name}.h5"
        if path.exists():
            model, card = load_model(path)
            out[name] = (model, int(card.get("input_size") or model.input_shape[1]))
    return out


def at_size(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 crops ``(n, s, s, 3)`` at a model's input ``size`` (area-resized when needed)."""
    if images.shape[1] == size:
        return images
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def score_images(models: dict[str, tuple[object, int]], images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, n_models) raw member probabilities for uint8 crops of any size."""
    cols = []
    for _name, (model, size) in models.items():
        x = at_size(images, size)
        preds = [model.predict_on_batch(x[i : i + batch_size].astype(np.float32)) for i in range(0, len(x), batch_size)]
        cols.append(np.concatenate(preds).reshape(-1))
    return np.stack(cols, axis=1)


def bundle_combine(bundle):
    """The bundle's score of member scores as the engine gives it — members out (far out, or
    beyond their score range) left out where its ``ood_combine`` says — for :func:`named_scores`: a
    ``combine(P, features)`` (marked ``needs_features``)."""
    def combine(P, features):
        return bundle.score_faces(P, features)[0]

    combine.needs_features = True
    return combine


def scores_and_features(models: dict[str, tuple[object, int]], images: np.ndarray) -> tuple[np.ndarray, dict]:
    """(N, n_models) raw member probabilities and each member's out-of-domain features
    (name -> (N, d)) of uint8 crops of any size, from one pass per member."""
    from dfd.evaluation.ood import member_features

    both = {name: member_features(model, at_size(images, size)) for name, (model, size) in models.items()}
    return np.stack([both[name][0] for name in models], axis=1), {name: both[name][1] for name in models}


def named_scores(models: dict[str, tuple[object, int]], images: np.ndarray, combine=None) -> dict[str, np.ndarray]:
    """Each member's raw P(fake) of ``images`` by name, and the ensemble's ``combine(P) -> p``
    (named ``ensemble``; or each of a mapping ``name -> combine``); a combine marked
    ``needs_features`` (:func:`bundle_combine`) is given each member's features too."""
    from collections.abc import Mapping

    combiners = {} if combine is None else dict(combine) if isinstance(combine, Mapping) else {"ensemble": combine}
    features = None
    if any(getattr(fn, "needs_features", False) for fn in combiners.values()):
        P, features = scores_and_features(models, images)
    else:
        P = score_images(models, images)
    out = {name: P[:, j] for j, name in enumerate(models)}
    out.update({name: np.asarray(fn(P, features) if getattr(fn, "needs_features", False) else fn(P), np.float64)
                for name, fn in combiners.items()})
    return out
