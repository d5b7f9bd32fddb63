"""Per-person messages: the text in the person's language, for each channel, and its cost.

Every person of a campaign receives the text of their registered language when the campaign
has one, else the campaign's default language (its first text). The content is the same for
everyone with the same channel and language, so it is built once per (channel, language);
what is per person (language, address) is chosen with array operations.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from geoalert.campaigns.model import CampaignError, CampaignSpec, Channel
from geoalert.messages.sms import sms_segments
from geoalert.parts.contacts import message_units
from geoalert.settings import Settings

__all__ = [
    "Content",
    "build_contents",
    "person_languages",
    "render_template",
]

_SUBJECT_CHARS = 78


@dataclass(frozen=True)
class Content:
    """What one channel sends in one language.

    Attributes
    ----------
    text : str
        SMS text, voice script or e-mail body.
    subject : str or None
        E-mail subject.
    units : int
        Cost units per message: SMS segments or (started) voice minutes; 0 for e-mail.
    encoding : str or None
        SMS encoding (``"gsm7"`` or ``"ucs2"``).
    """

    text: str
    subject: str | None = None
    units: int = 0
    encoding: str | None = None


def build_contents(spec: CampaignSpec, settings: Settings) -> dict[str, dict[str, Content]]:
    """Content per channel and language of a campaign whose texts are set; cost units as
    the contacts part counts them (:func:`geoalert.parts.contacts.message_units`).

    Returns
    -------
    dict
        ``{channel: {language: Content}}`` for the person channels of ``spec``.
    """
    if spec.texts is None:
        raise CampaignError("the campaign has no texts (render its template first)")
    out: dict[str, dict[str, Content]] = {}
    for channel in spec.channels:
        per_language = {}
        for lang, text in spec.texts.items():
            segments, minutes = message_units(text, settings)
            if channel == Channel.SMS:
                encoding = sms_segments(text).encoding
                per_language[lang] = Content(text, units=segments, encoding=encoding)
            elif channel == Channel.VOICE:
                per_language[lang] = Content(text, units=minutes)
            elif channel == Channel.EMAIL:
                subject = spec.headlines.get(lang) or _subject(text)
                per_language[lang] = Content(text, subject=subject)
            else:
                continue
        if per_language:
            out[str(channel)] = per_language
    return out


def _subject(text: str) -> str:
    """First line of a text, cut at a word to fit an e-mail subject."""
    line = text.strip().splitlines()[0]
    if len(line) <= _SUBJECT_CHARS:
        return line
    return line[: _SUBJECT_CHARS - 1].rsplit(" ", 1)[0] + "…"


def person_languages(registered: np.ndarray, available: list[str]) -> np.ndarray:
    """The language each person receives: their own when available, else the default.

    Parameters
    ----------
    registered : ndarray of str, shape (n,)
        Each person's registered language.
    available : list of str
        Languages of the campaign's texts, the default first.

    Examples
    --------
    >>> person_languages(np.array(["fr", "de", "nl"]), ["nl", "fr"]).tolist()
    ['fr', 'nl', 'nl']
    """
    registered = np.asarray(registered, dtype=object)
    return np.where(np.isin(registered, available), registered, available[0])


def render_template(template: Mapping[str, object], params: Mapping[str, str]) -> dict:
    """Texts and headlines of a stored template with its ``$placeholders`` filled.

    Raises
    ------
    CampaignError
        When a placeholder has no value or a blank one (named), or a value is given that no
        text uses.
    """
    blank = sorted(name for name, value in params.items() if not str(value).strip())
    if blank:
        raise CampaignError(f"template parameter(s) {', '.join(blank)}: the value is blank")
    used: set[str] = set()
    rendered: dict[str, dict[str, str]] = {}
    for part in ("texts", "headlines"):
        rendered[part] = {}
        for lang, text in dict(template.get(part) or {}).items():
            tpl = string.Template(text)
            names = {m[1] or m[2] for m in tpl.pattern.findall(text) if m[1] or m[2]}
            missing = sorted(names - set(params))
            if missing:
                raise CampaignError(
                    f"template {part}.{lang}: no value for placeholder(s) {', '.join(missing)}"
                )
            used |= names
            rendered[part][lang] = tpl.substitute(params)
    unused = sorted(set(params) - used)
    if unused:
        raise CampaignError(f"template parameter(s) {', '.join(unused)} used by no text")
    return rendered
