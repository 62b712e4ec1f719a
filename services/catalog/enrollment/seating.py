"""Seat steps of an application, on the caller's session (so a seat and the application
change in one transaction). They run the catalog's own seat SQL (hold, release, confirm)
rather than a copy of it."""

from sqlalchemy.orm import Session

from servicekit.errors import Conflict
from services.catalog.service import CatalogService


class _OnSession:
    """The catalog's seat entrypoints need only `db` (and `_seats`) from their instance."""

    _seats = CatalogService._seats

    def __init__(self, session: Session):
        self.db = session


def hold(session: Session, group_id: int, holder: str) -> bool:
    """True when a seat is now held for `holder`; False when the group is full."""
    try:
        CatalogService.hold_seat(_OnSession(session), group_id, holder)
    except Conflict as error:
        if error.code == "group_full":
            return False
        raise
    return True


def release(session: Session, group_id: int, holder: str) -> None:
    CatalogService.release_seat(_OnSession(session), group_id, holder)


def confirm(session: Session, group_id: int, holder: str) -> None:
    CatalogService.confirm_seat(_OnSession(session), group_id, holder)
