"""The ``contacts`` part: the people registered at the zone's addresses, and their cost.

``to_dict()`` gives ``"contacts": {"count", "by_channel": {"sms", "voice", "email"},
"by_language", "cost_eur"}``: each person counted once, and once per channel, however many
of their addresses lie in the zone. The cost is that of sending the request's message (or,
without one, a GSM 7-bit message of ``settings.default_message_chars`` characters) by SMS
(per segment, counted by :func:`geoalert.messages.sms.sms_segments`) and by voice call (per
started minute of reading at ``settings.voice_chars_per_minute``), at
``settings.segment_cost_eur`` a segment or a minute. :meth:`ContactsResult.targets` streams
the target list for dispatch.

The register is read once when the engine opens; after that, :attr:`Contacts.index` checks
the store's newest change number at most every ``settings.contacts_refresh_s`` seconds (one
small query; none in between) and overlays the contacts changed since
(:meth:`geodata.contact_index.ContactIndex.with_changes`), so that a person who registers is
alerted by the next resolve after the check, and one who unregisters is not. Past
``settings.contacts_overlay_max`` changed contacts the whole register is read again (at
national scale a few seconds, in the checking thread; the others go on with the previous
state meanwhile).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from geoalert.messages.sms import sms_segments
from geoalert.parts import Part, PartResult, Request
from geoalert.parts.addresses import address_index
from geoalert.settings import Settings
from geoalert.zones import Zone, ZoneError
from geodata.contact_index import ContactIndex, ContactSelection, contacts_to_dict

__all__ = ["PART", "Contacts", "ContactsResult", "message_units"]

log = logging.getLogger("geoalert.contacts")


class Contacts:
    """The registered contacts of a store, kept up to date, and the settings their costs need.

    Parameters
    ----------
    store : geodata.stores.BaseStore
        Where registrations are read from.
    index : ContactIndex
        The register as read at change number ``version``.
    version : int
        :meth:`geodata.stores.BaseStore.contacts_version` read before ``index``.
    settings : Settings
    clock : callable, optional
        Seconds of a monotonic clock (:func:`time.monotonic`).
    """

    def __init__(
        self,
        store,
        index: ContactIndex,
        version: int,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        # One tuple, replaced whole: a reader never sees an index with another's version.
        self._state = (index, version)
        self._due = clock() + settings.contacts_refresh_s
        self._lock = threading.Lock()

    @property
    def index(self) -> ContactIndex:
        """The register, checked against the store first when a check is due."""
        if self.clock() >= self._due:
            self.refresh()
        return self._state[0]

    @property
    def version(self) -> int:
        """Number of the newest change of the store that :attr:`index` holds."""
        return self._state[1]

    def refresh(self) -> None:
        """Check the store now and take in its changes.

        Returns at once, changing nothing, while another thread is at it. A store that cannot
        be read is logged and tried again at the next check; the register stays as it was.
        """
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._due = self.clock() + self.settings.contacts_refresh_s
            index, version = self._state
            try:
                latest = self.store.contacts_version()
                if latest == version:
                    return
                limit = self.settings.contacts_overlay_max
                if latest - version > limit:  # more changes than the overlay may hold
                    state = self._reread(index)
                else:
                    changes = self.store.read_contact_changes(version)
                    index = index.with_changes(changes.contact_ids, changes.contacts)
                    state = (index, changes.seq)
                    if index.overlay_size > limit:
                        self._state = state  # served while the register is read again
                        state = self._reread(index)
            except (sa.exc.SQLAlchemyError, OSError, ValueError) as error:
                log.warning(
                    "contacts: reading changes after change %d failed (%s); kept as they were",
                    version,
                    type(error).__name__,
                )
                return
            self._state = state
        finally:
            self._lock.release()

    def _reread(self, index: ContactIndex) -> tuple[ContactIndex, int]:
        """The whole register read again, along the same address index."""
        version = self.store.contacts_version()
        fresh = ContactIndex.from_frames(
            self.store.read_contacts(), index.addresses, self.store.read_groups()
        )
        log.info("contacts: register read again at change %d (%d contacts)", version, len(fresh))
        return fresh, version

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
    version = store.contacts_version()
    index = ContactIndex.from_frames(
        store.read_contacts(), address_index(store), store.read_groups()
    )
    return Contacts(store, index, version, settings)


def resolve(
    contacts: Contacts, zone: Zone, request: Request, done: Mapping[str, PartResult]
) -> ContactsResult:
    """The people registered at the addresses the zone covers."""
    selection = contacts.index.at_addresses(done["addresses"].selection)
    return contacts.result(selection, request.message)


PART = Part("contacts", load, resolve, requires=("addresses",))
