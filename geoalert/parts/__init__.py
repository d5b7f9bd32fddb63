"""The parts a zone resolves into, each computed by its own module.

A part module defines ``PART``, a :class:`Part`: ``load`` builds its index once when the
engine opens a world, ``resolve`` computes the part for one zone and returns an object whose
``to_dict()`` gives the part's keys of :meth:`geoalert.engine.Resolution.to_dict`. Parts
listed in ``requires`` are computed first and handed over in ``done``.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from geoalert.settings import Settings
from geoalert.zones import Zone

__all__ = ["PARTS", "Part", "PartResult", "Request", "SharedReads", "load_part"]

#: Part name -> module defining ``PART``, in the order of the result's keys.
PARTS: dict[str, str] = {
    "cells": "geoalert.parts.cells",
    "addresses": "geoalert.parts.addresses",
    "contacts": "geoalert.parts.contacts",
    "population": "geoalert.parts.population",
}


@dataclass(frozen=True)
class Request:
    """The options of one resolve call, shared by every part.

    Attributes
    ----------
    operators : tuple of str, optional
        Operator MNCs to keep (checked against the world); all when ``None``.
    at : datetime, optional
        Time asked for (population).
    policy : str or mapping of str to str
        Cell selection policy, or one per operator MNC.
    message : str, optional
        Message text (costs).
    """

    operators: tuple[str, ...] | None = None
    at: datetime | str | None = None
    policy: str | Mapping[str, str] = "intersects"
    message: str | None = None


class PartResult(Protocol):
    """What a part's ``resolve`` returns."""

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class Part:
    """One part of a resolution.

    Attributes
    ----------
    name : str
        Key in ``include``.
    load : callable (store, settings) -> index
        Builds the part's index from a store when the engine opens.
    resolve : callable (index, zone, request, done) -> PartResult
        Computes the part for one zone; ``done`` maps required part names to their results.
    requires : tuple of str
        Parts computed before this one.
    reads : tuple of str
        Reference layers of the store ``load`` may read (``"cells"`` for ``read_cells``...),
        shared with the other parts through :class:`SharedReads`.
    """

    name: str
    load: Callable[[Any, Settings], Any]
    resolve: Callable[[Any, Zone, Request, Mapping[str, PartResult]], PartResult]
    requires: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()


class SharedReads:
    """A store whose reference layers are read at most once while an engine opens.

    Stands for the store in each part's ``load`` (every other attribute is the store's). A
    layer is kept only while two or more readers that declared it (:attr:`Part.reads`) are
    still to come, and dropped when the last of them is done: no copy outlives the open.

    Parameters
    ----------
    store : geodata.stores.BaseStore
    reads : iterable of tuple of str
        The layers each reader to come declares, one tuple per reader.
    """

    def __init__(self, store: Any, reads: Iterable[tuple[str, ...]]):
        self._store = store
        self._pending = Counter(layer for declared in reads for layer in declared)
        self._frames: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def read_areas(self):
        return self._read("areas")

    def read_cells(self):
        return self._read("cells")

    def read_addresses(self):
        return self._read("addresses")

    def read_presence(self):
        return self._read("presence")

    def done(self, reads: tuple[str, ...]) -> None:
        """A reader that declared ``reads`` is done: drop the layers no one else awaits."""
        for layer in reads:
            self._pending[layer] -= 1
            if self._pending[layer] <= 0:
                self._frames.pop(layer, None)

    def _read(self, layer: str):
        frame = self._frames.get(layer)
        if frame is None:
            frame = getattr(self._store, f"read_{layer}")()
            if self._pending[layer] < 2:
                return frame
            self._frames[layer] = frame
        return frame.copy(deep=False)  # readers may add columns; values are shared


def load_part(name: str) -> Part:
    """The :class:`Part` registered under ``name`` in :data:`PARTS`."""
    return importlib.import_module(PARTS[name]).PART
