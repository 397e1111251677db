"""Generators of awkward and hostile input files, shared by the data-layer and inference tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def _face(face_photo: Path, max_side: int = 400) -> Image.Image:
    img = Image.open(face_photo).convert("RGB")
    img.thumbnail((max_side, max_side))
    return img


def make_image_corpus(folder: Path, face_photo: Path, multi_face_photo: Path, no_face_photo: Path) -> dict[str, tuple[Path, str]]:
    """Write the image cases of the data-layer issue; returns name -> (path, expected status)
    where status is "ok", "no_face" or "error"."""
    folder.mkdir(parents=True, exist_ok=True)
    face = _face(face_photo)
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, status: str) -> Path:
        p = folder / name
        cases[name] = (p, status)
        return p

    put("empty.jpg", "error").write_bytes(b"")
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=90)
    put("truncated.jpg", "error").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    put("text_named.jpg", "error").write_text("this is not an image\n" * 20)
    Image.new("RGB", (1, 1), (128, 90, 70)).save(put("one_pixel.png", "error"))
    face.convert("L").save(put("grayscale.jpg", "ok"), quality=92)
    rgba = face.convert("RGBA")
    alpha = np.full((face.height, face.width), 255, np.uint8)
    alpha[:, : face.width // 10] = 0  # a transparent strip on the left
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(put("rgba.png", "ok"))
    face.convert("CMYK").save(put("cmyk.jpg", "ok"), quality=92)
    # stored sideways, with EXIF orientation 6 ("rotate 90° clockwise to display")
    sideways = face.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(put("exif_rotated.jpg", "ok"), quality=92, exif=exif.tobytes())
    gray16 = (np.asarray(face.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(put("sixteen_bit.png", "ok"))
    _face(no_face_photo).save(put("no_face.jpg", "no_face"), quality=90)
    _face(multi_face_photo, 900).save(put("several_faces.jpg", "ok"), quality=92)
    face.save(put("visage_été_顔.jpg", "ok"), quality=92)
    return cases


# --------------------------------------------------------------------------------------
# Inference tests: a tiny real model bundle and a corpus of hostile files
# --------------------------------------------------------------------------------------

TINY_MEMBERS = {
    # name -> build_model overrides: the real architectures, shrunk to train in seconds
    "cnn": {"widths": [8, 16], "convs_per_stage": [1, 1]},
    "cnn_lstm": {"widths": [8, 16], "convs_per_stage": [1, 1], "seq_channels": 8, "lstm_units": 8},
    "resnext": {
        "stem_width": 8,
        "stages": [{"filters": 16, "cardinality": 4, "group_width": 2, "blocks": 1, "stride": 2}],
    },
}
TINY_FACE_STAGE = {"mode": "detect", "margin": 0.3, "crop_size": 128, "template": "arcface-5pt"}

_TINY_BUNDLES: dict[tuple, Path] = {}


def make_tiny_bundle(folder: Path, input_size: int = 64, members=("cnn", "cnn_lstm", "resnext"),
                     face_stage: dict | None = None, seed: int = 0, ood_crops=None) -> Path:
    """Build and save tiny real (untrained) detectors with model cards, then fit
    an ensemble + calibration on random validation predictions and save ``bundle.json``.
    ``ood_crops`` (train, valid uint8 face crops): also fit each member's OOD scorer on
    its features of them. Cached per process (same arguments → the same folder), so every
    test module can ask for it cheaply."""
    import hashlib

    crops_id = None if ood_crops is None else hashlib.sha256(b"".join(np.ascontiguousarray(c).tobytes()
                                                                        for c in ood_crops)).hexdigest()
    key = (input_size, tuple(members), repr(face_stage), seed, crops_id)
    if key in _TINY_BUNDLES and (_TINY_BUNDLES[key] / "bundle.json").exists():
        return _TINY_BUNDLES[key]
    import keras

    from dfd.evaluation.bundle import SAVED_OOD_COMBINE, EnsembleBundle, MemberEntry
    from dfd.evaluation.ensembles import choose_best, fit_ensembles, fit_subset_ensembles
    from dfd.evaluation.operating_point import choose_operating_point
    from dfd.models import base_card, build_model, save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    entries, ood, valid_features = [], {}, {}
    for name in members:
        # untrained: training even two steps costs ~10 s of graph tracing per model on the
        # dev CPU, and nothing here needs a good detector, only real files of the real kind
        model = build_model(name, input_size=input_size, **TINY_MEMBERS[name])
        card = base_card(model, name, input_size, dataset="tiny-test",
                         face_stage=dict(face_stage or TINY_FACE_STAGE))
        save_model(model, folder / f"{name}.h5", card)
        entries.append(MemberEntry.from_file(folder, name, f"{name}.h5", input_size))
        if ood_crops is not None:
            from dfd.evaluation.ood import OodScorer, member_features

            train, valid = (_resized(c, input_size) for c in ood_crops)
            valid_features[name] = member_features(model, valid)[1]
            ood[name] = OodScorer().fit(member_features(model, train)[1], valid_features[name])
    worst_ratio = None
    if ood:
        from dfd.evaluation.ood import distance_ratios, fit_worst_ratio

        worst_ratio = fit_worst_ratio(distance_ratios(ood, valid_features))  # as the study saves it
    n = 200
    y_valid = (np.arange(n) % 2).astype(int)
    P = np.clip(0.5 + (y_valid[:, None] - 0.5) * 0.5 + rng.normal(0, 0.25, (n, len(members))), 0.01, 0.99)
    fitted = fit_ensembles(P, y_valid, np.arange(n), list(members))
    best, _ = choose_best(fitted, P, y_valid)
    ens, cal = fitted[best]
    op = choose_operating_point(y_valid, cal.transform(ens.predict(P)))
    bundle = EnsembleBundle(
        members=entries, ensemble=ens, calibrator=cal,
        member_calibrators={m: fitted[m][1] for m in members},
        threshold=op.threshold, uncertain_band=op.band, dataset="tiny-test", ensemble_name=best, ood=ood,
        ood_worst_ratio=worst_ratio, ood_combine=SAVED_OOD_COMBINE,
        subset_ensembles=fit_subset_ensembles(P, y_valid, np.arange(n), list(members)),  # as the study saves it
    )
    bundle.save(folder)
    _TINY_BUNDLES[key] = folder
    return folder


def _resized(crops, size: int) -> np.ndarray:
    import cv2

    return np.stack([c if c.shape[0] == size else cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
                     for c in crops])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0, fourcc: str = "MJPG") -> Path:
    import cv2

    h, w = frames[0].shape[:2] if frames else (48, 64)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def make_hostile_corpus(folder: Path, face_photo: Path, no_face_photo: Path | None = None,
                        face_video: Path | None = None) -> dict[str, tuple[Path, str, str | None]]:
    """Write awkward and hostile inputs for the inference engine.

    Returns name -> (path, expected, reason) where ``expected`` is ``"ok"`` (a real verdict:
    real / fake / uncertain), ``"no_face"``, ``"error"``, or alternatives joined by ``|``;
    ``reason`` is a lower-case fragment the error message must contain (or None).
    Assumes a Detector whose ``Limits.max_frame_pixels`` is below 1280x720 and whose
    ``max_bytes`` is below 3 GiB. The ``unreadable`` case is only unreadable when the tests
    do not run as root (check ``os.access``)."""
    import os
    import shutil
    import struct

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    face = _face(face_photo, 480)
    cases: dict[str, tuple[Path, str, str | None]] = {}

    def put(name: str, expected: str, reason: str | None = None) -> Path:
        cases[name] = (folder / name, expected, reason)
        return folder / name

    def jpeg_bytes(img: Image.Image, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=kw.pop("quality", 92), **kw)
        return buf.getvalue()

    def png_bytes(img: Image.Image) -> bytes:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return buf.getvalue()

    jpg, png = jpeg_bytes(face), png_bytes(face)
    # --- plainly broken files
    put("zero_bytes.jpg", "error", "empty").write_bytes(b"")
    put("truncated.jpg", "error", "truncated").write_bytes(jpg[: len(jpg) // 2])
    put("truncated.png", "error", None).write_bytes(png[: len(png) // 2])
    put("html_named.png", "error", "not an image").write_text(
        "<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'></body></html>\n" * 20)
    put("text_named.mp4", "error", "not a video").write_text("this is not a video\n" * 50)
    put("hls_playlist.mp4", "error", "not a video").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/segment.ts\n#EXT-X-ENDLIST\n")
    Image.new("RGB", (1, 1), (128, 90, 70)).save(put("one_pixel.png", "error", "too small"))
    # a PNG whose header claims 30000x30000 px, with a little (valid) compressed data
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 90001)) + _png_chunk(b"IEND", b""))
    put("bomb_30000x30000.png", "error", "megapixel").write_bytes(bomb)
    with open(put("huge_sparse.jpg", "error", "too large"), "wb") as fh:
        fh.truncate(3 * 1024**3)  # 3 GiB of nothing: no disk used, over any sane limit
    # --- valid images in awkward encodings: all must be analysed
    put("png_named.jpg", "ok").write_bytes(png)
    put("garbage_appended.jpg", "ok").write_bytes(jpg + os.urandom(4096))
    face.save(put("bitmap.bmp", "ok"))
    face.save(put("web.webp", "ok"), quality=90)
    face.save(put("scan.tiff", "ok"))
    face.convert("CMYK").save(put("cmyk.jpg", "ok"), quality=92)
    face.convert("L").save(put("grayscale.jpg", "ok"), quality=92)
    rgba = face.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(put("alpha.png", "ok"))
    gray16 = (np.asarray(face.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(put("sixteen_bit.png", "ok"))
    sideways = face.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": upright only if EXIF is applied
    sideways.save(put("exif_rotated.jpg", "ok"), quality=92, exif=exif.tobytes())
    noise = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (face.height, face.width, 3), dtype=np.uint8))
             for i in range(3)]
    face.save(put("animated.gif", "ok"), save_all=True, append_images=noise, duration=100, loop=0)
    put("jpeg_named.mp4", "ok").write_bytes(jpg)  # content wins over the extension
    (folder / os.fsdecode(b"caf\xe9_\xff.jpg")).write_bytes(jpg)  # not UTF-8: bytes name
    cases["non_utf8_name"] = (folder / os.fsdecode(b"caf\xe9_\xff.jpg"), "ok", None)
    strip = np.full((16, 4000, 3), 128, np.uint8)
    Image.fromarray(strip).save(put("panorama_strip.png", "no_face"))
    if no_face_photo is not None:
        _face(no_face_photo, 640).save(put("landscape.jpg", "no_face"), quality=90)
    # --- videos
    if face_video is not None:
        data = Path(face_video).read_bytes()
        shutil.copyfile(face_video, put("clip.mp4", "ok"))
        put("mp4_named.avi", "ok").write_bytes(data)
        put("truncated.mp4", "error", None).write_bytes(data[: len(data) // 2])
    big = [np.full((720, 1280, 3), v, np.uint8) for v in (40, 90)]
    _write_video(put("big_frames.avi", "error", "limit"), big)
    _write_video(put("zero_frames.avi", "error", None), [], fourcc="MJPG")
    small = _write_video(folder / "_tmp_small.avi", [np.full((48, 64, 3), v, np.uint8) for v in (30, 90, 150)])
    raw = bytearray(small.read_bytes())
    small.unlink()
    avih = raw.find(b"avih") + 8 + 8 * 4  # dwWidth, dwHeight of the main AVI header
    raw[avih : avih + 8] = struct.pack("<II", 30000, 30000)
    strf = raw.find(b"strf") + 12  # biWidth, biHeight of the stream format
    raw[strf : strf + 8] = struct.pack("<ii", 30000, 30000)
    put("header_claims_30000px.avi", "no_face|error").write_bytes(bytes(raw))
    # --- things that are not regular files, or not there
    loop_a, loop_b = put("symlink_loop.jpg", "error", "cannot access"), folder / "symlink_loop_b.jpg"
    os.symlink(loop_b.name, loop_a)
    os.symlink(loop_a.name, loop_b)
    cases["symlink_loop_b.jpg"] = (loop_b, "error", "cannot access")
    os.symlink("no_such_target.jpg", put("dangling_link.jpg", "error", "not found"))
    put("dir_named.jpg", "error", "folder").mkdir()
    os.mkfifo(put("fifo.jpg", "error", "not a regular file"))
    unreadable = put("unreadable.jpg", "error", "permission")
    unreadable.write_bytes(jpg)
    unreadable.chmod(0)
    cases["does_not_exist.jpg"] = (folder / "does_not_exist.jpg", "error", "not found")
    (folder / "empty_folder").mkdir()
    (folder / "notes.txt").write_text("not media: skipped by folder scans\n")
    return cases
