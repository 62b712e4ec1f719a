"""Tables of this service. The outbox and processed-event tables come from servicekit.

`search_programs` and `search_rows` are derived data: one row per published program of an
active organization and one per group of it, with everything the search filters and sorts on,
rebuilt in the same transaction as any change of their sources (services/catalog/search.py).
"""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class Municipality(Base):
    __tablename__ = "municipalities"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    centre: Mapped[str] = mapped_column(String(100), nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)


class MunicipalNormative(Base):
    """The normative cost of an hour of a certified program in a municipality: the operator's
    figure, from which every group's normative cost is computed (never the provider's)."""

    __tablename__ = "municipal_normatives"
    __table_args__ = (
        CheckConstraint("per_hour_kopecks >= 0", name="ck_municipal_normatives_not_negative"),
    )

    municipality_code: Mapped[str] = mapped_column(
        ForeignKey("municipalities.code"), primary_key=True
    )
    per_hour_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _updated()


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    inn: Mapped[str] = mapped_column(String(12), nullable=False, unique=True)
    municipality_code: Mapped[str] = mapped_column(
        ForeignKey("municipalities.code"), nullable=False, index=True
    )
    address: Mapped[str] = mapped_column(String(500), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id"), nullable=False, index=True
    )
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    direction: Mapped[str] = mapped_column(String(30), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)
    min_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    max_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    adapted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # `registry` is reserved by declarative classes, so the attribute has another name
    registry_code: Mapped[str] = mapped_column("registry", String(30), nullable=False)
    payment_type: Mapped[str] = mapped_column(String(20), nullable=False)  # domain rule, stored
    certified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class Group(Base):
    __tablename__ = "study_groups"
    __table_args__ = (
        # `held` and `enrolled` are enrollment's counts as its events told them (the check
        # that no group is overbooked is on enrollment's own table)
        CheckConstraint("held >= 0 AND enrolled >= 0", name="ck_study_groups_seats_positive"),
        Index("ix_study_groups_end_date", "end_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    teacher: Mapped[str] = mapped_column(String(200), nullable=False)
    address: Mapped[str] = mapped_column(String(500), nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    schedule: Mapped[list] = mapped_column(JSONB, nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    end_date: Mapped[date] = mapped_column(Date, nullable=False)
    min_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    max_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    held: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enrolled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    price_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    normative_cost_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    monthly_price_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    enrollment_open: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # the newest of enrollment's `group_seats_changed` applied to held / enrolled
    seats_version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, default=0, server_default="0"
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class SearchProgram(Base):
    """What a search shows of a program and matches its text against: one row per program."""

    __tablename__ = "search_programs"
    __table_args__ = (
        # fastupdate off: a pending list makes the planner shun the index after bulk loads
        Index("ix_search_programs_tsv", "tsv", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
    )  # fmt: skip

    program_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(Integer, nullable=False)
    organization_name: Mapped[str] = mapped_column(String(300), nullable=False)
    municipality_code: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    direction: Mapped[str] = mapped_column(String(30), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    adapted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    registry_code: Mapped[str] = mapped_column("registry", String(30), nullable=False)
    payment_type: Mapped[str] = mapped_column(String(20), nullable=False)
    min_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    max_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    tsv: Mapped[str] = mapped_column(TSVECTOR, nullable=False)


class SearchRow(Base):
    """What the filters look at: one narrow row per group, so a scan of all of them is cheap."""

    __tablename__ = "search_rows"
    __table_args__ = (
        Index("ix_search_rows_municipality", "municipality_code", "direction"),
        Index("ix_search_rows_lat", "lat"),
    )

    group_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    municipality_code: Mapped[str] = mapped_column(String(64), nullable=False)
    direction: Mapped[str] = mapped_column(String(30), nullable=False)
    level: Mapped[str] = mapped_column(String(20), nullable=False)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    adapted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    payment_type: Mapped[str] = mapped_column(String(20), nullable=False)
    min_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    max_age: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    monthly_price_kopecks: Mapped[int] = mapped_column(BigInteger, nullable=False)
    free_seats: Mapped[int] = mapped_column(Integer, nullable=False)
    enrollment_open: Mapped[bool] = mapped_column(Boolean, nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)


class SearchWord(Base):
    """Words of titles and descriptions, to correct a typo when full-text search finds nothing."""

    __tablename__ = "search_words"
    __table_args__ = (
        Index(
            "ix_search_words_trgm",
            "word",
            postgresql_using="gin",
            postgresql_ops={"word": "gin_trgm_ops"},
        ),
    )

    word: Mapped[str] = mapped_column(String(100), primary_key=True)
