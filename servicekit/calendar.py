"""The calendar: jobs a service runs by the business clock without an operator (the month's
advance invoices on the 1st, the final billing after a month's deadline, expiry at the 18th
birthday, decision deadlines, a period's close at its end).

A job is a catch-up, not a cron line: every CALENDAR_SECONDS it is asked to do whatever is
due at `clock.now()` and not yet done, so a tick missed while the service was down, or a
clock moved forward by months, is made up on the next one. A job is idempotent and resumable
(it keeps its progress in its own tables), so running it twice changes nothing.

The lease is a PostgreSQL advisory lock on the service's database, held on a connection of
its own for the job's run: one instance of a service runs a given job at a time, and a
killed instance's lease ends with its connection. An operator runs a job by hand through the
service's `run_calendar_job` RPC or its command line; both take the same lease.

CALENDAR_SECONDS=0 turns the timer off (the tests' default; they run jobs by hand).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import eventlet
from nameko.exceptions import deserialize_to_instance
from nameko.extensions import DependencyProvider
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from servicekit import clock, config
from servicekit.db import make_engine
from servicekit.errors import Conflict, NotFound

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]


@dataclass(frozen=True)
class Job:
    """`run(sessions, now)` does what is due at `now` and answers a summary (a dict of
    figures, {} when nothing was due). It opens its own transactions from `sessions`."""

    name: str
    run: Callable[[SessionFactory, datetime], dict]


@deserialize_to_instance
class JobBusy(Conflict):
    """Another instance holds the job's lease: 409 `job_running` to whoever asked, across RPC
    too (a caller of any service's `run_calendar_job` gets the same refusal)."""

    default_code = "job_running"


def lease_key(service: str, job: str) -> int:
    # a stable 32-bit number per (service, job): advisory locks are keyed by integers
    return zlib.crc32(f"navigator:{service}:{job}".encode())


def run_job(engine, service: str, job: Job, now: datetime | None = None) -> dict:
    """Run one job under its lease; JobBusy when another instance holds it."""
    factory = sessionmaker(engine, expire_on_commit=False, info={"producer": service})
    key = lease_key(service, job.name)
    with engine.connect() as lease:
        if not lease.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            lease.rollback()
            raise JobBusy(f"Задание {job.name} уже выполняется ({service})")
        lease.commit()  # hold the session-level lock without an open transaction
        started = time.monotonic()
        try:
            summary = job.run(factory, now or clock.now()) or {}
        finally:
            lease.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            lease.commit()
    if summary:
        log.info(
            "calendar job %s:%s did %s in %.2f s",
            service,
            job.name,
            summary,
            time.monotonic() - started,
        )
    return summary


class Calendar(DependencyProvider):
    """Inject as `calendar = Calendar(Job(...), ...)`: a thread of the service runs every job
    each CALENDAR_SECONDS (default 60; 0 turns the timer off); `self.calendar.run(name)` runs
    one now (the operator's RPC)."""

    def __init__(self, *jobs: Job, database: str | None = None):
        self.jobs = {job.name: job for job in jobs}
        self.database = database
        self.engine = None
        self.last: dict[str, dict] = {}

    def setup(self):
        self.service = self.container.service_name
        self.interval = float(config.env("CALENDAR_SECONDS", "60"))
        self.engine = make_engine(self.database or self.service, pool_size=2, max_overflow=2)
        self._running = False

    def start(self):
        self._running = True
        if self.interval > 0:
            self.container.spawn_managed_thread(self._tick, identifier="calendar")

    def stop(self):
        self._running = False
        if self.engine is not None:
            self.engine.dispose()

    kill = stop

    def run(self, name: str, now: datetime | None = None) -> dict:
        job = self.jobs.get(name)
        if job is None:
            names = ", ".join(sorted(self.jobs))
            raise NotFound(
                "Нет такого задания", code="job_not_found", fields={"name": [f"есть: {names}"]}
            )
        summary = run_job(self.engine, self.service, job, now)
        self.last[name] = {"at": clock.now().isoformat(), "summary": summary}
        return summary

    def _tick(self):
        while self._running:
            eventlet.sleep(self.interval)
            for name in list(self.jobs):
                if not self._running:
                    return
                try:
                    self.run(name)
                except JobBusy:
                    pass
                except Exception:  # noqa: BLE001 - the calendar outlives a db or broker hiccup
                    log.exception("calendar job %s:%s failed; it runs again next tick",
                                  self.service, name)  # fmt: skip

    def get_dependency(self, worker_ctx):
        return self
