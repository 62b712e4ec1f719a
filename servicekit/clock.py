"""The business clock: the one source of "now" for every rule that depends on the date
(a contract's start, a month that has ended, a lesson not in the future, a period's end, an
age on a date, decision deadlines, the calendar's jobs). Nothing decides by
`date.today()`, `datetime.now()` or SQL `now()`.

It is the real time, moved three ways, none of them in production:

- `NAVIGATOR_CLOCK_START=2027-01-20T10:00:00+07:00` starts the clock of the process at that
  instant and lets it run forward in real time (demonstrations, staging);
- `NAVIGATOR_CLOCK_FILE=var/clock.json` lets one writer (`set_shared`, a test or the year's
  demonstration) move the clock of every process that reads the file, at once;
- `freeze(at)` / `travel(to)` move it inside one process (tests).

`NAVIGATOR_ENV=production` refuses the first two at start (`check_allowed`, called when a
service or the gateway starts): a production clock is the real one.

Record timestamps (created_at, a token's expiry, an event's occurred_at) stay on the real
time: they say when something happened, not which day the rules should believe it is.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

START_VARIABLE = "NAVIGATOR_CLOCK_START"
FILE_VARIABLE = "NAVIGATOR_CLOCK_FILE"


class ClockRefused(RuntimeError):
    """A moved clock asked for where only the real one may run."""


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


def region_zone() -> ZoneInfo:
    return ZoneInfo(os.environ.get("REGION_TIMEZONE") or "Asia/Krasnoyarsk")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset; a naive one is refused (whose 10 o'clock?)."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ClockRefused(f"{text!r} is not an ISO 8601 instant") from exc
    if instant.tzinfo is None:
        raise ClockRefused(f"{text!r} has no UTC offset (write e.g. 2027-01-20T10:00:00+07:00)")
    return instant.astimezone(UTC)


def instant_text(instant: datetime) -> str:
    """An instant as events carry it: ISO 8601 in UTC with a `Z` (`parse_instant` reads it)."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_allowed() -> None:
    """Refuse a moved clock in production; called when a process starts."""
    production = (os.environ.get("NAVIGATOR_ENV") or "development") == "production"
    for name in (START_VARIABLE, FILE_VARIABLE):
        if production and _env(name):
            raise ClockRefused(f"{name} is refused when NAVIGATOR_ENV=production")
    if _env(START_VARIABLE):
        parse_instant(os.environ[START_VARIABLE])


class _Clock:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frozen: datetime | None = None  # freeze(): the instant, not moving
        self.shift = timedelta(0)  # travel() within the process
        self.start_offset: timedelta | None = None  # NAVIGATOR_CLOCK_START, read once
        self.file_cache: tuple[str, int, timedelta | datetime] | None = None

    def start(self) -> timedelta:
        if self.start_offset is None:
            text = _env(START_VARIABLE)
            self.start_offset = parse_instant(text) - datetime.now(UTC) if text else timedelta(0)
        return self.start_offset

    def shared(self) -> timedelta | datetime | None:
        """The file's setting: an offset from the real time, or a frozen instant."""
        path = _env(FILE_VARIABLE)
        if path is None:
            return None
        try:
            stamp = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self.file_cache
        if cached and cached[0] == path and cached[1] == stamp:
            return cached[2]
        with open(path, encoding="utf-8") as handle:
            setting = json.load(handle)
        at = parse_instant(setting["at"])
        value: timedelta | datetime = (
            at if setting.get("frozen") else at - datetime.fromtimestamp(setting["set_at"], UTC)
        )
        self.file_cache = (path, stamp, value)
        return value

    def now(self) -> datetime:
        if self.frozen is not None:
            return self.frozen + self.shift
        shared = self.shared()
        if isinstance(shared, datetime):
            return shared + self.shift
        real = datetime.now(UTC)
        return real + self.start() + (shared or timedelta(0)) + self.shift


_clock = _Clock()


def now() -> datetime:
    """The business instant (aware, UTC)."""
    return _clock.now()


def region_date(instant: datetime) -> date:
    """The region's calendar day of an instant: a month ends, and an age or a birth date "in
    the future" is judged, by the local calendar (REGION_TIMEZONE)."""
    return instant.astimezone(region_zone()).date()


def today() -> date:
    """The business day in the region."""
    return region_date(now())


def region_midnight(day: date) -> datetime:
    """The first instant of a region day, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=region_zone()).astimezone(UTC)


@contextmanager
def freeze(at: datetime | date | str) -> Iterator[datetime]:
    """Stop this process's clock at an instant (a date means its region midnight + 10 h)."""
    instant = _as_instant(at)
    with _clock.lock:
        previous = _clock.frozen, _clock.shift
        _clock.frozen, _clock.shift = instant, timedelta(0)
    try:
        yield instant
    finally:
        with _clock.lock:
            _clock.frozen, _clock.shift = previous


def travel(by: timedelta) -> None:
    """Move this process's clock (frozen or running) forward or back."""
    with _clock.lock:
        _clock.shift += by


def set_shared(path: str, at: datetime | date | str, frozen: bool = False) -> None:
    """Move the clock of every process reading NAVIGATOR_CLOCK_FILE=path: from now on it
    reads `at` (running forward in real time unless `frozen`). Written atomically."""
    instant = _as_instant(at)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"at": instant.isoformat(), "set_at": time.time(), "frozen": frozen}, handle)
    os.replace(temporary, path)


def _as_instant(at: datetime | date | str) -> datetime:
    if isinstance(at, str):
        return parse_instant(at)
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ClockRefused("a naive datetime has no instant; give its offset")
        return at.astimezone(UTC)
    return region_midnight(at) + timedelta(hours=10)
