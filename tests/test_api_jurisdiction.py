"""Keys, roles and territories (geoalert.keys, geoalert.jurisdiction) on a small made-up map.

Two provinces side by side, each of two municipalities, near Brussels so that the metric
CRS applies: every decision is checked against plain geometry in metres.
"""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geoalert.jurisdiction import (
    Action,
    Jurisdictions,
    NotPermitted,
    OutsideJurisdiction,
    require,
)
from geoalert.keys import (
    KEY_PREFIX,
    KeySpecError,
    Role,
    check_role_area,
    generate_key,
    hash_key,
)
from geodata.stores.access import KeyRecord

METRIC = "EPSG:3812"
TOLERANCE_M = 25.0
_to_lonlat = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)
# Lambert 2008 origin of the map: somewhere in Brabant.
X0, Y0 = 650_000.0, 660_000.0


def _box_m(x0: float, y0: float, x1: float, y1: float) -> shapely.Geometry:
    """A box given in metres from the map's origin, as a lon/lat polygon."""
    box = shapely.segmentize(shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1), 100.0)
    return shapely.transform(box, lambda xy: np.column_stack(_to_lonlat.transform(*xy.T)))


def _areas() -> gpd.GeoDataFrame:
    # Province 10000 = municipalities 11001 (x 0..5 km) and 11002 (5..10 km);
    # province 20001 = 23001 (10..15 km) and 23002 (15..20 km); all 0..5 km north.
    rows = []
    for code, prov, x in [("11001", "10000", 0), ("11002", "10000", 5), ("23001", "20001", 10)]:
        rows.append(
            (code, "municipality", f"M{code}", prov, _box_m(x * 1e3, 0, (x + 5) * 1e3, 5e3))
        )
    rows.append(("23002", "municipality", "M23002", "20001", _box_m(15e3, 0, 20e3, 5e3)))
    rows.append(("10000", "province", "Antwerpen", None, _box_m(0, 0, 10e3, 5e3)))
    rows.append(("20001", "province", "Vlaams-Brabant", None, _box_m(10e3, 0, 20e3, 5e3)))
    rows.append(("02000", "region", "Vlaams Gewest", None, _box_m(0, 0, 20e3, 5e3)))
    codes, levels, names, provinces, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"code": codes, "level": levels, "name": names, "province_code": provinces},
        geometry=list(geoms),
        crs="EPSG:4326",
    )


AREAS = _areas()
JURISDICTIONS = Jurisdictions(AREAS, metric_crs=METRIC, tolerance_m=TOLERANCE_M)


def _key(role: Role, area: str | None = None) -> KeyRecord:
    return KeyRecord("test", role, area, hash_key("x"), datetime.now(UTC))


# --- keys -----------------------------------------------------------------------------------


def test_keys_are_random_prefixed_and_stored_only_as_hashes():
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith(KEY_PREFIX) and len(k) >= 40 for k in keys)
    key = keys.pop()
    assert hash_key(key) == hash_key(key)
    assert len(hash_key(key)) == 64 and key not in hash_key(key)
    assert hash_key(key) != hash_key(key + "x")


LEVELS = dict(zip(AREAS["code"], AREAS["level"], strict=True))


@pytest.mark.parametrize(
    ("role", "area"),
    [
        ("federal", None),
        ("admin", None),
        ("operator", None),
        ("governor", "10000"),
        ("mayor", "11002"),
        ("group-only", "11001"),
        ("group-only", "20001"),
    ],
)
def test_role_and_area_accepted(role, area):
    assert check_role_area(role, area, LEVELS) == Role(role)


@pytest.mark.parametrize(
    ("role", "area", "message"),
    [
        ("king", None, "unknown role 'king'"),
        ("federal", "10000", "covers no single area"),
        ("operator", "11001", "covers no single area"),
        ("governor", None, "needs --area with the NIS code of a province"),
        ("mayor", None, "needs --area with the NIS code of a municipality"),
        ("governor", "11001", "needs a province, but 11001 is a municipality"),
        ("mayor", "10000", "needs a municipality, but 10000 is a province"),
        ("group-only", "02000", "is a region"),
        ("mayor", "99999", "unknown area '99999'"),
    ],
)
def test_role_and_area_refused(role, area, message):
    with pytest.raises(KeySpecError, match=message):
        check_role_area(role, area, LEVELS)


# --- roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_role_actions(role):
    allowed = {
        Role.OPERATOR: {Action.POPULATION, Action.REFERENCE},
        Role.GROUP_ONLY: {Action.GROUPS, Action.REFERENCE},
    }.get(role, set(Action))
    for action in Action:
        key = _key(role)
        if action in allowed:
            require(key, action)
        else:
            with pytest.raises(NotPermitted, match=f"a {role} key may not"):
                require(key, action)


def test_group_only_and_operator_keys_resolve_no_zone():
    zone = _box_m(1e3, 1e3, 2e3, 2e3)
    with pytest.raises(NotPermitted, match="group-only key may not resolve"):
        JURISDICTIONS.check_zone(_key(Role.GROUP_ONLY, "11001"), zone)
    with pytest.raises(NotPermitted, match="operator key may not resolve"):
        JURISDICTIONS.check_zone(_key(Role.OPERATOR), zone)


# --- territories ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.FEDERAL, Role.ADMIN])
def test_national_keys_resolve_anywhere(role):
    JURISDICTIONS.check_zone(_key(role), _box_m(-50e3, -50e3, 50e3, 50e3))
    assert str(JURISDICTIONS.territory(_key(role))) == "Belgium"


def test_mayor_within_own_municipality():
    mayor = _key(Role.MAYOR, "11001")
    JURISDICTIONS.check_zone(mayor, _box_m(1e3, 1e3, 2e3, 2e3))
    JURISDICTIONS.check_zone(mayor, AREAS.geometry[0])  # the municipality itself


def test_shared_border_within_tolerance():
    # Drawn along the shared border at x = 5 km, spilling 10 m into the neighbour.
    JURISDICTIONS.check_zone(_key(Role.MAYOR, "11001"), _box_m(4e3, 1e3, 5e3 + 10, 2e3))


def test_mayor_refused_across_the_border_naming_the_jurisdiction():
    zone = _box_m(4e3, 1e3, 5.5e3, 2e3)  # 500 m into 11002
    with pytest.raises(OutsideJurisdiction, match=r"municipality M11001 \(11001\)"):
        JURISDICTIONS.check_zone(_key(Role.MAYOR, "11001"), zone)


def test_governor_across_municipalities_but_not_provinces():
    governor = _key(Role.GOVERNOR, "10000")
    JURISDICTIONS.check_zone(governor, _box_m(3e3, 1e3, 7e3, 2e3))
    with pytest.raises(OutsideJurisdiction, match=r"province Antwerpen \(10000\)"):
        JURISDICTIONS.check_zone(governor, _box_m(9e3, 1e3, 11e3, 2e3))
    with pytest.raises(OutsideJurisdiction):
        JURISDICTIONS.check_zone(governor, _box_m(12e3, 1e3, 13e3, 2e3))


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(-2e3, 7e3),
    y=st.floats(-2e3, 7e3),
    w=st.floats(1.0, 3e3),
    h=st.floats(1.0, 3e3),
)
def test_zone_allowed_exactly_when_within_tolerance_of_the_municipality(x, y, w, h):
    """Oracle: the zone's farthest point from 11001's box, in metres, against the tolerance."""
    beyond_m = max(-x, -y, x + w - 5e3, y + h - 5e3, 0.0)
    if abs(beyond_m - TOLERANCE_M) < 1.0:  # the reprojected edge is not exactly straight
        return
    zone = _box_m(x, y, x + w, y + h)
    mayor = _key(Role.MAYOR, "11001")
    if beyond_m < TOLERANCE_M:
        JURISDICTIONS.check_zone(mayor, zone)
    else:
        with pytest.raises(OutsideJurisdiction):
            JURISDICTIONS.check_zone(mayor, zone)


@pytest.mark.parametrize(
    ("role", "area", "code", "allowed"),
    [
        (Role.GOVERNOR, "10000", "10000", True),
        (Role.GOVERNOR, "10000", "11002", True),
        (Role.GOVERNOR, "10000", "23001", False),
        (Role.GOVERNOR, "10000", "02000", False),
        (Role.MAYOR, "11001", "11001", True),
        (Role.MAYOR, "11001", "11002", False),
        (Role.MAYOR, "11001", "10000", False),
        (Role.OPERATOR, None, "23002", True),
        (Role.FEDERAL, None, "02000", True),
    ],
)
def test_population_areas_by_territory(role, area, code, allowed):
    key = _key(role, area)
    if allowed:
        JURISDICTIONS.check_area(key, code, Action.POPULATION)
    else:
        with pytest.raises(OutsideJurisdiction, match=f"area {code} lies outside"):
            JURISDICTIONS.check_area(key, code, Action.POPULATION)


def test_group_only_key_reads_no_population():
    with pytest.raises(NotPermitted):
        JURISDICTIONS.check_area(_key(Role.GROUP_ONLY, "11001"), "11001", Action.POPULATION)
