"""Rules of enrollment: the application's state machine (docs/design.md, section 5), who
may do what to an application, ages, co-payment consent, deadlines.

Plain Python only: no Nameko, no SQLAlchemy. operations.py applies these rules on a session;
the unit tests call them directly.

An application is two machines: its status (the table `_TRANSITIONS`, below) and its money
(`_MONEY_TRANSITIONS`: pending → reserved → contract, or → release_pending → released; none
on a waiting list, pending again when promoted). `move` answers what a status move does —
the seat step, the money, the deadline, the promotion, the event — as data, and
operations._move carries it out.

    requested ─► awaiting_provider ─► enrolled ─► completed   (the group ended: seat freed)
       │  │             │                 └────► terminated  (seat kept to effective_end_date)
       │  └► waitlisted ┘ (seat freed → promoted, first come first served)
       └──────────┴──► rejected | cancelled | expired

A terminated enrollment keeps its status from the decision on and carries the date it takes
effect; the child attends until then, so its seat is given back (and the waiting list
promoted) only once that date has passed (`seat_due_back`), by the enrollment's sweep.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from contracts.ages import age_on
from contracts.enrollment import (  # noqa: F401 - the statuses, re-exported for the rules' users
    AWAITING_PROVIDER,
    CANCELLED,
    COMPLETED,
    ENROLLED,
    EXPIRED,
    FINAL,
    LIVE,
    REJECTED,
    REQUESTED,
    STATUSES,
    TERMINATED,
    WAITLISTED,
    CapacityBelowOccupied,
)
from contracts.refusals import (  # noqa: F401 - raised here
    Conflicting,
    InvalidField,
    TransitionRefused,
)
from contracts.roles import MUNICIPAL_OPERATOR, PARENT, PROVIDER, REGIONAL_OPERATOR
from contracts.transitions import StateMachine
from contracts.transitions import transition as machine_transition

_TRANSITIONS: dict[str, tuple[str, ...]] = {
    REQUESTED: (AWAITING_PROVIDER, WAITLISTED, REJECTED, CANCELLED, EXPIRED),
    WAITLISTED: (AWAITING_PROVIDER, REJECTED, CANCELLED, EXPIRED),
    AWAITING_PROVIDER: (ENROLLED, REJECTED, CANCELLED, EXPIRED),
    ENROLLED: (COMPLETED, TERMINATED),
    COMPLETED: (),
    TERMINATED: (),
    REJECTED: (),
    CANCELLED: (),
    EXPIRED: (),
}

# what happens to the seat and the reservation when an application reaches a status
FREES_SEAT = (REJECTED, CANCELLED, EXPIRED, COMPLETED)  # at once
KEEPS_SEAT_UNTIL_EFFECTIVE_END = (TERMINATED,)  # the child attends to the month's end
PROMOTES_ON_FREE = (REJECTED, CANCELLED, EXPIRED)  # a completed group has nobody to promote
RELEASES_RESERVATION = (REJECTED, CANCELLED, EXPIRED)  # never a contract: enrollment releases

# the money of an application that never held any: a waiting list reserves nothing, money
# is reserved when a seat is held (at the application, or at the promotion)
NO_MONEY = "none"

DECISION_DAYS = 5


APPLICATION = StateMachine("application", _TRANSITIONS)


def allowed(current: str) -> tuple[str, ...]:
    if current not in _TRANSITIONS:
        raise ValueError(f"unknown enrollment status {current!r}")
    return APPLICATION.allowed(current)


def transition(current: str, target: str) -> bool:
    """True when the application must move from ``current`` to ``target``; False when it is
    already there (a replayed command or message changes nothing); TransitionRefused when
    the machine does not allow it (contracts.transitions: the one check every service uses)."""
    allowed(current)  # an unknown status is a programming error, not a refusal
    return machine_transition(APPLICATION, current, target)


# --- the money of an application: its own state machine ---------------------------------------

PENDING = "pending"  # the saga's money step is to do (at the application, at a promotion)
RESERVED = "reserved"  # the certificate's share is reserved for it
RELEASE_PENDING = "release_pending"  # closed: its reservation is to be given back
RELEASED = "released"  # given back
CONTRACT = "contract"  # enrolled: payments owns the money from the contract on
MONEY_STATES = (PENDING, RESERVED, RELEASE_PENDING, RELEASED, CONTRACT, NO_MONEY)

_MONEY_TRANSITIONS: dict[str, tuple[str, ...]] = {
    PENDING: (RESERVED, NO_MONEY, RELEASE_PENDING),
    # to pending: promoted from a waiting list joined before a waiting list held no money
    RESERVED: (CONTRACT, RELEASE_PENDING, PENDING),
    NO_MONEY: (PENDING,),  # a waiter promoted: its money is reserved now
    RELEASE_PENDING: (RELEASED,),
    # closing an application gives back whatever certificates holds for it, even when it
    # believed that done (the release is idempotent there): a repair, never a double refund
    RELEASED: (RELEASE_PENDING,),
    CONTRACT: (),
}


MONEY = StateMachine("money", _MONEY_TRANSITIONS)


def money_transition(current: str, target: str) -> bool:
    """The money's move, as `transition` is the status's: True to move, False when already
    there (a replay), TransitionRefused when the table does not allow it."""
    if current not in _MONEY_TRANSITIONS or target not in _MONEY_TRANSITIONS:
        raise ValueError(f"unknown money state {current!r} -> {target!r}")
    return machine_transition(MONEY, current, target)


@dataclass(frozen=True)
class Move:
    """What a status move does, as data (operations._move carries it out on the session):
    the new status and money, the seat step (`confirm`, `release` or none), whether the
    application holds a seat after it, the decision deadline (`set`, `clear`, `keep`), whether
    a termination's last day is to be fixed, whether the freed seat promotes the waiting list,
    and the event it announces (None: none; `enrollment_requested` after a waiting list is
    told apart from `enrollment_promoted` by the caller, which knows the history)."""

    status: str
    money: str
    seat: str | None
    seat_held: bool
    decide_by: str
    fixes_effective_end: bool
    promotes: bool
    event: str | None


EVENT_OF = {
    AWAITING_PROVIDER: "enrollment_requested",
    WAITLISTED: "enrollment_waitlisted",
    ENROLLED: "enrollment_confirmed",
    REJECTED: "enrollment_rejected",
    CANCELLED: "enrollment_cancelled",
    EXPIRED: "enrollment_expired",
    TERMINATED: "enrollment_terminated",
    COMPLETED: "enrollment_completed",
}


def move(current: str, target: str, *, seat_held: bool, money: str) -> Move | None:
    """The effects of moving an application from `current` to `target` (holding a seat or
    not, with its money in state `money`); None for a replay; TransitionRefused when either
    machine refuses the move."""
    if not transition(current, target):
        return None
    new_money, seat, held, decide_by = money, None, seat_held, "keep"
    fixes_end = promotes = False
    if target == AWAITING_PROVIDER:
        decide_by = "set"
    elif target == ENROLLED:
        seat, new_money, decide_by = "confirm", CONTRACT, "clear"
    elif target in KEEPS_SEAT_UNTIL_EFFECTIVE_END:
        decide_by, fixes_end = "clear", True
    elif target in FREES_SEAT:
        decide_by = "clear"
        if seat_held:
            seat, held, promotes = "release", False, target in PROMOTES_ON_FREE
        if target in RELEASES_RESERVATION and money != NO_MONEY:
            new_money = RELEASE_PENDING
    money_transition(money, new_money)
    return Move(target, new_money, seat, held, decide_by, fixes_end, promotes, EVENT_OF.get(target))


# --- the application, a plain object -------------------------------------------------------


@dataclass(frozen=True)
class Application:
    """An application as the rules and the saga see it: a plain value, read from its row and
    written back by store.py (the one place a row becomes an Application and an Application
    an UPDATE). A move answers a new Application (`moved`, `with_money`); nothing here
    touches a session."""

    id: str
    child_id: int
    parent_id: int
    group_id: int
    program_id: int
    organization_id: int
    organization_municipality: str
    child_municipality: str
    child_birth_date: date | None
    status: str
    arrival: int
    seat_held: bool
    accept_copay: bool
    start_date: date
    end_date: date
    terms: dict
    period_id: int | None
    certificate_number: str | None
    money: str
    reason: str | None
    decide_by: datetime | None
    effective_end_date: date | None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def parties(self) -> Parties:
        return Parties(
            parent_id=self.parent_id,
            organization_id=self.organization_id,
            organization_municipality=self.organization_municipality,
            child_municipality=self.child_municipality,
        )

    @property
    def on_waiting_list(self) -> bool:
        return not self.seat_held and self.status in (REQUESTED, WAITLISTED)

    @property
    def promotion_in_flight(self) -> bool:
        """A waiter given a seat whose money is still to be reserved."""
        return self.status == WAITLISTED and self.seat_held and self.money == PENDING

    def with_money(self, target: str) -> Application:
        """The money's own machine (`money_transition`): a wrong move raises."""
        money_transition(self.money, target)
        return replace(self, money=target)

    def moved(
        self,
        change: Move,
        *,
        reason: str | None,
        decide_by: datetime | None,
        effective_end_date: date | None,
    ) -> Application:
        """The application after `change` (domain.move's answer): status, money, seat, the
        reason, the deadline (`decide_by` is the new one when the move sets it) and a
        termination's last day (when the move fixes it)."""
        deadline = {"set": decide_by, "clear": None}.get(change.decide_by, self.decide_by)
        return replace(
            self,
            status=change.status,
            reason=reason,
            seat_held=change.seat_held,
            money=change.money,
            decide_by=deadline,
            effective_end_date=(
                effective_end_date if change.fixes_effective_end else self.effective_end_date
            ),
        )


@dataclass(frozen=True)
class Group:
    """A group as enrollment knows it (its row in `groups`): the catalog's facts and the seat
    counters."""

    id: int
    program_id: int
    organization_id: int
    organization_municipality: str
    organization_status: str
    program_status: str
    direction: str
    registry_code: str
    certified: bool
    schedule: list
    start_date: date
    end_date: date
    min_age: int
    max_age: int
    price_kopecks: int
    normative_cost_kopecks: int
    enrollment_open: bool
    capacity: int
    held: int
    enrolled: int
    seats_version: int

    @property
    def applicable(self) -> bool:
        """Its program published and its organization active: else it is not found."""
        return self.program_status == "published" and self.organization_status == "active"


def after_seat_step(seat_held: bool) -> str:
    """Where a requested application goes once its money is reserved."""
    return AWAITING_PROVIDER if seat_held else WAITLISTED


# --- seats ----------------------------------------------------------------------------------


def free_seats(capacity: int, held: int, enrolled: int) -> int:
    """Seats still open to a new application: capacity minus held and enrolled, never < 0."""
    return max(0, capacity - held - enrolled)


@dataclass(frozen=True)
class Seating:
    """Who holds a group's seats and who waits, each in arrival order."""

    seated: tuple
    waiting: tuple


def seating(capacity: int, arrivals: Sequence, left: Collection = ()) -> Seating:
    """Seat allocation, the rule the seat SQL carries out (operations.open_application,
    operations.promote, store.py): of the applications to a group in arrival order, those that
    have not left it (cancelled, rejected, expired, refused at their promotion: each freed
    seat went to the first on the list) hold the first `capacity` seats, the rest wait in
    arrival order. However the arrivals and the leavings interleave, this is where they end:
    a freed seat always goes to the earliest arrival still waiting, and a later arrival never
    passes one that waits (tests/unit/test_enrollment_domain.py replays interleavings; the
    integration tests check the database against it under concurrency)."""
    if capacity < 0:
        raise ValueError(f"capacity {capacity} < 0")
    if len(set(arrivals)) != len(arrivals):
        raise ValueError("an application arrives once")
    staying = tuple(a for a in arrivals if a not in set(left))
    return Seating(seated=staying[:capacity], waiting=staying[capacity:])


def check_capacity(new_capacity: int, held: int, enrolled: int) -> None:
    """A provider may lower a group's capacity only down to the seats already taken, so
    nobody holding or occupying a seat loses it."""
    if new_capacity < held + enrolled:
        raise CapacityBelowOccupied(new_capacity, held + enrolled)


# --- dates --------------------------------------------------------------------------------


def decision_deadline(since: datetime, days: int = DECISION_DAYS) -> datetime:
    """The provider decides within ``days`` of the seat being held, or the application expires."""
    return since + timedelta(days=days)


def is_overdue(status: str, decide_by: datetime | None, now: datetime) -> bool:
    return status == AWAITING_PROVIDER and decide_by is not None and decide_by <= now


def decides_tomorrow(status: str, decide_on: date | None, today: date) -> bool:
    """An application still before the provider whose decide-by falls on the region's next
    day (`decide_on`, the region's date of `decide_by`): its parent is told it may lapse and
    it goes in the organization's digest of decisions due tomorrow."""
    return status == AWAITING_PROVIDER and decide_on == today + timedelta(days=1)


def by_organization(applications: Sequence) -> dict[int, list]:
    """Applications (anything with `organization_id`) grouped per organization, in order."""
    grouped: dict[int, list] = {}
    for application in applications:
        grouped.setdefault(application.organization_id, []).append(application)
    return grouped


def end_of_month(day: date) -> date:
    """A termination takes effect at the end of the month it is asked in."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def termination_end(today: date, contract_end: date) -> date:
    """The last day of a terminated enrollment: the end of the month it is asked in (``today``
    in the region's calendar), or the contract's own end when that comes first."""
    return min(end_of_month(today), contract_end)


def eighteenth_birthday(birth_date: date) -> date:
    """The day the child turns 18 (born on 29 February: 28 February in a common year)."""
    return (
        birth_date.replace(year=birth_date.year + 18)
        if not (birth_date.month == 2 and birth_date.day == 29)
        else date(birth_date.year + 18, 3, 1) - timedelta(days=1)
    )


def aged_out_end(birth_date: date | None, contract_end: date, today: date) -> date | None:
    """A child who turned 18 by ``today`` (financing ends with the certificate) leaves at the
    end of the month of the 18th birthday; None when that is not before the contract's own end
    or the birthday has not come."""
    if birth_date is None:
        return None
    birthday = eighteenth_birthday(birth_date)
    end = end_of_month(birthday)
    return end if birthday <= today and end < contract_end else None


def shortened_end(contract_end: date, group_end: date) -> date | None:
    """A group whose end moved earlier ends its contracts there; None when it did not."""
    return group_end if group_end < contract_end else None


def seat_due_back(
    status: str, seat_held: bool, effective_end_date: date | None, today: date
) -> bool:
    """A terminated enrollment gives its seat back once its last day has passed."""
    return (
        status == TERMINATED
        and seat_held
        and effective_end_date is not None
        and effective_end_date < today
    )


def has_ended(status: str, group_end: date, today: date) -> bool:
    """An enrollment completes once its group's last day has passed."""
    return status == ENROLLED and group_end < today


def promotes_after_release(group_end: date, today: date) -> bool:
    """A seat given back promotes the waiting list only while the group still runs."""
    return today <= group_end


def check_age(birth_date: date, start_date: date, min_age: int, max_age: int) -> None:
    """The child's age on the first day of study must fit the group."""
    age = age_on(birth_date, start_date) if birth_date <= start_date else -1
    if not min_age <= age <= max_age:
        raise InvalidField(
            "child_id",
            f"Группа для детей {min_age}–{max_age} лет, ребёнку на начало занятий {max(age, 0)}",
            "age_mismatch",
        )


def check_start(start: date, today: date) -> None:
    """A contract never starts before it is concluded: a start before the application's day
    (the region's business day) would bill months the child never attended."""
    if start < today:
        raise InvalidField(
            "start_date",
            f"Дата начала не может быть раньше дня подачи заявки ({today.isoformat()})",
            "start_in_past",
        )


def first_day(group_start: date, group_end: date, today: date) -> date:
    """The first day the child can attend: today, or the group's start if later (never past
    the group's end, where the terms refuse it)."""
    return min(max(group_start, today), group_end)


def promoted_start(asked: date, group_start: date, group_end: date, today: date) -> date:
    """A waitlisted application promoted on ``today`` starts then (or on the day the parent
    asked for, if later): its terms are computed again from that day."""
    return max(asked, first_day(group_start, group_end, today))


def check_open(enrollment_open: bool) -> None:
    if not enrollment_open:
        raise InvalidField("group_id", "Набор в группу закрыт", "enrollment_closed")


def check_copay(copay: int, accept_copay: bool) -> None:
    """A co-payment is never charged without the parent's consent: refuse, change nothing."""
    if copay > 0 and not accept_copay:
        raise InvalidField(
            "accept_copay",
            "Сертификат покрывает не всю стоимость: нужно согласие на доплату",
            "copay_not_accepted",
        )


# --- who may do what ----------------------------------------------------------------------


@dataclass(frozen=True)
class Parties:
    """Whose application it is: the child's parent, the group's organization and the
    municipalities of the organization and of the child."""

    parent_id: int
    organization_id: int
    organization_municipality: str
    child_municipality: str


def sees(principal: Mapping[str, object] | None, parties: Parties) -> bool:
    """Internal callers (None) see everything; a parent their children's applications; a
    provider its organization's; a municipal operator those of its municipality (of the
    organization or of the child); the regional operator all."""
    if principal is None:
        return True
    role = principal.get("role")
    if role == PARENT:
        return principal.get("user_id") == parties.parent_id
    if role == PROVIDER:
        return principal.get("organization_id") == parties.organization_id
    if role == MUNICIPAL_OPERATOR:
        return principal.get("municipality_code") in (
            parties.organization_municipality,
            parties.child_municipality,
        )
    return role == REGIONAL_OPERATOR


def may(principal: Mapping[str, object] | None, action: str, parties: Parties) -> bool:
    """confirm / reject: the group's provider; cancel: the parent; terminate: either."""
    if principal is None:
        return True
    role = principal.get("role")
    is_parent = role == PARENT and principal.get("user_id") == parties.parent_id
    is_provider = role == PROVIDER and principal.get("organization_id") == parties.organization_id
    if action in ("confirm", "reject"):
        return is_provider
    if action == "cancel":
        return is_parent
    if action == "terminate":
        return is_parent or is_provider
    raise ValueError(f"unknown action {action!r}")


ACTION_TARGET = {
    "confirm": ENROLLED,
    "reject": REJECTED,
    "cancel": CANCELLED,
    "terminate": TERMINATED,
}
