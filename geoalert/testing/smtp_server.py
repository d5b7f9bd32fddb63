"""A local SMTP server (aiosmtpd) that records the e-mails it receives, for tests.

Each message is recorded with its envelope recipients and ``Message-ID``; a Message-ID seen
before for the same recipient is counted in :attr:`SmtpServer.duplicates` and not kept
twice. :attr:`SmtpServer.refuse` answers RCPT for these addresses with 550 and
:attr:`SmtpServer.fail_next` answers the next DATA commands with these codes.
"""

from __future__ import annotations

import collections
import email
import email.policy
import logging
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

__all__ = ["SmtpServer"]

# aiosmtpd logs every command (addresses included) at INFO and DEBUG: the provider's log, kept
# out of the tests' output.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[tuple[str, str, str]] = field(default_factory=list)
    """(Message-ID, recipient, language) of every message, duplicates included."""
    unique: dict[tuple[str, str], email.message.EmailMessage] = field(default_factory=dict)
    duplicates: int = 0
    refuse: set[str] = field(default_factory=set)
    fail_next: collections.deque = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self.fail_next:
                return self.fail_next.popleft()
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            message_id = message["Message-ID"]
            for rcpt in envelope.rcpt_tos:
                self.received.append((message_id, rcpt, message["Content-Language"]))
                if (message_id, rcpt) in self.unique:
                    self.duplicates += 1
                else:
                    self.unique[(message_id, rcpt)] = message
        return "250 OK"

    def start(self) -> SmtpServer:
        if not self.port:
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
