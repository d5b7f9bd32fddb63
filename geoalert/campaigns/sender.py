"""The sender: drains a campaign's queue through its channels' adapters.

One lane per channel runs as an asyncio task: it claims a batch of open messages (state
``sending`` is committed *before* the batch is handed over), waits for the adapter's rate,
hands the batch over and records each outcome. Retryable failures come back after an
exponential backoff (``backoff_s * 2**(attempt-1)``, capped, with jitter) until the adapter's
``max_attempts``, then fail with their reason. Delivery receipts turn ``sent`` into
``delivered`` or ``failed``. Lanes are independent: a failing provider slows only its channel.

All database work goes through one thread, in transactions that write the outcomes gathered
so far, the campaign's progress, and claim the next batch together; a flush every
``flush_interval_s`` keeps progress fresh and notices a cancellation.

After a crash, running the sender again resumes: open messages are claimed from the start of
each channel, those left ``sending`` (in doubt: handed over or not) are sent again with the
same idempotency key, and ``sent`` messages keep waiting for their receipts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from geoalert.campaigns.adapters.base import DELIVERED, FAILED, RETRY, SENT, Adapter, Batch
from geoalert.campaigns.model import CampaignState, MessageState
from geoalert.campaigns.queue import CampaignStore, Changes, message_key

__all__ = ["Sender"]

log = logging.getLogger("geoalert.campaigns")

NO_ADDRESS = "no address for this channel any more (registration changed)"


class Sender:
    """Sends the queued messages of one campaign.

    Parameters
    ----------
    store : CampaignStore
    campaign_id : int
        A campaign in state ``queued`` or ``sending``.
    adapters : mapping of str to Adapter
        One per channel of the campaign.
    contents : mapping
        Per channel: content per language (person channels) or request per operator.
    flush_interval_s : float
        Most time between two writes of outcomes and progress.
    on_progress : callable, optional
        Called with the progress (``{"channels": {channel: {state: n}}, ...}``) at each write.
    """

    def __init__(
        self,
        store: CampaignStore,
        campaign_id: int,
        adapters: Mapping[str, Adapter],
        contents: Mapping[str, Mapping[str, Any]],
        *,
        flush_interval_s: float = 0.25,
        on_progress: Callable[[dict], None] | None = None,
    ):
        self.store = store
        self.campaign_id = campaign_id
        self.adapters = dict(adapters)
        self.contents = contents
        self.flush_interval_s = flush_interval_s
        self.on_progress = on_progress
        self._db = ThreadPoolExecutor(1, thread_name_prefix="campaign-db")
        self._changes = Changes()
        self._counts: dict[str, dict[str, int]] = {}
        self._cancelled = False
        self._started = 0.0

    # -- database, one thread -------------------------------------------------------------

    async def _call(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, lambda: fn(*args, **kwargs))

    def progress(self) -> dict[str, Any]:
        """Messages per channel and state, now."""
        return {
            "channels": {
                c: {s: n for s, n in states.items() if n} for c, states in self._counts.items()
            },
            "elapsed_s": round(time.monotonic() - self._started, 3),
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }

    async def _step(self, **kwargs):
        progress = self.progress()
        claimed, state = await self._call(
            self.store.step, self.campaign_id, self._changes.take(), progress=progress, **kwargs
        )
        if state == CampaignState.CANCELLED:
            self._cancelled = True
        if self.on_progress is not None:
            self.on_progress(progress)
        return claimed

    def _move(self, channel: str, old: str, new: str, n: int = 1) -> None:
        counts = self._counts[channel]
        counts[old] = counts.get(old, 0) - n
        counts[new] = counts.get(new, 0) + n

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> bool:
        """Send until every message is done or the campaign is cancelled.

        Returns
        -------
        bool
            True when the campaign finished, False when it was cancelled.
        """
        self._started = time.monotonic()
        record = await self._call(self.store.get, self.campaign_id)
        if record.state == CampaignState.QUEUED:
            await self._call(
                self.store.set_state,
                self.campaign_id,
                CampaignState.SENDING,
                started_at=dt.datetime.now(dt.UTC),
            )
        elif record.state != CampaignState.SENDING:
            raise ValueError(
                f"campaign {self.campaign_id} is {record.state}, not queued or sending"
            )
        self._counts = await self._call(self.store.counts, self.campaign_id)
        ranges = record.summary["ranges"]
        for adapter in self.adapters.values():
            await adapter.open()
        flusher = asyncio.create_task(self._flush_loop())
        try:
            await asyncio.gather(
                *(
                    self._lane(channel, adapter, record.uid, ranges[channel][0])
                    for channel, adapter in self.adapters.items()
                    if channel in ranges
                )
            )
        finally:
            flusher.cancel()
            try:
                await self._step()  # before closing: receipts are acknowledged once written
            finally:
                for adapter in self.adapters.values():
                    await adapter.close()
                self._db.shutdown(wait=True)
        if self._cancelled:
            self.store.close_cancelled(self.campaign_id)
            return False
        self.store.set_state(
            self.campaign_id, CampaignState.FINISHED, finished_at=dt.datetime.now(dt.UTC)
        )
        return True

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self._step()

    async def _lane(self, channel: str, adapter: Adapter, uid: str, start: int) -> None:
        o = adapter.options
        contents = self.contents[channel]
        retries: list[tuple[float, int, str, str, int]] = []  # due, seq, address, lang, attempts
        awaiting: dict[str, int] = {}
        orphans: dict[str, Any] = {}
        if adapter.receipts:
            awaiting = await self._call(self.store.awaiting_receipts, self.campaign_id, channel)
        cursor, exhausted = start, False
        pace = time.monotonic()
        last_send = time.monotonic()
        while not self._cancelled:
            now = time.time()
            due = []
            while retries and retries[0][0] <= now and len(due) < o.batch:
                due.append(heapq.heappop(retries))
            want = 0 if exhausted else o.batch - len(due)
            claimed = await self._step(
                claim=(channel, cursor, want) if want else None, resend=[d[1] for d in due]
            )
            if self._cancelled:
                break
            if want and len(claimed) < want:
                exhausted = True
            if len(claimed):
                cursor = claimed.seq[-1] + 1
            seqs = [d[1] for d in due] + claimed.seq
            addresses = [d[2] for d in due] + claimed.address
            languages = [d[3] for d in due] + claimed.language
            attempts = [d[4] + 1 for d in due] + claimed.attempts
            for old in [MessageState.RETRY] * len(due) + claimed.state:
                self._move(channel, old, MessageState.SENDING)
            if seqs:
                seqs, addresses, languages, attempts = self._drop_unreachable(
                    channel, seqs, addresses, languages, attempts
                )
            if seqs:
                # Pace batches at the adapter's rate.
                wait = pace - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                pace = max(pace, time.monotonic()) + len(seqs) / o.rate_per_s
                batch = Batch(
                    channel, [message_key(uid, s) for s in seqs], addresses, languages, contents
                )
                result = await self._send(adapter, batch)
                last_send = time.monotonic()
                self._record(
                    channel,
                    o,
                    result,
                    seqs,
                    addresses,
                    languages,
                    attempts,
                    retries,
                    awaiting,
                    orphans,
                )
            if adapter.receipts and (awaiting or not seqs):
                self._receipts(channel, await adapter.poll_receipts(), awaiting, orphans)
            if not seqs and exhausted:
                if not retries and (
                    not awaiting or time.monotonic() - last_send > o.receipt_wait_s
                ):
                    return
                pause = retries[0][0] - time.time() if retries else 0.2
                await asyncio.sleep(min(0.2, max(0.01, pause)))

    async def _send(self, adapter: Adapter, batch: Batch):
        from geoalert.campaigns.adapters.base import Result

        try:
            return await asyncio.wait_for(adapter.send(batch), adapter.options.timeout_s * 2)
        except TimeoutError:
            return Result.all(
                len(batch),
                RETRY,
                f"adapter gave no answer within {adapter.options.timeout_s * 2:g} s",
            )

    def _drop_unreachable(self, channel, seqs, addresses, languages, attempts):
        """Fail the messages whose person has no address on this channel any more."""
        gone = [s for s, a in zip(seqs, addresses, strict=True) if not a]
        if not gone:
            return seqs, addresses, languages, attempts
        self._changes.add(MessageState.FAILED, gone, NO_ADDRESS)
        self._move(channel, MessageState.SENDING, MessageState.FAILED, len(gone))
        keep = [i for i, a in enumerate(addresses) if a]
        return tuple([values[i] for i in keep] for values in (seqs, addresses, languages, attempts))

    def _record(
        self, channel, o, result, seqs, addresses, languages, attempts, retries, awaiting, orphans
    ) -> None:
        ok: list[int] = []
        done: list[int] = []
        failed: dict[str, list[int]] = {}
        for i, (status, detail) in enumerate(zip(result.status, result.detail, strict=True)):
            seq = seqs[i]
            if status == SENT and detail is not None:
                self._changes.refs.append((seq, MessageState.SENT.value, detail))
                self._move(channel, MessageState.SENDING, MessageState.SENT)
                receipt = orphans.pop(detail, None)
                if receipt is None:
                    awaiting[detail] = seq
                else:
                    self._receipt(channel, seq, receipt)
            elif status == SENT:
                ok.append(seq)
            elif status == DELIVERED:
                done.append(seq)
            elif status == RETRY and attempts[i] < o.max_attempts:
                delay = min(o.backoff_max_s, o.backoff_s * 2 ** (attempts[i] - 1))
                at = time.time() + delay * random.uniform(0.8, 1.2)
                heapq.heappush(retries, (at, seq, addresses[i], languages[i], attempts[i]))
                self._changes.retries.append((seq, at, detail))
                self._move(channel, MessageState.SENDING, MessageState.RETRY)
            else:
                reason = (
                    detail
                    if status == FAILED
                    else f"gave up after {attempts[i]} attempts: {detail}"
                )
                failed.setdefault(reason, []).append(seq)
        if ok:
            self._changes.add(MessageState.SENT, ok)
            self._move(channel, MessageState.SENDING, MessageState.SENT, len(ok))
        if done:
            self._changes.add(MessageState.DELIVERED, done)
            self._move(channel, MessageState.SENDING, MessageState.DELIVERED, len(done))
        for reason, group in failed.items():
            self._changes.add(MessageState.FAILED, group, reason)
            self._move(channel, MessageState.SENDING, MessageState.FAILED, len(group))

    def _receipts(self, channel, receipts, awaiting, orphans) -> None:
        for receipt in receipts:
            seq = awaiting.pop(receipt.ref, None)
            if seq is None:
                orphans[receipt.ref] = receipt  # its send outcome is not known yet
            else:
                self._receipt(channel, seq, receipt)

    def _receipt(self, channel, seq, receipt) -> None:
        state = MessageState.DELIVERED if receipt.status == DELIVERED else MessageState.FAILED
        self._changes.add(state, [seq], receipt.reason)
        self._move(channel, MessageState.SENT, state)
