"""The face stage: detection (:mod:`~dfd.faces.detection`), alignment
(:mod:`~dfd.faces.alignment`), a video's frames searched from keyframes
(:mod:`~dfd.faces.keyframes`), tracking over video frames (:mod:`~dfd.faces.tracking`) and
cached crops of files (:mod:`~dfd.faces.crops`); :mod:`~dfd.faces.types` holds :class:`Face`."""

from dfd.faces.alignment import (
    TEMPLATE_UNIT,
    align_face,
    align_roi,
    alignment_matrix,
    choose_main_face,
    template_points,
    transform_points,
)
from dfd.faces.crops import CropRecord, FaceCropper, centre_square
from dfd.faces.detection import (
    DATA_PREP,
    DEFAULT_DATASET,
    INFERENCE,
    VIDEO,
    VIDEO_SOURCES,
    DetectorSettings,
    FaceDetector,
    faces_from_mtcnn,
)
from dfd.faces.tracking import (
    Detection,
    Track,
    Tracks,
    box_iou,
    detect_frames,
    track_faces,
)
from dfd.faces.types import LANDMARK_NAMES, Face

__all__ = [
    "DATA_PREP", "DEFAULT_DATASET", "INFERENCE", "LANDMARK_NAMES", "TEMPLATE_UNIT", "VIDEO", "VIDEO_SOURCES",
    "CropRecord", "Detection", "DetectorSettings", "Face", "FaceCropper", "FaceDetector", "Track", "Tracks",
    "align_face", "align_roi", "alignment_matrix", "box_iou", "centre_square", "choose_main_face",
    "detect_frames", "faces_from_mtcnn", "template_points", "track_faces", "transform_points",
]
