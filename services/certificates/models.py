"""Tables of the certificates service. The outbox and processed-event tables come from
servicekit.

The money rules are constraints here, so that PostgreSQL itself refuses a broken balance
whatever the code above it does: every part of a balance is >= 0 and they add up to what was
credited; a reservation never goes below zero; a municipality never hands out more nominals
than its limit; an idempotency key is used once.
"""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Period(Base):
    __tablename__ = "periods"
    __table_args__ = (
        CheckConstraint("end_date > start_date", name="period_dates"),
        CheckConstraint("status IN ('open', 'closing', 'closed')", name="period_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date] = mapped_column(Date, unique=True)
    end_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MunicipalFund(Base):
    """A municipality's nominals for a period: the limit (total it may hand out) and what is
    handed out (`used`), changed only by conditional UPDATEs."""

    __tablename__ = "municipal_funds"
    __table_args__ = (
        CheckConstraint("limit_amount >= 0", name="fund_limit_nonnegative"),
        CheckConstraint("used >= 0 AND used <= limit_amount", name="fund_used_within_limit"),
    )

    municipality_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), primary_key=True)
    limit_amount: Mapped[int] = mapped_column(BigInteger, server_default="0")
    used: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # [{age_from, age_to, amount}], checked by domain.check_bands
    bands: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint("number ~ '^[0-9]{10}$'", name="certificate_number_digits"),
        CheckConstraint("type IN ('accounting', 'financing')", name="certificate_type"),
        CheckConstraint("status IN ('active', 'frozen', 'expired')", name="certificate_status"),
        Index("ix_certificates_parent", "parent_id"),
        Index("ix_certificates_municipality", "municipality_code", "id"),
        # certificates never financed, for the calendar's finance_registered (issue 20)
        Index(
            "ix_certificates_accounting",
            "municipality_code",
            "id",
            postgresql_where=text("type = 'accounting' AND status = 'active'"),
        ),
        # the calendar: certificates expiring soon (issue 23) and those aged out
        Index(
            "ix_certificates_valid_until",
            "valid_until",
            postgresql_where=text("status <> 'expired'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(10), unique=True)
    child_id: Mapped[int] = mapped_column(Integer, unique=True)
    # from accounts' get_child when issued: who may see it without asking accounts each time
    parent_id: Mapped[int] = mapped_column(Integer)
    municipality_code: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    type: Mapped[str] = mapped_column(String(20), server_default="accounting")
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    valid_until: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ExpiryNotice(Base):
    """A `certificate_expiring` emitted by the calendar's `announce_expiring`, once per
    certificate and validity end (the row and the event are one transaction)."""

    __tablename__ = "expiry_notices"

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    valid_until: Mapped[date] = mapped_column(Date, primary_key=True)
    announced_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Balance(Base):
    __tablename__ = "balances"
    __table_args__ = (
        CheckConstraint("available >= 0", name="balance_available_nonnegative"),
        CheckConstraint("reserved >= 0", name="balance_reserved_nonnegative"),
        CheckConstraint("spent >= 0", name="balance_spent_nonnegative"),
        CheckConstraint("expired >= 0", name="balance_expired_nonnegative"),
        CheckConstraint(
            "credited = available + reserved + spent + expired", name="balance_adds_up"
        ),
    )

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"), primary_key=True)
    nominal: Mapped[int] = mapped_column(BigInteger, server_default="0")
    credited: Mapped[int] = mapped_column(BigInteger, server_default="0")
    available: Mapped[int] = mapped_column(BigInteger, server_default="0")
    reserved: Mapped[int] = mapped_column(BigInteger, server_default="0")
    spent: Mapped[int] = mapped_column(BigInteger, server_default="0")
    expired: Mapped[int] = mapped_column(BigInteger, server_default="0")


class Reservation(Base):
    """What is still reserved for one enrollment: releases and debits never take more."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reservation_nonnegative"),
        CheckConstraint("released >= 0 AND debited >= 0", name="reservation_parts_nonnegative"),
        CheckConstraint("amount = reserved + released + debited", name="reservation_adds_up"),
        Index("ix_reservations_certificate", "certificate_id", "period_id"),
    )

    enrollment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[int] = mapped_column(BigInteger, server_default="0")
    debited: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # the balance's available right after the reservation: the first answer, for a repeat
    available_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerOperation(Base):
    """One idempotent money operation: its key is claimed first in the transaction
    (INSERT ... ON CONFLICT DO NOTHING), and its answer is kept for repeats."""

    __tablename__ = "ledger_operations"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('credit', 'adjust', 'reserve', 'release', 'debit', 'expire')",
            name="entry_kind",
        ),
        CheckConstraint("amount > 0 OR (kind = 'adjust' AND amount < 0)", name="entry_amount"),
        Index("ix_entries_certificate", "certificate_id", "id"),
        Index("ix_entries_balance", "certificate_id", "period_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    operation_key: Mapped[str] = mapped_column(ForeignKey("ledger_operations.key"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    enrollment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    month: Mapped[str | None] = mapped_column(String(7), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # the operator's name as accounts knew it then (an operator's change of a nominal)
    actor_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MunicipalitySettings(Base):
    """A municipality's rules of certificates (issue 18): whether a certificate financed
    mid-period gets the full nominal or the months left of it, and how many free
    (budget-registry) places a child may hold at a time. No row: the defaults."""

    __tablename__ = "municipality_settings"
    __table_args__ = (
        CheckConstraint("nominal_mode IN ('full', 'prorated')", name="settings_nominal_mode"),
        CheckConstraint("free_allowance >= 0", name="settings_free_allowance"),
    )

    municipality_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    nominal_mode: Mapped[str] = mapped_column(String(20), server_default="full")
    free_allowance: Mapped[int] = mapped_column(Integer, server_default="2")
    updated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class NominalChange(Base):
    """A municipality's nominal bands for a period from a date, with its reason and who set
    them: certificates financed from that day get them; those credited keep theirs."""

    __tablename__ = "nominal_changes"
    __table_args__ = (
        Index("ix_nominal_changes_fund", "municipality_code", "period_id", "effective_from", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    municipality_code: Mapped[str] = mapped_column(String(100))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    bands: Mapped[list] = mapped_column(JSONB)
    effective_from: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FreePlace(Base):
    """A free (budget-registry) place a child holds through an application or a contract,
    counted against the municipality's allowance until it ends (`ended_at`)."""

    __tablename__ = "free_places"
    __table_args__ = (
        Index(
            "ix_free_places_live",
            "certificate_id",
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    enrollment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class QueueEntry(Base):
    """A child waiting for a financing certificate in a municipality and period, first come
    first served (`id` is the arrival order)."""

    __tablename__ = "financing_queue"
    __table_args__ = (
        UniqueConstraint("certificate_id", "period_id", name="one_queue_place_per_period"),
        CheckConstraint("status IN ('waiting', 'upgraded')", name="queue_status"),
        Index(
            "ix_queue_waiting",
            "municipality_code",
            "period_id",
            "id",
            postgresql_where=text("status = 'waiting'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id"))
    municipality_code: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), server_default="waiting")
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    upgraded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
