"""Text encodings of mobile messages: the GSM 7-bit default alphabet and UCS-2 (3GPP TS 23.038).

The GSM 7-bit default alphabet holds 128 characters; ten more (``€ [ ] { } ~ ^ \\ |`` and the
form feed) come from its extension table and cost two septets each (an escape, then the code).
Text with any other character is sent in UCS-2: 16-bit code units, where a character outside
the Basic Multilingual Plane (most emoji) is a UTF-16 surrogate pair of two units.

Septets are packed into octets least significant bit first (TS 23.038 clause 6.1.2.1.1), so
``"hellohello"`` packs to ``E8 32 9B FD 46 97 D9 EC 37``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The 128 characters of the default alphabet, indexed by septet value (0x1B is the escape)."""

ESCAPE = 0x1B
GSM7_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
"""Extension table: septet after the escape -> character."""

_BASIC_SEPTET = {char: code for code, char in enumerate(GSM7_BASIC) if code != ESCAPE}
_EXTENSION_SEPTET = {char: code for code, char in GSM7_EXTENSION.items()}
CR_SEPTET = _BASIC_SEPTET["\r"]
"""Carriage return: the padding character of cell broadcast pages (TS 23.038 clause 6.1.2.3)."""


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the default alphabet or its extension table."""
    return all(c in _BASIC_SEPTET or c in _EXTENSION_SEPTET for c in text)


def gsm7_length(char: str) -> int:
    """Septets one character takes: 1 (default alphabet) or 2 (extension table).

    Raises
    ------
    ValueError
        If the character is in neither table.
    """
    if char in _BASIC_SEPTET:
        return 1
    if char in _EXTENSION_SEPTET:
        return 2
    raise ValueError(f"character {char!r} (U+{ord(char):04X}) is not in the GSM 7-bit alphabet")


def text_to_septets(text: str) -> list[int]:
    """Septet values of ``text``, extension characters as escape + code.

    Raises
    ------
    ValueError
        Naming the first character that the GSM 7-bit alphabet cannot hold and its position.
    """
    septets: list[int] = []
    for i, char in enumerate(text):
        code = _BASIC_SEPTET.get(char)
        if code is not None:
            septets.append(code)
            continue
        code = _EXTENSION_SEPTET.get(char)
        if code is None:
            raise ValueError(
                f"character {char!r} (U+{ord(char):04X}) at position {i} is not in the "
                "GSM 7-bit alphabet"
            )
        septets += [ESCAPE, code]
    return septets


def septets_to_text(septets: Iterable[int]) -> str:
    """Text of a septet sequence, the inverse of :func:`text_to_septets`.

    An escape followed by a code missing from the extension table shows the default
    alphabet's character for that code, as TS 23.038 asks of receivers.
    """
    chars: list[str] = []
    escaped = False
    for s in septets:
        if not 0 <= s < 128:
            raise ValueError(f"septet value {s} is outside 0..127")
        if escaped:
            chars.append(GSM7_EXTENSION.get(s, GSM7_BASIC[s] if s != ESCAPE else " "))
            escaped = False
        elif s == ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[s])
    return "".join(chars)


def pack_septets(septets: Sequence[int]) -> bytes:
    """Pack septets into octets, least significant bit first (TS 23.038 clause 6.1.2.1.1).

    The last octet's unused high bits are zero; the result has ``ceil(7 n / 8)`` octets.
    """
    out = bytearray()
    acc = 0
    nbits = 0
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int | None = None) -> list[int]:
    """Septets packed in ``data``: the first ``count``, or as many as fit (``8 n // 7``)."""
    if count is None:
        count = len(data) * 8 // 7
    if count * 7 > len(data) * 8:
        raise ValueError(
            f"{len(data)} octets hold at most {len(data) * 8 // 7} septets, not {count}"
        )
    value = int.from_bytes(data, "little")
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


def ucs2_length(char: str) -> int:
    """UCS-2 code units one character takes: 2 outside the BMP (a surrogate pair), else 1."""
    return 2 if ord(char) > 0xFFFF else 1


def text_length(text: str, encoding: str) -> int:
    """Septets (``encoding="gsm7"``) or UCS-2 code units (``"ucs2"``) of ``text``."""
    cost = _COST[encoding]
    return sum(cost(c) for c in text)


def split_text(text: str, capacity: int, encoding: str) -> list[str]:
    """Split ``text`` into runs of at most ``capacity`` septets or code units each.

    A run never ends inside a character: an extension character's two septets, or a
    surrogate pair's two code units, stay together.
    """
    cost = _COST[encoding]
    chunks: list[str] = []
    start, used = 0, 0
    for i, char in enumerate(text):
        c = cost(char)
        if used + c > capacity:
            chunks.append(text[start:i])
            start, used = i, 0
        used += c
    chunks.append(text[start:])
    return chunks


def text_to_ucs2(text: str) -> bytes:
    """Big-endian UCS-2 octets of ``text`` (UTF-16BE: surrogate pairs beyond the BMP)."""
    return text.encode("utf-16-be", errors="strict")


def ucs2_to_text(data: bytes) -> str:
    """Text of big-endian UCS-2 octets, the inverse of :func:`text_to_ucs2`."""
    if len(data) % 2:
        raise ValueError(f"UCS-2 data has an odd number of octets ({len(data)})")
    return data.decode("utf-16-be", errors="strict")


_COST = {"gsm7": gsm7_length, "ucs2": ucs2_length}
