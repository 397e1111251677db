"""dfd.models: registry, the five detector families, model cards, safe loading.

The expensive part (build + one train step + save for each detector, then one fresh
interpreter that reloads them all) runs once in a module fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import keras

from dfd.errors import DfdError
from dfd.models import (
    adapt_model,
    available_models,
    base_card,
    build_model,
    image_encoder_from,
    load_model,
    model_config,
    read_card,
    save_model,
)
from dfd.models.card import CARD_ATTR
from dfd.models.layers import (
    GROUPED_IMPLS,
    DctResidualHistogram,
    GroupedConv2D,
    HighPassResidual,
    PatchDictionary,
    ResidualCooccurrence,
    StreamDropout,
)

REPO = Path(__file__).resolve().parents[1]
SIZE = 64
FRAMES = 4
# key -> (registered name, build options); "multistream@dual": trunk + co-occurrence stream only
MODELS = {
    "cnn": ("cnn", {}),
    "multistream@dual": ("multistream", {"global_size": 32, "stats": True, "dictionary": False, "dct": False}),
    # the faces140k recipe's four streams, with a small dictionary to keep the test quick
    "multistream@streams": ("multistream", {"global_size": 32, "stats": True, "dictionary": True,
                                            "dictionary_atoms": 16, "dictionary_grid": 2, "dct": True,
                                            "stream_dropout": 0.5}),
    "cnn_lstm": ("cnn_lstm", {}),
    "resnext": ("resnext", {}),
    "temporal": ("temporal", {"frames": FRAMES}),
}
IMAGE_MODELS = ["cnn", "cnn_lstm", "resnext"]


def _batch(name: str, n: int, seed: int) -> np.ndarray:
    shape = (n, FRAMES, SIZE, SIZE, 3) if name == "temporal" else (n, SIZE, SIZE, 3)
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


RELOAD_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from dfd.models.card import load_model  # the only project import a loader needs

    root = Path(sys.argv[1])
    for name in sys.argv[2:]:
        model, card = load_model(root / f"{name}.h5", require_card=True)
        assert card["architecture"] == name.split("@")[0], card
        if name != "temporal":
            model.get_layer("features")  # Grad-CAM target survives the round trip
        pred = model.predict_on_batch(np.load(root / f"{name}_x.npy"))
        np.save(root / f"{name}_reloaded.npy", np.asarray(pred))
    """
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    runs = {}
    for key, (name, kwargs) in MODELS.items():
        keras.utils.set_random_seed(0)
        model = build_model(name, SIZE, **kwargs)
        adapted = adapt_model(model, _batch(name, 6, seed=5))  # as dfd.training.train does before fitting
        assert adapted == (["dictionary"] if kwargs.get("dictionary") else [])
        # eager: one step does not pay for tracing a train graph (test_graph_mode_training does)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", run_eagerly=True
        )
        labels = np.array([[0], [1], [0], [1]], "float32")
        loss = model.train_on_batch(_batch(name, 4, seed=1), labels)
        card = base_card(model, name, SIZE, purpose="unit test", note="ünïcode ok")
        path = save_model(model, root / f"{key}.h5", card)
        fixed = _batch(name, 3, seed=2)
        np.save(root / f"{key}_x.npy", fixed)
        runs[key] = {
            "model": model,
            "path": path,
            "card": card,
            "loss": float(np.asarray(loss).reshape(-1)[0]),
            "expected": np.asarray(model.predict_on_batch(fixed)),
        }
    # one fresh interpreter reloads every model, so nothing registered in this process helps
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(root), *MODELS],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for key in MODELS:
        runs[key]["reloaded"] = np.load(root / f"{key}_reloaded.npy")
    return runs


# ----------------------------------------------------------------- families and contract


@pytest.mark.parametrize("name", list(MODELS))
def test_one_train_step_gives_finite_loss(saved, name):
    assert np.isfinite(saved[name]["loss"])


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("cnn", {}),
        # one strided block is enough to trace GroupedConv2D's gradient inside tf.function
        ("resnext", {"stages": [
            {"filters": 32, "cardinality": 8, "group_width": 4, "blocks": 1, "stride": 2}
        ]}),
    ],
)
def test_graph_mode_training(name, overrides):
    keras.utils.set_random_seed(0)
    model = build_model(name, 32, **overrides)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    history = model.fit(x, np.array([[0], [1], [0], [1]], "float32"), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize("name", list(MODELS))
def test_model_contract(saved, name):
    model = saved[name]["model"]
    assert model.name == name.split("@")[0]
    expected_input = (None, FRAMES, SIZE, SIZE, 3) if name == "temporal" else (None, SIZE, SIZE, 3)
    assert tuple(model.input_shape) == expected_input
    assert tuple(model.output_shape) == (None, 1)
    pred = saved[name]["expected"]
    assert pred.shape == (3, 1) and np.all((pred >= 0) & (pred <= 1))
    if name != "temporal":
        assert len(model.get_layer("features").output.shape) == 4  # Grad-CAM target
        assert 200_000 <= model.count_params() <= 1_500_000


@pytest.mark.parametrize("name", list(MODELS))
def test_reload_in_fresh_process_gives_identical_predictions(saved, name):
    np.testing.assert_allclose(saved[name]["reloaded"], saved[name]["expected"], atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_card_round_trips(saved, name):
    run = saved[name]
    assert read_card(run["path"]) == run["card"]
    assert json.loads(run["path"].with_suffix(".json").read_text(encoding="utf-8")) == run["card"]
    card = run["card"]
    assert card["architecture"] == name.split("@")[0] and card["input_size"] == SIZE
    assert card["params"] == run["model"].count_params()
    assert {"tensorflow", "keras", "numpy", "python"} <= set(card["versions"])
    assert card["git_commit"] and card["created_utc"].endswith("+00:00")
    assert card["config"]["name"] == name.split("@")[0]
    with h5py.File(run["path"], "r") as fh:
        assert CARD_ATTR in fh.attrs


def test_temporal_reuses_a_trained_image_encoder():
    image = build_model("cnn", SIZE)
    encoder = image_encoder_from(image)
    assert encoder.output_shape == image.get_layer("embedding").output.shape
    video = build_model("temporal", frames=2, encoder=image)  # size comes from the encoder
    assert video.input_shape == (None, 2, SIZE, SIZE, 3)
    per_frame = video.get_layer("per_frame").layer
    conv = image.get_layer("s1_c1_conv").kernel
    assert any(w is conv for w in per_frame.weights)  # shared, not copied


# ------------------------------------------------------------------------------ layers


@pytest.mark.parametrize("impl", GROUPED_IMPLS)
@pytest.mark.parametrize("strides", [1, 2])
def test_grouped_conv_matches_keras_grouped_conv(impl, strides):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 9, 9, 32)).astype("float32"))
    ref = keras.layers.Conv2D(48, 3, groups=8, strides=strides, padding="same")
    mine = GroupedConv2D(48, 3, groups=8, strides=strides, impl=impl)
    ref.build(x.shape)
    mine.build(x.shape)
    mine.set_weights(ref.get_weights())  # identical weight layout
    with tf.GradientTape(persistent=True) as tape:
        y_ref, y_mine = ref(x), mine(x)
        loss_ref, loss_mine = tf.reduce_sum(y_ref**2), tf.reduce_sum(y_mine**2)
    np.testing.assert_allclose(y_mine, y_ref, atol=1e-4)
    np.testing.assert_allclose(
        tape.gradient(loss_mine, mine.kernel), tape.gradient(loss_ref, ref.kernel), rtol=1e-4, atol=1e-3
    )
    clone = GroupedConv2D.from_config(mine.get_config())
    assert clone.get_config() == mine.get_config()


def test_high_pass_residual_ignores_flat_images():
    layer = HighPassResidual()
    flat = np.full((1, 16, 16, 3), 117.0, "float32")
    out = np.asarray(layer(flat))
    assert out.shape == (1, 16, 16, 9)
    np.testing.assert_allclose(out[:, 2:-2, 2:-2], 0.0, atol=1e-4)  # zero-sum kernels
    noisy = flat + np.random.default_rng(0).normal(0, 20, flat.shape).astype("float32")
    assert np.abs(np.asarray(layer(noisy))).max() == pytest.approx(1.0)  # truncated, scaled
    assert not layer.weights  # fixed filters: nothing to train or overwrite
    assert HighPassResidual.from_config(layer.get_config()).get_config() == layer.get_config()


def _cooccurrence_reference(pixels, truncate, step=1.0):
    """ResidualCooccurrence written out with numpy loops, for one image."""
    x = pixels.astype(np.float64)
    m = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    ycc = np.round(np.clip(x @ m.T + [0, 128, 128], 0, 255))
    k = 2 * truncate + 1
    per_order = []
    for order in (1, 2):
        rows = []
        for c in np.concatenate([x, ycc], axis=-1).transpose(2, 0, 1):
            counts = np.zeros(k**3)
            for axis in (0, 1):
                r = np.clip(np.round(np.diff(c, n=order, axis=axis) / step), -truncate, truncate) + truncate
                r = r if axis == 1 else r.T  # triples run along the difference's own axis
                for i in range(r.shape[0]):
                    for j in range(r.shape[1] - 2):
                        counts[int((r[i, j] * k + r[i, j + 1]) * k + r[i, j + 2])] += 1
            rows.append(np.log(counts / counts.sum() + 1e-5))
        per_order.append(np.concatenate(rows))
    return np.concatenate(per_order)


def test_residual_cooccurrence_matches_a_direct_count():
    rng = np.random.default_rng(0)
    # a smooth ramp plus noise: residuals of every size, some beyond the truncation
    base = np.add.outer(np.arange(12.0), np.arange(10.0))[..., None] * [3.0, 1.0, 2.0]
    imgs = np.clip(base + rng.normal(0, 2.5, (2, 12, 10, 3)), 0, 255).astype("float32")
    layer = ResidualCooccurrence(truncate=2)
    out = np.asarray(layer(imgs))
    assert out.shape == (2, 6 * 2 * 125) == layer.compute_output_shape((2, 12, 10, 3))
    for i in range(2):
        np.testing.assert_allclose(out[i], _cooccurrence_reference(imgs[i], truncate=2), atol=1e-4)
    assert not np.allclose(out[0], out[1])
    assert not layer.weights
    assert ResidualCooccurrence.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="colour_spaces"):
        ResidualCooccurrence(colour_spaces=("hsv",))


def test_residual_cooccurrence_train_crop_only_while_training():
    imgs = np.random.default_rng(1).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    layer = ResidualCooccurrence(truncate=1, train_crop=12, seed=3)
    full = np.asarray(layer(imgs))
    np.testing.assert_allclose(np.asarray(layer(imgs, training=False)), full)
    cropped = np.asarray(layer(imgs, training=True))
    assert cropped.shape == full.shape and np.all(np.isfinite(cropped))
    assert not np.allclose(cropped, full)  # counted on a 12 px window, not the whole face


def _dictionary_reference(layer: PatchDictionary, image: np.ndarray) -> np.ndarray:
    """Coates & Ng's encoding written out with numpy loops, from the layer's adapted weights."""
    mean, whitening, centroids, f_mean, f_scale = (np.asarray(w, "float64") for w in (
        layer.patch_mean, layer.whitening, layer.centroids, layer.feature_mean, layer.feature_scale))
    p, grid = layer.patch, layer.grid
    h, w = image.shape[0] - p + 1, image.shape[1] - p + 1
    gh, gw = h // grid, w // grid
    pooled = np.zeros((grid, grid, layer.atoms))
    for i in range(gh * grid):
        for j in range(gw * grid):
            v = image[i:i + p, j:j + p, :].astype("float64").reshape(-1)
            v = (v - v.mean()) / np.sqrt(v.var() + layer.contrast_eps)
            z = (v - mean) @ whitening
            d = np.sqrt(((z - centroids) ** 2).sum(axis=1))
            pooled[i // gh, j // gw] += np.maximum(d.mean() - d, 0.0)
    return (pooled.reshape(-1) - f_mean) / f_scale


def _textures(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Half smooth blobs, half fine stripes, each at a random brightness and contrast."""
    yy, xx = np.mgrid[0:24, 0:24]
    imgs, labels = [], []
    for k in range(n):
        label = k % 2
        if label:
            freq = rng.uniform(1.2, 1.6)
            pattern = np.sin(freq * (xx if rng.random() < 0.5 else yy) + rng.uniform(0, 6.3))
        else:
            cx, cy = rng.uniform(0, 24, 2)
            pattern = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 60.0)
        img = rng.uniform(60, 190) + rng.uniform(20, 60) * pattern[..., None] + rng.normal(0, 3, (24, 24, 3))
        imgs.append(np.clip(img, 0, 255))
        labels.append(label)
    return np.asarray(imgs, "float32"), np.asarray(labels)


def test_patch_dictionary_encodes_as_coates_and_ng():
    rng = np.random.default_rng(0)
    train, _ = _textures(20, rng)
    layer = PatchDictionary(patch=4, atoms=12, grid=2, samples=3000, seed=1)
    np.testing.assert_allclose(np.asarray(layer(train[:2])), 0.0, atol=1e-4)  # not adapted: no opinion
    assert not layer.is_adapted
    layer.adapt(train)
    assert layer.is_adapted
    out = np.asarray(layer(train[:3]))
    assert out.shape == (3, 2 * 2 * 12) == layer.compute_output_shape((3, 24, 24, 3))
    for i in range(3):
        np.testing.assert_allclose(out[i], _dictionary_reference(layer, train[i]), rtol=1e-3, atol=1e-3)
    # standardised on the images it was adapted to
    full = np.asarray(layer(train))
    np.testing.assert_allclose(full.mean(axis=0), 0.0, atol=1e-3)
    same = PatchDictionary(patch=4, atoms=12, grid=2, samples=3000, seed=1).adapt(train)
    np.testing.assert_array_equal(np.asarray(same.centroids), np.asarray(layer.centroids))  # deterministic
    assert PatchDictionary.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="batch of images"):
        layer.adapt(train[0])
    with pytest.raises(ValueError, match="too small"):
        PatchDictionary(patch=6, grid=4)(np.zeros((1, 8, 8, 3), "float32"))


def test_patch_dictionary_codes_separate_textures_it_never_saw_labelled():
    rng = np.random.default_rng(2)
    train, y_train = _textures(40, rng)
    test, y_test = _textures(40, rng)
    layer = PatchDictionary(patch=5, atoms=24, grid=1, samples=5000, seed=0).adapt(train)  # no labels used
    f_train, f_test = np.asarray(layer(train)), np.asarray(layer(test))
    # nearest class mean on the codes: the dictionary alone must tell blobs from stripes
    means = np.stack([f_train[y_train == c].mean(axis=0) for c in (0, 1)])
    pred = np.argmin(((f_test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == y_test).mean() >= 0.9


def _dctr_reference(image: np.ndarray, step: float, truncate: int) -> np.ndarray:
    """DCTR (Holub & Fridrich 2015) written out with numpy loops, for one RGB image."""
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    n = np.arange(8)
    c = np.sqrt(2 / 8) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 16)
    c[0] /= np.sqrt(2)
    rows, cols = (luma.shape[0] - 7) // 8 * 8, (luma.shape[1] - 7) // 8 * 8
    fold = np.minimum(n, 8 - n)
    counts = np.zeros((5, 5, 8, 8, truncate + 1))
    for i in range(rows):
        for j in range(cols):
            coef = c @ luma[i:i + 8, j:j + 8] @ c.T  # 2-D DCT of the window, [k, l]
            q = np.minimum(np.round(np.abs(coef) / step), truncate).astype(int)
            for k in range(8):
                for m in range(8):
                    counts[fold[i % 8], fold[j % 8], k, m, q[k, m]] += 1
    return (counts / counts.sum(axis=-1, keepdims=True)).reshape(-1)


def test_dct_residual_histogram_matches_a_direct_count():
    rng = np.random.default_rng(3)
    imgs = rng.uniform(0, 255, (2, 24, 33, 3)).astype("float32")  # odd width: offsets are cropped to whole cells
    layer = DctResidualHistogram(step=4.0, truncate=3)
    out = np.asarray(layer(imgs))
    assert out.shape == (2, 25 * 64 * 4) == layer.compute_output_shape((2, 24, 33, 3))
    for i in range(2):
        np.testing.assert_allclose(out[i], _dctr_reference(imgs[i], 4.0, 3), atol=1e-5)
    np.testing.assert_allclose(out.reshape(2, 25, 64, 4).sum(-1), 1.0, atol=1e-5)  # one histogram per class and mode
    assert not layer.weights
    assert DctResidualHistogram.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="RGB"):
        layer(np.zeros((1, 24, 24, 1), "float32"))
    with pytest.raises(ValueError, match="too small"):
        DctResidualHistogram()(np.zeros((1, 12, 40, 3), "float32"))
    with pytest.raises(ValueError, match="step"):
        DctResidualHistogram(step=0)


def test_dct_residual_histogram_sees_the_jpeg_grid():
    import cv2

    rng = np.random.default_rng(4)
    texture = np.clip(128 + rng.normal(0, 40, (96, 96, 3)), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", texture, [cv2.IMWRITE_JPEG_QUALITY, 50])
    jpeg = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype("float32")
    layer = DctResidualHistogram()
    # on the grid, quantisation zeroes high-frequency modes; 4 px off the grid it does not
    zeros = np.asarray(layer(np.stack([jpeg[:88, :88], jpeg[4:92, 4:92]]))).reshape(2, 25, 8, 8, 5)[..., 0]
    on_grid, off_grid = zeros[0, 0, 4:, 4:].mean(), zeros[1, 0, 4:, 4:].mean()
    assert on_grid > off_grid + 0.5, (on_grid, off_grid)
    # the noise image itself was never compressed: no phase stands out
    raw = np.asarray(layer(texture[None, :88, :88].astype("float32"))).reshape(25, 8, 8, 5)[..., 0]
    assert abs(raw[0, 4:, 4:].mean() - raw[24, 4:, 4:].mean()) < 0.05


def test_stream_dropout_zeroes_a_share_of_logits_in_training_only():
    logits = np.full((4000, 1), 2.5, "float32")
    layer = StreamDropout(0.5, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(logits)), logits)  # inference: identity
    out = np.asarray(layer(logits, training=True))
    assert set(np.unique(out)) == {0.0, 2.5}  # dropped or kept as is, never rescaled
    assert 0.45 < (out == 0).mean() < 0.55
    with pytest.raises(ValueError):
        StreamDropout(1.0)


# ------------------------------------------------------------------- safety and errors


def _lambda_model(nested: bool) -> keras.Model:
    inp = keras.Input((8, 8, 3))
    if nested:
        sub_in = keras.Input((8, 8, 3))
        sub = keras.Model(sub_in, keras.layers.Lambda(lambda t: t * 2.0, name="sneaky")(sub_in))
        x = keras.layers.TimeDistributed(sub)(keras.layers.Reshape((1, 8, 8, 3))(inp))
        x = keras.layers.Reshape((8, 8, 3))(x)
    else:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="sneaky")(inp)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


@pytest.mark.parametrize("nested", [False, True])
def test_load_model_refuses_lambda_layers(tmp_path, nested):
    path = tmp_path / "lambda.h5"
    _lambda_model(nested).save(path)
    with pytest.raises(DfdError, match=r"refusing to load .*Lambda.*'sneaky' \(Lambda\)"):
        load_model(path)


def test_unknown_model_lists_available_names():
    with pytest.raises(DfdError) as err:
        build_model("nope")
    message = str(err.value)
    assert "nope" in message
    for name in available_models():
        assert name in message


def test_registry_basics():
    assert set(available_models()) >= {"cnn", "multistream", "cnn_lstm", "resnext", "temporal"}
    config = model_config("cnn")
    config["dropout"] = 0.99  # a copy: editing it changes nothing
    assert model_config("cnn")["dropout"] != 0.99
    for name in available_models():
        assert isinstance(model_config(name)["input_size"], int)
    with pytest.raises(DfdError, match="unknown option"):
        build_model("cnn", SIZE, dropuot=0.5)
    with pytest.raises(DfdError, match="input_size"):
        build_model("cnn", "128")


def test_plain_cnn_has_no_streams_and_multistream_needs_one():
    plain = build_model("cnn", SIZE)
    assert "trunk_logit" not in {layer.name for layer in plain.layers}
    with pytest.raises(DfdError, match="unknown option"):
        build_model("cnn", SIZE, stats=True)  # the streams belong to the multistream model
    with pytest.raises(DfdError, match="at least one of the streams"):
        build_model("multistream", SIZE, stats=False, dictionary=False, dct=False)
    streams = build_model("multistream", SIZE, dictionary_atoms=8, dictionary_grid=2)
    names = {layer.name for layer in streams.layers}
    assert {"trunk_logit", "stats_logit", "dictionary_logit", "dct_logit", "features", "embedding"} <= names
    card = base_card(streams, "multistream", SIZE)
    assert card["architecture"] == card["family"] == card["config"]["model"] == "multistream"
    assert base_card(plain, "cnn", SIZE)["family"] == "cnn"


def test_load_and_save_errors_are_clear(tmp_path):
    with pytest.raises(DfdError, match="not found"):
        load_model(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"definitely not hdf5")
    with pytest.raises(DfdError, match="not a readable HDF5"):
        read_card(junk)
    with pytest.raises(DfdError, match="not plain JSON"):
        tiny = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        save_model(tiny, tmp_path / "m.h5", {"x": object()})
    assert not list(tmp_path.glob("m*"))  # nothing half-written
