"""Fresh fakes every epoch from real faces (dfd.training.synthesis), the up-sampling
pseudo-fakes, the processing-invariance augmentations and train() on fresh fakes."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from dfd.data.synth import upsampling_trace
from dfd.errors import DfdError
from dfd.faces.alignment import template_points
from dfd.training.input_pipeline import AugmentConfig, augment_image, make_fresh_fake_dataset
from dfd.training.synthesis import FreshFakes, SynthesisConfig

SIZE = 96


def _face_like(seed: int, size: int = SIZE) -> np.ndarray:
    """A smooth synthetic 'aligned crop': skin-toned ellipse on a textured background, eyes and
    mouth where the template puts them (the synthesis only needs landmarks and pixels)."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), (7, 7), 2)
    pts = template_points(size, 0.3)
    centre = tuple(int(v) for v in pts.mean(0))
    cv2.ellipse(img, centre, (int(size * 0.3), int(size * 0.4)), 0, 0, 360,
                tuple(int(v) for v in rng.integers(120, 220, 3)), -1)
    for x, y in pts[:2]:
        cv2.circle(img, (int(x), int(y)), 3, (30, 30, 30), -1)
    cv2.line(img, tuple(int(v) for v in pts[3]), tuple(int(v) for v in pts[4]), (90, 20, 20), 2)
    return img


@pytest.fixture(scope="module")
def reals() -> np.ndarray:
    return np.stack([_face_like(i) for i in range(6)])


def test_same_seed_same_fakes_and_every_epoch_new_ones(reals):
    cfg = SynthesisConfig(kinds=("sbi", "swap", "upsample"))
    a, b = FreshFakes(reals, cfg, seed=1), FreshFakes(reals, cfg, seed=1)
    x0, y0, k0 = a.epoch(0)
    x0b, y0b, k0b = b.epoch(0)
    np.testing.assert_array_equal(x0, x0b)
    assert y0.tolist() == y0b.tolist() and k0 == k0b
    x1, y1, _ = a.epoch(1)
    fakes0, fakes1 = x0[y0 == 1], x1[y1 == 1]
    # no fake of epoch 1 repeats one of epoch 0
    for f in fakes1:
        assert min(np.abs(f.astype(int) - g).mean() for g in fakes0) > 0.1
    other = FreshFakes(reals, cfg, seed=2).epoch(0)[0]
    assert not np.array_equal(np.sort(other.reshape(len(other), -1), axis=0), np.sort(x0.reshape(len(x0), -1), axis=0))
    # the epoch holds every real crop once, unchanged, and as many fakes
    assert (y0 == 0).sum() == len(reals) == (y0 == 1).sum()
    got = {x0[i].tobytes() for i in np.flatnonzero(y0 == 0)}
    assert got == {r.tobytes() for r in reals}
    assert set(k0) <= {"real", "sbi", "swap", "upsample"}


@pytest.mark.parametrize("kind", ["sbi", "swap"])
def test_face_kinds_change_only_the_face_region(reals, kind):
    fakes = FreshFakes(reals, SynthesisConfig(kinds=(kind,)), seed=0)
    lm = template_points(SIZE, 0.3)
    rng = np.random.default_rng(0)
    for i in range(len(reals)):
        fake, got = fakes.fake_of(i, rng)
        assert got == kind and fake.shape == reals[i].shape and fake.dtype == np.uint8
        changed = np.abs(fake.astype(int) - reals[i]).max(axis=2) > 0
        assert changed.any()
        # the corners of an aligned crop are background: never touched by a face manipulation
        for corner in (changed[:8, :8], changed[:8, -8:], changed[-4:, :8], changed[-4:, -8:]):
            assert not corner.any()
        # the change is centred on the face (the landmarks' centre)
        ys, xs = np.nonzero(changed)
        assert np.hypot(xs.mean() - lm[:, 0].mean(), ys.mean() - lm[:, 1].mean()) < SIZE * 0.15


def test_upsampling_pseudo_fakes_touch_the_whole_image_and_leave_periodic_traces(reals):
    rng = np.random.default_rng(0)
    for real in reals:
        fake, mask = upsampling_trace(real, rng)
        assert fake.shape == real.shape and fake.dtype == np.uint8 and (mask == 1).all()
        changed = np.abs(fake.astype(int) - real).max(axis=2) > 2
        assert changed.mean() > 0.3  # the whole image, not a face region
    # a transposed-convolution rebuild of a flat grey image shows the checkerboard: the four
    # pixel phases of each 2x2 cell differ, where a bilinear resize keeps the image flat
    flat = np.full((64, 64, 3), 128, np.uint8)
    params = {"factor": 2, "upsampler": "transposed", "kernel": 4, "kernel_noise": 0.4, "kernel_seed": 3,
              "blend_ratio": 1.0}
    fake, _ = upsampling_trace(flat, params=params)
    phases = [fake[8:-8:2, 8:-8:2].mean(), fake[9:-8:2, 8:-8:2].mean(), fake[8:-8:2, 9:-8:2].mean(),
              fake[9:-8:2, 9:-8:2].mean()]
    assert max(phases) - min(phases) > 2
    again, _ = upsampling_trace(flat, params=params)
    np.testing.assert_array_equal(fake, again)


def test_fixed_fakes_fill_half_of_each_epoch(reals):
    fixed = np.stack([_face_like(100 + i) for i in range(4)])
    fakes = FreshFakes(reals, SynthesisConfig(kinds=("sbi",), fixed_fakes=True), seed=0, fixed=fixed)
    x, y, kinds = fakes.epoch(0)
    assert kinds.count("fixed") == len(reals) // 2 and kinds.count("sbi") == len(reals) - len(reals) // 2
    fixed_bytes = {f.tobytes() for f in fixed}
    assert all(x[i].tobytes() in fixed_bytes for i, k in enumerate(kinds) if k == "fixed")
    assert (y[[k == "fixed" for k in kinds]] == 1).all()


def test_synthesis_config_is_checked():
    with pytest.raises(ValueError, match="kinds"):
        SynthesisConfig(kinds=("deepfake",))
    with pytest.raises(ValueError, match="weights"):
        SynthesisConfig(kinds=("sbi", "swap"), weights=(1.0,))
    assert not SynthesisConfig.from_dict(None).enabled
    assert SynthesisConfig.from_dict({"kinds": ["sbi"], "weights": [1]}).kinds == ("sbi",)
    with pytest.raises(ValueError, match="2 real"):
        FreshFakes(np.zeros((1, 8, 8, 3), np.uint8), SynthesisConfig())


def test_fresh_fake_batches_are_seeded_balanced_and_augmented(reals):
    fakes = FreshFakes(reals, SynthesisConfig(kinds=("sbi", "upsample")), seed=0)
    take = lambda ds: [(x.numpy(), y.numpy()) for (x, y), _ in zip(ds, range(3))]  # noqa: E731
    a = take(make_fresh_fake_dataset(fakes, 4, seed=5))
    b = take(make_fresh_fake_dataset(fakes, 4, seed=5))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_allclose(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    labels = np.concatenate([y for _, y in a]).ravel()
    assert a[0][0].shape == (4, SIZE, SIZE, 3) and set(labels) == {0.0, 1.0}
    assert abs(labels.mean() - 0.5) <= 0.25


def _only(**fields) -> AugmentConfig:
    return AugmentConfig(**{**AugmentConfig.off().__dict__, **fields})


def test_processing_augmentations_do_what_they_say(reals):
    import tensorflow as tf

    img = tf.constant(reals[0], tf.float32)
    seed = tf.constant([1, 2], tf.int64)
    same = augment_image(img, seed, _only(), SIZE).numpy()
    np.testing.assert_allclose(same, reals[0], atol=1e-3)
    # WebP always: equals OpenCV's WebP round trip at some quality in the range
    webp = augment_image(img, seed, _only(webp_prob=1.0, webp_quality=(50, 50)), SIZE).numpy()
    ok, buf = cv2.imencode(".webp", cv2.cvtColor(reals[0], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 50])
    expected = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_allclose(webp, expected, atol=1.0)
    # down-and-up resizing removes fine detail; noise adds it
    hf = lambda im: np.abs(np.diff(im, axis=1)).mean()  # noqa: E731
    small = augment_image(img, seed, _only(resize_prob=1.0, resize_scale=(0.3, 0.3)), SIZE).numpy()
    noisy = augment_image(img, seed, _only(noise_prob=1.0, noise_sigma=(8.0, 8.0)), SIZE).numpy()
    assert small.shape == noisy.shape == reals[0].shape
    assert hf(small) < 0.8 * hf(same) and hf(noisy) > 1.2 * hf(same)
    assert small.min() >= 0 and noisy.max() <= 255


def test_a_recipe_synthesis_section_is_checked():
    from dfd.training.recipe import check_section, load_recipe

    section = {k: v for k, v in load_recipe("dfd-default", "cnn").items() if k != "source"}
    check_section("ok", {**section, "synthesis": {"kinds": ["sbi"], "weights": [], "fixed_fakes": False,
                                                  "margin": 0.3}})
    with pytest.raises(DfdError, match="unknown key"):
        check_section("bad", {**section, "synthesis": {"kinds": ["sbi"], "weights": [], "fixed_fakes": False,
                                                       "margin": 0.3, "epochs": 3}})


def test_train_on_fresh_fakes_from_real_faces_only(tmp_path, monkeypatch, reals):
    """A folder with real training faces only trains: the manifest's training fakes are never
    used, the card records the synthesis, valid/test keep their fixed fakes."""
    from dfd.training.train import TrainConfig, train

    monkeypatch.setenv("DFD_HOME", str(tmp_path))
    rows = []
    for split, n_real, n_fake in (("train", 6, 0), ("valid", 4, 4), ("test", 4, 4)):
        for i in range(n_real + n_fake):
            path = tmp_path / f"{split}_{i}.png"
            img = _face_like(1000 * len(split) + i, 32) if i < n_real else _face_like(50 + i, 32)[:, ::-1]
            cv2.imwrite(str(path), img)
            rows.append({"split": split, "path": str(path), "label": int(i >= n_real), "group": f"{split}{i}",
                         "method": "fake" if i >= n_real else "real"})
    manifest = pd.DataFrame(rows)
    result = train(TrainConfig(model="tiny", architecture="cnn", dataset="realonly", input_size=32, epochs=1,
                               batch_size=4, smoke=True, options={"widths": [8, 16], "convs_per_stage": [1, 1]},
                               synthesis={"kinds": ["sbi", "upsample"]}), manifest=manifest, verbose=0)
    assert result.card["training"]["synthesis"]["kinds"] == ["sbi", "upsample"]
    assert set(result.predictions.split) == {"valid", "test"} and len(result.predictions) == 16
    # without fresh fakes the same real-only manifest is refused: a split needs both classes
    with pytest.raises(ValueError, match="both real and fake"):
        train(TrainConfig(model="tiny", architecture="cnn", dataset="realonly", input_size=32, epochs=1,
                          batch_size=4, smoke=True, options={"widths": [8, 16], "convs_per_stage": [1, 1]},
                          synthesis={"kinds": []}), manifest=manifest, verbose=0)


class _Reads:
    """A stand-in member: ``predict_on_batch`` of a fixed image statistic."""

    def __init__(self, fn):
        self.fn = fn

    def predict_on_batch(self, x):
        return np.array([[self.fn(im)] for im in x], np.float32)


def test_container_sensitivity_tells_processing_readers_from_content_readers(reals):
    from dfd.evaluation.container import TARGET, container_sensitivity, resave

    # mean brightness survives a q90 re-save; the energy of pixel-to-pixel steps (what a JPEG
    # or WebP encoder smooths away) does not
    content = _Reads(lambda im: im.mean() / 255.0)
    texture = _Reads(lambda im: min(1.0, np.abs(np.diff(im, axis=1)).mean() / 60.0))
    noisy = np.stack([np.clip(r + np.random.default_rng(i).normal(0, 12, r.shape), 0, 255).astype(np.uint8)
                      for i, r in enumerate(reals)])
    table = container_sensitivity({"content": (content, SIZE), "texture": (texture, SIZE)}, noisy,
                                  combine=lambda P: P.mean(axis=1))
    assert set(table.resave) == {"jpeg_q90", "webp_q90"} and set(table.model) == {"content", "texture", "ensemble"}
    med = table.set_index(["model", "resave"]).median_abs_delta
    for fmt in ("jpeg_q90", "webp_q90"):
        assert med["content", fmt] < TARGET < med["texture", fmt]
    assert (table.n == len(reals)).all()
    again = resave(reals[0], "jpeg_q90")
    assert again.shape == reals[0].shape and not np.array_equal(again, reals[0])


def test_extra_real_faces_join_the_training_reals_and_never_leak(tmp_path, monkeypatch):
    """Another prepared dataset's train-split real faces join the fresh fakes' reals: its fakes,
    its valid / test rows and any face the dataset already holds (same crop or same source file,
    e.g. one of its test photos) stay out, and the card records what was added."""
    from dfd.training.train import TrainConfig, extra_real_faces, train

    monkeypatch.setenv("DFD_HOME", str(tmp_path))
    rows = []
    for split, n_real, n_fake in (("train", 6, 0), ("valid", 4, 4), ("test", 4, 4)):
        for i in range(n_real + n_fake):
            path = tmp_path / f"{split}_{i}.png"
            cv2.imwrite(str(path), _face_like(1000 * len(split) + i, 32) if i < n_real else _face_like(50 + i, 32)[:, ::-1])
            rows.append({"split": split, "path": str(path), "label": int(i >= n_real), "group": f"{split}{i}",
                         "method": "fake" if i >= n_real else "real", "sha256": f"own{split}{i}",
                         "source_path": f"/photos/{split}{i}.jpg"})
    manifest = pd.DataFrame(rows)
    other = tmp_path / "other"
    other.mkdir()
    extra = []
    for i in range(9):  # 0-4 new train reals, 5 same crop as a test face, 6 same source file, 7 a fake, 8 valid
        cv2.imwrite(str(other / f"{i}.png"), _face_like(7000 + i, 32))
        extra.append({"path": f"{i}.png", "label": int(i == 7), "split": "valid" if i == 8 else "train",
                      "group": f"o{i}", "source": "other", "method": "real", "frame": -1, "n_faces": 1,
                      "sha256": "owntest1" if i == 5 else f"other{i}",
                      "source_path": "/photos/test2.jpg" if i == 6 else f"/other/{i}.jpg"})
    pd.DataFrame(extra).to_csv(other / "manifest.csv", index=False)

    added, records = extra_real_faces([str(other / "manifest.csv")], manifest)
    assert sorted(added.sha256) == [f"other{i}" for i in range(5)]
    assert (added.label == 0).all() and (added.split == "train").all()
    assert added.path.map(lambda p: p.startswith(str(other))).all()  # made absolute like any manifest
    assert records[0]["faces"] == 5 and len(records[0]["sha256"]) == 64
    # the same source twice adds nothing the second time: refused as empty
    with pytest.raises(ValueError, match="no train-split real face"):
        extra_real_faces([str(other / "manifest.csv")] * 2, manifest)

    tiny = dict(model="tiny", architecture="cnn", dataset="realonly", input_size=32, epochs=1, batch_size=4,
                smoke=True, options={"widths": [8, 16], "convs_per_stage": [1, 1]})
    result = train(TrainConfig(**tiny, synthesis={"kinds": ["sbi"]}, extra_reals=[str(other / "manifest.csv")]),
                   manifest=manifest, verbose=0)
    assert result.card["split_sizes"]["train"]["real"] == 6 + 5
    assert result.card["training"]["extra_reals"] == records
    assert len(result.predictions) == 16  # valid / test are the dataset's own
    with pytest.raises(ValueError, match="needs synthesis"):
        train(TrainConfig(**tiny, synthesis={"kinds": []}, extra_reals=[str(other / "manifest.csv")]),
              manifest=manifest, verbose=0)
