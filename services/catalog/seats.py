"""Seats of a group, on a SQLAlchemy session: held by an application, taken by an enrolled
child, given back. Each function is idempotent per (group, holder) and commits nothing, so
enrollment calls them inside its own transaction (a saga step) and the catalog's RPC
entrypoints inside the worker's.

Exact under concurrency: a hold is one conditional UPDATE of the group row (the row lock and
the re-check of `held + enrolled < capacity` serialize holders), and the database refuses an
overbooked group whatever the code does (a CHECK constraint).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.catalog import domain, search
from services.catalog.exceptions import Conflict, NotFound
from services.catalog.models import Group, SeatHold


def seat_counts(session: Session, group_id: int) -> dict:
    """``{group_id, capacity, held, enrolled, free_seats}`` of a group (callers expire the
    session first, so the counts are read again)."""
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound("Группа не найдена", code="group_not_found")
    return {
        "group_id": group.id,
        "capacity": group.capacity,
        "held": group.held,
        "enrolled": group.enrolled,
        "free_seats": domain.free_seats(group.capacity, group.held, group.enrolled),
    }


def hold_seat(session: Session, group_id: int, holder: str) -> dict:
    """Hold a seat for ``holder`` (an application's id); holding again changes nothing.
    A full group is Conflict ``group_full`` (the caller puts the application on the
    waiting list); an unknown group NotFound ``group_not_found``."""
    if session.get(SeatHold, (group_id, holder)) is None and not take_seat(
        session, group_id, holder
    ):
        if session.get(Group, group_id) is None:
            raise NotFound("Группа не найдена", code="group_not_found")
        raise Conflict("Свободных мест нет", code="group_full")
    session.expire_all()
    return seat_counts(session, group_id)


def take_seat(session: Session, group_id: int, holder: str) -> bool:
    """The seat step of hold_seat for a holder that holds none yet (an application being
    opened): three statements, no answer read back. False when the group is full."""
    # conditional UPDATE: the row lock and re-check make it exact under concurrency
    free_after = session.execute(
        update(Group)
        .where(Group.id == group_id, Group.held + Group.enrolled < Group.capacity)
        .values(held=Group.held + 1)
        .returning(Group.capacity - Group.held - Group.enrolled)
    ).scalar()
    if free_after is None:
        return False
    inserted = session.execute(
        pg_insert(SeatHold)
        .values(group_id=group_id, holder=holder, state="held")
        .on_conflict_do_nothing()
        .returning(SeatHold.holder)
    ).scalar()
    if inserted is None:  # a concurrent repeat of the same hold won
        session.execute(update(Group).where(Group.id == group_id).values(held=Group.held - 1))
    search.refresh_seats(session, group_id, free_after if inserted else free_after + 1)
    return True


def release_seat(session: Session, group_id: int, holder: str) -> dict:
    """Give back a held or taken seat; releasing twice changes nothing."""
    state = session.execute(
        SeatHold.__table__.delete()
        .where(SeatHold.group_id == group_id, SeatHold.holder == holder)
        .returning(SeatHold.state)
    ).scalar()
    if state is not None:
        column = Group.held if state == "held" else Group.enrolled
        free = session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values({column.key: column - 1})
            .returning(Group.capacity - Group.held - Group.enrolled)
        ).scalar()
        search.refresh_seats(session, group_id, max(0, free))
    session.expire_all()
    return seat_counts(session, group_id)


def confirm_seat(session: Session, group_id: int, holder: str) -> dict:
    """A held seat becomes an enrolled child's; confirming twice changes nothing. A seat
    never held is NotFound ``seat_not_held``."""
    moved = session.execute(
        update(SeatHold)
        .where(SeatHold.group_id == group_id, SeatHold.holder == holder, SeatHold.state == "held")
        .values(state="enrolled")
        .returning(SeatHold.holder)
    ).scalar()
    if moved is not None:
        session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(held=Group.held - 1, enrolled=Group.enrolled + 1)
        )
    elif session.get(SeatHold, (group_id, holder)) is None:
        raise NotFound("Место не удерживается", code="seat_not_held")
    session.expire_all()
    return seat_counts(session, group_id)
