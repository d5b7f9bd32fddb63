"""Alert-SMS segment counts on the edge cases, language choice and request totals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geoalert.messages.sms import language_for, sms_request, sms_segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        # Accents of the GSM 7-bit alphabet stay single septets.
        ("é" * 160, "gsm7", 160, 1),
        ("àèéìòùÄÖÜäöüñÑÇßÅåØøÆæÉ", "gsm7", 23, 1),
        # The euro sign and the other extension characters count double.
        ("€" * 80, "gsm7", 160, 1),
        ("€" * 81, "gsm7", 162, 2),
        ("a" * 159 + "€", "gsm7", 161, 2),
        ("[]{}~^\\|", "gsm7", 16, 1),
        # 152 septets then a euro: the escape pair moves whole to segment 2 (153 + 1 would split).
        ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),
        # Accents outside the alphabet switch the whole text to UCS-2.
        ("ê" * 70, "ucs2", 70, 1),
        ("ê" * 71, "ucs2", 71, 2),
        ("ç" + "a" * 133, "ucs2", 134, 2),
        ("ç" + "a" * 134, "ucs2", 135, 3),
        ("Évacuez: ë ï", "ucs2", 12, 1),
        # Emoji beyond the BMP are surrogate pairs: two units each, never split.
        ("🚨" * 35, "ucs2", 70, 1),
        ("🚨" * 36, "ucs2", 72, 2),
        ("a" * 66 + "🚨" + "a" * 66, "ucs2", 134, 3),
        # A BMP symbol (warning sign) is one unit.
        ("⚠" * 70, "ucs2", 70, 1),
    ],
)
def test_segment_edge_cases(text, encoding, units, segments):
    s = sms_segments(text)
    assert (s.encoding, s.units, s.segments) == (encoding, units, segments)


def test_empty_text_is_refused():
    with pytest.raises(ValueError, match="empty"):
        sms_segments("")


@given(st.text(alphabet="abcé€[", min_size=161, max_size=2000))
def test_gsm7_segments_bounds(text):
    s = sms_segments(text)
    # Each segment holds 153 septets; at most one septet is lost per segment to an escape pair.
    assert -(-s.units // 153) <= s.segments <= -(-s.units // 152)


@given(st.text(min_size=1, max_size=400))
def test_segments_never_fewer_than_capacity_allows(text):
    s = sms_segments(text)
    single, multi = (160, 153) if s.encoding == "gsm7" else (70, 67)
    if s.units <= single:
        assert s.segments == 1
    else:
        assert s.segments >= -(-s.units // multi)


def test_language_by_home_country():
    texts = ["nl", "fr", "de", "en"]
    assert language_for(206, texts, "nl") == "nl"
    assert language_for(206, texts, "fr") == "fr"
    assert language_for(208, texts, "nl") == "fr"  # France
    assert language_for(204, texts, "fr") == "nl"  # Netherlands
    assert language_for(262, texts, "nl") == "de"  # Germany
    assert language_for(234, texts, "nl") == "en"  # United Kingdom
    assert language_for(222, texts, "nl") == "nl"  # Italy: no Italian text, default
    assert language_for(262, ["nl", "fr"], "fr") == "fr"
    with pytest.raises(ValueError, match="default language 'de'"):
        language_for(206, ["nl"], "de")


def test_sms_request_counts_recipients_segments_and_cost():
    req = sms_request(
        "01",
        ["206-01-1-1", "206-01-1-2", "206-01-1-1"],
        {"nl": "Sluit ramen en deuren.", "fr": "Fermez portes et fenêtres. " * 4},
        {206: 1000, 208: 40, 204: 25, 440: 3},
        default_language="nl",
        segment_cost_eur=0.05,
        k_anonymity=15,
    )
    assert req["cells"] == ["206-01-1-1", "206-01-1-2"]
    nl, fr = req["messages"]
    assert nl["home_mcc"] == [204, 206, 440] and nl["recipients"] == 1028
    assert fr["home_mcc"] == [208] and fr["recipients"] == 40
    assert (nl["segments"], fr["encoding"], fr["segments"]) == (1, "ucs2", 2)
    assert req["recipients"] == 1068
    assert req["segments"] == 1028 + 80
    assert req["cost_eur"] == pytest.approx(1108 * 0.05)


def test_small_counts_are_withheld():
    req = sms_request(
        "10",
        ["206-10-1-1"],
        {"nl": "Alarm", "en": "Alert"},
        {206: 500, 234: 3},
        default_language="nl",
        segment_cost_eur=0.1,
        k_anonymity=15,
    )
    assert req["messages"][1]["recipients"] is None
    assert req["recipients"] is None
    assert req["recipients_at_most"] == 515
    assert req["cost_is_upper_bound"]
    assert req["cost_eur"] == pytest.approx(51.5)


def _presence():
    import pandas as pd

    times = pd.DatetimeIndex(
        ["2025-03-12 03:00", "2025-03-12 08:00", "2025-03-12 14:00"], tz="Europe/Brussels"
    )
    rows = []
    for t, base in zip(times, [10, 100, 1000], strict=True):
        rows += [
            {
                "cell_id": "206-01-1-1",
                "operator": "01",
                "time": t,
                "home_mcc": 206,
                "devices": base,
            },
            {"cell_id": "206-01-1-1", "operator": "01", "time": t, "home_mcc": 208, "devices": 3},
            {
                "cell_id": "206-01-1-2",
                "operator": "01",
                "time": t,
                "home_mcc": 206,
                "devices": base,
            },
            {
                "cell_id": "206-10-1-1",
                "operator": "10",
                "time": t,
                "home_mcc": 206,
                "devices": 2 * base,
            },
        ]
    return pd.DataFrame(rows)


def test_devices_by_operator_in_the_bucket_of_the_time_asked():
    import datetime as dt

    from geoalert.messages.sms import devices_by_operator

    tz = dt.timezone(dt.timedelta(hours=1))
    cells = ["206-01-1-1", "206-10-1-1"]
    at = dt.datetime(2025, 3, 12, 8, 30, tzinfo=tz)
    assert devices_by_operator(_presence(), cells, at) == {
        "01": {206: 100, 208: 3},
        "10": {206: 200},
    }
    # Another day: the bucket of the same time of day; after the last bucket, the last one.
    other_day = dt.datetime(2025, 1, 8, 15, 0, tzinfo=tz)
    assert devices_by_operator(_presence(), cells, other_day)["10"] == {206: 2000}
    assert devices_by_operator(_presence(), cells, dt.datetime(2025, 1, 8, 2, 0, tzinfo=tz))[
        "10"
    ] == {206: 2000}
    assert devices_by_operator(_presence(), ["206-01-1-2"], at) == {"01": {206: 100}}
