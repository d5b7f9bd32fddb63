"""SMS through SMPP 3.4 (the :mod:`smpplib` client), as an ESME bound as transceiver.

Each message is one ``submit_sm`` asking for a delivery receipt; up to ``window`` of them
are outstanding at once. The text is sent in GSM 7-bit (one septet per octet, data coding 0)
or UCS-2 (data coding 8), in ``short_message`` when it fits one segment and in the
``message_payload`` parameter otherwise (the SMSC splits it). The message's idempotency key
travels in the vendor-specific parameter :data:`KEY_TAG`, so that an SMSC that knows it can
drop a message sent twice after a crash.

``submit_sm_resp`` with status 0 -> sent (its message id awaits a receipt); throttling,
a full queue or a system error -> retry; any other status -> failed. ``deliver_sm``
delivery receipts (``stat:DELIVRD`` or another final state) become receipts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import struct
import threading

import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
from pydantic import Field

from geoalert.campaigns.adapters.base import (
    DELIVERED,
    FAILED,
    RETRY,
    SENT,
    Adapter,
    AdapterOptions,
    Batch,
    Receipt,
    Result,
)
from geoalert.messages.alphabet import text_to_septets, text_to_ucs2

__all__ = ["KEY_TAG", "SmppAdapter", "SmppOptions", "parse_receipt"]

KEY_TAG = 0x1400
"""Vendor-specific TLV tag (SMPP 3.4 5.3.2: 0x1400-0x3FFF) carrying the idempotency key."""

# The client logs whole PDUs (phone numbers included) at DEBUG: never let them through.
_WIRE_LOG = "geoalert.campaigns.smpp.wire"
logging.getLogger(_WIRE_LOG).setLevel(logging.INFO)

#: Failures of the connection: the messages without an answer are retried.
_LINK_ERRORS = (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError)

#: Statuses after which a submit may succeed later.
RETRY_STATUSES = {
    smpplib.consts.SMPP_ESME_RTHROTTLED,
    smpplib.consts.SMPP_ESME_RMSGQFUL,
    smpplib.consts.SMPP_ESME_RSYSERR,
}


class SmppOptions(AdapterOptions):
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = "geoalert"
    password: str = ""
    system_type: str = ""
    source_addr: str = Field("BE-Alert", description="Sender shown on phones (alphanumeric).")
    window: int = Field(100, ge=1, description="Most submit_sm awaiting their response.")


class _Submits:
    """Several ``submit_sm`` PDUs written at once through the client's :meth:`send_pdu`."""

    command = "submit_sm"

    def __init__(self, data: bytes):
        self.data = data

    def generate(self) -> bytes:
        return self.data


def _cstring(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def parse_receipt(text: bytes) -> tuple[str, str] | None:
    """Message id and final state of an SMSC delivery receipt (SMPP 3.4 appendix B), or None.

    Examples
    --------
    >>> parse_receipt(b"id:7f sub:001 dlvrd:001 submit date:2501011200 "
    ...               b"done date:2501011200 stat:DELIVRD err:000 text:")
    ('7f', 'DELIVRD')
    """
    fields = {}
    for part in text.decode("ascii", "replace").split():
        name, sep, value = part.partition(":")
        if sep and name in ("id", "stat"):
            fields[name] = value
    if "id" not in fields or "stat" not in fields:
        return None
    return fields["id"], fields["stat"]


class SmppAdapter(Adapter):
    """Sends SMS through one SMPP transceiver bind (re-bound when lost)."""

    name = "smpp"
    Options = SmppOptions
    receipts = True

    def __init__(self, options: SmppOptions):
        super().__init__(options)
        self._client: smpplib.client.Client | None = None
        self._lock = threading.Lock()
        self._receipts: list[Receipt] = []
        self._encoded: dict[int, tuple[int, bytes, bool]] = {}

    async def send(self, batch: Batch) -> Result:
        return await asyncio.to_thread(self._send, batch)

    async def poll_receipts(self) -> list[Receipt]:
        return await asyncio.to_thread(self._poll)

    async def close(self) -> None:
        await asyncio.to_thread(self._disconnect)

    # -- blocking part, in a worker thread -----------------------------------------------

    def _connect(self) -> smpplib.client.Client:
        if self._client is None:
            o = self.options
            client = smpplib.client.Client(
                o.host,
                o.port,
                timeout=o.timeout_s,
                logger_name=_WIRE_LOG,
                allow_unknown_opt_params=True,
            )
            client.connect()
            try:
                client.bind_transceiver(
                    system_id=o.system_id, password=o.password, system_type=o.system_type
                )
            except Exception:
                client.disconnect()
                raise
            self._client = client
        return self._client

    def _disconnect(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(*_LINK_ERRORS):
                    self._client.unbind()
                self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(*_LINK_ERRORS):
                self._client.disconnect()
            self._client = None

    def _encode(self, content) -> tuple[bytes, bytes]:
        """The fixed parts of a submit_sm body around the destination, per content: fields
        before it, and the fields after it up to the optional parameters, text included.

        Encoded once per content with :mod:`struct` (SMPP 3.4 section 4.4.1): the generic
        per-field encoder of the client costs far more than the network per message."""
        found = self._encoded.get(id(content))
        if found is None:
            o = self.options
            if content.encoding == "gsm7":
                octets, coding = bytes(text_to_septets(content.text)), 0
            else:
                octets, coding = text_to_ucs2(content.text), 8
            head = (
                b"\0"  # service_type
                + struct.pack(">BB", smpplib.consts.SMPP_TON_ALNUM, smpplib.consts.SMPP_NPI_UNK)
                + _cstring(o.source_addr)
                + struct.pack(">BB", smpplib.consts.SMPP_TON_INTL, smpplib.consts.SMPP_NPI_ISDN)
            )
            fields = struct.pack(">BBB", 0, 0, 0) + b"\0\0"  # esm, protocol, priority, times
            fields += struct.pack(
                ">BBBB", smpplib.consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH, 0, coding, 0
            )
            if content.units == 1 and len(octets) <= 254:
                tail = fields + struct.pack(">B", len(octets)) + octets
            else:  # the SMSC splits a long text sent as message_payload
                tail = fields + b"\0" + struct.pack(">HH", 0x0424, len(octets)) + octets
            found = (head, tail)
            self._encoded[id(content)] = found
        return found

    def _submit(self, client: smpplib.client.Client, batch: Batch, i: int) -> tuple[int, bytes]:
        """Sequence number and bytes of message ``i``'s submit_sm."""
        head, tail = self._encode(batch.contents[batch.languages[i]])
        key = batch.keys[i].encode()
        body = (
            head
            + _cstring(batch.addresses[i].lstrip("+"))
            + tail
            + struct.pack(">HH", KEY_TAG, len(key))
            + key
        )
        seq = client.next_sequence()
        return seq, struct.pack(">LLLL", 16 + len(body), 0x00000004, 0, seq) + body

    def _send(self, batch: Batch) -> Result:
        status: list[str | None] = [None] * len(batch)
        detail: list[str | None] = [None] * len(batch)
        with self._lock:
            try:
                client = self._connect()
            except _LINK_ERRORS as e:
                self._drop()
                return Result.all(len(batch), RETRY, f"SMSC bind failed: {_describe(e)}")
            pending: dict[int, int] = {}
            nxt = 0
            try:
                while nxt < len(batch) or pending:
                    window = []
                    while nxt < len(batch) and len(pending) < self.options.window:
                        seq, data = self._submit(client, batch, nxt)
                        pending[seq] = nxt
                        window.append(data)
                        nxt += 1
                    if window:
                        client.send_pdu(_Submits(b"".join(window)))
                    pdu = client.read_pdu()
                    if pdu.command == "submit_sm_resp":
                        i = pending.pop(pdu.sequence, None)
                        if i is not None:
                            status[i], detail[i] = _submit_outcome(pdu)
                    else:
                        self._handle(client, pdu)
            except _LINK_ERRORS as error:
                self._drop()
                reason = f"SMSC connection lost: {_describe(error)}"
                for i in range(len(batch)):
                    if status[i] is None:
                        status[i], detail[i] = RETRY, reason
        return Result(status, detail)

    def _handle(self, client: smpplib.client.Client, pdu) -> None:
        """A PDU other than a submit response: receipts, enquire_link, unbind."""
        if pdu.command == "deliver_sm":
            receipt = parse_receipt(pdu.short_message or b"")
            if receipt is not None:
                ref, stat = receipt
                ok = stat == "DELIVRD"
                self._receipts.append(
                    Receipt(ref, DELIVERED if ok else FAILED, None if ok else f"SMSC {stat}")
                )
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif pdu.command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif pdu.command == "unbind":
            resp = smpplib.smpp.make_pdu("unbind_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
            self._drop()

    def _poll(self) -> list[Receipt]:
        with self._lock:
            try:
                client = self._connect()
                while self._client is not None:
                    readable, _, _ = select.select([client._socket], [], [], 0)
                    if not readable:
                        break
                    self._handle(client, client.read_pdu())
            except _LINK_ERRORS:
                self._drop()
            out, self._receipts = self._receipts, []
        return out


def _submit_outcome(pdu) -> tuple[str, str | None]:
    if pdu.status == smpplib.consts.SMPP_ESME_ROK:
        ref = pdu.message_id
        return SENT, ref.decode() if isinstance(ref, bytes) else ref
    reason = f"SMSC refused: command_status 0x{pdu.status:08x} ({pdu.get_status_desc()})"
    return (RETRY if pdu.status in RETRY_STATUSES else FAILED), reason


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:150] if str(error) else type(error).__name__
