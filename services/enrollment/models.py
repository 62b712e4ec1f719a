"""Tables of enrollment, in its own database (`navigator_enrollment`) and Alembic history.

An application and its group's seat change in one transaction, so the seats live here: a
group's row (`EnrollmentGroup`) holds the facts enrollment needs of the catalog's group (a
projection, refreshed from the catalog's events) and its seat counters (enrollment's own).
"""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.enrollment.domain import LIVE


class Base(DeclarativeBase):
    pass


# arrival order of applications: taken under the group's row lock, so it is the order in
# which applications reached the group, and the waiting list is served in it
arrival_seq = Sequence("enrollment_arrival_seq", metadata=Base.metadata)


class EnrollmentGroup(Base):
    """A group as enrollment knows it: the catalog's facts of it (what the provider described:
    dates, ages, price, whether enrollment is open, its program's registry, its organization's
    municipality and status), copied from the catalog (services/enrollment/groups.py), and its
    seats, which only enrollment counts. The catalog never writes here; enrollment never
    writes the catalog's rows (it publishes `group_seats_changed`)."""

    __tablename__ = "groups"
    __table_args__ = (
        # the last line of defence: no interleaving of requests can overbook a group
        CheckConstraint("held >= 0 AND enrolled >= 0", name="ck_groups_seats_positive"),
        CheckConstraint("held + enrolled <= capacity", name="ck_groups_not_overbooked"),
        Index("ix_groups_end_date", "end_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    program_id: Mapped[int] = mapped_column(Integer, nullable=False)
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    organization_municipality: Mapped[str] = mapped_column(String(64), nullable=False)
    organization_status: Mapped[str] = mapped_column(String(20), nullable=False)
    program_status: Mapped[str] = mapped_column(String(20), nullable=False)
    direction: Mapped[str] = mapped_column(String(30), nullable=False)
    registry_code: Mapped[str] = mapped_column("registry", String(30), nullable=False)
    certified: Mapped[bool] = mapped_column(Boolean, nullable=False)
    schedule: Mapped[list] = mapped_column(JSONB, nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    min_age: Mapped[int] = mapped_column(Integer, nullable=False)
    max_age: Mapped[int] = mapped_column(Integer, nullable=False)
    price_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    normative_cost_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    enrollment_open: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # seats: enrollment's own (the capacity is the provider's, set through set_capacity)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    held: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enrolled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # counts every seat change: the catalog keeps the newest counts it was told of
    seats_version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    facts_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class SeatHold(Base):
    """Who holds or occupies a seat: the counters on the group are a cache of these rows."""

    __tablename__ = "seat_holds"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)  # held | enrolled
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


LIVE_SQL = "status IN (" + ", ".join(f"'{s}'" for s in LIVE) + ")"
# A child has at most one place per group: a live application, or a termination whose last
# day has not come (it keeps its seat until then; the sweep gives it back).
HOLDS_PLACE_SQL = f"({LIVE_SQL} OR (status = 'terminated' AND seat_held))"


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        # one child, one place per group, whatever the concurrency
        Index(
            "uq_enrollments_place_child_group",
            "child_id",
            "group_id",
            unique=True,
            postgresql_where=text(HOLDS_PLACE_SQL),
        ),
        # the waiting list of a group, first come first served
        Index(
            "ix_enrollments_waiting",
            "group_id",
            "arrival",
            postgresql_where=text("status IN ('requested', 'waitlisted') AND NOT seat_held"),
        ),
        Index(
            "ix_enrollments_decide_by",
            "decide_by",
            postgresql_where=text("status = 'awaiting_provider'"),
        ),
        # saga steps left unfinished by a crash, and reservations still to give back
        Index(
            "ix_enrollments_unsettled",
            "updated_at",
            postgresql_where=text("money IN ('pending', 'release_pending')"),
        ),
        # the sweep: terminations past their last day that still hold a seat
        Index(
            "ix_enrollments_seats_due_back",
            "effective_end_date",
            postgresql_where=text("status = 'terminated' AND seat_held"),
        ),
        # the sweep: enrolled children who turn 18 before their contract ends
        Index(
            "ix_enrollments_enrolled_birth",
            "child_birth_date",
            postgresql_where=text("status = 'enrolled'"),
        ),
        Index("ix_enrollments_parent", "parent_id"),
        Index("ix_enrollments_organization", "organization_id", "status"),
        # no (group_id, status) index (issue 20): every status update rewrote it, and no
        # query needs it: a group's waiting list and places have the partial indexes above,
        # promotions due (money pending) the unsettled one, a group's listing the provider's
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_id: Mapped[int] = mapped_column(Integer, nullable=False)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), nullable=False)
    program_id: Mapped[int] = mapped_column(Integer, nullable=False)
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    organization_municipality: Mapped[str] = mapped_column(String(64), nullable=False)
    child_municipality: Mapped[str] = mapped_column(String(64), nullable=False)
    # the contract ends at the end of the month of the 18th birthday (null: made before it
    # was recorded; the sweep asks accounts)
    child_birth_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    arrival: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seat_held: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    accept_copay: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    # contract terms in kopecks: total, normative_cost, certificate_share, copay, schedule
    terms: Mapped[dict] = mapped_column(JSONB, nullable=False)
    period_id: Mapped[int | None] = mapped_column(Integer)
    certificate_number: Mapped[str | None] = mapped_column(String(20))
    # the reservation's saga: pending -> reserved -> (release_pending -> released | contract)
    money: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    decide_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effective_end_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class ChildFacts(Base):
    """What enrollment needs of a child, kept from accounts' `child_changed` (issue 20): an
    application reads it here instead of asking accounts. The newest `changed_at` wins."""

    __tablename__ = "children"

    child_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parent_id: Mapped[int] = mapped_column(Integer, nullable=False)
    birth_date: Mapped[date] = mapped_column(Date, nullable=False)
    municipality_code: Mapped[str] = mapped_column(String(64), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class EnrollmentHistory(Base):
    """Every status an application went through: who, when, why."""

    __tablename__ = "enrollment_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    actor: Mapped[str] = mapped_column(String(50), nullable=False)  # "user:12", "system"
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class DeadlineNotice(Base):
    """What the calendar's `deadline_reminders` announced, once each: an application's
    `application_expiring` (subject = its id) and an organization's `decisions_due_tomorrow`
    (subject = its id), for the day the decisions are due. The row and the event are one
    transaction, so a rerun or a second instance emits nothing twice."""

    __tablename__ = "deadline_notices"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('application_expiring', 'decisions_due_tomorrow')",
            name="deadline_notice_kind",
        ),
    )

    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_on: Mapped[date] = mapped_column(Date, primary_key=True)
    announced_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
