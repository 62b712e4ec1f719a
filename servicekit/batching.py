"""Natural batching (group commit) of calls to another service, for a hot path (issue 20).

A caller's item goes at once when nothing is on its way; while a batch is on its way, the
items that arrive wait for it and then go together as the next batch. Nothing waits for a
batch to fill: at low load every item goes alone and as fast as before, and under load the
batches grow by themselves to what queued during one round trip. Each caller waits only for
its own item, no longer than it may (`wait`): an item still queued by then is taken out and
never sent.

Framework-free: `threading` (green under eventlet's monkey patching, as every nameko process
runs) for the lock, the events and the sender.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class NotSent(Exception):
    """The caller stopped waiting before its item was sent: it was not, and never will be."""


class NoAnswer(Exception):
    """The caller stopped waiting after its item was sent: its outcome is unknown."""


class _Slot:
    __slots__ = ("item", "done", "outcome", "error", "sent", "abandoned")

    def __init__(self, item: Any):
        self.item = item
        self.done = threading.Event()
        self.outcome: Any = None
        self.error: BaseException | None = None
        self.sent = False
        self.abandoned = False


class Batcher:
    """`submit(item, wait)` answers what `send(items)` answered for the item (its outcome at
    the same index) or raises what `send` raised for the whole batch. `send` gets at most
    `limit` items; `observe(size)` is told the size of each batch sent."""

    def __init__(
        self,
        send: Callable[[list], list],
        limit: int = 64,
        observe: Callable[[int], None] | None = None,
    ):
        self._send = send
        self._limit = limit
        self._observe = observe
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._sending = False

    def submit(self, item: Any, wait: float | None) -> Any:
        slot = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            start = not self._sending
            self._sending = True
        if start:
            threading.Thread(target=self._drain, name="batcher", daemon=True).start()
        if not slot.done.wait(wait):
            with self._lock:
                slot.abandoned = True
                sent = slot.sent
            if not sent:
                raise NotSent()
            raise NoAnswer()
        if slot.error is not None:
            raise slot.error
        return slot.outcome

    def _drain(self) -> None:
        while True:
            with self._lock:
                self._queue = [slot for slot in self._queue if not slot.abandoned]
                batch, self._queue = self._queue[: self._limit], self._queue[self._limit :]
                if not batch:
                    self._sending = False
                    return
                for slot in batch:
                    slot.sent = True
            if self._observe is not None:
                self._observe(len(batch))
            try:
                outcomes = self._send([slot.item for slot in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
            except BaseException as error:  # noqa: BLE001 - every waiter gets what the batch got
                for slot in batch:
                    slot.error = error
                    slot.done.set()
                continue
            for slot, outcome in zip(batch, outcomes, strict=True):
                slot.outcome = outcome
                slot.done.set()
