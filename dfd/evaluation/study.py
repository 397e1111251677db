"""The ensemble study of one dataset: the trained members' predictions side by side, every
ensemble and calibrator fit on validation rows and scored on test (:class:`EnsembleStudy`,
which saves the chosen one as the bundle), and the saved bundles scored on every prepared
test split (:func:`cross_dataset_matrix`)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from dfd.data.prepare import load_manifest
from dfd.evaluation.bundle import SAVED_OOD_COMBINE, EnsembleBundle, MemberEntry
from dfd.evaluation.compression import fit_compression_check
from dfd.evaluation.corruptions import corrupted_copies
from dfd.evaluation.ensembles import choose_best, fit_ensembles, fit_subset_ensembles
from dfd.evaluation.leakage import assert_no_leakage
from dfd.evaluation.ood import fit_member_ood
from dfd.metrics import compute_metrics, ece_if_calibrated, roc_auc
from dfd.evaluation.operating_point import choose_operating_point
from dfd.evaluation.scoring import IMAGE_MODELS, load_members, score_images
from dfd.evaluation.score_range import fit_score_ranges
from dfd.evaluation.sharpness import fit_sharpness_check
from dfd.paths import data_dir, models_dir
from dfd.training.input_pipeline import load_images

# corrupted copies of each validation crop the ensembles are fit on beside the clean one
ROBUST_COPIES = 0


def member_predictions(dataset: str, members=IMAGE_MODELS) -> pd.DataFrame:
    """Validation and test predictions of every trained member, one column each, joined on
    the crop path (all members score exactly the same rows)."""
    from dfd.training.train import load_predictions

    table = None
    for name in members:
        df = load_predictions(dataset, name).rename(columns={"p_fake": name})
        table = df if table is None else table.merge(df[["split", "path", name]], on=["split", "path"], how="inner")
    if table is None or table.empty:
        raise ValueError(f"no predictions found for {dataset}: train the models first")
    return table.reset_index(drop=True)


def available_members(dataset: str, members=IMAGE_MODELS) -> list[str]:
    folder = models_dir(dataset)
    return [m for m in members if (folder / f"{m}.h5").exists() and (folder / f"{m}.predictions.csv").exists()]


def split_crops(dataset: str, split: str, size: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The prepared crops of one split (``"train"``, ``"valid"``, ``"test"``) of ``dataset``
    at ``size`` px, their labels and manifest rows."""
    manifest = load_manifest(data_dir(dataset) / "manifest.csv")
    rows = manifest[manifest.split == split].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"{dataset} has no {split!r} rows in its manifest")
    return load_images(rows.path.tolist(), size), rows.label.to_numpy(np.int64), rows


def crops_in_order(dataset: str, split: str, paths, size: int) -> np.ndarray:
    """The prepared crops of ``split`` at ``size`` px in the order of ``paths`` (the crop
    paths of a predictions table)."""
    images, _labels, rows = split_crops(dataset, split, size)
    position = pd.Series(np.arange(len(rows)), index=rows.path.to_numpy())
    order = position.reindex(np.asarray(paths))
    if order.isna().any():
        raise ValueError(f"{int(order.isna().sum())} {split} crop(s) of the predictions are not in {dataset}'s "
                         f"manifest, e.g. {order.index[order.isna()][0]}: re-run the member notebooks")
    return images[order.to_numpy(np.int64)]


def corrupted_member_scores(models: dict, images: np.ndarray, n_copies: int, seed: int = 0):
    """Member scores of ``n_copies`` seeded corrupted copies of ``images`` (see
    :func:`corrupted_copies`): an ``(n_copies * N, n_models)`` matrix and, per row, the
    position of its original in ``images``."""
    copies, info = corrupted_copies(images, n_copies, seed=seed)
    return score_images(models, copies), info["source"].to_numpy(np.int64)


def with_copies(P, y, row_ids, P_copies, source):
    """The fit rows ``(P, y, row_ids)`` followed by the copies' rows: each copy takes the
    label and the row id of its original (``source``: positions in ``P``), so the leakage
    check still covers what was fit on it."""
    source = np.asarray(source, dtype=np.int64)
    if len(P_copies) != len(source):
        raise ValueError(f"{len(P_copies)} copies but {len(source)} source positions")
    return np.vstack([P, P_copies]), np.concatenate([y, y[source]]), np.concatenate([row_ids, row_ids[source]])


def test_split(dataset: str, size: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The prepared test crops of ``dataset`` at ``size`` px, their labels and rows."""
    return split_crops(dataset, "test", size)


def prepared_datasets() -> list[str]:
    """Datasets with a prepared manifest under data/."""
    root = data_dir("x").parent
    return sorted(p.parent.name for p in root.glob("*/manifest.csv"))


def trained_datasets() -> list[str]:
    root = models_dir("x").parent
    return sorted(p.parent.name for p in root.glob("*/bundle.json")) if root.exists() else []


def cross_dataset_matrix(seed: int = 0) -> pd.DataFrame:
    """Rows: the dataset the ensemble was trained on; columns: the test split it is scored
    on; cells: ROC-AUC of that dataset's saved bundle (calibrated ensemble)."""
    rows = []
    for train_ds in trained_datasets():
        bundle = EnsembleBundle.load(models_dir(train_ds))
        models = load_members(train_ds, bundle.member_names)
        for test_ds in prepared_datasets():
            size = max(s for _m, s in models.values())
            try:
                x, y, _ = test_split(test_ds, size)
            except (FileNotFoundError, ValueError):
                continue
            if len(np.unique(y)) < 2:
                continue
            p = bundle.predict(score_images(models, x))
            rows.append({"trained_on": train_ds, "tested_on": test_ds, "auc": roc_auc(y, p), "n_test": len(y)})
    return pd.DataFrame(rows, columns=["trained_on", "tested_on", "auc", "n_test"])


class EnsembleStudy:
    """Fits every ensemble and calibrator on validation predictions only, scores everything
    on test, picks the ensemble with the lowest validation log loss and saves it as the
    bundle the CLI and the app load (``models/<dataset>/bundle.json``).

    With ``robust_copies`` > 0 the ensembles and calibrators are fit on the clean validation
    rows and that many corrupted copies of each (:func:`corrupted_member_scores`), so a
    combination that trusts a member which breaks under JPEG, blur, resizing or noise costs
    validation log loss; the uncertain band is still chosen on the clean validation rows."""

    def __init__(self, dataset: str, members=IMAGE_MODELS, target_accuracy: float = 0.95,
                 n_boot: int = 1000, seed: int = 0, robust_copies: int = ROBUST_COPIES):
        self.dataset = dataset
        self.seed = int(seed)
        self.members = [m for m in members if m in available_members(dataset, members)]
        if not self.members:
            raise FileNotFoundError(f"no trained models in {models_dir(dataset)} — run notebooks 02-04 first")
        table = member_predictions(dataset, self.members)
        self.table = table
        valid_idx = np.flatnonzero(table.split.to_numpy() == "valid")
        test_idx = np.flatnonzero(table.split.to_numpy() == "test")
        self.valid_idx, self.test_idx = valid_idx, test_idx
        P = table[self.members].to_numpy(np.float64)
        self.P_valid_ = P[valid_idx]  # the clean validation scores (the members' score ranges are fit on them)
        y = table.label.to_numpy(np.int64)
        self.y_valid, self.y_test = y[valid_idx], y[test_idx]
        P_fit, y_fit, fit_idx = P[valid_idx], y[valid_idx], valid_idx
        self.robust_copies = int(robust_copies)
        if self.robust_copies:
            P_fit, y_fit, fit_idx = with_copies(P_fit, y_fit, fit_idx, *corrupted_member_scores(
                self.models_, self.valid_crops_, self.robust_copies, seed))
        self.fitted = fit_ensembles(P_fit, y_fit, fit_idx, self.members)
        # what scores a face some members are left out for (EnsembleBundle.predict)
        self.subsets = fit_subset_ensembles(P_fit, y_fit, fit_idx, self.members)
        # the guarantee the report relies on: nothing was fit on a test row
        assert_no_leakage(test_idx, self.fitted, [pair for _kind, *pair in self.subsets.values()])
        self.best, self.valid_losses = choose_best(self.fitted, P_fit, y_fit)
        self.raw_test = {m: P[test_idx, j] for j, m in enumerate(self.members)}
        self.calibrated_test = {name: cal.transform(ens.predict(P[test_idx])) for name, (ens, cal) in self.fitted.items()}
        self.uncalibrated_test = {name: ens.predict(P[test_idx]) for name, (ens, _cal) in self.fitted.items()}
        best_ens, best_cal = self.fitted[self.best]
        p_valid_best = best_cal.transform(best_ens.predict(P[valid_idx]))
        self.operating_point = choose_operating_point(y[valid_idx], p_valid_best, target_accuracy=target_accuracy)
        self.metrics = {}
        for name, p in self.calibrated_test.items():
            label = name if name not in self.members else f"{name} (calibrated)"
            self.metrics[label] = compute_metrics(self.y_test, p, threshold=0.5, n_boot=n_boot, seed=seed)
        for m in self.members:
            self.metrics[f"{m} (raw)"] = compute_metrics(self.y_test, self.raw_test[m], n_boot=n_boot, seed=seed)
        self.metrics[f"{self.best} (raw, uncalibrated)"] = compute_metrics(
            self.y_test, self.uncalibrated_test[self.best], n_boot=n_boot, seed=seed)
        # what ECE a perfectly calibrated model with the same scores would show on this many
        # test rows: a measured ECE is only meaningful next to it (see ece_if_calibrated)
        scores = {**{(n if n not in self.members else f"{n} (calibrated)"): p for n, p in self.calibrated_test.items()},
                  **{f"{m} (raw)": p for m, p in self.raw_test.items()},
                  f"{self.best} (raw, uncalibrated)": self.uncalibrated_test[self.best]}
        self.ece_floor = {k: ece_if_calibrated(p, seed=seed) for k, p in scores.items()}

    @functools.cached_property
    def models_(self) -> dict:
        """The members, loaded once (the robust fit and the sharpness check both score them)."""
        return load_members(self.dataset, self.members)

    @functools.cached_property
    def valid_crops_(self) -> np.ndarray:
        """The validation crops in the order of ``y_valid``, at the largest member's input size."""
        return crops_in_order(self.dataset, "valid", self.table.path[self.valid_idx],
                              max(s for _m, s in self.models_.values()))

    def valid_photo_files(self) -> list[str]:
        """The source photos of the validation crops (video frames left out), once each."""
        manifest = load_manifest(data_dir(self.dataset) / "manifest.csv")
        rows = manifest[manifest.path.isin(set(self.table.path[self.valid_idx])) & (manifest.frame < 0)]
        return rows.source_path.drop_duplicates().tolist()

    def best_single(self) -> str:
        """The member with the highest raw test ROC-AUC (what the ensemble must beat)."""
        return max(self.members, key=lambda m: self.metrics[f"{m} (raw)"]["roc_auc"]["value"] or 0)

    def save_bundle(self):
        folder = models_dir(self.dataset)
        members = []
        for m in self.members:
            from dfd.models import read_card

            card = read_card(folder / f"{m}.h5")
            members.append(MemberEntry.from_file(folder, m, f"{m}.h5", int(card["input_size"])))
        ens, cal = self.fitted[self.best]
        scorers, worst_ratio = fit_member_ood(self.dataset, self.members)  # each member's out-of-domain scorer
        member_cals = {m: self.fitted[m][1] for m in self.members}
        op = self.operating_point
        bundle = EnsembleBundle(
            members=members, ensemble=ens, calibrator=cal, member_calibrators=member_cals,
            threshold=op.threshold, uncertain_band=op.band, dataset=self.dataset, ensemble_name=self.best,
            ood=scorers, ood_worst_ratio=worst_ratio, ood_combine=SAVED_OOD_COMBINE,
            subset_ensembles=self.subsets,
            score_ranges=fit_score_ranges(self.P_valid_, self.members),
            extra={"operating_point": op.to_dict(),
                   "test_metrics": {k: v["value"] for k, v in self.metrics[
                       self.best if self.best not in self.members else f"{self.best} (calibrated)"].items()}},
        )
        # faces softer than validation: "uncertain" where this bundle was measured wrong on them
        bundle.sharpness = fit_sharpness_check(bundle, self.models_, self.valid_crops_, self.y_valid,
                                               op.target_accuracy, seed=self.seed)
        # photos saved at JPEG qualities where it was measured wrong on its validation faces: "uncertain"
        bundle.compression = fit_compression_check(bundle, self.models_, self.valid_crops_, self.y_valid,
                                                   op.target_accuracy, valid_files=self.valid_photo_files())
        bundle.save(folder)
        return bundle
