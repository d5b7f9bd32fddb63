"""Cell broadcast encoders against TS 23.038/23.041 examples, a reference decoder's PDUs, and
round trips."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geoalert.messages.alphabet import (
    ESCAPE,
    GSM7_BASIC,
    GSM7_EXTENSION,
    pack_septets,
    septets_to_text,
    text_to_septets,
    unpack_septets,
)
from geoalert.messages.area import (
    AreaError,
    WacCircle,
    WacPolygon,
    covering_polygons,
    decode_wac,
    encode_wac,
    hole_free_parts,
    wac_polygons,
)
from geoalert.messages.broadcast import (
    broadcasts_until,
    cb_cancel_requests,
    cb_requests,
    message_code_for,
)
from geoalert.messages.cbs import (
    DCS_GSM7_LANGUAGE_IN_BODY,
    DCS_UCS2,
    DCS_UCS2_LANGUAGE_IN_BODY,
    CbsError,
    decode_cb_data,
    decode_gsm_pages,
    encode_cbs,
    next_update,
    parse_gsm_page,
    serial_number,
    split_serial_number,
)
from geoalert.messages.levels import AlertLevel, classify, first_thursday

GSM7_CHARS = [c for i, c in enumerate(GSM7_BASIC) if i != ESCAPE and c != "\r"]
GSM7_TEXT = st.text(alphabet=GSM7_CHARS + list(GSM7_EXTENSION.values()), min_size=1, max_size=1200)
# Any Unicode scalar except surrogates and the carriage return (the page padding).
UNICODE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
    min_size=1,
    max_size=500,
)

# 88-octet GSM pages and UMTS CB data from the test suite of AOSP's CellBroadcastService
# (GsmSmsCbMessageTest), an independent decoder of TS 23.041 messages.
CR_PAD = "D168341A8D46A3"
AOSP_PADDED_CONTENT = bytes.fromhex(
    "41D071DA0491CBE6709D4D0785D97074585CA683DAE5F93C7C2E83EE693A1A340ECBE5E9F0B90C9297E975B91B"
    "040F93C969F7B9" + CR_PAD * 3 + "D168341A8D46A3D100"
)
AOSP_PADDED_TEXT = "A GSM default alphabet message with carriage return padding"
AOSP_FULL_CONTENT = bytes.fromhex(
    "41D071DA0491CBE6709D4D0785D97074585CA683DAE5F93C7C2E83C4E5B4FB0C2AE3C3633A3B0FCACD4063745"
    "81E1ED3CBF23988FD769F59A07639EC4EBBCF203ABA2C2F83D27390FB0D8287C9E4B4FB1C02"
)
AOSP_FULL_TEXT = (
    "A GSM default alphabet message being exactly 93 characters long, meaning there is no padding!"
)
AOSP_UCS2_LANGUAGE_PAGE = bytes.fromhex(
    "783C0041002000550043005300320020006D00650073007300610067006500200063006F006E007400610069"
    "006E0069006E00670020006100200434002000630068006100720061006300740065007200"
    "0D"
)


def test_septet_packing_matches_ts_23038_example():
    # TS 23.038 clause 6.1.2.1.1: "hellohello" packed into 9 octets.
    packed = pack_septets(text_to_septets("hellohello"))
    assert packed.hex().upper() == "E8329BFD4697D9EC37"
    assert septets_to_text(unpack_septets(packed, 10)) == "hellohello"


def test_extension_characters_are_escaped():
    assert text_to_septets("€") == [0x1B, 0x65]
    assert text_to_septets("[]{}~^\\|") == [
        0x1B, 0x3C, 0x1B, 0x3E, 0x1B, 0x28, 0x1B, 0x29, 0x1B, 0x3D, 0x1B, 0x14, 0x1B, 0x2F,
        0x1B, 0x40,
    ]  # fmt: skip
    assert text_to_septets("@£$éàÄß") == [0x00, 0x01, 0x02, 0x05, 0x7F, 0x5B, 0x1E]
    with pytest.raises(ValueError, match=r"'ê' .* at position 3"):
        text_to_septets("fenêtre")


def test_gsm_page_matches_reference_decoder_padded():
    m = encode_cbs(AOSP_PADDED_TEXT)
    (page,) = m.gsm_pages(50, 0xC000)
    assert len(page) == 88
    assert page[:4] == bytes.fromhex("C0000032")
    assert page[5] == 0x11  # page 1 of 1
    assert page[6:] == AOSP_PADDED_CONTENT
    # UMTS/LTE CB data: one page, 82 octets, 0x34 = 52 octets in use.
    assert m.cb_data() == b"\x01" + AOSP_PADDED_CONTENT + b"\x34"


def test_gsm_page_matches_reference_decoder_full_page():
    m = encode_cbs(AOSP_FULL_TEXT)
    assert m.pages == (AOSP_FULL_CONTENT,)
    assert m.page_lengths == (82,)


def test_reference_pdus_decode():
    aosp_gsm_pdu = bytes.fromhex("C000003240 11".replace(" ", "")) + AOSP_PADDED_CONTENT
    assert decode_gsm_pages([aosp_gsm_pdu]) == (AOSP_PADDED_TEXT, None)
    # Spanish in the data coding scheme (0x04).
    spanish = bytes.fromhex("C00000320411") + AOSP_PADDED_CONTENT
    assert decode_gsm_pages([spanish]) == (AOSP_PADDED_TEXT, "es")
    ucs2 = b"\x01" + AOSP_UCS2_LANGUAGE_PAGE + b"\x50"
    assert decode_cb_data(ucs2, DCS_UCS2_LANGUAGE_IN_BODY) == (
        "A UCS2 message containing a \u0434 character",
        "xx",
    )


def test_ucs2_with_language_in_body_matches_reference_page():
    m = encode_cbs("A UCS2 message containing a \u0434 character", "xx")
    assert m.data_coding_scheme == DCS_UCS2_LANGUAGE_IN_BODY
    assert m.pages == (AOSP_UCS2_LANGUAGE_PAGE,)
    assert m.page_lengths == (0x50,)


@pytest.mark.parametrize(
    ("language", "dcs"), [("de", 0x00), ("en", 0x01), ("fr", 0x03), ("nl", 0x05), (None, 0x0F)]
)
def test_data_coding_scheme_names_language(language, dcs):
    assert encode_cbs("Alert", language).data_coding_scheme == dcs


def test_other_language_goes_in_the_body_of_every_page():
    m = encode_cbs("x" * 100, "lb")
    assert m.data_coding_scheme == DCS_GSM7_LANGUAGE_IN_BODY
    assert len(m.pages) == 2  # 90 characters per page after "lb\r"
    assert all(septets_to_text(unpack_septets(p, 3)) == "lb\r" for p in m.pages)
    assert decode_cb_data(m.cb_data(), m.data_coding_scheme) == ("x" * 100, "lb")


def test_ucs2_fallback_and_page_capacity():
    assert encode_cbs("Fermez les fenêtres", "fr").encoding == "ucs2"
    assert encode_cbs("ê" * 41).data_coding_scheme == DCS_UCS2
    assert len(encode_cbs("ê" * 41).pages) == 1
    assert len(encode_cbs("ê" * 42).pages) == 2
    assert len(encode_cbs("ê" * 40, "fr").pages) == 1  # 2 octets of language, 40 units
    assert len(encode_cbs("ê" * 41, "fr").pages) == 2


def test_gsm7_page_capacity_and_escape_never_split():
    assert len(encode_cbs("a" * 93).pages) == 1
    assert len(encode_cbs("a" * 94).pages) == 2
    # 92 septets then a 2-septet euro: the euro moves whole to page 2.
    m = encode_cbs("a" * 92 + "€")
    assert len(m.pages) == 2
    assert septets_to_text(unpack_septets(m.pages[1], 2)) == "€"


def test_fifteen_pages_at_most():
    assert len(encode_cbs("a" * 93 * 15).pages) == 15
    with pytest.raises(CbsError, match="16 pages"):
        encode_cbs("a" * (93 * 15 + 1))
    with pytest.raises(CbsError, match="pages"):
        encode_cbs("ê" * (41 * 15 + 1))


@pytest.mark.parametrize("text", ["", "line\r\nbreak"])
def test_bad_text_is_refused(text):
    with pytest.raises(CbsError):
        encode_cbs(text)


def test_page_parameter_counts_pages():
    m = encode_cbs("b" * 200, "en")
    pages = m.gsm_pages(4371, serial_number(5, 0))
    assert [p[5] for p in pages] == [0x13, 0x23, 0x33]
    assert [parse_gsm_page(p).page for p in pages] == [1, 2, 3]
    assert decode_gsm_pages(list(reversed(pages))) == ("b" * 200, "en")
    with pytest.raises(CbsError, match="complete set"):
        decode_gsm_pages(pages[:2])


@given(GSM7_TEXT, st.sampled_from([None, "nl", "fr", "de", "en", "lb"]))
def test_gsm7_round_trip(text, language):
    m = encode_cbs(text, language)
    assert m.encoding == "gsm7"
    assert decode_cb_data(m.cb_data(), m.data_coding_scheme) == (text, language)
    assert decode_gsm_pages(m.gsm_pages(4370, 0x4000)) == (text, language)


@given(UNICODE_TEXT, st.sampled_from([None, "nl", "fr"]))
def test_any_text_round_trips(text, language):
    try:
        m = encode_cbs(text, language)
    except CbsError as e:
        assert "pages" in str(e)
        return
    assert all(len(p) == 82 for p in m.pages)
    assert decode_cb_data(m.cb_data(), m.data_coding_scheme)[0] == text
    assert decode_gsm_pages(m.gsm_pages(4370, 0x4000))[0] == text


def test_serial_number_fields():
    # TS 23.041 9.4.1.2.1: GS (2 bits) | message code (10 bits) | update number (4 bits).
    assert serial_number(682, 5, "cell") == 0xEAA5
    assert serial_number(0, 0, "cell-immediate") == 0
    assert serial_number(1023, 15, "plmn") == 0x7FFF
    assert split_serial_number(0x2AA5) == ("cell-immediate", 682, 5)
    for bad in [(1024, 0, "plmn"), (0, 16, "plmn"), (0, 0, "country")]:
        with pytest.raises(CbsError):
            serial_number(*bad)


@given(
    st.integers(0, 1023),
    st.integers(0, 15),
    st.sampled_from(["cell-immediate", "plmn", "area", "cell"]),
)
def test_update_increments_modulo_16_keeping_code_and_scope(code, update, scope):
    sn = serial_number(code, update, scope)
    assert split_serial_number(next_update(sn)) == (scope, code, (update + 1) % 16)


@pytest.mark.parametrize(
    ("suc", "mi", "extra", "level"),
    [
        (("Extreme", "Immediate", "Observed"), 4371, 4384, AlertLevel.LEVEL_2),
        (("Extreme", "Immediate", "Likely"), 4372, 4385, AlertLevel.LEVEL_2),
        (("Extreme", "Expected", "Observed"), 4373, 4386, AlertLevel.LEVEL_3),
        (("Extreme", "Expected", "Likely"), 4374, 4387, AlertLevel.LEVEL_3),
        (("Severe", "Immediate", "Observed"), 4375, 4388, AlertLevel.LEVEL_3),
        (("Severe", "Immediate", "Likely"), 4376, 4389, AlertLevel.LEVEL_3),
        (("Severe", "Expected", "Observed"), 4377, 4390, AlertLevel.LEVEL_3),
        (("Severe", "Expected", "Likely"), 4378, 4391, AlertLevel.LEVEL_3),
        (("Moderate", "Immediate", "Observed"), 4396, 4397, AlertLevel.LEVEL_4),
        (("Extreme", "Future", "Observed"), 4396, 4397, AlertLevel.LEVEL_4),
        (("Severe", "Immediate", "Possible"), 4396, 4397, AlertLevel.LEVEL_4),
    ],
)
def test_cap_values_map_to_ts_23041_identifiers(suc, mi, extra, level):
    c = classify(*suc)
    assert (c.level, c.message_identifier, c.additional_language_identifier) == (level, mi, extra)


@pytest.mark.parametrize(
    ("kwargs", "mi", "extra"),
    [
        ({"level": "level-1"}, 4370, 4383),
        ({"level": "amber"}, 4379, 4392),
        ({"status": "Test"}, 4380, 4393),
        ({"status": "Exercise"}, 4381, 4394),
        ({"level": "operator-defined"}, 4382, 4395),
    ],
)
def test_special_levels(kwargs, mi, extra):
    c = classify("Extreme", "Immediate", "Observed", **kwargs)
    assert (c.message_identifier, c.additional_language_identifier) == (mi, extra)


def test_classify_refuses_inconsistent_input():
    with pytest.raises(ValueError, match="severity 'Huge'"):
        classify("Huge", "Immediate", "Observed")
    with pytest.raises(ValueError, match="not broadcast"):
        classify("Extreme", "Immediate", "Observed", status="Draft")
    with pytest.raises(ValueError, match="do not make an EU-Alert level-2"):
        classify("Severe", "Expected", "Likely", level="level-2")
    with pytest.raises(ValueError, match="alert level 'level-9'"):
        classify("Severe", "Expected", "Likely", level="level-9")


def test_first_thursday():
    assert first_thursday(2024, 2).isoformat() == "2024-02-01"
    assert first_thursday(2024, 3).isoformat() == "2024-03-07"
    assert first_thursday(2025, 1).isoformat() == "2025-01-02"


# Warning area coordinates (ATIS-0700041 5.2 coding, the SBc-AP Warning Area Coordinates IE).
# The UMTS PDU of AOSP's testCreateMessageFromBinary ends with WAC: a 2-octet little-endian length,
# then shapes; the first circle and polygon decode to the values that test asserts.
AOSP_WAC = bytes.fromhex("EA013028B53640A4BF600063204C8FCD063F341AF67167E683CF01215F1E40100C05")


def test_wac_matches_reference_decoder():
    assert int.from_bytes(AOSP_WAC[:2], "little") == 490  # length of the full set in the PDU
    shapes, wait = decode_wac(AOSP_WAC[2:])
    assert wait == 5
    circle, polygon = shapes
    assert (circle.lat, circle.lon) == (37.41462707519531, -122.08093643188477)
    assert circle.radius_km * 1000 == 1546.875
    assert polygon.vertices == (
        (11.109967231750488, 22.219934463500977),
        (33.32998752593994, 44.43995475769043),
        (55.549964904785156, -56.560020446777344),
    )
    assert encode_wac(shapes, maximum_wait_time_s=None) == AOSP_WAC[2:-3]
    assert encode_wac([], maximum_wait_time_s=5) == AOSP_WAC[-3:]


def test_wac_refuses_what_it_cannot_code():
    with pytest.raises(AreaError, match="at least 3"):
        encode_wac([WacPolygon(((50.0, 4.0), (50.1, 4.0)))])
    big = WacPolygon(tuple((50 + i * 1e-3, 4.0 + (i % 2) * 1e-3) for i in range(100)))
    assert len(encode_wac([big])) == 2 + 550
    with pytest.raises(AreaError, match="1104 octets; at most 1024"):
        encode_wac([big, big])
    with pytest.raises(AreaError, match="outside"):
        encode_wac([WacCircle(95.0, 4.0, 1.0)])


def _decoded_cover(shapes):
    decoded, _ = decode_wac(encode_wac(shapes))
    return shapely.union_all([s.to_shapely() for s in decoded])


@st.composite
def wiggly_zones(draw):
    """Star-shaped polygons around Brussels, up to 3,000 vertices, sometimes with a hole."""
    n = draw(st.integers(3, 3000))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    radius_deg = draw(st.floats(0.001, 0.5))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius_deg * rng.uniform(0.3, 1.0, n)
    ring = np.column_stack([4.35 + 1.6 * r * np.cos(angles), 50.85 + r * np.sin(angles)])
    polygon = shapely.make_valid(shapely.Polygon(ring))
    if draw(st.booleans()):
        polygon = polygon.difference(shapely.Point(4.35, 50.85).buffer(radius_deg * 0.2))
    polygons = [p for p in shapely.get_parts(polygon) if p.geom_type == "Polygon" and p.area > 0]
    return shapely.MultiPolygon(polygons) if polygons else shapely.box(4.3, 50.8, 4.4, 50.9)


@settings(max_examples=15, deadline=None)
@given(wiggly_zones())
def test_simplified_warning_area_fits_and_covers_the_zone(zone):
    shapes = covering_polygons(zone, "EPSG:3812", max_vertices=100)
    assert len(encode_wac(shapes)) <= 1024
    assert sum(len(s.vertices) for s in shapes) <= 100
    assert _decoded_cover(shapes).covers(zone)


def test_covering_stays_close_for_simple_zones():
    box = shapely.box(4.30, 50.80, 4.40, 50.90)
    shapes = covering_polygons(box, "EPSG:3812")
    assert [len(s.vertices) for s in shapes] == [4]
    assert _decoded_cover(shapes).area / box.area < 1.01
    # A hole is kept by cutting the ring in hole-free pieces, not filled.
    holed = box.difference(shapely.box(4.33, 50.83, 4.37, 50.87))
    cover = _decoded_cover(covering_polygons(holed, "EPSG:3812"))
    assert cover.covers(holed)
    assert cover.area / holed.area < 1.02


def test_hole_free_parts_union_is_the_polygon():
    outer = shapely.box(0, 0, 10, 10)
    holed = outer.difference(shapely.box(2, 2, 4, 4)).difference(shapely.box(6, 6, 8, 8))
    holed = holed.difference(
        shapely.Polygon([(1, 5), (9, 5), (9, 5.5), (1.5, 5.5), (1.5, 9), (1, 9)])
    )
    parts = hole_free_parts(holed)
    assert all(not p.interiors for p in parts)
    assert shapely.union_all(parts).symmetric_difference(holed).area < 1e-9


# Requests to the operators' cell broadcast centres.
CELLS = [
    {"cell_id": "206-01-10-1", "operator": "01", "operator_name": "Proximus", "radio": "4G"},
    {"cell_id": "206-01-11-2", "operator": "01", "operator_name": "Proximus", "radio": "2G"},
    {"cell_id": "206-10-20-1", "operator": "10", "operator_name": "Orange Belgium", "radio": "5G"},
    {"cell_id": "206-20-30-1", "operator": "20", "operator_name": "Telenet/BASE", "radio": "4G"},
]
FOUR = {
    "nl": "Sluit ramen en deuren",
    "fr": "Fermez portes et fenêtres",
    "de": "Fenster zu",
    "en": "Close windows",
}


def _messages(request):
    return {m["language"]: m for m in request["messages"]}


def test_cb_requests_per_operator_and_language():
    requests = cb_requests(
        FOUR, classify("Extreme", "Immediate", "Likely"), CELLS, message_code=1022,
        warning_area=encode_wac([WacCircle(50.85, 4.35, 2.0)]), repetition_period_s=30,
    )  # fmt: skip
    assert [r["operator"] for r in requests] == ["01", "10", "20"]
    first = requests[0]
    assert first["plmn"] == "206-01" and first["cells"] == {
        "2G": ["206-01-11-2"],
        "4G": ["206-01-10-1"],
    }
    assert first["warning_area_coordinates_octets"] == 10 and first["repetition_period_s"] == 30
    msgs = _messages(first)
    # Primary language on the level's identifier, the others on the additional-language one.
    assert {lang: m["message_identifier"] for lang, m in msgs.items()} == {
        "nl": 4372, "fr": 4385, "de": 4385, "en": 4385,
    }  # fmt: skip
    # Messages sharing an identifier have distinct serial numbers (codes wrap modulo 1024).
    assert [m["message_code"] for m in msgs.values()] == [1022, 1023, 0, 1]
    assert all(m["update_number"] == 0 and m["geographical_scope"] == "plmn" for m in msgs.values())
    assert msgs["fr"]["encoding"] == "ucs2" and msgs["nl"]["data_coding_scheme"] == 0x05
    # The same serial numbers go to every operator; only 2G cells get the GSM pages.
    for r in requests:
        assert [m["serial_number"] for m in r["messages"]] == [
            m["serial_number"] for m in first["messages"]
        ]
    assert "gsm_pages" in msgs["nl"] and "gsm_pages" not in requests[1]["messages"][0]
    page = bytes.fromhex(msgs["nl"]["gsm_pages"][0])
    assert parse_gsm_page(page).message_identifier == 4372
    assert decode_cb_data(
        bytes.fromhex(msgs["de"]["cb_data"]), msgs["de"]["data_coding_scheme"]
    ) == ("Fenster zu", "de")


def test_update_increments_every_operator_and_kills_what_changed():
    live = cb_requests(
        FOUR, classify("Severe", "Expected", "Likely"), CELLS, message_code=7, primary_language="fr"
    )
    assert _messages(live[0])["fr"]["message_identifier"] == 4378
    texts = {"fr": "Mise à jour", "nl": "Update"}  # de and en dropped
    update = cb_requests(texts, classify("Extreme", "Immediate", "Observed"), CELLS[:3], message_code=500,
                         primary_language="fr", previous=live)  # fmt: skip
    assert [(r["operator"], r["operation"]) for r in update] == [
        ("01", "write-replace"),
        ("10", "write-replace"),
        ("20", "kill"),
    ]
    before, after = _messages(live[0]), _messages(update[0])
    for lang in texts:
        scope, code, number = split_serial_number(after[lang]["serial_number"])
        assert (scope, code) == split_serial_number(before[lang]["serial_number"])[:2]
        assert number == 1
    killed = {
        (k["language"], k["message_identifier"], k["serial_number"]) for k in update[0]["kill"]
    }
    # New level: the old identifiers of fr and nl are stopped; de and en are gone.
    assert killed == {
        (lang, before[lang]["message_identifier"], before[lang]["serial_number"]) for lang in FOUR
    }
    assert {k["language"] for k in update[2]["kill"]} == set(FOUR)


def test_update_number_wraps_modulo_16():
    c = classify("Severe", "Immediate", "Observed")
    requests = cb_requests({"nl": "v0"}, c, CELLS, message_code=3)
    for version in range(1, 18):
        requests = cb_requests({"nl": f"v{version}"}, c, CELLS, message_code=3, previous=requests)
        assert {split_serial_number(r["messages"][0]["serial_number"])[2] for r in requests} == {
            version % 16
        }
        assert all(r["kill"] == [] for r in requests)  # same identifier: replaced, not killed


def test_cancel_kills_the_live_serial_numbers_of_every_operator():
    live = cb_requests(FOUR, classify("Severe", "Immediate", "Observed"), CELLS, message_code=9)
    live = cb_requests(
        FOUR, classify("Severe", "Immediate", "Observed"), CELLS, message_code=9, previous=live
    )
    cancel = cb_cancel_requests(live)
    assert [(r["operator"], r["operation"]) for r in cancel] == [
        ("01", "kill"),
        ("10", "kill"),
        ("20", "kill"),
    ]
    for before, after in zip(live, cancel, strict=True):
        assert [(k["message_identifier"], k["serial_number"]) for k in after["kill"]] == [
            (m["message_identifier"], m["serial_number"]) for m in before["messages"]
        ]
        assert after["cells"] == before["cells"]
    with pytest.raises(CbsError, match="no live"):
        cb_cancel_requests([])


def test_cb_request_limits():
    c = classify("Severe", "Immediate", "Observed")
    with pytest.raises(CbsError, match="repetition period"):
        cb_requests({"nl": "x"}, c, CELLS, message_code=0, repetition_period_s=5000)
    with pytest.raises(CbsError, match="primary language 'de'"):
        cb_requests({"nl": "x"}, c, CELLS, message_code=0, primary_language="de")
    now = dt.datetime(2024, 3, 7, 12, tzinfo=dt.UTC)
    assert broadcasts_until(None, 60, now) == 0
    assert broadcasts_until(now + dt.timedelta(minutes=90, seconds=1), 60, now) == 91
    assert broadcasts_until(now + dt.timedelta(days=400), 60, now) == 65535
    with pytest.raises(CbsError, match="not after now"):
        broadcasts_until(now, 60, now)
    assert 0 <= message_code_for("geoalert-1") < 1024
    assert message_code_for("geoalert-1") == message_code_for("geoalert-1")


def test_decoded_warning_area_codes_back_to_the_same_octets():
    zone = shapely.Point(4.35, 50.85).buffer(0.05, 64)
    octets = encode_wac(covering_polygons(zone, "EPSG:3812"))
    decoded, _ = decode_wac(octets)
    again = wac_polygons(shapely.MultiPolygon([s.to_shapely() for s in decoded]))
    assert encode_wac(again) == octets
