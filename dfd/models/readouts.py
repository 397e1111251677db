"""Exact fit of a multistream model's linear readouts, before the network is trained.

The ``stats``, ``dictionary`` and ``dct`` streams of :mod:`dfd.models.multistream` are fixed
feature maps (nothing in them trains) read out by one ``Dense(1)`` each with an L2 penalty.
Given the features, that readout is a logistic regression: a convex problem with one
optimum, which a few epochs of mini-batch SGD next to a conv trunk only approach (measured
on faces140k_subset with the features fixed: SGD replays of the readouts 0.955-0.959 test
AUC, the L-BFGS optimum of the same objective 0.966, validation 0.970). :func:`fit_linear_readouts` solves
it with scikit-learn's L-BFGS on the training faces (no augmentation), writes the solution
into the model's BatchNorm and Dense weights and freezes them.

The conv trunk is then trained as a classifier of its own (:func:`trunk_classifier`) and
its logit weighed against the readouts' on the validation split (:func:`weigh_trunk`), as
one stacks two experts. Not on the readouts' residual: their fit on the training faces is
near perfect (training ROC-AUC ~1), so a trunk trained next to them there learns that
split's noise (measured: validation AUC 0.970 with the readouts alone fell to 0.94 after 12
epochs of training the trunk on top of them).
"""

from __future__ import annotations

import numpy as np
import keras

# stream -> (feature layer, standardising BatchNorm or None, readout Dense); the names
# dfd.models.multistream gives them. The dictionary standardises its own codes (PatchDictionary).
LINEAR_STREAMS = {
    "stats": ("stats", "stats_bn", "stats_logit"),
    "dictionary": ("dictionary", None, "dictionary_logit"),
    "dct": ("dct", "dct_bn", "dct_logit"),
}


def linear_streams(model: keras.Model) -> list[str]:
    """The linear streams ``model`` has, in :data:`LINEAR_STREAMS` order."""
    names = {layer.name for layer in model.layers}
    return [s for s, (feature, _, readout) in LINEAR_STREAMS.items() if feature in names and readout in names]


def predict_streams(model: keras.Model, images, batch_size: int = 64) -> tuple[np.ndarray, dict]:
    """``p_fake`` and each stream's logit (``{"trunk": ..., "stats": ..., ...}``, 1-D arrays)
    from one forward pass. ``p_fake`` is the sigmoid of the logits' sum, so each one shows
    what that stream says alone. A single-stream model gives ``p_fake`` and ``{}``."""
    names = {layer.name for layer in model.layers}
    readouts = {"trunk": "trunk_logit", **{s: LINEAR_STREAMS[s][2] for s in linear_streams(model)}}
    readouts = {s: n for s, n in readouts.items() if n in names}
    images = np.asarray(images)
    if len(readouts) < 2:
        return np.asarray(model.predict(images, batch_size=batch_size, verbose=0)).reshape(-1), {}
    heads = [model.output] + [model.get_layer(n).output for n in readouts.values()]
    outputs = keras.Model(model.input, heads).predict(images, batch_size=batch_size, verbose=0)
    return np.asarray(outputs[0]).reshape(-1), {s: np.asarray(o).reshape(-1) for s, o in zip(readouts, outputs[1:])}


def stream_logits(model: keras.Model, images, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each stream's logit for ``images`` (see :func:`predict_streams`); ``{}`` for a
    single-stream model."""
    return predict_streams(model, images, batch_size)[1]


def fit_linear_readouts(model: keras.Model, images, labels, batch_size: int = 32,
                        max_iter: int = 2000) -> dict:
    """Fit every linear stream's readout of ``model`` jointly and exactly, then freeze it.

    Minimises the same objective training would: mean binary cross-entropy of the streams'
    summed logits plus each readout's own L2 penalty (its ``kernel_regularizer``), over
    ``images`` (N, S, S, 3 raw pixels, the training split without augmentation) and
    ``labels`` (N, 1 = fake). Adapt the model first (:func:`~dfd.models.adapt_model`):
    the dictionary's codes must exist. Returns what was fitted, for the model card: the
    streams, their penalties, iterations and training-set loss and ROC-AUC."""
    streams = linear_streams(model)
    if not streams:
        raise ValueError(f"model {model.name!r} has no linear streams to fit (one of {sorted(LINEAR_STREAMS)})")
    labels = np.asarray(labels).reshape(-1)
    images = np.asarray(images)
    if len(images) != len(labels) or set(np.unique(labels)) != {0, 1}:
        raise ValueError(f"need one 0/1 label per image and both classes; got {len(images)} images, "
                         f"labels {sorted(set(np.unique(labels).tolist()))}")
    layer = model.get_layer
    if "dictionary" in streams and not layer("dictionary").is_adapted:
        raise ValueError("adapt the model first (dfd.models.adapt_model): its patch dictionary is still empty")
    features = keras.Model(model.input, [layer(LINEAR_STREAMS[s][0]).output for s in streams])
    values = features.predict(images, batch_size=batch_size, verbose=0)
    values = values if isinstance(values, list) else [values]

    blocks, penalties = [], []
    for stream, x in zip(streams, values):
        _, norm_name, readout_name = LINEAR_STREAMS[stream]
        x = np.asarray(x, np.float64)
        if norm_name is not None:  # standardise the way the BatchNorm will at inference
            bn = layer(norm_name)
            mean, var = x.mean(axis=0), x.var(axis=0)
            bn.moving_mean.assign(mean.astype("float32"))
            bn.moving_variance.assign(var.astype("float32"))
            bn.gamma.assign(np.ones_like(mean, "float32"))
            bn.beta.assign(np.zeros_like(mean, "float32"))
            x = (x - mean) / np.sqrt(var + bn.epsilon)
        blocks.append(x)
        penalties.append(_l2_of(layer(readout_name)))

    kernels, intercept, info = solve_readouts(blocks, labels, penalties, max_iter=max_iter)
    for i, (stream, kernel) in enumerate(zip(streams, kernels)):
        dense = layer(LINEAR_STREAMS[stream][2])
        dense.kernel.assign(kernel.reshape(-1, 1).astype("float32"))
        dense.bias.assign(np.array([intercept if i == 0 else 0.0], "float32"))
        for name in LINEAR_STREAMS[stream][1:]:  # frozen: BatchNorm runs in inference mode, Dense keeps its fit
            if name is not None:
                layer(name).trainable = False
    return {"streams": streams, "l2": dict(zip(streams, penalties)), **info}


def solve_readouts(blocks, labels, penalties, max_iter: int = 2000):
    """Minimise mean binary cross-entropy of ``sum_b blocks[b] @ w_b + c`` plus
    ``sum_b penalties[b] * |w_b|^2`` (Keras' L2 convention) by L-BFGS. Returns the ``w_b``,
    ``c`` and the fit's iterations, training log loss and ROC-AUC."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss, roc_auc_score

    labels = np.asarray(labels).reshape(-1)
    # one common penalty on features scaled by 1/sqrt(penalty) is the per-block one
    scales = [1.0 / np.sqrt(float(p)) for p in penalties]
    design = np.concatenate([np.asarray(b, np.float64) * s for b, s in zip(blocks, scales)], axis=1)
    n = len(labels)
    # sklearn minimises 0.5 |w|^2 + C sum(loss) = n C (mean loss + |w|^2 / (2 n C)), so
    # C = 1 / (2 n) is mean loss + |w|^2
    regression = LogisticRegression(C=1.0 / (2 * n), max_iter=max_iter, tol=1e-6)
    regression.fit(design, labels)
    coef = regression.coef_.reshape(-1)
    edges = np.cumsum([0] + [b.shape[1] for b in blocks])
    kernels = [coef[a:z] * s for a, z, s in zip(edges[:-1], edges[1:], scales)]
    logit = regression.decision_function(design)
    info = {"features": int(design.shape[1]), "iterations": int(regression.n_iter_[0]),
            "train_log_loss": round(float(log_loss(labels, expit(logit))), 4),
            "train_roc_auc": round(float(roc_auc_score(labels, logit)), 4), "solver": "lbfgs"}
    return kernels, float(regression.intercept_[0]), info


def trunk_classifier(model: keras.Model) -> keras.Model:
    """The conv trunk of a multistream model as a classifier of its own: pixels ->
    sigmoid(``trunk_logit``), sharing its layers (and weights) with ``model``. It computes
    none of the other streams, so at 64 px it trains several times faster than the whole."""
    logit = model.get_layer("trunk_logit").output
    p_fake = keras.layers.Activation("sigmoid", dtype="float32", name="trunk_p_fake")(logit)
    return keras.Model(model.input, p_fake, name=f"{model.name}_trunk")


def weigh_trunk(model: keras.Model, images, labels, weights=np.linspace(0.0, 1.0, 21)) -> dict:
    """Scale the trunk's logit by the weight in ``weights`` that gives the lowest log loss of
    the whole model on ``images`` / ``labels`` (the validation split; the trunk was trained
    apart from the fitted readouts, so how much to trust it is measured on faces neither saw).
    The weight goes into ``trunk_logit``'s kernel and bias, so the saved model carries it."""
    from scipy.special import expit
    from sklearn.metrics import log_loss, roc_auc_score

    labels = np.asarray(labels).reshape(-1)
    logits = stream_logits(model, images)
    if "trunk" not in logits:
        raise ValueError(f"model {model.name!r} has no trunk logit next to other streams to weigh it against")
    trunk = logits.pop("trunk")
    rest = sum(logits.values())
    losses = [log_loss(labels, expit(rest + w * trunk), labels=[0, 1]) for w in weights]
    weight = float(weights[int(np.argmin(losses))])
    dense = model.get_layer("trunk_logit")
    dense.kernel.assign(np.asarray(dense.kernel) * weight)
    dense.bias.assign(np.asarray(dense.bias) * weight)
    return {"trunk_weight": round(weight, 3), "chosen_on": "log loss",
            "trunk_roc_auc": round(float(roc_auc_score(labels, trunk)), 4),
            "readouts_roc_auc": round(float(roc_auc_score(labels, rest)), 4),
            "model_roc_auc": round(float(roc_auc_score(labels, rest + weight * trunk)), 4)}


def _l2_of(dense: keras.layers.Dense) -> float:
    regularizer = dense.kernel_regularizer
    l2 = float(getattr(regularizer, "l2", 0.0) or 0.0)
    if l2 <= 0:
        raise ValueError(f"readout {dense.name!r} needs an L2 kernel_regularizer to be fitted exactly "
                         "(without one the logistic regression has no unique optimum)")
    return l2
