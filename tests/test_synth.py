"""dfd.data.synth: self-blended images and face swaps on synthetic, face-like pictures with
hand-placed landmarks (no detector, no files)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dfd.data import synth
from dfd.faces.alignment import TEMPLATE_UNIT
from dfd.errors import BadInputError

TEMPLATE_112 = TEMPLATE_UNIT * 112.0
TEMPLATE_IOD = float(np.linalg.norm(TEMPLATE_112[1] - TEMPLATE_112[0]))


def face_landmarks(cx: float, cy: float, iod: float, angle_deg: float = 0.0) -> np.ndarray:
    """The ArcFace template landmarks scaled to ``iod`` and centred on (cx, cy)."""
    pts = (TEMPLATE_112 - TEMPLATE_112.mean(0)) * (iod / TEMPLATE_IOD)
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + [cx, cy]


def make_face(h=160, w=150, cx=75.0, cy=82.0, iod=40.0, seed=0, skin=(205, 160, 130), angle_deg=0.0):
    """A textured, face-like picture: background gradient, hair, skin ellipse, eyes, brows,
    nose, mouth; returns (rgb uint8, landmarks (5, 2))."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([60 + 80 * xx / w, 90 + 60 * yy / h, 150 - 50 * xx / w], axis=2)
    lm = face_landmarks(cx, cy, iod, angle_deg)
    u = iod / TEMPLATE_IOD  # template px -> image px
    centre = (int(round(cx)), int(round(cy - 4 * u)))
    cv2.ellipse(img, (centre[0], centre[1] - int(18 * u)), (int(46 * u), int(52 * u)), angle_deg, 0, 360, (40, 30, 25), -1)
    cv2.ellipse(img, centre, (int(40 * u), int(52 * u)), angle_deg, 0, 360, skin, -1)
    for (x, y) in lm[:2]:
        cv2.ellipse(img, (int(x), int(y)), (max(1, int(7 * u)), max(1, int(4 * u))), angle_deg, 0, 360, (245, 245, 240), -1)
        cv2.circle(img, (int(x), int(y)), max(1, int(3 * u)), (50, 35, 30), -1)
        cv2.line(img, (int(x - 8 * u), int(y - 12 * u)), (int(x + 8 * u), int(y - 13 * u)), (60, 40, 30), max(1, int(3 * u)))
    nx, ny = lm[2]
    cv2.circle(img, (int(nx), int(ny)), max(1, int(4 * u)), (175, 120, 100), -1)
    cv2.line(img, tuple(int(v) for v in lm[3]), tuple(int(v) for v in lm[4]), (150, 60, 60), max(1, int(4 * u)))
    img += rng.normal(0, 9, img.shape).astype(np.float32)  # skin / sensor texture
    return np.clip(img, 0, 255).astype(np.uint8), lm


def run(kind, img, lm, seed=0, params=None, donor=None):
    rng = np.random.default_rng(seed)
    if kind == "sbi":
        return synth.self_blend(img, lm, rng, params)
    d_img, d_lm = donor if donor is not None else make_face(seed=99, skin=(150, 105, 80), cx=70, cy=86, iod=44)
    return synth.face_swap(img, lm, d_img, d_lm, rng, params)


KINDS = ["sbi", "swap"]


# ------------------------------------------------------------------------------ mask


def test_face_mask_is_soft_local_and_deterministic():
    img, lm = make_face()
    mask = synth.face_mask(img.shape, lm, np.random.default_rng(0))
    assert mask.dtype == np.float32 and mask.shape == img.shape[:2]
    assert mask.min() == 0.0 and mask.max() <= 1.0
    nose = lm[2].round().astype(int)
    assert mask[nose[1], nose[0]] > 0.95  # the inner face is covered
    for y, x in [(0, 0), (0, -1), (-1, 0), (-1, -1), (2, 75)]:  # exactly 0 far outside the face
        assert mask[y, x] == 0.0
    values = np.unique(mask)
    assert len(values) > 20  # blurred edge, not a binary stencil
    # brows to chin: the mask spans at least eye-to-mouth plus some margin, and is not a box
    ys, xs = np.nonzero(mask > 0.5)
    assert ys.min() < lm[:2, 1].min() - 5 and ys.max() > lm[3:, 1].max() + 8
    box_fill = (mask > 0.5).sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    assert 0.55 < box_fill < 0.95
    again = synth.face_mask(img.shape, lm, np.random.default_rng(0))
    assert np.array_equal(mask, again)
    other = synth.face_mask(img.shape, lm, np.random.default_rng(1))
    assert not np.array_equal(mask, other)


def test_face_mask_follows_the_landmarks():
    img, lm = make_face(angle_deg=20)
    params = synth.sample_params("sbi", np.random.default_rng(0))
    m1 = synth.face_mask(img.shape, lm, None, params)
    m2 = synth.face_mask(img.shape, lm + [10, -6], None, params["mask"])
    ys, xs = np.nonzero(m1 > 0.5)
    ys2, xs2 = np.nonzero(m2 > 0.5)
    assert abs(xs2.mean() - xs.mean() - 10) < 1.5 and abs(ys2.mean() - ys.mean() + 6) < 1.5


# ------------------------------------------------------------------- both manipulations


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_untouched_outside_mask_and_changed_inside(kind, seed):
    img, lm = make_face(seed=seed)
    before = img.copy()
    fake, mask = run(kind, img, lm, seed)
    assert np.array_equal(img, before)  # the input is not modified
    assert fake.dtype == np.uint8 and fake.shape == img.shape
    assert mask.dtype == np.float32 and mask.shape == img.shape[:2]
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    outside = mask == 0
    assert outside.mean() > 0.3
    assert np.array_equal(fake[outside], img[outside])  # bit-identical where mask == 0
    inside = mask > 0.5
    assert inside.sum() > 500
    changed = (fake != img).any(axis=2)
    assert changed[inside].mean() > 0.5, f"only {changed[inside].mean():.0%} of the blended face changed"


@pytest.mark.parametrize("blend", ["feather", "poisson"])
def test_swap_blend_modes_keep_outside_identical(blend):
    img, lm = make_face(seed=3)
    for seed in range(3):
        fake, mask = run("swap", img, lm, seed, params={"blend": blend})
        assert np.array_equal(fake[mask == 0], img[mask == 0])
        assert (fake != img).any(axis=2)[mask > 0.5].mean() > 0.5


def test_swap_blend_modes_differ():
    img, lm = make_face(seed=3)
    base = synth.sample_params("swap", np.random.default_rng(0))
    feather, _ = run("swap", img, lm, params={**base, "blend": "feather"})
    poisson, _ = run("swap", img, lm, params={**base, "blend": "poisson"})
    assert not np.array_equal(feather, poisson)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_per_seed(kind):
    img, lm = make_face(seed=1)
    a, ma = run(kind, img, lm, seed=7)
    b, mb = run(kind, img, lm, seed=7)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    c, mc = run(kind, img, lm, seed=8)
    assert not np.array_equal(a, c) and not np.array_equal(ma, mc)


@pytest.mark.parametrize("kind", KINDS)
def test_complete_params_fix_the_result_whatever_the_rng(kind):
    img, lm = make_face(seed=2)
    params = synth.sample_params(kind, np.random.default_rng(11))
    a, ma = run(kind, img, lm, seed=1, params=params)
    b, mb = run(kind, img, lm, seed=2, params=json.loads(json.dumps(params)))  # JSON round trip
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    # and the seed path is the same as sampling the params from that seed first
    c, _ = run(kind, img, lm, seed=11)
    assert np.array_equal(a, c)


def test_partial_params_override_only_what_they_name():
    img, lm = make_face(seed=2)
    full = synth.sample_params("swap", np.random.default_rng(4))
    forced = "poisson" if full["blend"] == "feather" else "feather"
    a, _ = run("swap", img, lm, seed=4, params={"blend": forced})
    b, _ = run("swap", img, lm, params={**full, "blend": forced})
    assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        run("swap", img, lm, params={"blend": "laplacian"})
    with pytest.raises(ValueError):
        run("sbi", img, lm, params={"kind": "swap"})


@pytest.mark.parametrize("kind", KINDS)
def test_sample_params_json_and_jitter_stays_close(kind):
    rng = np.random.default_rng(0)
    base = synth.sample_params(kind, rng)
    assert base["kind"] == kind
    assert json.loads(json.dumps(base)) == base  # plain JSON-able
    spec = synth.parameters._SPECS[kind]
    amount = 0.2
    for _ in range(5):
        jit = synth.jitter_params(base, rng, amount)
        assert json.loads(json.dumps(jit)) == jit
        assert jit != base
        for path, (lo, hi) in spec.items():
            old = np.asarray(synth.parameters._get(base, path), float)
            new = np.asarray(synth.parameters._get(jit, path), float)
            assert np.all(np.abs(new - old) <= amount * (hi - lo) / 2 + 1e-12), path
            assert np.all((new >= min(lo, old.min()) - 1e-12) & (new <= max(hi, old.max()) + 1e-12)), path
        for key in ("blend_ratio", "blend", "interp"):
            if key in base:
                assert jit[key] == base[key]
        if kind == "sbi":
            assert jit["freq"]["op"] == base["freq"]["op"]
    assert synth.jitter_params(base, rng, 0.0) == base
    assert base == synth.sample_params(kind, np.random.default_rng(0))  # jitter did not mutate


@pytest.mark.parametrize("kind", KINDS)
def test_jittered_frames_are_close_but_not_identical(kind):
    img, lm = make_face(seed=5)
    base = synth.sample_params(kind, np.random.default_rng(3))
    a, _ = run(kind, img, lm, params=base)
    b, _ = run(kind, img, lm, params=synth.jitter_params(base, np.random.default_rng(1), 0.1))
    fresh, _ = run(kind, img, lm, params=synth.sample_params(kind, np.random.default_rng(4)))
    d_jit = np.abs(a.astype(int) - b).mean()
    d_new = np.abs(a.astype(int) - fresh).mean()
    assert 0 < d_jit < d_new


# ---------------------------------------------------------------------- bad / edge input


DEGENERATE = [np.full((5, 2), 40.0), np.full((5, 2), 40.0) + np.arange(5)[:, None] * 1e-3]


@pytest.mark.parametrize("bad", DEGENERATE)
def test_degenerate_landmarks_raise_bad_input(bad):
    img, lm = make_face()
    rng = np.random.default_rng(0)
    with pytest.raises(BadInputError, match="degenerate"):
        synth.face_mask(img.shape, bad, rng)
    with pytest.raises(BadInputError, match="degenerate"):
        synth.self_blend(img, bad, rng)
    with pytest.raises(BadInputError, match="degenerate"):
        synth.face_swap(img, bad, img, lm, rng)
    with pytest.raises(BadInputError, match="donor landmarks are degenerate"):
        synth.face_swap(img, lm, img, bad, rng)


def test_malformed_input_raises_bad_input():
    img, lm = make_face()
    rng = np.random.default_rng(0)
    for bad in (lm[:4], np.full((5, 2), np.nan), "eyes"):
        with pytest.raises(BadInputError):
            synth.self_blend(img, bad, rng)
    with pytest.raises(BadInputError, match="uint8"):
        synth.self_blend(img.astype(np.float32), lm, rng)
    with pytest.raises(BadInputError, match="uint8"):
        synth.face_swap(img, lm, img[..., 0], lm, rng)
    with pytest.raises(BadInputError, match="outside"):
        synth.self_blend(img, lm + 1000, rng)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("iod", [2.0, 4.0, 7.0])
def test_tiny_faces_give_valid_results(kind, iod):
    img, lm = make_face(h=48, w=40, cx=20, cy=24, iod=iod, seed=4)
    donor = make_face(seed=8, iod=6.0, cx=30, cy=30, h=64, w=64)
    for seed in range(4):
        fake, mask = run(kind, img, lm, seed, donor=donor)
        assert fake.shape == img.shape and fake.dtype == np.uint8
        assert mask.shape == img.shape[:2] and mask.dtype == np.float32
        assert mask.max() > 0 and np.isfinite(mask).all()
        assert np.array_equal(fake[mask == 0], img[mask == 0])


@pytest.mark.parametrize("kind", KINDS)
def test_face_at_the_image_border(kind):
    img, lm = make_face(h=120, w=120, cx=6, cy=112, iod=36, seed=6)  # face mostly off-frame
    for seed in range(3):
        params = {"blend": "poisson"} if kind == "swap" else None
        fake, mask = run(kind, img, lm, seed, params=params)
        assert np.array_equal(fake[mask == 0], img[mask == 0])
        assert mask[-1, 0] > 0  # the mask reaches the corner


def test_large_donor_onto_small_target_and_back():
    small, small_lm = make_face(h=80, w=70, cx=35, cy=40, iod=16, seed=1)
    big, big_lm = make_face(h=480, w=420, cx=210, cy=250, iod=110, seed=2, skin=(120, 90, 70))
    for params in ({"blend": "feather"}, {"blend": "poisson", "downscale": 0.7}):
        fake, mask = synth.face_swap(small, small_lm, big, big_lm, np.random.default_rng(0), params)
        assert np.array_equal(fake[mask == 0], small[mask == 0])
        fake, mask = synth.face_swap(big, big_lm, small, small_lm, np.random.default_rng(0), params)
        assert np.array_equal(fake[mask == 0], big[mask == 0])
        assert (fake != big).any(axis=2)[mask > 0.5].mean() > 0.5


def test_turned_face_mask_is_pulled_in_on_the_far_side():
    img, lm = make_face()
    params = synth.sample_params("sbi", np.random.default_rng(0))["mask"]
    frontal = synth.face_mask(img.shape, lm, None, params)
    turned_lm = lm.copy()
    turned_lm[2, 0] -= 0.35 * 40  # nose towards image-left: the left cheek is hidden
    turned = synth.face_mask(img.shape, turned_lm, None, params)
    _, xs_f = np.nonzero(frontal > 0.5)
    _, xs_t = np.nonzero(turned > 0.5)
    assert xs_t.min() > xs_f.min() + 3  # far (left) side pulled in
    assert abs(xs_t.max() - xs_f.max()) < 4  # near side about the same


def test_similarity_transform_recovers_a_known_transform():
    src = TEMPLATE_112
    a, s, t = np.radians(17), 2.5, np.array([30.0, -12.0])
    rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = src @ rot.T + t
    m = synth.similarity_transform(src, dst)
    assert np.allclose(m[:, :2], rot) and np.allclose(m[:, 2], t)
