"""A running engine sees contacts registered, updated and unregistered after it opened.

On both stores (fixture ``store``: a fresh copy of the tiny world per test and backend); the
engine under test is opened beside it and the registrations go through the store, as they
would from another process.
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from geoalert import Engine
from geoalert.settings import Settings
from geodata.contact_index import CHANNELS
from geodata.stores.registration import LANGUAGES

ZONES = [
    {"area": "21004"},
    {"area": "21001"},
    {
        "type": "Polygon",
        "coordinates": [[[4.33, 50.81], [4.46, 50.81], [4.46, 50.85], [4.33, 50.81]]],
    },
    {"circle": {"lon": 4.40, "lat": 50.83, "radius_m": 2_500}},
]
GROUPS = ["nh-21004", "resp-04000"]


def open_engine(store, tiny_world: Path, **settings: object) -> Engine:
    """An engine (contacts part) on the same data as ``store``."""
    if store.name == "embedded":
        return Engine.open(store.data_dir, include=["contacts"], settings=Settings(**settings))
    url = store.engine.url.render_as_string(hide_password=False)
    return Engine.open(tiny_world, url, include=["contacts"], settings=Settings(**settings))


def contacts_of(engine: Engine, zone: object) -> dict:
    return engine.resolve(zone, include=["contacts"]).to_dict()["contacts"]


def targets_of(result) -> list[tuple[int, str, str]]:
    """The target list as (contact id, channel, language) rows, in the order streamed."""
    rows = []
    for batch in result.targets(batch_size=7):
        table = batch.to_pydict()
        rows += list(zip(table["contact_id"], table["channel"], table["language"], strict=True))
    return rows


def addresses_in(store, municipality: str) -> np.ndarray:
    """Ids of the municipality's addresses off its border (meridian 4.40)."""
    frame = store.read_addresses()
    inside = (frame["municipality"] == municipality) & (frame.geometry.x != 4.40)
    return frame["address_id"].to_numpy()[inside.to_numpy()]


def plus(counts: dict, **more: int) -> dict:
    return {k: counts.get(k, 0) + more.get(k, 0) for k in {*counts, *more}}


def drop_zeros(counts: dict) -> dict:
    return {k: v for k, v in counts.items() if v}


def test_register_update_unregister_are_seen_by_the_next_resolve(
    store, tiny_world: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = open_engine(store, tiny_world, contacts_refresh_s=0)
    zone = {"area": "21004"}
    before = contacts_of(engine, zone)
    home, work = addresses_in(store, "21004")[:2]
    phone, email = "+32470980001", "fresh.person@example.net"

    # Registered at two addresses of the zone: counted once per channel, streamed once.
    new = store.register_contact(
        phone=phone, sms=True, voice=True, email=email, language="de",
        addresses=[("home", int(home)), ("work", int(work))],
    )  # fmt: skip
    now = contacts_of(engine, zone)
    assert now["count"] == before["count"] + 1
    assert now["by_channel"] == plus(before["by_channel"], sms=1, voice=1, email=1)
    assert now["by_language"] == plus(before["by_language"], de=1)
    assert now["cost_eur"] == pytest.approx(before["cost_eur"] + 2 * 0.055)
    mine = targets_of(engine.resolve(zone, include=["contacts"])["contacts"])
    assert [t for t in mine if t[0] == new.contact_id] == [
        (new.contact_id, channel, "de") for channel in CHANNELS
    ]
    assert [t[0] for t in mine] == sorted(t[0] for t in mine)

    # Updated: the counts follow the channels and the language.
    store.update_contact(new.contact_id, voice=False, email=None, language="fr")
    now = contacts_of(engine, zone)
    assert now["count"] == before["count"] + 1
    assert now["by_channel"] == plus(before["by_channel"], sms=1)
    assert now["by_language"] == plus(before["by_language"], fr=1)

    # Moved out of the zone, then unregistered: gone.
    store.update_contact(new.contact_id, addresses=[("home", int(addresses_in(store, "21001")[0]))])
    assert contacts_of(engine, zone) == before
    assert (
        contacts_of(engine, {"area": "21001"})["count"]
        == contacts_of(open_engine(store, tiny_world), {"area": "21001"})["count"]
    )
    store.unregister_contact(new.contact_id)
    assert contacts_of(engine, zone) == before

    # A person of the base index and of a group unregisters: gone from zones and groups.
    group = engine.group("nh-21004")
    leaving = int(group.contact_ids[0])
    zones_before = [engine.resolve(z, include=["contacts"])["contacts"].selection for z in ZONES]
    group_before = engine.resolve_groups(["nh-21004"]).to_dict()
    store.unregister_contact(leaving)
    assert leaving not in engine.group("nh-21004").contact_ids
    groups_now = engine.resolve_groups(["nh-21004"])
    assert groups_now.to_dict()["groups"][0]["members"] == group_before["groups"][0]["members"] - 1
    assert groups_now.to_dict()["contacts"]["count"] == group_before["contacts"]["count"] - 1
    assert leaving not in {t[0] for t in targets_of(groups_now)}
    for i, z in enumerate(ZONES):
        res = engine.resolve(z, include=["contacts"])["contacts"]
        assert leaving not in {t[0] for t in targets_of(res)}
        was_there = leaving in zones_before[i].contact_ids()
        assert res.selection.count == zones_before[i].count - was_there
    fresh = open_engine(store, tiny_world)
    for z in ZONES:
        assert contacts_of(engine, z) == contacts_of(fresh, z)

    text = caplog.text
    assert phone not in text and phone[3:] not in text and email not in text


def random_registration(rng: np.random.Generator, address_ids: np.ndarray, k: int) -> dict:
    """Valid registration values: a new phone (+3247098xxxx) and/or e-mail, 1-3 addresses."""
    has_phone, has_email = [(True, False), (False, True), (True, True)][rng.integers(3)]
    sms = bool(rng.integers(2)) if has_phone else False
    return {
        "phone": f"+324709{k:05d}" if has_phone else None,
        "sms": sms,
        "voice": (not sms or bool(rng.integers(2))) if has_phone else False,
        "email": f"random{k}@example.net" if has_email else None,
        "language": str(rng.choice(LANGUAGES)),
        "addresses": [
            ("home", int(a))
            for a in rng.choice(address_ids, int(rng.integers(1, 4)), replace=False)
        ],
    }


def assert_same(engine: Engine, fresh: Engine) -> None:
    for zone in ZONES:
        got = engine.resolve(zone, include=["contacts"])["contacts"]
        want = fresh.resolve(zone, include=["contacts"])["contacts"]
        assert got.to_dict() == want.to_dict(), zone
        assert targets_of(got) == targets_of(want), zone
        assert np.array_equal(got.selection.contact_ids(), want.selection.contact_ids())
    got, want = engine.resolve_groups(GROUPS), fresh.resolve_groups(GROUPS)
    assert got.to_dict() == want.to_dict()
    assert targets_of(got) == targets_of(want)
    for group in GROUPS:
        assert np.array_equal(engine.group(group).contact_ids, fresh.group(group).contact_ids)


@pytest.mark.parametrize("seed", [0, 1])
def test_after_random_changes_the_overlay_equals_a_fresh_engine(
    store, tiny_world: Path, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    overlay = open_engine(store, tiny_world, contacts_refresh_s=0)
    rereading = open_engine(store, tiny_world, contacts_refresh_s=0, contacts_overlay_max=3)
    address_ids = store.read_addresses()["address_id"].to_numpy()
    registered = [int(i) for i in store.read_contacts()["contact_id"]]
    k = 0
    for step in range(24):
        action = rng.choice(["register", "update", "unregister", "import"], p=[0.4, 0.3, 0.2, 0.1])
        if action == "register" or not registered:
            k += 1
            registered.append(
                store.register_contact(**random_registration(rng, address_ids, k)).contact_id
            )
        elif action == "import":
            rows = []
            for _ in range(3):
                k += 1
                values = random_registration(rng, address_ids, k)
                rows.append(
                    f"{values['phone'] or ''},{values['sms']},{values['voice']},"
                    f"{values['email'] or ''},{values['language']},{values['addresses'][0][1]}"
                )
            report = store.import_contacts(
                io.StringIO("phone,sms,voice,email,language,address_1\n" + "\n".join(rows) + "\n")
            )
            assert not report.problems
            registered += [int(i) for i in report.contact_ids]
        elif action == "update":
            contact_id = registered[rng.integers(len(registered))]
            k += 1
            values = random_registration(rng, address_ids, k)
            current = store.get_contact(contact_id)
            changes = {"language": values["language"], "addresses": values["addresses"]}
            if current.phone is not None:
                changes["sms"], changes["voice"] = True, bool(rng.integers(2))
            elif current.email is None:  # the world has people with neither (unreachable)
                changes["email"] = f"updated{k}@example.net"
            store.update_contact(contact_id, **changes)
        else:
            contact_id = registered.pop(rng.integers(len(registered)))
            store.unregister_contact(contact_id)
        if step % 6 == 5:
            fresh = open_engine(store, tiny_world)
            assert_same(overlay, fresh)
            assert_same(rereading, fresh)
    assert overlay.indexes["contacts"].index.overlay_size > 3
    assert rereading.indexes["contacts"].index.overlay_size <= 3


class CountingStore:
    """A store that counts the change checks asked of it."""

    def __init__(self, store) -> None:
        self.store, self.checks = store, 0

    def contacts_version(self) -> int:
        self.checks += 1
        return self.store.contacts_version()

    def __getattr__(self, name: str):
        return getattr(self.store, name)


def test_the_store_is_checked_only_when_due(store, tiny_world: Path) -> None:
    engine = open_engine(store, tiny_world, contacts_refresh_s=5.0)
    contacts = engine.indexes["contacts"]
    now = [1_000.0]
    contacts.clock = lambda: now[0]
    contacts.store = counting = CountingStore(contacts.store)
    contacts.refresh()
    assert counting.checks == 1
    zone = {"area": "21004"}
    before = contacts_of(engine, zone)
    store.register_contact(
        email="later@example.net",
        language="en",
        addresses=[("home", int(addresses_in(store, "21004")[0]))],
    )
    for t in (1_000.0, 1_002.0, 1_004.99):
        now[0] = t
        for _ in range(20):
            assert contacts_of(engine, zone) == before
    assert counting.checks == 1  # no query of the store between two checks
    now[0] = 1_005.0
    assert contacts_of(engine, zone)["count"] == before["count"] + 1
    assert counting.checks == 2
    assert contacts_of(engine, zone)["count"] == before["count"] + 1
    assert counting.checks == 2


def test_a_store_that_cannot_be_read_keeps_the_register(store, tiny_world: Path, caplog) -> None:
    engine = open_engine(store, tiny_world, contacts_refresh_s=0)
    contacts = engine.indexes["contacts"]
    zone = {"area": "21004"}
    before = contacts_of(engine, zone)

    class Broken(CountingStore):
        def read_contact_changes(self, since: int):
            raise OSError("disk gone")

    contacts.store = Broken(contacts.store)
    store.register_contact(
        email="again@example.net",
        language="nl",
        addresses=[("home", int(addresses_in(store, "21004")[0]))],
    )
    assert contacts_of(engine, zone) == before
    assert "OSError" in caplog.text and "again@example.net" not in caplog.text
    contacts.store = contacts.store.store
    assert contacts_of(engine, zone)["count"] == before["count"] + 1


def test_resolves_from_several_threads_during_registrations(store, tiny_world: Path) -> None:
    engine = open_engine(store, tiny_world, contacts_refresh_s=0, contacts_overlay_max=4)
    zone = {"area": "21004"}
    first = contacts_of(engine, zone)["count"]
    inside = addresses_in(store, "21004")
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def resolving() -> None:
        try:
            while not stop.is_set():
                res = engine.resolve(zone, include=["contacts"])["contacts"]
                assert res.selection.count == len(set(res.selection.contact_ids()))
                seen.append(res.selection.count)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=resolving) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for k in range(8):
            store.register_contact(
                email=f"t{k}@example.net", language="nl", addresses=[("home", int(inside[k]))]
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors
    assert seen and all(first <= n <= first + 8 for n in seen)
    assert contacts_of(engine, zone)["count"] == first + 8
