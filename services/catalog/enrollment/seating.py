"""Seat steps of an application, on the caller's session (so a seat and the application
change in one transaction), through the catalog's own seat functions (services/catalog/seats.py)."""

from sqlalchemy.orm import Session

from services.catalog import seats


def hold(session: Session, group_id: int, holder: str) -> bool:
    """True when a seat is now held for `holder` (a new application, on a group the caller
    has locked and checked); False when the group is full."""
    return seats.take_seat(session, group_id, holder)


def release(session: Session, group_id: int, holder: str) -> None:
    seats.release_seat(session, group_id, holder)


def confirm(session: Session, group_id: int, holder: str) -> None:
    seats.confirm_seat(session, group_id, holder)
