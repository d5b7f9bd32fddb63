"""What every channel adapter does: take a batch of messages, say what became of each.

An adapter talks to one provider (an SMTP server, an SMSC over SMPP, an HTTP provider, an
operator's gateway) or, in simulation, to nobody. The sender hands it :class:`Batch` es no
larger than its ``batch`` option, at most its ``rate_per_s``, and gets one outcome per
message (:class:`Result`): ``sent`` (accepted, with the provider's reference when delivery
receipts follow), ``delivered``, ``retry`` (a reason that may pass: a time-out, a refused
connection, a throttled or unavailable provider) or ``failed`` (a permanent refusal). Every
message carries its idempotency key, which the provider sees on every attempt. Reasons never
hold personal data (:func:`safe_reason`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from geoalert.campaigns.content import Content
from geodata.masking import mask_text

__all__ = ["Adapter", "AdapterOptions", "Batch", "Receipt", "Result", "safe_reason"]

SENT, DELIVERED, RETRY, FAILED = "sent", "delivered", "retry", "failed"


class AdapterOptions(BaseModel):
    """Options every adapter takes (``campaign_providers`` settings file, one entry per
    channel); adapters add their own."""

    model_config = ConfigDict(extra="forbid")

    adapter: str = Field(description="Adapter name (geoalert.campaigns.adapters.ADAPTERS).")
    rate_per_s: float = Field(100.0, gt=0, description="Most messages handed over per second.")
    batch: int = Field(500, ge=1, le=100_000, description="Most messages per batch.")
    timeout_s: float = Field(10.0, gt=0, description="Time allowed to one batch.")
    max_attempts: int = Field(5, ge=1, description="Attempts before a message is failed.")
    backoff_s: float = Field(1.0, ge=0, description="Wait before the first retry; doubles.")
    backoff_max_s: float = Field(60.0, ge=0, description="Longest wait between attempts.")
    receipt_wait_s: float = Field(
        60.0, ge=0, description="How long to wait for delivery receipts after the last send."
    )


@dataclass
class Batch:
    """Messages of one channel handed to an adapter together.

    Attributes
    ----------
    channel : str
    keys : list of str
        Idempotency key of each message.
    addresses : list of str
        Phone (E.164), e-mail address, or operator MNC (operators' channels).
    languages : list of str
        Language of each message.
    contents : mapping
        Content per language (person channels) or the request per operator MNC
        (operators' channels).
    """

    channel: str
    keys: list[str]
    addresses: list[str]
    languages: list[str]
    contents: Mapping[str, Content] | Mapping[str, Mapping[str, Any]]

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Result:
    """One outcome per message of a batch, in its order: ``status`` is ``sent``,
    ``delivered``, ``retry`` or ``failed``; ``detail`` the provider's reference (``sent``,
    when receipts follow) or the reason (``retry``, ``failed``)."""

    status: list[str] = field(default_factory=list)
    detail: list[str | None] = field(default_factory=list)

    def add(self, status: str, detail: str | None = None) -> None:
        self.status.append(status)
        self.detail.append(detail)

    @classmethod
    def all(cls, n: int, status: str, detail: str | None = None) -> Result:
        """The same outcome for ``n`` messages."""
        return cls([status] * n, [detail] * n)


@dataclass(frozen=True)
class Receipt:
    """A provider's delivery report: the reference it gave, ``delivered`` or ``failed``."""

    ref: str
    status: str
    reason: str | None = None


def safe_reason(text: str, limit: int = 200) -> str:
    """A provider's message fit for a reason: phones and e-mails masked, one line, short.

    Examples
    --------
    >>> safe_reason("550 <jane@example.org>: mailbox unavailable")
    '550 <j***@example.org>: mailbox unavailable'
    """
    return mask_text(" ".join(str(text).split()))[:limit]


class Adapter(abc.ABC):
    """A channel's way out. Subclasses set :attr:`name`, :attr:`Options` and implement
    :meth:`send`; those whose provider reports deliveries set :attr:`receipts` and implement
    :meth:`poll_receipts`."""

    name: ClassVar[str]
    Options: ClassVar[type[AdapterOptions]] = AdapterOptions
    receipts: ClassVar[bool] = False

    def __init__(self, options: AdapterOptions):
        self.options = options

    async def open(self) -> None:  # noqa: B027 (optional hook)
        """Connect (called once before the first batch)."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Disconnect."""

    @abc.abstractmethod
    async def send(self, batch: Batch) -> Result:
        """Hand a batch to the provider; never raises for the provider's failures (they
        are outcomes)."""

    async def poll_receipts(self) -> list[Receipt]:
        """Delivery reports received since the last call."""
        return []
