"""The work of enrollment on a SQLAlchemy session (enrollment's own database): an
application's seat and status change in one transaction, with its events in the outbox.

Lock order, everywhere: the group's row first, then the application's, so two decisions on
one group never deadlock; the group lock also makes arrival order exact.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contracts import cost
from contracts.refusals import Refusal
from servicekit import clock, config
from servicekit.db import inserted_once
from servicekit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    rpc_error,
)
from servicekit.money import format_kopecks
from servicekit.outbox import emit
from services.enrollment import domain, seats
from services.enrollment.domain import Parties
from services.enrollment.event_schemas import DATA_SCHEMAS
from services.enrollment.models import (
    HOLDS_PLACE_SQL,
    DeadlineNotice,
    Enrollment,
    EnrollmentHistory,
    arrival_seq,
)
from services.enrollment.models import EnrollmentGroup as Group

BUDGET_REGISTRIES = ("significant", "pre_professional", "general")
# first pass of the terms, before the certificate's balance is known: no cap from it
UNCAPPED = 10**15
# an application is opened only this long before its caller's deadline at the latest: the
# answer must still reach the caller
DEADLINE_MARGIN_SECONDS = 0.25


def decision_days() -> float:
    return float(config.env("ENROLLMENT_DECISION_DAYS", str(domain.DECISION_DAYS)))


def parties(enrollment: Enrollment) -> Parties:
    return Parties(
        parent_id=enrollment.parent_id,
        organization_id=enrollment.organization_id,
        organization_municipality=enrollment.organization_municipality,
        child_municipality=enrollment.child_municipality,
    )


# --- groups and money terms ---------------------------------------------------------------


def group_row(session: Session, group_id: int, lock: bool = False) -> Group:
    """The group as enrollment knows it (groups.py), locked for a seat step when `lock`;
    NotFound unless its program is published and its organization active."""
    query = select(Group).where(Group.id == group_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    group = session.scalars(query).first()
    if (
        group is None
        or group.program_status != "published"
        or group.organization_status != "active"
    ):
        raise NotFound("Группа не найдена", code="group_not_found")
    return group


def period_of(periods: list[dict], day: date) -> dict:
    for period in periods:
        if (
            date.fromisoformat(period["start_date"])
            <= day
            <= date.fromisoformat(period["end_date"])
        ):
            return period
    raise InvalidInput(
        "На эту дату нет периода реализации программ",
        code="no_period",
        fields={"start_date": ["на эту дату нет периода реализации"]},
    )


def default_start(group: Group, today: date) -> date:
    return domain.first_day(group.start_date, group.end_date, today)


def terms_of(group: Group, period: dict, start: date, available: int) -> dict:
    """The contract's money terms in kopecks (payments' cost rules); budget registries cost
    the parent nothing and take no money from the certificate."""
    try:
        terms = cost.contract_terms(
            group_start=group.start_date,
            group_end=group.end_date,
            period_start=date.fromisoformat(period["start_date"]),
            period_end=date.fromisoformat(period["end_date"]),
            start_date=start,
            group_price=0 if group.registry_code in BUDGET_REGISTRIES else group.price_kopecks,
            group_normative=(
                0 if group.registry_code in BUDGET_REGISTRIES else group.normative_cost_kopecks
            ),
            available=available,
            paid_registry=group.registry_code == "paid" or not group.certified,
        )
    except cost.InvalidTerms as error:
        raise rpc_error(error) from error
    return {
        "start_date": terms.start_date.isoformat(),
        "end_date": terms.end_date.isoformat(),
        "total": terms.total,
        "normative_cost": terms.normative_cost,
        "certificate_share": terms.certificate_share,
        "copay": terms.copay,
        "schedule": [
            {"month": p.month, "certificate": p.certificate, "copay": p.copay}
            for p in terms.schedule
        ],
    }


def quote(session: Session, child: dict, group_id: int, start: date | None, periods, today):
    group = group_row(session, group_id)
    start = start or default_start(group, today)
    try:
        domain.check_start(start, today)
    except Refusal as error:
        raise rpc_error(error) from error
    period = period_of(periods, start)
    try:
        domain.check_age(
            date.fromisoformat(child["birth_date"]), start, group.min_age, group.max_age
        )
    except Refusal as error:
        raise rpc_error(error) from error
    return group, period, start


# --- the apply saga: open (seat or list) -> reserve (certificates) -> finish ----------------


def open_application(
    session: Session,
    *,
    enrollment_id: str,
    child: dict,
    group_id: int,
    start_date: date | None,
    accept_copay: bool,
    periods: list[dict],
    today: date,
    deadline: float | None = None,
    repeatable: bool = False,
) -> tuple[Enrollment, Group]:
    """Step 1, one transaction: the application is recorded in arrival order and holds a seat
    if one is free (else it waits on the list). Nothing is published yet: the application
    is announced when its money is settled (finish_application).

    `enrollment_id` is the operation's identity (the gateway derives it from the request's
    Idempotency-Key; `repeatable`): an application of that id opened already, by an attempt
    whose answer was lost, is answered as it is, never opened twice. Past `deadline` (epoch
    seconds: the caller has answered 503 by then) nothing is opened (503 `deadline_passed`)."""
    group = group_row(session, group_id, lock=True)
    if repeatable:  # under the group's lock: an attempt of this operation has committed
        existing = same_operation(session, enrollment_id, child, group_id)
        if existing is not None:
            return existing, group
    if deadline is not None and time.time() > deadline - DEADLINE_MARGIN_SECONDS:
        raise ServiceUnavailable(
            "the caller's deadline passed; the application was not opened",
            code="deadline_passed",
        )
    start = start_date or default_start(group, today)
    try:
        domain.check_start(start, today)
    except Refusal as error:
        raise rpc_error(error) from error
    period = period_of(periods, start)
    try:
        domain.check_open(group.enrollment_open)
        domain.check_age(
            date.fromisoformat(child["birth_date"]), start, group.min_age, group.max_age
        )
        terms = terms_of(group, period, start, UNCAPPED)
        domain.check_copay(terms["copay"], accept_copay)
    except Refusal as error:
        raise rpc_error(error) from error
    seat_held = seats.hold(session, group.id, enrollment_id)
    # One statement: the arrival number (taken under the group's lock, so in arrival order)
    # and the row; the partial unique index refuses a second live application of the child
    # to the group, and the caller's rollback then gives the seat back.
    enrollment = session.scalars(
        pg_insert(Enrollment)
        .values(
            id=uuid.UUID(enrollment_id),
            child_id=child["id"],
            parent_id=child["parent_id"],
            group_id=group.id,
            program_id=group.program_id,
            organization_id=group.organization_id,
            organization_municipality=group.organization_municipality,
            child_municipality=child["municipality_code"],
            child_birth_date=date.fromisoformat(child["birth_date"]),
            status=domain.REQUESTED,
            arrival=arrival_seq.next_value(),
            seat_held=seat_held,
            accept_copay=accept_copay,
            start_date=start,
            end_date=date.fromisoformat(terms["end_date"]),
            terms=terms,
            period_id=period["id"],
            money="pending",
        )
        .on_conflict_do_nothing(
            index_elements=["child_id", "group_id"], index_where=text(HOLDS_PLACE_SQL)
        )
        .returning(Enrollment)
    ).first()
    if enrollment is None:
        existing = session.scalar(
            select(Enrollment.id).where(
                Enrollment.child_id == child["id"],
                Enrollment.group_id == group_id,
                text(HOLDS_PLACE_SQL),
            )
        )
        raise Conflict(
            "Ребёнок уже подал заявку в эту группу",
            code="already_applied",
            extra={"enrollment_id": str(existing)} if existing else {},
        )
    _history(session, enrollment, f"user:{child['parent_id']}")
    return enrollment, group


def same_operation(
    session: Session, enrollment_id: str, child: dict, group_id: int
) -> Enrollment | None:
    """The application an earlier attempt of this operation opened, read afresh; None if
    there is none. The same key for another child or group is refused."""
    enrollment = session.scalars(
        select(Enrollment)
        .where(Enrollment.id == uuid.UUID(enrollment_id))
        .execution_options(populate_existing=True)
    ).first()
    return _same_request(enrollment, child, group_id)


def _same_request(enrollment: Enrollment | None, child: dict, group_id: int):
    if enrollment is not None and (
        enrollment.child_id != child["id"] or enrollment.group_id != group_id
    ):
        raise InvalidInput(
            "Idempotency-Key was already used for a different request",
            code="idempotency_key_reused",
        )
    return enrollment


def prior(
    session: Session, enrollment_id: str | None, child: dict, group_id: int
) -> tuple[Enrollment | None, list[str]]:
    """In one statement, what an application must know before it is opened: the application
    an earlier attempt of this operation opened (None if none, or `enrollment_id` None: a
    new operation), and the child's closed applications whose reservation is still to be
    given back (a compensation whose release failed)."""
    abandoned = (Enrollment.child_id == child["id"]) & (Enrollment.money == domain.RELEASE_PENDING)
    where = (
        abandoned
        if enrollment_id is None
        else abandoned | (Enrollment.id == uuid.UUID(enrollment_id))
    )
    found = session.scalars(
        select(Enrollment).where(where).execution_options(populate_existing=True)
    ).all()
    same = next((e for e in found if str(e.id) == enrollment_id), None)
    return _same_request(same, child, group_id), [
        str(e.id) for e in found if e.money == domain.RELEASE_PENDING and e is not same
    ]


def capped_terms(session: Session, enrollment: Enrollment, available: int, periods) -> dict:
    """The terms again once the certificate's balance is known (it caps the share)."""
    group = group_row(session, enrollment.group_id)
    period = next(p for p in periods if p["id"] == enrollment.period_id)
    return terms_of(group, period, enrollment.start_date, available)


def finish_application(
    session: Session, enrollment_id: str, reserved: dict, terms: dict, now: datetime
) -> Enrollment:
    """Step 3, one transaction: the money is reserved; the application goes before the
    provider (seat held) or on the waiting list. A replay changes nothing."""
    enrollment = _locked(session, enrollment_id)
    if enrollment is None:
        raise NotFound("Заявка не найдена", code="enrollment_not_found")
    if enrollment.money != "pending":
        return enrollment
    enrollment.terms = terms
    enrollment.certificate_number = reserved.get("certificate_number")
    if reserved.get("municipality_code"):  # the payer is the certificate's municipality
        enrollment.child_municipality = reserved["municipality_code"]
    _set_money(enrollment, domain.RESERVED)
    target = domain.after_seat_step(enrollment.seat_held)
    _move(session, enrollment, target, "system", now=now, from_request=True)
    return enrollment


def finish_waiting(session: Session, enrollment_id: str, now: datetime) -> Enrollment | None:
    """Step 3 of an application that found no seat: it waits on the list holding no money
    (a waiting list reserves nothing). None when a seat was given to it meanwhile (the
    caller reserves then); a replay changes nothing."""
    _lock_group_of(session, enrollment_id)
    enrollment = _locked(session, enrollment_id)
    if enrollment is None:
        raise NotFound("Заявка не найдена", code="enrollment_not_found")
    if enrollment.money != "pending":
        return enrollment
    if enrollment.seat_held:
        return None
    _set_money(enrollment, domain.NO_MONEY)
    _move(session, enrollment, domain.WAITLISTED, "system", now=now, from_request=True)
    return enrollment


def promotion_terms(
    session: Session, enrollment: Enrollment, periods: list[dict], today: date, available: int
) -> tuple[date, dict, dict]:
    """The terms of a promoted application, from the day of its promotion (or the start the
    parent asked for, if later): the start, its period and the money terms."""
    group = session.get(Group, enrollment.group_id)
    start = domain.promoted_start(enrollment.start_date, group.start_date, group.end_date, today)
    period = period_of(periods, start)
    return start, period, terms_of(group, period, start, available)


def promotions_due(session: Session, group_id: int | None = None, limit: int = 100) -> list[str]:
    """Waitlisted applications given a seat whose money is still to be reserved."""
    query = select(Enrollment.id).where(
        Enrollment.status == domain.WAITLISTED,
        Enrollment.seat_held.is_(True),
        Enrollment.money == "pending",
    )
    if group_id is not None:
        query = query.where(Enrollment.group_id == group_id)
    return [str(r) for r in session.scalars(query.order_by(Enrollment.arrival).limit(limit))]


def finish_promotion(
    session: Session,
    enrollment_id: str,
    *,
    start: date,
    period_id: int,
    terms: dict,
    reserved: dict,
    now: datetime,
) -> Enrollment | None:
    """The promoted application's money is reserved on its new terms: it goes before the
    provider. None when it is no longer a promotion in flight (a replay)."""
    _lock_group_of(session, enrollment_id)
    enrollment = _locked(session, enrollment_id)
    if not promotion_in_flight(enrollment):
        return None
    enrollment.start_date = start
    enrollment.end_date = date.fromisoformat(terms["end_date"])
    enrollment.period_id = period_id
    enrollment.terms = terms
    enrollment.certificate_number = reserved.get("certificate_number")
    _set_money(enrollment, domain.RESERVED)
    _move(session, enrollment, domain.AWAITING_PROVIDER, "system", now=now)
    return enrollment


def refuse_promotion(
    session: Session, enrollment_id: str, reason: str, now: datetime
) -> Enrollment | None:
    """The money is no longer there (or a co-payment the parent did not accept is now due):
    the application leaves the list, cancelled with the reason, and its seat goes to the next
    in line (whose money the caller reserves in turn)."""
    _lock_group_of(session, enrollment_id)
    enrollment = _locked(session, enrollment_id)
    if not promotion_in_flight(enrollment):
        return None
    _set_money(enrollment, domain.NO_MONEY)  # nothing was reserved
    _move(session, enrollment, domain.CANCELLED, "system", reason=reason, now=now)
    return enrollment


def promotion_in_flight(enrollment: Enrollment | None) -> bool:
    return (
        enrollment is not None
        and enrollment.status == domain.WAITLISTED
        and enrollment.seat_held
        and enrollment.money == "pending"
    )


def withdraw(session: Session, enrollment_id: str, now: datetime) -> None:
    """Compensation of step 1 when step 2 refused (nothing was reserved): the application
    never was; its seat, if it held one, goes to the first on the waiting list."""
    enrollment = session.get(Enrollment, uuid.UUID(enrollment_id))
    if enrollment is None:
        return
    session.execute(select(Group.id).where(Group.id == enrollment.group_id).with_for_update())
    enrollment = _locked(session, enrollment_id)
    if enrollment.money != "pending":  # settled meanwhile: not ours to undo
        return
    if enrollment.seat_held:
        seats.release(session, enrollment.group_id, enrollment_id)
    session.execute(delete(Enrollment).where(Enrollment.id == enrollment.id))
    if enrollment.seat_held:
        promote(session, enrollment.group_id, now)


def abandon(session: Session, enrollment_id: str, reason: str, now: datetime) -> None:
    """Compensation when the money step failed for another reason (a service down, a refusal
    found by the recovery): the application is cancelled and whatever was reserved released."""
    _decide_locked(session, enrollment_id, domain.CANCELLED, "system", reason, now)


def _locked(session: Session, enrollment_id: str) -> Enrollment | None:
    """The application, locked and read afresh (not from the session's identity map)."""
    return session.scalars(
        select(Enrollment)
        .where(Enrollment.id == uuid.UUID(enrollment_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


# --- decisions -----------------------------------------------------------------------------


def visible(session: Session, principal: dict | None, enrollment_id: str) -> Enrollment:
    try:
        key = uuid.UUID(str(enrollment_id))
    except ValueError:
        key = None
    enrollment = session.get(Enrollment, key) if key else None
    if enrollment is None or not domain.sees(principal, parties(enrollment)):
        raise NotFound("Заявка не найдена", code="enrollment_not_found")
    return enrollment


def require_active_organization(status: str | None) -> None:
    """A provider's staff decide only while their organization is active (`status`, as the
    catalog answers it now): after the region suspends it, or while an edit sends it back to
    approval, every decision is 403 (a suspended provider confirmed applications, and so
    verified children's data)."""
    if status != "active":
        raise Forbidden(
            "Организация поставщика не действует (приостановлена или не подтверждена)",
            code="organization_not_active",
        )


def confirmable(principal: dict | None, enrollment: Enrollment) -> bool:
    """The provider may enroll this application now (its child's data gets verified first)."""
    return (
        domain.may(principal, "confirm", parties(enrollment))
        and enrollment.status == domain.AWAITING_PROVIDER
    )


def decide(
    session: Session,
    principal: dict | None,
    enrollment_id: str,
    action: str,
    reason: str | None,
    now: datetime,
) -> Enrollment:
    """confirm / reject (the provider), cancel (the parent), terminate (either)."""
    enrollment = visible(session, principal, enrollment_id)
    if not domain.may(principal, action, parties(enrollment)):
        raise Forbidden("Это решение принимает не вы", code="not_allowed")
    actor = f"user:{principal['user_id']}" if principal else "system"
    return _decide_locked(
        session, str(enrollment.id), domain.ACTION_TARGET[action], actor, reason, now
    )


def _decide_locked(
    session: Session, enrollment_id: str, target: str, actor: str, reason, now: datetime
) -> Enrollment:
    group_id = session.scalar(
        select(Enrollment.group_id).where(Enrollment.id == uuid.UUID(enrollment_id))
    )
    session.execute(select(Group.id).where(Group.id == group_id).with_for_update())
    enrollment = _locked(session, enrollment_id)
    if enrollment.money == "pending" and actor != "system":
        raise Conflict(
            "Заявка ещё оформляется, повторите через несколько секунд",
            code="application_in_progress",
        )
    _move(session, enrollment, target, actor, reason=reason, now=now)
    return enrollment


def _move(
    session: Session,
    enrollment: Enrollment,
    target: str,
    actor: str,
    *,
    now: datetime,
    reason: str | None = None,
    from_request: bool = False,
    effective_end: date | None = None,
) -> None:
    """Carry out `domain.move` (the effects of the move, as data) on the locked application:
    its seat step, money, deadline, history and event, and the promotion its freed seat
    makes."""
    try:
        change = domain.move(
            enrollment.status, target, seat_held=enrollment.seat_held, money=enrollment.money
        )
    except Refusal as error:
        raise rpc_error(error) from error
    if change is None:
        return  # a replay: already there
    holder = str(enrollment.id)
    enrollment.status = change.status
    enrollment.reason = reason
    if change.seat == "confirm":
        seats.confirm(session, enrollment.group_id, holder)
    elif change.seat == "release":
        seats.release(session, enrollment.group_id, holder)
    enrollment.seat_held = change.seat_held
    enrollment.money = change.money
    if change.decide_by == "set":
        enrollment.decide_by = domain.decision_deadline(now, decision_days())
    elif change.decide_by == "clear":
        enrollment.decide_by = None
    if change.fixes_effective_end:
        # the child attends to the end of the month: the sweep gives the seat back after it
        enrollment.effective_end_date = effective_end or domain.termination_end(
            clock.region_date(now), enrollment.end_date
        )
    session.flush()
    _history(session, enrollment, actor, reason)
    _announce(session, enrollment, change, from_request)
    if change.promotes:
        promote(session, enrollment.group_id, now)


def _set_money(enrollment: Enrollment, target: str) -> None:
    """The money's own machine (domain.money_transition): a wrong move raises."""
    try:
        domain.money_transition(enrollment.money, target)
    except Refusal as error:
        raise rpc_error(error) from error
    enrollment.money = target


def promote(session: Session, group_id: int, now: datetime) -> list[Enrollment]:
    """Every free seat of the group goes to the first application on its waiting list
    (the caller holds the group's lock); the seat is held, the money comes next."""
    promoted = []
    while True:
        candidate = session.scalar(
            select(Enrollment)
            .where(
                Enrollment.group_id == group_id,
                Enrollment.status.in_((domain.REQUESTED, domain.WAITLISTED)),
                Enrollment.seat_held.is_(False),
            )
            .order_by(Enrollment.arrival)
            .limit(1)
            .with_for_update()
        )
        if candidate is None or not seats.hold(session, group_id, str(candidate.id)):
            return promoted
        candidate.seat_held = True
        if candidate.status == domain.WAITLISTED:
            # its money is reserved now, on terms from today (saga.promote_due, right after
            # this commit); it goes before the provider once that is done
            _set_money(candidate, domain.PENDING)
        # a requested one (money step in flight) reserves and goes before the provider when
        # its step finishes
        session.flush()
        promoted.append(candidate)


def overdue(session: Session, now: datetime, limit: int = 100) -> list[str]:
    rows = session.scalars(
        select(Enrollment.id)
        .where(Enrollment.status == domain.AWAITING_PROVIDER, Enrollment.decide_by <= now)
        .order_by(Enrollment.decide_by)
        .limit(limit)
    ).all()
    return [str(r) for r in rows]


def expire(session: Session, enrollment_id: str, now: datetime) -> Enrollment | None:
    """An application the provider left undecided past its deadline expires (re-checked
    under the locks: a decision that came first wins)."""
    enrollment = session.get(Enrollment, uuid.UUID(enrollment_id))
    if enrollment is None or not domain.is_overdue(enrollment.status, enrollment.decide_by, now):
        return None
    enrollment = _decide_locked(
        session, enrollment_id, domain.EXPIRED, "system", "no_decision_in_time", now
    )
    return enrollment


# --- the calendar: decisions due tomorrow ------------------------------------------------


def _claim_notice(session: Session, kind: str, subject: str, due_on: date) -> bool:
    """True for the first announcement of (kind, subject, day); a concurrent one waits for
    this transaction and then finds the row."""
    return inserted_once(session, DeadlineNotice, kind=kind, subject=subject, due_on=due_on)


def announce_deadlines(session: Session, today: date) -> dict:
    """The applications before the provider whose decide-by falls on the region's next day:
    `application_expiring` for each (to its parent) and `decisions_due_tomorrow` for each
    organization (its staff's digest), each once per day (deadline_notices), in the caller's
    transaction. Answers how many of each were emitted now."""
    tomorrow = today + timedelta(days=1)
    candidates = session.scalars(
        select(Enrollment)
        .where(
            Enrollment.status == domain.AWAITING_PROVIDER,
            Enrollment.decide_by >= clock.region_midnight(tomorrow),
            Enrollment.decide_by < clock.region_midnight(tomorrow + timedelta(days=1)),
        )
        .order_by(Enrollment.organization_id, Enrollment.decide_by, Enrollment.arrival)
    ).all()
    due = [
        e for e in candidates
        if domain.decides_tomorrow(e.status, clock.region_date(e.decide_by), today)
    ]  # fmt: skip
    expiring = digests = 0
    for enrollment in due:
        if _claim_notice(session, "application_expiring", str(enrollment.id), tomorrow):
            data = event_data(session, enrollment, "application_expiring")
            emit(session, "application_expiring", DATA_SCHEMAS["application_expiring"].dump(data))
            expiring += 1
    for organization_id, applications in domain.by_organization(due).items():
        if not _claim_notice(session, "decisions_due_tomorrow", str(organization_id), tomorrow):
            continue
        data = {
            "organization_id": organization_id,
            "due_on": tomorrow.isoformat(),
            "applications": [
                {"enrollment_id": str(a.id), "child_id": a.child_id, "group_id": a.group_id,
                 "program_id": a.program_id, "decide_by": clock.instant_text(a.decide_by)}
                for a in applications
            ],
        }  # fmt: skip
        emit(session, "decisions_due_tomorrow", DATA_SCHEMAS["decisions_due_tomorrow"].dump(data))
        digests += 1
    return {"application_expiring": expiring, "decisions_due_tomorrow": digests}


# --- the calendar: terminations that took effect, groups that ended ------------------------


def seats_due_back(session: Session, today: date, limit: int = 100) -> list[str]:
    """Terminated enrollments past their last day that still hold their seat."""
    rows = session.scalars(
        select(Enrollment.id)
        .where(
            Enrollment.status == domain.TERMINATED,
            Enrollment.seat_held.is_(True),
            Enrollment.effective_end_date < today,
        )
        .order_by(Enrollment.effective_end_date, Enrollment.arrival)
        .limit(limit)
    ).all()
    return [str(r) for r in rows]


def give_back_seat(
    session: Session, enrollment_id: str, today: date, now: datetime
) -> Enrollment | None:
    """A terminated enrollment's last day has passed: its seat goes back to the group and, while
    the group still runs, to the first on its waiting list (re-checked under the locks; a
    repeat changes nothing)."""
    group = _lock_group_of(session, enrollment_id)
    enrollment = _locked(session, enrollment_id)
    if enrollment is None or not domain.seat_due_back(
        enrollment.status, enrollment.seat_held, enrollment.effective_end_date, today
    ):
        return None
    seats.release(session, enrollment.group_id, str(enrollment.id))
    enrollment.seat_held = False
    session.add(
        EnrollmentHistory(
            enrollment_id=enrollment.id, status=enrollment.status, actor="system",
            reason="seat_freed_after_effective_end",
        )
    )  # fmt: skip
    session.flush()
    if domain.promotes_after_release(group.end_date, today):
        promote(session, enrollment.group_id, now)
    return enrollment


def ended(session: Session, today: date, limit: int = 100) -> list[str]:
    """Enrolled children whose group's last day has passed."""
    rows = session.scalars(
        select(Enrollment.id)
        .join(Group, Group.id == Enrollment.group_id)
        .where(Enrollment.status == domain.ENROLLED, Group.end_date < today)
        .order_by(Group.end_date, Enrollment.arrival)
        .limit(limit)
    ).all()
    return [str(r) for r in rows]


def complete(session: Session, enrollment_id: str, today: date, now: datetime) -> Enrollment | None:
    """The group ended: the enrollment is completed, its seat freed (nobody is promoted into an
    ended group), `enrollment_completed` in the outbox. Re-checked under the locks."""
    group = _lock_group_of(session, enrollment_id)
    enrollment = _locked(session, enrollment_id)
    if enrollment is None or not domain.has_ended(enrollment.status, group.end_date, today):
        return None
    _move(session, enrollment, domain.COMPLETED, "system", reason="group_ended", now=now)
    return enrollment


def aged_out(session: Session, today: date, limit: int = 100) -> list[str]:
    """Enrolled children who have turned 18 (the rule re-checks each: a contract that ends
    by itself in the birthday's month is left to end)."""
    # born before the first of next month 18 years ago: a superset the rule narrows below
    next_month = domain.end_of_month(today) + timedelta(days=1)
    born_before = next_month.replace(year=next_month.year - 18)
    rows = session.execute(
        select(Enrollment.id, Enrollment.child_birth_date, Enrollment.end_date)
        .where(
            Enrollment.status == domain.ENROLLED,
            Enrollment.child_birth_date < born_before,
            # the month of the 18th birthday ends before the contract does
            text(
                "(date_trunc('month', child_birth_date + interval '18 years')"
                " + interval '1 month')::date <= end_date"
            ),
        )
        .order_by(Enrollment.child_birth_date, Enrollment.arrival)
        .limit(limit)
    ).all()
    return [str(r.id) for r in rows if domain.aged_out_end(r.child_birth_date, r.end_date, today)]


def without_birth_date(session: Session, limit: int = 100) -> list[tuple[str, int]]:
    """Enrolled children whose birth date the enrollment has not kept (made before it was)."""
    rows = session.execute(
        select(Enrollment.id, Enrollment.child_id)
        .where(Enrollment.status == domain.ENROLLED, Enrollment.child_birth_date.is_(None))
        .limit(limit)
    ).all()
    return [(str(r.id), r.child_id) for r in rows]


def set_birth_date(session: Session, enrollment_id: str, birth_date: date) -> None:
    session.execute(
        update(Enrollment)
        .where(Enrollment.id == uuid.UUID(enrollment_id), Enrollment.child_birth_date.is_(None))
        .values(child_birth_date=birth_date)
    )


def shortened(session: Session, today: date, limit: int = 100) -> list[str]:
    """Enrolled children whose group now ends before their contract does."""
    rows = session.scalars(
        select(Enrollment.id)
        .join(Group, Group.id == Enrollment.group_id)
        .where(Enrollment.status == domain.ENROLLED, Group.end_date < Enrollment.end_date)
        .order_by(Group.end_date, Enrollment.arrival)
        .limit(limit)
    ).all()
    return [str(r) for r in rows]


def end_early(session: Session, enrollment_id: str, today: date, now: datetime):
    """An enrollment ends before its contract's end: at the end of the month of the child's
    18th birthday (`turned_18`) or at its group's new, earlier end (`group_shortened`),
    whichever comes first; `enrollment_terminated` carries that day and payments releases the
    months after it. Re-checked under the locks; a repeat changes nothing."""
    group = _lock_group_of(session, enrollment_id)
    enrollment = _locked(session, enrollment_id)
    if enrollment is None or enrollment.status != domain.ENROLLED:
        return None
    ends = [
        (end, reason)
        for end, reason in (
            (domain.aged_out_end(enrollment.child_birth_date, enrollment.end_date, today),
             "turned_18"),
            (domain.shortened_end(enrollment.end_date, group.end_date), "group_shortened"),
        )
        if end is not None
    ]  # fmt: skip
    if not ends:
        return None
    end, reason = min(ends)
    _move(session, enrollment, domain.TERMINATED, "system", reason=reason, now=now,
          effective_end=end)  # fmt: skip
    return enrollment


def _lock_group_of(session: Session, enrollment_id: str) -> Group | None:
    """The application's group, locked first (the lock order of this module)."""
    return session.scalars(
        select(Group)
        .where(
            Group.id
            == select(Enrollment.group_id)
            .where(Enrollment.id == uuid.UUID(enrollment_id))
            .scalar_subquery()
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def unsettled(
    session: Session, recorded_at: datetime | None, grace_seconds: float, limit: int = 100
):
    """Applications whose money step a crash interrupted (pending longer than the grace),
    and reservations still to be given back. The grace is measured on the time rows are
    recorded in (`updated_at`, the database's real time; `recorded_at` None: the database's
    now), not on the business clock: a clock moved for a demonstration or a test must neither
    hold the recovery off nor let it race a step still in flight."""
    base = func.now() if recorded_at is None else recorded_at
    before = base - timedelta(seconds=grace_seconds)
    rows = session.execute(
        select(Enrollment.id, Enrollment.money)
        .where(
            Enrollment.money.in_(("pending", "release_pending")),
            Enrollment.updated_at <= before,
        )
        .order_by(Enrollment.updated_at)
        .limit(limit)
    ).all()
    return [(str(r.id), r.money) for r in rows]


def mark_released(session: Session, enrollment_id: str) -> None:
    enrollment = _locked(session, enrollment_id)
    if enrollment is not None and enrollment.money == domain.RELEASE_PENDING:
        _set_money(enrollment, domain.RELEASED)


# --- history, events, views ----------------------------------------------------------------


def _history(session: Session, enrollment: Enrollment, actor: str, reason=None) -> None:
    session.add(
        EnrollmentHistory(
            enrollment_id=enrollment.id, status=enrollment.status, actor=actor, reason=reason
        )
    )


def waitlist_position(session: Session, enrollment: Enrollment) -> int | None:
    if enrollment.seat_held or enrollment.status not in (domain.REQUESTED, domain.WAITLISTED):
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(
            Enrollment.group_id == enrollment.group_id,
            Enrollment.status.in_((domain.REQUESTED, domain.WAITLISTED)),
            Enrollment.seat_held.is_(False),
            Enrollment.arrival < enrollment.arrival,
        )
    )
    return ahead + 1


def _money(terms: dict) -> dict:
    return {
        "total": format_kopecks(terms["total"]),
        "normative_cost": format_kopecks(terms["normative_cost"]),
        "certificate_share": format_kopecks(terms["certificate_share"]),
        "copay": format_kopecks(terms["copay"]),
        "schedule": [
            {
                "month": p["month"],
                "certificate": format_kopecks(p["certificate"]),
                "copay": format_kopecks(p["copay"]),
            }
            for p in terms["schedule"]
        ],
    }


def event_data(session: Session, enrollment: Enrollment, event_type: str) -> dict:
    data = {
        "enrollment_id": str(enrollment.id),
        "child_id": enrollment.child_id,
        "parent_id": enrollment.parent_id,
        "group_id": enrollment.group_id,
        "program_id": enrollment.program_id,
        "organization_id": enrollment.organization_id,
        "status": enrollment.status,
    }
    if event_type in ("enrollment_requested", "enrollment_promoted", "application_expiring"):
        data["decide_by"] = clock.instant_text(enrollment.decide_by)
    if event_type == "application_expiring":
        data["due_on"] = clock.region_date(enrollment.decide_by).isoformat()
    if event_type == "enrollment_requested":
        data.update(
            start_date=enrollment.start_date.isoformat(),
            end_date=enrollment.end_date.isoformat(),
            **{
                k: v
                for k, v in _money(enrollment.terms).items()
                if k in ("total", "certificate_share", "copay")
            },
        )
    elif event_type == "enrollment_waitlisted":
        data["position"] = waitlist_position(session, enrollment)
    elif event_type in ("enrollment_rejected", "enrollment_cancelled", "enrollment_expired"):
        data["reason"] = enrollment.reason
    elif event_type == "enrollment_completed":
        data.update(
            start_date=enrollment.start_date.isoformat(),
            end_date=enrollment.end_date.isoformat(),
        )
    elif event_type == "enrollment_terminated":
        data = {
            "enrollment_id": str(enrollment.id),
            "child_id": enrollment.child_id,
            "group_id": enrollment.group_id,
            "effective_end_date": enrollment.effective_end_date.isoformat(),
            "reason": enrollment.reason,
        }
    elif event_type == "enrollment_confirmed":
        group = session.get(Group, enrollment.group_id)
        data.update(
            organization_municipality_code=enrollment.organization_municipality,
            child_municipality_code=enrollment.child_municipality,
            direction=group.direction,
            registry=group.registry_code,
            certificate_number=enrollment.certificate_number,
            start_date=enrollment.start_date.isoformat(),
            end_date=enrollment.end_date.isoformat(),
            **_money(enrollment.terms),
            group_schedule=group.schedule,
        )
    return data


def _announce(
    session: Session, enrollment: Enrollment, change: domain.Move, from_request: bool = False
) -> None:
    """The event of a move; `from_request`: the application's first move after its money
    step, which can only be `enrollment_requested` or `enrollment_waitlisted`."""
    event_type = change.event
    if (
        change.status == domain.AWAITING_PROVIDER
        and enrollment.money == domain.RESERVED
        and not from_request
    ):
        # from the waiting list: promoted; straight from the request: requested
        previous = session.scalar(
            select(func.count())
            .select_from(EnrollmentHistory)
            .where(
                EnrollmentHistory.enrollment_id == enrollment.id,
                EnrollmentHistory.status == domain.WAITLISTED,
            )
        )
        event_type = "enrollment_promoted" if previous else "enrollment_requested"
    if event_type:
        data = DATA_SCHEMAS[event_type].dump(event_data(session, enrollment, event_type))
        emit(session, event_type, data)


def view(session: Session, enrollment: Enrollment, with_history: bool = True) -> dict:
    shown = {
        "id": str(enrollment.id),
        "child_id": enrollment.child_id,
        "parent_id": enrollment.parent_id,
        "group_id": enrollment.group_id,
        "program_id": enrollment.program_id,
        "organization_id": enrollment.organization_id,
        "status": enrollment.status,
        "seat_held": enrollment.seat_held,
        "waitlist_position": waitlist_position(session, enrollment),
        "start_date": enrollment.start_date.isoformat(),
        "end_date": enrollment.end_date.isoformat(),
        "certificate_number": enrollment.certificate_number,
        "terms": enrollment.terms,
        "money": enrollment.money,
        "reason": enrollment.reason,
        "decide_by": enrollment.decide_by.isoformat() if enrollment.decide_by else None,
        "effective_end_date": (
            enrollment.effective_end_date.isoformat() if enrollment.effective_end_date else None
        ),
        "created_at": enrollment.created_at.isoformat() if enrollment.created_at else None,
    }
    if with_history:
        rows = session.scalars(
            select(EnrollmentHistory)
            .where(EnrollmentHistory.enrollment_id == enrollment.id)
            .order_by(EnrollmentHistory.id)
        ).all()
        shown["history"] = [
            {"status": r.status, "at": r.at.isoformat(), "actor": r.actor, "reason": r.reason}
            for r in rows
        ]
    return shown


def listing(
    session: Session,
    principal: dict,
    *,
    status: str | None,
    group_id: int | None,
    child_id: int | None,
    limit: int,
    offset: int,
) -> dict:
    query = select(Enrollment)
    role = principal.get("role")
    if role == "parent":
        query = query.where(Enrollment.parent_id == principal.get("user_id"))
    elif role == "provider":
        query = query.where(Enrollment.organization_id == principal.get("organization_id"))
    elif role == "municipal_operator":
        mun = principal.get("municipality_code")
        query = query.where(
            (Enrollment.organization_municipality == mun) | (Enrollment.child_municipality == mun)
        )
    elif role != "regional_operator":
        return {"items": [], "total": 0, "limit": limit, "offset": offset}
    if status:
        query = query.where(Enrollment.status == status)
    if group_id:
        query = query.where(Enrollment.group_id == group_id)
    if child_id:
        query = query.where(Enrollment.child_id == child_id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(Enrollment.created_at.desc(), Enrollment.arrival.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [view(session, row, with_history=False) for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def count_by_status(session: Session, municipality_code: str | None) -> dict[str, int]:
    """Applications by their current status (every status, 0 when none), of the children of
    a municipality (the payer, as in payments' reports) or of the region when the code is
    None. Read-only, for payments' reports."""
    query = select(Enrollment.status, func.count()).group_by(Enrollment.status)
    if municipality_code is not None:
        query = query.where(Enrollment.child_municipality == municipality_code)
    counted = dict(session.execute(query).all())
    return {status: int(counted.get(status, 0)) for status in domain.STATUSES}


def money_states(session: Session, after: str | None, limit: int) -> list[dict]:
    """A page of applications by id: status, money state (pending, reserved, release_pending,
    released, contract) and certificate share in kopecks. Read-only, for audit-ledger."""
    limit = max(1, min(int(limit), 10_000))
    query = select(Enrollment.id, Enrollment.status, Enrollment.money, Enrollment.terms)
    if after:
        query = query.where(Enrollment.id > uuid.UUID(after))
    rows = session.execute(query.order_by(Enrollment.id).limit(limit)).all()
    return [
        {
            "enrollment_id": str(row.id),
            "status": row.status,
            "money": row.money,
            "share": int((row.terms or {}).get("certificate_share") or 0),
        }
        for row in rows
    ]
