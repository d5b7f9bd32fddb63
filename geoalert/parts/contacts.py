"""The ``contacts`` part: the people registered at the zone's addresses, and their cost.

``to_dict()`` gives ``"contacts": {"count", "by_channel": {"sms", "voice", "email"},
"by_language", "cost_eur"}``: each person counted once, and once per channel, however many
of their addresses lie in the zone. The cost is that of sending the request's message (or,
without one, a GSM 7-bit message of ``settings.default_message_chars`` characters) by SMS
(per segment, counted by :func:`geoalert.messages.sms.sms_segments`) and by voice call (per
started minute of reading at ``settings.voice_chars_per_minute``), at
``settings.segment_cost_eur`` a segment or a minute. :meth:`ContactsResult.targets` streams
the target list for dispatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa

from geoalert.messages.sms import sms_segments
from geoalert.parts import Part, PartResult, Request
from geoalert.parts.addresses import address_index
from geoalert.settings import Settings
from geoalert.zones import Zone, ZoneError
from geodata.contact_index import ContactIndex, ContactSelection, contacts_to_dict

__all__ = ["PART", "Contacts", "ContactsResult", "message_units"]


@dataclass(frozen=True, eq=False)
class Contacts:
    """The loaded contacts and the settings their costs need."""

    index: ContactIndex
    settings: Settings

    def result(self, selection: ContactSelection, message: str | None) -> ContactsResult:
        """The part's result for some people and the message to send them."""
        segments, minutes = message_units(message, self.settings)
        return ContactsResult(selection, segments, minutes, self.settings.segment_cost_eur)


def message_units(message: str | None, settings: Settings) -> tuple[int, int]:
    """SMS segments and voice-call minutes (started) of a message.

    Raises
    ------
    ZoneError
        The message is empty.
    """
    if message is None:
        message = "a" * settings.default_message_chars
    if not message:
        raise ZoneError("message: the message is empty")
    return sms_segments(message).segments, math.ceil(len(message) / settings.voice_chars_per_minute)


@dataclass(frozen=True, eq=False)
class ContactsResult:
    """The people of one zone (or of groups) and the cost units of the message."""

    selection: ContactSelection
    sms_segments: int
    voice_minutes: int
    unit_cost_eur: float

    def to_dict(self) -> dict:
        """``{"contacts": {"count", "by_channel", "by_language", "cost_eur"}}``."""
        return {
            "contacts": contacts_to_dict(
                self.selection, self.sms_segments, self.voice_minutes, self.unit_cost_eur
            )
        }

    def targets(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The target list: Arrow batches of ``contact_id``, ``channel``, ``language``
        (:meth:`geodata.contact_index.ContactSelection.targets`). Never log it."""
        return self.selection.targets(batch_size)


def load(store, settings: Settings) -> Contacts:
    """Index the store's contacts and groups along the address index (once, at open)."""
    index = ContactIndex.from_frames(
        store.read_contacts(), address_index(store), store.read_groups()
    )
    return Contacts(index, settings)


def resolve(
    contacts: Contacts, zone: Zone, request: Request, done: Mapping[str, PartResult]
) -> ContactsResult:
    """The people registered at the addresses the zone covers."""
    selection = contacts.index.at_addresses(done["addresses"].selection)
    return contacts.result(selection, request.message)


PART = Part("contacts", load, resolve, requires=("addresses",))
