"""What the accounts service does, on a SQLAlchemy session: register, log in, refresh, create
staff, add, change, show and verify children.

The rules come from domain.py; this layer loads and stores rows and turns the domain's
refusals into the errors that cross RPC (servicekit.errors.rpc_error). Who may see which
child is the domain's `child_scope`, turned into SQL in one place (`_children_visible_to`)
for lists and single children alike. It imports no Nameko, so the CLI, the demo seed and
the tests call the same functions the service's entrypoints do. Nothing here commits: the
caller's transaction does (the worker's, or the CLI's).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.refusals import InvalidField, InvalidFields
from contracts.roles import MUNICIPAL_OPERATOR, PARENT, PROVIDER
from contracts.scope import EVERYTHING, Scope
from servicekit import config, tokens
from servicekit.outbox import emit
from servicekit.visibility import where_visible
from services.accounts import domain
from services.accounts.domain import LoginThrottle, WeakPassword
from services.accounts.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    rpc_error,
)
from services.accounts.models import Child, Consent, LoginFailure, RefreshToken, User

log = logging.getLogger(__name__)

CONSENT_PERSONAL_DATA = "personal_data"
INVALID_CREDENTIALS = "Неверный адрес электронной почты или пароль"


def utcnow() -> datetime:
    return datetime.now(UTC)


def refresh_token_ttl() -> timedelta:
    return timedelta(seconds=int(config.env("REFRESH_TOKEN_TTL", str(30 * 24 * 3600))))


def account_throttle() -> LoginThrottle:
    return LoginThrottle(
        lock_after=int(config.env("LOGIN_ACCOUNT_LOCK_AFTER", "5")),
        delay_after=int(config.env("LOGIN_ACCOUNT_DELAY_AFTER", "3")),
    )


def address_throttle() -> LoginThrottle:
    # one address may be a school's NAT: more room than for one account
    return LoginThrottle(
        lock_after=int(config.env("LOGIN_ADDRESS_LOCK_AFTER", "30")),
        delay_after=int(config.env("LOGIN_ADDRESS_DELAY_AFTER", "10")),
    )


# --- passwords --------------------------------------------------------------------------


class Passwords:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile: t=3, m=64 MiB,
    p=4). `offload` runs the hashing off the event loop (eventlet.tpool in the service)."""

    def __init__(self, offload: Callable | None = None, hasher: PasswordHasher | None = None):
        self.hasher = hasher or PasswordHasher()
        self.offload = offload or (lambda fn, *args: fn(*args))
        # verified when the e-mail is unknown, so that both answers take the same time
        self._dummy = self.hasher.hash(domain.new_opaque_token())

    def hash(self, password: str) -> str:
        return self.offload(self.hasher.hash, password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return bool(self.offload(self.hasher.verify, password_hash or self._dummy, password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)


# --- the catalog, as accounts needs it --------------------------------------------------


class Directory(Protocol):
    """Municipalities and organizations, owned by the catalog: None when unknown."""

    def municipality(self, code: str) -> dict | None: ...

    def organization(self, organization_id: int) -> dict | None: ...


# --- users ------------------------------------------------------------------------------


def user_view(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "phone": user.phone,
        "role": user.role,
        "roles": [user.role],
        "organization_id": user.organization_id,
        "municipality_code": user.municipality_code,
        "created_at": user.created_at,
    }


def _person_fields(data: dict, passwords: Passwords) -> dict:
    """E-mail, name, phone and password of a new user, checked; the password hashed."""
    errors: dict[str, list[str]] = {}
    values: dict = {}
    for field, normalize in (
        ("email", domain.normalize_email),
        ("full_name", domain.normalize_full_name),
        ("phone", domain.normalize_phone),
    ):
        try:
            values[field] = normalize(data.get(field))
        except InvalidField as problem:
            errors.setdefault(problem.field, []).append(problem.message)
    try:
        domain.check_password(data.get("password"), values.get("email"), values.get("full_name"))
    except WeakPassword as problem:
        errors.setdefault("password", []).append(problem.message)
    if errors:
        raise rpc_error(InvalidFields(errors))
    values["password_hash"] = passwords.hash(data["password"])
    return values


def _insert_user(session: Session, values: dict) -> User:
    if session.scalar(select(User.id).where(User.email == values["email"])) is not None:
        raise Conflict("Этот адрес электронной почты уже зарегистрирован", code="email_taken")
    user = User(**values)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # registered concurrently
        raise Conflict(
            "Этот адрес электронной почты уже зарегистрирован", code="email_taken"
        ) from exc
    return user


def register_parent(session: Session, passwords: Passwords, data: dict, now: datetime) -> dict:
    """A parent's own registration, with the personal-data consent they gave."""
    if data.get("consent_personal_data") is not True:
        message = "нужно согласие на обработку персональных данных"
        raise InvalidInput(
            message, code="consent_required", fields={"consent_personal_data": [message]}
        )
    user = _insert_user(session, {**_person_fields(data, passwords), "role": PARENT})
    session.add(
        Consent(
            user_id=user.id,
            kind=CONSENT_PERSONAL_DATA,
            text_version=domain.CONSENT_TEXT_VERSION,
            given_at=now,
        )
    )
    session.flush()
    session.refresh(user)
    return user_view(user)


def create_staff(
    session: Session,
    passwords: Passwords,
    creator: Principal | None,
    data: dict,
    directory: Directory | None,
) -> dict:
    """A staff user created by an operator (or, with creator=None, by the first-operator
    command). A municipal operator creates only providers of its own municipality."""
    role = data.get("role")
    organization_id = data.get("organization_id")
    municipality_code = data.get("municipality_code")
    try:
        domain.check_staff_attachment(role, organization_id, municipality_code)
    except InvalidFields as problem:
        raise rpc_error(problem) from None
    if role == PROVIDER:
        organization = directory.organization(organization_id) if directory else None
        if organization is None:
            message = "такой организации нет"
            raise InvalidInput(
                message, code="unknown_organization", fields={"organization_id": [message]}
            )
        municipality_code = organization["municipality_code"]
    elif role == MUNICIPAL_OPERATOR:
        if directory is None or directory.municipality(municipality_code) is None:
            message = "такого муниципалитета нет"
            raise InvalidInput(
                message, code="unknown_municipality", fields={"municipality_code": [message]}
            )
    if creator is not None and not domain.can_create_staff(
        creator.role, creator.municipality_code, role, municipality_code
    ):
        raise Forbidden(
            "Муниципальный оператор создаёт только сотрудников поставщиков своего муниципалитета",
            code="staff_outside_authority",
        )
    values = _person_fields(data, passwords)
    user = _insert_user(
        session,
        {
            **values,
            "role": role,
            "organization_id": organization_id,
            "municipality_code": municipality_code,
            "created_by": creator.user_id if creator else None,
        },
    )
    session.flush()
    session.refresh(user)
    return user_view(user)


def me(session: Session, user_id: int) -> dict:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("Пользователь не найден", code="user_not_found")
    return user_view(user)


def viewer_of(session: Session, principal: dict) -> Principal:
    """Who asks, as accounts sees them. A municipal operator's municipality is in their
    token; a provider's is their organization's, read from their account (a token whose
    account says otherwise sees nothing)."""
    user_id, role = int(principal["user_id"]), principal["role"]
    municipality = None
    if role == MUNICIPAL_OPERATOR:
        municipality = principal.get("municipality_code")
    elif role == PROVIDER:
        user = session.get(User, user_id)
        if (
            user is not None
            and user.is_active
            and user.role == PROVIDER
            and user.organization_id == principal.get("organization_id")
        ):
            municipality = user.municipality_code
    return Principal(user_id, role, municipality, organization_id=principal.get("organization_id"))


# --- login, refresh, logout -------------------------------------------------------------


def _throttle_keys(email: str, address: str | None) -> list[tuple[str, LoginThrottle]]:
    keys = [(f"account:{email[:250]}", account_throttle())]
    if address:
        keys.append((f"address:{address[:100]}", address_throttle()))
    return keys


def check_throttle(session: Session, email: str, address: str | None, now: datetime) -> None:
    """429 with Retry-After while an account or an address has failed too often."""
    waits = []
    for key, throttle in _throttle_keys(email, address):
        count, last = session.execute(
            select(func.count(), func.max(LoginFailure.failed_at)).where(
                LoginFailure.key == key, LoginFailure.failed_at > now - throttle.window
            )
        ).one()
        decision = throttle.decide(count, last, now)
        if not decision.allowed:
            waits.append(decision.retry_after_seconds)
    if waits:
        retry_after = max(waits)
        raise TooManyRequests(
            f"Слишком много неудачных попыток входа, повторите через {retry_after} с",
            code="too_many_login_attempts",
            extra={"retry_after": retry_after},
        )


def count_failed_login(conn, email: str, address: str | None, now: datetime) -> None:
    """Count a failed login; `conn` is its own transaction, kept although the login fails."""
    for key, throttle in _throttle_keys(email, address):
        conn.execute(
            delete(LoginFailure).where(
                LoginFailure.key == key, LoginFailure.failed_at < now - 2 * throttle.window
            )
        )
        conn.execute(insert(LoginFailure).values(key=key, failed_at=now))


def _claims(user: User) -> dict:
    claims = {"sub": str(user.id), "role": user.role}
    if user.role == PROVIDER:
        claims["org"] = user.organization_id
    if user.role == MUNICIPAL_OPERATOR:
        claims["mun"] = user.municipality_code
    return claims


def _issue(session: Session, user: User, family_id: str, now: datetime) -> dict:
    refresh = domain.new_opaque_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=domain.hash_token(refresh),
            created_at=now,
            expires_at=now + refresh_token_ttl(),
        )
    )
    ttl = tokens.access_token_ttl()
    return {
        "access_token": tokens.issue_access_token(_claims(user), ttl=ttl, now=now),
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": ttl,
    }


def login(
    session: Session,
    passwords: Passwords,
    email: str,
    password: str,
    address: str | None,
    now: datetime,
    count_failure: Callable[[str, str | None, datetime], None],
) -> dict:
    """Tokens for a right e-mail and password; one message for every wrong pair, so that
    it does not tell whether the e-mail is registered. `count_failure` counts a failed
    login durably (in a transaction of its own: this one rolls back)."""
    email = email.strip().lower() if isinstance(email, str) else ""
    password = password if isinstance(password, str) else ""
    check_throttle(session, email, address, now)
    user = session.scalar(select(User).where(User.email == email)) if email else None
    matches = passwords.verify(user.password_hash if user else None, password)
    if user is None or not matches or not user.is_active:
        count_failure(email, address, now)
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    session.execute(delete(LoginFailure).where(LoginFailure.key == f"account:{email[:250]}"))
    return _issue(session, user, str(uuid.uuid4()), now)


def _token_row(session: Session, refresh_token: str, lock: bool = False) -> RefreshToken | None:
    if not isinstance(refresh_token, str) or not refresh_token:
        return None
    query = select(RefreshToken).where(RefreshToken.token_hash == domain.hash_token(refresh_token))
    return session.scalar(query.with_for_update() if lock else query)


def revoke_family(conn_or_session, family_id: str, now: datetime) -> None:
    conn_or_session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def refresh(
    session: Session,
    refresh_token: str,
    now: datetime,
    revoke: Callable[[str, datetime], None],
) -> dict:
    """A new pair for a live refresh token, which is rotated (used up). A rotated token
    presented again means a copy exists: `revoke` ends the whole family durably."""
    row = _token_row(session, refresh_token, lock=True)  # concurrent refreshes queue here
    if row is None:
        raise Unauthorized("Токен обновления недействителен", code="invalid_refresh_token")
    state = domain.check_refresh(
        domain.RefreshToken(
            row.family_id, row.token_hash, row.rotated_at, row.revoked_at, row.expires_at
        ),
        now,
    )
    if state == "reuse":
        log.warning(
            "refresh token reused: family %s of user %s revoked", row.family_id, row.user_id
        )
        revoke(row.family_id, now)
        raise Unauthorized("Токен обновления уже использован", code="refresh_token_reused")
    if state != "ok":
        raise Unauthorized("Токен обновления недействителен", code=f"refresh_token_{state}")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("Токен обновления недействителен", code="invalid_refresh_token")
    row.rotated_at = now
    return _issue(session, user, row.family_id, now)


def logout(session: Session, refresh_token: str, now: datetime) -> None:
    """Ends the login the refresh token belongs to; an unknown token is already ended."""
    row = _token_row(session, refresh_token)
    if row is not None:
        revoke_family(session, row.family_id, now)


# --- children ---------------------------------------------------------------------------


def child_view(child: Child) -> dict:
    return {
        "id": child.id,
        "parent_id": child.parent_id,
        "last_name": child.last_name,
        "first_name": child.first_name,
        "middle_name": child.middle_name,
        "sex": child.sex,
        "birth_date": child.birth_date,
        "snils": child.snils,
        "birth_certificate_series": child.birth_certificate_series,
        "birth_certificate_number": child.birth_certificate_number,
        "municipality_code": child.municipality_code,
        "verified": child.verified_at is not None,
        "verified_at": child.verified_at,
        "verified_by": child.verified_by,
        "verified_organization_id": child.verified_organization_id,
        "created_at": child.created_at,
        "updated_at": child.updated_at,
    }


def _checked_child_data(data: dict, today: date, directory: Directory) -> dict:
    """A child's data normalized by the domain, with a municipality the catalog knows."""
    try:
        values = domain.normalize_child(data, today)
    except InvalidFields as problem:
        raise rpc_error(problem) from None
    if directory.municipality(values["municipality_code"]) is None:
        message = "такого муниципалитета нет"
        raise InvalidInput(
            message, code="unknown_municipality", fields={"municipality_code": [message]}
        )
    return values


def _snils_taken() -> Conflict:
    # the same answer whoever holds the SNILS: nothing about the other child or parent
    return Conflict("Ребёнок с таким СНИЛС уже зарегистрирован", code="snils_taken")


def _flush_child(session: Session) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise _snils_taken() from exc


def add_child(
    session: Session, viewer: Principal, data: dict, today: date, directory: Directory
) -> dict:
    """A parent adds their child; event `child_registered`."""
    if viewer.role != PARENT:
        raise Forbidden("Детей добавляют родители", code="role_forbidden")
    values = _checked_child_data(data, today, directory)
    if session.scalar(select(Child.id).where(Child.snils == values["snils"])) is not None:
        raise _snils_taken()
    child = Child(parent_id=viewer.user_id, **values)
    session.add(child)
    _flush_child(session)
    session.refresh(child)
    emit(
        session,
        "child_registered",
        {
            "child_id": child.id,
            "parent_id": child.parent_id,
            "birth_date": child.birth_date.isoformat(),
            "municipality_code": child.municipality_code,
        },
    )
    return domain.present_child(child_view(child), domain.FULL)


def _children_visible_to(scope: Scope):
    """The one place a child scope becomes SQL: lists and single children use it alike."""
    return select(Child).where(
        where_visible(scope, parent_id=Child.parent_id, municipality_code=Child.municipality_code)
    )


def _find_child(session: Session, scope: Scope, child_id: int, lock: bool = False) -> Child:
    query = _children_visible_to(scope).where(Child.id == child_id)
    child = session.scalar(query.with_for_update() if lock else query)
    if child is None:  # absent or not theirs: the same 404, so existence does not leak
        raise NotFound("Ребёнок не найден", code="child_not_found")
    return child


def _visible_child(
    session: Session, viewer: Principal, child_id: int, lock: bool = False
) -> tuple[Child, str]:
    child = _find_child(session, domain.child_scope(viewer), child_id, lock)
    return child, domain.access_within_scope(viewer)


def show_child(session: Session, viewer: Principal, child_id: int) -> dict:
    """A child as the viewer may see them (documents masked for staff)."""
    child, access = _visible_child(session, viewer, child_id)
    return domain.present_child(child_view(child), access)


def list_children(session: Session, viewer: Principal, limit: int, offset: int) -> dict:
    """The children a viewer may see: a parent's own, a municipality's, or all."""
    query = _children_visible_to(domain.child_scope(viewer))
    access = domain.access_within_scope(viewer)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Child.id).limit(limit).offset(offset)).all()
    items = [domain.present_child(child_view(c), access) for c in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def change_child(
    session: Session,
    viewer: Principal,
    child_id: int,
    changes: dict,
    today: date,
    directory: Directory,
) -> dict:
    """The parent corrects their child's data; a change of what a provider verified clears
    the verified mark."""
    child, access = _visible_child(session, viewer, child_id, lock=True)
    if not domain.may_change_child(viewer, child.parent_id):
        raise Forbidden("Данные ребёнка меняет только его родитель", code="not_the_parent")
    before = {name: getattr(child, name) for name in domain.CHILD_FIELDS}
    merged = {**before, **{k: v for k, v in changes.items() if k in domain.CHILD_FIELDS}}
    after = _checked_child_data(merged, today, directory)
    if after["snils"] != child.snils:
        other = session.scalar(
            select(Child.id).where(Child.snils == after["snils"], Child.id != child.id)
        )
        if other is not None:
            raise _snils_taken()
    if not domain.verification_survives(before, after):
        child.verified_at = child.verified_by = child.verified_organization_id = None
    for name, value in after.items():
        setattr(child, name, value)
    _flush_child(session)
    session.refresh(child)
    return domain.present_child(child_view(child), access)


def verify_child(
    session: Session, viewer: Principal, organization_id: int | None, child_id: int, now: datetime
) -> dict:
    """A provider who saw the documents marks the child's data verified; event
    `child_verified`. Verifying an already verified child changes nothing."""
    child, access = _visible_child(session, viewer, child_id, lock=True)
    if not domain.may_verify_child(viewer, child.parent_id, child.municipality_code):
        raise Forbidden("Данные ребёнка подтверждает поставщик", code="role_forbidden")
    _mark_verified(session, child, viewer.user_id, organization_id, now)
    return domain.present_child(child_view(child), access)


def mark_child_verified(
    session: Session, child_id: int, verified_by: int, organization_id: int, now: datetime
) -> dict:
    """Enrollment's call when a provider enrolls the child (enrollment checked that the
    child applied to that provider's group): the data is verified, once."""
    child = session.scalar(select(Child).where(Child.id == child_id).with_for_update())
    if child is None:
        raise NotFound("Ребёнок не найден", code="child_not_found")
    _mark_verified(session, child, verified_by, organization_id, now)
    return child_view(child)


def _mark_verified(
    session: Session, child: Child, verified_by: int, organization_id: int | None, now: datetime
) -> None:
    if child.verified_at is None:
        child.verified_at = now
        child.verified_by = verified_by
        child.verified_organization_id = organization_id
        session.flush()
        emit(
            session,
            "child_verified",
            {
                "child_id": child.id,
                "verified_by": verified_by,
                "organization_id": organization_id,
                "verified_at": now.isoformat().replace("+00:00", "Z"),
            },
        )
    session.refresh(child)


def child_facts(session: Session, child_id: int) -> dict:
    """What other services need about a child (the schema leaves out SNILS and documents).
    Another service asks, not a person: it sees every child."""
    return child_view(_find_child(session, EVERYTHING, child_id))
