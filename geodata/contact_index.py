"""Registered contacts of a zone's addresses or of groups, each person counted once.

A person registers up to five addresses; they are reached once per channel however many of
them lie in the zone. Registrations (person, address) are sorted by the address's position
in an :class:`~geodata.address_index.AddressIndex`, so the registrations at a zone's
addresses are a few ranges found by binary search; the people are then de-duplicated, work
that grows with the result.

A running service keeps up with registrations made after its index was built without
rebuilding it: :meth:`ContactIndex.with_changes` overlays the current registrations of the
contacts changed since (read from the store's change log) on the unchanged base arrays. The
changed contacts' base rows are hidden, and their new rows follow the base ones, with their
own registrations sorted along the same address index; a zone's selection is the base's minus
the hidden rows plus the overlay's, each found by binary search.

Nothing here logs: the target list (:meth:`ContactSelection.targets`) is for dispatch only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

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

    Build with :meth:`from_frames`; take in later changes with :meth:`with_changes`. Rows
    follow ascending ``contact_id``; an overlay's rows come after the base ones, in ascending
    ``contact_id`` among themselves (:meth:`in_id_order` sorts rows by id).

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
        self._n_base = len(self.contact_id)
        self._overlay: _Overlay | None = None
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
        people = _people(contacts, addresses)
        return cls(
            people.contact_id,
            people.reachable,
            people.language,
            people.registration_row,
            people.registration_position,
            addresses,
            ()
            if groups is None
            else [
                Group(g.group_id, g.name, g.kind, g.area_code, np.asarray(g.contact_ids, np.int64))
                for g in groups.itertuples(index=False)
            ],
        )

    def with_changes(self, contact_ids: np.ndarray, contacts: pd.DataFrame) -> ContactIndex:
        """This index with some contacts changed (registered, updated or unregistered).

        Returns a new index that shares this one's base arrays; this one is left as it was,
        for readers still using it. Changes accumulate: the new overlay holds every contact
        changed since the base was built.

        Parameters
        ----------
        contact_ids : ndarray of int64
            Every contact changed since this index was read (any order, repeats allowed).
        contacts : DataFrame
            The current registrations of those still registered, in the world schema of
            ``contacts`` (the others were unregistered).

        Raises
        ------
        ValueError
            A registration names an address the address index does not hold (counts only).
        """
        contact_ids = sorted_unique(np.asarray(contact_ids, dtype=np.int64))
        overlay = self._overlay
        n = self._n_base
        people = _merged(
            overlay.people if overlay is not None else _people(contacts.iloc[:0], self.addresses),
            contact_ids,
            _people(contacts, self.addresses),
        )
        changed = contact_ids if overlay is None else np.union1d(overlay.changed, contact_ids)
        base_ids = self.contact_id[:n]
        at = np.searchsorted(base_ids, changed)
        in_base = at < n
        in_base[in_base] = base_ids[at[in_base]] == changed[in_base]
        hidden = np.zeros(n, dtype=bool)
        hidden[at[in_base]] = True
        new_languages = sorted(set(people.language) - set(self.languages))
        languages = self.languages.append(pd.Index(new_languages, dtype=self.languages.dtype))
        order = np.argsort(people.registration_position, kind="stable")
        index = copy.copy(self)
        index.contact_id = np.concatenate((base_ids, people.contact_id))
        index.reachable = np.concatenate((self.reachable[:n], people.reachable))
        index.languages = languages
        index.language_code = np.concatenate(
            (self.language_code[:n], languages.get_indexer(people.language).astype(np.int8))
        )
        index._overlay = _Overlay(
            changed=changed,
            removed=np.setdiff1d(changed, people.contact_id, assume_unique=True),
            hidden=hidden,
            hidden_count=int(in_base.sum()),
            people=people,
            registration_position=people.registration_position[order],
            registration_row=n + people.registration_row[order],
        )
        return index

    @property
    def overlay_size(self) -> int:
        """Contacts changed since the base arrays were built (0 without an overlay)."""
        return 0 if self._overlay is None else len(self._overlay.changed)

    def __len__(self) -> int:
        """Registered contacts."""
        hidden = 0 if self._overlay is None else self._overlay.hidden_count
        return len(self.contact_id) - hidden

    def rows_of(self, contact_id: np.ndarray) -> np.ndarray:
        """Sorted unique rows of the given contact ids; ids of contacts unregistered since the
        base was built have none.

        Raises
        ------
        ValueError
            Some ids were never registered contacts (how many, not which).
        """
        contact_id = sorted_unique(np.asarray(contact_id, dtype=np.int64))
        overlay = self._overlay
        if overlay is not None:
            changed = np.isin(contact_id, overlay.changed)
            extra = np.searchsorted(overlay.people.contact_id, contact_id[changed])
            extra = extra[np.isin(contact_id[changed], overlay.people.contact_id)]
            contact_id = contact_id[~changed]
        base_ids = self.contact_id[: self._n_base]
        at = np.searchsorted(base_ids, contact_id)
        known = at < len(base_ids)
        known[known] = base_ids[at[known]] == contact_id[known]
        if not known.all():
            raise ValueError(f"{int((~known).sum())} contact ids are not registered contacts")
        return at if overlay is None else np.concatenate((at, self._n_base + extra))

    def in_id_order(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` (sorted) reordered by contact id (the same array without an overlay)."""
        if self._overlay is None:
            return rows
        return rows[np.argsort(self.contact_id[rows], kind="stable")]

    def at_addresses(self, selection: AddressSelection) -> ContactSelection:
        """The people registered at any of the selected addresses.

        ``selection`` must come from this index's address index.
        """
        if selection.index is not self.addresses:
            raise ValueError("the address selection comes from another address index")
        rows = self._unique(
            self.registration_row[_registered_at(self.registration_position, selection)]
        )
        overlay = self._overlay
        if overlay is not None:
            extra = overlay.registration_row[
                _registered_at(overlay.registration_position, selection)
            ]
            rows = np.concatenate((rows[~overlay.hidden[rows]], sorted_unique(extra)))
        return ContactSelection(self, rows)

    def _unique(self, rows: np.ndarray) -> np.ndarray:
        """Sorted unique ``rows``: by sorting when few, by marking when many (faster then)."""
        if len(rows) * 16 < self._n_base:
            return sorted_unique(rows)
        marked = np.zeros(self._n_base, dtype=bool)
        marked[rows] = True
        return np.flatnonzero(marked)

    def group(self, group_id: str) -> Group:
        """One group.

        Raises
        ------
        UnknownGroup
        """
        try:
            group = self.groups[group_id]
        except KeyError:
            raise UnknownGroup(f"no group with id {group_id!r}") from None
        if self._overlay is None or not len(self._overlay.removed):
            return group
        gone = np.isin(group.contact_ids, self._overlay.removed)
        return replace(group, contact_ids=group.contact_ids[~gone]) if gone.any() else group

    def in_groups(self, group_ids: Iterable[str]) -> ContactSelection:
        """The members of any of the groups, each person once.

        Raises
        ------
        UnknownGroup
        """
        ids = [self.group(group_id).contact_ids for group_id in group_ids]
        return ContactSelection(self, self.rows_of(np.concatenate([np.empty(0, np.int64), *ids])))


@dataclass(frozen=True)
class _People:
    """Contacts as arrays: ids ascending, reachability per channel, language (str), and
    registrations (row in these arrays, position in the address index), unique pairs."""

    contact_id: np.ndarray
    reachable: np.ndarray
    language: np.ndarray
    registration_row: np.ndarray
    registration_position: np.ndarray


def _people(contacts: pd.DataFrame, addresses: AddressIndex) -> _People:
    """The arrays of a world schema ``contacts`` frame along ``addresses``.

    Raises
    ------
    ValueError
        A registration names an address the index does not hold (counts only).
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
    address_id = np.concatenate(lists).astype(np.int64) if len(lists) else np.empty(0, np.int64)
    position = addresses.positions_of(address_id)
    if (position < 0).any():
        raise ValueError(
            f"{int((position < 0).sum())} registrations name an address id that is not "
            "among the addresses"
        )
    # The same address registered twice by one person (home and work) counts once.
    pairs = sorted_unique(row * (len(addresses) + 1) + position)
    return _People(
        contacts["contact_id"].to_numpy(dtype=np.int64),
        reachable,
        contacts["language"].to_numpy(dtype=object),
        pairs // (len(addresses) + 1),
        pairs % (len(addresses) + 1),
    )


def _merged(old: _People, contact_ids: np.ndarray, fresh: _People) -> _People:
    """``old`` without the contacts ``contact_ids``, plus ``fresh``, ids ascending."""
    keep = ~np.isin(old.contact_id, contact_ids)
    kept = keep[old.registration_row]
    renumbered = (np.cumsum(keep) - 1)[old.registration_row[kept]]
    ids = np.concatenate((old.contact_id[keep], fresh.contact_id))
    order = np.argsort(ids, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    row = np.concatenate((renumbered, fresh.registration_row + int(keep.sum())))
    return _People(
        ids[order],
        np.concatenate((old.reachable[keep], fresh.reachable))[order],
        np.concatenate((old.language[keep], fresh.language))[order],
        rank[row],
        np.concatenate((old.registration_position[kept], fresh.registration_position)),
    )


@dataclass(frozen=True)
class _Overlay:
    """Contacts changed since an index's base arrays were built.

    ``changed``: their ids (sorted); ``removed``: those unregistered since; ``hidden``: mask of
    the base rows they replace (``hidden_count`` of them); ``people``: the current
    registrations of those still registered, whose rows follow the base ones; their
    registrations sorted by address position.
    """

    changed: np.ndarray
    removed: np.ndarray
    hidden: np.ndarray
    hidden_count: int
    people: _People
    registration_position: np.ndarray
    registration_row: np.ndarray


def _registered_at(position: np.ndarray, selection: AddressSelection) -> np.ndarray:
    """Indexes into ``position`` (sorted address positions of registrations) of those at the
    selected addresses."""
    lo = np.concatenate(
        (np.searchsorted(position, selection.lo), np.searchsorted(position, selection.points))
    )
    hi = np.concatenate(
        (
            np.searchsorted(position, selection.hi),
            np.searchsorted(position, selection.points, side="right"),
        )
    )
    return ranges_to_positions(lo, hi)


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
        found = {str(self.index.languages[i]): int(counts[i]) for i in np.flatnonzero(counts)}
        return dict(sorted(found.items()))

    def contact_ids(self) -> np.ndarray:
        """Contact ids of the people (int64, ascending)."""
        return self.index.contact_id[self.index.in_id_order(self.rows)]

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
        ordered = self.index.in_id_order(self.rows)
        for start in range(0, len(ordered), people):
            rows = ordered[start : start + people]
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
