"""Registered contacts of a zone's addresses or of groups, each person counted once.

A person registers up to five addresses; they are reached once per channel however many of
them lie in the zone. Registrations (person, address) are sorted by the address's position
in an :class:`~geodata.address_index.AddressIndex`, so the registrations at a zone's
addresses are a few ranges found by binary search; the people are then de-duplicated, work
that grows with the result.

Nothing here logs: the target list (:meth:`ContactSelection.targets`) is for dispatch only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from geodata.address_index import (
    AddressIndex,
    AddressSelection,
    ranges_to_positions,
    sorted_unique,
)
from geodata.stores.groups import Group, UnknownGroup

__all__ = ["CHANNELS", "ContactIndex", "ContactSelection", "contacts_to_dict"]

#: Channels a person may be reached on, in the order of ``by_channel``.
CHANNELS = ("sms", "voice", "email")


class ContactIndex:
    """Registered contacts, their registrations sorted along an address index, and groups.

    Build with :meth:`from_frames`. Rows follow ascending ``contact_id``.

    Parameters
    ----------
    contact_id : ndarray of int64, shape (n,)
        Unique, ascending.
    reachable : ndarray of bool, shape (n, 3)
        Whether each person can be reached by SMS, voice call and e-mail (:data:`CHANNELS`).
    language : array-like of str, shape (n,)
    registration_row, registration_position : ndarray of int64, shape (r,)
        One registration per (person row, address position in ``addresses``), no repeats.
    addresses : AddressIndex
    groups : iterable of Group
        Groups alerted without a zone; their members must be among the contacts.
    """

    def __init__(
        self,
        contact_id: np.ndarray,
        reachable: np.ndarray,
        language: np.ndarray,
        registration_row: np.ndarray,
        registration_position: np.ndarray,
        addresses: AddressIndex,
        groups: Iterable[Group] = (),
    ) -> None:
        self.contact_id = np.asarray(contact_id, dtype=np.int64)
        if np.any(np.diff(self.contact_id) <= 0):
            raise ValueError("contact_id values must be unique and ascending")
        self.reachable = np.asarray(reachable, dtype=bool).reshape(len(self.contact_id), 3)
        codes, self.languages = pd.factorize(pd.Series(language, dtype=object), sort=True)
        if (codes < 0).any():
            raise ValueError(f"{int((codes < 0).sum())} contacts have no language")
        self.language_code = codes.astype(np.int8)
        order = np.argsort(registration_position, kind="stable")
        self.registration_position = np.asarray(registration_position, dtype=np.int64)[order]
        self.registration_row = np.asarray(registration_row, dtype=np.int64)[order]
        self.addresses = addresses
        self.groups = {group.group_id: group for group in groups}
        for group in self.groups.values():
            try:
                self.rows_of(group.contact_ids)
            except ValueError as error:
                raise ValueError(f"group {group.group_id!r}: {error}") from None

    @classmethod
    def from_frames(
        cls, contacts: pd.DataFrame, addresses: AddressIndex, groups: pd.DataFrame | None = None
    ) -> ContactIndex:
        """Build from the world schema's ``contacts`` and ``groups`` frames.

        Raises
        ------
        ValueError
            A registration names an address the index does not hold, or a group a contact
            that is not registered (counts only: no personal data in the message).
        """
        contacts = contacts.sort_values("contact_id", kind="stable")
        phone = contacts["phone"].notna().to_numpy()
        reachable = np.column_stack(
            (
                contacts["sms"].to_numpy(dtype=bool) & phone,
                contacts["voice"].to_numpy(dtype=bool) & phone,
                contacts["email"].notna().to_numpy(),
            )
        )
        lists = contacts["address_ids"].to_numpy()
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        row = np.repeat(np.arange(len(lists)), lengths)
        address_id = np.concatenate(lists).astype(np.int64) if len(lists) else np.empty(0, int)
        position = addresses.positions_of(address_id)
        if (position < 0).any():
            raise ValueError(
                f"{int((position < 0).sum())} registrations name an address id that is not "
                "among the addresses"
            )
        # The same address registered twice by one person (home and work) counts once.
        pairs = sorted_unique(row * (len(addresses) + 1) + position)
        return cls(
            contacts["contact_id"].to_numpy(),
            reachable,
            contacts["language"].to_numpy(dtype=object),
            pairs // (len(addresses) + 1),
            pairs % (len(addresses) + 1),
            addresses,
            ()
            if groups is None
            else [
                Group(g.group_id, g.name, g.kind, g.area_code, np.asarray(g.contact_ids, np.int64))
                for g in groups.itertuples(index=False)
            ],
        )

    def __len__(self) -> int:
        return len(self.contact_id)

    def rows_of(self, contact_id: np.ndarray) -> np.ndarray:
        """Sorted unique rows of the given contact ids.

        Raises
        ------
        ValueError
            Some ids are not registered contacts (how many, not which).
        """
        contact_id = sorted_unique(np.asarray(contact_id, dtype=np.int64))
        at = np.searchsorted(self.contact_id, contact_id)
        known = at < len(self.contact_id)
        known[known] = self.contact_id[at[known]] == contact_id[known]
        if not known.all():
            raise ValueError(f"{int((~known).sum())} contact ids are not registered contacts")
        return at

    def at_addresses(self, selection: AddressSelection) -> ContactSelection:
        """The people registered at any of the selected addresses.

        ``selection`` must come from this index's address index.
        """
        if selection.index is not self.addresses:
            raise ValueError("the address selection comes from another address index")
        reg = self.registration_position
        lo = np.concatenate(
            (np.searchsorted(reg, selection.lo), np.searchsorted(reg, selection.points))
        )
        hi = np.concatenate(
            (
                np.searchsorted(reg, selection.hi),
                np.searchsorted(reg, selection.points, side="right"),
            )
        )
        return ContactSelection(
            self, self._unique(self.registration_row[ranges_to_positions(lo, hi)])
        )

    def _unique(self, rows: np.ndarray) -> np.ndarray:
        """Sorted unique ``rows``: by sorting when few, by marking when many (faster then)."""
        if len(rows) * 16 < len(self):
            return sorted_unique(rows)
        marked = np.zeros(len(self), dtype=bool)
        marked[rows] = True
        return np.flatnonzero(marked)

    def group(self, group_id: str) -> Group:
        """One group.

        Raises
        ------
        UnknownGroup
        """
        try:
            return self.groups[group_id]
        except KeyError:
            raise UnknownGroup(f"no group with id {group_id!r}") from None

    def in_groups(self, group_ids: Iterable[str]) -> ContactSelection:
        """The members of any of the groups, each person once.

        Raises
        ------
        UnknownGroup
        """
        ids = [self.group(group_id).contact_ids for group_id in group_ids]
        return ContactSelection(self, self.rows_of(np.concatenate([np.empty(0, np.int64), *ids])))


@dataclass(frozen=True)
class ContactSelection:
    """A set of people of a :class:`ContactIndex` (``rows``: sorted, unique, int64)."""

    index: ContactIndex
    rows: np.ndarray

    @property
    def count(self) -> int:
        """Number of people."""
        return len(self.rows)

    def by_channel(self) -> dict[str, int]:
        """People reachable on each channel (a person counts once per channel)."""
        counts = self.index.reachable[self.rows].sum(axis=0)
        return {channel: int(n) for channel, n in zip(CHANNELS, counts, strict=True)}

    def by_language(self) -> dict[str, int]:
        """People per language (only languages with at least one)."""
        counts = np.bincount(
            self.index.language_code[self.rows], minlength=len(self.index.languages)
        )
        return {str(self.index.languages[i]): int(counts[i]) for i in np.flatnonzero(counts)}

    def contact_ids(self) -> np.ndarray:
        """Contact ids of the people (int64, ascending)."""
        return self.index.contact_id[self.rows]

    def targets(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The target list for dispatch: one row per person and channel they can be reached on.

        Yields Arrow record batches of the people of ``batch_size // 3`` rows (at least one)
        at a time, so at most ``batch_size`` rows each, with columns ``contact_id`` (int64),
        ``channel`` and ``language`` (dictionary-encoded strings), ordered by contact id then
        channel. Meant for a dispatcher, never for logs.
        """
        channels = pa.array(CHANNELS)
        languages = pa.array(self.index.languages.astype(str))
        people = max(1, batch_size // len(CHANNELS))
        for start in range(0, len(self.rows), people):
            rows = self.rows[start : start + people]
            person, channel = np.nonzero(self.index.reachable[rows])
            yield pa.record_batch(
                {
                    "contact_id": pa.array(self.index.contact_id[rows[person]]),
                    "channel": pa.DictionaryArray.from_arrays(
                        pa.array(channel.astype(np.int8)), channels
                    ),
                    "language": pa.DictionaryArray.from_arrays(
                        pa.array(self.index.language_code[rows[person]]), languages
                    ),
                }
            )


def contacts_to_dict(
    selection: ContactSelection, sms_segments: int, voice_minutes: int, unit_cost_eur: float
) -> dict:
    """The ``"contacts"`` part of a resolution.

    Parameters
    ----------
    selection : ContactSelection
    sms_segments : int
        Segments of the SMS of the message.
    voice_minutes : int
        Minutes (started) of the voice call reading the message.
    unit_cost_eur : float
        Cost of one SMS segment or one voice minute, EUR.

    Returns
    -------
    dict
        ``{"count", "by_channel": {"sms", "voice", "email"}, "by_language", "cost_eur"}``;
        the cost (SMS segments and voice minutes; e-mail is free) rounded to the cent.
    """
    by_channel = selection.by_channel()
    units = by_channel["sms"] * sms_segments + by_channel["voice"] * voice_minutes
    return {
        "count": selection.count,
        "by_channel": by_channel,
        "by_language": selection.by_language(),
        "cost_eur": round(units * unit_cost_eur, 2),
    }
