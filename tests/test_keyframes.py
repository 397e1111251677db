"""The engine's video face search: keyframes searched whole, the frames between them near the
faces found there (dfd.faces.keyframes), against searching every frame whole."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfd.faces import INFERENCE, FaceDetector, detect_frames
from dfd.faces.keyframes import detect_sequence, face_regions, keyframe_positions
from dfd.faces.types import Face
from dfd.io.images import load_image

H, W = 720, 1280


@pytest.fixture(scope="module")
def photo(feat_data):
    return load_image(feat_data / "single_face.jpg")


def _frame(photo, x: float | None, y: float = 200.0, size: int = 300) -> np.ndarray:
    """A grey-textured 720p frame with the face photo (``size`` px square) at (x, y), or none."""
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(60, 200, (H, W, 3), dtype=np.uint8), (0, 0), 8)
    if x is not None:
        face = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        frame[int(y):int(y) + size, int(x):int(x) + size] = face
    return frame


def _iod(face: Face) -> float:
    return float(np.linalg.norm(face.landmarks[0] - face.landmarks[1]))


class _Counting(FaceDetector):
    """The real detector, recording the size of every image it searches whole or in regions."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.whole, self.regions = [], []

    def with_settings(self, **changes):
        twin = type(self)(self.config, **changes)
        twin.whole, twin.regions = self.whole, self.regions  # one record for both
        return twin

    def detect_batch(self, images, batch_size=32):
        self.whole.extend(im.shape[:2] for im in images)
        return super().detect_batch(images, batch_size)

    def detect_in_regions(self, images, regions, batch_size=32):
        self.regions.extend(len(r) for r in regions)
        return super().detect_in_regions(images, regions, batch_size)


def test_keyframe_positions_and_regions():
    assert keyframe_positions(32, 4) == [0, 4, 8, 12, 16, 20, 24, 28, 31]
    assert keyframe_positions(9, 4) == [0, 4, 8] and keyframe_positions(1, 4) == [0] and keyframe_positions(0, 4) == []
    lm = np.zeros((5, 2))
    a, b = Face((100, 100, 40, 40), 0.99, lm), Face((130, 110, 40, 40), 0.99, lm)  # overlap once grown
    far = Face((600, 300, 20, 30), 0.99, lm)
    small = Face((140, 110, 20, 16), 0.99, lm)  # inside the merged region: the smallest face it is for
    regions = face_regions([a, b, far, small], (480, 640))
    assert len(regions) == 2
    merged = [r for r in regions if r.x0 < 300][0]
    assert merged[:4] == pytest.approx((80, 80, 190, 170))  # each box grown by half its side, then their union
    assert merged.face == 20  # the smallest face's longer side: what a search of the region looks for
    alone = [r for r in regions if r.x0 >= 300][0]
    assert alone == pytest.approx((585, 285, 635, 345, 30))
    edge = face_regions([Face((-10, 460, 40, 40), 0.99, lm)], (480, 640))  # clipped to the frame
    assert edge == [pytest.approx((0, 440, 50, 480, 40))]


def test_engine_keyframes_meet_every_face_that_may_decide():
    """The engine's spacing: a face seen in the consecutive frames a deciding track needs
    (MIN_TRACK_SHARE of them) always meets a keyframe, i.e. is searched whole at least once."""
    import math

    from dfd.inference.deciding import MIN_TRACK_SHARE
    from dfd.inference.video import MAX_KEYFRAME_EVERY, keyframe_spacing

    assert keyframe_spacing(32) == 8 and keyframe_positions(32, keyframe_spacing(32)) == [0, 8, 16, 24, 31]
    assert keyframe_spacing(1) == keyframe_spacing(3) == 1 and keyframe_spacing(16) == 4
    for n in range(1, 201):
        k = keyframe_spacing(n)
        assert 1 <= k <= MAX_KEYFRAME_EVERY
        keys = set(keyframe_positions(n, k))
        run = max(1, math.ceil(n * MIN_TRACK_SHARE - 1e-9))  # fewest frames of a track that may decide
        for start in range(0, n - run + 1):
            assert keys & set(range(start, start + run)), (n, k, start)


def test_keyframe_search_finds_the_faces_a_whole_search_finds_with_fewer_pixels(photo):
    xs = [100 + 40 * i for i in range(10)]  # a face crossing the frame, 40 px per sampled frame
    frames = [_frame(photo, x) for x in xs]
    det = _Counting(INFERENCE, retry_rotated=False)
    whole = det.detect_batch(frames)
    det.whole.clear()
    found = detect_frames(det, frames, keyframe_every=4)
    assert [len(f) for f in whole] == [len(f) for f in found] == [1] * 10
    for a, b in zip(whole, found):
        # as close as a whole search of the same frame moved by 2 px (MTCNN's own jitter, ~3-7% of the
        # inter-ocular distance on the bench clip): the same face, not a nearby guess
        assert np.abs(a[0].landmarks - b[0].landmarks).max() < 0.12 * _iod(a[0])
    assert det.whole == [(H, W)] * 4  # keyframes 0, 4, 8 and 9 only
    assert det.regions == [1] * 6  # the others in one region each (the face of the keyframes either side)
    det.whole.clear()
    assert all(len(a) == len(b) and a[0].box == b[0].box
               for a, b in zip(detect_frames(det, frames, keyframe_every=1), whole))
    assert det.whole == [(H, W)] * 10


def test_a_region_is_searched_for_faces_near_the_size_it_was_made_for(photo):
    """A region's search skips the pyramid levels for faces under half the size of the face it
    was made for (MTCNN's finest, costliest levels) and still finds that face where a search
    down to MTCNN's 12 px window does; mtcnn 1.0's own pyramid would lose every face there
    (levels under PNet's window), dfd's drops those levels."""
    import dfd.faces.detection as detection

    frame = _frame(photo, 300)
    det = FaceDetector(INFERENCE, retry_rotated=False)
    (face,) = det.detect(frame)
    x, y, bw, bh = face.box
    box = (x - bw / 2, y - bh / 2, x + 1.5 * bw, y + 1.5 * bh)
    sized = det.detect_in_regions([frame], [[(*box, max(bw, bh))]])[0]
    plain = det.detect_in_regions([frame], [[box]])[0]
    assert len(sized) == len(plain) == 1
    assert np.abs(sized[0].landmarks - plain[0].landmarks).max() < 0.12 * _iod(plain[0])
    calls = []
    real = det.networks.detect_faces

    def spy(image, **kw):
        calls.append(kw["min_face_size"])
        return real(image, **kw)

    det.networks.detect_faces = spy
    try:
        det.detect_in_regions([frame], [[(*box, max(bw, bh))]])
    finally:
        det.networks.detect_faces = real
    assert calls and calls[0] > detection.MTCNN_WINDOW  # the fine levels were not searched
    assert len(det.networks.detect_faces(photo, min_face_size=3 * detection.MTCNN_WINDOW)) >= 1


def test_a_face_between_keyframes_without_faces_is_found(photo):
    frames = [_frame(photo, None), _frame(photo, 400), _frame(photo, 420), _frame(photo, None), _frame(photo, None)]
    det = _Counting(INFERENCE, retry_rotated=False)
    found = detect_sequence(det, frames, keyframe_every=4)
    assert [len(f) for f in found] == [0, 1, 1, 0, 0]
    assert det.regions == []  # no face on either keyframe: nothing to search near, so frames 1-3 searched whole


def test_a_face_that_left_its_region_is_searched_whole(photo):
    # keyframes 0 and 4 see the face on the left; frame 2 has it far to the right
    frames = [_frame(photo, 50), _frame(photo, 60), _frame(photo, 900), _frame(photo, 70), _frame(photo, 80)]
    det = _Counting(INFERENCE, retry_rotated=False)
    found = detect_sequence(det, frames, keyframe_every=4)
    assert [len(f) for f in found] == [1] * 5
    assert found[2][0].box[0] > 800  # found where it is, not where it was
    assert det.whole.count((H, W)) >= 3  # keyframes 0, 4, then frame 2 whole after its region held none
    with pytest.raises(ValueError, match="one list of regions per image"):
        det.detect_in_regions(frames[:2], [[(0, 0, 10, 10)]])
