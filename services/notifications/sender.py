"""The sender: a thread of every notifications process that takes due e-mails and sends
them over SMTP. Each attempt is three steps with a commit between: mark `sending` (with its
time), speak to the server, record `sent` (or `pending` with a backoff when the server
refused or was unreachable). A process killed between the second and third step leaves a
`sending` row; when its lease ends any process sends it again with the same Message-ID and
counts the interrupted attempt, so the duplicate is recognisable and nothing is lost."""

import logging
import smtplib
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import sessionmaker

from servicekit import config
from servicekit.background import WakeableLoop
from servicekit.db import make_engine
from servicekit.faults import crash_point
from services.notifications import domain, operations
from services.notifications.smtp import Mailer, SmtpSettings, compose

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def send_due(
    factory, settings: SmtpSettings, backoff: domain.Backoff, lease: timedelta, now=utcnow
) -> int:
    """One round: every due e-mail taken, sent and recorded; answers how many were sent."""
    with factory() as session, session.begin():
        taken = operations.take_due(session, now(), lease)
    if not taken:
        return 0
    sent = 0
    try:
        mailer = Mailer(settings).__enter__()
    except (smtplib.SMTPException, OSError) as exc:
        _failed(factory, taken, f"SMTP {settings.host}:{settings.port}: {exc!r}", backoff, now)
        return 0
    try:
        for item in taken:
            message = compose(
                settings,
                item.to,
                item.subject,
                item.text,
                item.html,
                item.message_id,
                item.interrupted,
            )
            try:
                mailer.send(message)
            except (smtplib.SMTPException, OSError) as exc:
                _failed(factory, [item], repr(exc), backoff, now)
                continue
            crash_point("notification_sent_before_recorded")
            with factory() as session, session.begin():
                operations.record_sent(session, item.id, now())
            sent += 1
    finally:
        mailer.__exit__(None, None, None)
    return sent


def _failed(factory, items, error: str, backoff: domain.Backoff, now) -> None:
    log.warning("%d e-mail(s) not sent, retried later: %s", len(items), error)
    with factory() as session, session.begin():
        for item in items:
            operations.record_failed(session, item.id, now(), error, backoff)


class Sender(WakeableLoop):
    thread = "notification_sender"

    def setup(self):
        super().setup()
        self.interval = float(config.env("NOTIFICATIONS_POLL_SECONDS", "1"))
        self.settings = SmtpSettings.from_env()
        self.backoff = domain.Backoff(
            first=float(config.env("SMTP_RETRY_FIRST_SECONDS", "2")),
            most=float(config.env("SMTP_RETRY_MAX_SECONDS", "300")),
        )
        self.lease = timedelta(seconds=float(config.env("SMTP_SENDING_LEASE_SECONDS", "60")))
        self.engine = make_engine("notifications", pool_size=2, max_overflow=1)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)

    def work_round(self) -> bool:
        return (
            send_due(self.factory, self.settings, self.backoff, self.lease) > 0
        )  # more may be due
