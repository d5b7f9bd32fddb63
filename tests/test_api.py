"""The resolve API over the sample world: keys, roles, jurisdictions, audit, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import orjson
import pandas as pd
import pytest
import shapely
from api_helpers import (
    assert_problem,
    bearer,
    inner_circle,
    make_keys,
    serving_copy,
    straddling_circle,
)
from fastapi.testclient import TestClient

from api.app import create_app
from api.ratelimit import TokenBuckets
from geoalert.audit import zone_hash
from geoalert.messages.cap import parse_cap
from geoalert.settings import Settings
from geoalert.zones import ZoneError

LIMIT = 200_000
MAX_VERTICES = 2_000


@pytest.fixture(scope="module")
def world(sample_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return serving_copy(sample_world, tmp_path_factory.mktemp("api") / "world")


@pytest.fixture(scope="module")
def keys(world: Path) -> dict[str, str]:
    return make_keys(world)


@pytest.fixture(scope="module")
def client(world: Path, keys: dict[str, str]):
    settings = Settings(
        data_dir=world,
        max_zone_vertices=MAX_VERTICES,
        api_max_body_bytes=LIMIT,
        api_rate_per_s=1_000,
        api_rate_burst=1_000,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def areas(world: Path) -> gpd.GeoDataFrame:
    return gpd.read_parquet(world / "areas.parquet")


def _resolve(client, key: str | None, body: dict, keys: dict[str, str]):
    headers = {"content-type": "application/json", **(bearer(keys[key]) if key else {})}
    return client.post("/v1/resolve", content=json.dumps(body), headers=headers)  # NaN allowed


# -- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer gak_not-a-key"},
        {"Authorization": "Bearer something-else"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        "revoked",
    ],
    ids=["none", "empty", "unknown", "malformed", "basic", "revoked"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/resolve"),
        ("GET", "/v1/areas"),
        ("GET", "/v1/areas/21004"),
        ("GET", "/v1/operators"),
        ("GET", "/v1/cells/206-01-1-1"),
        ("GET", "/v1/population?area=21004"),
        ("POST", "/v1/alerts/cap"),
    ],
)
def test_401_without_a_valid_key_says_nothing_more(client, keys, headers, method, path):
    if headers == "revoked":
        headers = bearer(keys["revoked"])
    response = client.request(method, path, headers=headers, json={"zone": {"area": "21004"}})
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["detail"] == "a valid API key is required, sent as 'Authorization: Bearer <key>'"


def test_health_needs_no_key(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


# -- resolve -------------------------------------------------------------------------------


def test_resolve_is_the_engines_resolution(client, keys, areas):
    zone = inner_circle(areas, "21004")
    response = _resolve(client, "federal", {"zone": zone, "operators": ["01", "20"]}, keys)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    engine = client.app.state.engine
    expected = engine.resolve(zone, operators=["01", "20"]).to_dict()
    assert response.json() == json.loads(orjson.dumps(expected))
    assert set(response.json()["operators"]) == {"01", "20"}
    assert response.json()["cells"], "a circle in Brussels reaches some cells"


def test_resolve_all_parts_by_default(client, keys, areas):
    zone = inner_circle(areas, "23088")
    body = _resolve(client, "federal", {"zone": zone}, keys).json()
    assert set(body) == set(client.app.state.engine.resolve(zone).to_dict())
    assert body["zone"]["area_km2"] == pytest.approx(3.14159 * 0.15**2, rel=0.02)


def test_repeated_resolve_is_served_again_and_audited_each_time(client, keys, areas):
    body = {"zone": inner_circle(areas, "24104"), "include": ["cells"]}
    store = client.app.state.engine.store
    before = len(store.read_audit(key_name="admin"))
    first, again = (_resolve(client, "admin", body, keys) for _ in range(2))
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    audit = store.read_audit(key_name="admin")
    assert len(audit) == before + 2
    assert audit[-1]["counts"] == audit[-2]["counts"] and audit[-1]["counts"]["cells"] > 0
    other = _resolve(client, "admin", {**body, "operators": ["10"]}, keys).json()
    assert set(other["operators"]) == {"10"}  # other options, other answer


def test_repeated_resolve_follows_registrations(client, keys):
    engine = client.app.state.engine
    body = {"zone": {"area": "21004"}, "include": ["contacts"]}
    before = _resolve(client, "admin", body, keys).json()["contacts"]
    address = engine.resolve(body["zone"], include=["addresses"])["addresses"].selection
    new = engine.store.register_contact(
        phone="+32470980002", sms=True, voice=False, email=None, language="de",
        addresses=[("home", int(address.address_ids()[0]))],
    )  # fmt: skip
    try:
        engine.indexes["contacts"].refresh()  # as when the next check is due
        after = _resolve(client, "admin", body, keys).json()["contacts"]
        assert after["count"] == before["count"] + 1
        assert after["by_language"].get("de", 0) == before["by_language"].get("de", 0) + 1
    finally:
        engine.store.unregister_contact(new.contact_id)
        engine.indexes["contacts"].refresh()
    assert _resolve(client, "admin", body, keys).json()["contacts"] == before


# -- roles and jurisdictions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "inside"),
    [
        ("federal", "21001"),
        ("admin", "23088"),
        ("mayor", "21004"),
        ("governor", "23088"),
        ("governor", "24104"),
    ],
)
def test_zone_within_the_jurisdiction_is_resolved(client, keys, areas, key, inside):
    assert _resolve(client, key, {"zone": inner_circle(areas, inside)}, keys).status_code == 200


@pytest.mark.parametrize(
    ("key", "zone", "territory"),
    [
        ("mayor", ("inner", "21001"), "municipality Bruxelles / Brussel (21004)"),
        ("mayor", ("straddle", "21004", "21001"), "municipality Bruxelles / Brussel (21004)"),
        ("mayor", ("area", "04000"), "municipality Bruxelles / Brussel (21004)"),
        ("governor", ("inner", "21004"), "province Provincie Vlaams-Brabant (20001)"),
        ("governor", ("straddle", "23088", "21004"), "province Provincie Vlaams-Brabant (20001)"),
        ("governor", ("area", "02000"), "province Provincie Vlaams-Brabant (20001)"),
    ],
)
def test_403_across_jurisdictions_names_the_jurisdiction(client, keys, areas, key, zone, territory):
    kind, *codes = zone
    if kind == "inner":
        zone = inner_circle(areas, *codes)
    elif kind == "straddle":
        zone = straddling_circle(areas, *codes)
    else:
        zone = {"area": codes[0]}
    for path, body in [
        ("/v1/resolve", {"zone": zone}),
        ("/v1/alerts/cap", {"zone": zone, **CAP}),
    ]:
        response = client.post(path, json=body, headers=bearer(keys[key]))
        problem = assert_problem(response, 403)
        assert problem["type"] == "/problems/outside-jurisdiction"
        assert problem["detail"] == f"the zone reaches beyond this key's jurisdiction, {territory}"


@pytest.mark.parametrize(("key", "role"), [("operator", "operator"), ("groups", "group-only")])
def test_operator_and_group_only_keys_resolve_no_zone(client, keys, areas, key, role):
    zone = inner_circle(areas, "21004")
    for path, body in [("/v1/resolve", {"zone": zone}), ("/v1/alerts/cap", {"zone": zone, **CAP})]:
        problem = assert_problem(client.post(path, json=body, headers=bearer(keys[key])), 403)
        assert problem["detail"] == f"a {role} key may not resolve or alert zones"


def test_refusal_comes_before_reading_the_zone(client, keys):
    # A role that resolves nothing learns nothing about zones, not even that one is bad.
    response = _resolve(client, "operator", {"zone": {"area": "99999"}}, keys)
    assert assert_problem(response, 403)["type"] == "/problems/not-permitted"


@pytest.mark.parametrize(
    ("key", "area", "status"),
    [
        ("mayor", "21001", 403),
        ("governor", "21004", 403),
        ("governor", "04000", 403),
        ("groups", "21004", 403),
        ("federal", "99999", 404),
    ],
)
def test_population_refusals(client, keys, key, area, status):
    response = client.get("/v1/population", params={"area": area}, headers=bearer(keys[key]))
    problem = assert_problem(response, status)
    if status == 403 and key != "groups":
        assert f"area {area} lies outside this key's jurisdiction" in problem["detail"]


@pytest.mark.parametrize(("key", "area"), [("operator", "23088"), ("mayor", "21004")])
def test_population_of_an_area(client, keys, key, area):
    response = client.get("/v1/population", params={"area": area}, headers=bearer(keys[key]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["area"]["code"] == area
    engine = client.app.state.engine
    expected = engine.resolve({"area": area}, include=["population"]).to_dict()["population"]
    assert body["population"] == json.loads(orjson.dumps(expected))
    assert body["population"]["low"] <= body["population"]["estimate"] <= body["population"]["high"]
    record = engine.store.read_audit(key_name=key, action="population")[-1]
    assert record["counts"]["population"]["estimate"] == body["population"]["estimate"]


def test_population_at_a_time_without_data_is_422(client, keys):
    response = client.get(
        "/v1/population",
        params={"area": "23088", "at": "2001-01-01T12:00:00+01:00"},
        headers=bearer(keys["operator"]),
    )
    assert "falls in no presence time bucket" in assert_problem(response, 422)["detail"]


# -- audit ---------------------------------------------------------------------------------


def test_every_resolve_is_audited_without_personal_data(client, keys, areas, world):
    store = client.app.state.engine.store
    before = store.read_audit(key_name="governor")
    zone = inner_circle(areas, "23088")
    resolved = _resolve(client, "governor", {"zone": zone}, keys).json()
    refused = _resolve(client, "governor", {"zone": inner_circle(areas, "21004")}, keys)
    assert refused.status_code == 403
    after = store.read_audit(key_name="governor")
    assert len(after) == len(before) + 1  # the refused one resolved nothing
    record = after[-1]
    assert record["action"] == "resolve"
    assert record["area_km2"] == pytest.approx(resolved["zone"]["area_km2"])
    parsed = client.app.state.engine.zone(zone)
    assert record["zone_hash"] == zone_hash(parsed.geometry)
    assert record["counts"]["cells"] == len(resolved["cells"])
    for mnc, part in resolved["operators"].items():
        assert record["counts"]["operators"][mnc]["cell_count"] == part["cell_count"]
    _assert_no_personal_data(json.dumps(record, default=str), world)


def _assert_no_personal_data(text: str, world: Path) -> None:
    """No phone number or e-mail of a registered contact appears in ``text``."""
    contacts = pd.read_parquet(world / "contacts.parquet", columns=["phone", "email"])
    assert "@" not in text and "+32" not in text
    for value in pd.concat([contacts["phone"], contacts["email"]]).dropna().head(2_000):
        assert value not in text


# -- bad input -----------------------------------------------------------------------------


def test_malformed_json_is_400_and_says_where(client, keys):
    response = client.post(
        "/v1/resolve",
        content=b'{"zone": {"area": "21004"}',
        headers={**bearer(keys["federal"]), "content-type": "application/json"},
    )
    problem = assert_problem(response, 400)
    assert problem["type"] == "/problems/malformed-json"
    assert "malformed JSON at character 26" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "body.zone: Field required"),
        ({"zone": None}, "body.zone"),
        ({"zone": [1, 2]}, "body.zone"),
        ({"zone": "21004"}, "body.zone"),
        ({"zone": {"area": "21004"}, "include": ["weather"]}, "body.include.0"),
        ({"zone": {"area": "21004"}, "operators": "01"}, "body.operators"),
        ({"zone": {"area": "21004"}, "at": "yesterday"}, "body.at"),
        ({"zone": {"area": "21004"}, "extra": 1}, "body.extra"),
    ],
)
def test_request_that_does_not_fit_the_schema_is_422(client, keys, body, where):
    problem = assert_problem(_resolve(client, "federal", body, keys), 422)
    assert problem["type"] == "/problems/invalid-request"
    assert where in problem["detail"]


def _bad_zones():
    from test_zones import BAD

    return [zone for zone, _ in BAD if isinstance(zone, dict)]


@pytest.mark.parametrize("zone", _bad_zones(), ids=lambda z: json.dumps(z)[:50])
def test_every_bad_zone_is_422_with_the_engines_reason(client, keys, zone):
    with pytest.raises(ZoneError) as reason:
        client.app.state.engine.zone(zone)
    problem = assert_problem(_resolve(client, "federal", {"zone": zone}, keys), 422)
    assert problem["type"] == "/problems/invalid-zone"
    assert problem["detail"] == str(reason.value)


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"operators": ["99"]}, "operators[0]: unknown operator '99'"),
        ({"operators": ["01", "06"]}, "operators[1]: unknown operator '06'"),
        ({"policy": "biggest"}, "policy:"),
        ({"policy": {"42": "intersects"}}, "policy:"),
    ],
)
def test_unknown_operator_or_policy_is_422(client, keys, areas, options, where):
    body = {"zone": inner_circle(areas, "21004"), **options}
    assert where in assert_problem(_resolve(client, "federal", body, keys), 422)["detail"]


def test_unknown_area_is_404_or_422(client, keys):
    problem = assert_problem(client.get("/v1/areas/99999", headers=bearer(keys["mayor"])), 404)
    assert problem["detail"] == "unknown area '99999': no such NIS code in this world"
    problem = assert_problem(_resolve(client, "federal", {"zone": {"area": "99999"}}, keys), 422)
    assert problem["detail"] == "area: unknown area code '99999'"


def _ring(n: int) -> list[list[float]]:
    """A closed zigzag ring of ``n`` distinct vertices in Brussels."""
    ring = [[4.35 + 0.001 * (i % 2), 50.85 + i * 1e-6] for i in range(n - 1)]
    return [*ring, [4.34, 50.85], ring[0]]


def test_too_many_vertices_is_refused(client, keys):
    zone = {"type": "Polygon", "coordinates": [_ring(MAX_VERTICES + 1)]}
    problem = assert_problem(_resolve(client, "federal", {"zone": zone}, keys), 422)
    assert f"the zone has more than {MAX_VERTICES} vertices" in problem["detail"]
    zone = {"type": "Polygon", "coordinates": [_ring(20 * MAX_VERTICES)]}
    problem = assert_problem(_resolve(client, "federal", {"zone": zone}, keys), 413)
    assert problem["type"] == "/problems/payload-too-large"


def test_oversized_body_is_413_without_being_read(client, keys):
    headers = {**bearer(keys["federal"]), "content-type": "application/json"}
    response = client.post("/v1/resolve", content=b" " * (LIMIT + 1), headers=headers)
    problem = assert_problem(response, 413)
    assert problem["detail"] == f"the request body exceeds the limit of {LIMIT} bytes"

    def chunked():  # no Content-Length: counted as it arrives
        yield b'{"zone": {"type": "Polygon", "coordinates": [['
        for _ in range(100):
            yield b"[4.35, 50.85], " * 1_000

    assert_problem(client.post("/v1/resolve", content=chunked(), headers=headers), 413)


def test_unknown_cell_and_endpoint_are_404(client, keys):
    problem = assert_problem(client.get("/v1/cells/nope", headers=bearer(keys["admin"])), 404)
    assert problem["detail"] == "unknown cell 'nope': no such cell id in this world"
    assert_problem(client.get("/v2/resolve", headers=bearer(keys["admin"])), 404)
    assert_problem(client.get("/v1/resolve", headers=bearer(keys["admin"])), 405)


# -- rate limit ----------------------------------------------------------------------------


def test_rate_limit_per_key(client, keys):
    state = client.app.state
    saved, now = state.rate_limits, [0.0]
    state.rate_limits = TokenBuckets(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    try:
        ok = [client.get("/v1/operators", headers=bearer(keys["operator"])) for _ in range(3)]
        assert [r.status_code for r in ok] == [200, 200, 200]
        limited = client.get("/v1/operators", headers=bearer(keys["operator"]))
        problem = assert_problem(limited, 429)
        assert limited.headers["retry-after"] == "1" and "retry in 0.5 s" in problem["detail"]
        other = client.get("/v1/operators", headers=bearer(keys["admin"]))
        assert other.status_code == 200  # another key has its own bucket
        now[0] = 0.5
        assert client.get("/v1/operators", headers=bearer(keys["operator"])).status_code == 200
    finally:
        state.rate_limits = saved


# -- reference data ------------------------------------------------------------------------


def test_areas(client, keys, areas):
    listed = client.get("/v1/areas", headers=bearer(keys["operator"])).json()["areas"]
    assert sorted(a["code"] for a in listed) == sorted(areas["code"])
    municipalities = client.get(
        "/v1/areas", params={"level": "municipality"}, headers=bearer(keys["groups"])
    ).json()["areas"]
    assert {a["level"] for a in municipalities} == {"municipality"}
    assert len(municipalities) == (areas["level"] == "municipality").sum()

    response = client.get("/v1/areas/20001", headers=bearer(keys["mayor"]))
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["properties"]["name"] == "Provincie Vlaams-Brabant"
    expected = areas.set_index("code").geometry["20001"]
    assert shapely.geometry.shape(feature["geometry"]).equals(expected)


def test_operators_and_cells(client, keys):
    engine = client.app.state.engine
    listed = client.get("/v1/operators", headers=bearer(keys["operator"])).json()["operators"]
    assert {o["mnc"]: o["name"] for o in listed} == engine.operators

    index = engine.indexes["cells"].index
    cell_id = index.cell_id[len(index) // 2]
    feature = client.get(f"/v1/cells/{cell_id}", headers=bearer(keys["mayor"])).json()
    assert feature["id"] == cell_id and feature["properties"]["cell_id"] == cell_id
    assert shapely.geometry.shape(feature["geometry"]).equals(index.geometry[len(index) // 2])
    assert {"operator", "radio", "band", "azimuth", "range_m"} <= set(feature["properties"])


# -- CAP -----------------------------------------------------------------------------------

CAP = {
    "texts": {"nl": "Blijf binnen.", "fr": "Restez à l'intérieur."},
    "event": "Chemical fire",
    "severity": "Severe",
    "urgency": "Immediate",
    "certainty": "Observed",
}


def test_cap_of_a_zone_within_the_jurisdiction(client, keys, areas):
    zone = inner_circle(areas, "21004")
    response = client.post(
        "/v1/alerts/cap", json={"zone": zone, **CAP}, headers=bearer(keys["mayor"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cap+xml")
    alert = parse_cap(response.text)  # checked against the OASIS CAP 1.2 schema
    assert alert.texts() == CAP["texts"]
    assert alert.infos[0].areas[0].geocodes == (("NIS", "21004"),)
    audit = client.app.state.engine.store.read_audit(key_name="mayor", action="cap")
    assert audit[-1]["counts"] == {"languages": 2}


def test_bad_cap_request_is_422(client, keys, areas):
    body = {"zone": inner_circle(areas, "21004"), **CAP, "severity": "Apocalyptic"}
    response = client.post("/v1/alerts/cap", json=body, headers=bearer(keys["mayor"]))
    assert "body.severity" in assert_problem(response, 422)["detail"]
    body = {"zone": inner_circle(areas, "21004"), **CAP, "msg_type": "Update"}
    response = client.post("/v1/alerts/cap", json=body, headers=bearer(keys["mayor"]))
    problem = assert_problem(response, 422)
    assert problem["detail"] == "a CAP Update must reference the alert(s) it replaces"


# -- documents -----------------------------------------------------------------------------


def test_openapi_31_and_local_docs(client):
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    assert {
        "/v1/resolve",
        "/v1/areas",
        "/v1/areas/{code}",
        "/v1/operators",
        "/v1/cells/{cell_id}",
        "/v1/population",
        "/v1/alerts/cap",
        "/healthz",
        "/readyz",
    } <= set(schema["paths"])
    assert "Zone" in schema["components"]["schemas"]
    problem = schema["paths"]["/v1/resolve"]["post"]["responses"]["403"]["content"]
    assert list(problem) == ["application/problem+json"]

    page = client.get("/docs").text
    sources = [s.split('"')[1] for s in page.split("src=")[1:]] + [
        h.split('"')[1] for h in page.split("href=")[1:]
    ]
    assert sources and all(s.startswith("/static/docs/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200
    assert "http" not in page.replace("http-equiv", "")
