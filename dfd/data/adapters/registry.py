"""The adapter registry: each adapter module registers its loader with
:func:`register_adapter`; :func:`get_adapter` looks one up by dataset name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dfd.data.items import MediaItem
from dfd.errors import DfdError


@dataclass(frozen=True)
class Adapter:
    name: str
    load: Callable[[Path], list[MediaItem]]
    face_mode: str  # "detect" or "whole" (images already are aligned face crops)
    image_size: int  # default crop size: "whole" datasets keep their native resolution
    description: str


_ADAPTERS: dict[str, Adapter] = {}


def register_adapter(name: str, face_mode: str = "detect", image_size: int = 128, description: str = ""):
    def wrap(fn: Callable[[Path], list[MediaItem]]):
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        _ADAPTERS[name] = Adapter(name, fn, face_mode, image_size, doc)
        return fn

    return wrap


def available_datasets() -> list[str]:
    return sorted(_ADAPTERS)


def get_adapter(name: str) -> Adapter:
    try:
        return _ADAPTERS[name]
    except KeyError:
        raise DfdError(f"unknown dataset adapter {name!r}; available: {', '.join(available_datasets())}") from None
