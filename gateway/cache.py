"""A few seconds of memory for answers that are the same for every caller (catalog search):
on the day enrollment opens thousands of parents send the same popular searches, and each
repeat would otherwise cost an RPC and a query. Concurrent misses of one key wait for the
first instead of all going to the service. Staleness is bounded by the TTL: free seats in a
result list may be that old; a group's own page and a seat hold never come from here."""

import time
from collections import OrderedDict
from collections.abc import Callable

from eventlet.event import Event

from servicekit import config, metrics


class ResponseCache:
    def __init__(self, ttl: float, max_entries: int = 4096):
        self.ttl = ttl
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.inflight: dict[str, Event] = {}

    def fetch(self, key: str, compute: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        """The cached body for `key`, else `compute()`'s (only 200 answers are kept)."""
        entry = self.entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            metrics.count(metrics.SEARCH_CACHE, "hit")
            return 200, entry[1]
        waiting = self.inflight.get(key)
        if waiting is not None:
            shared = waiting.wait()
            if shared is not None:
                metrics.count(metrics.SEARCH_CACHE, "shared")
                return shared
            return compute()  # the first one failed: this caller tries on its own
        metrics.count(metrics.SEARCH_CACHE, "miss")
        event = self.inflight[key] = Event()
        result = None
        try:
            result = compute()
            if result[0] == 200:
                self._store(key, result[1])
            return result
        finally:
            del self.inflight[key]
            event.send(result)

    def _store(self, key: str, body: bytes) -> None:
        self.entries[key] = (time.monotonic() + self.ttl, body)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


shared_answers = ResponseCache(float(config.env("SEARCH_CACHE_SECONDS", "5")))


def request_key(path: str, args) -> str:
    """The same question asked with its parameters in another order is the same key."""
    return path + "?" + "&".join(f"{k}={v}" for k, v in sorted(args.items(multi=True)))
