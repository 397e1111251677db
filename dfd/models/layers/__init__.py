"""Custom layers shared by the dfd detectors, one module per kind.

Every layer is registered under the ``dfd`` package name (``"dfd>ClassName"`` in a saved
file), so importing this package is all a process needs before ``keras.models.load_model``
can rebuild a saved detector (see :mod:`dfd.models.card`). Only ``keras.ops`` is used, no
Lambda layers: a saved model must be loadable with ``safe_mode=True`` and must never carry
executable bytecode.

* :mod:`~dfd.models.layers.high_pass`: ``HighPassResidual`` (fixed SRM residual channels);
* :mod:`~dfd.models.layers.cooccurrence`: ``ResidualCooccurrence`` (residual co-occurrence statistics);
* :mod:`~dfd.models.layers.dictionary`: ``PatchDictionary`` (k-means patch dictionary);
* :mod:`~dfd.models.layers.dct`: ``DctResidualHistogram`` (DCTR histograms of the JPEG grid);
* :mod:`~dfd.models.layers.stream_dropout`: ``StreamDropout`` (one stream's logit dropped in training);
* :mod:`~dfd.models.layers.grouped_conv`: ``GroupedConv2D`` (grouped convolution, fast on CPU).
"""

from dfd.models.layers.cooccurrence import ResidualCooccurrence
from dfd.models.layers.dct import DctResidualHistogram
from dfd.models.layers.dictionary import PatchDictionary
from dfd.models.layers.grouped_conv import GROUPED_IMPLS, GroupedConv2D
from dfd.models.layers.high_pass import SRM_KERNELS, HighPassResidual
from dfd.models.layers.stream_dropout import StreamDropout

__all__ = [
    "GROUPED_IMPLS",
    "SRM_KERNELS",
    "DctResidualHistogram",
    "GroupedConv2D",
    "HighPassResidual",
    "PatchDictionary",
    "ResidualCooccurrence",
    "StreamDropout",
]
