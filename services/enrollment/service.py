"""Enrollment service: applications, waiting lists, decisions, expiry and the apply saga.

Its own Nameko service (RPC queue `enrollment`, exchange `enrollment.events`) with its own
database: applications, their history, the groups' seats and waiting lists, and the facts
of the catalog's groups it applies to (groups.py, refreshed from the catalog's events). Ops
scale it apart from search on opening day (`make run SCALE=enrollment=3`). Entrypoints are
thin: rules in domain.py on the plain Application, the work of one transaction in
operations.py, every statement in store.py, the steps that cross to certificates and every
transaction boundary in saga.py.
"""

import logging
from datetime import date, datetime
from functools import partial

from nameko.rpc import rpc
from nameko.timer import timer

from servicekit import clock, config
from servicekit.events import idempotent, reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.enrollment import children, groups, operations, saga, store
from services.enrollment.exceptions import NotFound
from services.enrollment.schemas import seats_schema

log = logging.getLogger(__name__)

SWEEP_SECONDS = float(config.env("ENROLLMENT_SWEEP_SECONDS", "10"))
CALENDAR_JOBS = ("decision_deadlines", "deadline_reminders", "end_due")


def _instant(as_of: str | None) -> datetime:
    return datetime.fromisoformat(as_of) if as_of else clock.now()


class EnrollmentService(children.ChildFactsHandler, ServiceBase):
    name = "enrollment"

    peers = TimedClusterRpc()  # accounts, certificates and catalog, with a deadline

    @property
    def certificates(self) -> saga.Certificates:
        return saga.Certificates(self.peers)

    @property
    def catalog(self):
        return saga.catalog_of(self.peers)

    def _own_child(self, principal: dict, child_id: int) -> dict:
        # kept from accounts' child_changed; accounts is asked only for a child not known yet
        child = children.known(self.db, child_id) or self.peers.call(
            "accounts", "get_child", child_id
        )
        if principal.get("role") != "parent" or child["parent_id"] != principal.get("user_id"):
            raise NotFound("Ребёнок не найден", code="child_not_found")
        return child

    @rpc
    def quote(self, principal: dict, group_id: int, child_id: int, start_date=None) -> dict:
        child = self._own_child(principal, child_id)
        return saga.quote(
            self.db, self.certificates, self.catalog, child, group_id, start_date, clock.today()
        )

    @rpc
    def apply(self, principal: dict, data: dict, operation_id: str | None = None) -> dict:
        """`operation_id`: the operation's identity (the gateway's, from the request's
        Idempotency-Key), the application's id: a repeat answers the application its first
        attempt opened. Nothing is opened past the caller's deadline (`x-deadline`)."""
        periods = self.certificates.periods()  # cached a minute; before any transaction
        child = self._own_child(principal, data["child_id"])  # ends with step 1's transaction
        return saga.apply(
            self.db,
            self.certificates,
            self.catalog,
            periods=periods,
            child=child,
            group_id=data["group_id"],
            start_date=date.fromisoformat(data["start_date"]) if data.get("start_date") else None,
            accept_copay=bool(data.get("accept_copay")),
            today=clock.today(),
            now=clock.now(),
            enrollment_id=operation_id,
            deadline=self.peers.deadline,
            then=partial(operations.view, self.db),  # inside the application's last transaction
        )

    @rpc
    def get_enrollment(self, principal: dict | None, enrollment_id: str) -> dict:
        return operations.view(self.db, operations.visible(self.db, principal, enrollment_id))

    @rpc
    def list_enrollments(self, principal: dict, filters: dict) -> dict:
        return operations.listing(self.db, principal, **filters)

    @rpc
    def count_by_status(self, municipality_code: str | None = None) -> dict[str, int]:
        """For payments' reports: applications of a municipality's children by status."""
        return operations.count_by_status(self.db, municipality_code)

    @rpc
    def money_states(self, after: str | None = None, limit: int = 5000) -> list[dict]:
        """For certificates' audit-ledger: every application by id with its status, money
        state and certificate share, a page after `after`. Read-only."""
        return operations.money_states(self.db, after, limit)

    @rpc
    def decide(
        self, principal: dict, enrollment_id: str, action: str, reason: str | None = None
    ) -> dict:
        """confirm / reject (the group's provider), cancel (the parent), terminate (either)."""
        enrollment = saga.decide(
            self.db, self.certificates, self.peers, principal, enrollment_id, action, reason,
            clock.now(),
        )  # fmt: skip
        return operations.view(self.db, enrollment)

    # --- seats and the catalog's groups -------------------------------------------------

    @rpc
    def set_capacity(self, group_id: int, capacity: int) -> dict:
        """For the catalog, before it stores a group's new capacity: refused (409
        `capacity_below_occupied`) below the seats held and taken; the counts."""
        return seats_schema.dump(operations.set_capacity(self.db, group_id, capacity))

    @rpc
    def seat_counts(self, group_id: int) -> dict:
        """A group's seats: {group_id, capacity, held, enrolled, free_seats, version}."""
        return seats_schema.dump(store.seat_counts(self.db, group_id))

    @reliable_handler("catalog", "group_changed")
    @idempotent
    def on_group_changed(self, envelope):
        groups.refresh(self.db, self.catalog, group_ids=[envelope["data"]["group_id"]])

    @reliable_handler("catalog", "program_published")
    @idempotent
    def on_program_published(self, envelope):
        groups.refresh(self.db, self.catalog, program_id=envelope["data"]["program_id"])

    @reliable_handler("catalog", "program_rejected")
    @idempotent
    def on_program_rejected(self, envelope):
        groups.refresh(self.db, self.catalog, program_id=envelope["data"]["program_id"])

    @reliable_handler("catalog", "program_archived")
    @idempotent
    def on_program_archived(self, envelope):
        groups.refresh(self.db, self.catalog, program_id=envelope["data"]["program_id"])

    @reliable_handler("catalog", "organization_status_changed")
    @idempotent
    def on_organization_status_changed(self, envelope):
        organization_id = envelope["data"]["organization_id"]
        groups.refresh(self.db, self.catalog, organization_id=organization_id)

    # --- time: expiry, the calendar, recovery (the clock is the caller's in tests) -------

    @rpc
    def expire_overdue(self, as_of: str | None = None) -> list[str]:
        return saga.expire_overdue(self.db, self.certificates, self.peers, _instant(as_of))

    @rpc
    def settle(self, as_of: str | None = None) -> dict:
        """`as_of`: the real instant the grace is measured at (default: the database's now)."""
        recorded_at = datetime.fromisoformat(as_of) if as_of else None
        return saga.settle(self.db, self.certificates, self.peers, clock.now(), recorded_at)

    @rpc
    def end_due(self, as_of: str | None = None) -> dict:
        """Seats of terminations that took effect given back; enrollments of ended groups
        completed: {seats_freed: [ids], completed: [ids]}."""
        return saga.end_due(self.db, self.certificates, self.peers, _instant(as_of))

    def _calendar_job(self, name: str, now: datetime) -> dict:
        """The calendar's jobs, by the business clock: the deadlines of undecided applications
        (`decision_deadlines`), the reminders of those due tomorrow (`deadline_reminders`:
        each application's parent, each organization's digest, once a day) and the ends of
        enrollments (`end_due`)."""
        if name == "decision_deadlines":
            return {"expired": saga.expire_overdue(self.db, self.certificates, self.peers, now)}
        if name == "deadline_reminders":
            with saga.transaction(self.db):
                return operations.announce_deadlines(self.db, clock.region_date(now))
        if name == "end_due":
            return saga.end_due(self.db, self.certificates, self.peers, now)
        raise NotFound(f"Нет задачи календаря {name!r}", code="calendar_job_not_found")

    @rpc
    def run_calendar_job(self, name: str) -> dict:
        """An operator runs one job of the calendar now (its timer runs them every
        ENROLLMENT_SWEEP_SECONDS): what it did."""
        return self._calendar_job(name, clock.now())

    @timer(interval=SWEEP_SECONDS)
    def sweep(self) -> None:
        now = clock.now()
        for name in CALENDAR_JOBS:
            try:
                self._calendar_job(name, now)
            except Exception:  # noqa: BLE001 - one job's failure must not stop the others
                self.db.rollback()
                log.exception("enrollment's calendar job %s failed; it runs next sweep", name)
        saga.settle(self.db, self.certificates, self.peers, now)
