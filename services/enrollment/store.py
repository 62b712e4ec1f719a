"""Enrollment's SQL, all of it for applications, their history, seats, waiting lists and the
groups' facts (the repository): named functions on the caller's session, each one statement
unless it says otherwise, none of them committing (the saga's `transaction` blocks do).

A row becomes a `domain.Application` (or a `domain.Group`) here and nowhere else
(`_application`, `_group`), and an Application goes back as the UPDATE of the columns that
changed (`save`). SQLAlchemy's ORM classes (models.py) are only the tables' definitions: no
identity map, no lazy load, no flush at a distance — what runs is what is written below.

Lock order, everywhere: the group's row first, then the application's, so two decisions on
one group never deadlock; the group's lock also makes arrival order exact. A seat step
records `group_seats_changed` with the group's new counts in the outbox, in the caller's
transaction (the catalog's free seats follow them); it is idempotent per (group, holder),
and exact under concurrency: a hold is one conditional UPDATE of the group row (the row lock
and the re-check of `held + enrolled < capacity` serialize holders), and the database refuses
an overbooked group whatever the code does (a CHECK constraint on `groups`).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import fields
from datetime import date, datetime, timedelta

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.db import inserted_once
from servicekit.errors import NotFound
from servicekit.outbox import emit
from services.enrollment import domain
from services.enrollment.domain import Application, Group
from services.enrollment.event_schemas import DATA_SCHEMAS
from services.enrollment.models import (
    HOLDS_PLACE_SQL,
    DeadlineNotice,
    Enrollment,
    EnrollmentGroup,
    EnrollmentHistory,
    SeatHold,
    arrival_seq,
)

APPLICATIONS = Enrollment.__table__
GROUPS = EnrollmentGroup.__table__
HISTORY = EnrollmentHistory.__table__
HOLDS = SeatHold.__table__
A, G = APPLICATIONS.c, GROUPS.c

_APPLICATION_FIELDS = tuple(f.name for f in fields(Application))
_GROUP_FIELDS = tuple(f.name for f in fields(Group))
# the group's columns by the Group's field names (`registry` is `registry_code`)
_GROUP_SOURCES = tuple(
    (name, G.registry if name == "registry_code" else G[name]) for name in _GROUP_FIELDS
)
_GROUP_COLUMNS = tuple(column.label(name) for name, column in _GROUP_SOURCES)
# the same, named apart from the application's columns when both are read in one statement
_JOINED_GROUP_COLUMNS = tuple(column.label(f"g_{name}") for name, column in _GROUP_SOURCES)
_APPLICATION_COLUMNS = tuple(A[name] for name in _APPLICATION_FIELDS)


# The hot statements, built once with bind parameters: building a statement of twenty
# columns on every call, and computing its cache key, cost more than running it (issue 20).
_APPLICATION = select(*_APPLICATION_COLUMNS).where(A.id == bindparam("id", type_=A.id.type))
_LOCKED = _APPLICATION.with_for_update()
_WITH_GROUP = (
    select(*_APPLICATION_COLUMNS, *_JOINED_GROUP_COLUMNS)
    .join_from(APPLICATIONS, GROUPS, G.id == A.group_id)
    .where(A.id == bindparam("id", type_=A.id.type))
)
_PRIOR = select(*_APPLICATION_COLUMNS).where(
    ((A.child_id == bindparam("child_id", type_=A.child_id.type))
     & (A.money == domain.RELEASE_PENDING))
    | (A.id == bindparam("id", type_=A.id.type))
)  # fmt: skip
_ADD_HISTORY = insert(HISTORY).values(
    {name: bindparam(name, type_=HISTORY.c[name].type)
     for name in ("enrollment_id", "status", "actor", "reason")}
)  # fmt: skip
_HISTORY = (
    select(HISTORY.c.status, HISTORY.c.at, HISTORY.c.actor, HISTORY.c.reason)
    .where(HISTORY.c.enrollment_id == bindparam("enrollment_id", type_=A.id.type))
    .order_by(HISTORY.c.id)
)
_GROUP = select(*_GROUP_COLUMNS).where(G.id == bindparam("id", type_=G.id.type))
_LOCKED_GROUP = _GROUP.with_for_update()


# --- the boundary: rows in, UPDATE values out ----------------------------------------------


def _application(row) -> Application | None:
    if row is None:
        return None
    values = dict(row._mapping)
    values["id"] = str(values["id"])
    return Application(**{name: values[name] for name in _APPLICATION_FIELDS})


def _group(row) -> Group | None:
    if row is None:
        return None
    return Group(**{name: row._mapping[name] for name in _GROUP_FIELDS})


def _key(enrollment_id: str) -> uuid.UUID:
    return uuid.UUID(str(enrollment_id))


def save(session: Session, before: Application, after: Application) -> Application:
    """Write `after` back: one UPDATE of the columns that differ from `before` (none: no
    statement). The row's `updated_at` moves with it (the recovery's grace reads it)."""
    changed = {
        name: getattr(after, name)
        for name in _APPLICATION_FIELDS
        if name not in ("id", "created_at", "updated_at")
        and getattr(after, name) != getattr(before, name)
    }
    if changed:
        statement = _update_statement(tuple(sorted(changed)))
        session.execute(statement, {**changed, "key": _key(after.id)})
    return after


@functools.cache
def _update_statement(columns: tuple[str, ...]):
    """The UPDATE of these columns, built once per set of columns (a transition changes the
    same ones every time)."""
    return (
        update(APPLICATIONS)
        .where(A.id == bindparam("key", type_=A.id.type))
        .values({name: bindparam(name, type_=A[name].type) for name in columns})
    )


# --- applications ---------------------------------------------------------------------------


def application(session: Session, enrollment_id: str) -> Application | None:
    """The application as it stands now (no lock)."""
    try:
        key = _key(enrollment_id)
    except ValueError:
        return None
    return _application(session.execute(_APPLICATION, {"id": key}).first())


def locked(session: Session, enrollment_id: str) -> Application | None:
    """The application, its row locked (after its group's: the lock order)."""
    return _application(session.execute(_LOCKED, {"id": _key(enrollment_id)}).first())


def with_group(session: Session, enrollment_id: str) -> tuple[Application, Group] | None:
    """The application and its group's facts, in one statement (no lock): what the money step
    needs to know."""
    row = session.execute(_WITH_GROUP, {"id": _key(enrollment_id)}).first()
    if row is None:
        return None
    values = row._mapping
    return _application(row), Group(**{n: values[f"g_{n}"] for n in _GROUP_FIELDS})


def prior(session: Session, enrollment_id: str | None, child_id: int) -> list[Application]:
    """In one statement: the application of id `enrollment_id` (if any; None: none asked) and
    the child's applications whose reservation is still to be given back."""
    key = None if enrollment_id is None else _key(enrollment_id)
    return [_application(r) for r in session.execute(_PRIOR, {"child_id": child_id, "id": key})]


@functools.cache
def _insert_statement(columns: tuple[str, ...]):
    """The statement of insert_application for these columns, built once (the hot path: the
    building and the column collections of a statement made per call were a third of it)."""
    application = (
        pg_insert(APPLICATIONS)
        .values(
            {
                **{name: bindparam(name, type_=A[name].type) for name in columns},
                "arrival": arrival_seq.next_value(),
            }
        )
        .on_conflict_do_nothing()
        .returning(*_APPLICATION_COLUMNS)
        .cte("application")
    )
    first_line = (
        insert(HISTORY)
        .from_select(
            ["enrollment_id", "status", "actor"],
            select(application.c.id, application.c.status, bindparam("actor", type_=String)),
        )
        .cte("first_line")
    )
    return select(*(application.c[name] for name in _APPLICATION_FIELDS)).add_cte(first_line)


def insert_application(session: Session, actor: str, **values) -> Application | None:
    """One statement: the arrival number (taken under the group's lock the caller holds, so in
    arrival order), the row and its first history line (`actor`'s). None when a unique index
    refuses it: the child already holds a place in the group (the partial index), or the id
    is taken (an earlier attempt of the same operation); nothing is written then, and the
    caller's rollback gives the seat back."""
    values["id"] = _key(values["id"])
    statement = _insert_statement(tuple(sorted(values)))
    return _application(session.execute(statement, {**values, "actor": actor}).first())


def place_of(session: Session, child_id: int, group_id: int) -> str | None:
    """The id of the application holding the child's place in the group, if any."""
    found = session.scalar(
        select(A.id).where(A.child_id == child_id, A.group_id == group_id, text(HOLDS_PLACE_SQL))
    )
    return str(found) if found else None


def delete_application(session: Session, enrollment_id: str) -> None:
    session.execute(delete(APPLICATIONS).where(A.id == _key(enrollment_id)))


def set_birth_date(session: Session, enrollment_id: str, birth_date: date) -> None:
    session.execute(
        update(APPLICATIONS)
        .where(A.id == _key(enrollment_id), A.child_birth_date.is_(None))
        .values(child_birth_date=birth_date)
    )


# --- history --------------------------------------------------------------------------------


def add_history(
    session: Session, enrollment_id: str, status: str, actor: str, reason: str | None = None
) -> None:
    session.execute(
        _ADD_HISTORY,
        {"enrollment_id": _key(enrollment_id), "status": status, "actor": actor, "reason": reason},
    )


def history(session: Session, enrollment_id: str) -> list:
    """(status, at, actor, reason) of every status the application went through, in order."""
    return session.execute(_HISTORY, {"enrollment_id": _key(enrollment_id)}).all()


def was_waitlisted(session: Session, enrollment_id: str) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(HISTORY)
            .where(
                HISTORY.c.enrollment_id == _key(enrollment_id),
                HISTORY.c.status == domain.WAITLISTED,
            )
        )
    )


# --- waiting lists --------------------------------------------------------------------------


def waiting_ahead(session: Session, group_id: int, arrival: int) -> int:
    """How many wait on the group's list before the arrival `arrival`."""
    return session.scalar(
        select(func.count())
        .select_from(APPLICATIONS)
        .where(
            A.group_id == group_id,
            A.status.in_((domain.REQUESTED, domain.WAITLISTED)),
            A.seat_held.is_(False),
            A.arrival < arrival,
        )
    )


def first_waiting(session: Session, group_id: int) -> Application | None:
    """The first on the group's waiting list, locked (the caller holds the group's lock)."""
    return _application(
        session.execute(
            select(*_APPLICATION_COLUMNS)
            .where(
                A.group_id == group_id,
                A.status.in_((domain.REQUESTED, domain.WAITLISTED)),
                A.seat_held.is_(False),
            )
            .order_by(A.arrival)
            .limit(1)
            .with_for_update()
        ).first()
    )


def promotions_due(session: Session, group_id: int | None = None, limit: int = 100) -> list[str]:
    """Waitlisted applications given a seat whose money is still to be reserved."""
    query = select(A.id).where(
        A.status == domain.WAITLISTED, A.seat_held.is_(True), A.money == domain.PENDING
    )
    if group_id is not None:
        query = query.where(A.group_id == group_id)
    return [str(r) for r in session.scalars(query.order_by(A.arrival).limit(limit))]


# --- what the timer finds -----------------------------------------------------------------


def overdue(session: Session, now: datetime, limit: int = 100) -> list[str]:
    rows = session.scalars(
        select(A.id)
        .where(A.status == domain.AWAITING_PROVIDER, A.decide_by <= now)
        .order_by(A.decide_by)
        .limit(limit)
    )
    return [str(r) for r in rows]


def deciding_on(session: Session, day: date) -> list[Application]:
    """Applications before the provider whose decide-by falls on the region's `day`, by
    organization."""
    rows = session.execute(
        select(*_APPLICATION_COLUMNS)
        .where(
            A.status == domain.AWAITING_PROVIDER,
            A.decide_by >= clock.region_midnight(day),
            A.decide_by < clock.region_midnight(day + timedelta(days=1)),
        )
        .order_by(A.organization_id, A.decide_by, A.arrival)
    )
    return [_application(r) for r in rows]


def claim_notice(session: Session, kind: str, subject: str, due_on: date) -> bool:
    """True for the first announcement of (kind, subject, day); a concurrent one waits for
    this transaction and then finds the row."""
    return inserted_once(session, DeadlineNotice, kind=kind, subject=subject, due_on=due_on)


def seats_due_back(session: Session, today: date, limit: int = 100) -> list[str]:
    """Terminated enrollments past their last day that still hold their seat."""
    rows = session.scalars(
        select(A.id)
        .where(A.status == domain.TERMINATED, A.seat_held.is_(True), A.effective_end_date < today)
        .order_by(A.effective_end_date, A.arrival)
        .limit(limit)
    )
    return [str(r) for r in rows]


def ended(session: Session, today: date, limit: int = 100) -> list[str]:
    """Enrolled children whose group's last day has passed."""
    rows = session.scalars(
        select(A.id)
        .join_from(APPLICATIONS, GROUPS, G.id == A.group_id)
        .where(A.status == domain.ENROLLED, G.end_date < today)
        .order_by(G.end_date, A.arrival)
        .limit(limit)
    )
    return [str(r) for r in rows]


def aged_out_candidates(session: Session, today: date, limit: int = 100) -> list:
    """Enrolled children born before the first of next month 18 years ago whose 18th
    birthday's month ends before their contract does: (id, child_birth_date, end_date), a
    superset the rule narrows."""
    next_month = domain.end_of_month(today) + timedelta(days=1)
    born_before = next_month.replace(year=next_month.year - 18)
    return session.execute(
        select(A.id, A.child_birth_date, A.end_date)
        .where(
            A.status == domain.ENROLLED,
            A.child_birth_date < born_before,
            text(
                "(date_trunc('month', child_birth_date + interval '18 years')"
                " + interval '1 month')::date <= end_date"
            ),
        )
        .order_by(A.child_birth_date, A.arrival)
        .limit(limit)
    ).all()


def without_birth_date(session: Session, limit: int = 100) -> list[tuple[str, int]]:
    """Enrolled children whose birth date the enrollment has not kept (made before it was)."""
    rows = session.execute(
        select(A.id, A.child_id)
        .where(A.status == domain.ENROLLED, A.child_birth_date.is_(None))
        .limit(limit)
    )
    return [(str(r.id), r.child_id) for r in rows]


def shortened(session: Session, today: date, limit: int = 100) -> list[str]:
    """Enrolled children whose group now ends before their contract does."""
    rows = session.scalars(
        select(A.id)
        .join_from(APPLICATIONS, GROUPS, G.id == A.group_id)
        .where(A.status == domain.ENROLLED, G.end_date < A.end_date)
        .order_by(G.end_date, A.arrival)
        .limit(limit)
    )
    return [str(r) for r in rows]


def unsettled(
    session: Session, recorded_at: datetime | None, grace_seconds: float, limit: int = 100
) -> list[tuple[str, str]]:
    """Applications whose money is `pending` or `release_pending` since before the grace,
    measured on the rows' real `updated_at` (`recorded_at` None: the database's now)."""
    base = func.now() if recorded_at is None else recorded_at
    before = base - timedelta(seconds=grace_seconds)
    rows = session.execute(
        select(A.id, A.money)
        .where(A.money.in_((domain.PENDING, domain.RELEASE_PENDING)), A.updated_at <= before)
        .order_by(A.updated_at)
        .limit(limit)
    )
    return [(str(r.id), r.money) for r in rows]


# --- views and reports --------------------------------------------------------------------


def listing(
    session: Session,
    principal: dict,
    *,
    status: str | None,
    group_id: int | None,
    child_id: int | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Application]]:
    """(how many, a page of them newest first) of the applications the principal may list."""
    query = select(*_APPLICATION_COLUMNS)
    role = principal.get("role")
    if role == "parent":
        query = query.where(A.parent_id == principal.get("user_id"))
    elif role == "provider":
        query = query.where(A.organization_id == principal.get("organization_id"))
    elif role == "municipal_operator":
        mun = principal.get("municipality_code")
        query = query.where((A.organization_municipality == mun) | (A.child_municipality == mun))
    elif role != "regional_operator":
        return 0, []
    if status:
        query = query.where(A.status == status)
    if group_id:
        query = query.where(A.group_id == group_id)
    if child_id:
        query = query.where(A.child_id == child_id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(
        query.order_by(A.created_at.desc(), A.arrival.desc()).limit(limit).offset(offset)
    )
    return total, [_application(r) for r in rows]


def count_by_status(session: Session, municipality_code: str | None) -> dict[str, int]:
    query = select(A.status, func.count()).group_by(A.status)
    if municipality_code is not None:
        query = query.where(A.child_municipality == municipality_code)
    return dict(session.execute(query).all())


def money_states(session: Session, after: str | None, limit: int) -> list:
    query = select(A.id, A.status, A.money, A.terms)
    if after:
        query = query.where(A.id > _key(after))
    return session.execute(query.order_by(A.id).limit(limit)).all()


# --- groups -------------------------------------------------------------------------------


def group(session: Session, group_id: int, lock: bool = False) -> Group | None:
    """The group's facts and seats; its row locked for a seat step when `lock`."""
    return _group(session.execute(_LOCKED_GROUP if lock else _GROUP, {"id": group_id}).first())


def lock_group_of(session: Session, enrollment_id: str) -> Group | None:
    """The application's group, locked (first: the lock order), in one statement."""
    return _group(
        session.execute(
            select(*_GROUP_COLUMNS)
            .where(G.id == select(A.group_id).where(A.id == _key(enrollment_id)).scalar_subquery())
            .with_for_update()
        ).first()
    )


# the columns a refresh of the catalog's facts sets (the capacity and the seats are not)
FACT_COLUMNS = (
    "program_id", "organization_id", "organization_municipality", "organization_status",
    "program_status", "direction", "registry", "certified", "schedule", "start_date",
    "end_date", "min_age", "max_age", "price_kopecks", "normative_cost_kopecks",
    "enrollment_open",
)  # fmt: skip


def store_group_facts(session: Session, rows: list[dict]) -> None:
    """Insert or update groups' facts (rows by column name); the seats are left as they are,
    the capacity too once the group is known. One statement."""
    statement = pg_insert(GROUPS).values(
        [{**r, "held": 0, "enrolled": 0, "seats_version": 0} for r in rows]
    )
    set_ = {name: statement.excluded[name] for name in FACT_COLUMNS} | {"facts_at": func.now()}
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=set_))


# --- seats --------------------------------------------------------------------------------

_COUNTS = (G.capacity, G.held, G.enrolled, G.seats_version)


def _counts(group_id: int, row) -> dict:
    capacity, held, enrolled, version = row
    return {
        "group_id": group_id,
        "capacity": capacity,
        "held": held,
        "enrolled": enrolled,
        "free_seats": domain.free_seats(capacity, held, enrolled),
        "version": version,
    }


def _seats_changed(session: Session, group_id: int, row) -> None:
    data = DATA_SCHEMAS["group_seats_changed"].dump(_counts(group_id, row))
    emit(session, "group_seats_changed", data)


def _count_step(session: Session, group_id: int, **values) -> tuple:
    """The group's counters moved by `values` (a new version), answering the new counts."""
    return session.execute(
        update(GROUPS)
        .where(G.id == group_id)
        .values(seats_version=G.seats_version + 1, **values)
        .returning(*_COUNTS)
    ).first()


def seat_counts(session: Session, group_id: int) -> dict:
    """``{group_id, capacity, held, enrolled, free_seats, version}``, read now."""
    row = session.execute(select(*_COUNTS).where(G.id == group_id)).first()
    if row is None:
        raise NotFound("Группа не найдена", code="group_not_found")
    return _counts(group_id, row)


def _hold_seat_statement():
    group_id, holder = bindparam("group_id", type_=Integer), bindparam("holder", type_=String)
    taken = (
        update(GROUPS)
        .where(G.id == group_id, G.held + G.enrolled < G.capacity)
        .values(held=G.held + 1, seats_version=G.seats_version + 1)
        .returning(*_COUNTS)
        .cte("taken")
    )
    hold = (
        pg_insert(HOLDS)
        .from_select(
            ["group_id", "holder", "state"],
            select(group_id, holder, literal("held")).select_from(taken),
        )
        .on_conflict_do_nothing()
        .returning(literal_column("1"))
        .cte("hold")
    )
    return select(*taken.c, select(func.count()).select_from(hold).scalar_subquery())


# built once: the hot path of every application
_HOLD_SEAT = _hold_seat_statement()


def hold_seat(session: Session, group_id: int, holder: str) -> bool:
    """True when a seat is now held for `holder` (an application without one, on a group the
    caller has locked and checked); False when the group is full."""
    # one statement: the counter taken (only if a seat is free) and the hold recorded
    found = session.execute(_HOLD_SEAT, {"group_id": group_id, "holder": holder}).first()
    if found is None:
        return False
    row = tuple(found)[: len(_COUNTS)]
    if not tuple(found)[-1]:  # a concurrent repeat of the same hold won
        row = _count_step(session, group_id, held=G.held - 1)
    _seats_changed(session, group_id, row)
    return True


def release_seat(session: Session, group_id: int, holder: str) -> None:
    """Give back a held or taken seat; releasing twice changes nothing."""
    state = session.execute(
        delete(HOLDS)
        .where(HOLDS.c.group_id == group_id, HOLDS.c.holder == holder)
        .returning(HOLDS.c.state)
    ).scalar()
    if state is None:
        return
    column = "held" if state == "held" else "enrolled"
    row = _count_step(session, group_id, **{column: G[column] - 1})
    _seats_changed(session, group_id, row)


def confirm_seat(session: Session, group_id: int, holder: str) -> None:
    """A held seat becomes an enrolled child's; confirming twice changes nothing. A seat
    never held is NotFound ``seat_not_held``."""
    moved = session.execute(
        update(HOLDS)
        .where(HOLDS.c.group_id == group_id, HOLDS.c.holder == holder, HOLDS.c.state == "held")
        .values(state="enrolled")
        .returning(HOLDS.c.holder)
    ).scalar()
    if moved is not None:
        row = _count_step(session, group_id, held=G.held - 1, enrolled=G.enrolled + 1)
        _seats_changed(session, group_id, row)
    elif (
        session.scalar(
            select(HOLDS.c.holder).where(HOLDS.c.group_id == group_id, HOLDS.c.holder == holder)
        )
        is None
    ):
        raise NotFound("Место не удерживается", code="seat_not_held")


def locked_counts(session: Session, group_id: int) -> dict | None:
    """The group's seat counts, its row locked; None for a group enrollment does not know."""
    row = session.execute(select(*_COUNTS).where(G.id == group_id).with_for_update()).first()
    return None if row is None else _counts(group_id, row)


def set_capacity(session: Session, group_id: int, capacity: int) -> dict:
    """A new capacity (the caller checked it under `locked_counts`): the new counts."""
    row = _count_step(session, group_id, capacity=capacity)
    _seats_changed(session, group_id, row)
    return _counts(group_id, row)
