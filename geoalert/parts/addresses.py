"""The ``addresses`` part: the registered addresses covered by the zone.

``to_dict()`` gives ``"addresses": {"count", "by_municipality"}``, equal to PostGIS
``ST_Covers(zone, point)`` on the zone's geometry (points on the boundary count). The
selection stays ranges and positions in the :class:`~geodata.address_index.AddressIndex`;
the ``contacts`` part starts from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from geoalert.parts import Part, PartResult, Request
from geoalert.settings import Settings
from geoalert.zones import Zone
from geodata.address_index import AddressIndex, AddressSelection, addresses_to_dict

__all__ = ["PART", "AddressesResult", "address_index"]

_INDEXES: WeakKeyDictionary = WeakKeyDictionary()


def address_index(store) -> AddressIndex:
    """The address index of a store, built on first use and shared by the parts using it."""
    index = _INDEXES.get(store)
    if index is None:
        index = _INDEXES[store] = AddressIndex.from_frame(store.read_addresses())
    return index


@dataclass(frozen=True, eq=False)
class AddressesResult:
    """The addresses covered by one zone."""

    selection: AddressSelection

    def to_dict(self) -> dict:
        """``{"addresses": {"count", "by_municipality"}}`` (plain JSON types)."""
        return {"addresses": addresses_to_dict(self.selection)}


def load(store, settings: Settings) -> AddressIndex:
    """Sort the store's addresses into the index (once, when the engine opens)."""
    return address_index(store)


def resolve(
    index: AddressIndex, zone: Zone, request: Request, done: Mapping[str, PartResult]
) -> AddressesResult:
    """Select the addresses the zone covers."""
    return AddressesResult(index.select(zone.geometry))


PART = Part("addresses", load, resolve, reads=("addresses",))
