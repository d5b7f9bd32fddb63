"""Registration, update, removal and CSV import of contacts, on both stores."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import comparable, count_contacts, world_copy

from geodata.stores import open_store
from geodata.stores.contacts import UnknownContact
from geodata.stores.embedded import STORE_FILE
from geodata.stores.registration import MATCH_RADIUS_M, RegistrationError

HEADER = "phone,sms,voice,email,language,address_1,label_1,address_2,label_2\n"


def csv(*rows: str) -> io.StringIO:
    return io.StringIO(HEADER + "\n".join(rows) + "\n")


def nearest_by_brute_force(world: Path, lon: float, lat: float) -> tuple[int, float]:
    """Nearest address and its distance (m, EPSG:3812), by measuring every address."""
    addresses = gpd.read_parquet(world / "addresses.parquet").to_crs(3812)
    point = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(3812).iloc[0]
    d = addresses.distance(point).to_numpy()
    i = int(np.argmin(d))
    return int(addresses["address_id"].iloc[i]), float(d[i])


# -- register / update / unregister ---------------------------------------------------


def test_register_normalises_and_reads_back(store) -> None:
    contact = store.register_contact(
        phone="0470 99 88 77",
        email="Jane.Doe@Example.ORG",
        voice="yes",
        language="FR",
        addresses=[("home", 1001), ("work", "1002")],
    )
    assert contact.contact_id == 41
    assert contact.phone == "+32470998877"
    assert contact.email == "Jane.Doe@example.org"
    assert (contact.sms, contact.voice, contact.language) == (True, True, "fr")
    assert contact.addresses == (("home", 1001), ("work", 1002))
    assert store.get_contact(41) == contact
    row = store.read_contacts().set_index("contact_id").loc[41]
    assert list(row["address_ids"]) == [1001, 1002] and list(row["address_labels"]) == [
        "home",
        "work",
    ]


def test_foreign_numbers_are_accepted_in_e164(store) -> None:
    contact = store.register_contact(
        phone="+33 6 12 34 56 78", language="en", addresses=[("home", 1003)]
    )
    assert contact.phone == "+33612345678"


def test_location_is_matched_to_the_nearest_address(store, tiny_world: Path) -> None:
    target = store.read_addresses().set_index("address_id").geometry.loc[1200]
    lon, lat = target.x + 0.0001, target.y - 0.0001  # about 13 m away
    want, distance = nearest_by_brute_force(tiny_world, lon, lat)
    assert distance <= MATCH_RADIUS_M
    contact = store.register_contact(
        email="a@example.org", language="nl", addresses=[("school", f"{lon} {lat}")]
    )
    assert contact.addresses == (("school", want),)


@pytest.mark.parametrize(
    ("address", "field", "reason"),
    [
        ((2.35, 48.85), "addresses[0]", "outside the country"),
        (999_999, "addresses[0]", "unknown address id"),
        ("somewhere", "addresses[0]", "neither an address id"),
    ],
)
def test_bad_addresses_are_refused(store, address, field: str, reason: str) -> None:
    before = count_contacts(store)
    with pytest.raises(RegistrationError, match=reason) as err:
        store.register_contact(phone="+32470999002", language="nl", addresses=[("home", address)])
    assert [(p.field) for p in err.value.problems] == [field]
    assert count_contacts(store) == before


def test_far_from_any_address_is_refused(store, tiny_world: Path) -> None:
    # A corner of the country with no address within the radius.
    lon, lat = 4.3001, 50.8599
    _, distance = nearest_by_brute_force(tiny_world, lon, lat)
    if distance <= MATCH_RADIUS_M:
        pytest.skip("the tiny world has an address near the corner")
    with pytest.raises(RegistrationError, match="no known address within"):
        store.register_contact(
            email="b@example.org", language="nl", addresses=[("home", (lon, lat))]
        )


def test_at_most_five_addresses_and_no_repeats(store) -> None:
    with pytest.raises(RegistrationError, match="more than 5"):
        store.register_contact(
            email="c@example.org", language="nl", addresses=[("family", 1000 + i) for i in range(6)]
        )
    with pytest.raises(RegistrationError, match="duplicate address"):
        store.register_contact(
            email="c@example.org", language="nl", addresses=[("home", 1001), ("work", 1001)]
        )
    five = store.register_contact(
        email="c@example.org", language="nl", addresses=[("family", 1000 + i) for i in range(5)]
    )
    assert len(five.addresses) == 5


def test_already_registered_phone_is_a_duplicate(store) -> None:
    taken = store.get_contact(2).phone
    with pytest.raises(RegistrationError, match="already registered") as err:
        store.register_contact(phone=taken, language="nl", addresses=[("home", 1001)])
    assert str(err.value).count("+") == 0


def test_update_changes_fields_and_keeps_the_rest(store) -> None:
    before = store.get_contact(2)
    after = store.update_contact(2, language="de", addresses=[("work", 1010)])
    assert after.phone == before.phone  # its own phone is no duplicate of itself
    assert after.language == "de" and after.addresses == (("work", 1010),)
    cleared = store.update_contact(2, email=None, phone="+32470999003")
    assert cleared.email is None and cleared.phone == "+32470999003"
    with pytest.raises(RegistrationError, match="malformed phone"):
        store.update_contact(2, phone="12")
    assert store.get_contact(2) == cleared
    with pytest.raises(UnknownContact):
        store.update_contact(10_000, language="nl")


def test_unregister_removes_personal_data(store) -> None:
    assert 2 in store.group_members("nh-21004")
    store.unregister_contact(2)
    with pytest.raises(UnknownContact):
        store.get_contact(2)
    assert 2 not in set(store.read_contacts()["contact_id"])
    assert 2 not in store.group_members("nh-21004")
    with pytest.raises(UnknownContact):
        store.unregister_contact(2)


def test_every_write_numbers_its_changes(store) -> None:
    """Register, update, unregister and import number one change per contact; refused writes
    number none; the changes read back are the changed contacts' current registrations."""
    start = store.contacts_version()
    new = store.register_contact(email="n@example.org", language="nl", addresses=[("home", 1001)])
    assert store.contacts_version() == start + 1
    store.update_contact(2, language="de")
    store.unregister_contact(3)
    assert store.contacts_version() == start + 3
    with pytest.raises(RegistrationError):
        store.register_contact(phone="12", language="nl", addresses=[("home", 1001)])
    with pytest.raises(UnknownContact):
        store.unregister_contact(10_000)
    refused = store.import_contacts(csv(*GOOD, BAD[1][0]), mode="all-or-nothing")
    assert refused.imported == 0 and store.contacts_version() == start + 3
    report = store.import_contacts(csv(*GOOD))
    assert store.contacts_version() == start + 3 + len(GOOD)

    changes = store.read_contact_changes(start)
    assert changes.seq == start + 3 + len(GOOD)
    assert list(changes.contact_ids) == sorted([2, 3, new.contact_id, *report.contact_ids])
    everyone = comparable(store.read_contacts())
    want = everyone[everyone["contact_id"].isin(changes.contact_ids)].reset_index(drop=True)
    assert comparable(changes.contacts).equals(want)
    assert 3 not in set(changes.contacts["contact_id"]) and 2 in set(want["contact_id"])
    last = store.read_contact_changes(changes.seq - 1)
    assert list(last.contact_ids) == [report.contact_ids[-1]]
    none = store.read_contact_changes(changes.seq)
    assert none.seq == changes.seq and len(none.contact_ids) == 0 and none.contacts.empty

    # The id of the newest contact, once unregistered, is not given again.
    newest = int(report.contact_ids[-1])
    store.unregister_contact(newest)
    again = store.register_contact(email="m@example.org", language="nl", addresses=[("home", 1001)])
    assert again.contact_id == newest + 1


def test_unregistered_phone_is_gone_from_the_sqlite_file(tiny_world: Path, tmp_path: Path) -> None:
    world = world_copy(tiny_world, tmp_path)
    phone, email = "+32470555123", "private.person@example.net"
    with open_store(world) as store_:
        contact = store_.register_contact(
            phone=phone, email=email, language="nl", addresses=[("home", 1001)]
        )
    assert phone.encode() in (world / STORE_FILE).read_bytes()
    with open_store(world) as store_:
        store_.unregister_contact(contact.contact_id)
    files = b"".join(p.read_bytes() for p in world.glob(f"{STORE_FILE}*"))
    assert phone.encode() not in files and email.encode() not in files


# -- import ----------------------------------------------------------------------------

GOOD = [
    "+32470111001,yes,no,,nl,1001,home,1002,work",
    "0470111002,,,,fr,1003,,,",
    ",,,someone@example.org,en,1004,school,,",
    "+49 30 901820,no,yes,,de,1005,home,,",
]
BAD = [
    ("+32470111001,yes,no,,nl,1006,home,,", "phone", "duplicate of row 2"),
    ("+324701,yes,no,,nl,1007,home,,", "phone", "malformed phone number"),
    (",,,not-an-email,nl,1008,home,,", "email", "malformed e-mail address"),
    ("+32470111009,,,,xx,1009,home,,", "language", "unknown language"),
    ("+32470111010,,,,nl,2.35 48.85,home,,", "address_1", "outside the country"),
    ("+32470111011,,,,nl,999999,home,,", "address_1", "unknown address id"),
    ("+32470120001,,,,nl,1011,home,,", "phone", "already registered"),
    ("+32470111012,,,,nl,1012,attic,,", "label_1", "unknown label"),
    ("+32470111013,maybe,,,nl,1013,home,,", "sms", "not a yes/no value"),
    (",,,,nl,1014,home,,", "phone", "a phone or an e-mail is required"),
]


def test_import_reports_every_bad_row(store) -> None:
    report = store.import_contacts(csv(*GOOD, *(b[0] for b in BAD)), mode="good-rows")
    expected = [(len(GOOD) + 2 + i, field, reason) for i, (_, field, reason) in enumerate(BAD)]
    got = [(p.row, p.field, p.reason) for p in report.problems]
    assert len(got) == len(expected)
    for (row, field, reason), (grow, gfield, greason) in zip(expected, got, strict=True):
        assert (grow, gfield) == (row, field) and reason in greason
    assert report.rows == len(GOOD) + len(BAD) and report.imported == len(GOOD)
    phones = set(store.read_contacts()["phone"].dropna())
    assert {"+32470111001", "+32470111002", "+4930901820"} <= phones


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(store) -> None:
    before = comparable(store.read_contacts())
    report = store.import_contacts(csv(*GOOD, BAD[1][0]), mode="all-or-nothing")
    assert report.imported == 0 and report.bad_rows == [len(GOOD) + 2]
    assert comparable(store.read_contacts()).equals(before)
    clean = store.import_contacts(csv(*GOOD), mode="all-or-nothing")
    assert clean.imported == len(GOOD) and list(clean.contact_ids) == [41, 42, 43, 44]


@pytest.mark.parametrize("mode", ["all-or-nothing", "good-rows"])
def test_failure_mid_import_leaves_the_store_unchanged(store, monkeypatch, mode: str) -> None:
    before = comparable(store.read_contacts())
    version = store.contacts_version()
    calls = []
    insert = type(store)._insert

    def failing(self, conn, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise OSError("disk full")
        return insert(self, conn, batch)

    monkeypatch.setattr(type(store), "_insert", failing)
    monkeypatch.setattr(store, "import_batch_rows", 2)
    with pytest.raises(OSError, match="disk full"):
        store.import_contacts(csv(*GOOD), mode=mode)
    assert calls == [2, 2]  # the first batch was written inside the transaction
    assert comparable(store.read_contacts()).equals(before)
    assert store.contacts_version() == version


def test_bad_header_is_refused_whole(store) -> None:
    with pytest.raises(RegistrationError, match="unknown columns"):
        store.import_contacts(io.StringIO("phone,language,ssn\n+32470111001,nl,1\n"))
    with pytest.raises(ValueError, match="unknown import mode"):
        store.import_contacts(csv(*GOOD), mode="some")


def test_no_personal_data_in_logs_or_errors(store, caplog, capsys) -> None:
    """An import full of bad rows: neither logs, nor the report, nor errors show a phone or e-mail."""
    caplog.set_level(logging.DEBUG)
    rows = [b[0] for b in BAD] + ["0470 11 10 99,,,jane.secret@example.org,xx,999999,home,,"]
    report = store.import_contacts(csv(*GOOD[:1], *rows), mode="all-or-nothing")
    with pytest.raises(RegistrationError) as err:
        store.register_contact(
            phone="+32470120001",
            email="jane.secret@example.org",
            language="xx",
            addresses=[("home", 1)],
        )
    shown = "\n".join(
        [
            caplog.text,
            capsys.readouterr().err,
            str(err.value),
            repr(err.value.problems),
            str(report.to_dict()),
        ]
    )
    assert report.problems and err.value.problems
    secrets = [
        "jane.secret",
        "example.org",
        "not-an-email",
        "470111",
        "470120001",
        "+324701",
        "470 11 10 99",
    ]
    for secret in secrets:
        assert secret not in shown, secret
    assert "+32" not in shown


def test_contact_repr_masks_personal_data(store) -> None:
    contact = store.get_contact(1)
    text = repr(contact)
    assert contact.email not in text and "***" in text
    assert repr(store.get_contact(2)).count("*") >= 5
    assert store.get_contact(2).phone not in repr(store.get_contact(2))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(
        st.one_of(st.none(), st.sampled_from(range(1, len(BAD)))), min_size=1, max_size=12
    ),
    mode=st.sampled_from(["all-or-nothing", "good-rows"]),
)
def test_import_writes_exactly_the_good_rows_or_nothing(
    tiny_world: Path, tmp_path_factory, kinds, mode
) -> None:
    """Any mix of good and bad rows: the report names exactly the bad rows, and the store gets
    the good rows (good-rows) or all rows only when every row is good (all-or-nothing).
    (``BAD[0]`` is bad only after row 2, so it is left out.)"""
    rows = []
    for i, kind in enumerate(kinds):
        rows.append(f"+32471{i:06d},,,,nl,{1000 + i},home,," if kind is None else BAD[kind][0])
    bad = [i + 2 for i, kind in enumerate(kinds) if kind is not None]
    with open_store(world_copy(tiny_world, tmp_path_factory.mktemp("w"))) as store_:
        before = count_contacts(store_)
        report = store_.import_contacts(csv(*rows), mode=mode)
        after = count_contacts(store_)
    assert report.bad_rows == bad
    n_good = len(kinds) - len(bad)
    expected = n_good if (mode == "good-rows" or not bad) else 0
    assert report.imported == expected and after == before + expected
