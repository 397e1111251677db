"""Hostile and broken inputs: every file gets a verdict or a clear error, nothing crashes,
hangs or touches the network; tampered or unsafe model files are refused."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
from pathlib import Path

import pytest

from dfd import cli
from dfd.errors import DfdError
from dfd.inference import Detector, Limits, display_path, iter_media, scan_paths
from tests.corpus import make_hostile_corpus, make_tiny_bundle

GOOD = ("real", "fake", "uncertain")


@contextlib.contextmanager
def deadline(seconds: int, what: str):
    """Fail (instead of hanging the suite) if the block runs longer than ``seconds``."""

    def boom(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, feat_data):
    folder = tmp_path_factory.mktemp("hostile") / "corpus"
    cases = make_hostile_corpus(folder, feat_data / "single_face.jpg", feat_data / "free-mountain-vector-01.jpg",
                                feat_data / "single_face.mp4")
    yield folder, cases
    unreadable = folder / "unreadable.jpg"
    if unreadable.exists():
        unreadable.chmod(0o644)  # let pytest clean up


@pytest.fixture(scope="module")
def detector(bundle_dir):
    # frames over 640x480 are refused, so big_frames.avi (1280x720) trips the limit
    return Detector.from_dir(bundle_dir, limits=Limits(max_frame_pixels=640 * 480, time_budget_s=60))


def _category(verdict: str) -> str:
    return "ok" if verdict in GOOD else verdict


def test_corpus_is_big_enough(corpus):
    _, cases = corpus
    assert len(cases) >= 25


def test_every_file_gets_a_verdict_or_a_clear_error(detector, corpus):
    _, cases = corpus
    for name, (path, expected, reason) in cases.items():
        with deadline(60, name):
            res = detector.analyze(path, frames=4)
        if name == "unreadable.jpg" and os.access(path, os.R_OK):
            continue  # running as root: chmod 000 does not stop us (the FIFO case covers "not a regular file")
        assert _category(res.verdict) in expected.split("|"), f"{name}: {res.verdict} ({res.error})"
        if res.verdict == "error":
            assert res.error and len(res.error) < 300 and "\n" not in res.error, name
            assert "Traceback" not in res.error and "internal error" not in res.error, f"{name}: {res.error}"
            if reason:
                assert reason in res.error.lower(), f"{name}: {res.error!r} should mention {reason!r}"
            assert res.p_fake is None and res.faces == []
        else:
            assert res.error is None, name
        if res.verdict in GOOD:
            assert 0.0 <= res.p_fake <= 1.0 and res.faces, name
        json.dumps(res.to_dict())  # reportable, whatever the file was


def test_awkward_images_decode_upright(detector, corpus):
    folder, _ = corpus
    ref = detector.analyze(folder / "png_named.jpg")
    rotated = detector.analyze(folder / "exif_rotated.jpg")  # only found upright if EXIF is applied
    assert rotated.image_size == ref.image_size and len(rotated.faces) == 1
    gif = detector.analyze(folder / "animated.gif")  # first frame: the face, not the noise
    assert gif.verdict in GOOD and len(gif.faces) == 1
    odd = detector.analyze(folder / os.fsdecode(b"caf\xe9_\xff.jpg"))
    assert odd.verdict in GOOD
    assert "\\xe9" in display_path(odd.path) and json.loads(json.dumps(odd.to_dict()))["path"].endswith("\\xff.jpg")


def test_folder_scan_still_reports_every_good_file(detector, corpus):
    folder, cases = corpus
    listed = iter_media([folder])
    names = {p.name for p in listed}
    assert "notes.txt" not in names and "empty_folder" not in names and "dir_named.jpg" not in names
    assert iter_media([folder / "empty_folder"]) == []
    with deadline(240, "folder scan"):
        results = {Path(r.path).name: r for r in detector.analyze_many([folder], frames=4)}
    assert set(results) == names
    for name, (path, expected, _) in cases.items():
        if path.name not in results or name == "unreadable.jpg":
            continue
        if expected in ("ok", "no_face"):
            assert _category(results[path.name].verdict) == expected, f"{name}: {results[path.name].error}"
    good = [r for r in results.values() if r.verdict in GOOD]
    assert len(good) >= 15


def test_scan_works_with_the_network_blocked(monkeypatch, capsys, bundle_dir, corpus, feat_data):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted during a scan")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    folder, _ = corpus
    with deadline(300, "scan without network"):
        code = cli.main(["scan", str(folder), str(feat_data / "single_face.mp4"), "--models", str(bundle_dir),
                         "--frames", "4", "--no-progress"])
    out = capsys.readouterr().out
    records = [json.loads(line) for line in out.splitlines()]
    rows = [r for r in records if r["verdict"] != "skipped"]
    found = scan_paths([folder], max_bytes=Limits().max_bytes)  # the CLI skips files over the default limit
    assert len(rows) == len(found.files) + 1
    assert rows[-1]["kind"] == "video" and rows[-1]["verdict"] in GOOD
    assert sum(r["verdict"] in GOOD for r in rows) >= 15
    skipped = {Path(r["path"]).name: r["reason"] for r in records[len(rows):]}  # after the analysed files
    assert skipped == {s.path.name: s.reason for s in found.skipped}
    assert skipped["huge_sparse.jpg"] == "too large" and skipped["notes.txt"] == "unsupported type"
    assert code in (1, 3)
    assert attempts == []


def test_folder_scan_names_every_file_it_leaves_out(corpus):
    folder, _ = corpus
    found = scan_paths([folder], max_bytes=Limits().max_bytes)
    entries = {p.name for p in folder.iterdir() if not (p.is_dir() and not p.is_symlink())}
    assert {p.name for p in found.files} | {s.path.name for s in found.skipped} == entries
    assert not {p.name for p in found.files} & {s.path.name for s in found.skipped}
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert reasons["notes.txt"] == "unsupported type" and reasons["huge_sparse.jpg"] == "too large"
    assert reasons["fifo.jpg"] == "not a regular file"
    for name in ("symlink_loop.jpg", "symlink_loop_b.jpg", "dangling_link.jpg"):
        assert reasons[name] == "unreadable", name
    if not os.access(folder / "unreadable.jpg", os.R_OK):  # not when running as root
        assert reasons["unreadable.jpg"] == "unreadable"
    assert "huge_sparse.jpg" in {p.name for p in scan_paths([folder]).files}  # no size limit asked


# --------------------------------------------------------------------------- model files
def _copy(bundle_dir: Path, dst: Path) -> Path:
    shutil.copytree(bundle_dir, dst)
    return dst


def test_tampered_model_file_is_refused(bundle_dir, tmp_path):
    folder = _copy(bundle_dir, tmp_path / "m")
    data = bytearray((folder / "resnext.h5").read_bytes())
    mid = len(data) // 2
    data[mid : mid + 8] = bytes(b ^ 0xFF for b in data[mid : mid + 8])
    (folder / "resnext.h5").write_bytes(bytes(data))
    with pytest.raises(DfdError, match=r"resnext\.h5 does not match the bundle manifest \(SHA-256 mismatch\)"):
        Detector.from_dir(folder)


def test_missing_member_and_path_escape_are_refused(bundle_dir, tmp_path):
    folder = _copy(bundle_dir, tmp_path / "m")
    (folder / "cnn.h5").unlink()
    with pytest.raises(DfdError, match="missing"):
        Detector.from_dir(folder)
    folder = _copy(bundle_dir, tmp_path / "n")
    data = json.loads((folder / "bundle.json").read_text())
    data["members"][0]["file"] = "../outside.h5"
    (folder / "bundle.json").write_text(json.dumps(data))
    with pytest.raises(DfdError, match="outside the models folder"):
        Detector.from_dir(folder)
    (folder / "bundle.json").write_text("{not json")
    with pytest.raises(DfdError, match="not valid JSON"):
        Detector.from_dir(folder)


def test_lambda_layer_is_refused_even_when_its_hash_is_in_the_manifest(bundle_dir, tmp_path):
    import keras

    from dfd.evaluation.bundle import EnsembleBundle, MemberEntry
    from dfd.models import save_model

    folder = _copy(bundle_dir, tmp_path / "m")
    inputs = keras.Input((64, 64, 3), name="pixels")
    x = keras.layers.Lambda(lambda t: t / 255.0, name="sneaky")(inputs)  # carries bytecode
    x = keras.layers.Conv2D(4, 3, name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="p_fake")(x)
    save_model(keras.Model(inputs, out, name="cnn"), folder / "cnn.h5",
               {"architecture": "cnn", "input_size": 64})
    bundle = EnsembleBundle.load(folder, verify=False)
    bundle.members[0] = MemberEntry.from_file(folder, "cnn", "cnn.h5", 64)  # hash now matches
    bundle.save(folder)
    with pytest.raises(DfdError, match="Lambda") as err:
        Detector.from_dir(folder)
    assert "sneaky" in str(err.value)
