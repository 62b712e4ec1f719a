"""The apply saga and its recovery: the steps that cross to the certificates service.

    1. open    (enrollment DB, one transaction)  application in arrival order + seat or list
    2. reserve (certificates RPC, idempotent by `reserve:<enrollment id>`)
    3. finish  (enrollment DB, one transaction)  status, terms, event in the outbox

Every step is idempotent, so a crash anywhere is repaired by running the saga again from
what the database says (`settle`, on a timer): an application whose money is still `pending`
after a grace period is driven forward (or compensated when its money is refused), and a
reservation marked `release_pending` is released. Compensation of step 1 is `withdraw`
(nothing was reserved) or `abandon` (cancel and release whatever was reserved).

The saga only orchestrates: the rules are domain.py's (on the plain `domain.Application`),
the work of one transaction operations.py's, every statement store.py's, and every
transaction is a `with transaction(session):` block here (a block commits when it ends,
rolls back when it raises; docs/enrollment.md, "Transactions", lists those of one
application). No RPC runs inside one: a block that only reads ends before the call it feeds.
What an entrypoint reads after its last block (the view it answers) ends with the worker's
commit-on-return.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import partial
from typing import Any

from nameko.exceptions import deserialize
from sqlalchemy.orm import Session

from servicekit import clock, config
from servicekit.batching import NoAnswer, NotSent
from servicekit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NavigatorError,
    NotFound,
    ServiceUnavailable,
)
from servicekit.faults import crash_point
from servicekit.rpc import deadline_passed
from services.enrollment import children, domain, groups, operations, store
from services.enrollment.domain import Application, Group

log = logging.getLogger(__name__)


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """One transaction of the saga: committed at the end of the block, rolled back if it
    raises. Every commit of enrollment's saga is one of these blocks."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


PERIODS_TTL = 60.0
_periods_cache: dict[str, tuple[float, list[dict]]] = {}


class Certificates:
    """The certificates service as the saga uses it (docs/interfaces.md), by RPC with a
    deadline. Reservations go in batches (`reserve_many`, servicekit.batching): those this
    process's workers ask for while a batch is on its way go together as the next one, one
    RPC and one certificates transaction for all of them (issue 20)."""

    def __init__(self, rpc):
        self.rpc = rpc

    def periods(self, fresh: bool = False) -> list[dict]:
        """Certificates' periods, kept a minute (`fresh`: asked again now)."""
        cached = _periods_cache.get("periods")
        if cached and not fresh and time.monotonic() - cached[0] < PERIODS_TTL:
            return cached[1]
        periods = self.rpc.call("certificates", "list_periods")
        _periods_cache["periods"] = (time.monotonic(), periods)
        return periods

    def reserve(self, enrollment_id: str, child: dict, period_id: int, amount: int, financing):
        """The reservation's answer, or the error certificates answered for it (a refusal of
        another application of the batch is not this one's). Unknown (ServiceUnavailable)
        when no answer came within the caller's deadline; `deadline_passed` when it was not
        sent by then (nothing was asked)."""
        left = self.rpc.remaining()
        if left is not None and left <= 0:
            raise deadline_passed()
        wait = self.rpc.timeout if left is None else min(left, self.rpc.timeout)
        item = {
            "enrollment_id": enrollment_id,
            "child": child,
            "period_id": period_id,
            "amount": amount,
            "financing": financing,
            "deadline": time.time() + wait,
        }
        try:
            outcome = self.rpc.batched("certificates", "reserve_many").submit(item, wait)
        except NotSent as error:
            raise deadline_passed() from error
        except NoAnswer as error:
            raise ServiceUnavailable(
                "service certificates did not answer in time", code="service_timeout"
            ) from error
        if "error" in outcome:
            raise deserialize(outcome["error"])
        return outcome["reserved"]

    def release(self, enrollment_id: str, reason: str) -> dict:
        return self.rpc.call("certificates", "release_funds", enrollment_id, None, reason)

    def balance(self, child_id: int) -> dict:
        return self.rpc.call("certificates", "get_balance", child_id)


# what enrollment refuses by the facts it keeps of a group: asked of the catalog again first,
# so a group created, published or reopened a moment ago is not refused on stale facts
STALE_REFUSALS = ("group_not_found", "enrollment_closed")


def catalog_of(rpc):
    """The catalog as groups.refresh asks it (`group_facts`), by RPC with a deadline."""
    return lambda method, **kwargs: rpc.call("catalog", method, **kwargs)


def with_fresh_group(session: Session, catalog, group_id: int, step):
    """`step()`; when it refuses the group as unknown or closed, the group's facts are asked of
    the catalog and stored (its own transaction) and `step()` runs once more. Each run of
    `step()` is a transaction of its own."""
    try:
        with transaction(session):
            return step()
    except (NotFound, InvalidInput) as error:
        if error.code not in STALE_REFUSALS or catalog is None:
            raise
    facts = catalog("group_facts", group_ids=[group_id])
    with transaction(session):
        groups.store(session, facts)
    with transaction(session):
        return step()


def quote(
    session: Session,
    certificates: Certificates,
    catalog,
    child: dict,
    group_id: int,
    start_date: str | None,
    today: date,
) -> dict:
    """The money terms a contract would have, capped by the certificate's balance if the
    child has one already."""
    start = date.fromisoformat(start_date) if start_date else None
    periods = certificates.periods()
    group, period, start = with_fresh_group(
        session, catalog, group_id,
        lambda: operations.quote(session, child, group_id, start, periods, today),
    )  # fmt: skip
    available = available_for_quote(certificates, child["id"])
    cap = operations.UNCAPPED if available is None else available
    return {
        **operations.terms_of(group, period, start, cap),
        "certificate_available": available,
    }


def decide(
    session: Session,
    certificates: Certificates,
    accounts,
    principal: dict,
    enrollment_id: str,
    action: str,
    reason: str | None,
    now: datetime,
) -> Application:
    """A decision; a confirmation first marks the child's data verified in accounts (the
    provider saw the documents; idempotent), a closed application gives its money back. A
    provider's organization must be active now: the catalog answers (an RPC, off the apply
    path), not enrollment's copy of it."""
    with transaction(session):  # who may see it: else 404, first
        enrollment = operations.visible(session, principal, enrollment_id)
    if principal and principal.get("role") == "provider":
        try:
            org = accounts.call("catalog", "get_organization", principal.get("organization_id"))
        except NotFound:
            org = {"status": None}
        operations.require_active_organization(org["status"])
    if action == "confirm":
        if operations.confirmable(principal, enrollment):
            accounts.call(
                "accounts",
                "mark_child_verified",
                enrollment.child_id,
                principal["user_id"],
                enrollment.organization_id,
            )
    with transaction(session):  # the decision, its seat, its event, the promotion it makes
        enrollment = operations.decide(session, principal, enrollment_id, action, reason, now)
        group_id = enrollment.group_id
    if enrollment.money == "release_pending":
        release(session, certificates, enrollment_id)
    promote_due(session, certificates, accounts, now, group_id)
    return store.application(session, enrollment_id)  # read-only: ends with the worker


def settle_grace_seconds() -> float:
    return float(config.env("ENROLLMENT_SETTLE_GRACE_SECONDS", "30"))


def apply(
    session: Session,
    certificates: Certificates,
    catalog=None,
    *,
    child: dict,
    group_id: int,
    start_date: date | None,
    accept_copay: bool,
    today: date,
    now: datetime,
    enrollment_id: str | None = None,
    deadline: float | None = None,
    periods: list[dict] | None = None,
    then: Callable[[Application], Any] = lambda application: application,
):
    """An application, or the one this operation opened already, as `then(application)`
    answers it inside the application's last transaction (the entrypoint's view: no
    transaction of its own after). `enrollment_id` is the operation's identity (from the
    request's Idempotency-Key; a new one without): a repeat after a lost answer, a 503 or a
    crash finds the application its first attempt opened and answers it, driving its money
    forward if that is still pending. `deadline` (epoch seconds, the caller's): nothing is
    opened past it. `periods`: certificates' periods, when the caller asked already (before
    its first read, so that no RPC runs inside a transaction)."""
    repeatable = enrollment_id is not None
    enrollment_id = enrollment_id or str(uuid.uuid4())
    periods = certificates.periods() if periods is None else periods
    release_first, periods_asked = True, False
    while True:
        # step 1, one transaction (with the entrypoint's read of the child): this operation's
        # application if an attempt opened it, else the seat (or the place in the list)
        try:
            opened, group = with_fresh_group(
                session, catalog, group_id,
                partial(
                    operations.open_application,
                    session, enrollment_id=enrollment_id, child=child, group_id=group_id,
                    start_date=start_date, accept_copay=accept_copay, periods=periods,
                    today=today, deadline=deadline, repeatable=repeatable,
                    release_first=release_first,
                ),
            )  # fmt: skip
        except operations.ReleaseFirst as first:
            # the child's abandoned reservations (a compensation whose release failed, left
            # to the recovery) are given back before this application's money is judged: the
            # parent's own money must not refuse its retry. Once: a release that fails
            # again is the recovery's.
            for closed in first.abandoned:
                release(session, certificates, closed)
            release_first = False
            continue
        except operations.OpenedMeanwhile:  # rolled back: another attempt's application
            return drive(session, certificates, enrollment_id, child, periods, now, then=then)
        except InvalidInput as refused:
            # the periods are kept a minute: a period opened a moment ago is asked for once
            # before the application is refused for want of one (as a group's facts are)
            if refused.code != "no_period" or periods_asked:
                raise
            periods, periods_asked = certificates.periods(fresh=True), True
            continue
        break
    if group is None:  # opened by an earlier attempt: answered, or its money driven on
        if opened.money != domain.PENDING:
            with transaction(session):
                return then(opened)
        return drive(session, certificates, enrollment_id, child, periods, now, then=then)
    crash_point("enrollment_after_open")
    # what step 2 needs is what step 1 wrote: not read again
    return drive(
        session, certificates, enrollment_id, child, periods, now, (opened, group), then=then
    )


def money_kind(group: Group) -> str:
    """`financing` (a certified program: money from a financing certificate), `accounting`
    (budget registries: a free seat of an accounting certificate) or `own` (paid programs:
    the parent's own money, no certificate involved)."""
    if group.registry_code == "certified" and group.certified:
        return "financing"
    if group.registry_code in operations.BUDGET_REGISTRIES:
        return "accounting"
    return "own"


def available_for_quote(certificates: Certificates, child_id: int) -> int | None:
    """The balance that caps a quote's certificate share; None before the child has a
    certificate (it is issued with the first application, with the municipality's nominal)."""
    try:
        return int(certificates.balance(child_id)["available"])
    except NotFound:
        return None


class ShortOfMoney(Exception):
    """The certificate's balance no longer covers the share and the parent has not accepted
    the co-payment that would be due."""

    def __init__(self, terms: dict, available: int):
        super().__init__(f"copay {terms['copay']} not accepted")
        self.terms, self.available = terms, available


def reserve_share(
    session: Session,
    certificates: Certificates,
    enrollment_id: str,
    child: dict | None,
    period_id: int,
    terms: dict,
    accept_copay: bool,
    kind: str,
    capped,
) -> tuple[dict, dict]:
    """Step 2: reserve the certificate's share (nothing for own money); a short balance caps
    the share (`capped(available)` answers the terms again) when the parent accepted the
    co-payment, else ShortOfMoney. Answers (the reservation, the terms it was made on)."""
    if kind == "own":
        return {"certificate_number": None}, terms
    # a concurrent application of the same child may take money meanwhile: a few tries
    for _ in range(3):
        try:
            reserved = certificates.reserve(
                enrollment_id, child, period_id, terms["certificate_share"], kind == "financing"
            )
            return reserved, terms
        except Conflict as error:
            if error.code != "insufficient_funds":
                raise
            available = int(error.extra.get("available", 0))
            with transaction(session):  # reads the group's facts for the capped terms
                terms = capped(available)
            if terms["copay"] > 0 and not accept_copay:
                raise ShortOfMoney(terms, available) from error
    raise Conflict("Баланс сертификата меняется, повторите", code="funds_changing")


def drive(
    session: Session,
    certificates: Certificates,
    enrollment_id: str,
    child: dict | None,
    periods: list[dict],
    now: datetime,
    opened: tuple[Application, Group] | None = None,
    then: Callable[[Application], Any] = lambda application: application,
):
    """Steps 2 and 3 for an application whose money is pending (the request itself, or the
    recovery after a crash): with a seat, its money is reserved and it goes before the
    provider; without one, it waits on the list holding no money. `opened`: the application
    and its group as step 1 of this request left them (else they are read). Answers
    `then(application)`, made inside its last transaction."""
    with transaction(session):  # what the money step needs, read; or a waiter settled
        application, group = opened or store.with_group(session, enrollment_id)
        promotion = application.status == domain.WAITLISTED
        waiting = None
        if not promotion and not application.seat_held:
            # step 3 of an application without a seat: on the list, holding no money
            waiting = operations.finish_waiting(session, enrollment_id, now)
        if waiting is not None:
            return then(waiting)
    if promotion:  # a promotion the recovery finishes
        promote_one(session, certificates, enrollment_id, child, periods, now)
        with transaction(session):
            return then(store.application(session, enrollment_id))
    # a seat given meanwhile changes neither the terms, the consent nor the period
    kind, terms = money_kind(group), application.terms
    accept_copay, period_id = application.accept_copay, application.period_id

    def capped(available: int) -> dict:
        return operations.capped_terms(session, application, available, periods)

    try:
        reserved, terms = reserve_share(
            session, certificates, enrollment_id, child, period_id, terms, accept_copay, kind,
            capped,
        )  # fmt: skip
    except ShortOfMoney as short:
        with transaction(session):  # compensation: the application never was
            operations.withdraw(session, enrollment_id, now)
        raise InvalidInput(
            "На сертификате недостаточно средств: нужно согласие на доплату",
            code="copay_not_accepted",
            fields={"accept_copay": [f"доплата {short.terms['copay'] / 100:.2f} ₽"]},
            extra={"available": short.available},
        ) from short
    except InvalidInput:
        raise
    except ServiceUnavailable as error:
        # unknown (a timeout may have reserved, or not): the application stays pending, its
        # money to be settled by a repeat of the request or by the recovery
        log.warning("money step of %s unknown: %r; left pending", enrollment_id, error)
        raise
    except NavigatorError as error:
        # refused: cancel, release whatever is held
        log.warning("money step of %s failed: %r; compensating", enrollment_id, error)
        with transaction(session):  # compensation: cancelled, its reservation to give back
            operations.abandon(session, enrollment_id, f"money_step_failed:{error.code}", now)
        release(session, certificates, enrollment_id)
        raise
    crash_point("enrollment_after_reserve")
    with transaction(session):  # step 3: status, terms, event in the outbox
        enrollment = operations.finish_application(session, enrollment_id, reserved, terms, now)
        return then(enrollment)


# a refusal that may pass by itself: the promotion is tried again (by the recovery), not refused
RETRIED = ("funds_changing",)


def promote_one(
    session: Session,
    certificates: Certificates,
    enrollment_id: str,
    child: dict | None,
    periods: list[dict],
    now: datetime,
) -> str:
    """A waitlisted application given a seat: its terms again from the promotion's day, its
    money reserved now. 'promoted' (before the provider), 'refused' (the money is no longer
    there, or a co-payment the parent did not accept is now due, or no period or group day is
    left: cancelled, the seat goes to the next in line) or 'left' (already settled)."""
    today = clock.region_date(now)
    refused = None
    with transaction(session):  # the promotion's terms from today, or its refusal
        application, group = store.with_group(session, enrollment_id) or (None, None)
        if not operations.promotion_in_flight(application):
            return "left"
        kind = money_kind(group)
        accept_copay = application.accept_copay
        try:
            start, period, terms = operations.promotion_terms(
                group, application, periods, today, operations.UNCAPPED
            )
            if terms["copay"] > 0 and not accept_copay:
                raise ShortOfMoney(terms, 0)
        except (InvalidInput, ShortOfMoney) as error:
            refused = getattr(error, "code", "copay_not_accepted")
            operations.refuse_promotion(session, enrollment_id, f"promotion_refused:{refused}", now)
    if refused is not None:
        return "refused"

    def capped(available: int) -> dict:
        application, group = store.with_group(session, enrollment_id)
        return operations.promotion_terms(group, application, periods, today, available)[2]

    try:
        reserved, terms = reserve_share(
            session, certificates, enrollment_id, child, period["id"], terms, accept_copay, kind,
            capped,
        )  # fmt: skip
    except ShortOfMoney:
        with transaction(session):  # it leaves the list; its seat goes to the next
            operations.refuse_promotion(
                session, enrollment_id, "promotion_refused:copay_not_accepted", now
            )
        return "refused"
    except (Conflict, InvalidInput, NotFound, Forbidden) as error:
        if error.code in RETRIED:
            raise  # the recovery tries again
        # the certificate refuses (no money, frozen, expired, ...): the application leaves
        with transaction(session):
            operations.refuse_promotion(
                session, enrollment_id, f"promotion_refused:{error.code}", now
            )
        return "refused"
    crash_point("enrollment_after_promotion_reserve")
    with transaction(session):  # before the provider, on its new terms
        done = operations.finish_promotion(
            session, enrollment_id, start=start, period_id=period["id"], terms=terms,
            reserved=reserved, now=now,
        )  # fmt: skip
    return "promoted" if done is not None else "left"


def child_of(session: Session, accounts, enrollment_id: str) -> dict:
    """The facts of the application's child as enrollment keeps them from accounts' events
    (children.py); accounts is asked only for a child not known yet."""
    with transaction(session):
        child_id = store.application(session, enrollment_id).child_id
        child = children.known(session, child_id)
    return child or accounts.call("accounts", "get_child", child_id)


def promote_due(
    session: Session, certificates: Certificates, accounts, now: datetime, group_id=None
) -> dict:
    """Reserve the money of every application a freed seat promoted (right after the commit
    that freed it); a refusal frees the seat again for the next in line, so this runs until
    no promotion is left in flight. A failure of a peer leaves the rest to the recovery."""
    done = {"promoted": [], "refused": []}
    tried: set[str] = set()
    while True:
        with transaction(session):
            due = [e for e in store.promotions_due(session, group_id) if e not in tried]
        if not due:
            return done
        for enrollment_id in due:
            tried.add(enrollment_id)
            try:
                child = child_of(session, accounts, enrollment_id)
                outcome = promote_one(
                    session, certificates, enrollment_id, child, certificates.periods(), now
                )
            except Exception as error:  # noqa: BLE001 - the recovery finishes it
                session.rollback()
                log.warning("promotion of %s failed: %r; the recovery retries", enrollment_id,
                            error)  # fmt: skip
                continue
            if outcome in done:
                done[outcome].append(enrollment_id)


def release(session: Session, certificates: Certificates, enrollment_id: str) -> bool:
    """Give back an application's whole reservation; False leaves it to the recovery."""
    try:
        certificates.release(enrollment_id, "application_closed")
    except Exception as error:  # noqa: BLE001 - the recovery retries it
        log.warning("release of %s failed: %r; the recovery retries it", enrollment_id, error)
        return False
    crash_point("enrollment_after_release")
    with transaction(session):
        operations.mark_released(session, enrollment_id)
    return True


def settle(
    session: Session,
    certificates: Certificates,
    accounts,
    now: datetime,
    recorded_at: datetime | None = None,
) -> dict:
    """The recovery: finish or compensate what a crash left halfway; release what is due.
    `now` is the business instant of what it finishes (a decision deadline); the grace is
    measured at `recorded_at` on the records' real time (None: the database's now)."""
    done = {"driven": 0, "released": 0, "failed": 0}
    with transaction(session):
        rows = store.unsettled(session, recorded_at, settle_grace_seconds())
    for enrollment_id, money in rows:
        try:
            if money == "pending":
                child = child_of(session, accounts, enrollment_id)
                drive(session, certificates, enrollment_id, child, certificates.periods(), now)
                done["driven"] += 1
            elif release(session, certificates, enrollment_id):
                done["released"] += 1
            else:
                done["failed"] += 1
        except Exception as error:  # noqa: BLE001 - one stuck application must not stop the rest
            session.rollback()
            log.warning("settling %s failed: %r", enrollment_id, error)
            done["failed"] += 1
    return done


def expire_overdue(
    session: Session, certificates: Certificates, accounts, now: datetime
) -> list[str]:
    """Applications the provider left undecided past the deadline expire; their seats promote
    the waiting list (whose money is reserved then) and their reservations are released."""
    expired = []
    with transaction(session):
        overdue = store.overdue(session, now)
    for enrollment_id in overdue:
        with transaction(session):  # expired, its seat freed and the list promoted
            changed = operations.expire(session, enrollment_id, now)
        if changed is not None:
            expired.append(enrollment_id)
            release(session, certificates, enrollment_id)
    if expired:
        promote_due(session, certificates, accounts, now)
    return expired


def learn_birth_dates(session: Session, accounts, limit: int = 100) -> int:
    """Enrollments made before the child's birth date was kept on them learn it from accounts,
    so the 18th birthday ends them too. A failure leaves them to the next sweep."""
    learned = 0
    with transaction(session):
        unknown = store.without_birth_date(session, limit)
    for enrollment_id, child_id in unknown:
        try:
            child = accounts.call("accounts", "get_child", child_id)
        except Exception as error:  # noqa: BLE001 - the next sweep asks again
            log.warning("birth date of child %s unknown: %r", child_id, error)
            return learned
        with transaction(session):
            store.set_birth_date(session, enrollment_id, date.fromisoformat(child["birth_date"]))
        learned += 1
    return learned


def end_due(session: Session, certificates: Certificates, accounts, now: datetime) -> dict:
    """The calendar's work, on the region's date of ``now``: children who turned 18 leave at
    the end of that month, and children of a group whose end moved earlier leave there
    (`enrollment_terminated` with that day: payments releases the rest); terminated
    enrollments past their last day give their seat back (promoting the waiting list while
    the group runs), and enrolled children of a group that ended complete. One transaction
    each."""
    today = clock.region_date(now)

    def each(find, step) -> list[str]:
        """`step` on every enrollment `find` names, one transaction each; those it changed."""
        with transaction(session):
            candidates = find(session, today)
        changed = []
        for enrollment_id in candidates:
            with transaction(session):
                if step(session, enrollment_id, today, now) is not None:
                    changed.append(enrollment_id)
        return changed

    learn_birth_dates(session, accounts)
    done = {
        "aged_out": each(operations.aged_out, operations.end_early),
        "group_shortened": each(store.shortened, operations.end_early),
        "seats_freed": each(store.seats_due_back, operations.give_back_seat),
        "completed": each(store.ended, operations.complete),
    }
    if done["seats_freed"]:
        promote_due(session, certificates, accounts, now)
    return done
