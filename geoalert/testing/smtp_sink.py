"""A fast SMTP sink for benchmarks: PIPELINING and CHUNKING (RFC 2920, RFC 3030) on loopback.

Accepts every message, counts them and the distinct ``Message-ID`` s; reads whole buffers of
pipelined commands at once, so that the client, not the sink, is what a benchmark measures.
Tests use :mod:`geoalert.testing.smtp_server` (aiosmtpd), a complete server.
"""

from __future__ import annotations

import asyncio
import re
import threading

__all__ = ["SmtpSink"]

_MESSAGE_ID = re.compile(rb"\r\nMessage-ID: <([^>]*)>", re.IGNORECASE)
_GREETING = b"220 sink ESMTP\r\n"
_EHLO = b"250-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"


class _Session(asyncio.Protocol):
    def __init__(self, sink: SmtpSink):
        self.sink = sink
        self.buffer = b""
        self.need = 0  # octets of BDAT data still to read
        self.data: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(_GREETING)

    def data_received(self, chunk: bytes) -> None:
        self.buffer += chunk
        out = []
        buf, pos = self.buffer, 0
        while True:
            if self.need:
                take = min(self.need, len(buf) - pos)
                self.data.append(buf[pos : pos + take])
                pos += take
                self.need -= take
                if self.need:
                    break
                self.sink._message(b"".join(self.data))
                self.data = []
                out.append(b"250 2.0.0 queued\r\n")
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            line = buf[pos:end]
            pos = end + 2
            verb = line[:4].upper()
            if verb == b"BDAT":
                self.need = int(line.split()[1])
                if self.need == 0:
                    out.append(b"250 2.0.0 queued\r\n")
            elif verb in (b"EHLO", b"HELO"):
                out.append(_EHLO)
            elif verb == b"QUIT":
                out.append(b"221 bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:  # MAIL, RCPT, RSET, NOOP
                out.append(b"250 2.1.0 ok\r\n")
        self.buffer = buf[pos:]
        if out:
            self.transport.write(b"".join(out))


class SmtpSink:
    """The sink; use as a context manager. :attr:`messages` counts messages,
    :attr:`message_ids` holds their distinct Message-IDs."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.messages = 0
        self.message_ids: set[bytes] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _message(self, data: bytes) -> None:
        self.messages += 1
        found = _MESSAGE_ID.search(data)
        if found:
            self.message_ids.add(found[1])

    def start(self) -> SmtpSink:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _Session(self), self.host, self.port)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, name="smtp-sink", daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
