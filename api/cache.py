"""A cache of serialised resolutions, so that a zone asked again is answered at once.

A request (zone and options) resolves to the same result as long as the engine's data
version (:meth:`geoalert.Engine.data_version`: the registered contacts' newest change) is
the same, so callers key entries on both: a registration shows at the next request after
the engine took it in. A crisis cell and the dispatch services ask for the same
municipalities and drawn zones over and over. Entries expire after a time to live all the
same. The cache holds JSON bytes and the audit counts, never the request's
key: jurisdiction checks and the audit record happen for every request, hit or miss.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """A serialised answer and what its audit record counts."""

    body: bytes
    counts: dict[str, Any]
    expires: float


class ResponseCache:
    """Least-recently-used entries up to ``max_bytes`` of bodies, each living ``ttl_s``.

    Parameters
    ----------
    max_bytes : int
        Total size of the cached bodies; 0 disables the cache.
    ttl_s : float
        Seconds an entry is served after it was made.
    clock : callable, optional
        Monotonic time in seconds.
    """

    def __init__(self, max_bytes: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # handlers run in a thread pool

    def get(self, key: bytes) -> Entry | None:
        """The live entry of ``key``, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: bytes, body: bytes, counts: dict[str, Any]) -> None:
        """Keep ``body`` for ``key``, evicting the least recently used beyond the budget."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = Entry(body, counts, self._clock() + self.ttl_s)
            self._size += len(body)
            while self._size > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: bytes) -> None:
        self._size -= len(self._entries.pop(key).body)
