"""CAP 1.2: output valid against the OASIS schema for every zone form and language mix; input
read back into the same zone; updates, cancels and bad alerts."""

from __future__ import annotations

import datetime as dt
import re
from importlib.resources import files

import geopandas as gpd
import pytest
import shapely
import xmlschema
from capvalidator import check_schema
from hypothesis import given, settings
from hypothesis import strategies as st

from geoalert.messages.cap import CapError, build_cap, parse_cap
from geoalert.zones import ZoneError, parse_zone

XSD = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd")
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
SENT = dt.datetime(2024, 3, 7, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
TEXTS = {
    "nl": "Brand in de haven. Sluit ramen en deuren.",
    "fr": "Incendie au port. Fermez portes et fenêtres.",
    "de": "Brand im Hafen. Schließen Sie Fenster und Türen.",
    "en": "Fire in the port. Close windows and doors & stay <inside>.",
}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    """A small geography: region 02000 > province 10000 > 11001, 11002; Brussels 04000 > 21004."""
    rows = [
        ("11001", "municipality", "Aartselaar", None, None, "10000", "10000", "02000", (4.30, 50.80, 4.40, 50.90)),
        ("11002", "municipality", "Antwerpen", "Anvers", "Antwerpen", "10000", "10000", "02000", (4.40, 50.80, 4.50, 50.90)),
        ("10000", "province", "Provincie Antwerpen", "Province d'Anvers", "Provinz Antwerpen", "02000", None, "02000", (4.30, 50.80, 4.50, 50.90)),
        ("02000", "region", "Vlaams Gewest", "Région flamande", "Flämische Region", None, None, "02000", (4.30, 50.60, 4.50, 50.90)),
        ("21004", "municipality", "Brussel", "Bruxelles", "Brüssel", "04000", None, "04000", (4.30, 50.90, 4.40, 51.00)),
        ("04000", "region", "Brussels Hoofdstedelijk Gewest", "Région de Bruxelles-Capitale", None, None, None, "04000", (4.30, 50.90, 4.40, 51.00)),
    ]  # fmt: skip
    return gpd.GeoDataFrame(
        {
            "code": [r[0] for r in rows],
            "level": [r[1] for r in rows],
            "name_nl": [r[2] for r in rows],
            "name_fr": [r[3] for r in rows],
            "name_de": [r[4] for r in rows],
            "name": [r[2] for r in rows],
            "parent_code": [r[5] for r in rows],
            "province_code": [r[6] for r in rows],
            "region_code": [r[7] for r in rows],
        },
        geometry=[shapely.MultiPolygon([shapely.box(*r[8])]) for r in rows],
        crs="EPSG:4326",
    )


SQUARE = [[4.32, 50.82], [4.36, 50.82], [4.36, 50.86], [4.32, 50.86], [4.32, 50.82]]
HOLE = [[4.33, 50.83], [4.34, 50.83], [4.34, 50.84], [4.33, 50.84], [4.33, 50.83]]
FAR_SQUARE = [[4.45, 50.85], [4.47, 50.85], [4.47, 50.87], [4.45, 50.87], [4.45, 50.85]]
LINE = {"type": "LineString", "coordinates": [[4.31, 50.81], [4.45, 50.88], [4.35, 50.95]]}
ZONES = {
    "polygon": {"type": "Polygon", "coordinates": [SQUARE]},
    "polygon-with-hole": {"type": "Polygon", "coordinates": [SQUARE, HOLE]},
    "multipolygon": {"type": "MultiPolygon", "coordinates": [[SQUARE], [FAR_SQUARE]]},
    "feature": {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
    "feature-collection": {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [FAR_SQUARE]}},
        ],
    },
    "circle": {"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 2500}},
    "corridor": {"corridor": {"line": LINE, "width_m": 1000}},
    "area": {"area": "21004"},
    "province": {"area": "10000"},
    "union": {
        "union": [
            {"circle": {"lon": 4.48, "lat": 50.83, "radius_m": 800}},
            {"area": "21004"},
            {"type": "Polygon", "coordinates": [SQUARE, HOLE]},
        ]
    },
}  # fmt: skip
LANGUAGE_MIXES = [["nl"], ["fr"], ["en"], ["nl", "fr"], ["de", "en"], ["nl", "fr", "de", "en"]]


def _build(zone, areas, languages=("nl", "fr", "de", "en"), **kwargs):
    return build_cap(
        zone,
        {lang: TEXTS[lang] for lang in languages},
        "Fire",
        "Severe",
        "Immediate",
        "Observed",
        expires=dt.datetime(2024, 3, 7, 18, 0),
        areas=areas,
        identifier="test-1",
        sent=SENT,
        **kwargs,
    )


def _same_zone(a, b, areas, parts_cross: bool = False) -> bool:
    """Coordinates are written to 7 decimals: every vertex within 1e-7 degree (about 1 cm)
    of one of the other zone's vertices, or, where parts of a union may cross
    (``parts_cross``: a crossing at a shallow angle moves far more than the parts do), of
    the other zone itself; and the zones differ by less than that in area."""
    lookup = dict(zip(areas["code"], areas.geometry.values, strict=True))
    ga, gb = parse_zone(a, areas=lookup).geometry, parse_zone(b, areas=lookup).geometry
    if parts_cross:
        far = max(
            shapely.distance(shapely.points(shapely.get_coordinates(ga)), gb).max(),
            shapely.distance(shapely.points(shapely.get_coordinates(gb)), ga).max(),
        )
    else:
        far = ga.hausdorff_distance(gb)
    return far < 1e-7 and ga.symmetric_difference(gb).area < 1e-7 * ga.length


@pytest.mark.parametrize("form", ZONES)
@pytest.mark.parametrize("languages", LANGUAGE_MIXES, ids="+".join)
def test_output_validates_against_oasis_schema(form, languages, schema, areas):
    xml = _build(ZONES[form], areas, languages)
    schema.validate(xml)
    assert check_schema(xml.encode()).passed  # a second validator (lxml) on the same XSD
    root = xmlschema.XMLResource(xml).root
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == [
        {"nl": "nl-BE", "fr": "fr-BE", "de": "de-BE", "en": "en"}[lang] for lang in languages
    ]
    for info in infos:
        (area,) = info.findall("cap:area", NS)
        assert area.findtext("cap:areaDesc", namespaces=NS)
        for polygon in area.findall("cap:polygon", NS):
            pairs = polygon.text.split()
            assert len(pairs) >= 4 and pairs[0] == pairs[-1]  # CAP 1.2 3.3.2.2: closed ring
            for pair in pairs:  # "lat,lon": Belgian latitudes first
                lat, lon = map(float, pair.split(","))
                assert 50 < lat < 52 and 4 < lon < 5
        for circle in area.findall("cap:circle", NS):
            assert re.fullmatch(r"5\d\.\d+,4\.\d+ \d+(\.\d+)?", circle.text)


@pytest.mark.parametrize("form", ZONES)
def test_cap_round_trips_to_the_same_zone(form, areas):
    alert = parse_cap(_build(ZONES[form], areas))
    assert _same_zone(alert.zone(), ZONES[form], areas)
    assert alert.texts() == TEXTS
    assert (alert.identifier, alert.sent, alert.msg_type) == ("test-1", SENT, "Alert")
    assert alert.infos[0].expires == dt.datetime(2024, 3, 7, 18, 0, tzinfo=SENT.tzinfo)


def test_circle_stays_a_circle(areas):
    alert = parse_cap(_build(ZONES["circle"], areas))
    assert alert.infos[0].areas[0].circles == ((50.85, 4.35, 2.5),)
    assert alert.zone() == {"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 2500.0}}


def test_one_polygon_per_part_and_holes_cut_into_pieces(areas):
    area = parse_cap(_build(ZONES["multipolygon"], areas)).infos[0].areas[0]
    assert len(area.polygons) == 2
    area = parse_cap(_build(ZONES["polygon-with-hole"], areas)).infos[0].areas[0]
    assert len(area.polygons) == 2  # CAP polygons have no holes: cut through the hole
    pieces = [shapely.Polygon([(lon, lat) for lat, lon in ring]) for ring in area.polygons]
    hole = shapely.Polygon(HOLE)
    assert all(not p.interiors and p.intersection(hole).area < 1e-12 for p in pieces)


def test_geocodes_name_areas_touched(areas):
    def geocodes(zone):
        area = parse_cap(_build(zone, areas)).infos[0].areas[0]
        assert {name for name, _ in area.geocodes} <= {"NIS"}
        return [code for _, code in area.geocodes]

    assert geocodes(ZONES["polygon"]) == ["11001"]
    assert geocodes(ZONES["multipolygon"]) == ["11001", "11002"]
    # A whole province names itself and its municipalities; its region only partly.
    assert geocodes(ZONES["province"]) == ["10000", "11001", "11002"]
    assert geocodes(ZONES["area"]) == ["04000", "21004"]
    # Touching a neighbour's border only is not touching it.
    edge = {
        "type": "Polygon",
        "coordinates": [[[4.35, 50.85], [4.40, 50.85], [4.40, 50.87], [4.35, 50.85]]],
    }
    assert geocodes(edge) == ["11001"]


def test_area_descriptions_per_language(areas):
    alert = parse_cap(_build(ZONES["multipolygon"], areas))
    desc = {i.language: i.areas[0].description for i in alert.infos}
    assert desc == {
        "nl-BE": "Aartselaar, Antwerpen",
        "fr-BE": "Aartselaar, Anvers",
        "de-BE": "Aartselaar, Antwerpen",
        "en": "Aartselaar, Antwerpen",
    }
    desc = {
        i.language: i.areas[0].description
        for i in parse_cap(_build(ZONES["province"], areas)).infos
    }
    assert desc["fr-BE"] == "Province d'Anvers"
    no_world = parse_cap(_build(ZONES["polygon"], None)).infos
    assert [i.areas[0].description for i in no_world] == [
        "Alarmzone",
        "Zone d'alerte",
        "Alarmzone",
        "Alert zone",
    ]
    assert no_world[0].areas[0].geocodes == ()


def test_update_and_cancel_reference_the_alert(schema, areas):
    first = parse_cap(_build(ZONES["circle"], areas))
    update_xml = build_cap(
        ZONES["polygon"], {"nl": "Update"}, "Fire", "Extreme", "Immediate", "Observed",
        msg_type="Update", references=[first.reference], areas=areas,
    )  # fmt: skip
    schema.validate(update_xml)
    update = parse_cap(update_xml)
    assert update.msg_type == "Update"
    assert update.references == ("alerts@geoalert.example,test-1,2024-03-07T12:00:00+01:00",)
    assert update.identifier != first.identifier
    cancel_xml = build_cap(
        ZONES["polygon"], {}, "Fire", "Extreme", "Immediate", "Observed",
        msg_type="Cancel", references=[first.reference, update.reference],
    )  # fmt: skip
    schema.validate(cancel_xml)
    cancel = parse_cap(cancel_xml)
    assert cancel.msg_type == "Cancel" and len(cancel.references) == 2 and cancel.infos == ()
    with pytest.raises(CapError, match="must reference"):
        build_cap(
            ZONES["polygon"],
            {"nl": "x"},
            "Fire",
            "Severe",
            "Immediate",
            "Observed",
            msg_type="Update",
        )
    with pytest.raises(CapError, match="not 'sender,identifier,sent'"):
        build_cap(
            ZONES["polygon"], {"nl": "x"}, "Fire", "Severe", "Immediate", "Observed",
            msg_type="Update", references=["just-an-id"],
        )  # fmt: skip


def test_build_refuses_bad_input(areas):
    with pytest.raises(CapError, match="no text"):
        build_cap(ZONES["polygon"], {}, "Fire", "Severe", "Immediate", "Observed")
    with pytest.raises(CapError, match="the fr text is empty"):
        build_cap(ZONES["polygon"], {"fr": " "}, "Fire", "Severe", "Immediate", "Observed")
    with pytest.raises(ZoneError, match="unknown area code '99999'"):
        _build({"area": "99999"}, areas)
    with pytest.raises(ZoneError):
        _build({"circle": {"lon": 4.35, "lat": 50.85, "radius_m": -1}}, areas)


def _alert_with_area(area_xml: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>x-1</identifier><sender>a@b.example</sender><sent>2024-03-07T12:00:00+01:00</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>fr-BE</language><category>Safety</category><event>Fire</event>
    <urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty>
    <description>Restez à l'intérieur</description>
    <area><areaDesc>Zone</areaDesc>{area_xml}</area>
  </info>
</alert>"""


def test_geocode_only_areas_resolve_by_nis_code(areas):
    alert = parse_cap(
        _alert_with_area(
            "<geocode><valueName>NIS</valueName><value>21004</value></geocode>"
            "<geocode><valueName>NIS</valueName><value>11002</value></geocode>"
        )
    )
    zone = alert.zone()
    assert zone == {"union": [{"area": "21004"}, {"area": "11002"}]}
    assert _same_zone(zone, {"union": [{"area": "21004"}, {"area": "11002"}]}, areas)
    # Geocodes next to a polygon describe it: only the polygon is resolved.
    ring = "50.82,4.32 50.82,4.36 50.86,4.36 50.82,4.32"
    mixed = parse_cap(
        _alert_with_area(
            f"<polygon>{ring}</polygon><geocode><valueName>NIS</valueName><value>11001</value></geocode>"
        )
    )
    assert mixed.zone() == {
        "type": "Polygon",
        "coordinates": [[[4.32, 50.82], [4.36, 50.82], [4.36, 50.86], [4.32, 50.82]]],
    }


@pytest.mark.parametrize(
    ("area_xml", "message"),
    [
        ("<polygon>50.82,4.32 50.82,4.36 50.86,4.36 50.83,4.32</polygon>", "not closed"),
        ("<polygon>50.82,4.32 50.82,4.36 50.82,4.32</polygon>", "at least 4 pairs"),
        ("<polygon>50.82,4.32 50.82,4.36 95.0,4.36 50.82,4.32</polygon>", "outside latitude"),
        ("<polygon>50.82;4.32 50.82,4.36 50.86,4.36 50.82;4.32</polygon>", "not a 'lat,lon' pair"),
        ("<circle>50.85,4.35 0</circle>", "positive radius"),
        ("<circle>50.85,4.35</circle>", "not 'lat,lon radius_km'"),
    ],
)
def test_bad_areas_are_refused_with_their_place(area_xml, message):
    with pytest.raises(CapError, match=message) as error:
        parse_cap(_alert_with_area(area_xml))
    assert "info[0]/area[0]/" in str(error.value)


def test_area_without_anything_to_resolve():
    alert = parse_cap(
        _alert_with_area("<geocode><valueName>EMMA_ID</valueName><value>BE001</value></geocode>")
    )
    with pytest.raises(CapError, match="EMMA_ID are not known"):
        alert.zone()


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<alert", "not well-formed"),
        (_alert_with_area("").replace("<sender>a@b.example</sender>", ""), "schema"),
        (
            _alert_with_area("").replace(
                "<severity>Severe</severity>", "<severity>Huge</severity>"
            ),
            "schema",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&b;</identifier></alert>',
            "well-formed",
        ),
    ],
)
def test_bad_documents_are_refused(xml, message):
    with pytest.raises(CapError, match=message):
        parse_cap(xml)


BOXES = st.tuples(
    st.floats(4.0, 5.0), st.floats(50.5, 51.3), st.floats(0.001, 0.2), st.floats(0.001, 0.2)
).map(lambda t: {"type": "Polygon", "coordinates": [[
    [t[0], t[1]], [t[0] + t[2], t[1]], [t[0] + t[2], t[1] + t[3]], [t[0], t[1] + t[3]], [t[0], t[1]]
]]})  # fmt: skip
CIRCLES = st.tuples(st.floats(4.0, 5.0), st.floats(50.5, 51.3), st.floats(10, 20_000)).map(
    lambda t: {"circle": {"lon": t[0], "lat": t[1], "radius_m": t[2]}}
)


@settings(max_examples=30, deadline=None)
@given(parts=st.lists(st.one_of(BOXES, CIRCLES), min_size=1, max_size=4))
def test_random_zones_round_trip(parts, areas):
    zone = {"union": parts}
    xml = _build(zone, None, ["nl", "fr"])
    back = parse_cap(xml).zone()
    assert _same_zone(zone, back, areas, parts_cross=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from geoalert.testing.tiny_world import write_tiny_world

    return write_tiny_world(tmp_path_factory.mktemp("cap_world"))


def test_cli_cap_resolve_broadcast_update_cancel(tiny, tmp_path, schema):
    import json

    from typer.testing import CliRunner

    from geoalert.cli import app

    run = CliRunner().invoke
    zone = '{"circle": {"lon": 4.40, "lat": 50.83, "radius_m": 2000}}'
    args = ["cap", "--data", str(tiny), "--zone", zone, "--event", "Fire", "--severity", "Severe",
            "--urgency", "Immediate", "--certainty", "Observed", "--text", "nl=Sluit ramen",
            "--text", "fr=Fermez les fenêtres", "--expires", "6h"]  # fmt: skip
    out = run(app, args)
    assert out.exit_code == 0, out.output
    schema.validate(out.stdout)
    alert = parse_cap(out.stdout)
    assert [code for _, code in alert.infos[0].areas[0].geocodes] == ["21001", "21004"]
    assert alert.infos[1].areas[0].description == "Anderlecht, Bruxelles"
    cap_file = tmp_path / "alert.xml"
    cap_file.write_text(out.stdout)

    resolved = run(
        app, ["resolve", "--data", str(tiny), "--cap", str(cap_file), "--include", "cells"]
    )
    assert resolved.exit_code == 0, resolved.output
    direct = run(app, ["resolve", "--data", str(tiny), "--zone", zone, "--include", "cells"])
    assert json.loads(resolved.stdout)["cells"] == json.loads(direct.stdout)["cells"]

    sent = run(
        app,
        [
            "broadcast",
            "--data",
            str(tiny),
            "--cap",
            str(cap_file),
            "--at",
            "2025-03-12T09:00:00+01:00",
        ],
    )
    assert sent.exit_code == 0, sent.output
    live = json.loads(sent.stdout)
    assert live["alert"]["level"] == "level-3" and live["alert"]["message_identifier"] == 4375
    cb = {r["operator"]: r for r in live["cell_broadcast"]}
    assert set(cb) == {c["operator"] for c in json.loads(direct.stdout)["cells"]}
    assert all(0 < r["warning_area_coordinates_octets"] <= 1024 for r in cb.values())
    assert all(r["number_of_broadcasts_requested"] == 360 for r in cb.values())
    sms = live["alert_sms"]
    assert [r["operator"] for r in sms] == sorted(cb)
    assert all(m["segments"] == 1 for r in sms for m in r["messages"])
    live_file = tmp_path / "live.json"
    live_file.write_text(sent.stdout)

    args = ["cap", "--data", str(tiny), "--zone", '{"area": "21004"}', "--event", "Fire", "--severity", "Extreme",
            "--urgency", "Immediate", "--certainty", "Observed", "--text", "nl=Blijf binnen", "--text",
            "fr=Restez à l'intérieur", "--update", str(cap_file)]  # fmt: skip
    update_cap = run(app, args)
    assert update_cap.exit_code == 0, update_cap.output
    update = parse_cap(update_cap.stdout)
    assert update.msg_type == "Update" and update.references == (alert.reference,)
    update_file = tmp_path / "update.xml"
    update_file.write_text(update_cap.stdout)
    refused = run(app, ["broadcast", "--data", str(tiny), "--cap", str(update_file)])
    assert refused.exit_code == 2 and "--previous" in refused.output
    updated = run(
        app,
        ["broadcast", "--data", str(tiny), "--cap", str(update_file), "--previous", str(live_file)],
    )
    assert updated.exit_code == 0, updated.output
    for request in json.loads(updated.stdout)["cell_broadcast"]:
        before = {m["language"]: m for m in cb[request["operator"]]["messages"]}
        for m in request["messages"]:
            assert m["message_code"] == before[m["language"]]["message_code"]
            assert m["update_number"] == before[m["language"]]["update_number"] + 1
        assert {k["message_identifier"] for k in request["kill"]} == {4375, 4388}  # level 3 -> 2

    cancelled = run(
        app, ["broadcast", "--data", str(tiny), "--previous", str(live_file), "--cancel"]
    )
    assert cancelled.exit_code == 0, cancelled.output
    kills = json.loads(cancelled.stdout)["cell_broadcast"]
    assert {r["operation"] for r in kills} == {"kill"}
    assert {(k["message_identifier"], k["serial_number"]) for k in kills[0]["kill"]} == {
        (m["message_identifier"], m["serial_number"]) for m in cb[kills[0]["operator"]]["messages"]
    }

    bad = run(app, ["cap", "--data", str(tiny), "--zone", '{"area": "99999"}', "--event", "x", "--severity",
                    "Severe", "--urgency", "Immediate", "--certainty", "Observed", "--text", "nl=x"])  # fmt: skip
    assert bad.exit_code == 2 and "unknown area code '99999'" in bad.output
