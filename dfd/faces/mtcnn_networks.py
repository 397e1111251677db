"""The process's one MTCNN: mtcnn 1.0's detector with its three networks run fast and its
pyramid made safe, shared by every :class:`dfd.faces.detection.FaceDetector`.

* the networks run by TensorFlow Lite (:func:`_lite_net`, :mod:`dfd.lite`), or as traced
  ``tf.function`` graphs where TFLite cannot serve (:func:`_compiled`);
* a batch is normalised once as float32 (:func:`_batched_mtcnn_class`), not per pyramid level
  in float64;
* levels under PNet's 12 px window are dropped from the pyramid (:func:`_pyramid_fixed`).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

_SHARED_MTCNN = None
MTCNN_LOCK = threading.RLock()  # MTCNN's TF graphs are not re-entrant


def _compiled(net, tf):
    """``net`` as one traced graph (free batch/height/width). An empty batch — no face
    proposals left for RNet/ONet — raises the InvalidArgumentError mtcnn expects for "no
    faces" right away, instead of failing inside the graph with a logged kernel error."""
    graph = tf.function(net, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
                        reduce_retracing=True)

    def call(x, *args, **kwargs):
        x = tf.convert_to_tensor(x, tf.float32)
        if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
            raise tf.errors.InvalidArgumentError(None, None, "no face proposals")
        return graph(x)

    call._dfd_compiled = True
    return call


LITE_KEEP_SHAPES = {"StagePNet": 32}  # PNet sees a new size per pyramid level; RNet/ONet only new batch sizes
LITE_PROBE_ATOL = 1e-4  # largest output difference to Keras a converted network may show


def _lite_net(net, stage_name: str, tf):
    """``net`` run by TensorFlow Lite (:mod:`dfd.lite`, kept per machine), called like
    :func:`_compiled`'s function; None where TensorFlow has to
    serve (``DFD_LITE=0``, a failed conversion or check)."""
    from importlib.metadata import version

    from dfd import lite
    from dfd.io.hashing import sha256_arrays, sha256_text

    if not lite.lite_enabled():
        return None
    probe_shape = {"StagePNet": (2, 61, 83, 3), "StageRNet": (5, 24, 24, 3), "StageONet": (3, 48, 48, 3)}.get(stage_name)
    if probe_shape is None:
        return None

    def check(graph):
        x = np.random.default_rng(0).uniform(-1, 1, probe_shape).astype(np.float32)
        ours, ref = graph(x), [np.asarray(t) for t in net(tf.constant(x))]
        worst = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, ref, strict=True))
        return None if worst <= LITE_PROBE_ATOL else f"not used: differs from Keras by {worst:.2e}"

    try:
        key = sha256_text(lite.describe("mtcnn", version("mtcnn"), stage_name, sha256_arrays(net.get_weights())))
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        graph = lite.cached_conversion(key, lambda: lite.convert(net, spec), check=check,
                                       keep_shapes=LITE_KEEP_SHAPES.get(stage_name, 1))
    except Exception as err:  # noqa: BLE001 — any failure leaves TensorFlow's graph in place
        log.warning("TensorFlow Lite for MTCNN %s: %s; using TensorFlow", stage_name, err)
        return None

    def call(x, *args, **kwargs):
        x = np.asarray(x, np.float32)
        if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
            raise tf.errors.InvalidArgumentError(None, None, "no face proposals")
        return [tf.convert_to_tensor(a) for a in graph(x)]  # mtcnn's stages read tensors

    call._dfd_compiled = True
    call._dfd_lite = graph
    return call


def _pyramid_fixed(build):
    """mtcnn 1.0's ``build_scale_pyramid`` counts its levels from the image size alone, so
    with ``min_face_size`` above 12 px the last levels are smaller than PNet's 12 px window,
    PNet fails on them and every face of the image is lost. The same levels, less those
    (none are dropped at ``min_face_size=12``: its pyramid is unchanged)."""

    def build_scale_pyramid(width, height, min_face_size, scale_factor, min_size=12):
        scales = np.asarray(build(width, height, min_face_size=min_face_size, scale_factor=scale_factor,
                                  min_size=min_size))
        return scales[min(width, height) * scales >= min_size]

    build_scale_pyramid._dfd_fixed = True
    return build_scale_pyramid


def _batched_mtcnn_class():
    """mtcnn's MTCNN with a ``detect_faces`` that normalises a batch once, as float32."""
    import mtcnn.stages.stage_pnet as stage_pnet
    import tensorflow as tf
    from mtcnn import MTCNN
    from mtcnn.utils.bboxes import limit_bboxes, to_json

    if not getattr(stage_pnet.build_scale_pyramid, "_dfd_fixed", False):
        stage_pnet.build_scale_pyramid = _pyramid_fixed(stage_pnet.build_scale_pyramid)

    class BatchedMTCNN(MTCNN):
        """``detect_faces`` answers as MTCNN 1.0's does (bit-identical boxes, scores and
        landmarks, tested), faster for the batches dfd sends: one uint8 image or a list of
        same-sized ones. MTCNN's own path normalises the stacked batch in float64 numpy, which
        every pyramid level and both patch extractions convert to a tensor again (nine 64 MB
        copies for 32 frames searched at 384 px, ~0.9 of 2.9 s on 2 cores); here the batch
        becomes one float32 tensor, the precision the networks run at, and same-sized images
        need none of MTCNN's padding. Anything else goes to MTCNN's own path."""

        def detect_faces(self, image, **kwargs):
            images = image if isinstance(image, list) else [image]
            plain = images and all(isinstance(im, np.ndarray) and im.dtype == np.uint8 and im.ndim == 3
                                   for im in images) and len({im.shape for im in images}) == 1
            if not plain or set(kwargs) - {"min_face_size"}:
                return super().detect_faces(image, **kwargs)
            oshapes = np.array([im.shape for im in images])
            with tf.device(self._device):
                batch = (tf.convert_to_tensor(np.stack(images), tf.float32) - 127.5) / 128.0
                try:
                    bboxes = None
                    for stage in self.stages:
                        bboxes = stage(bboxes_batch=bboxes, images_normalized=batch, images_oshapes=oshapes, **kwargs)
                except tf.errors.InvalidArgumentError:  # MTCNN's "no faces"
                    bboxes = np.empty((0, 16))
                bboxes = limit_bboxes(bboxes, images_shapes=oshapes, limit_landmarks=False)
                result = to_json(bboxes, images_count=len(images), output_as_width_height=True,
                                 input_as_width_height=False)
            if isinstance(image, list):
                return result
            return result[0] if len(result) > 0 else result

    return BatchedMTCNN


def compiled_mtcnn():
    """The process's one MTCNN (:func:`_batched_mtcnn_class`: batches normalised once, as
    float32), its three networks run by TensorFlow Lite (:func:`_lite_net`; ~2x faster than
    TensorFlow's graph on 2 cores, float32 rounding apart) or, where that cannot serve, as
    traced ``tf.function`` graphs instead of layer-by-layer eager Keras calls: same weights,
    same boxes, 2.5-4x faster on CPU (one signature with free batch/height/width, so every
    pyramid level shares one trace per network). Built on first use (TensorFlow is imported here)."""
    global _SHARED_MTCNN
    if _SHARED_MTCNN is None:
        with MTCNN_LOCK:
            if _SHARED_MTCNN is None:
                import tensorflow as tf

                mtcnn = _batched_mtcnn_class()(device="CPU:0")
                for stage in getattr(mtcnn, "stages", []):
                    net = getattr(stage, "_model", None)
                    if net is not None and not getattr(net, "_dfd_compiled", False):
                        stage._model = _lite_net(net, type(stage).__name__, tf) or _compiled(net, tf)
                _SHARED_MTCNN = mtcnn
    return _SHARED_MTCNN


def runtime() -> str:
    """What runs the process's MTCNN networks: "TensorFlow Lite" or "TensorFlow"."""
    lite = all(getattr(stage._model, "_dfd_lite", None) is not None for stage in compiled_mtcnn().stages)
    return "TensorFlow Lite" if lite else "TensorFlow"
