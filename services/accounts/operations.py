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

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Integer, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.principal import Principal
from contracts.refusals import InvalidField, InvalidFields
from contracts.roles import MUNICIPAL_OPERATOR, PARENT, PROVIDER
from contracts.scope import EVERYTHING, Reach, Scope
from servicekit import clock, config, sealing, tokens
from servicekit.outbox import emit
from servicekit.views import attributes
from servicekit.visibility import where_visible
from services.accounts import domain, recovery
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
from services.accounts.models import (
    Child,
    ChildApplication,
    Consent,
    LoginFailure,
    RefreshToken,
    User,
)

log = logging.getLogger(__name__)

CONSENT_PERSONAL_DATA = "personal_data"
# counts an attempt against throttle keys in a transaction of its own (count_attempt)
Count = Callable[[list["ThrottleKey"], datetime], list[int]]
INVALID_CREDENTIALS = "Неверный адрес электронной почты или пароль"


def utcnow() -> datetime:
    # the real time, not the business clock: tokens, throttles and sessions expire for real
    return datetime.now(UTC)


def refresh_token_ttl() -> timedelta:
    return timedelta(seconds=int(config.env("REFRESH_TOKEN_TTL", str(30 * 24 * 3600))))


def _int(name: str, default: int) -> int:
    return int(config.env(name, str(default)))


def account_throttle() -> LoginThrottle:
    """One account from one address: slowed after 3 failures, locked after 5."""
    return LoginThrottle(
        lock_after=_int("LOGIN_ACCOUNT_LOCK_AFTER", 5),
        delay_after=_int("LOGIN_ACCOUNT_DELAY_AFTER", 3),
    )


def account_everywhere_throttle() -> LoginThrottle:
    """One account from every address together: only slowed, never locked, so that failures
    from elsewhere cannot lock the owner out; the wait stays short for the owner."""
    return LoginThrottle(
        lock_after=None,
        delay_after=_int("LOGIN_ACCOUNT_GLOBAL_DELAY_AFTER", 10),
        max_delay=timedelta(seconds=_int("LOGIN_ACCOUNT_GLOBAL_MAX_DELAY", 8)),
    )


def address_throttle() -> LoginThrottle:
    # one address may be a school's NAT: more room than for one account
    return LoginThrottle(
        lock_after=_int("LOGIN_ADDRESS_LOCK_AFTER", 30),
        delay_after=_int("LOGIN_ADDRESS_DELAY_AFTER", 10),
    )


def registration_throttle() -> LoginThrottle:
    """Registrations from one address (each costs a 64 MiB argon2 hash): N per window."""
    limit = _int("REGISTER_ADDRESS_LIMIT", 10)
    window = timedelta(seconds=_int("REGISTER_ADDRESS_WINDOW", 600))
    return LoginThrottle(lock_after=limit, delay_after=limit, window=window, lock_for=window)


def snils_check_throttle() -> LoginThrottle:
    """How many SNILS one parent may have checked (a child added, or a SNILS changed)."""
    limit = _int("SNILS_CHECK_LIMIT", 10)
    window = timedelta(seconds=_int("SNILS_CHECK_WINDOW", 3600))
    return LoginThrottle(lock_after=limit, delay_after=limit, window=window, lock_for=window)


def refresh_grace() -> timedelta:
    """How long after a rotation the same refresh token gets the same new pair (two tabs)."""
    return timedelta(seconds=float(config.env("REFRESH_REUSE_GRACE_SECONDS", "30")))


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
        **attributes(user, "id", "email", "full_name", "phone", "role"),
        "roles": [user.role],
        **attributes(user, "organization_id", "municipality_code"),
        "email_verified": user.email_verified_at is not None,
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
    """409 `email_taken` for the same address, or one that looks the same (the same TR39
    skeleton: "provıder1@" beside "provider1@"), whichever account has it."""
    skeleton = domain.email_skeleton(values["email"])
    taken = session.scalar(
        select(User.id).where((User.email == values["email"]) | (User.email_skeleton == skeleton))
    )
    if taken is not None:
        raise Conflict("Этот адрес электронной почты уже зарегистрирован", code="email_taken")
    user = User(**values, email_skeleton=skeleton)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # registered concurrently
        raise Conflict(
            "Этот адрес электронной почты уже зарегистрирован", code="email_taken"
        ) from exc
    return user


def _registering(
    session: Session,
    passwords: Passwords,
    data: dict,
    role: str,
    now: datetime,
    address: str | None,
    count: Count | None,
) -> User:
    """The first half of a registration by the person themself (a parent or a provider): the
    personal-data consent they must give, the attempt counted against the address's limit
    (durably, before the password is hashed), their account flushed."""
    if data.get("consent_personal_data") is not True:
        message = "нужно согласие на обработку персональных данных"
        raise InvalidInput(
            message, code="consent_required", fields={"consent_personal_data": [message]}
        )
    if address and count is not None:
        count([(f"register:{address[:100]}", registration_throttle())], now)
    return _insert_user(session, {**_person_fields(data, passwords), "role": role})


def _registered(session: Session, user: User, now: datetime) -> dict:
    """The second half: the consent recorded, the e-mail confirmation letter asked for."""
    session.add(
        Consent(
            user_id=user.id,
            kind=CONSENT_PERSONAL_DATA,
            text_version=domain.CONSENT_TEXT_VERSION,
            given_at=now,
        )
    )
    session.flush()
    recovery.request_mail(session, user.id, recovery.VERIFY, now)
    session.refresh(user)
    return user_view(user)


def register_parent(
    session: Session,
    passwords: Passwords,
    data: dict,
    now: datetime,
    address: str | None = None,
    count: Count | None = None,
) -> dict:
    """A parent's own registration, with the personal-data consent they gave. `count`
    counts the attempt against the address's limit, durably, before the password is hashed."""
    user = _registering(session, passwords, data, PARENT, now, address, count)
    return _registered(session, user, now)


# the catalog's names of an organization's fields -> the registration form's, where the
# person's own (e-mail, phone) have the plain names
REGISTRATION_ORGANIZATION_FIELDS = {
    "name": "organization_name",
    "phone": "organization_phone",
    "email": "organization_email",
}


def register_provider(
    session: Session,
    passwords: Passwords,
    data: dict,
    now: datetime,
    create_organization,
    address: str | None = None,
    count: Count | None = None,
) -> dict:
    """A new provider's own registration: their account (the same e-mail, password and
    throttle rules as a parent's, a confirmation letter) and their organization, registered
    in the catalog by them as a provider without one; it waits, `pending`, for the regional
    operator's approval. `create_organization(principal, organization)` is the catalog's
    answer; its refusals (INN check digits, an INN taken, an unknown municipality) undo the
    account, which is only flushed until then; its field messages are named as the
    registration form names them (REGISTRATION_ORGANIZATION_FIELDS)."""
    user = _registering(session, passwords, data, PROVIDER, now, address, count)
    founder = Principal(user.id, PROVIDER, None, organization_id=None)
    try:
        organization = create_organization(founder.as_rpc(), data["organization"])
    except InvalidInput as problem:
        fields = {
            REGISTRATION_ORGANIZATION_FIELDS.get(name, name): text
            for name, text in problem.fields.items()
        }
        raise InvalidInput(problem.message, code=problem.code, fields=fields) from None
    user.organization_id = organization["id"]
    user.municipality_code = organization["municipality_code"]
    return _registered(session, user, now)


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
            # the operator who creates a staff account vouches for its address
            "email_verified_at": utcnow(),
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
    account says otherwise sees nothing: no municipality, no organization)."""
    user_id, role = int(principal["user_id"]), principal["role"]
    municipality = None
    organization = principal.get("organization_id") if role != PROVIDER else None
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
            municipality, organization = user.municipality_code, user.organization_id
    return Principal(user_id, role, municipality, organization_id=organization)


def require_active_organization(viewer: Principal, organization_id, directory: Directory) -> None:
    """A provider's staff act only while their organization is active: a suspended (or not yet
    approved) organization's staff can neither see nor verify children (403)."""
    if viewer.role != PROVIDER:
        return
    organization = directory.organization(organization_id) if organization_id else None
    if organization is None or organization.get("status") != "active":
        raise Forbidden(
            "Организация поставщика не действует (приостановлена или не подтверждена)",
            code="organization_not_active",
        )


# --- login, refresh, logout -------------------------------------------------------------


# a throttle key, its throttle, and optionally the key whose failures it is felt through
# (domain.decide_for_address): the account as a whole is felt through the account+address pair
ThrottleKey = tuple[str, LoginThrottle] | tuple[str, LoginThrottle, str]


def _login_keys(email: str, address: str | None) -> list[ThrottleKey]:
    digest = hashlib.sha256(f"{email}\0{address or ''}".encode()).hexdigest()
    pair = f"pair:{digest}"
    keys: list[ThrottleKey] = [
        (pair, account_throttle()),
        (f"account:{email[:250]}", account_everywhere_throttle(), pair),
    ]
    if address:
        keys.append((f"address:{address[:100]}", address_throttle()))
    return keys


def count_attempt(conn, keys: list[ThrottleKey], now: datetime) -> list[int]:
    """Count one attempt against every key, atomically and before any work is done: each
    key is locked (a transaction-level advisory lock) while its recent attempts are counted
    and this one is added, so concurrent attempts are counted one after another and none
    slips past the limit. 429 with Retry-After when a key is over its limit (and nothing is
    counted). `conn` is its own transaction, committed by the caller at once. Returns the
    ids of the rows added, for a successful login to take back."""
    windows = {key: throttle.window for key, throttle, *_ in keys}
    for key, _, *through in keys:  # the key an account is felt through counts in its window
        if through:
            windows.setdefault(through[0], windows[key])
    recent = {}
    for key in sorted(windows):
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
        recent[key] = conn.execute(
            select(func.count(), func.max(LoginFailure.failed_at)).where(
                LoginFailure.key == key, LoginFailure.failed_at > now - windows[key]
            )
        ).one()
    waits = []
    for key, throttle, *through in keys:
        count, last = recent[key]
        if through:
            own_count, own_last = recent[through[0]]
            decision = domain.decide_for_address(throttle, count, own_count, own_last, now)
        else:
            decision = throttle.decide(count, last, now)
        if not decision.allowed:
            waits.append(decision.retry_after_seconds)
    if waits:
        retry_after = max(waits)
        raise TooManyRequests(
            f"Слишком много попыток, повторите через {retry_after} с",
            code="too_many_attempts",
            extra={"retry_after": retry_after},
        )
    ids = []
    for key, throttle, *_ in keys:
        conn.execute(
            delete(LoginFailure).where(
                LoginFailure.key == key, LoginFailure.failed_at < now - 2 * throttle.window
            )
        )
        ids.append(
            conn.execute(
                insert(LoginFailure).values(key=key, failed_at=now).returning(LoginFailure.id)
            ).scalar_one()
        )
    return ids


def _claims(user: User) -> dict:
    claims = {"sub": str(user.id), "role": user.role}
    if user.role == PROVIDER:
        claims["org"] = user.organization_id
    if user.role == MUNICIPAL_OPERATOR:
        claims["mun"] = user.municipality_code
    if not recovery.may_apply(user):
        claims["unv"] = True  # the address is not confirmed: the gateway refuses applying
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
    count: Count,
) -> dict:
    """Tokens for a right e-mail and password; one message for every wrong pair, so that
    it does not tell whether the e-mail is registered.

    `count` (count_attempt in a transaction of its own) counts the attempt before the
    password is checked; a failure stays counted, a success takes its attempt back and
    forgets the account's failures. The owner is never locked out by failures from other
    addresses: the lock is per account and address, the account as a whole is only slowed."""
    email = domain.canonical_email(email)[:254]
    password = password if isinstance(password, str) else ""
    try:
        attempt = count(_login_keys(email, address), now)
    except TooManyRequests as refused:
        raise TooManyRequests(
            refused.message, code="too_many_login_attempts", extra=refused.extra
        ) from None
    user = session.scalar(select(User).where(User.email == email)) if email else None
    matches = passwords.verify(user.password_hash if user else None, password)
    if user is None or not matches or not user.is_active:
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    pair, everywhere = (key for key, *_ in _login_keys(email, address)[:2])
    session.execute(
        delete(LoginFailure).where(
            (LoginFailure.id.in_(attempt)) | LoginFailure.key.in_([pair, everywhere])
        )
    )
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
        .values(revoked_at=now, successor=None)
    )


def refresh(
    session: Session,
    refresh_token: str,
    now: datetime,
    revoke: Callable[[str, datetime], None],
) -> dict:
    """A new pair for a live refresh token, which is rotated (used up). The same token
    presented again within the grace period (two tabs refreshing at once) gets the same new
    pair; after it, a rotated token presented again means a copy exists: `revoke` ends the
    whole family durably."""
    row = _token_row(session, refresh_token, lock=True)  # concurrent refreshes queue here
    if row is None:
        raise Unauthorized("Токен обновления недействителен", code="invalid_refresh_token")
    state = domain.check_refresh(
        domain.RefreshToken(
            row.family_id, row.token_hash, row.rotated_at, row.revoked_at, row.expires_at
        ),
        now,
        refresh_grace(),
    )
    if state == "grace" and row.successor:
        try:
            return sealing.unseal(refresh_token, f"refresh:{row.family_id}", row.successor)
        except ValueError:
            state = "reuse"
    if state in ("grace", "reuse"):
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
    pair = _issue(session, user, row.family_id, now)
    row.successor = sealing.seal(refresh_token, f"refresh:{row.family_id}", pair)
    return pair


def logout(session: Session, refresh_token: str, now: datetime) -> None:
    """Ends the login the refresh token belongs to; an unknown token is already ended."""
    row = _token_row(session, refresh_token)
    if row is not None:
        revoke_family(session, row.family_id, now)


# --- children ---------------------------------------------------------------------------


def child_view(child: Child) -> dict:
    return {
        **attributes(child, "id", "parent_id", "last_name", "first_name", "middle_name", "sex",
                     "birth_date", "snils", "birth_certificate_series",
                     "birth_certificate_number", "municipality_code"),
        "verified": child.verified_at is not None,
        **attributes(child, "verified_at", "verified_by", "verified_organization_id",
                     "created_at", "updated_at"),
    }  # fmt: skip


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


SNILS_UNIQUE = "children_snils_key"


def _count_snils_check(viewer: Principal, count: Count | None) -> None:
    """Every SNILS checked against the registry counts, whatever the answer, before the
    check: past the limit a parent gets 429 for a registered and a free number alike. (Only
    "taken" answers counted once, so 429 itself meant "registered", at any rate.)"""
    if count is not None:
        count([(f"snils:{viewer.user_id}", snils_check_throttle())], utcnow())


def _snils_taken() -> Conflict:
    """409: someone has this SNILS (the same answer whoever it is)."""
    return Conflict("Ребёнок с таким СНИЛС уже зарегистрирован", code="snils_taken")


def _flush_child(session: Session) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint == SNILS_UNIQUE:  # registered concurrently
            raise _snils_taken() from exc
        log.error("child refused by the database (%s): %s", constraint, exc.orig)
        raise Conflict(
            "Данные ребёнка противоречат ограничению базы данных",
            code="constraint_violated",
            extra={"constraint": constraint},
        ) from exc


def add_child(
    session: Session,
    viewer: Principal,
    data: dict,
    today: date,
    directory: Directory,
    count: Count | None = None,
) -> dict:
    """A parent adds their child; event `child_registered`. `count` counts the SNILS check
    durably (see _count_snils_check)."""
    if viewer.role != PARENT:
        raise Forbidden("Детей добавляют родители", code="role_forbidden")
    values = _checked_child_data(data, today, directory)
    _count_snils_check(viewer, count)
    if session.scalar(select(Child.id).where(Child.snils == values["snils"])) is not None:
        raise _snils_taken()
    child = Child(parent_id=viewer.user_id, updated_at=clock.now(), **values)
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
    _child_changed(session, child)
    return domain.present_child(child_view(child), domain.FULL)


def _child_changed(session: Session, child: Child) -> None:
    """`child_changed`: the facts enrollment keeps of a child, so that an application does
    not ask accounts (issue 20)."""
    emit(
        session,
        "child_changed",
        {
            "child_id": child.id,
            "parent_id": child.parent_id,
            "birth_date": child.birth_date.isoformat(),
            "municipality_code": child.municipality_code,
            "changed_at": clock.instant_text(child.updated_at),
        },
    )


def _children_visible_to(scope: Scope):
    """The one place a child scope becomes SQL: lists and single children use it alike. A
    child's organizations are those it applied to (child_applications)."""
    if scope.reach is Reach.OWN_ORGANIZATION:
        applied = select(ChildApplication.child_id).where(
            where_visible(scope, organization_id=ChildApplication.organization_id)
        )
        return select(Child).where(Child.id.in_(applied))
    return select(Child).where(
        where_visible(scope, parent_id=Child.parent_id, municipality_code=Child.municipality_code)
    )


def applied_to(session: Session, child_id: int) -> list[int]:
    """The organizations a child applied to, as accounts has heard from enrollment."""
    return list(
        session.scalars(
            select(ChildApplication.organization_id).where(ChildApplication.child_id == child_id)
        )
    )


# built once: one of them per application on opening day (issue 20)
_RECORD_APPLICATION = (
    insert(ChildApplication)
    .values(
        child_id=bindparam("child_id", type_=Integer),
        organization_id=bindparam("organization_id", type_=Integer),
    )
    .on_conflict_do_nothing()
    .returning(ChildApplication.child_id)
)
_CHILD_CONTACT = (
    select(
        Child.id,
        Child.first_name,
        Child.last_name,
        Child.parent_id,
        User.email,
        User.full_name,
        User.role,
        User.is_active,
    )
    .join_from(Child, User, User.id == Child.parent_id)
    .where(Child.id == bindparam("child_id", type_=Integer))
)


def record_application(session: Session, data: dict) -> bool:
    """From an enrollment event: the child applied to the organization. A repeat (another
    event of the same or another application) changes nothing; True when it was new."""
    inserted = session.execute(
        _RECORD_APPLICATION,
        {"child_id": int(data["child_id"]), "organization_id": int(data["organization_id"])},
    ).first()
    return inserted is not None


def child_contact(session: Session, child_id: int) -> tuple[dict, dict | None] | None:
    """A child's name and parent, and the parent's contact (None for a closed account), in
    one statement of only these columns; None for no such child. For a letter to the
    parent (the notifications service): no documents."""
    if isinstance(child_id, bool) or not isinstance(child_id, int):
        return None
    row = session.execute(_CHILD_CONTACT, {"child_id": child_id}).first()
    if row is None:
        return None
    child = {"child_id": row.id, "first_name": row.first_name, "last_name": row.last_name,
             "parent_id": row.parent_id}  # fmt: skip
    parent = (
        recovery.contact(row.parent_id, row.email, row.full_name, row.role)
        if row.is_active
        else None
    )
    return child, parent


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
    count: Count | None = None,
    certificate_of: Callable[[int], dict | None] | None = None,
) -> dict:
    """The parent corrects their child's data; a change of what a provider verified clears
    the verified mark. The birth date and the municipality cannot change while money is
    reserved on the child's certificate (`certificate_of` asks the certificates service):
    the certificate keeps those of its issue either way (docs/certificates.md)."""
    child, access = _visible_child(session, viewer, child_id, lock=True)
    if not domain.may_change_child(viewer, child.parent_id):
        raise Forbidden("Данные ребёнка меняет только его родитель", code="not_the_parent")
    before = {name: getattr(child, name) for name in domain.CHILD_FIELDS}
    merged = {**before, **{k: v for k, v in changes.items() if k in domain.CHILD_FIELDS}}
    after = _checked_child_data(merged, today, directory)
    moved = [n for n in domain.CERTIFICATE_FIELDS if after[n] != before[n]]
    if moved and certificate_of is not None:
        certificate = certificate_of(child.id)
        if certificate is not None and int(certificate.get("reserved", 0)) > 0:
            message = "нельзя изменить, пока на сертификате ребёнка зарезервированы средства"
            raise Conflict(
                "Пока по сертификату ребёнка есть заявки или договоры с резервом средств, "
                "дату рождения и муниципалитет изменить нельзя",
                code="certificate_money_reserved",
                fields={name: [message] for name in moved},
            )
    if after["snils"] != child.snils:
        _count_snils_check(viewer, count)
        other = session.scalar(
            select(Child.id).where(Child.snils == after["snils"], Child.id != child.id)
        )
        if other is not None:
            raise _snils_taken()
    if not domain.verification_survives(before, after):
        child.verified_at = child.verified_by = child.verified_organization_id = None
    for name, value in after.items():
        setattr(child, name, value)
    if session.is_modified(child):
        child.updated_at = domain.change_stamp(clock.now(), child.updated_at)
    _flush_child(session)
    session.refresh(child)
    if moved:
        _child_changed(session, child)
    return domain.present_child(child_view(child), access)


def verify_child(
    session: Session, viewer: Principal, organization_id: int | None, child_id: int, now: datetime
) -> dict:
    """A provider who saw the documents marks the child's data verified; event
    `child_verified`. Verifying an already verified child changes nothing."""
    child, access = _visible_child(session, viewer, child_id, lock=True)
    applied = applied_to(session, child.id)
    if not domain.may_verify_child(viewer, child.parent_id, child.municipality_code, applied):
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
        child.updated_at = domain.change_stamp(clock.now(), child.updated_at)
        session.flush()
        emit(
            session,
            "child_verified",
            {
                "child_id": child.id,
                "verified_by": verified_by,
                "organization_id": organization_id,
                "verified_at": clock.instant_text(now),
            },
        )
    session.refresh(child)


def child_facts(session: Session, child_id: int) -> dict:
    """What other services need about a child (the schema leaves out SNILS and documents).
    Another service asks, not a person: it sees every child."""
    return child_view(_find_child(session, EVERYTHING, child_id))


def count_children(session: Session, municipality_code: str | None) -> int:
    """Children registered in a municipality (the region's when the code is None), for
    payments' reports: a child counts once whatever its parent or verification."""
    query = select(func.count()).select_from(Child)
    if municipality_code is not None:
        query = query.where(Child.municipality_code == municipality_code)
    return int(session.execute(query).scalar_one())
