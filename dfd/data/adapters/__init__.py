"""Dataset adapters, one module per dataset (each dataset's layout quirks in its own file),
registered by name in :mod:`~dfd.data.adapters.registry`: ``dfd-default``
(:mod:`~dfd.data.adapters.dfd_default`), ``faces140k``, ``folder``, ``celebdf`` and ``ffpp``.
Importing this package registers them all."""

from dfd.data.adapters import celebdf, dfd_default, faces140k, ffpp, folder  # noqa: F401  (register)
from dfd.data.adapters.registry import Adapter, available_datasets, get_adapter, register_adapter

__all__ = ["Adapter", "available_datasets", "get_adapter", "register_adapter"]
