"""Addresses and contacts of a zone: exact against brute force and PostGIS, people counted once.

The address index is checked point by point against ``shapely.covers`` and against PostGIS
``ST_Covers`` on zones made to be hard: boundaries through address points, along quadtree
node edges, with holes and several parts, and on many duplicate points. Contacts and groups
are checked against a plain Python count of people per channel.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import geoalert
from geoalert.groups import GroupNotAllowed, ZonesNotAllowed
from geoalert.jurisdiction import NotPermitted
from geoalert.testing.postgis import create_database, drop_database
from geoalert.zones import ZoneError
from geodata.address_index import AddressIndex
from geodata.contact_index import CHANNELS, ContactIndex, contacts_to_dict
from geodata.stores.groups import UnknownGroup

LEAF = 4  # small leaves: deep trees even on a few thousand points


def synthetic_addresses(seed: int = 0) -> pd.DataFrame:
    """A few thousand addresses: a 7-decimal grid, scattered points, dense clusters and one
    spot with many addresses (deeper than any leaf), in three municipalities."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(4.30 + 0.0013 * np.arange(30), 50.80 + 0.0009 * np.arange(30))
    parts = [
        np.column_stack([gx.ravel(), gy.ravel()]),
        rng.uniform((4.30, 50.80), (4.34, 50.83), (1500, 2)),
        rng.normal((4.31, 50.81), 0.0004, (400, 2)),
        rng.normal((4.325, 50.815), 0.0001, (300, 2)),
        np.repeat([[4.3169, 50.8171]], 25, axis=0),
    ]
    xy = np.round(np.vstack(parts), 7)
    municipality = np.where(
        xy[:, 0] < 4.315, "21004", np.where(xy[:, 1] < 50.815, "21001", "21015")
    )
    return pd.DataFrame(
        {
            "address_id": rng.permutation(len(xy)).astype(np.int64) * 3 + 11,
            "municipality": municipality,
            "lon": xy[:, 0],
            "lat": xy[:, 1],
        }
    )


ADDRESSES = synthetic_addresses()


def synthetic_index() -> AddressIndex:
    """A fresh index of :data:`ADDRESSES`."""
    return AddressIndex(
        ADDRESSES.address_id.to_numpy(),
        ADDRESSES.lon.to_numpy(),
        ADDRESSES.lat.to_numpy(),
        ADDRESSES.municipality.to_numpy(),
        leaf_size=LEAF,
    )


INDEX = synthetic_index()
POINTS = shapely.points(INDEX.lon, INDEX.lat)  # in index order
XY = np.column_stack([INDEX.lon, INDEX.lat])


def node_edges(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges of the index's quadtree at ``level`` (the grid its nodes are cut along)."""
    steps = np.arange((1 << level) + 1)
    return (
        INDEX.x0 + steps * (INDEX.width / (1 << level)),
        INDEX.y0 + steps * (INDEX.height / (1 << level)),
    )


def brute_force(zone) -> np.ndarray:
    """Positions of the addresses the zone covers, one point at a time."""
    return np.flatnonzero(shapely.covers(zone, POINTS))


def polygonal(geometry):
    """The polygonal part of a repaired geometry (None when nothing areal is left)."""
    parts = [p for p in shapely.get_parts(shapely.make_valid(geometry)) if p.area > 0]
    parts = [q for p in parts for q in shapely.get_parts(p) if q.geom_type == "Polygon"]
    return shapely.union_all(parts) if parts else None


def corners(draw, level: int) -> tuple[float, float]:
    ex, ey = node_edges(level)
    return float(ex[draw(st.integers(0, len(ex) - 1))]), float(
        ey[draw(st.integers(0, len(ey) - 1))]
    )


@st.composite
def hard_zones(draw):
    """Zones whose vertices are address points, quadtree node corners or random points;
    boxes along node edges; with holes and several parts."""
    kind = draw(st.sampled_from(["through_points", "node_box", "mixed", "holes", "parts"]))
    level = draw(st.integers(2, 9))

    def vertex():
        source = draw(st.sampled_from(["address", "node", "random"]))
        if source == "address":
            return tuple(XY[draw(st.integers(0, len(XY) - 1))])
        if source == "node":
            return corners(draw, level)
        return (
            draw(st.floats(4.295, 4.345, allow_nan=False)),
            draw(st.floats(50.795, 50.835, allow_nan=False)),
        )

    def node_box():
        (x0, y0), (x1, y1) = corners(draw, level), corners(draw, level)
        return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def polygon(ring):
        piece = polygonal(shapely.Polygon(ring))
        assume(piece is not None)
        return piece

    if kind == "node_box":
        zone = node_box()
    elif kind == "through_points":
        indices = draw(st.lists(st.integers(0, len(XY) - 1), min_size=3, max_size=8))
        zone = polygon([tuple(XY[i]) for i in indices])
    elif kind == "mixed":
        zone = polygon([vertex() for _ in range(draw(st.integers(3, 9)))])
    elif kind == "holes":
        zone = node_box().difference(polygon([vertex() for _ in range(3)]))
    else:
        zone = shapely.union_all([node_box(), polygon([vertex() for _ in range(4)])])
    zone = polygonal(zone)
    assume(zone is not None and not zone.is_empty)
    return zone


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_zones())
def test_select_equals_brute_force_on_hard_zones(zone):
    selection = INDEX.select(shapely.from_wkb(shapely.to_wkb(zone)))
    expected = brute_force(zone)
    assert np.array_equal(selection.positions(), expected)
    assert selection.count == len(expected)
    assert selection.municipality_counts() == dict(
        Counter(INDEX.municipalities[INDEX.municipality_code[expected]].tolist())
    )
    assert set(selection.address_ids()) == set(INDEX.address_id[expected])


def test_boundary_through_points_and_along_node_edges_counts_them():
    ex, ey = node_edges(5)
    along_nodes = shapely.box(ex[3], ey[4], ex[20], ey[25])
    grid = ADDRESSES[["lon", "lat"]].to_numpy()[:900].reshape(30, 30, 2)
    through_grid = shapely.box(grid[6, 4, 0], grid[6, 4, 1], grid[21, 20, 0], grid[21, 20, 1])
    assert shapely.touches(through_grid, POINTS).sum() >= 60  # grid points on all four sides
    for zone in (along_nodes, through_grid):
        assert np.array_equal(INDEX.select(zone).positions(), brute_force(zone))


def test_many_addresses_at_one_spot_and_degenerate_zones():
    spot = shapely.Point(4.3169, 50.8171)
    assert INDEX.select(spot.buffer(1e-7)).count >= 25
    # A zone whose corner is the spot covers all its addresses.
    corner = shapely.box(4.3169, 50.8171, 4.318, 50.818)
    assert np.array_equal(INDEX.select(corner).positions(), brute_force(corner))
    far = shapely.box(10, 10, 11, 11)
    assert INDEX.select(far).count == 0
    everything = shapely.box(0, 0, 10, 60)
    assert INDEX.select(everything).count == len(INDEX)
    assert INDEX.select(shapely.Polygon()).count == 0


def test_zones_needing_more_room_than_the_search_starts_with_are_exact():
    index = synthetic_index()
    index._capacity = 1  # the search's result arrays: too small, grown and searched again
    ring = shapely.box(4.302, 50.802, 4.338, 50.829).difference(
        shapely.Point(4.32, 50.815).buffer(0.005)
    )
    selection = index.select(ring)
    assert len(selection.lo) > 1 and len(selection.points) > 1
    assert np.array_equal(selection.positions(), brute_force(ring))
    assert index._capacity > 1


def test_bad_address_arrays_are_refused_with_counts():
    ids, lon, lat, muni = (
        np.array([1, 2, 3]),
        np.array([4.3, 4.4, np.nan]),
        np.array([50.8, 50.9, 50.7]),
        np.array(["21004", "21004", "21004"], dtype=object),
    )
    with pytest.raises(ValueError, match="1 addresses have no finite"):
        AddressIndex(ids, lon, lat, muni)
    with pytest.raises(ValueError, match="differ in length"):
        AddressIndex(ids[:2], lon, lat, muni)
    with pytest.raises(ValueError, match="not unique"):
        AddressIndex(np.array([1, 1, 3]), [*lon[:2].tolist(), 4.5], lat, muni)
    with pytest.raises(ValueError, match="no municipality"):
        AddressIndex(ids, [4.3, 4.4, 4.5], lat, np.array(["21004", None, "21004"], dtype=object))
    assert (
        AddressIndex(ids[:0], lon[:0], lat[:0], muni[:0]).select(shapely.box(0, 0, 9, 9)).count == 0
    )


# -- contacts -------------------------------------------------------------------------


def synthetic_contacts(seed: int = 1) -> pd.DataFrame:
    """People with 1-5 addresses (sometimes the same one twice), channels and languages."""
    rng = np.random.default_rng(seed)
    n = 1500
    ids = ADDRESSES.address_id.to_numpy()
    lists = [rng.choice(ids, int(rng.integers(1, 6))) for _ in range(n)]
    lists[0] = np.array([lists[0][0], lists[0][0]])  # home and work at one address
    phone = np.where(rng.random(n) < 0.9, "+32470000000", None)
    return pd.DataFrame(
        {
            "contact_id": np.arange(n, dtype=np.int64) * 7 + 100,
            "phone": phone,
            "sms": rng.random(n) < 0.8,
            "voice": rng.random(n) < 0.3,
            "email": np.where(rng.random(n) < 0.6, "someone@example.org", None),
            "language": rng.choice(["nl", "fr", "de", "en"], n),
            "address_ids": lists,
            "address_labels": [["home"] * len(a) for a in lists],
        }
    )


CONTACTS = synthetic_contacts()
GROUPS = pd.DataFrame(
    {
        "group_id": ["bin-1", "bin-2"],
        "name": ["BIN 1", "BIN 2"],
        "kind": ["neighbourhood", "responders"],
        "area_code": ["21004", "21001"],
        "contact_ids": [CONTACTS.contact_id.to_numpy()[:40], CONTACTS.contact_id.to_numpy()[30:90]],
    }
)
PEOPLE = ContactIndex.from_frames(CONTACTS, INDEX, GROUPS)


def expected_contacts(people: pd.DataFrame, segments: int, minutes: int) -> dict:
    """The contacts part of a set of people, counted the plain way."""
    reach = {
        "sms": people.sms & people.phone.notna(),
        "voice": people.voice & people.phone.notna(),
        "email": people.email.notna(),
    }
    by_channel = {c: int(r.sum()) for c, r in reach.items()}
    return {
        "count": len(people),
        "by_channel": by_channel,
        "by_language": dict(sorted(Counter(people.language).items())),
        "cost_eur": round(
            (by_channel["sms"] * segments + by_channel["voice"] * minutes) * 0.055, 2
        ),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hard_zones(), st.integers(1, 4), st.integers(1, 3))
def test_contacts_counted_once_per_person_and_channel(zone, segments, minutes):
    covered = set(INDEX.address_id[brute_force(zone)].tolist())
    inside = CONTACTS[[bool(covered.intersection(a.tolist())) for a in CONTACTS.address_ids]]
    selection = PEOPLE.at_addresses(INDEX.select(zone))
    got = contacts_to_dict(selection, segments, minutes, 0.055)
    got["by_language"] = dict(sorted(got["by_language"].items()))
    assert got == expected_contacts(inside, segments, minutes)
    assert np.array_equal(selection.contact_ids(), inside.contact_id.to_numpy())


def test_target_list_has_one_row_per_person_and_channel():
    zone = shapely.box(4.305, 50.805, 4.33, 50.825)
    selection = PEOPLE.at_addresses(INDEX.select(zone))
    batches = list(selection.targets(batch_size=100))
    assert all(b.num_rows <= 100 for b in batches) and len(batches) > 1
    table = pd.concat([b.to_pandas() for b in batches], ignore_index=True)
    assert list(table.columns) == ["contact_id", "channel", "language"]
    assert Counter(table.channel.astype(str)) == {
        c: n for c, n in selection.by_channel().items() if n
    }
    people = CONTACTS.set_index("contact_id").loc[table.contact_id]
    assert (people.language.to_numpy() == table.language.astype(str).to_numpy()).all()
    assert not table.duplicated().any()


def test_groups_deduplicate_members_and_unknown_groups_fail():
    both = PEOPLE.in_groups(["bin-1", "bin-2"])
    assert both.count == 90  # 40 + 60 members, 10 in both
    assert PEOPLE.group("bin-2").area_code == "21001"
    with pytest.raises(UnknownGroup):
        PEOPLE.in_groups(["bin-1", "no-such-group"])


def test_registrations_to_unknown_addresses_are_refused_without_ids():
    bad = CONTACTS.assign(
        address_ids=[
            np.array([999_999_999]) if i == 5 else a for i, a in enumerate(CONTACTS.address_ids)
        ]
    )
    with pytest.raises(ValueError, match="1 registrations") as error:
        ContactIndex.from_frames(bad, INDEX)
    assert "999999999" not in str(error.value)
    members = GROUPS.assign(contact_ids=[np.array([123_456_789]), GROUPS.contact_ids[1]])
    with pytest.raises(ValueError, match="bin-1"):
        ContactIndex.from_frames(CONTACTS, INDEX, members)


def test_selection_from_another_index_is_refused():
    other = AddressIndex(
        INDEX.address_id, INDEX.lon, INDEX.lat, INDEX.municipalities[INDEX.municipality_code]
    )
    with pytest.raises(ValueError, match="another address index"):
        PEOPLE.at_addresses(other.select(shapely.box(4.3, 50.8, 4.31, 50.81)))


# -- the engine on the sample world ------------------------------------------------------


@pytest.fixture(scope="module")
def engine(sample_world):
    return geoalert.Engine.open(sample_world, include=["addresses", "contacts"])


def test_engine_resolves_addresses_and_contacts_of_an_area(engine, sample_world):
    store_addresses = engine.store.read_addresses()
    res = engine.resolve({"area": "21004"}, include=["addresses", "contacts"])
    out = res.to_dict()
    covered = shapely.covers(res.zone.geometry, store_addresses.geometry.values)
    assert out["addresses"]["count"] == int(covered.sum())
    assert out["addresses"]["by_municipality"] == dict(
        Counter(store_addresses.municipality[covered].tolist())
    )
    contacts = engine.store.read_contacts()
    ids = set(store_addresses.address_id[covered].tolist())
    inside = contacts[[bool(ids.intersection(a.tolist())) for a in contacts.address_ids]]
    got = out["contacts"]
    got["by_language"] = dict(sorted(got["by_language"].items()))
    assert got == expected_contacts(inside, 1, 1)
    assert list(out) == ["zone", "addresses", "contacts"]


def test_message_cost_uses_sms_segments_and_voice_minutes(engine):
    zone = {"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 800}}
    short = engine.resolve(zone, include=["contacts"], message="Restez chez vous.")["contacts"]
    long = engine.resolve(zone, include=["contacts"], message="Fermez les fenêtres. " * 50)
    assert (short.sms_segments, short.voice_minutes) == (1, 1)
    # 1,050 UCS-2 characters: 16 segments of 67; 2 minutes at 800 characters a minute.
    assert (long["contacts"].sms_segments, long["contacts"].voice_minutes) == (16, 2)
    channels = long.to_dict()["contacts"]["by_channel"]
    expected = round((channels["sms"] * 16 + channels["voice"] * 2) * 0.055, 2)
    assert long.to_dict()["contacts"]["cost_eur"] == expected
    with pytest.raises(ZoneError, match="message"):
        engine.resolve(zone, include=["contacts"], message="")


def test_engine_streams_targets_without_personal_data(engine):
    res = engine.resolve(
        {"circle": {"lon": 4.36, "lat": 50.84, "radius_m": 500}}, include=["contacts"]
    )
    batches = list(res["contacts"].targets(batch_size=1000))
    assert sum(b.num_rows for b in batches) == sum(res.to_dict()["contacts"]["by_channel"].values())
    assert {tuple(b.schema.names) for b in batches} == {("contact_id", "channel", "language")}
    assert set(CHANNELS) >= set(pd.concat([b.to_pandas() for b in batches]).channel.astype(str))


def test_engine_groups_without_a_zone(engine):
    groups = engine.store.read_groups()
    first, second = groups.group_id.iloc[0], groups.group_id.iloc[1]
    assert engine.group(first).group_id == first
    out = engine.resolve_groups([first, second]).to_dict()
    members = set(groups.contact_ids.iloc[0].tolist()) | set(groups.contact_ids.iloc[1].tolist())
    assert out["contacts"]["count"] == len(members)
    assert [g["group_id"] for g in out["groups"]] == [first, second]
    with pytest.raises(UnknownGroup):
        engine.group("no-such-group")


def test_group_only_entity_resolves_its_groups_and_no_zone(engine):
    groups = engine.store.read_groups().group_id.tolist()
    scoped = engine.for_groups([groups[0]])
    assert scoped.resolve_groups([groups[0]]).to_dict()["contacts"]["count"] > 0
    with pytest.raises(ZonesNotAllowed) as refused:
        scoped.resolve({"area": "21004"})
    assert isinstance(refused.value, NotPermitted)  # the API answers 403
    with pytest.raises(GroupNotAllowed):
        scoped.resolve_groups([groups[0], groups[1]])
    with pytest.raises(GroupNotAllowed):
        scoped.group(groups[1])


def test_work_grows_with_the_boundary_not_the_addresses(engine):
    res = engine.resolve({"area": "04000"}, include=["addresses"])  # the Brussels region
    selection = res["addresses"].selection
    assert selection.count > 300_000
    assert selection.tested < selection.count / 20
    # A boundary twenty times shorter: far fewer addresses tested.
    small = engine.resolve(
        {"circle": {"lon": 4.36, "lat": 50.85, "radius_m": 500}}, include=["addresses"]
    )
    assert small["addresses"].selection.tested < selection.tested / 4


# -- PostGIS ------------------------------------------------------------------------------


def psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def synthetic_db(postgis):
    """The synthetic addresses in PostGIS (``addresses``, GiST index)."""
    url = create_database(postgis, "resolve_addresses_synthetic")
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE addresses (address_id bigint, municipality text, "
            "geom geometry(Point, 4326))"
        )
        ewkb = shapely.to_wkb(
            shapely.set_srid(shapely.points(ADDRESSES[["lon", "lat"]].to_numpy()), 4326),
            hex=True,
            include_srid=True,
        )
        with conn.cursor().copy("COPY addresses FROM STDIN") as copy:
            for row in zip(
                ADDRESSES.address_id.tolist(), ADDRESSES.municipality, ewkb, strict=True
            ):
                copy.write_row(row)
        conn.execute("CREATE INDEX ON addresses USING gist (geom)")
        yield conn
    drop_database(url)


def postgis_covered(conn, zone, table: str = "addresses", geom: str = "geom") -> tuple[set, dict]:
    rows = conn.execute(
        f"SELECT address_id, municipality FROM {table} "
        f"WHERE ST_Covers(ST_GeomFromWKB(%s, 4326), {geom})",
        (shapely.to_wkb(zone),),
    ).fetchall()
    return {r[0] for r in rows}, dict(Counter(r[1] for r in rows))


@pytest.mark.postgis
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone=hard_zones())
def test_select_equals_postgis_st_covers_on_hard_zones(synthetic_db, zone):
    ids, by_municipality = postgis_covered(synthetic_db, zone)
    selection = INDEX.select(shapely.from_wkb(shapely.to_wkb(zone)))
    assert set(selection.address_ids().tolist()) == ids
    assert selection.municipality_counts() == by_municipality


@pytest.fixture(scope="module")
def postgis_engine(sample_postgis):
    return geoalert.Engine.open(None, db=sample_postgis, include=["addresses", "contacts"])


@pytest.mark.postgis
def test_both_stores_equal_postgis_on_areas_and_circles(engine, postgis_engine, sample_postgis):
    areas = engine.store.read_areas()
    zones = [{"area": code} for code in areas.code] + [
        {"circle": {"lon": 4.2 + 0.05 * i, "lat": 50.75 + 0.03 * i, "radius_m": 300 * i + 50}}
        for i in range(8)
    ]
    with psycopg.connect(psycopg_dsn(sample_postgis)) as conn:
        for zone in zones:
            embedded = engine.resolve(zone, include=["addresses", "contacts"])
            on_postgis = postgis_engine.resolve(zone, include=["addresses", "contacts"])
            out = embedded.to_dict()
            assert out == on_postgis.to_dict()
            ids, by_municipality = postgis_covered(conn, embedded.zone.geometry, geom="geometry")
            assert out["addresses"] == {"count": len(ids), "by_municipality": by_municipality}
