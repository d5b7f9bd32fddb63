"""Cell broadcast messages (3GPP TS 23.041, TS 23.038): identifiers, serial numbers, pages.

A cell broadcast message is a text split into at most 15 pages of 82 octets. Each page holds
93 septets of GSM 7-bit text or 41 UCS-2 code units, padded with carriage returns (TS 23.038
clause 6.1.2.3). Two layouts carry the pages:

- GSM (TS 23.041 clause 9.4.1.2): one 88-octet block per page, the serial number (2 octets),
  message identifier (2), data coding scheme (1) and page parameter (1, page number and page
  count in its high and low nibbles) before the 82 octets of content;
- UMTS, LTE and NR (clause 9.4.2.2.5, the SBc-AP *Warning Message Contents*): CB data, the
  number of pages (1 octet), then per page its 82 octets and the number of them in use (1).

The serial number packs the geographical scope (2 bits), the message code (10 bits) and the
update number (4 bits, incremented modulo 16 at every change of the message's content).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from geoalert.messages.alphabet import (
    CR_SEPTET,
    is_gsm7,
    pack_septets,
    septets_to_text,
    split_text,
    text_to_septets,
    text_to_ucs2,
    ucs2_to_text,
    unpack_septets,
)

PAGE_OCTETS = 82
"""Content octets of one page."""
MAX_PAGES = 15
GSM_PAGE_OCTETS = 88
"""One page in the GSM layout: 6 header octets and 82 of content."""
_GSM7_PAGE_SEPTETS = PAGE_OCTETS * 8 // 7  # 93
_UCS2_PAGE_UNITS = PAGE_OCTETS // 2  # 41
_UCS2_PAD = b"\x00\r"

GEOGRAPHICAL_SCOPES = ("cell-immediate", "plmn", "area", "cell")
"""Serial number geographical scope by its 2-bit value (TS 23.041 clause 9.4.1.2.1): cell wide
with immediate display, PLMN wide, location/service/tracking area wide, cell wide."""

DCS_LANGUAGES = {
    "de": 0x00,
    "en": 0x01,
    "it": 0x02,
    "fr": 0x03,
    "es": 0x04,
    "nl": 0x05,
    "sv": 0x06,
    "da": 0x07,
    "pt": 0x08,
    "fi": 0x09,
    "no": 0x0A,
    "el": 0x0B,
    "tr": 0x0C,
    "hu": 0x0D,
    "pl": 0x0E,
    "cs": 0x20,
    "he": 0x21,
    "ar": 0x22,
    "ru": 0x23,
    "is": 0x24,
}
"""CBS data coding schemes naming a language of GSM 7-bit text (TS 23.038 clause 5)."""
_DCS_LANGUAGE = {dcs: lang for lang, dcs in DCS_LANGUAGES.items()}
DCS_GSM7_UNSPECIFIED = 0x0F
DCS_GSM7_LANGUAGE_IN_BODY = 0x10
"""GSM 7-bit; each page starts with the language (2 characters) and a carriage return."""
DCS_UCS2_LANGUAGE_IN_BODY = 0x11
"""UCS-2; each page starts with the language as 2 packed GSM 7-bit characters (2 octets)."""
DCS_UCS2 = 0x48
"""General data coding, UCS-2, no message class."""


class CbsError(ValueError):
    """A text or a message that cannot be a cell broadcast message."""


def serial_number(message_code: int, update_number: int, geographical_scope: str = "plmn") -> int:
    """The 16-bit serial number: scope (2 bits), message code (10) and update number (4).

    Examples
    --------
    >>> hex(serial_number(682, 5, "cell"))
    '0xeaa5'
    """
    if geographical_scope not in GEOGRAPHICAL_SCOPES:
        raise CbsError(
            f"geographical scope {geographical_scope!r} is not one of "
            + ", ".join(GEOGRAPHICAL_SCOPES)
        )
    if not 0 <= message_code < 1024:
        raise CbsError(f"message code {message_code} is outside 0..1023")
    if not 0 <= update_number < 16:
        raise CbsError(f"update number {update_number} is outside 0..15")
    return (
        (GEOGRAPHICAL_SCOPES.index(geographical_scope) << 14) | (message_code << 4) | update_number
    )


def split_serial_number(value: int) -> tuple[str, int, int]:
    """``(geographical_scope, message_code, update_number)`` of a serial number."""
    if not 0 <= value < 1 << 16:
        raise CbsError(f"serial number {value} is outside 0..65535")
    return GEOGRAPHICAL_SCOPES[value >> 14], (value >> 4) & 0x3FF, value & 0xF


def next_update(value: int) -> int:
    """The serial number of the next version of a message: update number + 1, modulo 16."""
    return (value & 0xFFF0) | ((value + 1) & 0xF)


@dataclass(frozen=True)
class CbsMessage:
    """A text encoded as cell broadcast pages."""

    text: str
    language: str | None
    data_coding_scheme: int
    encoding: str
    """``"gsm7"`` or ``"ucs2"``."""
    pages: tuple[bytes, ...]
    """Each page's 82 octets, padded."""
    page_lengths: tuple[int, ...]
    """Octets of each page in use (the rest is padding)."""

    def cb_data(self) -> bytes:
        """CB data of UMTS/LTE/NR (TS 23.041 clause 9.4.2.2.5): the Warning Message Contents."""
        body = b"".join(
            page + bytes([n]) for page, n in zip(self.pages, self.page_lengths, strict=True)
        )
        return bytes([len(self.pages)]) + body

    def gsm_pages(self, message_identifier: int, serial: int) -> list[bytes]:
        """The 88-octet pages of the GSM layout (TS 23.041 clause 9.4.1.2)."""
        header = serial.to_bytes(2, "big") + message_identifier.to_bytes(2, "big")
        header += bytes([self.data_coding_scheme])
        n = len(self.pages)
        return [header + bytes([(i << 4) | n]) + page for i, page in enumerate(self.pages, 1)]


def _check_language(language: str | None) -> None:
    if language is not None and (
        len(language) != 2 or not language.isascii() or not language.isalpha()
    ):
        raise CbsError(f"language {language!r} is not a two-letter ISO 639-1 code")


def encode_cbs(text: str, language: str | None = None) -> CbsMessage:
    """Encode a text as cell broadcast pages, in GSM 7-bit when it can, else in UCS-2.

    Parameters
    ----------
    text
        The message; line breaks are ``\\n`` (a carriage return is the padding character).
    language
        Two-letter ISO 639-1 code, carried in the data coding scheme where TS 23.038 has one
        for it (``nl``, ``fr``, ``de``, ``en``...), otherwise at the start of every page.

    Raises
    ------
    CbsError
        For an empty text, a carriage return in it, or a text longer than 15 pages.

    Examples
    --------
    >>> m = encode_cbs("Sluit ramen en deuren.", "nl")
    >>> m.encoding, hex(m.data_coding_scheme), len(m.pages), m.page_lengths
    ('gsm7', '0x5', 1, (20,))
    """
    if not text:
        raise CbsError("the message text is empty")
    if "\r" in text:
        raise CbsError(
            f"carriage return at position {text.index(chr(13))}: use \\n for line breaks "
            "(a carriage return is the page padding of TS 23.038)"
        )
    language = language.lower() if language else None
    _check_language(language)
    if is_gsm7(text):
        encoding = "gsm7"
        dcs = DCS_LANGUAGES.get(language, DCS_GSM7_UNSPECIFIED if language is None else None)
        prefix = [] if dcs is not None else text_to_septets(f"{language}\r")
        if dcs is None:
            dcs = DCS_GSM7_LANGUAGE_IN_BODY
        chunks = split_text(text, _GSM7_PAGE_SEPTETS - len(prefix), encoding)
    else:
        encoding = "ucs2"
        dcs = DCS_UCS2 if language is None else DCS_UCS2_LANGUAGE_IN_BODY
        prefix_octets = b"" if language is None else pack_septets(text_to_septets(language))
        capacity = (PAGE_OCTETS - len(prefix_octets)) // 2
        chunks = split_text(text, capacity, encoding)
    if len(chunks) > MAX_PAGES:
        raise CbsError(
            f"the {language or 'message'} text needs {len(chunks)} pages of 82 octets in "
            f"{encoding.upper()}; a cell broadcast message has at most {MAX_PAGES}"
        )
    pages, lengths = [], []
    for chunk in chunks:
        if encoding == "gsm7":
            septets = prefix + text_to_septets(chunk)
            used = -(-len(septets) * 7 // 8)
            septets += [CR_SEPTET] * (_GSM7_PAGE_SEPTETS - len(septets))
            page = pack_septets(septets)
        else:
            content = prefix_octets + text_to_ucs2(chunk)
            used = len(content)
            page = content + _UCS2_PAD * ((PAGE_OCTETS - used) // 2)
        pages.append(page)
        lengths.append(used)
    return CbsMessage(text, language, dcs, encoding, tuple(pages), tuple(lengths))


def decode_page(content: bytes, data_coding_scheme: int) -> tuple[str, str | None]:
    """Text and language of one page's content in use (padding carriage returns removed)."""
    language = _DCS_LANGUAGE.get(data_coding_scheme)
    if data_coding_scheme in (DCS_UCS2, DCS_UCS2_LANGUAGE_IN_BODY):
        if data_coding_scheme == DCS_UCS2_LANGUAGE_IN_BODY:
            language = septets_to_text(unpack_septets(content[:2], 2))
            content = content[2:]
        text = ucs2_to_text(content[: len(content) // 2 * 2])
    elif data_coding_scheme in _DCS_LANGUAGE or data_coding_scheme in (
        DCS_GSM7_UNSPECIFIED,
        DCS_GSM7_LANGUAGE_IN_BODY,
        0x40,
    ):
        text = septets_to_text(unpack_septets(content))
        if data_coding_scheme == DCS_GSM7_LANGUAGE_IN_BODY:
            language, text = text[:2], text[3:]
    else:
        raise CbsError(f"data coding scheme 0x{data_coding_scheme:02X} is not supported")
    return text.rstrip("\r"), language


def decode_cb_data(cb_data: bytes, data_coding_scheme: int) -> tuple[str, str | None]:
    """Text and language of UMTS/LTE/NR CB data, the inverse of :meth:`CbsMessage.cb_data`."""
    if not cb_data:
        raise CbsError("CB data is empty")
    n = cb_data[0]
    if not 1 <= n <= MAX_PAGES or len(cb_data) != 1 + n * (PAGE_OCTETS + 1):
        raise CbsError(f"CB data of {len(cb_data)} octets does not hold {n} pages")
    texts, language = [], None
    for i in range(n):
        offset = 1 + i * (PAGE_OCTETS + 1)
        used = cb_data[offset + PAGE_OCTETS]
        if used > PAGE_OCTETS:
            raise CbsError(f"page {i + 1} claims {used} octets in use, more than {PAGE_OCTETS}")
        text, language = decode_page(cb_data[offset : offset + used], data_coding_scheme)
        texts.append(text)
    return "".join(texts), language


@dataclass(frozen=True)
class GsmPage:
    """One decoded page of the GSM layout."""

    serial_number: int
    message_identifier: int
    data_coding_scheme: int
    page: int
    pages: int
    content: bytes


def parse_gsm_page(block: bytes) -> GsmPage:
    """Split an 88-octet GSM-layout page into its header fields and content."""
    if len(block) != GSM_PAGE_OCTETS:
        raise CbsError(f"a GSM cell broadcast page has {GSM_PAGE_OCTETS} octets, not {len(block)}")
    page, pages = block[5] >> 4, block[5] & 0xF
    if (page, pages) == (0, 0):  # TS 23.041: "0000 0000" means page 1 of 1
        page, pages = 1, 1
    return GsmPage(
        int.from_bytes(block[0:2], "big"),
        int.from_bytes(block[2:4], "big"),
        block[4],
        page,
        pages,
        block[6:],
    )


def decode_gsm_pages(blocks: Sequence[bytes]) -> tuple[str, str | None]:
    """Text and language of a complete set of GSM-layout pages, in page order."""
    parsed = sorted((parse_gsm_page(b) for b in blocks), key=lambda p: p.page)
    expected = list(range(1, len(parsed) + 1))
    if [p.page for p in parsed] != expected or any(p.pages != len(parsed) for p in parsed):
        raise CbsError(f"pages {[p.page for p in parsed]} are not a complete set")
    texts, language = [], None
    for p in parsed:
        text, language = decode_page(p.content, p.data_coding_scheme)
        texts.append(text)
    return "".join(texts), language
