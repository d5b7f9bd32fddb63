"""The parts a zone resolves into, each computed by its own module.

A part module defines ``PART``, a :class:`Part`: ``load`` builds its index once when the
engine opens a world, ``resolve`` computes the part for one zone and returns an object whose
``to_dict()`` gives the part's keys of :meth:`geoalert.engine.Resolution.to_dict`. Parts
listed in ``requires`` are computed first and handed over in ``done``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from geoalert.settings import Settings
from geoalert.zones import Zone

__all__ = ["PARTS", "Part", "PartResult", "Request", "load_part"]

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
    """

    name: str
    load: Callable[[Any, Settings], Any]
    resolve: Callable[[Any, Zone, Request, Mapping[str, PartResult]], PartResult]
    requires: tuple[str, ...] = ()


def load_part(name: str) -> Part:
    """The :class:`Part` registered under ``name`` in :data:`PARTS`."""
    return importlib.import_module(PARTS[name]).PART
