"""Tables of enrollment, on the catalog's database (they change in the same transaction as a
group's seats) and in the catalog's Alembic history."""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import Mapped, mapped_column

from services.catalog.enrollment.domain import LIVE
from services.catalog.models import Base

# arrival order of applications: taken under the group's row lock, so it is the order in
# which applications reached the group, and the waiting list is served in it
arrival_seq = Sequence("enrollment_arrival_seq", metadata=Base.metadata)

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
        Index("ix_enrollments_group", "group_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, nullable=False)
    parent_id: Mapped[int] = mapped_column(Integer, nullable=False)
    group_id: Mapped[int] = mapped_column(ForeignKey("study_groups.id"), nullable=False)
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
