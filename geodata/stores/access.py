"""API keys and the audit log in a store.

Keys are stored by the hash of their secret only (hashing is the caller's: the store never
sees a secret). The audit log is append-only (the database refuses updates and deletes) and
refuses records that carry an e-mail address or a phone number.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from geodata.masking import EMAIL_PATTERN
from geodata.stores.schema import api_keys, audit

__all__ = ["AccessMixin", "KeyExists", "KeyRecord", "UnknownKey"]

# Phones are stored in E.164; an audit record must not carry one.
_E164 = re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)")


class KeyExists(ValueError):
    """A key with this name or secret hash is already stored."""


class UnknownKey(LookupError):
    """No key has this name."""


@dataclass(frozen=True)
class KeyRecord:
    """A stored API key: everything but the secret. Times are UTC."""

    name: str
    role: str
    area_code: str | None
    secret_hash: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class AccessMixin:
    """Keys and audit part of :class:`geodata.stores.base.BaseStore`."""

    # -- keys --------------------------------------------------------------------------

    def add_key(
        self,
        name: str,
        role: str,
        area_code: str | None,
        secret_hash: str,
        created_at: dt.datetime | None = None,
    ) -> KeyRecord:
        """Store a new key.

        Raises
        ------
        KeyExists
            When the name or the secret hash is taken (revoked keys included).
        """
        record = KeyRecord(
            name, role, area_code, secret_hash, created_at or dt.datetime.now(dt.UTC)
        )
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.select(api_keys.c.name).where(
                    sa.or_(api_keys.c.name == name, api_keys.c.secret_hash == secret_hash)
                )
            ).first()
            if taken:
                raise KeyExists(f"a key named {taken.name!r} exists with this name or secret")
            conn.execute(api_keys.insert().values(**record.__dict__))
        return record

    def find_key_by_hash(
        self, secret_hash: str, *, include_revoked: bool = False
    ) -> KeyRecord | None:
        """The key with this secret hash, or None (revoked keys only when asked)."""
        query = sa.select(api_keys).where(api_keys.c.secret_hash == secret_hash)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else KeyRecord(**row._mapping)

    def list_keys(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        """Stored keys, by name."""
        query = sa.select(api_keys).order_by(api_keys.c.name)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [KeyRecord(**row._mapping) for row in conn.execute(query)]

    def revoke_key(self, name: str, revoked_at: dt.datetime | None = None) -> KeyRecord:
        """Revoke a key (revoking it again keeps the first time).

        Raises
        ------
        UnknownKey
        """
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=revoked_at or dt.datetime.now(dt.UTC))
            )
            row = conn.execute(sa.select(api_keys).where(api_keys.c.name == name)).one_or_none()
        if row is None:
            raise UnknownKey(f"no key named {name!r}")
        return KeyRecord(**row._mapping)

    # -- audit -------------------------------------------------------------------------

    def append_audit(self, record: Mapping[str, Any]) -> int:
        """Append one record to the audit log; returns its sequence number.

        Parameters
        ----------
        record : mapping
            ``action`` (str, required), ``key_name`` (optional), ``time`` (aware datetime,
            now when absent) and any other JSON-serialisable fields (zone hash, area, counts).

        Raises
        ------
        ValueError
            No action, a value that is not JSON, or a value that looks like personal data
            (an e-mail address or an E.164 phone number).
        """
        fields = dict(record)
        action = fields.pop("action", None)
        if not action:
            raise ValueError("an audit record needs an 'action'")
        key_name = fields.pop("key_name", None)
        time = fields.pop("time", None) or dt.datetime.now(dt.UTC)
        try:
            text = json.dumps(fields, sort_keys=True)
        except TypeError as exc:
            raise ValueError(f"audit record is not JSON-serialisable: {exc}") from None
        for name, value in (("action", action), ("key_name", key_name or ""), ("record", text)):
            if EMAIL_PATTERN.search(value) or _E164.search(value):
                raise ValueError(
                    f"audit record field {name!r} looks like personal data; audit logs carry none"
                )
        with self.engine.begin() as conn:
            return conn.execute(
                audit.insert()
                .values(time=time, action=action, key_name=key_name, record=json.loads(text))
                .returning(audit.c.seq)
            ).scalar_one()

    def read_audit(
        self,
        *,
        after: int | None = None,
        limit: int | None = None,
        key_name: str | None = None,
        action: str | None = None,
    ) -> list[dict[str, Any]]:
        """Audit records in order: ``seq``, ``time`` (UTC), ``action``, ``key_name`` and the
        record's other fields.

        Parameters
        ----------
        after : int, optional
            Only records with a larger sequence number.
        limit : int, optional
            At most this many.
        key_name, action : str, optional
            Only records of this key or action.
        """
        query = sa.select(audit).order_by(audit.c.seq)
        if after is not None:
            query = query.where(audit.c.seq > after)
        if key_name is not None:
            query = query.where(audit.c.key_name == key_name)
        if action is not None:
            query = query.where(audit.c.action == action)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [
                {
                    "seq": r.seq,
                    "time": r.time,
                    "action": r.action,
                    "key_name": r.key_name,
                    **r.record,
                }
                for r in conn.execute(query)
            ]
