"""The children enrollment knows (issue 20): accounts publishes `child_changed` (the child's
parent, birth date and municipality, when added and whenever those change) and enrollment
keeps the newest in `children`, so that `apply` and `quote` read the child here instead of
asking accounts. A child not known yet (added before accounts published the event, or its
event still on the way) is asked of accounts, as before."""

from datetime import date

from sqlalchemy import Integer, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.events import idempotent, reliable_handler
from services.enrollment.models import ChildFacts


def remember(session: Session, data: dict) -> None:
    """accounts' `child_changed`: kept unless a newer change is already here (events of a
    scaled accounts may arrive out of order)."""
    values = {
        "child_id": int(data["child_id"]),
        "parent_id": int(data["parent_id"]),
        "birth_date": date.fromisoformat(data["birth_date"]),
        "municipality_code": str(data["municipality_code"]),
        "changed_at": clock.parse_instant(data["changed_at"]),
    }
    statement = insert(ChildFacts).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ChildFacts.child_id],
            set_={k: statement.excluded[k] for k in values if k != "child_id"},
            where=ChildFacts.changed_at <= statement.excluded.changed_at,
        )
    )


# built once: every application reads it (issue 20)
_KNOWN = select(ChildFacts.parent_id, ChildFacts.birth_date, ChildFacts.municipality_code).where(
    ChildFacts.child_id == bindparam("child_id", type_=Integer)
)


def known(session: Session, child_id: int) -> dict | None:
    """The child as accounts' `get_child` gives the facts enrollment uses; None if unknown."""
    if isinstance(child_id, bool) or not isinstance(child_id, int):
        return None  # accounts answers for what is not a child id
    row = session.execute(_KNOWN, {"child_id": child_id}).one_or_none()
    if row is None:
        return None
    return {
        "id": child_id,
        "parent_id": row.parent_id,
        "birth_date": row.birth_date.isoformat(),
        "municipality_code": row.municipality_code,
    }


class ChildFactsHandler:
    """The service's handler of `child_changed` (a mixin of EnrollmentService)."""

    @reliable_handler("accounts", "child_changed")
    @idempotent
    def on_child_changed(self, envelope):
        remember(self.db, envelope["data"])
