"""Tables of this service. The outbox and processed-event tables come from servicekit.

Amounts are integer kopecks. Contracts copy what payments needs from the confirmed
enrollment (who, which group, the payer, the schedule) so no other service's database is read.
"""

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
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Contract(Base):
    """A confirmed enrollment's money terms (contracts/cost.py) and its state."""

    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'terminated')", name="ck_contracts_status"),
        CheckConstraint("certificate_share + copay = total", name="ck_contracts_parts"),
        CheckConstraint(
            "attends_until IS NULL OR attends_until BETWEEN start_date AND end_date",
            name="ck_contracts_attends_until",
        ),
        Index("ix_contracts_group", "group_id"),
        Index("ix_contracts_child", "child_id"),
        Index("ix_contracts_payer", "payer_municipality_code"),
        Index("ix_contracts_organization", "organization_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(String(36), unique=True)
    child_id: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int] = mapped_column(Integer)
    group_id: Mapped[int] = mapped_column(Integer)
    program_id: Mapped[int] = mapped_column(Integer)
    organization_id: Mapped[int] = mapped_column(Integer)
    organization_municipality_code: Mapped[str] = mapped_column(String(100))
    # the child's municipality pays the certificate part
    payer_municipality_code: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(30))
    registry_code: Mapped[str] = mapped_column(String(30))
    certificate_number: Mapped[str | None] = mapped_column(String(10))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)  # moved earlier by an early termination
    planned_end_date: Mapped[date] = mapped_column(Date)
    # the child's last day in the group when the enrollment ended early (left, the group
    # shortened, the 18th birthday): no lesson after it is the child's, though the contract
    # (and its billing) runs to the end of that month
    attends_until: Mapped[date | None] = mapped_column(Date)
    total: Mapped[int] = mapped_column(BigInteger)
    normative_cost: Mapped[int] = mapped_column(BigInteger)
    certificate_share: Mapped[int] = mapped_column(BigInteger)
    copay: Mapped[int] = mapped_column(BigInteger)
    group_schedule: Mapped[list] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="active")
    termination_reason: Mapped[str | None] = mapped_column(String(300))
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ContractMonth(Base):
    """One month of a contract's schedule; `released` when an early end gave it back,
    `charged` once billing recorded its charge (billing claims what is neither)."""

    __tablename__ = "contract_months"
    __table_args__ = (
        Index("ix_contract_months_month", "month", "contract_id"),
        Index(
            "ix_contract_months_to_bill",
            "month",
            "contract_id",
            postgresql_where=text("NOT charged AND NOT released"),
        ),
    )

    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    certificate: Mapped[int] = mapped_column(BigInteger)
    copay: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    charged: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Lesson(Base):
    """A lesson of a group as its provider recorded it."""

    __tablename__ = "lessons"
    __table_args__ = (
        UniqueConstraint("group_id", "lesson_date", "start_time", name="uq_lessons_slot"),
        CheckConstraint("status IN ('held', 'cancelled')", name="ck_lessons_status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    group_id: Mapped[int] = mapped_column(Integer)
    lesson_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[str] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(10))
    recorded_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Attendance(Base):
    """Whether a child was at a lesson (a held lesson without a mark counts as absent)."""

    __tablename__ = "attendance"

    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lessons.id", ondelete="CASCADE"), primary_key=True
    )
    child_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    present: Mapped[bool] = mapped_column(Boolean)


class MunicipalitySetting(Base):
    """A paying municipality's billing rules: how it measures completeness
    (domain.COMPLETENESS_MODES), the working day of the next month by which attendance is
    final (the submission deadline), and the share of the plan a month with no lesson
    recorded is billed at."""

    __tablename__ = "municipality_settings"
    __table_args__ = (
        CheckConstraint(
            "completeness_mode IN ('delivered', 'attended')", name="ck_settings_completeness"
        ),
        CheckConstraint(
            "submission_workday BETWEEN 1 AND 20", name="ck_settings_submission_workday"
        ),
        CheckConstraint(
            "unrecorded_percent BETWEEN 0 AND 100", name="ck_settings_unrecorded_percent"
        ),
    )

    municipality_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    completeness_mode: Mapped[str] = mapped_column(String(20), server_default="delivered")
    submission_workday: Mapped[int] = mapped_column(Integer, server_default="3")
    unrecorded_percent: Mapped[int] = mapped_column(Integer, server_default="100")
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BillingRun(Base):
    """A billing run of a month; its work is the month's charges (unique per contract)."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'completed')", name="ck_billing_runs_status"),
        Index("ix_billing_runs_month", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(20), default="running")
    requested_by: Mapped[int | None] = mapped_column(Integer)
    contracts_total: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Charge(Base):
    """What one contract was charged for one month: exactly one row per (contract, month).

    `pending` until certificates confirmed the debit (key debit:<enrollment>:<month>), then
    `posted`; `refused` when certificates refused it (e.g. a frozen certificate).
    """

    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("contract_id", "month", name="uq_charges_contract_month"),
        CheckConstraint("status IN ('pending', 'posted', 'refused')", name="ck_charges_status"),
        CheckConstraint(
            "certificate_charged + certificate_released = certificate_planned",
            name="ck_charges_certificate_parts",
        ),
        Index("ix_charges_month_status", "month", "status", "id"),
        Index("ix_charges_child", "child_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"))
    enrollment_id: Mapped[str] = mapped_column(String(36))
    month: Mapped[str] = mapped_column(String(7))
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"))
    child_id: Mapped[int] = mapped_column(Integer)
    organization_id: Mapped[int] = mapped_column(Integer)
    payer_municipality_code: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(30))
    completeness_mode: Mapped[str] = mapped_column(String(20))
    lessons_scheduled: Mapped[int] = mapped_column(Integer)
    lessons_held: Mapped[int] = mapped_column(Integer)
    lessons_attended: Mapped[int] = mapped_column(Integer)
    completeness: Mapped[float] = mapped_column(Numeric(9, 6))
    certificate_planned: Mapped[int] = mapped_column(BigInteger)
    certificate_charged: Mapped[int] = mapped_column(BigInteger)
    certificate_released: Mapped[int] = mapped_column(BigInteger)
    copay_planned: Mapped[int] = mapped_column(BigInteger)
    copay_charged: Mapped[int] = mapped_column(BigInteger)  # the parent's bill
    # what certificates answered for debit:<enrollment>:<month> (short when it held less)
    debited: Mapped[int | None] = mapped_column(BigInteger)
    released: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    refusal: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Invoice(Base):
    """What a provider bills a municipality for a month: an advance, then the final one,
    then a correction (number 1, 2, ...) whenever a later run changes the month's debits."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint(
            "organization_id",
            "municipality_code",
            "month",
            "kind",
            "number",
            name="uq_invoices_key",
        ),
        CheckConstraint("kind IN ('advance', 'final', 'correction')", name="ck_invoices_kind"),
        CheckConstraint(
            "(kind = 'correction') = (number > 0)", name="ck_invoices_correction_number"
        ),
        CheckConstraint("status IN ('issued', 'paid')", name="ck_invoices_status"),
        Index("ix_invoices_municipality", "municipality_code", "month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer, index=True)
    municipality_code: Mapped[str] = mapped_column(String(100))
    month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(10))
    number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    amount: Mapped[int] = mapped_column(BigInteger)  # a final one may be negative
    status: Mapped[str] = mapped_column(String(10), default="issued")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_by: Mapped[int | None] = mapped_column(Integer)


class AdvanceMonth(Base):
    """A month whose advance invoices the calendar issued (once, on or after its 1st)."""

    __tablename__ = "advance_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    invoices: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
