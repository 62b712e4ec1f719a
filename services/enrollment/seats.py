"""A group's seats, on the caller's session (so a seat and the application change in one
transaction): held by an application, taken by an enrolled child, given back, a new capacity.
Each step is idempotent per (group, holder), commits nothing, and records
`group_seats_changed` in the outbox with the group's new counts (the catalog's free seats
follow them).

Exact under concurrency: a hold is one conditional UPDATE of the group row (the row lock and
the re-check of `held + enrolled < capacity` serialize holders), and the database refuses an
overbooked group whatever the code does (a CHECK constraint on `groups`).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from servicekit.outbox import emit
from services.enrollment import domain
from services.enrollment.event_schemas import DATA_SCHEMAS
from services.enrollment.exceptions import NotFound, refusals_as_rpc_errors
from services.enrollment.models import EnrollmentGroup as Group
from services.enrollment.models import SeatHold

_COUNTS = (Group.capacity, Group.held, Group.enrolled, Group.seats_version)


def _as_dict(group_id: int, row) -> dict:
    capacity, held, enrolled, version = row
    return {
        "group_id": group_id,
        "capacity": capacity,
        "held": held,
        "enrolled": enrolled,
        "free_seats": domain.free_seats(capacity, held, enrolled),
        "version": version,
    }


def _announce(session: Session, group_id: int, row) -> None:
    data = DATA_SCHEMAS["group_seats_changed"].dump(_as_dict(group_id, row))
    emit(session, "group_seats_changed", data)


def counts(session: Session, group_id: int) -> dict:
    """``{group_id, capacity, held, enrolled, free_seats, version}``, read now."""
    row = session.execute(select(*_COUNTS).where(Group.id == group_id)).first()
    if row is None:
        raise NotFound("Группа не найдена", code="group_not_found")
    return _as_dict(group_id, row)


def hold(session: Session, group_id: int, holder: str) -> bool:
    """True when a seat is now held for `holder` (an application without one, on a group the
    caller has locked and checked); False when the group is full."""
    row = session.execute(
        update(Group)
        .where(Group.id == group_id, Group.held + Group.enrolled < Group.capacity)
        .values(held=Group.held + 1, seats_version=Group.seats_version + 1)
        .returning(*_COUNTS)
    ).first()
    if row is None:
        return False
    inserted = session.execute(
        pg_insert(SeatHold)
        .values(group_id=group_id, holder=holder, state="held")
        .on_conflict_do_nothing()
        .returning(SeatHold.holder)
    ).scalar()
    if inserted is None:  # a concurrent repeat of the same hold won
        row = session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(held=Group.held - 1, seats_version=Group.seats_version + 1)
            .returning(*_COUNTS)
        ).first()
    _announce(session, group_id, row)
    return True


def release(session: Session, group_id: int, holder: str) -> None:
    """Give back a held or taken seat; releasing twice changes nothing."""
    state = session.execute(
        SeatHold.__table__.delete()
        .where(SeatHold.group_id == group_id, SeatHold.holder == holder)
        .returning(SeatHold.state)
    ).scalar()
    if state is None:
        return
    column = Group.held if state == "held" else Group.enrolled
    row = session.execute(
        update(Group)
        .where(Group.id == group_id)
        .values({column.key: column - 1, "seats_version": Group.seats_version + 1})
        .returning(*_COUNTS)
    ).first()
    _announce(session, group_id, row)


def confirm(session: Session, group_id: int, holder: str) -> None:
    """A held seat becomes an enrolled child's; confirming twice changes nothing. A seat
    never held is NotFound ``seat_not_held``."""
    moved = session.execute(
        update(SeatHold)
        .where(SeatHold.group_id == group_id, SeatHold.holder == holder, SeatHold.state == "held")
        .values(state="enrolled")
        .returning(SeatHold.holder)
    ).scalar()
    if moved is not None:
        row = session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(
                held=Group.held - 1,
                enrolled=Group.enrolled + 1,
                seats_version=Group.seats_version + 1,
            )
            .returning(*_COUNTS)
        ).first()
        _announce(session, group_id, row)
    elif session.get(SeatHold, (group_id, holder)) is None:
        raise NotFound("Место не удерживается", code="seat_not_held")


def set_capacity(session: Session, group_id: int, capacity: int) -> dict:
    """The provider's new capacity (the catalog asks before it stores it): refused below the
    seats held and taken (409 `capacity_below_occupied`), under the group's lock. A group
    enrollment does not know yet holds no seat: nothing to refuse (its facts, capacity with
    them, come from the catalog when it is first needed). Answers the counts."""
    group = session.scalars(select(Group).where(Group.id == group_id).with_for_update()).first()
    if group is None:
        return {"group_id": group_id, "capacity": capacity, "held": 0, "enrolled": 0,
                "free_seats": capacity, "version": 0}  # fmt: skip
    with refusals_as_rpc_errors():
        domain.check_capacity(capacity, group.held, group.enrolled)
    if capacity != group.capacity:
        row = session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(capacity=capacity, seats_version=Group.seats_version + 1)
            .returning(*_COUNTS)
        ).first()
        _announce(session, group_id, row)
    session.expire_all()
    return counts(session, group_id)
