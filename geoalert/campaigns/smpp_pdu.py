"""SMPP 3.4 protocol data units: command ids, statuses, parameter tags and framing.

Shared by the SMPP adapter (:mod:`geoalert.campaigns.adapters.smpp`) and the local SMSC of
the tests (:mod:`geoalert.testing.smpp_server`). A PDU is a 16-octet header (command_length,
command_id, command_status, sequence_number, big-endian unsigned 32-bit) and a body
(SMPP 3.4 section 3.2); :func:`split` cuts every whole PDU out of a socket buffer at once.
"""

from __future__ import annotations

import struct

__all__ = [
    "HEADER",
    "KEY_TAG",
    "cstring",
    "pdu",
    "split",
    "status_name",
]

BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER = 0x01, 0x02, 0x09
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x04, 0x05, 0x06, 0x15
RESP = 0x80000000
GENERIC_NACK = 0x80000000
SUBMIT_SM_RESP, DELIVER_SM_RESP = SUBMIT_SM | RESP, DELIVER_SM | RESP

ESME_ROK, ESME_RINVCMDID, ESME_RSYSERR, ESME_RBINDFAIL = 0x00, 0x03, 0x08, 0x0D
ESME_RMSGQFUL, ESME_RTHROTTLED = 0x14, 0x58
_STATUS_NAMES = {
    0x01: "ESME_RINVMSGLEN",
    0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD",
    0x0F: "ESME_RINVSYSID",
    0x14: "ESME_RMSGQFUL",
    0x45: "ESME_RSUBMITFAIL",
    0x58: "ESME_RTHROTTLED",
    0xC1: "ESME_ROPTPARNOTALLWD",
    0xFF: "ESME_RUNKNOWNERR",
}

TON_INTERNATIONAL, TON_ALPHANUMERIC = 0x01, 0x05
NPI_UNKNOWN, NPI_ISDN = 0x00, 0x01
INTERFACE_VERSION = 0x34
ESM_DELIVERY_RECEIPT = 0x04
"""esm_class bit of a deliver_sm that is an SMSC delivery receipt."""

MESSAGE_PAYLOAD, RECEIPTED_MESSAGE_ID, MESSAGE_STATE = 0x0424, 0x001E, 0x0427
KEY_TAG = 0x1400
"""Vendor-specific TLV tag (SMPP 3.4 5.3.2: 0x1400-0x3FFF) carrying the idempotency key."""

HEADER = struct.Struct(">LLLL")
MAX_LENGTH = 1 << 16
"""Longest PDU accepted (a longer command_length means a broken stream)."""


def pdu(command: int, status: int, seq: int, body: bytes = b"") -> bytes:
    """One PDU: header and body."""
    return HEADER.pack(16 + len(body), command, status, seq) + body


def cstring(data: bytes, pos: int) -> tuple[str, int]:
    """The C-octet string at ``pos`` (Latin-1) and the position after its NUL."""
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def split(buffer: bytes | bytearray) -> tuple[list[tuple[int, int, int, bytes]], int]:
    """Every whole PDU at the start of ``buffer``.

    Returns
    -------
    pdus : list of (command_id, command_status, sequence_number, body)
    used : int
        Octets consumed; the rest is the beginning of a PDU still arriving.

    Raises
    ------
    ValueError
        A command_length below 16 or above :data:`MAX_LENGTH` (not an SMPP stream).

    Examples
    --------
    >>> split(pdu(SUBMIT_SM_RESP, 0, 7, b"1f\\0") + b"\\0\\0")
    ([(2147483652, 0, 7, b'1f\\x00')], 19)
    """
    out = []
    pos, end = 0, len(buffer)
    unpack = HEADER.unpack_from
    while end - pos >= 16:
        length, command, status, seq = unpack(buffer, pos)
        if not 16 <= length <= MAX_LENGTH:
            raise ValueError(f"SMPP command_length {length} at octet {pos} is out of range")
        if end - pos < length:
            break
        out.append((command, status, seq, bytes(buffer[pos + 16 : pos + length])))
        pos += length
    return out, pos


def status_name(status: int) -> str:
    """The specification's name of a command_status (SMPP 3.4 section 5.1.3).

    Examples
    --------
    >>> status_name(0x58), status_name(0x400)
    ('ESME_RTHROTTLED', 'vendor-specific or reserved')
    """
    return _STATUS_NAMES.get(status, "vendor-specific or reserved")
