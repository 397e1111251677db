"""Metrics against hand-computed cases and sklearn; bootstrap intervals; plots."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from dfd import metrics as M

# Six samples, hand-computed below.
#   real (0): 0.10, 0.30, 0.65      fake (1): 0.35, 0.70, 0.90
Y6 = np.array([0, 0, 0, 1, 1, 1])
P6 = np.array([0.10, 0.30, 0.65, 0.35, 0.70, 0.90])


def test_six_sample_example_by_hand():
    # AUC = share of (fake, real) pairs ranked correctly: 0.35 beats 0.10, 0.30 (2);
    # 0.70 and 0.90 beat all three reals (3 + 3) -> 8 / 9.
    assert M.roc_auc(Y6, P6) == pytest.approx(8 / 9)
    # ROC points, descending thresholds:
    #   0.90 fpr 0 tpr 1/3 | 0.70 fpr 0 tpr 2/3 | 0.65 fpr 1/3 tpr 2/3 -> FNR = 1/3 = FPR,
    # an exact crossing, so EER = 1/3 at threshold 0.65.
    eer, thr = M.equal_error_rate(Y6, P6)
    assert eer == pytest.approx(1 / 3)
    assert thr == pytest.approx(0.65)
    # Brier = mean squared error: (0.1² + 0.3² + 0.65² + 0.65² + 0.3² + 0.1²) / 6 = 1.045 / 6
    assert M.brier(Y6, P6) == pytest.approx(1.045 / 6)
    # 15 bins of width 1/15: every score falls in its own bin, so ECE = mean |p - y|
    # = (0.1 + 0.3 + 0.65 + 0.65 + 0.3 + 0.1) / 6 = 0.35, and MCE = the worst bin = 0.65.
    assert M.expected_calibration_error(Y6, P6) == pytest.approx(0.35)
    assert M.maximum_calibration_error(Y6, P6) == pytest.approx(0.65)
    # At 0.5: 0.65 (real) and 0.35 (fake) are wrong -> 4/6; each class has 2/3 recall.
    assert M.accuracy(Y6, P6) == pytest.approx(4 / 6)
    assert M.balanced_accuracy(Y6, P6) == pytest.approx(4 / 6)
    # AP: ranking + + - + - -; recall steps of 1/3 at precision 1, 1, 3/4 -> 11/12.
    assert M.average_precision(Y6, P6) == pytest.approx(11 / 12)
    # log loss = -mean(log of the probability given to the true class)
    hand = -np.mean(np.log([0.9, 0.7, 0.35, 0.35, 0.7, 0.9]))
    assert M.log_loss(Y6, P6) == pytest.approx(hand)
    assert M.confusion(Y6, P6) == {"tn": 2, "fp": 1, "fn": 1, "tp": 2}


def test_ece_with_shared_bins_by_hand():
    # 0.10 and 0.12 share bin [1/15, 2/15): mean p 0.11, fraction fake 0.5, gap 0.39.
    # 0.90 and 0.91 share bin [13/15, 14/15): mean p 0.905, fraction fake 1, gap 0.095.
    # ECE = 2/4 * 0.39 + 2/4 * 0.095 = 0.2425 ; MCE = 0.39
    y, p = [0, 1, 1, 1], [0.10, 0.12, 0.90, 0.91]
    assert M.expected_calibration_error(y, p) == pytest.approx(0.2425)
    assert M.maximum_calibration_error(y, p) == pytest.approx(0.39)
    rc = M.reliability_curve(y, p)
    assert rc["count"] == [2, 2]
    assert rc["mean_predicted"] == pytest.approx([0.11, 0.905])
    assert rc["fraction_fake"] == pytest.approx([0.5, 1.0])


def test_eer_interpolates_between_roc_points():
    # Two tied scores: the ROC jumps from (0, 0) to (1, 1); FNR - FPR goes 1 -> -1 and the
    # linear interpolation crosses zero halfway: EER = 0.5.
    assert M.equal_error_rate([0, 1], [0.5, 0.5]) == (pytest.approx(0.5), pytest.approx(0.5))
    # Four samples with one tie across classes: ROC (0,0) (0,.5) (.5,1) (1,1).
    # FNR - FPR: 1, 0.5, -0.5, -1 -> crossing halfway along the second segment: EER 0.25.
    assert M.equal_error_rate([0, 0, 1, 1], [0.1, 0.6, 0.6, 0.9])[0] == pytest.approx(0.25)


def test_perfect_and_inverted_classifiers():
    y = np.array([0, 0, 1, 1])
    good, bad = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.9, 0.8, 0.2, 0.1])
    assert M.roc_auc(y, good) == 1.0 and M.roc_auc(y, bad) == 0.0
    assert M.equal_error_rate(y, good)[0] == 0.0
    assert M.equal_error_rate(y, bad)[0] == 1.0
    assert M.accuracy(y, good) == 1.0 and M.accuracy(y, bad) == 0.0
    res = M.compute_metrics(y, good, n_boot=50)
    assert res["roc_auc"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert res["eer"]["value"] == 0.0


def _synthetic(n=400, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * (2 * y - 1))))
    return y, p


def test_matches_sklearn():
    y, p = _synthetic()
    assert M.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert M.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert M.log_loss(y, p) == pytest.approx(skm.log_loss(y, p))
    assert M.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert M.balanced_accuracy(y, p, 0.3) == pytest.approx(skm.balanced_accuracy_score(y, p >= 0.3))
    rc = M.reliability_curve(y, p, n_bins=15)
    frac, mean = calibration_curve(y, p, n_bins=15, strategy="uniform")
    assert rc["fraction_fake"] == pytest.approx(frac.tolist())
    assert rc["mean_predicted"] == pytest.approx(mean.tolist())
    assert sum(rc["count"]) == len(y)
    # compute_metrics' shared ROC computation gives the same AUC/EER as the public functions
    res = M.compute_metrics(y, p, n_boot=0)
    assert res["roc_auc"]["value"] == pytest.approx(M.roc_auc(y, p))
    assert res["eer"]["value"] == pytest.approx(M.equal_error_rate(y, p)[0])
    assert res["ece"]["value"] == pytest.approx(M.expected_calibration_error(y, p))
    assert res["accuracy"]["ci_low"] is None


def test_bootstrap_interval_contains_value_and_is_reproducible():
    y, p = _synthetic()
    a = M.compute_metrics(y, p, n_boot=200, seed=7)
    b = M.compute_metrics(y, p, n_boot=200, seed=7)
    c = M.compute_metrics(y, p, n_boot=200, seed=8)
    assert a == b
    assert a != c
    assert set(a) == set(M.METRIC_NAMES)
    for name in ("accuracy", "balanced_accuracy", "roc_auc", "average_precision", "eer", "log_loss", "brier"):
        e = a[name]
        assert e["ci_low"] <= e["value"] <= e["ci_high"], name
        assert e["ci_low"] < e["ci_high"], name
    for e in a.values():  # plain floats, strict JSON
        assert all(type(v) is float for v in e.values())
    json.dumps(a, allow_nan=False)



def test_auc_difference_is_paired_and_stratified():
    """The difference of two AUCs on the same rows and its interval: a score against itself
    differs by exactly 0 in every resample (rows are resampled with both scores), and a
    slightly perturbed copy gets a far narrower interval than an independent score of the
    same strength would."""
    y, p = _synthetic()
    rng = np.random.default_rng(3)
    near = np.clip(p + rng.normal(0, 0.02, p.shape), 0, 1)
    gap = M.auc_difference(y, p, near, n_boot=300, seed=1)
    assert gap["value"] == pytest.approx(M.roc_auc(y, p) - M.roc_auc(y, near))
    assert gap["ci_low"] <= gap["value"] <= gap["ci_high"]
    assert M.auc_difference(y, p, p, n_boot=100) == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    other = 1 / (1 + np.exp(-(rng.normal(0, 1, len(y)) + 1.2 * (2 * y - 1))))  # independent, as strong
    wide = M.auc_difference(y, p, other, n_boot=300, seed=1)
    assert gap["ci_high"] - gap["ci_low"] < (wide["ci_high"] - wide["ci_low"]) / 3
    assert M.auc_difference(y, p, near, n_boot=300, seed=1) == gap  # seeded
    assert M.auc_difference(y, p, near, n_boot=0) == {"value": gap["value"], "ci_low": None, "ci_high": None}
    json.dumps(gap, allow_nan=False)
    with pytest.raises(ValueError, match="different lengths"):
        M.auc_difference(y, p, near[:-1])
    with pytest.raises(ValueError, match="both real"):
        M.auc_difference(np.zeros_like(y), p, near)

def test_accuracy_interval_is_wilson_and_narrows_with_more_faces():
    # 36 of 39 right (as a band's decided faces): Wilson's interval by its closed form
    y = np.r_[np.zeros(20, int), np.ones(19, int)]
    p = np.r_[np.full(18, 0.1), np.full(2, 0.9), np.full(18, 0.9), [0.1]]
    got = M.accuracy_interval(y, p)
    assert (got["n"], got["correct"]) == (39, 36) and got["value"] == pytest.approx(36 / 39)
    z, n, phat = 1.959963984540054, 39, 36 / 39
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
    assert got["ci_low"] == pytest.approx(centre - half) and got["ci_high"] == pytest.approx(centre + half)
    more = M.accuracy_interval(np.tile(y, 10), np.tile(p, 10))
    assert more["value"] == pytest.approx(got["value"])
    assert more["ci_high"] - more["ci_low"] < (got["ci_high"] - got["ci_low"]) / 2.5
    # every face right: the interval still leaves room below 1; none decided: nothing to say
    assert M.accuracy_interval([0, 1], [0.2, 0.8])["ci_low"] < 0.5
    assert M.accuracy_interval([], [])["value"] is None
    json.dumps(got, allow_nan=False)


def test_auc_permutation_null_is_the_auc_of_shuffled_labels():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(60, int), np.ones(56, int)]
    separable = np.where(y == 1, 0.9, 0.1) + rng.uniform(-0.05, 0.05, y.size)
    noise = rng.uniform(0, 1, y.size)
    tied = np.round(noise, 1)
    null = M.auc_permutation_null(y, np.stack([separable, noise, tied], axis=1), n_perm=4000, seed=2)
    assert null.shape == (4000, 3)
    # without ties the AUC under shuffled labels has mean 1/2 and variance (n0 + n1 + 1) / (12 n0 n1):
    # a perfect score is no better than noise once the labels carry nothing
    sd = np.sqrt((60 + 56 + 1) / (12 * 60 * 56))
    for k in (0, 1):
        assert abs(null[:, k].mean() - 0.5) < 0.005 and abs(null[:, k].std() / sd - 1) < 0.05
    assert M.roc_auc(y, separable) == 1.0 and np.mean(null[:, 0] >= 1.0) == 0.0
    # each shuffle is one relabelling shared by every column, ties get averaged ranks, as sklearn
    fake_rows = np.random.default_rng(0).permutation(y.size)[:56]
    relabelled = np.zeros(y.size, int)
    relabelled[fake_rows] = 1
    one = M.auc_permutation_null(y, np.stack([noise, tied], axis=1), n_perm=1, seed=0)
    assert one[0, 0] == pytest.approx(M.roc_auc(relabelled, noise))
    assert one[0, 1] == pytest.approx(M.roc_auc(relabelled, tied))
    with pytest.raises(ValueError, match=r"\(N, k\)"):
        M.auc_permutation_null(y, noise)


def test_one_class_data_gives_none_for_two_class_metrics():
    res = M.compute_metrics([1, 1, 1, 1], [0.2, 0.9, 0.8, 0.7], n_boot=30)
    for name in M.TWO_CLASS_METRICS:
        assert res[name] == {"value": None, "ci_low": None, "ci_high": None}
    assert res["accuracy"]["value"] == pytest.approx(0.75)
    assert res["accuracy"]["ci_low"] is not None
    json.dumps(res, allow_nan=False)
    with pytest.raises(ValueError, match="both"):
        M.roc_auc([1, 1], [0.2, 0.3])


def test_a_class_with_one_row_gets_values_without_an_interval():
    # e.g. one real and a few fake videos of a source (video_rules --limit 1): no resample
    # of a single row, but every value is still given
    res = M.compute_metrics([0, 1, 1], [0.2, 0.7, 0.9], n_boot=50)
    assert res["roc_auc"]["value"] == pytest.approx(1.0)
    assert res["accuracy"] == {"value": 1.0, "ci_low": None, "ci_high": None}
    two = M.compute_metrics([0, 0, 1, 1], [0.2, 0.6, 0.7, 0.9], n_boot=50)
    assert two["roc_auc"]["ci_low"] is not None


@pytest.mark.parametrize(
    "y, p, message",
    [
        ([0, 1, 1], [0.1, 0.9], "different lengths"),
        ([0, 1], [0.1, float("nan")], "NaN"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [-0.1, 0.5], r"\[0, 1\]"),
        ([0, 2], [0.1, 0.5], "only 0"),
        (["real", "fake"], [0.1, 0.5], "only 0"),
        ([], [], "empty"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_input_errors(y, p, message):
    with pytest.raises(ValueError, match=message):
        M.compute_metrics(y, p, n_boot=0)


def test_bad_threshold_and_n_boot():
    with pytest.raises(ValueError, match="threshold"):
        M.accuracy(Y6, P6, threshold=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        M.compute_metrics(Y6, P6, n_boot=-1)


def test_summarize_table():
    res = M.compute_metrics(Y6, P6, n_boot=50)
    one_class = M.compute_metrics([1, 1, 1], [0.2, 0.9, 0.8], n_boot=0)
    table = M.summarize_table({"six": res, "fakes only": one_class}, digits=2)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list(M.METRIC_NAMES)
    assert table.loc["six", "roc_auc"].startswith("0.89 [")
    assert table.loc["fakes only", "roc_auc"] == "n/a"
    assert table.loc["fakes only", "accuracy"] == "0.67"  # no interval with n_boot=0


# --------------------------------------------------------------------------- plots
def test_plots_write_files(tmp_path):
    from dfd.evaluation import plots
    from dfd.evaluation.operating_point import risk_coverage

    y, p = _synthetic(300)
    p2 = np.clip(p ** 1.5, 0, 1)
    curves = {"model A": (y, p), "model B": (y, p2)}
    figs = {
        "roc.png": lambda f: plots.plot_roc_curves(curves, path=f),
        "pr.png": lambda f: plots.plot_pr_curves(curves, path=f),
        "rel.png": lambda f: plots.plot_reliability(y, p2, p, path=f),
        "hist.png": lambda f: plots.plot_score_histograms(y, p, threshold=0.5, band=(0.4, 0.6), path=f),
        "cm.png": lambda f: plots.plot_confusion_matrix(y, p, 0.5, path=f),
        "riskcov.png": lambda f: plots.plot_risk_coverage(
            risk_coverage(y[:150], p[:150], y[150:], p[150:]), target=0.9, path=f),
        "rob.png": lambda f: plots.plot_robustness(
            pd.DataFrame({
                "model": ["A"] * 3 + ["B"] * 3,
                "level": [0, 1, 2] * 2,
                "auc": [0.95, 0.9, 0.8, 0.93, 0.91, 0.85],
                "ci_low": [0.93, 0.88, 0.77, 0.91, 0.89, 0.82],
                "ci_high": [0.97, 0.92, 0.83, 0.95, 0.93, 0.88],
            }),
            path=f,
        ),
    }
    for name, make in figs.items():
        fig = make(tmp_path / "figs" / name)
        assert fig.axes, name
        out = tmp_path / "figs" / name
        assert out.is_file() and out.stat().st_size > 1000, name
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    html = plots.interactive_roc_html(curves, tmp_path / "roc.html")
    text = html.read_text(encoding="utf-8")
    assert html.stat().st_size > 100_000  # plotly.js is embedded, not linked
    assert '<script src="http' not in text and "<script src='http" not in text
    assert "model A" in text


def test_plot_into_given_axes():
    from matplotlib.figure import Figure

    from dfd.evaluation import plots

    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    assert plots.plot_roc_curves({"m": (Y6, P6)}, ax=ax1) is fig
    assert plots.plot_reliability(Y6, P6, ax=ax2) is fig
    with pytest.raises(ValueError, match="lack column"):
        plots.plot_robustness(pd.DataFrame({"model": ["a"], "level": [0]}))


def test_ece_if_calibrated_floor():
    # confident scores: every simulated label agrees with its score -> no calibration gap at all
    assert M.ece_if_calibrated(np.r_[np.zeros(50), np.ones(50)])["mean"] == 0.0
    # every score 0.5, one bin: ECE = |mean(y) - 0.5| with y ~ Binomial(n, 0.5); by hand for n=2:
    # y-sum 0 or 2 (prob 1/2) -> gap 0.5, y-sum 1 -> gap 0; mean 0.25
    assert M.ece_if_calibrated(np.full(2, 0.5), n_sim=20000)["mean"] == pytest.approx(0.25, abs=0.01)
    rng = np.random.default_rng(3)
    small, large = M.ece_if_calibrated(rng.random(100)), M.ece_if_calibrated(rng.random(5000))
    # ECE's small-sample bias shrinks roughly as 1/sqrt(n)
    assert small["mean"] > 4 * large["mean"] and small["p95"] >= small["mean"]
    # a direct simulation with labels drawn from the scores agrees with the floor
    p = rng.random(200)
    sims = [M.expected_calibration_error((rng.random(200) < p).astype(int), p) for _ in range(400)]
    assert M.ece_if_calibrated(p)["mean"] == pytest.approx(np.mean(sims), rel=0.1)
    with pytest.raises(ValueError, match="probabilities"):
        M.ece_if_calibrated([0.2, 1.5])
