"""The work of enrollment in one transaction of its own database: an application's seat and
status change together, with its events in the outbox. The rules are domain.py's and work on
the plain `domain.Application`; every statement is store.py's (none is written here); the
transactions are the saga's (saga.transaction), none commits here.

Lock order, everywhere: the group's row first, then the application's, so two decisions on
one group never deadlock; the group lock also makes arrival order exact.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from contracts import cost
from contracts.refusals import Refusal
from servicekit import clock, config
from servicekit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    refusals_as_rpc_errors,
    rpc_error,
)
from servicekit.money import format_kopecks
from servicekit.outbox import emit
from servicekit.rpc import deadline_passed
from services.enrollment import domain, store
from services.enrollment.domain import Application, Group
from services.enrollment.event_schemas import DATA_SCHEMAS

BUDGET_REGISTRIES = ("significant", "pre_professional", "general")
# first pass of the terms, before the certificate's balance is known: no cap from it
UNCAPPED = 10**15
# an application is opened only this long before its caller's deadline at the latest: the
# answer must still reach the caller
DEADLINE_MARGIN_SECONDS = 0.25


def decision_days() -> float:
    return float(config.env("ENROLLMENT_DECISION_DAYS", str(domain.DECISION_DAYS)))


# --- groups and money terms ---------------------------------------------------------------


def group_row(session: Session, group_id: int, lock: bool = False) -> Group:
    """The group as enrollment knows it (groups.py), locked for a seat step when `lock`;
    NotFound unless its program is published and its organization active."""
    group = store.group(session, group_id, lock=lock)
    if group is None or not group.applicable:
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


class ReleaseFirst(Exception):
    """The child's closed applications still hold money (a compensation whose release
    failed): it is given back before this application's money is judged, so the parent's
    own money does not refuse its retry. Raised before anything is written."""

    def __init__(self, abandoned: list[str]):
        super().__init__(f"release first: {abandoned}")
        self.abandoned = abandoned


class OpenedMeanwhile(Exception):
    """Another attempt of the same operation opened its application while this one waited
    for the group's lock: the caller's rollback gives back what this attempt took, and the
    operation answers that application."""

    def __init__(self, enrollment_id: str):
        super().__init__(f"opened meanwhile: {enrollment_id}")
        self.enrollment_id = enrollment_id


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
    release_first: bool = True,
) -> tuple[Application, Group | None]:
    """Step 1, one transaction: the application is recorded in arrival order and holds a seat
    if one is free (else it waits on the list). Nothing is published yet: the application
    is announced when its money is settled (finish_application). Answers the application and
    its group; the group is None when the application is one an earlier attempt opened.

    `enrollment_id` is the operation's identity (the gateway derives it from the request's
    Idempotency-Key; `repeatable`): an application of that id opened already, by an attempt
    whose answer was lost, is answered as it is, never opened twice (found by the first
    read; one opened while this attempt waited for the group's lock: OpenedMeanwhile, from
    the insert that meets it). `release_first`: the child's closed applications still
    holding money are given back first (ReleaseFirst). Past `deadline` (epoch seconds: the
    caller has answered 503 by then) nothing is opened (503 `deadline_passed`)."""
    # one statement, before the group's lock: this operation's application, if an attempt
    # opened it, and the child's closed applications whose money is still to be given back
    found = store.prior(session, enrollment_id if repeatable else None, child["id"])
    same = _same_request(next((a for a in found if a.id == enrollment_id), None), child, group_id)
    if same is not None:
        return same, None
    abandoned = [a.id for a in found if a.money == domain.RELEASE_PENDING]
    if abandoned and release_first:
        raise ReleaseFirst(abandoned)
    group = group_row(session, group_id, lock=True)
    if deadline is not None and time.time() > deadline - DEADLINE_MARGIN_SECONDS:
        raise deadline_passed()  # nothing opened: the caller has been answered 503
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
    seat_held = store.hold_seat(session, group.id, enrollment_id)
    # One statement: the arrival number (taken under the group's lock, so in arrival order),
    # the row and its first history line. A unique index refuses a second live application
    # of the child to the group, and the id another attempt of this operation took; the
    # caller's rollback then gives the seat back.
    application = store.insert_application(
        session,
        actor=f"user:{child['parent_id']}",
        id=enrollment_id,
        child_id=child["id"],
        parent_id=child["parent_id"],
        group_id=group.id,
        program_id=group.program_id,
        organization_id=group.organization_id,
        organization_municipality=group.organization_municipality,
        child_municipality=child["municipality_code"],
        child_birth_date=date.fromisoformat(child["birth_date"]),
        status=domain.REQUESTED,
        seat_held=seat_held,
        accept_copay=accept_copay,
        start_date=start,
        end_date=date.fromisoformat(terms["end_date"]),
        terms=terms,
        period_id=period["id"],
        money=domain.PENDING,
    )
    if application is None:
        if repeatable and _same_request(store.application(session, enrollment_id), child, group_id):
            raise OpenedMeanwhile(enrollment_id)
        existing = store.place_of(session, child["id"], group_id)
        raise Conflict(
            "Ребёнок уже подал заявку в эту группу",
            code="already_applied",
            extra={"enrollment_id": existing} if existing else {},
        )
    return application, group


def _same_request(enrollment: Application | None, child: dict, group_id: int):
    """The application of this operation; the same key for another child or group is
    refused."""
    if enrollment is not None and (
        enrollment.child_id != child["id"] or enrollment.group_id != group_id
    ):
        raise InvalidInput(
            "Idempotency-Key was already used for a different request",
            code="idempotency_key_reused",
        )
    return enrollment


def capped_terms(session: Session, application: Application, available: int, periods) -> dict:
    """The terms again once the certificate's balance is known (it caps the share)."""
    group = group_row(session, application.group_id)
    period = next(p for p in periods if p["id"] == application.period_id)
    return terms_of(group, period, application.start_date, available)


def finish_application(
    session: Session, enrollment_id: str, reserved: dict, terms: dict, now: datetime
) -> Application:
    """Step 3, one transaction: the money is reserved; the application goes before the
    provider (seat held) or on the waiting list. A replay changes nothing."""
    stored = store.locked(session, enrollment_id)
    if stored is None:
        raise NotFound("Заявка не найдена", code="enrollment_not_found")
    if stored.money != domain.PENDING:
        return stored
    application = replace(
        stored,
        terms=terms,
        certificate_number=reserved.get("certificate_number"),
        # the payer is the certificate's municipality
        child_municipality=reserved.get("municipality_code") or stored.child_municipality,
    )
    application = _with_money(application, domain.RESERVED)
    target = domain.after_seat_step(application.seat_held)
    return _move(session, application, target, "system", now=now, from_request=True,
                 stored=stored)  # fmt: skip


def finish_waiting(session: Session, enrollment_id: str, now: datetime) -> Application | None:
    """Step 3 of an application that found no seat: it waits on the list holding no money
    (a waiting list reserves nothing). None when a seat was given to it meanwhile (the
    caller reserves then); a replay changes nothing."""
    store.lock_group_of(session, enrollment_id)
    stored = store.locked(session, enrollment_id)
    if stored is None:
        raise NotFound("Заявка не найдена", code="enrollment_not_found")
    if stored.money != domain.PENDING:
        return stored
    if stored.seat_held:
        return None
    application = _with_money(stored, domain.NO_MONEY)
    return _move(session, application, domain.WAITLISTED, "system", now=now, from_request=True,
                 stored=stored)  # fmt: skip


def promotion_terms(
    group: Group, application: Application, periods: list[dict], today: date, available: int
) -> tuple[date, dict, dict]:
    """The terms of a promoted application, from the day of its promotion (or the start the
    parent asked for, if later): the start, its period and the money terms."""
    start = domain.promoted_start(application.start_date, group.start_date, group.end_date, today)
    period = period_of(periods, start)
    return start, period, terms_of(group, period, start, available)


def finish_promotion(
    session: Session,
    enrollment_id: str,
    *,
    start: date,
    period_id: int,
    terms: dict,
    reserved: dict,
    now: datetime,
) -> Application | None:
    """The promoted application's money is reserved on its new terms: it goes before the
    provider. None when it is no longer a promotion in flight (a replay)."""
    store.lock_group_of(session, enrollment_id)
    stored = store.locked(session, enrollment_id)
    if not promotion_in_flight(stored):
        return None
    application = replace(
        stored,
        start_date=start,
        end_date=date.fromisoformat(terms["end_date"]),
        period_id=period_id,
        terms=terms,
        certificate_number=reserved.get("certificate_number"),
    )
    application = _with_money(application, domain.RESERVED)
    return _move(session, application, domain.AWAITING_PROVIDER, "system", now=now,
                 stored=stored)  # fmt: skip


def refuse_promotion(
    session: Session, enrollment_id: str, reason: str, now: datetime
) -> Application | None:
    """The money is no longer there (or a co-payment the parent did not accept is now due):
    the application leaves the list, cancelled with the reason, and its seat goes to the next
    in line (whose money the caller reserves in turn)."""
    store.lock_group_of(session, enrollment_id)
    stored = store.locked(session, enrollment_id)
    if not promotion_in_flight(stored):
        return None
    application = _with_money(stored, domain.NO_MONEY)  # nothing was reserved
    return _move(session, application, domain.CANCELLED, "system", reason=reason, now=now,
                 stored=stored)  # fmt: skip


def promotion_in_flight(application: Application | None) -> bool:
    return application is not None and application.promotion_in_flight


def withdraw(session: Session, enrollment_id: str, now: datetime) -> None:
    """Compensation of step 1 when step 2 refused (nothing was reserved): the application
    never was; its seat, if it held one, goes to the first on the waiting list."""
    if store.lock_group_of(session, enrollment_id) is None:
        return
    application = store.locked(session, enrollment_id)
    if application is None or application.money != domain.PENDING:
        return  # settled meanwhile: not ours to undo
    if application.seat_held:
        store.release_seat(session, application.group_id, application.id)
    store.delete_application(session, application.id)
    if application.seat_held:
        promote(session, application.group_id, now)


def abandon(session: Session, enrollment_id: str, reason: str, now: datetime) -> None:
    """Compensation when the money step failed for another reason (a service down, a refusal
    found by the recovery): the application is cancelled and whatever was reserved released."""
    _decide_locked(session, enrollment_id, domain.CANCELLED, "system", reason, now)


# --- decisions -----------------------------------------------------------------------------


def visible(session: Session, principal: dict | None, enrollment_id: str) -> Application:
    application = store.application(session, enrollment_id)
    if application is None or not domain.sees(principal, application.parties):
        raise NotFound("Заявка не найдена", code="enrollment_not_found")
    return application


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


def confirmable(principal: dict | None, application: Application) -> bool:
    """The provider may enroll this application now (its child's data gets verified first)."""
    return (
        domain.may(principal, "confirm", application.parties)
        and application.status == domain.AWAITING_PROVIDER
    )


def decide(
    session: Session,
    principal: dict | None,
    enrollment_id: str,
    action: str,
    reason: str | None,
    now: datetime,
) -> Application:
    """confirm / reject (the provider), cancel (the parent), terminate (either)."""
    application = visible(session, principal, enrollment_id)
    if not domain.may(principal, action, application.parties):
        raise Forbidden("Это решение принимает не вы", code="not_allowed")
    actor = f"user:{principal['user_id']}" if principal else "system"
    return _decide_locked(session, application.id, domain.ACTION_TARGET[action], actor, reason, now)


def _decide_locked(
    session: Session, enrollment_id: str, target: str, actor: str, reason, now: datetime
) -> Application:
    group = store.lock_group_of(session, enrollment_id)
    application = store.locked(session, enrollment_id)
    if application.money == domain.PENDING and actor != "system":
        raise Conflict(
            "Заявка ещё оформляется, повторите через несколько секунд",
            code="application_in_progress",
        )
    return _move(session, application, target, actor, reason=reason, now=now, group=group)


def _move(
    session: Session,
    application: Application,
    target: str,
    actor: str,
    *,
    now: datetime,
    reason: str | None = None,
    from_request: bool = False,
    effective_end: date | None = None,
    stored: Application | None = None,
    group: Group | None = None,
) -> Application:
    """Carry out `domain.move` (the effects of the move, as data) on the locked application:
    its seat step, money, deadline, history and event, and the promotion its freed seat
    makes. `stored`: the application as its row stands, when the caller changed it before
    the move (one UPDATE writes both); `group`: its group's facts, if the caller read them.
    Answers the application after the move."""
    stored = stored or application
    try:
        change = domain.move(
            application.status, target, seat_held=application.seat_held, money=application.money
        )
    except Refusal as error:
        raise rpc_error(error) from error
    if change is None:  # a replay: already there
        return store.save(session, stored, application)
    if change.seat == "confirm":
        store.confirm_seat(session, application.group_id, application.id)
    elif change.seat == "release":
        store.release_seat(session, application.group_id, application.id)
    after = application.moved(
        change,
        reason=reason,
        decide_by=domain.decision_deadline(now, decision_days()),
        # the child attends to the end of the month: the sweep gives the seat back after it
        effective_end_date=effective_end
        or domain.termination_end(clock.region_date(now), application.end_date),
    )
    store.save(session, stored, after)
    store.add_history(session, after.id, after.status, actor, reason)
    _announce(session, after, change, from_request, group)
    if change.promotes:
        promote(session, after.group_id, now)
    return after


def _with_money(application: Application, target: str) -> Application:
    """The money's own machine (domain.money_transition): a wrong move raises."""
    with refusals_as_rpc_errors():
        return application.with_money(target)


def promote(session: Session, group_id: int, now: datetime) -> list[Application]:
    """Every free seat of the group goes to the first application on its waiting list
    (the caller holds the group's lock); the seat is held, the money comes next."""
    promoted = []
    while True:
        candidate = store.first_waiting(session, group_id)
        if candidate is None or not store.hold_seat(session, group_id, candidate.id):
            return promoted
        application = replace(candidate, seat_held=True)
        if candidate.status == domain.WAITLISTED:
            # its money is reserved now, on terms from today (saga.promote_due, right after
            # this commit); it goes before the provider once that is done
            application = _with_money(application, domain.PENDING)
        # a requested one (money step in flight) reserves and goes before the provider when
        # its step finishes
        promoted.append(store.save(session, candidate, application))


def expire(session: Session, enrollment_id: str, now: datetime) -> Application | None:
    """An application the provider left undecided past its deadline expires (re-checked
    under the locks: a decision that came first wins)."""
    application = store.application(session, enrollment_id)
    if application is None or not domain.is_overdue(application.status, application.decide_by, now):
        return None
    return _decide_locked(
        session, enrollment_id, domain.EXPIRED, "system", "no_decision_in_time", now
    )


# --- the calendar: decisions due tomorrow ------------------------------------------------


def announce_deadlines(session: Session, today: date) -> dict:
    """The applications before the provider whose decide-by falls on the region's next day:
    `application_expiring` for each (to its parent) and `decisions_due_tomorrow` for each
    organization (its staff's digest), each once per day (deadline_notices), in the caller's
    transaction. Answers how many of each were emitted now."""
    tomorrow = today + timedelta(days=1)
    candidates = store.deciding_on(session, tomorrow)
    due = [
        e for e in candidates
        if domain.decides_tomorrow(e.status, clock.region_date(e.decide_by), today)
    ]  # fmt: skip
    expiring = digests = 0
    for enrollment in due:
        if store.claim_notice(session, "application_expiring", str(enrollment.id), tomorrow):
            data = event_data(session, enrollment, "application_expiring")
            emit(session, "application_expiring", DATA_SCHEMAS["application_expiring"].dump(data))
            expiring += 1
    for organization_id, applications in domain.by_organization(due).items():
        claimed = store.claim_notice(
            session, "decisions_due_tomorrow", str(organization_id), tomorrow
        )
        if not claimed:
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


def give_back_seat(
    session: Session, enrollment_id: str, today: date, now: datetime
) -> Application | None:
    """A terminated enrollment's last day has passed: its seat goes back to the group and, while
    the group still runs, to the first on its waiting list (re-checked under the locks; a
    repeat changes nothing)."""
    group = store.lock_group_of(session, enrollment_id)
    stored = store.locked(session, enrollment_id)
    if stored is None or not domain.seat_due_back(
        stored.status, stored.seat_held, stored.effective_end_date, today
    ):
        return None
    store.release_seat(session, stored.group_id, stored.id)
    application = store.save(session, stored, replace(stored, seat_held=False))
    store.add_history(
        session, application.id, application.status, "system", "seat_freed_after_effective_end"
    )
    if domain.promotes_after_release(group.end_date, today):
        promote(session, application.group_id, now)
    return application


def complete(
    session: Session, enrollment_id: str, today: date, now: datetime
) -> Application | None:
    """The group ended: the enrollment is completed, its seat freed (nobody is promoted into an
    ended group), `enrollment_completed` in the outbox. Re-checked under the locks."""
    group = store.lock_group_of(session, enrollment_id)
    application = store.locked(session, enrollment_id)
    if application is None or not domain.has_ended(application.status, group.end_date, today):
        return None
    return _move(session, application, domain.COMPLETED, "system", reason="group_ended",
                 now=now, group=group)  # fmt: skip


def aged_out(session: Session, today: date, limit: int = 100) -> list[str]:
    """Enrolled children who have turned 18 (the rule re-checks each: a contract that ends
    by itself in the birthday's month is left to end)."""
    rows = store.aged_out_candidates(session, today, limit)
    return [str(r.id) for r in rows if domain.aged_out_end(r.child_birth_date, r.end_date, today)]


def end_early(session: Session, enrollment_id: str, today: date, now: datetime):
    """An enrollment ends before its contract's end: at the end of the month of the child's
    18th birthday (`turned_18`) or at its group's new, earlier end (`group_shortened`),
    whichever comes first; `enrollment_terminated` carries that day and payments releases the
    months after it. Re-checked under the locks; a repeat changes nothing."""
    group = store.lock_group_of(session, enrollment_id)
    enrollment = store.locked(session, enrollment_id)
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
    return _move(session, enrollment, domain.TERMINATED, "system", reason=reason, now=now,
                 effective_end=end, group=group)  # fmt: skip


def mark_released(session: Session, enrollment_id: str) -> None:
    stored = store.locked(session, enrollment_id)
    if stored is not None and stored.money == domain.RELEASE_PENDING:
        store.save(session, stored, _with_money(stored, domain.RELEASED))


# --- history, events, views ----------------------------------------------------------------


def waitlist_position(session: Session, application: Application) -> int | None:
    if not application.on_waiting_list:
        return None
    return store.waiting_ahead(session, application.group_id, application.arrival) + 1


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


def event_data(
    session: Session, enrollment: Application, event_type: str, group: Group | None = None
) -> dict:
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
        group = group or store.group(session, enrollment.group_id)
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
    session: Session,
    enrollment: Application,
    change: domain.Move,
    from_request: bool = False,
    group: Group | None = None,
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
        waited = store.was_waitlisted(session, enrollment.id)
        event_type = "enrollment_promoted" if waited else "enrollment_requested"
    if event_type:
        data = DATA_SCHEMAS[event_type].dump(event_data(session, enrollment, event_type, group))
        emit(session, event_type, data)


def view(session: Session, enrollment: Application, with_history: bool = True) -> dict:
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
        rows = store.history(session, enrollment.id)
        shown["history"] = [
            {"status": r.status, "at": r.at.isoformat(), "actor": r.actor, "reason": r.reason}
            for r in rows
        ]
    return shown


def listing(session: Session, principal: dict, *, limit: int, offset: int, **filters) -> dict:
    """A page of the applications the principal may list (`filters`: status, group_id,
    child_id; store.listing), as views without their history."""
    total, rows = store.listing(session, principal, limit=limit, offset=offset, **filters)
    items = [view(session, row, with_history=False) for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def count_by_status(session: Session, municipality_code: str | None) -> dict[str, int]:
    """Applications by their current status (every status, 0 when none), of the children of
    a municipality (the payer, as in payments' reports) or of the region when the code is
    None. Read-only, for payments' reports."""
    counted = store.count_by_status(session, municipality_code)
    return {status: int(counted.get(status, 0)) for status in domain.STATUSES}


def money_states(session: Session, after: str | None, limit: int) -> list[dict]:
    """A page of applications by id: status, money state (pending, reserved, release_pending,
    released, contract) and certificate share in kopecks. Read-only, for audit-ledger."""
    limit = max(1, min(int(limit), 10_000))
    rows = store.money_states(session, after, limit)
    return [
        {
            "enrollment_id": str(row.id),
            "status": row.status,
            "money": row.money,
            "share": int((row.terms or {}).get("certificate_share") or 0),
        }
        for row in rows
    ]


# --- seats: a new capacity ---------------------------------------------------------------


def set_capacity(session: Session, group_id: int, capacity: int) -> dict:
    """The provider's new capacity (the catalog asks before it stores it): refused below the
    seats held and taken (409 `capacity_below_occupied`), under the group's lock. A group
    enrollment does not know yet holds no seat: nothing to refuse (its facts, capacity with
    them, come from the catalog when it is first needed). Answers the counts."""
    counts = store.locked_counts(session, group_id)
    if counts is None:
        return {"group_id": group_id, "capacity": capacity, "held": 0, "enrolled": 0,
                "free_seats": capacity, "version": 0}  # fmt: skip
    with refusals_as_rpc_errors():
        domain.check_capacity(capacity, counts["held"], counts["enrolled"])
    if capacity == counts["capacity"]:
        return counts
    return store.set_capacity(session, group_id, capacity)
