"""Sending one e-mail over SMTP with the standard library: plain text and HTML as
alternatives, the notification's own Message-ID. The server is the operator's relay
(SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS); in development the local
aiosmtpd of the Procfile, which stores every message in var/mail/ (a Maildir)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from servicekit import config


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    starttls: bool
    sender: str
    timeout: float

    @classmethod
    def from_env(cls) -> SmtpSettings:
        return cls(
            host=config.env("SMTP_HOST", "127.0.0.1"),
            port=int(config.env("SMTP_PORT", "1025")),
            user=config.env("SMTP_USER", "") or None,
            password=config.env("SMTP_PASSWORD", "") or None,
            starttls=config.env("SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
            sender=config.env("MAIL_FROM", "Навигатор <noreply@navigator.local>"),
            timeout=float(config.env("SMTP_TIMEOUT", "10")),
        )

    @property
    def domain(self) -> str:
        return self.sender.rsplit("@", 1)[-1].strip(" >") or "navigator.local"


def compose(
    settings: SmtpSettings,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    interrupted: bool = False,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    if interrupted:
        # an earlier attempt may have reached the server: same Message-ID, marked
        message["X-Navigator-Resent"] = "yes"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


class Mailer:
    """One SMTP connection for a batch of messages."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        s = self.settings
        self.connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.starttls:
            self.connection.starttls(context=ssl.create_default_context())
        if s.user:
            self.connection.login(s.user, s.password or "")
        return self

    def send(self, message: EmailMessage) -> None:
        self.connection.send_message(message)

    def __exit__(self, *exc) -> None:
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
