"""Temperature scaling, ensembles, leakage guard, operating point and bundle manifest."""

import json

import numpy as np
import pytest
from scipy.special import expit

import dfd.evaluation as E
from dfd import metrics as M
from dfd.errors import DfdError

MEMBERS = ["xception", "effnet", "weak"]


@pytest.fixture(scope="module")
def split():
    """Three members with independent noise (the last one weak), and a random split of
    dataset row ids into disjoint validation and test sets."""
    rng = np.random.default_rng(0)
    n = 2400
    y = rng.integers(0, 2, n)
    signal = 2.0 * (2 * y - 1)
    P = np.column_stack([expit(signal + rng.normal(0, sd, n)) for sd in (1.5, 2.0, 6.0)])
    row_ids = rng.permutation(n) + 10_000  # ids are dataset row ids, not positions
    valid_rows, test_rows = np.arange(1200), np.arange(1200, n)
    return {
        "P_valid": P[valid_rows], "y_valid": y[valid_rows], "valid_ids": row_ids[valid_rows],
        "P_test": P[test_rows], "y_test": y[test_rows], "test_ids": row_ids[test_rows],
    }


@pytest.fixture(scope="module")
def fitted(split):
    return E.fit_ensembles(split["P_valid"], split["y_valid"], split["valid_ids"], MEMBERS)


# --------------------------------------------------------------------------- temperature
def _nll(y, p):
    return M.log_loss(y, p)


def test_temperature_softens_overconfident_scores():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < expit(z)).astype(int)  # true P(fake) = sigmoid(z)
    p_over = expit(3 * z)  # logits 3x too large: over-confident
    ts = E.TemperatureScaler().fit(p_over, y)
    assert ts.temperature > 1
    assert ts.temperature == pytest.approx(3, rel=0.15)
    assert _nll(y, ts.transform(p_over)) < _nll(y, p_over)
    assert ts.nll_after_ < ts.nll_before_
    # ranking is unchanged, so AUC is identical
    assert M.roc_auc(y, ts.transform(p_over)) == pytest.approx(M.roc_auc(y, p_over))


def test_temperature_leaves_calibrated_scores_nearly_unchanged():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, 6000)
    p = expit(z)
    y = (rng.random(6000) < p).astype(int)
    ts = E.TemperatureScaler().fit(p, y)
    assert ts.temperature == pytest.approx(1.0, abs=0.08)
    assert np.max(np.abs(ts.transform(p) - p)) < 0.03


def test_temperature_round_trip_and_errors():
    ts = E.TemperatureScaler().fit([0.1, 0.4, 0.35, 0.8, 0.9, 0.2], [0, 0, 1, 1, 1, 0], indices=[5, 6, 7, 8, 9, 10])
    back = E.TemperatureScaler.from_dict(json.loads(json.dumps(ts.to_dict())))
    assert back.temperature == ts.temperature
    assert back.fitted_indices_.tolist() == [5, 6, 7, 8, 9, 10]
    p = np.array([0.0, 0.3, 1.0])
    assert np.allclose(back.transform(p), ts.transform(p))
    assert np.all(np.isfinite(ts.transform(p)))
    with pytest.raises(ValueError, match="both"):
        E.TemperatureScaler().fit([0.2, 0.9], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        E.TemperatureScaler(0.0)
    with pytest.raises(ValueError):
        ts.transform([0.5, float("nan")])


# --------------------------------------------------------------------------- ensembles
def test_fit_ensembles_gives_every_candidate(fitted):
    assert list(fitted) == ["mean", "weighted_mean", "stacking", *MEMBERS]
    for ens, cal in fitted.values():
        assert isinstance(cal, E.TemperatureScaler)
    w = fitted["weighted_mean"][0].weights_
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    assert w[2] < w[0]  # the noisy member gets less weight


def test_learned_ensembles_beat_worst_member(split, fitted):
    y = split["y_test"]

    def test_scores(key):
        ens, cal = fitted[key]
        p = cal.transform(ens.predict(split["P_test"]))
        return M.log_loss(y, p), M.roc_auc(y, p)

    member_scores = [test_scores(m) for m in MEMBERS]
    worst_loss = max(s[0] for s in member_scores)
    worst_auc = min(s[1] for s in member_scores)
    for key in ("weighted_mean", "stacking"):
        loss, auc = test_scores(key)
        assert loss < worst_loss and auc > worst_auc, key
    # with independent noise, stacking also beats the best single member here
    assert test_scores("stacking")[0] < min(s[0] for s in member_scores)


def test_fitted_indices_are_disjoint_from_test(split, fitted):
    test_ids = split["test_ids"]
    for key, (ens, cal) in fitted.items():
        for obj in (ens, cal):
            assert obj.fitted_indices_ is not None, key
            assert np.intersect1d(obj.fitted_indices_, test_ids).size == 0, key
            assert set(obj.fitted_indices_.tolist()) == set(split["valid_ids"].tolist()), key
    E.assert_no_leakage(test_ids, fitted)  # the helper evaluation code calls


def test_leakage_is_detected(split):
    P = np.vstack([split["P_valid"], split["P_test"][:10]])
    y = np.concatenate([split["y_valid"], split["y_test"][:10]])
    ids = np.concatenate([split["valid_ids"], split["test_ids"][:10]])
    leaky = E.StackingEnsemble().fit(P, y, indices=ids)
    with pytest.raises(E.LeakageError, match="10 test row"):
        E.assert_no_leakage(split["test_ids"], leaky)
    unknown = E.MeanEnsemble().fit(split["P_valid"], split["y_valid"])  # no indices given
    with pytest.raises(E.LeakageError, match="without row indices"):
        E.assert_no_leakage(split["test_ids"], unknown)


def test_choose_best(split, fitted):
    best, losses = E.choose_best(fitted, split["P_valid"], split["y_valid"])
    assert set(losses) == {"mean", "weighted_mean", "stacking"}
    assert losses[best] == min(losses.values())
    best_all, losses_all = E.choose_best(fitted, split["P_valid"], split["y_valid"], include_members=True)
    assert set(losses_all) == set(fitted)
    assert losses_all[best_all] == min(losses_all.values())


def test_ensemble_dict_round_trip(split, fitted):
    for key, (ens, _) in fitted.items():
        d = json.loads(json.dumps(ens.to_dict(), allow_nan=False))
        back = E.ensemble_from_dict(d)
        assert type(back) is type(ens)
        assert np.allclose(back.predict(split["P_test"]), ens.predict(split["P_test"])), key
        assert np.array_equal(back.fitted_indices_, ens.fitted_indices_)


def test_ensemble_input_errors(split, fitted):
    ens = fitted["stacking"][0]
    with pytest.raises(ValueError, match="expects 3"):
        ens.predict(split["P_test"][:, :2])
    with pytest.raises(ValueError, match="matrix"):
        ens.predict(split["P_test"][:, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        E.MeanEnsemble().fit(split["P_valid"] * 2, split["y_valid"])
    with pytest.raises(ValueError, match="rows"):
        E.MeanEnsemble().fit(split["P_valid"], split["y_valid"][:-1])
    with pytest.raises(ValueError, match="indices"):
        E.MeanEnsemble().fit(split["P_valid"], split["y_valid"], indices=[1, 2, 3])
    with pytest.raises(ValueError, match="unique member names"):
        E.fit_ensembles(split["P_valid"], split["y_valid"], split["valid_ids"], ["a", "a", "b"])
    with pytest.raises(ValueError, match="unknown ensemble kind"):
        E.ensemble_from_dict({"kind": "pickle"})


# --------------------------------------------------------------------------- operating point
def test_band_narrows_as_target_accuracy_drops(split, fitted):
    ens, cal = fitted["stacking"]
    p = cal.transform(ens.predict(split["P_valid"]))
    y = split["y_valid"]
    widths = []
    for target in (0.99, 0.97, 0.95, 0.9):
        op = E.choose_operating_point(y, p, target_accuracy=target)
        assert op.fallback is None
        assert op.threshold == 0.5 and op.band[0] <= 0.5 <= op.band[1]
        assert op.accuracy_outside >= target
        outside = (p < op.band[0]) | (p > op.band[1])
        assert M.accuracy(y[outside], p[outside]) >= target  # recheck independently
        widths.append(op.band[1] - op.band[0])
    assert all(a >= b for a, b in zip(widths, widths[1:]))
    assert widths[0] > widths[-1]
    json.dumps(op.to_dict(), allow_nan=False)


def test_operating_point_eer_threshold_and_fallback(split, fitted):
    ens, cal = fitted["mean"]
    p = cal.transform(ens.predict(split["P_valid"]))
    y = split["y_valid"]
    op = E.choose_operating_point(y, p, threshold="eer")
    assert op.threshold_rule == "eer"
    assert op.threshold == pytest.approx(M.equal_error_rate(y, p)[1])
    small = E.choose_operating_point(y[:20], p[:20])
    assert small.band == pytest.approx((0.35, 0.65)) and small.fallback
    with pytest.raises(ValueError, match="target_accuracy"):
        E.choose_operating_point(y, p, target_accuracy=1.5)


# --------------------------------------------------------------------------- bundle
def _make_bundle(tmp_path, split, fitted):
    folder = tmp_path / "models" / "demo"
    (folder / "members").mkdir(parents=True)
    entries = []
    for i, name in enumerate(MEMBERS):
        (folder / "members" / f"{name}.keras").write_bytes(bytes(range(256)) * (i + 3))
        entries.append(E.MemberEntry.from_file(folder, name, f"members/{name}.keras", 224 if i else (299, 299)))
    ens, cal = fitted["stacking"]
    p = cal.transform(ens.predict(split["P_valid"]))
    op = E.choose_operating_point(split["y_valid"], p, target_accuracy=0.99)  # a non-empty band
    bundle = E.EnsembleBundle(
        members=entries, ensemble=ens, calibrator=cal,
        member_calibrators={m: fitted[m][1] for m in MEMBERS},
        threshold=op.threshold, uncertain_band=op.band, dataset="demo", ensemble_name="stacking",
        extra={"operating_point": op.to_dict()},
    )
    bundle.save(folder)
    return folder, bundle


def test_bundle_round_trip(tmp_path, split, fitted):
    folder, bundle = _make_bundle(tmp_path, split, fitted)
    data = json.loads((folder / "bundle.json").read_text())
    assert data["members"][0]["file"] == "members/xception.keras"
    assert data["members"][0]["input_size"] == [299, 299]
    assert data["members"][1]["input_size"] == [224, 224]
    assert len(data["members"][0]["sha256"]) == 64
    assert data["ensemble"]["kind"] == "stacking" and data["calibrator"]["kind"] == "temperature"
    loaded = E.EnsembleBundle.load(folder)
    assert loaded.member_names == MEMBERS
    assert loaded.uncertain_band == bundle.uncertain_band and loaded.created == bundle.created
    p = loaded.predict(split["P_test"])
    assert np.allclose(p, bundle.predict(split["P_test"]))
    assert np.array_equal(loaded.ensemble.fitted_indices_, split["valid_ids"])
    E.assert_no_leakage(split["test_ids"], loaded)  # ensemble + all calibrators
    members = loaded.member_probabilities(split["P_test"][:5])
    assert set(members) == set(MEMBERS) and all(v.shape == (5,) for v in members.values())
    assert loaded.predict(split["P_test"][0]).shape == (1,)


def test_bundle_refuses_modified_member_file(tmp_path, split, fitted):
    folder, _ = _make_bundle(tmp_path, split, fitted)
    target = folder / "members" / "effnet.keras"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01  # flip one bit
    target.write_bytes(bytes(data))
    with pytest.raises(DfdError, match=r"effnet\.keras does not match the bundle manifest \(SHA-256 mismatch\)"):
        E.EnsembleBundle.load(folder)
    E.EnsembleBundle.load(folder, verify=False)  # explicit opt-out still reads it
    target.unlink()
    with pytest.raises(DfdError, match="missing"):
        E.EnsembleBundle.load(folder)


def test_bundle_rejects_unsafe_or_broken_manifests(tmp_path, split, fitted):
    folder, _ = _make_bundle(tmp_path, split, fitted)
    path = folder / "bundle.json"
    good = json.loads(path.read_text())
    for mutate, message in [
        (lambda d: d["members"][0].update(file="../../etc/passwd"), "outside"),
        (lambda d: d["members"][0].update(file="/abs/model.keras"), "outside"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d["ensemble"].update(kind="pickle"), "malformed"),
        (lambda d: d.pop("threshold"), "malformed"),
        (lambda d: d.update(uncertain_band=[0.6, 0.7]), "threshold"),
    ]:
        d = json.loads(json.dumps(good))
        mutate(d)
        path.write_text(json.dumps(d))
        with pytest.raises(DfdError, match=message):
            E.EnsembleBundle.load(folder)
    path.write_text("{not json")
    with pytest.raises(DfdError, match="not valid JSON"):
        E.EnsembleBundle.load(folder)
    with pytest.raises(DfdError, match="no bundle.json"):
        E.EnsembleBundle.load(tmp_path / "empty")


def test_verdict(tmp_path, split, fitted):
    _, bundle = _make_bundle(tmp_path, split, fitted)
    lo, hi = bundle.uncertain_band
    assert lo < 0.5 < hi
    assert bundle.verdict(0.5) == "uncertain"
    assert bundle.verdict(lo) == "uncertain" and bundle.verdict(hi) == "uncertain"
    assert bundle.verdict(min(1.0, hi + 0.01)) == "fake"
    assert bundle.verdict(max(0.0, lo - 0.01)) == "real"
    assert bundle.verdict(np.array([0.0, 0.5, 1.0])) == ["real", "uncertain", "fake"]
    with pytest.raises(ValueError):
        bundle.verdict(float("nan"))
