"""E-mail through SMTP (stdlib :mod:`smtplib`).

One message per person, its ``Message-ID`` made of the message's idempotency key, so that a
message sent again after a crash is recognisable as the same one. When the server offers
``PIPELINING`` and ``CHUNKING`` (RFC 2920, RFC 3030), a batch is written as one stream of
``MAIL``/``RCPT``/``BDAT LAST`` transactions and the replies are read afterwards: no round
trip per message. Otherwise each message is one ``sendmail`` transaction.

Replies map to outcomes: 2xx sent, 4xx retry, 5xx failed (with the reply, masked); a lost
connection or a time-out retries the messages whose transaction did not complete.
"""

from __future__ import annotations

import asyncio
import email.utils
import smtplib
import ssl
import threading
from email.header import Header

from pydantic import Field

from geoalert.campaigns.adapters.base import (
    FAILED,
    RETRY,
    SENT,
    Adapter,
    AdapterOptions,
    Batch,
    Result,
    safe_reason,
)

__all__ = ["SmtpAdapter", "SmtpOptions"]

# Transactions written before their replies are read (bounds the bytes in flight).
_PIPELINE_WINDOW = 200


class SmtpOptions(AdapterOptions):
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("alert@geoalert.example", description="Envelope and From address.")
    sender_name: str = "geoalert"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    domain: str = Field("geoalert.example", description="Right-hand side of the Message-IDs.")
    pipelining: bool = Field(True, description="Use PIPELINING + CHUNKING when offered.")


class SmtpAdapter(Adapter):
    """Sends e-mails through one SMTP connection (reconnected when lost)."""

    name = "smtp"
    Options = SmtpOptions

    def __init__(self, options: SmtpOptions):
        super().__init__(options)
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self._heads: dict[str, tuple[bytes, bytes]] = {}

    async def send(self, batch: Batch) -> Result:
        return await asyncio.to_thread(self._send, batch)

    async def close(self) -> None:
        await asyncio.to_thread(self._disconnect)

    # -- blocking part, in a worker thread -----------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            o = self.options
            smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout_s)
            smtp.ehlo()
            if o.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if o.username:
                smtp.login(o.username, o.password or "")
            self._smtp = smtp
        return self._smtp

    def _disconnect(self) -> None:
        with self._lock:
            if self._smtp is not None:
                try:
                    self._smtp.quit()
                except (smtplib.SMTPException, OSError):
                    self._smtp.close()
                self._smtp = None

    def _message(self, batch: Batch, i: int) -> bytes:
        """The message's bytes: headers shared per language, then To and Message-ID."""
        lang = batch.languages[i]
        head, body = self._heads.get(lang) or self._head(batch, lang)
        own = (
            f"To: <{batch.addresses[i]}>\r\nMessage-ID: <{batch.keys[i]}@{self.options.domain}>\r\n"
        ).encode()
        return head + own + body

    def _head(self, batch: Batch, lang: str) -> tuple[bytes, bytes]:
        content = batch.contents[lang]
        o = self.options
        head = (
            f"From: {email.utils.formataddr((o.sender_name, o.sender))}\r\n"
            f"Subject: {Header(content.subject or '', 'utf-8').encode()}\r\n"
            f"Date: {email.utils.formatdate(localtime=False)}\r\n"
            f"Content-Language: {lang}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        ).encode()
        text = "\r\n".join(content.text.splitlines())
        # Dot-stuffing (RFC 5321 4.5.2) for the DATA path; BDAT sends the same bytes.
        lines = [("." + line) if line.startswith(".") else line for line in text.split("\r\n")]
        body = ("\r\n" + "\r\n".join(lines) + "\r\n").encode()
        self._heads[lang] = (head, body)
        return head, body

    def _send(self, batch: Batch) -> Result:
        result = Result()
        with self._lock:
            try:
                smtp = self._connect()
            except (smtplib.SMTPException, OSError) as error:
                self._smtp = None
                return Result.all(len(batch), RETRY, safe_reason(f"SMTP connect: {error}"))
            fast = (
                self.options.pipelining
                and smtp.has_extn("pipelining")
                and smtp.has_extn("chunking")
            )
            try:
                if fast:
                    self._send_pipelined(smtp, batch, result)
                else:
                    self._send_each(smtp, batch, result)
            except (smtplib.SMTPException, OSError) as error:
                # The connection broke: the messages without an outcome are retried.
                self._smtp = None
                reason = safe_reason(f"SMTP connection lost: {error}")
                while len(result.status) < len(batch):
                    result.add(RETRY, reason)
        return result

    def _send_each(self, smtp: smtplib.SMTP, batch: Batch, result: Result) -> None:
        for i in range(len(batch)):
            try:
                smtp.sendmail(self.options.sender, [batch.addresses[i]], self._message(batch, i))
                result.add(SENT)
            except smtplib.SMTPRecipientsRefused as error:
                ((code, text),) = error.recipients.values()
                result.add(*_outcome(code, text))
                smtp.rset()
            except smtplib.SMTPResponseException as error:
                result.add(*_outcome(error.smtp_code, error.smtp_error))
                if error.smtp_code != 421:
                    smtp.rset()
                else:
                    raise

    def _send_pipelined(self, smtp: smtplib.SMTP, batch: Batch, result: Result) -> None:
        sender = self.options.sender
        for start in range(0, len(batch), _PIPELINE_WINDOW):
            end = min(start + _PIPELINE_WINDOW, len(batch))
            parts = []
            for i in range(start, end):
                data = self._message(batch, i)
                parts.append(
                    f"MAIL FROM:<{sender}>\r\nRCPT TO:<{batch.addresses[i]}>\r\n"
                    f"BDAT {len(data)} LAST\r\n".encode()
                )
                parts.append(data)
            smtp.sock.sendall(b"".join(parts))
            for _ in range(start, end):
                replies = [smtp.getreply() for _ in range(3)]
                code, text = next(
                    ((c, t) for c, t in replies if c >= 300), (replies[-1][0], replies[-1][1])
                )
                result.add(*_outcome(code, text))


def _outcome(code: int, text: bytes | str) -> tuple[str, str | None]:
    if 200 <= code < 300:
        return SENT, None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    reason = safe_reason(f"SMTP {code} {text}")
    return (RETRY if 400 <= code < 500 else FAILED), reason
