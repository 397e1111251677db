"""dfd.models: registry, the four detector families, model cards, safe loading.

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
from dfd.models.layers import GROUPED_IMPLS, GroupedConv2D, HighPassResidual

REPO = Path(__file__).resolve().parents[1]
SIZE = 64
FRAMES = 4
MODELS = {"cnn": {}, "cnn_lstm": {}, "resnext": {}, "temporal": {"frames": FRAMES}}
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
        assert card["architecture"] == name, card
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
    for name, kwargs in MODELS.items():
        keras.utils.set_random_seed(0)
        model = build_model(name, SIZE, **kwargs)
        # eager: one step does not pay for tracing a train graph (test_graph_mode_training does)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", run_eagerly=True
        )
        labels = np.array([[0], [1], [0], [1]], "float32")
        loss = model.train_on_batch(_batch(name, 4, seed=1), labels)
        card = base_card(model, name, SIZE, purpose="unit test", note="ünïcode ok")
        path = save_model(model, root / f"{name}.h5", card)
        fixed = _batch(name, 3, seed=2)
        np.save(root / f"{name}_x.npy", fixed)
        runs[name] = {
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
    for name in MODELS:
        runs[name]["reloaded"] = np.load(root / f"{name}_reloaded.npy")
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
    assert model.name == name
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
    assert card["architecture"] == name and card["input_size"] == SIZE
    assert card["params"] == run["model"].count_params()
    assert {"tensorflow", "keras", "numpy", "python"} <= set(card["versions"])
    assert card["git_commit"] and card["created_utc"].endswith("+00:00")
    assert card["config"]["name"] == name
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
    assert set(available_models()) >= {"cnn", "cnn_lstm", "resnext", "temporal"}
    config = model_config("cnn")
    config["dropout"] = 0.99  # a copy: editing it changes nothing
    assert model_config("cnn")["dropout"] != 0.99
    for name in available_models():
        assert isinstance(model_config(name)["input_size"], int)
    with pytest.raises(DfdError, match="unknown option"):
        build_model("cnn", SIZE, dropuot=0.5)
    with pytest.raises(DfdError, match="input_size"):
        build_model("cnn", "128")


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
