"""A minimal SMPP 3.4 server (SMSC) for tests and benchmarks, on loopback.

Speaks what an alerting ESME needs: ``bind_transceiver`` (and transmitter/receiver),
``submit_sm`` -> ``submit_sm_resp`` with a message id, ``deliver_sm`` delivery receipts
(SMPP 3.4 appendix B text plus the ``receipted_message_id`` and ``message_state``
parameters) acknowledged by ``deliver_sm_resp``, ``enquire_link``, ``unbind``; anything else
gets ``generic_nack``. Receipts not acknowledged when a connection drops are delivered to the
next bound connection, as an SMSC does.

It records every ``submit_sm`` received and knows the idempotency key of
:data:`geoalert.campaigns.smpp_pdu.KEY_TAG`: a key seen before is answered with the first
message id and not delivered again, and counted in :attr:`SmppServer.duplicates`. Failures
are injected with :attr:`SmppServer.fail_statuses` (answer the next submits with these
statuses) and :attr:`SmppServer.stall` (answer no submit at all).

Framing and constants come from :mod:`geoalert.campaigns.smpp_pdu`; the submit_sm fields are
read here from the SMPP 3.4 specification with :mod:`struct`, independently of the client's
encoder.
"""

from __future__ import annotations

import asyncio
import collections
import struct
import threading
import time
from dataclasses import dataclass, field

from geoalert.campaigns.smpp_pdu import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    DELIVER_SM,
    ENQUIRE_LINK,
    ESME_RBINDFAIL,
    ESME_RINVCMDID,
    ESME_ROK,
    GENERIC_NACK,
    KEY_TAG,
    MESSAGE_PAYLOAD,
    MESSAGE_STATE,
    RECEIPTED_MESSAGE_ID,
    RESP,
    SUBMIT_SM,
    UNBIND,
    split,
)
from geoalert.campaigns.smpp_pdu import cstring as _cstring
from geoalert.campaigns.smpp_pdu import pdu as _pdu

__all__ = ["SmppServer", "Submitted"]


@dataclass(frozen=True)
class Submitted:
    """One ``submit_sm`` as received."""

    key: str | None
    destination: str
    source: str
    data_coding: int
    text: bytes
    registered_delivery: int
    message_id: str


@dataclass
class _Receipt:
    message_id: str
    destination: str
    source: str
    state: str


@dataclass
class SmppServer:
    """The server; use as a context manager (:meth:`start`, :meth:`stop`).

    Attributes
    ----------
    system_id, password : str
        Credentials a bind must present.
    receipt_state : str
        Final state of every receipt (``DELIVRD``; ``UNDELIV`` to report failures).
    """

    system_id: str = "geoalert"
    password: str = "secret"
    host: str = "127.0.0.1"
    port: int = 0
    receipt_state: str = "DELIVRD"
    received: list[Submitted] = field(default_factory=list)
    """Every submit_sm, duplicates included."""
    unique: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> message id of the first submit with it."""
    duplicates: int = 0
    fail_statuses: collections.deque = field(default_factory=collections.deque)
    stall: bool = False
    binds: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 0
        self._waiting: collections.deque[_Receipt] = collections.deque()
        self._sessions: set[_Session] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    # -- life ---------------------------------------------------------------------------

    def start(self) -> SmppServer:
        """Listen in a background thread; :attr:`port` is set when this returns."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._session, self.host, self.port)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="smpp-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._loop is None:
            return

        async def close() -> None:
            self._server.close()
            for session in list(self._sessions):
                session.writer.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> SmppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- sessions -------------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, writer)
        self._sessions.add(session)
        try:
            buffer = bytearray()
            while data := await reader.read(1 << 20):
                buffer += data
                pdus, used = split(buffer)
                del buffer[:used]
                if not all(session.handle(*p) for p in pdus):
                    break
                await writer.drain()
        except (ValueError, ConnectionError):
            pass
        finally:
            self._sessions.discard(session)
            # Receipts sent but not acknowledged go to the next bound connection.
            with self._lock:
                self._waiting.extendleft(reversed(list(session.unacked.values())))
            writer.close()

    def _submit(self, body: bytes) -> tuple[int, str | None, _Receipt | None]:
        """Record a submit_sm; returns (status, message id, receipt to send or None)."""
        pos = 0
        _service, pos = _cstring(body, pos)
        pos += 2
        source, pos = _cstring(body, pos)
        pos += 2
        destination, pos = _cstring(body, pos)
        pos += 3
        _, pos = _cstring(body, pos)
        _, pos = _cstring(body, pos)
        registered, _replace, coding, _default, sm_length = struct.unpack_from(">BBBBB", body, pos)
        pos += 5
        text = body[pos : pos + sm_length]
        pos += sm_length
        key = None
        while pos + 4 <= len(body):
            tag, size = struct.unpack_from(">HH", body, pos)
            value = body[pos + 4 : pos + 4 + size]
            pos += 4 + size
            if tag == KEY_TAG:
                key = value.decode()
            elif tag == MESSAGE_PAYLOAD:
                text = value
        with self._lock:
            if self.fail_statuses:
                return self.fail_statuses.popleft(), None, None
            if key is not None and key in self.unique:
                self.duplicates += 1
                message_id, receipt = self.unique[key], None
            else:
                self._next_id += 1
                message_id = f"{self._next_id:x}"
                if key is not None:
                    self.unique[key] = message_id
                receipt = (
                    _Receipt(message_id, destination, source, self.receipt_state)
                    if registered & 0x01
                    else None
                )
            self.received.append(
                Submitted(key, destination, source, coding, text, registered, message_id)
            )
        return ESME_ROK, message_id, receipt


class _Session:
    """One client connection."""

    def __init__(self, server: SmppServer, writer: asyncio.StreamWriter):
        self.server = server
        self.writer = writer
        self.bound = False
        self.receives = False
        self.seq = 0
        self.unacked: dict[int, _Receipt] = {}

    def handle(self, command: int, status: int, seq: int, body: bytes) -> bool:
        """Answer one PDU; False once the session ends."""
        server = self.server
        if command in (BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER):
            system_id, pos = _cstring(body, 0)
            password, _ = _cstring(body, pos)
            ok = system_id == server.system_id and password == server.password
            self.writer.write(
                _pdu(command | RESP, ESME_ROK if ok else ESME_RBINDFAIL, seq, b"smsc\0")
            )
            if ok:
                self.bound = True
                self.receives = command != BIND_TRANSMITTER
                server.binds += 1
                with server._lock:
                    waiting, server._waiting = list(server._waiting), collections.deque()
                for receipt in waiting:
                    self.deliver(receipt)
            return ok
        if command == SUBMIT_SM and self.bound:
            if server.stall:
                return True
            result, message_id, receipt = server._submit(body)
            payload = (message_id + "\0").encode() if message_id else b""
            self.writer.write(_pdu(SUBMIT_SM | RESP, result, seq, payload))
            if receipt is not None:
                if self.receives:
                    self.deliver(receipt)
                else:
                    with server._lock:
                        server._waiting.append(receipt)
            return True
        if command == DELIVER_SM | RESP:
            self.unacked.pop(seq, None)
            return True
        if command == ENQUIRE_LINK:
            self.writer.write(_pdu(ENQUIRE_LINK | RESP, ESME_ROK, seq))
            return True
        if command == UNBIND:
            self.writer.write(_pdu(UNBIND | RESP, ESME_ROK, seq))
            return False
        if command & RESP:
            return True
        self.writer.write(_pdu(GENERIC_NACK, ESME_RINVCMDID, seq))
        return True

    def deliver(self, receipt: _Receipt) -> None:
        """Send a delivery receipt (deliver_sm with esm_class 0x04)."""
        self.seq += 1
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        delivered = "001" if receipt.state == "DELIVRD" else "000"
        text = (
            f"id:{receipt.message_id} sub:001 dlvrd:{delivered} submit date:{stamp} "
            f"done date:{stamp} stat:{receipt.state} err:000 text:"
        ).encode()
        state = 2 if receipt.state == "DELIVRD" else 5
        body = (
            b"\0"
            + struct.pack(">BB", 1, 1)
            + receipt.destination.encode()
            + b"\0"
            + struct.pack(">BB", 5, 0)
            + receipt.source.encode()
            + b"\0"
            + struct.pack(">BBB", 0x04, 0, 0)
            + b"\0\0"
            + struct.pack(">BBBBB", 0, 0, 0, 0, len(text))
            + text
            + struct.pack(">HH", RECEIPTED_MESSAGE_ID, len(receipt.message_id) + 1)
            + receipt.message_id.encode()
            + b"\0"
            + struct.pack(">HHB", MESSAGE_STATE, 1, state)
        )
        self.unacked[self.seq] = receipt
        self.writer.write(_pdu(DELIVER_SM, ESME_ROK, self.seq, body))
