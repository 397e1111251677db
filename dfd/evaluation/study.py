"""The ensemble study of one dataset: the trained members' predictions side by side, every
ensemble and calibrator fit on validation rows and scored on test (:class:`EnsembleStudy`,
which saves the chosen one as the bundle), and the saved bundles scored on every prepared
test split (:func:`cross_dataset_matrix`)."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from dfd.data.prepare import load_manifest
from dfd.evaluation.bundle import EnsembleBundle, MemberEntry
from dfd.evaluation.ensembles import choose_best, fit_ensembles
from dfd.evaluation.leakage import assert_no_leakage
from dfd.metrics import compute_metrics, ece_if_calibrated, roc_auc
from dfd.evaluation.operating_point import choose_operating_point
from dfd.paths import data_dir, models_dir
from dfd.training.input_pipeline import load_images

IMAGE_MODELS = ("cnn", "cnn_lstm", "resnext")


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


def load_members(dataset: str, members=IMAGE_MODELS) -> dict[str, tuple[object, int]]:
    """name -> (keras model, input size) for the trained members of ``dataset``."""
    from dfd.models import load_model

    out = {}
    for name in members:
        path = models_dir(dataset) / f"{name}.h5"
        if path.exists():
            model, card = load_model(path)
            out[name] = (model, int(card.get("input_size") or model.input_shape[1]))
    return out


def score_images(models: dict[str, tuple[object, int]], images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(N, n_models) raw member probabilities for uint8 crops of any size."""
    cols = []
    for _name, (model, size) in models.items():
        x = images if images.shape[1] == size else np.stack(
            [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
        preds = [model.predict_on_batch(x[i : i + batch_size].astype(np.float32)) for i in range(0, len(x), batch_size)]
        cols.append(np.concatenate(preds).reshape(-1))
    return np.stack(cols, axis=1)


def test_split(dataset: str, size: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The prepared test crops of ``dataset`` at ``size`` px, their labels and rows."""
    manifest = load_manifest(data_dir(dataset) / "manifest.csv")
    test = manifest[manifest.split == "test"].reset_index(drop=True)
    return load_images(test.path.tolist(), size), test.label.to_numpy(np.int64), test


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
    bundle the CLI and the app load (``models/<dataset>/bundle.json``)."""

    def __init__(self, dataset: str, members=IMAGE_MODELS, target_accuracy: float = 0.95,
                 n_boot: int = 1000, seed: int = 0):
        self.dataset = dataset
        self.members = [m for m in members if m in available_members(dataset, members)]
        if not self.members:
            raise FileNotFoundError(f"no trained models in {models_dir(dataset)} — run notebooks 02-04 first")
        table = member_predictions(dataset, self.members)
        self.table = table
        valid_idx = np.flatnonzero(table.split.to_numpy() == "valid")
        test_idx = np.flatnonzero(table.split.to_numpy() == "test")
        self.valid_idx, self.test_idx = valid_idx, test_idx
        P = table[self.members].to_numpy(np.float64)
        y = table.label.to_numpy(np.int64)
        self.y_valid, self.y_test = y[valid_idx], y[test_idx]
        self.fitted = fit_ensembles(P[valid_idx], y[valid_idx], valid_idx, self.members)
        # the guarantee the report relies on: nothing was fit on a test row
        assert_no_leakage(test_idx, self.fitted)
        self.best, self.valid_losses = choose_best(self.fitted, P[valid_idx], y[valid_idx])
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
        member_cals = {m: self.fitted[m][1] for m in self.members}
        op = self.operating_point
        bundle = EnsembleBundle(
            members=members, ensemble=ens, calibrator=cal, member_calibrators=member_cals,
            threshold=op.threshold, uncertain_band=op.band, dataset=self.dataset, ensemble_name=self.best,
            extra={"operating_point": op.to_dict(),
                   "test_metrics": {k: v["value"] for k, v in self.metrics[
                       self.best if self.best not in self.members else f"{self.best} (calibrated)"].items()}},
        )
        bundle.save(folder)
        return bundle
