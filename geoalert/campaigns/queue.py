"""The durable campaign store: campaigns, their message queue and templates, in the world's
store (SQLite embedded, PostgreSQL in production).

Each message has one row, keyed by ``(campaign_id, seq)``, with its channel, recipient
(a contact id, or an operator's MNC for the operators' channels), language, state, attempts,
retry time, cost units, the provider's reference and the reason of a failure. Its
idempotency key, sent to every provider, is ``{campaign uid}-{seq}`` (:func:`message_key`):
unique per message by the primary key, and the same on every attempt. The queue holds no
personal data: phones and e-mail addresses are read from the contacts table when a batch is
claimed, so that an unregistered person is not contacted.

Everything is done in batches: rows are inserted with one ``executemany`` (``COPY`` on
PostgreSQL), state changes are applied per state to a list of sequence numbers in one
statement, and claiming a batch, recording the outcomes of earlier ones and the campaign's
progress is one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from geoalert.campaigns.model import (
    OPEN_MESSAGE_STATES,
    CampaignError,
    CampaignState,
    MessageState,
    check_transition,
)
from geodata.stores.schema import campaign_messages, campaign_templates, campaigns

__all__ = ["CampaignRecord", "CampaignStore", "Changes", "Claimed", "message_key"]

_MESSAGE_COLUMNS = [c.name for c in campaign_messages.columns]


def message_key(uid: str, seq: int) -> str:
    """Idempotency key of message ``seq`` of the campaign with ``uid``.

    Examples
    --------
    >>> message_key("3f2a", 17)
    '3f2a-17'
    """
    return f"{uid}-{seq}"


@dataclass(frozen=True)
class CampaignRecord:
    """A stored campaign (no personal data)."""

    campaign_id: int
    uid: str
    key_name: str | None
    mode: str
    state: str
    spec: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress: dict[str, Any] | None
    summary: dict[str, Any] | None
    request_key: str | None = None


@dataclass
class Claimed:
    """Messages claimed for sending (state set to ``sending``), in ``seq`` order.

    ``address`` is the phone or e-mail address read from the contacts (None when the person
    has none any more), or the operator's MNC.
    """

    seq: list[int] = field(default_factory=list)
    address: list[str | None] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    """State of each message before it was claimed."""

    def __len__(self) -> int:
        return len(self.seq)


@dataclass
class Changes:
    """State changes waiting to be written, grouped so that each group is one statement.

    ``by_state[(state, reason)]`` lists sequence numbers; ``refs`` holds per-message provider
    references (``seq, state, ref``); ``retries`` the ``seq, next_at`` of messages to retry.
    """

    by_state: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)
    refs: list[tuple[int, str, str]] = field(default_factory=list)
    retries: list[tuple[int, float, str]] = field(default_factory=list)

    def add(self, state: str, seqs: Iterable[int], reason: str | None = None) -> None:
        self.by_state.setdefault((state, reason), []).extend(seqs)

    def __bool__(self) -> bool:
        return bool(self.by_state or self.refs or self.retries)

    def take(self) -> Changes:
        """These changes, leaving this object empty."""
        taken = Changes(self.by_state, self.refs, self.retries)
        self.by_state, self.refs, self.retries = {}, [], []
        return taken


class CampaignStore:
    """Campaigns, messages and templates in a store's database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store's engine (``store.engine``), migrated to the newest schema.
    """

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.dialect = engine.dialect.name

    # -- campaigns ---------------------------------------------------------------------

    def create(
        self,
        spec: Mapping[str, Any],
        *,
        mode: str,
        key_name: str | None,
        request_key: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> CampaignRecord:
        """Store a new campaign in state ``accepted`` (committed before returning).

        With ``request_key`` (the caller's idempotency key of the request), asking twice
        returns the campaign stored the first time.
        """
        if request_key is not None:
            known = self.find(request_key=request_key)
            if known is not None:
                return known
        values = {
            "uid": uuid.uuid4().hex,
            "request_key": request_key,
            "key_name": key_name,
            "mode": mode,
            "state": CampaignState.ACCEPTED.value,
            "spec": dict(spec),
            "created_at": dt.datetime.now(dt.UTC),
            "summary": dict(summary or {}),
        }
        try:
            with self.engine.begin() as conn:
                campaign_id = conn.execute(
                    campaigns.insert().values(**values).returning(campaigns.c.campaign_id)
                ).scalar_one()
        except sa.exc.IntegrityError:
            known = self.find(request_key=request_key) if request_key else None
            if known is None:
                raise
            return known
        return self.get(campaign_id)

    def get(self, campaign_id: int) -> CampaignRecord:
        """A campaign; :class:`LookupError` when there is none with this id."""
        found = self.find(campaign_id=campaign_id)
        if found is None:
            raise LookupError(f"no campaign {campaign_id}")
        return found

    def find(
        self, *, campaign_id: int | None = None, request_key: str | None = None
    ) -> CampaignRecord | None:
        """The campaign with this id or request key, or None."""
        query = sa.select(campaigns)
        if campaign_id is not None:
            query = query.where(campaigns.c.campaign_id == campaign_id)
        if request_key is not None:
            query = query.where(campaigns.c.request_key == request_key)
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else CampaignRecord(**row._mapping)

    def list(self, states: Iterable[str] | None = None) -> list[CampaignRecord]:
        """Campaigns (in some states only), oldest first."""
        query = sa.select(campaigns).order_by(campaigns.c.campaign_id)
        if states is not None:
            query = query.where(campaigns.c.state.in_([str(s) for s in states]))
        with self.engine.connect() as conn:
            return [CampaignRecord(**row._mapping) for row in conn.execute(query)]

    def recent(self, limit: int, key_name: str | None = None) -> list[CampaignRecord]:
        """The ``limit`` newest campaigns (launched with ``key_name`` only, when given),
        newest first."""
        query = sa.select(campaigns).order_by(campaigns.c.campaign_id.desc()).limit(limit)
        if key_name is not None:
            query = query.where(campaigns.c.key_name == key_name)
        with self.engine.connect() as conn:
            return [CampaignRecord(**row._mapping) for row in conn.execute(query)]

    def set_state(self, campaign_id: int, state: str, **values: Any) -> CampaignRecord:
        """Move a campaign to ``state`` (a transition allowed by the state machine)."""
        with self.engine.begin() as conn:
            self._set_state(conn, campaign_id, state, **values)
        return self.get(campaign_id)

    def _set_state(self, conn: sa.Connection, campaign_id: int, state: str, **values) -> None:
        current = conn.execute(
            sa.select(campaigns.c.state).where(campaigns.c.campaign_id == campaign_id)
        ).scalar_one()
        check_transition(current, state)
        conn.execute(
            campaigns.update()
            .where(campaigns.c.campaign_id == campaign_id)
            .values(state=str(state), **values)
        )

    def update(self, campaign_id: int, **values: Any) -> None:
        """Change a campaign's columns other than its state (progress, summary...)."""
        with self.engine.begin() as conn:
            conn.execute(
                campaigns.update().where(campaigns.c.campaign_id == campaign_id).values(**values)
            )

    def cancel(self, campaign_id: int) -> CampaignRecord:
        """Cancel a campaign: no message still waiting is sent (those being handed to a
        provider at this moment still are). Cancelling a cancelled campaign does nothing.

        Raises
        ------
        CampaignError
            When the campaign has already finished or failed.
        """
        with self.engine.begin() as conn:
            state = conn.execute(
                sa.select(campaigns.c.state).where(campaigns.c.campaign_id == campaign_id)
            ).scalar_one_or_none()
            if state is None:
                raise LookupError(f"no campaign {campaign_id}")
            if state != CampaignState.CANCELLED:
                self._set_state(
                    conn, campaign_id, CampaignState.CANCELLED, finished_at=dt.datetime.now(dt.UTC)
                )
                self._cancel_open(conn, campaign_id, (MessageState.QUEUED, MessageState.RETRY))
        return self.get(campaign_id)

    def close_cancelled(self, campaign_id: int) -> None:
        """Cancel every message of a cancelled campaign that is still open (once its sender
        has stopped handing messages over)."""
        with self.engine.begin() as conn:
            self._cancel_open(conn, campaign_id, OPEN_MESSAGE_STATES)

    def _cancel_open(self, conn: sa.Connection, campaign_id: int, states: Sequence[str]) -> None:
        conn.execute(
            campaign_messages.update()
            .where(
                campaign_messages.c.campaign_id == campaign_id,
                campaign_messages.c.state.in_([str(s) for s in states]),
            )
            .values(state=MessageState.CANCELLED.value, reason="campaign cancelled")
        )

    # -- messages ----------------------------------------------------------------------

    def enqueue(
        self,
        campaign_id: int,
        blocks: Iterable[Mapping[str, Any]],
        *,
        summary: Mapping[str, Any],
    ) -> dict[str, tuple[int, int]]:
        """Insert every message of a campaign and move it to ``queued``, in one transaction.

        Parameters
        ----------
        blocks : iterable of mapping
            Messages of one channel each: ``channel`` (str), ``contact_id`` (int64 array or
            None), ``operator`` (str array or None), ``language`` (str array), ``units``
            (int array), all of one length.
        summary : mapping
            Stored as the campaign's summary (targets, operators' requests, sequence ranges
            are added).

        Returns
        -------
        dict
            ``{channel: (first seq, end seq)}``: each channel's messages are one range.
        """
        ranges: dict[str, tuple[int, int]] = {}
        seq = 0
        with self.engine.begin() as conn:
            for block in blocks:
                n = len(block["language"])
                if n == 0:
                    continue
                first, seq = seq, seq + n
                channel = str(block["channel"])
                lo, hi = ranges.get(channel, (first, first))
                if hi != first:
                    raise CampaignError(f"messages of channel {channel} are not contiguous")
                ranges[channel] = (lo, seq)
                self._insert(conn, campaign_id, channel, first, block)
            self._set_state(
                conn,
                campaign_id,
                CampaignState.QUEUED,
                summary={**summary, "ranges": {c: list(r) for c, r in ranges.items()}},
            )
        return ranges

    def _insert(
        self, conn: sa.Connection, campaign_id: int, channel: str, first: int, block: Mapping
    ) -> None:
        n = len(block["language"])
        none = [None] * n
        contact = block.get("contact_id")
        operator = block.get("operator")
        columns = {
            "campaign_id": [campaign_id] * n,
            "seq": range(first, first + n),
            "channel": [channel] * n,
            "contact_id": none if contact is None else np.asarray(contact, np.int64).tolist(),
            "operator": none if operator is None else list(operator),
            "language": list(block["language"]),
            "state": [MessageState.QUEUED.value] * n,
            "attempts": [0] * n,
            "next_at": none,
            "units": np.asarray(block["units"], np.int64).tolist(),
            "provider_ref": none,
            "reason": none,
        }
        rows = zip(*(columns[c] for c in _MESSAGE_COLUMNS), strict=True)
        raw = conn.connection.driver_connection
        if self.dialect == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    f"COPY campaign_messages ({', '.join(_MESSAGE_COLUMNS)}) FROM STDIN"
                ) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            cursor = raw.cursor()
            try:
                marks = ", ".join("?" * len(_MESSAGE_COLUMNS))
                cursor.executemany(
                    f"INSERT INTO campaign_messages ({', '.join(_MESSAGE_COLUMNS)}) "
                    f"VALUES ({marks})",
                    rows,
                )
            finally:
                cursor.close()

    def _seq_in(self) -> str:
        """SQL condition ``seq`` in the list bound as ``:seqs``."""
        if self.dialect == "postgresql":
            return "seq = ANY(CAST(:seqs AS BIGINT[]))"
        return "seq IN (SELECT value FROM json_each(:seqs))"

    def _seqs(self, seqs: Sequence[int]) -> object:
        return list(seqs) if self.dialect == "postgresql" else json.dumps(list(seqs))

    def step(
        self,
        campaign_id: int,
        changes: Changes,
        *,
        progress: Mapping[str, Any] | None = None,
        claim: tuple[str, int, int] | None = None,
        resend: Sequence[int] = (),
    ) -> tuple[Claimed, str]:
        """One transaction of the sender: write ``changes`` and ``progress``, then claim up to
        ``limit`` open messages of ``channel`` from ``seq >= start`` (``claim=(channel, start,
        limit)``), setting them to ``sending`` with one more attempt.

        Returns
        -------
        Claimed, str
            The claimed messages and the campaign's state (to notice a cancellation).
        """
        claimed = Claimed()
        with self.engine.begin() as conn:
            self._write(conn, campaign_id, changes)
            if progress is not None:
                conn.execute(
                    campaigns.update()
                    .where(campaigns.c.campaign_id == campaign_id)
                    .values(progress=dict(progress))
                )
            state = conn.execute(
                sa.select(campaigns.c.state).where(campaigns.c.campaign_id == campaign_id)
            ).scalar_one()
            if state != CampaignState.CANCELLED:
                if claim is not None:
                    claimed = self._claim(conn, campaign_id, *claim)
                if resend:
                    self._mark_sending(conn, campaign_id, resend)
        return claimed, state

    def _write(self, conn: sa.Connection, campaign_id: int, changes: Changes) -> None:
        # References first: a receipt may confirm, in the same write, a message just sent.
        if changes.refs:
            conn.execute(
                sa.text(
                    "UPDATE campaign_messages SET state = :state, provider_ref = :ref "
                    "WHERE campaign_id = :cid AND seq = :seq"
                ),
                [
                    {"state": state, "ref": ref, "cid": campaign_id, "seq": seq}
                    for seq, state, ref in changes.refs
                ],
            )
        cond = self._seq_in()
        for (state, reason), seqs in changes.by_state.items():
            for start in range(0, len(seqs), 50_000):
                conn.execute(
                    sa.text(
                        "UPDATE campaign_messages SET state = :state, reason = :reason "
                        f"WHERE campaign_id = :cid AND {cond}"
                    ),
                    {
                        "state": state,
                        "reason": reason,
                        "cid": campaign_id,
                        "seqs": self._seqs(seqs[start : start + 50_000]),
                    },
                )
        if changes.retries:
            conn.execute(
                sa.text(
                    "UPDATE campaign_messages SET state = 'retry', next_at = :next_at, "
                    "reason = :reason WHERE campaign_id = :cid AND seq = :seq"
                ),
                [
                    {"next_at": at, "reason": reason, "cid": campaign_id, "seq": seq}
                    for seq, at, reason in changes.retries
                ],
            )

    def _claim(
        self, conn: sa.Connection, campaign_id: int, channel: str, start: int, limit: int
    ) -> Claimed:
        rows = conn.execute(
            sa.text(
                "SELECT m.seq, COALESCE(m.operator, CASE WHEN :channel = 'email' "
                "THEN c.email ELSE c.phone END), m.language, m.attempts, m.state "
                "FROM campaign_messages m LEFT JOIN contacts c ON c.contact_id = m.contact_id "
                "WHERE m.campaign_id = :cid AND m.seq >= :start AND m.channel = :channel "
                "AND m.state IN ('queued', 'sending', 'retry') ORDER BY m.seq LIMIT :limit"
            ),
            {"cid": campaign_id, "start": start, "channel": channel, "limit": limit},
        ).all()
        claimed = Claimed()
        if not rows:
            return claimed
        claimed.seq, claimed.address, claimed.language, attempts, claimed.state = map(
            list, zip(*rows, strict=True)
        )
        claimed.attempts = [a + 1 for a in attempts]
        self._mark_sending(conn, campaign_id, claimed.seq)
        return claimed

    def _mark_sending(self, conn: sa.Connection, campaign_id: int, seqs: Sequence[int]) -> None:
        conn.execute(
            sa.text(
                "UPDATE campaign_messages SET state = 'sending', attempts = attempts + 1 "
                f"WHERE campaign_id = :cid AND {self._seq_in()}"
            ),
            {"cid": campaign_id, "seqs": self._seqs(seqs)},
        )

    def awaiting_receipts(self, campaign_id: int, channel: str) -> dict[str, int]:
        """Provider reference -> seq of the channel's messages sent but not yet confirmed."""
        query = sa.select(campaign_messages.c.provider_ref, campaign_messages.c.seq).where(
            campaign_messages.c.campaign_id == campaign_id,
            campaign_messages.c.channel == channel,
            campaign_messages.c.state == MessageState.SENT.value,
            campaign_messages.c.provider_ref.is_not(None),
        )
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    def counts(self, campaign_id: int) -> dict[str, dict[str, int]]:
        """Messages per channel and state."""
        m = campaign_messages.c
        query = (
            sa.select(m.channel, m.state, sa.func.count())
            .where(m.campaign_id == campaign_id)
            .group_by(m.channel, m.state)
        )
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for channel, state, n in conn.execute(query):
                out.setdefault(channel, {})[state] = n
        return out

    def tally(self, campaign_id: int) -> list[tuple[str, str, str | None, int, int]]:
        """``(channel, state, reason, messages, cost units)`` of every group of messages."""
        m = campaign_messages.c
        query = (
            sa.select(m.channel, m.state, m.reason, sa.func.count(), sa.func.sum(m.units))
            .where(m.campaign_id == campaign_id)
            .group_by(m.channel, m.state, m.reason)
        )
        with self.engine.connect() as conn:
            return [(c, s, r, int(n), int(u or 0)) for c, s, r, n, u in conn.execute(query)]

    def messages(self, campaign_id: int) -> list[dict[str, Any]]:
        """Every message of a campaign, in ``seq`` order, without personal data (tests,
        exports)."""
        query = (
            sa.select(campaign_messages)
            .where(campaign_messages.c.campaign_id == campaign_id)
            .order_by(campaign_messages.c.seq)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- templates ---------------------------------------------------------------------

    def save_template(self, name: str, spec: Mapping[str, Any]) -> None:
        """Store (or replace) a template: ``texts``, ``headlines`` with ``$placeholders``,
        and optionally ``channels`` and CAP ``severity``, ``urgency``, ``certainty``."""
        with self.engine.begin() as conn:
            conn.execute(campaign_templates.delete().where(campaign_templates.c.name == name))
            conn.execute(
                campaign_templates.insert().values(
                    name=name, spec=dict(spec), created_at=dt.datetime.now(dt.UTC)
                )
            )

    def template(self, name: str) -> dict[str, Any]:
        """A stored template; :class:`CampaignError` when there is none by this name."""
        with self.engine.connect() as conn:
            spec = conn.execute(
                sa.select(campaign_templates.c.spec).where(campaign_templates.c.name == name)
            ).scalar_one_or_none()
        if spec is None:
            raise CampaignError(f"no template named {name!r}")
        return spec

    def templates(self) -> list[str]:
        """Names of the stored templates."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(campaign_templates.c.name).order_by(campaign_templates.c.name)
                ).scalars()
            )
