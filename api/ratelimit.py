"""Per-key rate limits: one token bucket per API key, shared by the processes of a server.

A server of one process keeps its buckets in memory (:class:`TokenBuckets`). The worker
processes of ``geoalert serve --workers N`` share theirs through a small SQLite file
(:class:`SharedTokenBuckets`), in a directory the command makes for the server's life and
names to the workers in ``GEOALERT_API_RATE_LIMIT_FILE``, so that a key gets its rate whatever
the number of workers. :func:`rate_limits` picks one from the settings.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from geoalert.settings import Settings


class TokenBuckets:
    """Token buckets refilled at ``rate_per_s`` up to ``burst`` tokens, one per key, in memory.

    For a server of one process. Buckets are only made for keys that authenticated, so their
    number is bounded by the number of keys.

    Parameters
    ----------
    rate_per_s : float
        Tokens added per second.
    burst : int
        Largest number of tokens a bucket holds (requests allowed at once).
    clock : callable, optional
        Monotonic time in seconds.
    """

    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0 when granted, else the seconds until one is due."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens, wait_s = _take(tokens, now - last, self._rate, self._burst)
        self._buckets[key] = (tokens, now)
        return wait_s


class SharedTokenBuckets:
    """The buckets of :class:`TokenBuckets`, held in a SQLite file shared by processes.

    Each :meth:`take` is one short ``BEGIN IMMEDIATE`` transaction (read the key's bucket,
    write it back), so the processes take tokens one at a time and a key never gets more than
    ``burst + rate_per_s * elapsed`` tokens in all. The file is in WAL mode with
    ``synchronous=OFF``: nothing is flushed to disk, since the buckets only matter while the
    server runs. The processes must run on one machine (a local file and one monotonic clock).

    Parameters
    ----------
    path : str or Path
        The SQLite file, created with its table if missing.
    rate_per_s, burst, clock
        As in :class:`TokenBuckets`; ``clock`` must be the same in every process
        (:func:`time.monotonic` is system-wide).

    Raises
    ------
    RuntimeError
        If the file cannot be opened or created as a SQLite database.
    """

    def __init__(
        self, path: str | Path, rate_per_s: float, burst: int, clock=time.monotonic
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()  # one connection per process, shared by its threads
        try:
            self._db = sqlite3.connect(
                path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")
            with self._transaction():  # processes starting together: one creates the table
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, "
                    "tokens REAL NOT NULL, last REAL NOT NULL) WITHOUT ROWID"
                )
        except sqlite3.Error as exc:
            raise RuntimeError(f"cannot use {path} as the rate limit file: {exc}") from exc

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0 when granted, else the seconds until one is due."""
        with self._transaction():
            now = self._clock()  # read under the write lock: times grow from take to take
            row = self._db.execute(
                "SELECT tokens, last FROM buckets WHERE key = ?", (key,)
            ).fetchone()
            tokens, last = row or (self._burst, now)
            tokens, wait_s = _take(tokens, max(0.0, now - last), self._rate, self._burst)
            self._db.execute(
                "INSERT OR REPLACE INTO buckets (key, tokens, last) VALUES (?, ?, ?)",
                (key, tokens, max(now, last)),
            )
        return wait_s

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A write transaction, begun once the file's write lock is held (waited for)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def rate_limits(settings: Settings) -> TokenBuckets | SharedTokenBuckets:
    """The buckets of a server process: shared through ``settings.api_rate_limit_file`` when
    it is set (``geoalert serve --workers N`` with N > 1), else in memory."""
    rate, burst = settings.api_rate_per_s, settings.api_rate_burst
    if settings.api_rate_limit_file is None:
        return TokenBuckets(rate, burst)
    return SharedTokenBuckets(settings.api_rate_limit_file, rate, burst)


def _take(tokens: float, elapsed_s: float, rate: float, burst: float) -> tuple[float, float]:
    """A bucket of ``tokens`` refilled for ``elapsed_s`` and asked for one token: the tokens
    left, and 0 if granted, else the seconds until a token is due."""
    tokens = min(burst, tokens + elapsed_s * rate)
    if tokens < 1.0:
        return tokens, (1.0 - tokens) / rate
    return tokens - 1.0, 0.0
