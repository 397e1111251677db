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
defined once in the ArcFace 112x112 template frame (the frame :mod:`dfd.faces.alignment` aligns
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

Modules: :mod:`~dfd.data.synth.parameters` (the sampled random choices),
:mod:`~dfd.data.synth.geometry` (landmark frame, face outline and mask),
:mod:`~dfd.data.synth.blending` (filters, colour transfer, feathered and Poisson blending),
:mod:`~dfd.data.synth.self_blend` and :mod:`~dfd.data.synth.face_swap` (the two families), and
:mod:`~dfd.data.synth.upsampling` (whole-image pseudo-fakes: generator-like up-sampling traces, used
by the training pipeline's fresh fakes, :mod:`dfd.training.synthesis`).
"""

from dfd.data.synth.face_swap import face_swap
from dfd.data.synth.geometry import CROP_IOD, estimate_yaw, face_mask, similarity_transform
from dfd.data.synth.parameters import jitter_params, sample_params
from dfd.data.synth.self_blend import self_blend
from dfd.data.synth.upsampling import upsampling_trace

__all__ = [
    "CROP_IOD",
    "face_mask",
    "self_blend",
    "face_swap",
    "upsampling_trace",
    "sample_params",
    "jitter_params",
    "similarity_transform",
    "estimate_yaw",
]
