"""dfd.models.readouts: the exact (L-BFGS) fit of a multistream model's linear readouts, and the
multistream family's training hooks that use it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.special import expit

import keras

from dfd.models import adapt_model, build_model, load_model, save_model, base_card
from dfd.models.readouts import (LINEAR_STREAMS, fit_linear_readouts, linear_streams, predict_streams, solve_readouts,
                                 stream_logits, trunk_classifier, weigh_trunk)
from dfd.training.multistream import stream_roc_auc

SIZE = 64
STREAMS = {"global_size": 32, "stats": True, "dictionary": True, "dictionary_atoms": 16,
           "dictionary_grid": 2, "dct": True, "fit_readouts": True}


def _objective_gradient(blocks, labels, penalties, kernels, intercept):
    """Gradient of mean BCE + sum_b penalty_b |w_b|^2 (what Keras trains) at a solution."""
    logit = sum(b @ w for b, w in zip(blocks, kernels)) + intercept
    residual = expit(logit) - labels
    grads = [b.T @ residual / len(labels) + 2 * p * w for b, p, w in zip(blocks, penalties, kernels)]
    return grads, residual.mean()


def test_solve_readouts_reaches_the_optimum_of_the_keras_objective():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(300, 20)), rng.normal(size=(300, 50))]
    truth = blocks[0][:, 0] - blocks[1][:, :3].sum(1)
    labels = (truth + rng.normal(0, 1.0, 300) > 0).astype(int)
    penalties = [0.01, 0.5]
    kernels, intercept, info = solve_readouts(blocks, labels, penalties)
    grads, grad_intercept = _objective_gradient(blocks, labels, penalties, kernels, intercept)
    assert max(np.abs(g).max() for g in grads) < 1e-4 and abs(grad_intercept) < 1e-4
    # the heavier penalty shrinks its block more: the weight on the true signal is smaller
    assert abs(kernels[1][0]) < abs(kernels[0][0])
    assert info["features"] == 70 and 0.5 < info["train_roc_auc"] <= 1.0
    # a wrong penalty mapping would land elsewhere: the optimum for other penalties differs
    other, _, _ = solve_readouts(blocks, labels, [0.5, 0.01])
    assert not np.allclose(other[0], kernels[0], atol=1e-3)


def _faces(n: int, seed: int):
    """Smooth random textures; label 1 = JPEG-compressed at quality 40 (a grid the dct stream
    sees), 0 = never compressed."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        small = rng.uniform(0, 255, (8, 8, 3)).astype("float32")
        image = cv2.resize(small, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
        if i % 2:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 40])
            image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        images.append(image.astype("float32"))
        labels.append(i % 2)
    return np.stack(images), np.array(labels)


def _readouts_logit(model, images):
    """The linear streams' summed logit (the trunk left out)."""
    return sum(v for name, v in stream_logits(model, images).items() if name != "trunk")


def _readout_weights(model):
    return [np.array(w) for s in linear_streams(model) for name in LINEAR_STREAMS[s][1:] if name
            for w in model.get_layer(name).weights]


def test_fit_linear_readouts_writes_the_solution_into_the_model_and_freezes_it(tmp_path):
    from sklearn.metrics import log_loss, roc_auc_score

    keras.utils.set_random_seed(0)
    images, labels = _faces(24, seed=1)
    model = build_model("multistream", SIZE, **STREAMS)
    adapt_model(model, images)
    info = fit_linear_readouts(model, images, labels)
    assert info["streams"] == ["stats", "dictionary", "dct"]
    assert info["l2"] == {"stats": 0.03, "dictionary": 0.1, "dct": 0.02}  # multistream.json's penalties
    # the model's own stream logits (BatchNorm in inference mode) are the regression's
    logit = _readouts_logit(model, images)
    assert roc_auc_score(labels, logit) == pytest.approx(info["train_roc_auc"], abs=1e-4)
    assert log_loss(labels, expit(logit)) == pytest.approx(info["train_log_loss"], abs=2e-3)
    # JPEG grid vs none: the linear streams separate unseen faces made the same way
    test_images, test_labels = _faces(16, seed=2)
    assert roc_auc_score(test_labels, _readouts_logit(model, test_images)) > 0.9

    # training, of the whole or of the trunk as its own classifier, moves the trunk only
    frozen = _readout_weights(model)
    for trained in (model, trunk_classifier(model)):
        trunk = np.array(model.get_layer("s1_c1_conv").kernel)
        trained.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", run_eagerly=True)
        trained.train_on_batch(images[:8], labels[:8, None].astype("float32"))
        assert all(np.array_equal(a, b) for a, b in zip(frozen, _readout_weights(model)))
        assert not np.array_equal(trunk, np.array(model.get_layer("s1_c1_conv").kernel))
    assert len(trunk_classifier(model).layers) < len(model.layers) - 6  # no stream computed

    # the trunk's weight: the one of the grid with the lowest log loss, written into its Dense
    before = stream_logits(model, test_images)
    weighed = weigh_trunk(model, test_images, test_labels, weights=np.array([0.0, 0.5, 1.0]))
    rest = before["stats"] + before["dictionary"] + before["dct"]
    grid = {w: log_loss(test_labels, expit(rest + w * before["trunk"]), labels=[0, 1])
            for w in (0.0, 0.5, 1.0)}
    assert weighed["trunk_weight"] == min(grid, key=grid.get)
    p_fake = np.asarray(model.predict(test_images, verbose=0)).reshape(-1)
    assert log_loss(test_labels, p_fake, labels=[0, 1]) == pytest.approx(min(grid.values()), abs=1e-4)

    # the per-stream read: p_fake is the sigmoid of the streams' logits summed
    logits = stream_logits(model, test_images)
    assert list(logits) == ["trunk", "stats", "dictionary", "dct"]
    p_fake = np.asarray(model.predict(test_images, verbose=0)).reshape(-1)
    np.testing.assert_allclose(expit(sum(logits.values())), p_fake, rtol=1e-4, atol=1e-5)
    together, same = predict_streams(model, test_images)  # one pass gives the model's own p_fake
    np.testing.assert_allclose(together, p_fake, rtol=1e-6, atol=1e-7)
    assert all(np.allclose(same[k], logits[k], atol=1e-6) for k in logits)
    table = stream_roc_auc(test_labels, logits)
    assert set(table) == {"trunk", "stats", "dictionary", "dct", "without trunk", "all"}
    assert table["all"] == pytest.approx(roc_auc_score(test_labels, p_fake), abs=1e-4)
    assert stream_logits(build_model("cnn", SIZE), test_images) == {}  # one stream: nothing to split

    path = save_model(model, tmp_path / "multistream.h5", base_card(model, "multistream", SIZE))
    reloaded, _ = load_model(path)
    np.testing.assert_allclose(_readouts_logit(reloaded, test_images), _readouts_logit(model, test_images),
                               rtol=1e-5, atol=1e-5)


def test_fit_linear_readouts_refuses_what_it_cannot_fit():
    images, labels = _faces(6, seed=3)
    with pytest.raises(ValueError, match="no linear streams"):
        fit_linear_readouts(build_model("cnn", SIZE), images, labels)
    model = build_model("multistream", SIZE, **STREAMS)
    with pytest.raises(ValueError, match="adapt the model first"):
        fit_linear_readouts(model, images, labels)
    with pytest.raises(ValueError, match="no trunk logit"):
        weigh_trunk(build_model("cnn", SIZE), images, labels)
    adapt_model(model, images)
    with pytest.raises(ValueError, match="both classes"):
        fit_linear_readouts(model, images, np.zeros(6, int))
    with pytest.raises(ValueError, match="one 0/1 label per image"):
        fit_linear_readouts(model, images, labels[:4])


def test_training_a_multistream_model_with_fitted_readouts_end_to_end(tmp_path, monkeypatch):
    """dfd.training.train with fit_readouts (the multistream family's hooks): readouts solved, trunk
    trained alone and weighed on valid; the card says so and the saved model predicts what was reported."""
    import pandas as pd

    from dfd.training.train import TrainConfig, train

    monkeypatch.setenv("DFD_HOME", str(tmp_path))
    rows = []
    for split, n, seed in (("train", 24, 11), ("valid", 12, 12), ("test", 12, 13)):
        images, labels = _faces(n, seed)
        for i, (image, label) in enumerate(zip(images, labels)):
            path = tmp_path / f"{split}_{i}.png"  # lossless: keeps the JPEG grid of the fakes
            cv2.imwrite(str(path), cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2BGR))
            rows.append({"split": split, "path": str(path), "label": int(label), "group": f"{split}{i}",
                         "method": "jpeg" if label else "real"})
    result = train(TrainConfig(model="multistream", dataset="jpeg-grid", input_size=SIZE, epochs=2, min_epochs=1,
                               batch_size=8, smoke=True, options=STREAMS), manifest=pd.DataFrame(rows), verbose=0)
    assert result.card["architecture"] == result.card["family"] == "multistream"
    fitted = result.card["training"]["fitted_readouts"]
    assert fitted["streams"] == ["stats", "dictionary", "dct"] and 0.0 <= fitted["trunk_weight"] <= 1.0
    assert fitted["seconds"] <= result.seconds
    streams = result.card["training"]["stream_roc_auc"]
    assert set(streams) == {"valid", "test"} and streams["test"]["all"] == pytest.approx(
        result.test_metrics["roc_auc"]["value"], abs=1e-3)
    assert streams["test"]["without trunk"] > 0.9  # the readouts see the JPEG grid on unseen faces
    reloaded, card = load_model(result.model_path)
    assert card["training"]["fitted_readouts"]["trunk_weight"] == fitted["trunk_weight"]
    test = result.predictions[result.predictions.split == "test"]
    from dfd.training.input_pipeline import load_images

    p_fake = np.asarray(reloaded.predict(load_images(test.path.tolist(), SIZE).astype("float32"), verbose=0))
    np.testing.assert_allclose(p_fake.reshape(-1), test.p_fake.to_numpy(), rtol=1e-4, atol=1e-5)
