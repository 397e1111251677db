"""Members run by TensorFlow Lite (dfd.inference.lite): converted once, cached, checked,
and TensorFlow's graph where the conversion cannot serve."""

from __future__ import annotations

import numpy as np
import pytest

from tests.corpus import make_tiny_bundle
from dfd.inference import Detector
from dfd.inference import lite
from dfd.inference.members import compiled_predict


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    return {m.name: m for m in Detector.from_dir(make_tiny_bundle(tmp_path_factory.mktemp("lite_bundle"))).members}


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DFD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DFD_LITE", raising=False)
    return tmp_path / "cache" / "lite"


def _faces(member, n=5, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (n, *member.input_size, 3)).astype(np.float32)


@pytest.mark.parametrize("name", ["cnn", "cnn_lstm", "resnext"])
def test_converted_member_scores_like_tensorflow_and_is_kept(members, own_cache, monkeypatch, name):
    m = members[name]
    predictor = lite.lite_predict(m.model, m.input_size)
    assert isinstance(predictor, lite.LitePredictor)
    x = _faces(m)
    p_ref, f_ref = compiled_predict(m.model, m.input_size)(x)
    p, f = predictor(x)
    assert p.shape == (5,) and f.shape == f_ref.shape
    np.testing.assert_allclose(p, p_ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(f, f_ref, rtol=1e-4, atol=1e-4 * np.abs(f_ref).max())
    for n in (1, 3, 0, 2):  # the batch size changes between calls
        assert predictor(x[:n])[0].shape == (n,)
        np.testing.assert_allclose(predictor(x[:n])[0], p_ref[:n], rtol=0, atol=1e-5)
    kept = list(own_cache.glob("*.tflite"))
    assert len(kept) == 1 and kept[0].stat().st_size > 1000

    def no_conversion(*a, **k):
        raise AssertionError("converted again although the cache holds it")

    monkeypatch.setattr(lite, "convert", no_conversion)  # the member conversion
    again = lite.lite_predict(m.model, m.input_size)
    np.testing.assert_array_equal(again(x)[0], p)


def test_damaged_cache_entry_is_converted_again(members, own_cache):
    m = members["cnn"]
    lite.lite_predict(m.model, m.input_size)
    (kept,) = own_cache.glob("*.tflite")
    kept.write_bytes(b"not a flatbuffer")
    predictor = lite.lite_predict(m.model, m.input_size)
    assert isinstance(predictor, lite.LitePredictor)
    x = _faces(m)
    np.testing.assert_allclose(predictor(x)[0], compiled_predict(m.model, m.input_size)(x)[0], rtol=0, atol=1e-5)
    assert kept.stat().st_size > 1000  # rewritten


def test_other_weights_get_their_own_conversion(members, own_cache):
    import keras

    m = members["resnext"]
    twin = keras.models.clone_model(m.model)
    twin.set_weights([w + 0.01 for w in m.model.get_weights()])
    assert lite.cache_key(twin, m.input_size) != lite.cache_key(m.model, m.input_size)
    assert lite.cache_key(m.model, (m.input_size[0] + 8, m.input_size[1])) != lite.cache_key(m.model, m.input_size)


def test_a_conversion_that_disagrees_with_keras_is_not_used(members, own_cache, monkeypatch, caplog):
    m = members["cnn"]
    monkeypatch.setattr(lite, "PROBE_ATOL", -1.0)  # nothing can agree this closely
    assert lite.lite_predict(m.model, m.input_size) is None
    assert "not used" in caplog.text
    assert not list(own_cache.glob("*.tflite"))  # never kept


def test_dfd_lite_0_keeps_tensorflow_for_the_engine(tmp_path_factory, own_cache, monkeypatch):
    monkeypatch.setenv("DFD_LITE", "0")
    det = Detector.from_dir(make_tiny_bundle(tmp_path_factory.mktemp("lite_off")))
    x = _faces(det.members[0], 2)
    det.members[0].predict(x)
    assert det.members[0].runtime == "TensorFlow"
    assert not own_cache.exists()


def test_a_graph_that_cannot_be_converted_is_not_tried_again(own_cache, caplog):
    """An op TFLite lacks (multistream's histogram, tf.math.bincount) raises a short reason;
    the answer is kept, so the next start does not spend the conversion again."""
    import tensorflow as tf

    from dfd import lite as runtime

    def histogram(x):
        return tf.math.bincount(tf.cast(tf.reshape(x, [-1]), tf.int32), minlength=4, maxlength=4)

    spec = tf.TensorSpec((None, 3), tf.float32)
    calls = []

    def make():
        calls.append(1)
        return runtime.convert(histogram, spec)

    with pytest.raises(ValueError, match="cannot be converted") as first:
        runtime.cached_conversion("0" * 32, make)
    assert len(str(first.value)) < 400  # one readable line, not the converter's op dump,
    assert "Bincount" in str(first.value)  # naming the op TFLite lacks
    with pytest.raises(ValueError, match="cannot be converted"):
        runtime.cached_conversion("0" * 32, make)
    assert calls == [1] and list(own_cache.glob("*.failed"))
