"""Grad-CAM explanations for the dfd image detectors.

Every dfd image model names its last spatial feature map ``"features"`` and its output
layer ``"p_fake"`` (a ``Dense(1, sigmoid)``). Grad-CAM (Selvaraju et al. 2017) weights the
channels of the feature map by the spatially averaged gradient of the *fake* score and keeps
the positive part: the heatmap shows where the model found evidence that the face is fake.

The score differentiated is the pre-sigmoid logit of ``p_fake`` (recomputed from the input
of the ``p_fake`` layer, so it stays exact when the sigmoid saturates at 0 or 1); models
without such a layer fall back to the log-odds of the clipped output.

Heatmaps are ``float32`` in [0, 1], one per image, resized to the model's input size; each
one is divided by its own maximum (an all-zero map means "no evidence for fake").
"""

from __future__ import annotations

import threading
import weakref

import cv2
import numpy as np

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


class _GradCam:
    """A model's Grad-CAM function, built and traced once."""

    def __init__(self, model, layer: str):
        import keras
        import tensorflow as tf

        try:
            feature_layer = model.get_layer(layer)
        except ValueError:
            raise ValueError(
                f"model {model.name!r} has no layer named {layer!r}; Grad-CAM needs the last "
                "spatial feature map (every dfd image model names it 'features')"
            ) from None
        head = None
        try:
            p_layer = model.get_layer("p_fake")
            if isinstance(p_layer, keras.layers.Dense) and p_layer.units == 1:
                head = p_layer
        except ValueError:
            pass
        outputs = [feature_layer.output, head.input if head is not None else model.output]
        self.grad_model = keras.Model(model.inputs, outputs, name=f"{model.name}_gradcam")
        self.head = head
        size = model.input_shape[1:3]
        self.size = (int(size[0]), int(size[1]))

        # one graph for every batch size, traced here (as the engine's predict functions):
        # no retracing per new number of faces, no "triggered tf.function retracing" warning
        @tf.function(input_signature=[tf.TensorSpec((None, *self.size, 3), tf.float32)], reduce_retracing=True)
        def compute(x):
            with tf.GradientTape() as tape:
                features, pre = self.grad_model(x, training=False)
                tape.watch(features)
                if self.head is not None:
                    # recompute the head from the watched path: logit = pre @ W + b
                    logit = tf.matmul(pre, tf.cast(self.head.kernel, pre.dtype))
                    if self.head.use_bias:
                        logit = logit + tf.cast(self.head.bias, pre.dtype)
                else:
                    p = tf.clip_by_value(tf.cast(pre, tf.float32), 1e-6, 1.0 - 1e-6)
                    logit = tf.math.log(p) - tf.math.log1p(-p)
                score = tf.reduce_sum(tf.cast(logit, tf.float32))
            grads = tape.gradient(score, features)
            features = tf.cast(features, tf.float32)
            grads = tf.cast(grads, tf.float32)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # (N, 1, 1, C)
            cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))  # (N, h, w)
            return cam

        self._compute = compute.get_concrete_function()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        cams = self._compute(tf.convert_to_tensor(batch, dtype=tf.float32)).numpy()
        out = np.zeros((cams.shape[0], *self.size), dtype=np.float32)
        for i, cam in enumerate(cams):
            cam = np.nan_to_num(cam.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            peak = float(cam.max()) if cam.size else 0.0
            if peak <= 0.0:
                continue
            resized = cv2.resize(cam / peak, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
            out[i] = np.clip(resized, 0.0, 1.0)
        return out


def _gradcam_for(model, layer: str) -> _GradCam:
    with _CACHE_LOCK:
        per_model = _CACHE.get(model)
        if per_model is None:
            per_model = _CACHE[model] = {}
        fn = per_model.get(layer)
        if fn is None:
            fn = per_model[layer] = _GradCam(model, layer)
        return fn


def gradcam(model, batch_float32, layer: str = "features") -> np.ndarray:
    """Grad-CAM heatmaps of P(fake) for a batch of model inputs.

    ``batch_float32``: ``(N, H, W, 3)`` raw [0, 255] pixels at the model's input size (one
    ``(H, W, 3)`` image is taken as a batch of one). Returns ``(N, H, W)`` float32 in [0, 1].
    The gradient model is built once per (model, layer) and cached."""
    x = np.asarray(batch_float32, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected a (N, H, W, 3) batch, got shape {x.shape}")
    fn = _gradcam_for(model, layer)
    if x.shape[1:3] != fn.size:
        raise ValueError(f"batch is {x.shape[1]}x{x.shape[2]} but {model.name!r} takes {fn.size[0]}x{fn.size[1]}")
    if x.shape[0] == 0:
        return np.zeros((0, *fn.size), dtype=np.float32)
    return fn(x)


def overlay(crop_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heatmap as a JET colour overlay on the crop (``uint8`` RGB, crop size)."""
    crop = np.asarray(crop_rgb, dtype=np.uint8)
    h, w = crop.shape[:2]
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.clip(heat * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(heat, 0.0, 1.0))[..., None]
    return np.clip(crop * (1.0 - weight) + colour * weight, 0, 255).astype(np.uint8)


__all__ = ["gradcam", "overlay"]
