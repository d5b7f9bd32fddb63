"""SMS through SMPP 3.4, as an ESME bound as transceiver on one or more connections.

Each message is one ``submit_sm`` asking for a delivery receipt. The batch is spread over
``binds`` connections (when the SMSC allows several), each with up to ``window`` submits
awaiting their response; everything received is cut into PDUs a socket buffer at a time
(:func:`geoalert.campaigns.smpp_pdu.split`), so that a response or a receipt costs a few
microseconds. The sender paces the batches at ``rate_per_s``, whatever the number of binds.

The text is sent in GSM 7-bit (one septet per octet, data coding 0) or UCS-2 (data coding 8),
in ``short_message`` when it fits one segment and in the ``message_payload`` parameter
otherwise (the SMSC splits it). The message's idempotency key travels in the vendor-specific
parameter :data:`KEY_TAG`, so that an SMSC that knows it can drop a message sent twice after
a crash.

``submit_sm_resp`` with status 0 -> sent (its message id awaits a receipt); throttling,
a full queue or a system error -> retry; any other status -> failed. ``deliver_sm``
delivery receipts (``stat:DELIVRD`` or another final state) become receipts. A receipt is
acknowledged (``deliver_sm_resp``) only at the poll after the one that returned it, once the
sender has written it: receipts of a sender killed before that are resent by the SMSC to the
next bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import selectors
import socket
import struct
import threading

from pydantic import Field

from geoalert.campaigns import smpp_pdu as P
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
from geoalert.campaigns.smpp_pdu import KEY_TAG
from geoalert.messages.alphabet import text_to_septets, text_to_ucs2

__all__ = ["KEY_TAG", "SmppAdapter", "SmppOptions", "parse_receipt"]

log = logging.getLogger("geoalert.campaigns")

#: Statuses after which a submit may succeed later.
RETRY_STATUSES = {P.ESME_RTHROTTLED, P.ESME_RMSGQFUL, P.ESME_RSYSERR}

_RECEIPT = re.compile(rb"(?:^|\s)id:(\S+).*?\sstat:(\w+)", re.DOTALL)
_DELIVER_SM_RESP = struct.Struct(">LLLLB")  # header and an empty message_id
_READ_SIZE = 1 << 20


class SmppError(OSError):
    """The SMSC broke the protocol, refused the bind, or ended the session."""


class SmppOptions(AdapterOptions):
    host: str = "127.0.0.1"
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = "geoalert"
    password: str = ""
    system_type: str = ""
    source_addr: str = Field("BE-Alert", description="Sender shown on phones (alphanumeric).")
    window: int = Field(100, ge=1, description="Most submit_sm awaiting their response, per bind.")
    binds: int = Field(
        1, ge=1, le=64, description="Transceiver connections used together (if the SMSC allows)."
    )


def _cstring(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def parse_receipt(text: bytes) -> tuple[str, str] | None:
    """Message id and final state of an SMSC delivery receipt (SMPP 3.4 appendix B), or None.

    Examples
    --------
    >>> parse_receipt(b"id:7f sub:001 dlvrd:001 submit date:2501011200 "
    ...               b"done date:2501011200 stat:DELIVRD err:000 text:")
    ('7f', 'DELIVRD')
    >>> parse_receipt(b"hello") is None
    True
    """
    found = _RECEIPT.search(text)
    if found is None:
        return None
    return found[1].decode("ascii", "replace"), found[2].decode("ascii", "replace")


def _receipt_text(body: bytes) -> bytes | None:
    """The text of a deliver_sm that is a delivery receipt (SMPP 3.4 section 4.6.1), else
    None: ``short_message``, or the ``message_payload`` parameter when that is empty."""
    pos = body.index(b"\0") + 3  # service_type, source TON and NPI
    pos = body.index(b"\0", pos) + 3  # source_addr, destination TON and NPI
    pos = body.index(b"\0", pos) + 1  # destination_addr
    if not body[pos] & P.ESM_DELIVERY_RECEIPT:
        return None
    pos = body.index(b"\0", pos + 3) + 1  # esm_class, protocol_id, priority, schedule
    pos = body.index(b"\0", pos) + 6  # validity, registered, replace, coding, default id
    size = body[pos - 1]  # sm_length
    if size:
        return body[pos : pos + size]
    pos += size
    while pos + 4 <= len(body):
        tag, size = struct.unpack_from(">HH", body, pos)
        if tag == P.MESSAGE_PAYLOAD:
            return body[pos + 4 : pos + 4 + size]
        pos += 4 + size
    return b""


class _Link:
    """One bound transceiver connection: non-blocking socket, bytes to write, bytes read
    but not yet a whole PDU, and the submits awaiting their response."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.out = bytearray()
        self.inp = bytearray()
        self.seq = 0
        self.pending: dict[int, int] = {}  # sequence number -> message index

    def next_seq(self) -> int:
        self.seq = self.seq % 0x7FFFFFFF + 1
        return self.seq

    def receive(self) -> list[tuple[int, int, int, bytes]]:
        """Every whole PDU readable now; :class:`SmppError` when the SMSC closed."""
        try:
            data = self.sock.recv(_READ_SIZE)
        except BlockingIOError:
            return []
        if not data:
            raise SmppError("the SMSC closed the connection")
        self.inp += data
        try:
            pdus, used = P.split(self.inp)
        except ValueError as error:
            raise SmppError(str(error)) from None
        del self.inp[:used]
        return pdus

    def flush(self) -> None:
        """Write what the socket takes now."""
        if self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            del self.out[:sent]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class SmppAdapter(Adapter):
    """Sends SMS through ``binds`` SMPP transceiver binds (re-bound when lost)."""

    name = "smpp"
    Options = SmppOptions
    receipts = True

    def __init__(self, options: SmppOptions):
        super().__init__(options)
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._receipts: list[Receipt] = []
        self._held: list[tuple[_Link, int]] = []  # deliver_sm of self._receipts, not acked
        self._handed: list[tuple[_Link, int]] = []  # deliver_sm of the last poll, not acked
        self._encoded: dict[int, tuple[bytes, bytes]] = {}

    async def send(self, batch: Batch) -> Result:
        return await asyncio.to_thread(self._send, batch)

    async def poll_receipts(self) -> list[Receipt]:
        return await asyncio.to_thread(self._poll)

    async def close(self) -> None:
        await asyncio.to_thread(self._disconnect)

    # -- blocking part, in a worker thread -----------------------------------------------

    def _bind(self) -> _Link:
        o = self.options
        sock = socket.create_connection((o.host, o.port), timeout=o.timeout_s)
        link = _Link(sock)
        try:
            body = (
                _cstring(o.system_id)
                + _cstring(o.password)
                + _cstring(o.system_type)
                + struct.pack(">BBB", P.INTERFACE_VERSION, 0, 0)
                + b"\0"  # address_range
            )
            seq = link.next_seq()
            sock.sendall(P.pdu(P.BIND_TRANSCEIVER, 0, seq, body))
            status = self._await(link, P.BIND_TRANSCEIVER | P.RESP, seq)
            if status != P.ESME_ROK:
                raise SmppError(f"bind refused: {_status(status)}")
        except BaseException:
            link.close()
            raise
        sock.setblocking(False)
        return link

    def _await(self, link: _Link, command: int, seq: int) -> int:
        """Status of the response ``command`` to ``seq`` on a blocking link; other PDUs
        are left unanswered (an SMSC resends unacknowledged receipts)."""
        while True:
            for got, status, got_seq, _ in link.receive():
                if got_seq == seq and got in (command, P.GENERIC_NACK):
                    return status

    def _connect(self) -> list[_Link]:
        while len(self._links) < self.options.binds:
            self._links.append(self._bind())
        return self._links

    def _acknowledge(self) -> None:
        """Queue the acknowledgements of the receipts the last poll returned (which the
        sender writes before it polls again or closes)."""
        for link, seq in self._handed:
            if link in self._links:
                link.out += _DELIVER_SM_RESP.pack(17, P.DELIVER_SM_RESP, 0, seq, 0)
        self._handed = []

    def _disconnect(self) -> None:
        with self._lock:
            self._acknowledge()
            for link in self._links:
                with contextlib.suppress(OSError):
                    link.sock.setblocking(True)
                    link.sock.settimeout(min(self.options.timeout_s, 5.0))
                    link.sock.sendall(bytes(link.out))
                    seq = link.next_seq()
                    link.sock.sendall(P.pdu(P.UNBIND, 0, seq))
                    self._await(link, P.UNBIND | P.RESP, seq)
            self._drop()

    def _drop(self) -> None:
        for link in self._links:
            link.close()
        self._links = []

    def _encode(self, content) -> tuple[bytes, bytes]:
        """The fixed parts of a submit_sm body around the destination, per content: fields
        before it, and the fields after it up to the optional parameters, text included
        (SMPP 3.4 section 4.4.1), encoded once per content."""
        found = self._encoded.get(id(content))
        if found is None:
            if content.encoding == "gsm7":
                octets, coding = bytes(text_to_septets(content.text)), 0
            else:
                octets, coding = text_to_ucs2(content.text), 8
            head = (
                b"\0"  # service_type
                + struct.pack(">BB", P.TON_ALPHANUMERIC, P.NPI_UNKNOWN)
                + _cstring(self.options.source_addr)
                + struct.pack(">BB", P.TON_INTERNATIONAL, P.NPI_ISDN)
            )
            # esm_class, protocol_id, priority, two empty times, a receipt whatever the
            # outcome, replace_if_present, data_coding, sm_default_msg_id
            fields = b"\0\0\0\0\0" + struct.pack(">BBBB", 0x01, 0, coding, 0)
            if content.units == 1 and len(octets) <= 254:
                tail = fields + struct.pack(">B", len(octets)) + octets
            else:  # the SMSC splits a long text sent as message_payload
                tail = fields + b"\0" + struct.pack(">HH", P.MESSAGE_PAYLOAD, len(octets)) + octets
            found = (head, tail)
            self._encoded[id(content)] = found
        return found

    def _submit(self, link: _Link, batch: Batch, i: int) -> bytes:
        """Message ``i``'s submit_sm on ``link``, awaiting its response from now."""
        head, tail = self._encode(batch.contents[batch.languages[i]])
        key = batch.keys[i].encode()
        body = (
            head
            + _cstring(batch.addresses[i].lstrip("+"))
            + tail
            + struct.pack(">HH", KEY_TAG, len(key))
            + key
        )
        seq = link.next_seq()
        link.pending[seq] = i
        return P.HEADER.pack(16 + len(body), P.SUBMIT_SM, 0, seq) + body

    def _send(self, batch: Batch) -> Result:
        status: list[str | None] = [None] * len(batch)
        detail: list[str | None] = [None] * len(batch)
        with self._lock:
            try:
                links = self._connect()
            except OSError as e:
                self._drop()
                return Result.all(len(batch), RETRY, f"SMSC bind failed: {_describe(e)}")
            window = self.options.window
            # Message i goes to link i % binds, in order.
            todo = [iter(range(k, len(batch), len(links))) for k in range(len(links))]
            left = len(batch)
            selector = selectors.DefaultSelector()
            try:
                for link in links:
                    selector.register(link.sock, selectors.EVENT_READ, link)
                while left or any(link.out for link in links):
                    for link, rest in zip(links, todo, strict=True):
                        room = window - len(link.pending)
                        if room > 0:
                            link.out += b"".join(
                                self._submit(link, batch, i) for i in itertools.islice(rest, room)
                            )
                        link.flush()
                        selector.modify(
                            link.sock,
                            selectors.EVENT_READ | (selectors.EVENT_WRITE if link.out else 0),
                            link,
                        )
                    ready = selector.select(self.options.timeout_s)
                    if not ready:
                        raise TimeoutError(f"no answer within {self.options.timeout_s:g} s")
                    for key, events in ready:
                        link = key.data
                        if events & selectors.EVENT_READ:
                            left -= self._handle(link, link.receive(), status, detail)
                        link.flush()
            except OSError as error:
                self._drop()
                reason = f"SMSC connection lost: {_describe(error)}"
                for i in range(len(batch)):
                    if status[i] is None:
                        status[i], detail[i] = RETRY, reason
            finally:
                selector.close()
                for link in self._links:
                    link.pending.clear()
        return Result(status, detail)

    def _handle(self, link: _Link, pdus, status=None, detail=None) -> int:
        """Act on PDUs received on ``link``: submit outcomes into ``status`` and ``detail``,
        receipts collected (acknowledged later, :meth:`_poll`), the SMSC's enquire_link and unbind answered.
        Returns how many submits were answered."""
        answered = 0
        receipts = self._receipts
        for command, code, seq, body in pdus:
            if command == P.SUBMIT_SM_RESP or command == P.GENERIC_NACK:
                i = link.pending.pop(seq, None)
                if i is None or status is None:
                    continue
                answered += 1
                if code == P.ESME_ROK:
                    status[i] = SENT
                    detail[i] = body.split(b"\0", 1)[0].decode("latin-1")
                else:
                    status[i] = RETRY if code in RETRY_STATUSES else FAILED
                    detail[i] = f"SMSC refused: {_status(code)}"
            elif command == P.DELIVER_SM:
                try:
                    text = _receipt_text(body)
                except (ValueError, IndexError):  # acknowledged all the same: not resent
                    log.warning("unreadable deliver_sm of %d octets ignored", len(body))
                    text = None
                receipt = None if text is None else parse_receipt(text)
                if receipt is None:
                    link.out += _DELIVER_SM_RESP.pack(17, P.DELIVER_SM_RESP, 0, seq, 0)
                    continue
                ref, stat = receipt
                ok = stat == "DELIVRD"
                receipts.append(
                    Receipt(ref, DELIVERED if ok else FAILED, None if ok else f"SMSC {stat}")
                )
                self._held.append((link, seq))
            elif command == P.ENQUIRE_LINK:
                link.out += P.pdu(P.ENQUIRE_LINK | P.RESP, 0, seq)
            elif command == P.UNBIND:
                link.out += P.pdu(P.UNBIND | P.RESP, 0, seq)
                link.flush()
                raise SmppError("the SMSC unbound")
            elif not command & P.RESP:
                link.out += P.pdu(P.GENERIC_NACK, P.ESME_RINVCMDID, seq)
        return answered

    def _poll(self) -> list[Receipt]:
        with self._lock:
            self._acknowledge()
            try:
                for link in self._connect():
                    while True:
                        pdus = link.receive()
                        if not pdus:
                            break
                        self._handle(link, pdus)
                    link.flush()
            except OSError:
                self._drop()
            out, self._receipts = self._receipts, []
            self._handed, self._held = self._held, []
        return out


def _status(code: int) -> str:
    return f"command_status 0x{code:08x} ({P.status_name(code)})"


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:150] if str(error) else type(error).__name__
