"""``StreamDropout``: training-only dropout of one stream's whole logit ("modality dropout")."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dfd")
class StreamDropout(keras.layers.Layer):
    """Training only: zero one stream's logit for a random ``rate`` of the samples (no
    rescaling; "modality dropout"), so the other stream has to classify those faces on its
    own and one fast-fitting stream cannot carry the whole training loss. Identity at
    inference."""

    def __init__(self, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, logit, training=None):
        if not training or self.rate == 0.0:
            return logit
        kept = keras.random.dropout(ops.ones_like(logit), self.rate, seed=self.seed_generator)
        return logit * ops.cast(kept > 0, logit.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
