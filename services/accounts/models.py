"""Tables of this service. The outbox and processed-event tables come from servicekit."""

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
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    """A parent or a staff user. Staff belong to one organization (provider) or one
    municipality (municipal operator); both live in the catalog, referenced by id/code."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('parent', 'provider', 'municipal_operator', 'regional_operator')",
            name="ck_users_role",
        ),
        CheckConstraint("email = lower(email)", name="ck_users_email_lower"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # what the address looks like (domain.email_skeleton): no two accounts look alike;
    # NULL for rows written without it (older rows that looked like an earlier one, test data)
    email_skeleton: Mapped[str | None] = mapped_column(Text, unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(30))
    organization_id: Mapped[int | None] = mapped_column(Integer)
    # a municipal operator's municipality, or a provider's organization's municipality
    municipality_code: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # a parent confirms the address by the link mailed at registration; staff are created
    # by an operator who vouches for it (set at creation)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Consent(Base):
    """A consent given by a user: which text (its version) and when."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    text_version: Mapped[str] = mapped_column(String(20))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RefreshToken(Base):
    """One refresh token of a login's family; only its SHA-256 is kept."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the pair issued when this token was rotated, sealed under this token itself (so only
    # its holder can open it): answered again to a second refresh within the grace period
    successor: Mapped[str | None] = mapped_column(Text)


class MailToken(Base):
    """A single-use link mailed to a user: the e-mail confirmation or a password reset.
    `request_id` is what the event names (no token, no address on the broker); the token is
    made when the notifications service asks for it (`mail_token`) and only its SHA-256 is
    kept. Used or past `expires_at`, it opens nothing."""

    __tablename__ = "mail_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="ck_mail_purpose"),
        Index("ix_mail_tokens_user", "user_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """An attempt counted against a throttle key, kept while it counts: a login attempt
    ("pair:<hash of e-mail and address>", "account:<email>", "address:<client address>";
    removed when the login succeeds), a registration ("register:<address>") or a SNILS
    found taken ("snils:<user id>")."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "failed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Child(Base):
    """A child's personal data, entered by the parent and checked by a provider."""

    __tablename__ = "children"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[date] = mapped_column(Date)
    snils: Mapped[str] = mapped_column(String(11), unique=True)
    birth_certificate_series: Mapped[str] = mapped_column(String(20))
    birth_certificate_number: Mapped[str] = mapped_column(String(6))
    municipality_code: Mapped[str] = mapped_column(String(100), index=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_organization_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # set by every change, under the row's lock (domain.change_stamp): `child_changed` orders by it
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChildApplication(Base):
    """That a child applied to an organization (once, whatever became of the application):
    accounts' own record of enrollment's events (`enrollment_requested`, `_waitlisted`,
    `_cancelled`), written with ON CONFLICT DO NOTHING. A provider's staff see (masked) only
    the children recorded here for their organization."""

    __tablename__ = "child_applications"
    __table_args__ = (Index("ix_child_applications_child", "child_id"),)

    organization_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
