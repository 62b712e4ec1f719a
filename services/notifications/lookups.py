"""A short-lived, bounded, per-process memory of the answers that are the same for every
applicant: an organization's staff, a municipality's operators, a program, a group, an
organization. On opening day thousands of applications go to a few groups, and each letter
asked accounts and the catalog the same questions again: about two thirds of accounts' CPU
and a third of the catalog's per application went into answering them.

A person's contact, a child and a mail token are per person and are never kept here.

Green-thread safe under eventlet without a lock: a get or a put runs to its end without
yielding (no I/O), so no other green thread sees a half-made entry. Two handlers that miss the
same question at once both ask; the later answer wins, which is harmless.
"""

import time
from collections import OrderedDict
from collections.abc import Callable

# Which (service, method) answers are the same for every applicant.
SHARED = frozenset({
    ("accounts", "organization_staff"),
    ("accounts", "municipal_operators"),
    ("catalog", "get_program"),
    ("catalog", "get_group"),
    ("catalog", "get_organization"),
})  # fmt: skip


class SharedLookups:
    """Answers kept `seconds` after they were fetched, at most `max_entries` of them (the
    least recently used goes first). `seconds` 0 keeps nothing. A None answer (NotFound) is
    not kept, nor is a failure (the caller's exception never reaches `put`)."""

    def __init__(
        self, seconds: float, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic
    ):
        self.seconds = seconds
        self.max_entries = max_entries
        # A cache's freshness, not a business decision: the monotonic clock (not servicekit's
        # business clock, which tests move by days; not the wall clock, which NTP steps).
        self.clock = clock
        self.entries: OrderedDict[tuple, tuple[float, object]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.seconds > 0 and self.max_entries > 0

    def get(self, question: tuple) -> tuple[bool, object]:
        """(True, answer) while a fresh answer is kept, else (False, None)."""
        entry = self.entries.get(question)
        if entry is None:
            return False, None
        expires, answer = entry
        if self.clock() >= expires:
            self.entries.pop(question, None)
            return False, None
        self.entries.move_to_end(question)
        return True, answer

    def put(self, question: tuple, answer: object) -> None:
        if answer is None or not self.enabled:
            return
        self.entries[question] = (self.clock() + self.seconds, answer)
        self.entries.move_to_end(question)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
