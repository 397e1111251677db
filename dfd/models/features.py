"""Which tensor is a detector's "features": what its final classifier reads.

The out-of-domain scorer (:mod:`dfd.evaluation.ood`) measures how far an input's features
lie from the training faces'. For the single-head families (``cnn``, ``cnn_lstm``,
``resnext``) that is the input of the ``p_fake`` Dense layer (the pooled embedding after
the optional head Dense). ``multistream``'s ``p_fake`` is the sigmoid of a sum of several
``Dense(1)`` readouts (:mod:`dfd.models.multistream`): its features are the inputs of every
readout, concatenated in layer order. Both cases are one rule: walk back from the output
through weightless layers (activation, add, stream dropout) to the Dense layers that feed it.
"""

from __future__ import annotations

import keras


def _producer(tensor) -> keras.layers.Layer:
    return tensor._keras_history.operation


def _as_list(x) -> list:
    return list(x) if isinstance(x, list | tuple) else [x]


def readout_layers(model: keras.Model) -> list[keras.layers.Dense]:
    """The Dense layers whose outputs make ``model``'s output through weightless layers
    only, in the order the model lists its layers."""
    found, stack, seen = [], [_producer(t) for t in _as_list(model.output)], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.Dense):
            found.append(layer)
        elif not layer.weights and not isinstance(layer, keras.layers.InputLayer):
            stack.extend(_producer(t) for t in _as_list(layer.input))
    if not found:
        raise ValueError(f"model {model.name!r} has no Dense readout feeding its output")
    order = {id(layer): i for i, layer in enumerate(model.layers)}
    return sorted(found, key=lambda layer: order[id(layer)])


def feature_outputs(model: keras.Model) -> list:
    """The tensors ``model``'s final classifier reads (one per readout; see the module
    docstring), each flattened to ``(batch, d)`` by :func:`feature_model`."""
    return [layer.input for layer in readout_layers(model)]


def feature_model(model: keras.Model) -> keras.Model:
    """A model with ``model``'s input and two outputs: its P(fake) ``(batch, 1)`` and its
    features ``(batch, d)`` (the readouts' inputs flattened and concatenated), computed in
    one forward pass."""
    parts = [keras.layers.Flatten()(t) if len(t.shape) > 2 else t for t in feature_outputs(model)]
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    return keras.Model(model.input, [model.output, features], name=f"{model.name}_with_features")
