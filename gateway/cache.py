"""A few seconds of memory for answers that are the same for every caller (catalog search):
on the day enrollment opens thousands of parents send the same popular searches, and each
repeat would otherwise cost an RPC and a query. Concurrent misses of one key wait for the
first instead of all going to the service. Staleness is bounded by the TTL: free seats in a
result list may be that old; a group's own page and a seat hold never come from here."""

import json
import time
from collections import OrderedDict
from collections.abc import Callable

from eventlet.event import Event

from servicekit import config


class ResponseCache:
    """Bounded by entries and by bytes (a 100-row search answer is about 54 KB): the least
    recently stored answers go first."""

    def __init__(self, ttl: float, max_entries: int = 4096, max_bytes: int = 64 << 20):
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.inflight: dict[str, Event] = {}

    def fetch(self, key: str, compute: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        """The cached body for `key`, else `compute()`'s (only 200 answers are kept)."""
        entry = self.entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return 200, entry[1]
        waiting = self.inflight.get(key)
        if waiting is not None:
            shared = waiting.wait()
            if shared is not None:
                return shared
            return compute()  # the first one failed: this caller tries on its own
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
        if len(body) > self.max_bytes:
            return
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old[1])
        self.entries[key] = (time.monotonic() + self.ttl, body)
        self.bytes += len(body)
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.bytes -= len(dropped)


shared_answers = ResponseCache(
    float(config.env("SEARCH_CACHE_SECONDS", "5")),
    max_bytes=int(config.env("SEARCH_CACHE_MAX_BYTES", str(64 << 20))),
)


def request_key(path: str, query: dict) -> str:
    """The key of a question: the route and its *validated* query as canonical JSON, so two
    requests share an answer only when they ask the same thing (`q=a%26sort%3Dprice` is a
    text with an ampersand, not a sort), whatever the order or spelling of the parameters."""
    return path + "?" + json.dumps(query, sort_keys=True, ensure_ascii=False, default=str)
