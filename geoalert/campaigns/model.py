"""What a campaign is: its request, its states and its messages' states.

A campaign is asked for with a :class:`CampaignSpec` (a zone and/or groups, channels, texts
per language or a stored template, live or simulation). It moves through
:class:`CampaignState` (checked by :func:`check_transition`); each of its messages, one per
person and channel (or one per operator for the operators' channels), through
:class:`MessageState`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "LANGUAGES",
    "OPERATOR_CHANNELS",
    "PERSON_CHANNELS",
    "CampaignError",
    "CampaignSpec",
    "CampaignState",
    "Channel",
    "MessageState",
    "check_transition",
]

LANGUAGES = ("nl", "fr", "de", "en")
"""Languages a registered person may choose."""


class CampaignError(ValueError):
    """A campaign that cannot be accepted or run; the message is safe to show."""


class Channel(StrEnum):
    """Ways a campaign reaches people."""

    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    CELL_BROADCAST = "cell_broadcast"
    """The operators' cell broadcast centres (EU-Alert), one request per operator."""
    ALERT_SMS = "alert_sms"
    """The operators' location-based SMS to the devices in the zone's cells."""


PERSON_CHANNELS = (Channel.SMS, Channel.VOICE, Channel.EMAIL)
"""Channels with one message per registered person."""
OPERATOR_CHANNELS = (Channel.CELL_BROADCAST, Channel.ALERT_SMS)
"""Channels with one request per mobile operator, for everyone present in the zone."""


class CampaignState(StrEnum):
    """Life of a campaign."""

    ACCEPTED = "accepted"
    """Stored durably; targets not resolved yet."""
    QUEUED = "queued"
    """Every message is in the queue."""
    SENDING = "sending"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    """Could not be prepared (the reason is in the summary)."""


_NEXT: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.ACCEPTED: frozenset(
        {CampaignState.QUEUED, CampaignState.CANCELLED, CampaignState.FAILED}
    ),
    CampaignState.QUEUED: frozenset({CampaignState.SENDING, CampaignState.CANCELLED}),
    CampaignState.SENDING: frozenset({CampaignState.FINISHED, CampaignState.CANCELLED}),
    CampaignState.FINISHED: frozenset(),
    CampaignState.CANCELLED: frozenset(),
    CampaignState.FAILED: frozenset(),
}
FINAL_CAMPAIGN_STATES = frozenset(s for s, nxt in _NEXT.items() if not nxt)


def check_transition(current: str, new: str) -> None:
    """Raise :class:`CampaignError` unless a campaign may go from ``current`` to ``new``.

    Examples
    --------
    >>> check_transition("accepted", "queued")
    >>> check_transition("finished", "sending")
    Traceback (most recent call last):
    ...
    geoalert.campaigns.model.CampaignError: a finished campaign cannot become sending
    """
    if CampaignState(new) not in _NEXT[CampaignState(current)]:
        raise CampaignError(f"a {current} campaign cannot become {new}")


class MessageState(StrEnum):
    """Life of one message in the queue."""

    QUEUED = "queued"
    SENDING = "sending"
    """Handed to an adapter; in doubt after a crash (sent again with the same key)."""
    RETRY = "retry"
    """Failed for a reason that may pass; sent again at ``next_at``."""
    SENT = "sent"
    """Accepted by the provider."""
    DELIVERED = "delivered"
    """Delivery confirmed by the provider."""
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_MESSAGE_STATES = (MessageState.QUEUED, MessageState.SENDING, MessageState.RETRY)
"""States of messages still to be sent."""


Language = Literal["nl", "fr", "de", "en"]
Texts = Annotated[dict[Language, Annotated[str, Field(min_length=1, max_length=4000)]], Field()]


class CampaignSpec(BaseModel):
    """A campaign as asked for (by ``geoalert alert send`` or ``POST /v1/campaigns``).

    Holds no personal data: targets are resolved from the zone and groups when it runs.
    """

    model_config = ConfigDict(extra="forbid")

    zone: dict[str, Any] | None = Field(
        None, description="Any zone form (GeoJSON, circle, corridor, area, union)."
    )
    groups: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Registered groups alerted without a zone."
    )
    channels: Annotated[list[Channel], Field(min_length=1)] = Field(
        description="Channels to send on."
    )
    texts: Texts | None = Field(
        None, description="Message per language; the first is the default language."
    )
    headlines: Texts = Field(
        default_factory=dict, description="E-mail subject per language (a default otherwise)."
    )
    template: str | None = Field(None, description="Name of a stored template, instead of texts.")
    params: dict[str, str] = Field(
        default_factory=dict, description="Values of the template's $placeholders."
    )
    mode: Literal["live", "simulation"] = "live"
    severity: str = Field("Severe", description="CAP severity (operators' channels).")
    urgency: str = Field("Immediate", description="CAP urgency (operators' channels).")
    certainty: str = Field("Likely", description="CAP certainty (operators' channels).")

    @model_validator(mode="after")
    def _check(self) -> CampaignSpec:
        if self.zone is None and not self.groups:
            raise ValueError("a campaign needs a zone, groups, or both")
        if (self.texts is None) == (self.template is None):
            raise ValueError("give either texts or a template")
        if self.zone is None and any(c in OPERATOR_CHANNELS for c in self.channels):
            raise ValueError("the operators' channels (cell_broadcast, alert_sms) need a zone")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("a channel is listed twice")
        return self

    @property
    def languages(self) -> list[str]:
        """Languages of the texts, the default first."""
        return list(self.texts or {})
