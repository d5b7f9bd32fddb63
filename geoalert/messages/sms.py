"""Alert-SMS (location-based SMS): segments, language by home country, recipients and cost.

An SMS carries 140 octets: 160 GSM 7-bit septets, or 70 UCS-2 code units. A longer text is
sent as a concatenated SMS whose user data header takes 6 octets of every segment, leaving
153 septets or 67 code units (3GPP TS 23.040 clause 9.2.3.24.1). A character from the GSM 7-bit
extension table (``€ [ ] { } ~ ^ \\ |``) costs two septets, one outside the Basic Multilingual
Plane (most emoji) two code units; neither is split between segments. One character outside
the GSM 7-bit alphabet (``ê``, ``ç``, ``ë``, an emoji...) turns the whole text into UCS-2.

Each device receives one language: the first of its home country's languages (from the MCC of
its SIM) that the alert has, else the alert's default language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from geoalert.messages.alphabet import is_gsm7, split_text, text_length

SINGLE = {"gsm7": 160, "ucs2": 70}
"""Septets or code units of a single-segment SMS."""
CONCATENATED = {"gsm7": 153, "ucs2": 67}
"""Septets or code units per segment of a concatenated SMS."""

MCC_LANGUAGES: dict[int, tuple[str, ...]] = {
    202: ("el",),
    204: ("nl",),
    206: (),
    208: ("fr",),
    212: ("fr",),
    214: ("es",),
    216: ("hu",),
    219: ("hr",),
    220: ("sr",),
    222: ("it",),
    226: ("ro",),
    228: ("de", "fr", "it"),
    230: ("cs",),
    231: ("sk",),
    232: ("de",),
    234: ("en",),
    235: ("en",),
    238: ("da",),
    240: ("sv",),
    242: ("no",),
    244: ("fi",),
    246: ("lt",),
    247: ("lv",),
    248: ("et",),
    250: ("ru",),
    255: ("uk",),
    260: ("pl",),
    262: ("de",),
    268: ("pt",),
    270: ("fr", "de"),
    272: ("en",),
    278: ("en",),
    280: ("el",),
    284: ("bg",),
    286: ("tr",),
    293: ("sl",),
    295: ("de",),
    302: ("en", "fr"),
    **{mcc: ("en",) for mcc in range(310, 317)},
    404: ("en",),
    405: ("en",),
    505: ("en",),
    530: ("en",),
}
"""Languages of a device's home country by mobile country code, most spoken first. Belgian
devices (206) get the alert's default language, which follows the zone."""


@dataclass(frozen=True)
class Segments:
    """How an SMS text is sent."""

    encoding: str
    """``"gsm7"`` or ``"ucs2"``."""
    characters: int
    units: int
    """Septets (GSM 7-bit, extension characters count two) or UCS-2 code units (characters
    outside the BMP count two)."""
    segments: int


def sms_segments(text: str) -> Segments:
    """Encoding and number of segments of an SMS text.

    Raises
    ------
    ValueError
        If the text is empty.

    Examples
    --------
    >>> sms_segments("a" * 160).segments, sms_segments("a" * 161).segments
    (1, 2)
    >>> sms_segments("€" * 80).units
    160
    >>> s = sms_segments("Fermez les fenêtres")
    >>> s.encoding, s.segments
    ('ucs2', 1)
    """
    if not text:
        raise ValueError("the SMS text is empty")
    encoding = "gsm7" if is_gsm7(text) else "ucs2"
    units = text_length(text, encoding)
    if units <= SINGLE[encoding]:
        segments = 1
    else:
        segments = len(split_text(text, CONCATENATED[encoding], encoding))
    return Segments(encoding, len(text), units, segments)


def language_for(home_mcc: int, languages: Iterable[str], default: str) -> str:
    """The language a device of home country ``home_mcc`` receives among ``languages``.

    Examples
    --------
    >>> language_for(208, ["nl", "fr", "en"], default="nl")
    'fr'
    >>> language_for(206, ["nl", "fr"], default="nl"), language_for(440, ["nl", "en"], "nl")
    ('nl', 'nl')
    """
    available = list(languages)
    if default not in available:
        raise ValueError(f"default language {default!r} is not among the texts {available}")
    for lang in MCC_LANGUAGES.get(int(home_mcc), ()):
        if lang in available:
            return lang
    return default


def sms_request(
    operator: str,
    cell_ids: Iterable[str],
    texts: Mapping[str, str],
    devices_by_mcc: Mapping[int, int],
    *,
    default_language: str,
    segment_cost_eur: float,
    k_anonymity: int = 1,
    operator_name: str | None = None,
) -> dict:
    """The request to one operator to send an Alert-SMS to the devices in some cells.

    Parameters
    ----------
    operator : MNC of the operator (``"01"``)
    cell_ids : the operator's cells whose attached devices receive the SMS
    texts : language -> text
    devices_by_mcc : devices attached to those cells now, by home MCC (presence feed)
    default_language : language for Belgian devices and countries without a text
    segment_cost_eur : cost of one SMS segment, EUR
    k_anonymity : recipient counts below this are published as ``None`` (and costed at it)

    Returns
    -------
    dict
        ``operator``, ``cells``, one entry per language in ``messages`` (text, encoding,
        segments, home MCCs, estimated recipients), ``recipients``, ``segments`` and
        ``cost_eur`` (an upper bound when a count is withheld).
    """
    if not texts:
        raise ValueError("no SMS text given")
    cells = sorted(set(cell_ids))
    mccs: dict[str, list[int]] = {lang: [] for lang in texts}
    recipients: dict[str, int] = dict.fromkeys(texts, 0)
    for mcc, n in sorted(devices_by_mcc.items()):
        if n < 0:
            raise ValueError(f"negative device count {n} for home MCC {mcc}")
        lang = language_for(mcc, texts, default_language)
        mccs[lang].append(int(mcc))
        recipients[lang] += int(n)
    messages = []
    total = 0
    segments_total = 0
    withheld = False
    for lang, text in texts.items():
        seg = sms_segments(text)
        n = recipients[lang]
        shown = n if n == 0 or n >= k_anonymity else None
        costed = n if shown is not None else k_anonymity
        withheld |= shown is None
        total += costed
        segments_total += costed * seg.segments
        messages.append(
            {
                "language": lang,
                "text": text,
                "encoding": seg.encoding,
                "characters": seg.characters,
                "units": seg.units,
                "segments": seg.segments,
                "home_mcc": mccs[lang],
                "recipients": shown,
            }
        )
    return {
        "operator": operator,
        "operator_name": operator_name,
        "cells": cells,
        "cell_count": len(cells),
        "messages": messages,
        "recipients": total if not withheld else None,
        "recipients_at_most": total,
        "segments": segments_total,
        "cost_eur": round(segments_total * segment_cost_eur, 2),
        "cost_is_upper_bound": withheld,
    }


def devices_by_operator(
    presence: pd.DataFrame, cell_ids: Iterable[str], at: dt.datetime | None = None
) -> dict[str, dict[int, int]]:
    """Devices attached to some cells, per operator and home MCC, in the bucket of ``at``.

    Parameters
    ----------
    presence : the presence feed (``cell_id``, ``operator``, ``time``, ``home_mcc``, ``devices``)
    cell_ids : the selected cells
    at : when the SMS goes out (tz-aware; now by default). If the feed has no bucket holding
        it, the bucket of the same time of day is used: the last one starting at or before it.
    """
    if presence.empty:
        return {}
    times = pd.DatetimeIndex(sorted(presence["time"].unique()))
    when = pd.Timestamp(at or dt.datetime.now(dt.UTC)).tz_convert(times.tz)
    length = (times[1:] - times[:-1]).min() if len(times) > 1 else pd.Timedelta(hours=1)
    inside = (times <= when) & (when < times + length)
    if inside.any():
        bucket = times[inside][-1]
    else:
        earlier = (times - times.normalize()) <= (when - when.normalize())
        bucket = times[earlier][-1] if earlier.any() else times[-1]
    rows = presence[(presence["time"] == bucket) & presence["cell_id"].isin(set(cell_ids))]
    sums = rows.groupby(["operator", "home_mcc"])["devices"].sum()
    out: dict[str, dict[int, int]] = {}
    for (op, mcc), n in sums.items():
        out.setdefault(str(op), {})[int(mcc)] = int(n)
    return out
