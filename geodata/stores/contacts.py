"""Registered contacts in a store: read, register, update, unregister, import from CSV.

Every write is one transaction: a registration, an update or a whole import is stored
completely or not at all. Reports and errors name rows, fields and reasons, never values.

Each write also numbers its change in ``contact_changes`` (one row per contact changed, in the
same transaction): a running engine asks for :meth:`ContactsMixin.contacts_version` and reads
only what changed since the number it has (:meth:`ContactsMixin.read_contact_changes`).
Writers of the register are serialised (on PostgreSQL by a lock on ``contact_changes`` taken
before their first write; SQLite has one writer at a time), so numbers are committed in order
and a reader that has seen number ``n`` has seen every change up to ``n``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geodata.stores.registration import (
    MATCH_RADIUS_M,
    Contact,
    Problem,
    Registration,
    RegistrationError,
    parse_registration,
    read_csv_rows,
)
from geodata.stores.schema import (
    conform,
    contact_addresses,
    contact_changes,
    contacts,
    group_members,
    list_column,
)

__all__ = ["ContactChanges", "ContactsMixin", "ImportReport", "UnknownContact"]

log = logging.getLogger("geodata.stores")

ImportMode = Literal["all-or-nothing", "good-rows"]
IMPORT_MODES: tuple[str, ...] = ("all-or-nothing", "good-rows")


class UnknownContact(LookupError):
    """No registered contact has this id."""


@dataclass
class ImportReport:
    """Outcome of a CSV import.

    Attributes
    ----------
    mode : str
        ``"all-or-nothing"`` (any bad row: nothing written) or ``"good-rows"``.
    rows : int
        Data rows read (the header not counted).
    problems : list of Problem
        Every reason every bad row was refused, in row order.
    contact_ids : ndarray of int64
        Ids given to the imported contacts (empty when nothing was written).
    """

    mode: str
    rows: int
    problems: list[Problem] = field(default_factory=list)
    contact_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def imported(self) -> int:
        """Contacts written."""
        return len(self.contact_ids)

    @property
    def bad_rows(self) -> list[int]:
        """Row numbers with at least one problem, ascending."""
        return sorted({p.row for p in self.problems if p.row is not None})

    def to_dict(self) -> dict:
        """A JSON-ready summary, free of personal data."""
        return {
            "mode": self.mode,
            "rows": self.rows,
            "imported": self.imported,
            "rejected": len(self.bad_rows),
            "problems": [
                {"row": p.row, "field": p.field, "reason": p.reason} for p in self.problems
            ],
        }


@dataclass(frozen=True)
class ContactChanges:
    """Contacts changed after some change number (:meth:`ContactsMixin.read_contact_changes`).

    Attributes
    ----------
    seq : int
        Number of the newest change included.
    contact_ids : ndarray of int64
        Every contact changed (registered, updated or unregistered), ascending.
    contacts : DataFrame
        The current registrations of those still registered, as :meth:`read_contacts`.
    """

    seq: int
    contact_ids: np.ndarray
    contacts: pd.DataFrame


@dataclass
class _Entry:
    """One registration under validation: its row, what was read, problems, address ids."""

    row: int | None
    reg: Registration
    problems: list[Problem]
    address_ids: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.address_ids = np.full(len(self.reg.addresses), -1, dtype=np.int64)


class ContactsMixin:
    """Contacts part of :class:`geodata.stores.base.BaseStore`."""

    #: Rows per INSERT batch when importing.
    import_batch_rows: int = 5_000

    # -- read --------------------------------------------------------------------------

    def read_contacts(self) -> pd.DataFrame:
        """All registered contacts, as in the world's ``contacts.parquet``, sorted by id.

        Columns ``contact_id``, ``phone``, ``sms``, ``voice``, ``email``, ``language``,
        ``address_ids`` (int64 array per row) and ``address_labels`` (str array per row).
        """
        return self._read_contacts(None)

    def contacts_version(self) -> int:
        """Number of the newest change of the register (0 before any)."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(contact_changes.c.seq), 0))
            ).scalar_one()

    def read_contact_changes(self, since: int) -> ContactChanges:
        """The contacts changed after change number ``since``, up to the newest change.

        Read the version first and the contacts after it (as the engine does when it opens):
        a change committed in between is then read again later, never missed.
        """
        until = self.contacts_version()
        changed = (
            sa.select(contact_changes.c.contact_id)
            .where(contact_changes.c.seq > since, contact_changes.c.seq <= until)
            .distinct()
        )
        ids = self._frame(changed)["contact_id"].to_numpy(np.int64)
        return ContactChanges(until, np.sort(ids), self._read_contacts(changed))

    def _read_contacts(self, among: sa.Select | None) -> pd.DataFrame:
        """Registered contacts (all, or those whose id ``among`` selects) as in
        :meth:`read_contacts`."""
        people = sa.select(contacts).order_by(contacts.c.contact_id)
        links = sa.select(
            contact_addresses.c.contact_id,
            contact_addresses.c.address_id,
            contact_addresses.c.label,
        ).order_by(contact_addresses.c.contact_id, contact_addresses.c.position)
        if among is not None:
            people = people.where(contacts.c.contact_id.in_(among))
            links = links.where(contact_addresses.c.contact_id.in_(among))
        people, links = self._frame(people), self._frame(links)
        ends = np.searchsorted(
            links["contact_id"].to_numpy(np.int64),
            people["contact_id"].to_numpy(np.int64),
            side="right",
        )
        offsets = np.concatenate(([0], ends)).astype(np.int32)
        people["address_ids"] = list_column(offsets, links["address_id"].to_numpy(np.int64))
        people["address_labels"] = list_column(offsets, links["label"].to_numpy(object))
        return conform(people, "contacts")

    def get_contact(self, contact_id: int) -> Contact:
        """One registered contact.

        Raises
        ------
        UnknownContact
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(contacts).where(contacts.c.contact_id == contact_id)
            ).one_or_none()
            if row is None:
                raise UnknownContact(f"no contact with id {contact_id}")
            links = conn.execute(
                sa.select(contact_addresses.c.label, contact_addresses.c.address_id)
                .where(contact_addresses.c.contact_id == contact_id)
                .order_by(contact_addresses.c.position)
            ).all()
        return Contact(
            contact_id=row.contact_id,
            phone=row.phone,
            sms=row.sms,
            voice=row.voice,
            email=row.email,
            language=row.language,
            addresses=tuple((label, address_id) for label, address_id in links),
        )

    # -- write one ---------------------------------------------------------------------

    def register_contact(self, **values: object) -> Contact:
        """Register one person.

        Parameters
        ----------
        **values
            ``phone``, ``sms``, ``voice``, ``email``, ``language`` and ``addresses``: up to
            five ``(label, address)`` pairs, label in ``home``, ``work``, ``school``,
            ``family``, address an address id or a ``(lon, lat)`` location in the country.
            See :func:`geodata.stores.registration.parse_registration`.

        Returns
        -------
        Contact
            As stored, with its new id and its addresses as address ids.

        Raises
        ------
        RegistrationError
            With every problem found (field and reason, no values).
        """
        with self.engine.begin() as conn:
            (resolved,) = self._validated(
                [(None, values, [])], conn, exclude=None, raise_problems=True
            )
            (contact_id,) = self._insert(conn, [resolved])
        log.info("registered contact %d", contact_id)
        return self.get_contact(int(contact_id))

    def update_contact(self, contact_id: int, **changes: object) -> Contact:
        """Change a registration; fields not given keep their value (``None`` clears one).

        ``addresses``, when given, replaces all the contact's addresses.

        Raises
        ------
        UnknownContact
        RegistrationError
        """
        current = self.get_contact(contact_id)
        values = {
            "phone": current.phone,
            "sms": current.sms,
            "voice": current.voice,
            "email": current.email,
            "language": current.language,
            "addresses": list(current.addresses),
            **changes,
        }
        with self.engine.begin() as conn:
            ((reg, address_ids),) = self._validated(
                [(None, values, [])], conn, exclude=contact_id, raise_problems=True
            )
            _record_changes(conn, [contact_id])
            conn.execute(
                contacts.update()
                .where(contacts.c.contact_id == contact_id)
                .values(**_contact_row(reg))
            )
            conn.execute(
                contact_addresses.delete().where(contact_addresses.c.contact_id == contact_id)
            )
            conn.execute(contact_addresses.insert(), _address_rows(contact_id, reg, address_ids))
        log.info("updated contact %d", contact_id)
        return self.get_contact(contact_id)

    def unregister_contact(self, contact_id: int) -> None:
        """Remove a contact and all its personal data (addresses, group memberships).

        Raises
        ------
        UnknownContact
        """
        with self.engine.begin() as conn:
            _record_changes(conn, [contact_id])
            conn.execute(group_members.delete().where(group_members.c.contact_id == contact_id))
            conn.execute(
                contact_addresses.delete().where(contact_addresses.c.contact_id == contact_id)
            )
            deleted = conn.execute(
                contacts.delete().where(contacts.c.contact_id == contact_id)
            ).rowcount
            if deleted == 0:
                raise UnknownContact(f"no contact with id {contact_id}")
        log.info("unregistered contact %d", contact_id)

    # -- import ------------------------------------------------------------------------

    def import_contacts(
        self, source: str | Path | io.TextIOBase, mode: ImportMode = "all-or-nothing"
    ) -> ImportReport:
        """Register the people listed in a CSV file, atomically.

        Parameters
        ----------
        source : path or text file
            CSV with a header row; columns as described in
            :mod:`geodata.stores.registration`.
        mode : {"all-or-nothing", "good-rows"}
            ``all-or-nothing`` writes nothing when any row is bad; ``good-rows`` writes every
            good row. Either way the write is one transaction: a failure while writing leaves
            the store as it was.

        Returns
        -------
        ImportReport
            Every bad row with its field and reason, and the ids given to the imported rows.

        Raises
        ------
        RegistrationError
            When the header is unusable (nothing is written).
        """
        if mode not in IMPORT_MODES:
            raise ValueError(
                f"unknown import mode {mode!r}; expected one of {', '.join(IMPORT_MODES)}"
            )
        rows = list(read_csv_rows(source))
        report = ImportReport(mode=mode, rows=len(rows))
        with self.engine.begin() as conn:
            good = self._validated(rows, conn, exclude=None, problems=report.problems)
            if not good or (report.problems and mode == "all-or-nothing"):
                log.warning(
                    "import: %d rows, %d bad, nothing written (%s)",
                    len(rows),
                    len(report.bad_rows),
                    mode,
                )
                return report
            ids = []
            for start in range(0, len(good), self.import_batch_rows):
                ids.extend(self._insert(conn, good[start : start + self.import_batch_rows]))
        report.contact_ids = np.asarray(ids, dtype=np.int64)
        log.info(
            "import: %d rows, %d imported, %d bad (%s)",
            len(rows),
            report.imported,
            len(report.bad_rows),
            mode,
        )
        return report

    # -- internals ---------------------------------------------------------------------

    def _validated(
        self,
        rows: Sequence[tuple[int | None, Mapping[str, object], list[Problem]]],
        conn: sa.Connection,
        *,
        exclude: int | None,
        problems: list[Problem] | None = None,
        raise_problems: bool = False,
    ) -> list[tuple[Registration, np.ndarray]]:
        """Check registrations fully: fields, addresses against the store (known ids, locations
        in the country near an address), phones and e-mails registered once (in the batch and
        in the store, ``exclude`` being the contact under update). Every problem of every row
        goes to ``problems``; returns the good registrations with their address ids."""
        entries = []
        for row, values, row_problems in rows:
            reg, found = parse_registration(values, row)
            entries.append(_Entry(row, reg, row_problems + found))
        self._resolve_addresses(entries)
        self._find_duplicates(entries, conn, exclude)
        found = [p for e in entries for p in e.problems]
        if raise_problems and found:
            raise RegistrationError(found)
        if problems is not None:
            problems.extend(found)
        return [(e.reg, e.address_ids) for e in entries if not e.problems]

    def _resolve_addresses(self, entries: list[_Entry]) -> None:
        """Address ids of every entry's addresses, or a problem per unusable address."""
        wanted = [(e, k, a) for e in entries for k, (_, a) in enumerate(e.reg.addresses)]
        ids = [(e, k, a) for e, k, a in wanted if isinstance(a, int)]
        locs = [(e, k, a) for e, k, a in wanted if not isinstance(a, int)]
        refused: list[tuple[_Entry, int, str]] = []
        if ids:
            known = self._known_address_ids(np.array([a for *_, a in ids], dtype=np.int64))
            for (e, k, a), ok in zip(ids, known, strict=True):
                e.address_ids[k] = a if ok else -1
                if not ok:
                    refused.append((e, k, "unknown address id"))
        if locs:
            lon = np.array([a[0] for *_, a in locs], dtype=float)
            lat = np.array([a[1] for *_, a in locs], dtype=float)
            inside = self._in_country(lon, lat)
            nearest = self._nearest_addresses(lon, lat, MATCH_RADIUS_M)
            for (e, k, _), ok, a in zip(locs, inside, nearest, strict=True):
                e.address_ids[k] = a if ok else -1
                if not ok:
                    refused.append((e, k, "location outside the country"))
                elif a < 0:
                    refused.append(
                        (e, k, f"no known address within {MATCH_RADIUS_M:g} m of the location")
                    )
        for e, k, reason in refused:
            e.problems.append(Problem(e.row, e.reg.fields[k], reason))
        for e in entries:
            usable = e.address_ids[e.address_ids >= 0]
            dup = _first_repeat(usable)
            if dup is not None:
                k = int(np.flatnonzero(e.address_ids >= 0)[dup])
                reason = "duplicate address (same address as another of this contact)"
                e.problems.append(Problem(e.row, e.reg.fields[k], reason))

    def _find_duplicates(
        self, entries: list[_Entry], conn: sa.Connection, exclude: int | None
    ) -> None:
        """A problem for each phone or e-mail registered already, or earlier in the batch."""
        for name, column in (("phone", contacts.c.phone), ("email", contacts.c.email)):
            values = {getattr(e.reg, name) for e in entries} - {None}
            taken = self._registered(conn, column, values, exclude)
            first_row: dict[str, int | None] = {}
            for e in entries:
                value = getattr(e.reg, name)
                if value is None:
                    continue
                if value in taken:
                    e.problems.append(
                        Problem(e.row, name, "already registered for another contact")
                    )
                elif value in first_row:
                    e.problems.append(Problem(e.row, name, f"duplicate of row {first_row[value]}"))
                else:
                    first_row[value] = e.row

    @staticmethod
    def _registered(
        conn: sa.Connection, column: sa.Column, values: set[str], exclude: int | None
    ) -> set[str]:
        """Those of ``values`` already registered in ``column`` (by another contact than ``exclude``)."""
        taken: set[str] = set()
        values = sorted(values)
        for start in range(0, len(values), 500):
            query = sa.select(column).where(column.in_(values[start : start + 500]))
            if exclude is not None:
                query = query.where(contacts.c.contact_id != exclude)
            taken.update(conn.execute(query).scalars())
        return taken

    def _insert(
        self, conn: sa.Connection, batch: Sequence[tuple[Registration, np.ndarray]]
    ) -> list[int]:
        """Store new contacts, giving them ids never given before; returns the ids.

        The id of a person who unregistered is not given again (the change log remembers it):
        it may still stand in a campaign's records or a running engine's groups.
        """
        _serialise_writers(conn)
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("LOCK TABLE contacts IN SHARE ROW EXCLUSIVE MODE"))
        first = 1 + max(
            conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.contact_id), 0))).scalar_one()
            for t in (contacts, contact_changes)
        )
        ids = list(range(first, first + len(batch)))
        _record_changes(conn, ids)
        conn.execute(
            contacts.insert(),
            [
                {"contact_id": i, **_contact_row(reg)}
                for i, (reg, _) in zip(ids, batch, strict=True)
            ],
        )
        conn.execute(
            contact_addresses.insert(),
            [
                row
                for i, (reg, address_ids) in zip(ids, batch, strict=True)
                for row in _address_rows(i, reg, address_ids)
            ],
        )
        return ids

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        """Result of a parameterless query as a DataFrame of the driver's raw values (faster
        than SQLAlchemy rows; subclasses may fetch faster still)."""
        sql = str(
            query.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True})
        )
        with self.engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.execute(sql)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        return pd.DataFrame(rows, columns=[c.name for c in query.selected_columns])


def _serialise_writers(conn: sa.Connection) -> None:
    """Wait for the other writers of the register to commit, before this one's first write.

    Change numbers are then committed in order: a reader never sees number ``n + 1`` while
    ``n`` is still to come. Readers are not blocked. SQLite needs nothing: it has one writer.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE contact_changes IN EXCLUSIVE MODE"))


def _record_changes(conn: sa.Connection, contact_ids: Iterable[int]) -> None:
    """Number a change of each contact, in the writer's transaction (serialised first).

    Numbers follow the newest one without gaps (a sequence would leave the numbers of
    rolled-back writes unused on PostgreSQL but not on SQLite).
    """
    _serialise_writers(conn)
    first = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(contact_changes.c.seq), 0) + 1)
    ).scalar_one()
    conn.execute(
        contact_changes.insert(),
        [{"seq": first + k, "contact_id": int(i)} for k, i in enumerate(contact_ids)],
    )


def _contact_row(reg: Registration) -> dict[str, object]:
    return {
        "phone": reg.phone,
        "sms": reg.sms,
        "voice": reg.voice,
        "email": reg.email,
        "language": reg.language,
    }


def _address_rows(
    contact_id: int, reg: Registration, address_ids: Iterable[int]
) -> list[dict[str, object]]:
    return [
        {"contact_id": contact_id, "position": k, "address_id": int(a), "label": label}
        for k, ((label, _), a) in enumerate(zip(reg.addresses, address_ids, strict=True))
    ]


def _first_repeat(values: np.ndarray) -> int | None:
    """Position of the first value that repeats an earlier one, or None."""
    _, first = np.unique(values, return_index=True)
    if len(first) == len(values):
        return None
    return int(np.setdiff1d(np.arange(len(values)), first)[0])
