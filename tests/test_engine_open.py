"""Opening a world: every reference layer is read from the store once, whoever needs it."""

from __future__ import annotations

import gc
import weakref
from collections import Counter

import numpy as np
import shapely

import geoalert
from geoalert.parts import SharedReads
from geoalert.population import service
from geodata.stores.base import BaseStore

LAYERS = ("areas", "cells", "addresses", "presence")


def test_each_layer_is_read_once_per_open(tiny_world, monkeypatch):
    reads: Counter = Counter()
    for layer in LAYERS:
        method = getattr(BaseStore, f"read_{layer}")

        def counted(self, _method=method, _layer=layer):
            reads[_layer] += 1
            return _method(self)

        monkeypatch.setattr(BaseStore, f"read_{layer}", counted)
    alone = geoalert.Engine.open(tiny_world, include=["population"])
    # As from a database store: the population part takes address points from the store.
    monkeypatch.setattr(
        service,
        "_address_xy",
        lambda store: shapely.get_coordinates(np.asarray(store.read_addresses().geometry.values)),
    )
    reads.clear()
    engine = geoalert.Engine.open(tiny_world)
    assert reads == Counter(dict.fromkeys(LAYERS, 1))
    zone = {"area": next(iter(engine.areas))}
    assert (
        engine.resolve(zone)["population"].to_dict() == alone.resolve(zone)["population"].to_dict()
    )


def test_shared_layers_are_dropped_after_their_last_reader(tiny_world):
    store = geoalert.Engine.open(tiny_world, include=["cells"]).store
    shared = SharedReads(store, [("cells",), ("cells", "areas"), ("areas",)])
    first = shared.read_cells()
    assert shared.read_cells()["cell_id"].tolist() == first["cell_id"].tolist()
    assert shared.read_areas() is not shared.read_areas()  # one reader at a time: not kept
    kept = weakref.ref(shared._frames["cells"])
    shared.done(("cells",))
    assert kept() is not None  # a declared reader is still to come
    shared.done(("cells", "areas"))
    del first
    gc.collect()
    assert kept() is None
