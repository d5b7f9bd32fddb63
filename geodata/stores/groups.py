"""Groups in a store: contacts alerted together without a zone (neighbourhood information
networks, responders), each owned by a municipality or province."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geodata.stores.registration import Problem, RegistrationError
from geodata.stores.schema import conform, contacts, group_members, groups, list_column

__all__ = ["GROUP_KINDS", "Group", "GroupsMixin", "UnknownGroup"]

log = logging.getLogger("geodata.stores")

GROUP_KINDS = ("neighbourhood", "responders")


class UnknownGroup(LookupError):
    """No group has this id."""


@dataclass(frozen=True)
class Group:
    """A group and its members (``contact_ids``: sorted int64 array)."""

    group_id: str
    name: str
    kind: str
    area_code: str
    contact_ids: np.ndarray


class GroupsMixin:
    """Groups part of :class:`geodata.stores.base.BaseStore`."""

    def read_groups(self) -> pd.DataFrame:
        """All groups, as in the world's ``groups.parquet`` (``contact_ids`` sorted), by id."""
        frame = self._frame(sa.select(groups).order_by(groups.c.group_id))
        members = self._frame(
            sa.select(group_members).order_by(group_members.c.group_id, group_members.c.contact_id)
        )
        ends = np.searchsorted(
            members["group_id"].to_numpy(object), frame["group_id"].to_numpy(object), side="right"
        )
        frame["contact_ids"] = list_column(
            np.concatenate(([0], ends)).astype(np.int32), members["contact_id"].to_numpy(np.int64)
        )
        return conform(frame, "groups")

    def get_group(self, group_id: str) -> Group:
        """One group with its members.

        Raises
        ------
        UnknownGroup
        """
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(groups).where(groups.c.group_id == group_id)).one_or_none()
            if row is None:
                raise UnknownGroup(f"no group with id {group_id!r}")
            members = conn.execute(
                sa.select(group_members.c.contact_id)
                .where(group_members.c.group_id == group_id)
                .order_by(group_members.c.contact_id)
            ).scalars()
            ids = np.fromiter(members, dtype=np.int64)
        return Group(row.group_id, row.name, row.kind, row.area_code, ids)

    def group_members(self, group_id: str) -> np.ndarray:
        """Sorted contact ids (int64) of a group's members.

        Raises
        ------
        UnknownGroup
        """
        return self.get_group(group_id).contact_ids

    def create_group(
        self, group_id: str, name: str, kind: str, area_code: str, contact_ids: Iterable[int] = ()
    ) -> Group:
        """Create a group.

        Raises
        ------
        RegistrationError
            Existing id, unknown kind or area, unknown contacts.
        """
        ids = np.unique(np.asarray(list(contact_ids), dtype=np.int64))
        with self.engine.begin() as conn:
            problems = self._check_group(conn, name, kind, area_code, ids)
            if conn.execute(
                sa.select(groups.c.group_id).where(groups.c.group_id == group_id)
            ).first():
                problems.insert(0, Problem(None, "group_id", "a group with this id exists"))
            if problems:
                raise RegistrationError(problems)
            conn.execute(
                groups.insert().values(group_id=group_id, name=name, kind=kind, area_code=area_code)
            )
            _set_members(conn, group_id, ids)
        log.info("created group %s with %d members", group_id, len(ids))
        return self.get_group(group_id)

    def update_group(
        self,
        group_id: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        area_code: str | None = None,
        contact_ids: Iterable[int] | None = None,
        add: Iterable[int] = (),
        remove: Iterable[int] = (),
    ) -> Group:
        """Change a group: fields given replace theirs; ``contact_ids`` replaces the members,
        then ``add`` and ``remove`` add and remove members.

        Raises
        ------
        UnknownGroup
        RegistrationError
            Unknown kind or area, unknown contacts.
        """
        current = self.get_group(group_id)
        members = (
            current.contact_ids
            if contact_ids is None
            else np.asarray(list(contact_ids), dtype=np.int64)
        )
        members = np.union1d(members, np.asarray(list(add), dtype=np.int64))
        members = np.setdiff1d(members, np.asarray(list(remove), dtype=np.int64))
        name = current.name if name is None else name
        kind = current.kind if kind is None else kind
        area_code = current.area_code if area_code is None else area_code
        with self.engine.begin() as conn:
            problems = self._check_group(conn, name, kind, area_code, members)
            if problems:
                raise RegistrationError(problems)
            conn.execute(
                groups.update()
                .where(groups.c.group_id == group_id)
                .values(name=name, kind=kind, area_code=area_code)
            )
            conn.execute(group_members.delete().where(group_members.c.group_id == group_id))
            _set_members(conn, group_id, members)
        log.info("updated group %s: %d members", group_id, len(members))
        return self.get_group(group_id)

    def _check_group(
        self, conn: sa.Connection, name: str, kind: str, area_code: str, ids: np.ndarray
    ) -> list[Problem]:
        problems = []
        if not name or not name.strip():
            problems.append(Problem(None, "name", "missing"))
        if kind not in GROUP_KINDS:
            problems.append(
                Problem(None, "kind", f"unknown kind (expected one of {', '.join(GROUP_KINDS)})")
            )
        if area_code not in self._area_codes():
            problems.append(Problem(None, "area_code", "unknown area code"))
        known: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            known.update(
                conn.execute(
                    sa.select(contacts.c.contact_id).where(contacts.c.contact_id.in_(chunk))
                ).scalars()
            )
        unknown = [int(i) for i in ids if int(i) not in known]
        if unknown:
            shown = ", ".join(map(str, unknown[:10])) + (", ..." if len(unknown) > 10 else "")
            problems.append(
                Problem(None, "contact_ids", f"{len(unknown)} unknown contact ids ({shown})")
            )
        return problems

    def _area_codes(self) -> set[str]:
        """NIS codes of every area of the world (cached)."""
        if self._area_code_set is None:
            self._area_code_set = set(self._read_layer("areas")["code"].astype(str))
        return self._area_code_set


def _set_members(conn: sa.Connection, group_id: str, ids: np.ndarray) -> None:
    if len(ids):
        conn.execute(
            group_members.insert(), [{"group_id": group_id, "contact_id": int(i)} for i in ids]
        )
