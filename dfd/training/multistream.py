"""Training hooks of the ``multistream`` family (:mod:`dfd.models.multistream`).

With ``fit_readouts`` the linear streams' readouts are solved exactly (L-BFGS) on the
un-augmented training faces and frozen before any gradient step; gradient descent then
trains the conv trunk alone as a classifier of its own, and afterwards its logit is weighed
against the readouts' on the validation split (:mod:`dfd.models.readouts` says why not on
their residual). Evaluation reports what each stream's logit is worth alone
(``stream_roc_auc`` in the model card)."""

from __future__ import annotations

import time

import numpy as np

from dfd.models.readouts import fit_linear_readouts, predict_streams, trunk_classifier, weigh_trunk
from dfd.training.hooks import FamilyHooks


class MultiStreamHooks(FamilyHooks):
    def __init__(self, config: dict, verbose: int = 0):
        super().__init__(config, verbose)
        self.readouts = None  # what fit_linear_readouts and weigh_trunk measured
        self.streams = {}  # split -> stream_roc_auc

    def prepare(self, model, images, labels, started):
        if not self.config.get("fit_readouts"):
            return model
        self.readouts = fit_linear_readouts(model, images, labels)
        self.readouts["seconds"] = round(time.time() - started, 1)
        if self.verbose:
            print(f"fitted the {', '.join(self.readouts['streams'])} readouts by L-BFGS "
                  f"({self.readouts['features']} features, training ROC-AUC {self.readouts['train_roc_auc']:.3f}); "
                  "training the trunk alone")
        return trunk_classifier(model)

    def after_fit(self, model, images, labels):
        if self.readouts is None:
            return
        self.readouts.update(weigh_trunk(model, images, labels))
        if self.verbose:
            print(f"trunk weighed {self.readouts['trunk_weight']:.2f} against the readouts (validation log loss)")

    def predict(self, model, split, images, labels):
        p_fake, logits = predict_streams(model, images, batch_size=64)  # one forward pass for both
        if logits:
            self.streams[split] = stream_roc_auc(labels, logits)
        return p_fake

    def card_extras(self):
        return {**({"fitted_readouts": self.readouts} if self.readouts else {}),
                **({"stream_roc_auc": self.streams} if self.streams else {})}


def stream_roc_auc(labels, logits: dict[str, np.ndarray]) -> dict[str, float]:
    """ROC-AUC of each stream's logit alone, of the streams other than the trunk together
    (``"without trunk"``) and of all of them (the model's own score)."""
    from sklearn.metrics import roc_auc_score

    table = {name: float(roc_auc_score(labels, v)) for name, v in logits.items()}
    others = [v for name, v in logits.items() if name != "trunk"]
    if "trunk" in logits and others:
        table["without trunk"] = float(roc_auc_score(labels, sum(others)))
    table["all"] = float(roc_auc_score(labels, sum(logits.values())))
    return {k: round(v, 4) for k, v in table.items()}
