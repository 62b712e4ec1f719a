"""What the notifications service does, on a SQLAlchemy session: record the messages an
event makes (once per event and recipient), take due e-mails for sending and record how
each attempt went, list a user's notifications, mark one read, read and set preferences.
Nothing here commits but the delivery steps, which are transactions of their own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from servicekit.views import attributes
from services.notifications import domain, letters, triggers
from services.notifications.exceptions import NotFound, refusals_as_rpc_errors
from services.notifications.models import Delivery, Notification, Preference


def _stored_preferences(session: Session, user_id: int) -> dict[str, bool]:
    return _preferences_of(session, {user_id}).get(user_id, {})


def record(
    session: Session,
    envelope: dict,
    planned: list[triggers.Planned],
    now: datetime,
    mail_domain: str,
) -> list[int]:
    """The notifications (and their e-mails) an event makes; a repeat records nothing (the
    unique (event, user, kind)). Answers the new ids, in the order planned. Three statements
    whatever the number of letters (the recipients' preferences, the notifications, their
    e-mails), where each letter took three (issue 20); none for an event that plans none."""
    if not planned:
        return []
    event_id = uuid.UUID(envelope["event_id"])
    letters_ = []
    for item in planned:
        person = item.recipient
        link = domain.portal_link(triggers.portal_url(), item.path) if item.path else None
        greeting = f"Здравствуйте, {domain.person_name(person.get('full_name'))}!"
        letters_.append((item, link, letters.render(item.kind, item.context, greeting, link)))
    inserted = session.execute(
        insert(Notification)
        .values([
            {
                "user_id": item.recipient["user_id"],
                "kind": item.kind,
                "event_id": event_id,
                "subject": letter.subject,
                "text": letter.body if not item.secret else letter.subject,
                "link": link if not item.secret else None,
                "in_app": domain.KINDS[item.kind].in_app,
                "created_at": now,
            }
            for item, link, letter in letters_
        ])
        .on_conflict_do_nothing()
        .returning(Notification.id, Notification.user_id, Notification.kind)
    ).all()  # fmt: skip
    ids = {(row.user_id, row.kind): row.id for row in inserted}
    preferences = _preferences_of(session, {user_id for user_id, _kind in ids})
    recorded, deliveries = [], []
    for item, _link, letter in letters_:
        person = item.recipient
        notification_id = ids.pop((person["user_id"], item.kind), None)
        if notification_id is None:  # recorded by an earlier delivery of the event
            continue
        recorded.append(notification_id)
        wants = domain.sends_email(domain.KINDS[item.kind], preferences.get(person["user_id"], {}))
        if wants and person.get("email"):
            deliveries.append({
                "notification_id": notification_id,
                "message_id": domain.message_id(mail_domain),
                "to_address": person["email"],
                "subject": letter.subject,
                "text_body": letter.text,
                "html_body": letter.html,
                "secret": item.secret,
                "status": domain.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            })  # fmt: skip
    if deliveries:
        session.execute(insert(Delivery).values(deliveries))
    return recorded


def _preferences_of(session: Session, user_ids: set[int]) -> dict[int, dict[str, bool]]:
    """The stored preferences of these users, in one statement."""
    if not user_ids:
        return {}
    found: dict[int, dict[str, bool]] = {}
    for user_id, kind, email in session.execute(
        select(Preference.user_id, Preference.kind, Preference.email).where(
            Preference.user_id.in_(user_ids)
        )
    ):
        found.setdefault(user_id, {})[kind] = email
    return found


# --- delivery ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    id: int
    message_id: str
    to: str
    subject: str
    text: str
    html: str | None
    attempt: int
    interrupted: bool


def take_due(session: Session, now: datetime, lease, limit: int = 20) -> list[Outgoing]:
    """Due e-mails, marked `sending` (with the time) before anyone speaks to the server; the
    caller commits this first. A row another process holds is skipped (SKIP LOCKED)."""
    rows = session.scalars(
        select(Delivery)
        .where(Delivery.status != domain.SENT, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    taken = []
    for row in rows:
        attempt = domain.take(row.status, row.attempts, row.sending_since, now, lease)
        if attempt is None:
            continue
        row.status, row.sending_since, row.attempts = domain.SENDING, now, attempt.number
        # a `sending` row is only due again when its lease ends
        row.next_attempt_at = now + lease
        if attempt.interrupted:
            row.interrupted += 1
        taken.append(
            Outgoing(
                row.id,
                row.message_id,
                row.to_address,
                row.subject,
                row.text_body or "",
                row.html_body,
                attempt.number,
                attempt.interrupted,
            )
        )
    return taken


def record_sent(session: Session, delivery_id: int, now: datetime) -> None:
    row = session.get(Delivery, delivery_id, with_for_update=True)
    row.status, row.sent_at, row.last_error = domain.SENT, now, None
    if row.secret:  # the token's link is not kept once it has left
        row.text_body = row.html_body = None


def record_failed(
    session: Session, delivery_id: int, now: datetime, error: str, backoff: domain.Backoff
) -> None:
    row = session.get(Delivery, delivery_id, with_for_update=True)
    row.status, row.sending_since = domain.PENDING, None
    row.next_attempt_at = now + backoff.after(row.attempts)
    row.last_error = error[:1000]


# --- the cabinet ---------------------------------------------------------------------------


def _view(row: Notification) -> dict:
    return {
        **attributes(row, "id", "kind", "subject", "text", "link", "created_at"),
        "read": row.read_at is not None,
        "read_at": row.read_at,
    }


def list_notifications(session: Session, user_id: int, limit: int, offset: int) -> dict:
    mine = (Notification.user_id == user_id, Notification.in_app.is_(True))
    rows = session.scalars(
        select(Notification)
        .where(*mine)
        .order_by(Notification.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = session.scalar(select(func.count()).select_from(Notification).where(*mine))
    unread = session.scalar(
        select(func.count()).select_from(Notification).where(*mine, Notification.read_at.is_(None))
    )
    return {
        "items": [_view(r) for r in rows],
        "total": total,
        "unread": unread,
        "limit": limit,
        "offset": offset,
    }


def mark_read(session: Session, user_id: int, notification_id: int, now: datetime) -> dict:
    """Someone else's notification is not found (404), as if it did not exist."""
    session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            Notification.in_app.is_(True),
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    row = session.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            Notification.in_app.is_(True),
        )
    )
    if row is None:
        raise NotFound("Уведомление не найдено", code="notification_not_found")
    return _view(row)


def _preferences_view(role: str, stored: dict[str, bool]) -> dict:
    switches = domain.preferences_of(role, stored)
    return {
        "email": switches,
        "kinds": [
            {"kind": k.code, "title": k.title, "email": switches[k.code]}
            for k in domain.optional_kinds(role)
        ],
        "always_sent": [k.code for k in domain.KINDS.values() if k.required and k.audience == role],
    }


def get_preferences(session: Session, user_id: int, role: str) -> dict:
    return _preferences_view(role, _stored_preferences(session, user_id))


def set_preferences(session: Session, user_id: int, role: str, wanted: dict) -> dict:
    with refusals_as_rpc_errors():
        switches = domain.check_preferences(role, wanted)
    for kind, email in switches.items():
        session.execute(
            insert(Preference)
            .values(user_id=user_id, kind=kind, email=email)
            .on_conflict_do_update(index_elements=["user_id", "kind"], set_={"email": email})
        )
    return get_preferences(session, user_id, role)
