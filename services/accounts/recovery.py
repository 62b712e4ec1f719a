"""E-mail confirmation and password reset, on a SQLAlchemy session.

A request is a `MailToken` row and an event naming only its `request_id` and the user's id
(`email_verification_requested`, `password_reset_requested`): the address and the token
never go on the broker, where integrators bind their queues. The notifications service asks
`mail_token(request_id)` over RPC for the address and a fresh token, whose SHA-256 replaces
any earlier one of that request (so only the link actually mailed works). A token opens once,
until `expires_at`. A reset request answers the same whether the address is registered or
not, and a confirmed reset revokes every refresh token of the account."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from contracts.refusals import InvalidFields
from contracts.roles import PARENT
from servicekit import config
from servicekit.outbox import emit
from services.accounts import domain
from services.accounts.domain import LoginThrottle, WeakPassword
from services.accounts.exceptions import InvalidInput, TooManyRequests, rpc_error
from services.accounts.models import MailToken, RefreshToken, User

VERIFY, RESET = "verify_email", "reset_password"
EVENTS = {VERIFY: "email_verification_requested", RESET: "password_reset_requested"}
Count = Callable[[list[tuple[str, LoginThrottle]], datetime], list[int]]
INVALID_TOKEN = "Ссылка недействительна: она уже использована, устарела или набрана с ошибкой"


def lifetime(purpose: str) -> timedelta:
    if purpose == RESET:
        return timedelta(seconds=int(config.env("PASSWORD_RESET_TTL", "3600")))
    return timedelta(seconds=int(config.env("EMAIL_VERIFICATION_TTL", str(72 * 3600))))


def reset_throttle() -> LoginThrottle:
    """Reset requests (each mails a letter): N per window per address and per account."""
    limit = int(config.env("PASSWORD_RESET_LIMIT", "5"))
    window = timedelta(seconds=int(config.env("PASSWORD_RESET_WINDOW", "3600")))
    return LoginThrottle(lock_after=limit, delay_after=limit, window=window, lock_for=window)


def token_throttle() -> LoginThrottle:
    """Tokens presented from one address (a guess at a 256-bit token is hopeless, but a
    flood still costs an argon2 hash per reset)."""
    limit = int(config.env("MAIL_TOKEN_ADDRESS_LIMIT", "20"))
    window = timedelta(seconds=int(config.env("MAIL_TOKEN_ADDRESS_WINDOW", "600")))
    return LoginThrottle(lock_after=limit, delay_after=limit, window=window, lock_for=window)


def request_mail(session: Session, user_id: int, purpose: str, now: datetime) -> str:
    """A new single-use link for the user, announced to the notifications service."""
    request_id = str(uuid.uuid4())
    session.add(
        MailToken(
            request_id=request_id,
            user_id=user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + lifetime(purpose),
        )
    )
    emit(session, EVENTS[purpose], {"request_id": request_id, "user_id": user_id})
    return request_id


def contact_view(user: User) -> dict:
    return contact(user.id, user.email, user.full_name, user.role)


def contact(user_id: int, email: str, full_name: str, role: str) -> dict:
    """What the notifications service is told of a person to write to."""
    return {"user_id": user_id, "email": email, "full_name": full_name, "role": role}


def mail_token(session: Session, request_id: str, now: datetime) -> dict | None:
    """For the notifications service: the address and a fresh token of a live request (None
    when it is used, expired or unknown). Asked again, it makes a new token and the earlier
    one stops working."""
    row = session.scalar(
        select(MailToken).where(MailToken.request_id == str(request_id)).with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    token = domain.new_opaque_token()
    row.token_hash = domain.hash_token(token)
    return {
        "purpose": row.purpose,
        "token": token,
        "expires_at": row.expires_at.isoformat(),
        "person": contact_view(user),
    }


def _spend(session: Session, token: object, purpose: str, now: datetime) -> MailToken:
    """The live request this token opens, used up now; else 422 `invalid_token`."""
    row = None
    if isinstance(token, str) and 0 < len(token) <= 200:
        row = session.scalar(
            select(MailToken)
            .where(MailToken.token_hash == domain.hash_token(token), MailToken.purpose == purpose)
            .with_for_update()
        )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise InvalidInput(INVALID_TOKEN, code="invalid_token", fields={"token": [INVALID_TOKEN]})
    row.used_at = now
    return row


def _count_token(address: str | None, now: datetime, count: Count | None) -> None:
    if address and count is not None:
        count([(f"mail-token:{address[:100]}", token_throttle())], now)


def verify_email(
    session: Session,
    token: object,
    now: datetime,
    address: str | None = None,
    count: Count | None = None,
) -> dict:
    _count_token(address, now, count)
    row = _spend(session, token, VERIFY, now)
    user = session.get(User, row.user_id, with_for_update=True)
    if user.email_verified_at is None:
        user.email_verified_at = now
    return {"verified": True}


def resend_confirmation(
    session: Session, user_id: int, now: datetime, count: Count | None = None
) -> None:
    """Another confirmation letter for a parent who lost the first (throttled as resets are);
    an address already confirmed gets none."""
    if count is not None:
        count([(f"confirm-again:{user_id}", reset_throttle())], now)
    user = session.get(User, user_id)
    if user is not None and user.is_active and user.email_verified_at is None:
        request_mail(session, user.id, VERIFY, now)


def request_password_reset(
    session: Session,
    email: object,
    now: datetime,
    address: str | None = None,
    count: Count | None = None,
) -> None:
    """Counted per address and per (claimed) account, then a letter if the account exists:
    the caller answers the same 202 either way."""
    canonical = domain.canonical_email(email)[:254] if isinstance(email, str) else ""
    if not canonical or "@" not in canonical:
        message = "укажите адрес электронной почты"
        raise InvalidInput(message, code="invalid_email", fields={"email": [message]})
    if count is not None:
        keys = [(f"reset-account:{canonical[:240]}", reset_throttle())]
        if address:
            keys.append((f"reset:{address[:100]}", reset_throttle()))
        try:
            count(keys, now)
        except TooManyRequests as refused:
            raise TooManyRequests(
                refused.message, code="too_many_reset_requests", extra=refused.extra
            ) from None
    user = session.scalar(select(User).where(User.email == canonical))
    if user is not None and user.is_active:
        request_mail(session, user.id, RESET, now)


def confirm_password_reset(
    session: Session,
    passwords,
    token: object,
    password: object,
    now: datetime,
    address: str | None = None,
    count: Count | None = None,
) -> None:
    _count_token(address, now, count)
    row = None
    if isinstance(token, str) and 0 < len(token) <= 200:
        row = session.scalar(
            select(MailToken).where(
                MailToken.token_hash == domain.hash_token(token), MailToken.purpose == RESET
            )
        )
    user = session.get(User, row.user_id) if row is not None else None
    try:
        domain.check_password(
            password, user.email if user else None, user.full_name if user else None
        )
    except WeakPassword as problem:
        raise rpc_error(InvalidFields({"password": [problem.message]})) from None
    row = _spend(session, token, RESET, now)
    user = session.get(User, row.user_id, with_for_update=True)
    user.password_hash = passwords.hash(password)
    # the address is proven by the link, as a confirmation would
    if user.email_verified_at is None:
        user.email_verified_at = now
    # every other outstanding reset link dies with this one, and every login ends
    session.execute(
        update(MailToken)
        .where(
            MailToken.user_id == user.id, MailToken.purpose == RESET, MailToken.used_at.is_(None)
        )
        .values(used_at=now)
    )
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, successor=None)
    )


def staff_contacts(session: Session, **where) -> list[dict]:
    query = select(User).where(User.is_active.is_(True))
    for column, value in where.items():
        query = query.where(getattr(User, column) == value)
    return [contact_view(user) for user in session.scalars(query.order_by(User.id))]


def may_apply(user: User) -> bool:
    """An unverified parent may search, add children and see them, but not apply."""
    return user.role != PARENT or user.email_verified_at is not None
