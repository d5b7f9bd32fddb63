"""Groups alerted without a zone, and entities allowed nothing but their own groups.

``engine.group(group_id)`` gives one group; ``engine.resolve_groups([...])`` the people of
one or more groups, each counted once, with the same ``"contacts"`` figures and target list
as a zone's. ``engine.for_groups([...])`` is the engine as an entity allowed only those
groups sees it: it resolves them and refuses every zone with :class:`ZonesNotAllowed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from geoalert.jurisdiction import NotPermitted
from geoalert.parts.contacts import Contacts, ContactsResult
from geodata.stores.groups import Group

if TYPE_CHECKING:
    from geoalert.engine import Engine

__all__ = ["GroupNotAllowed", "GroupsOnly", "GroupsResolution", "ZonesNotAllowed", "resolve_groups"]


class ZonesNotAllowed(NotPermitted):
    """An entity allowed only its groups asked to resolve a zone."""


class GroupNotAllowed(NotPermitted):
    """An entity allowed only its groups asked for another group."""


@dataclass(frozen=True, eq=False)
class GroupsResolution:
    """The people of one or more groups, each counted once."""

    groups: tuple[Group, ...]
    contacts: ContactsResult

    def to_dict(self) -> dict:
        """``{"groups": [{"group_id", "name", "kind", "area_code", "members"}], "contacts":
        {...}}``; ``members`` is a count, ``contacts`` as for a zone."""
        groups = [
            {
                "group_id": g.group_id,
                "name": g.name,
                "kind": g.kind,
                "area_code": g.area_code,
                "members": len(g.contact_ids),
            }
            for g in self.groups
        ]
        return {"groups": groups, **self.contacts.to_dict()}

    def targets(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The target list (see :meth:`geoalert.parts.contacts.ContactsResult.targets`)."""
        return self.contacts.targets(batch_size)


def resolve_groups(
    contacts: Contacts, group_ids: Iterable[str], message: str | None = None
) -> GroupsResolution:
    """The people of the groups and the cost of sending them ``message``.

    Raises
    ------
    geodata.stores.groups.UnknownGroup
    """
    group_ids = [group_ids] if isinstance(group_ids, str) else list(dict.fromkeys(group_ids))
    index = contacts.index  # one state of the register for the groups and their people
    groups = tuple(index.group(g) for g in group_ids)
    return GroupsResolution(groups, contacts.result(index.in_groups(group_ids), message))


class GroupsOnly:
    """An engine as seen by an entity allowed only some groups (``group-only`` keys).

    Parameters
    ----------
    engine : Engine
    group_ids : iterable of str
        The groups the entity may alert.
    """

    def __init__(self, engine: Engine, group_ids: Iterable[str]) -> None:
        self._engine = engine
        self.group_ids = frozenset([group_ids] if isinstance(group_ids, str) else group_ids)

    def group(self, group_id: str) -> Group:
        """One of the entity's groups.

        Raises
        ------
        GroupNotAllowed
        """
        self._check([group_id])
        return self._engine.group(group_id)

    def resolve_groups(
        self, group_ids: Iterable[str], message: str | None = None
    ) -> GroupsResolution:
        """The people of some of the entity's groups.

        Raises
        ------
        GroupNotAllowed
        """
        group_ids = [group_ids] if isinstance(group_ids, str) else list(group_ids)
        self._check(group_ids)
        return self._engine.resolve_groups(group_ids, message)

    def resolve(self, *args: object, **kwargs: object):
        """Always refused: an entity allowed only its groups resolves no zone.

        Raises
        ------
        ZonesNotAllowed
        """
        raise ZonesNotAllowed("an entity allowed only its groups may not resolve zones")

    def _check(self, group_ids: Iterable[str]) -> None:
        for group_id in group_ids:
            if group_id not in self.group_ids:
                raise GroupNotAllowed(f"group {group_id!r} is not one of this entity's groups")
