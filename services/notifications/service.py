"""Notifications service: what happened to applications and money, told to the people
concerned, in the cabinet's list and by e-mail.

Every event it hears (on its own durable queues, reliable idempotent handlers, as any
integrator's) goes through triggers.py, which says which messages it makes and for whom;
operations.record stores them once per (event, recipient) with their e-mails, and the sender
(sender.py), a thread of the service, delivers the e-mails over SMTP. People, programs and
organizations are asked of accounts and the catalog over RPC with a deadline: the events
carry no personal data.
"""

import logging

from nameko.rpc import rpc

from servicekit import config
from servicekit.db import EVENTS_RECORDED
from servicekit.errors import NotFound
from servicekit.events import idempotent, reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.notifications import operations, triggers
from services.notifications.schemas import (
    NotificationPageSchema,
    NotificationSchema,
    PreferencesSchema,
)
from services.notifications.sender import Sender, utcnow
from services.notifications.smtp import SmtpSettings

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = float(config.env("NOTIFICATIONS_RPC_TIMEOUT", "5"))


class RpcDirectory:
    """triggers.Directory over RPC. A failure raises: the handler's event is retried with
    backoff (and parked at last), never acknowledged without its messages.

    One directory serves one event, and remembers its answers for that event: an application's
    letters (the parent's and its provider staff's) asked accounts for the child and the
    catalog for the program twice, two RPCs of seven per application on opening day."""

    def __init__(self, client):
        self.client = client
        self.answers: dict[tuple, object] = {}

    def _ask(self, service: str, method: str, *args):
        question = (service, method, *args)
        if question not in self.answers:
            try:
                answer = self.client.call(service, method, *args, timeout=LOOKUP_TIMEOUT)
            except NotFound:
                answer = None
            self.answers[question] = answer
        return self.answers[question]

    def person(self, user_id):
        return self._ask("accounts", "contact", user_id)

    def child(self, child_id):
        return self._ask("accounts", "child_contact", child_id)

    def organization_staff(self, organization_id):
        return self._ask("accounts", "organization_staff", organization_id) or []

    def municipal_operators(self, municipality_code):
        return self._ask("accounts", "municipal_operators", municipality_code) or []

    def mail_token(self, request_id):
        return self._ask("accounts", "mail_token", request_id)

    def program(self, program_id):
        return self._ask("catalog", "get_program", program_id)

    def group(self, group_id):
        return self._ask("catalog", "get_group", group_id)

    def organization(self, organization_id):
        return self._ask("catalog", "get_organization", organization_id)


def handles(producer: str, event_type: str):
    """A reliable, idempotent handler whose messages triggers.py plans."""

    def decorate(method):
        def handler(self, envelope):
            self._notify(producer, event_type, envelope)

        handler.__name__ = method.__name__
        handler.__qualname__ = f"NotificationsService.{method.__name__}"  # the event claim's
        handler.__doc__ = f"{producer}.{event_type}: the messages triggers.py plans for it."
        return reliable_handler(producer, event_type)(idempotent(handler))

    return decorate


class NotificationsService(ServiceBase):
    name = "notifications"

    rpc_client = TimedClusterRpc()
    sender = Sender()

    def _notify(self, producer: str, event_type: str, envelope: dict) -> None:
        planned = triggers.plan(
            producer, event_type, envelope["data"], RpcDirectory(self.rpc_client)
        )
        recorded = operations.record(
            self.db, envelope, planned, utcnow(), SmtpSettings.from_env().domain
        )
        if recorded:
            self.db.info[EVENTS_RECORDED] = True  # wakes the sender after the commit
        log.info("%s %s: %d notification(s)", event_type, envelope["event_id"], len(recorded))

    # --- accounts: the legally required messages -----------------------------------------

    @handles("accounts", "email_verification_requested")
    def on_email_verification_requested(self, envelope): ...

    @handles("accounts", "password_reset_requested")
    def on_password_reset_requested(self, envelope): ...

    # --- applications ------------------------------------------------------------------------

    @handles("enrollment", "enrollment_requested")
    def on_enrollment_requested(self, envelope): ...

    @handles("enrollment", "enrollment_waitlisted")
    def on_enrollment_waitlisted(self, envelope): ...

    @handles("enrollment", "enrollment_promoted")
    def on_enrollment_promoted(self, envelope): ...

    @handles("enrollment", "enrollment_confirmed")
    def on_enrollment_confirmed(self, envelope): ...

    @handles("enrollment", "enrollment_rejected")
    def on_enrollment_rejected(self, envelope): ...

    @handles("enrollment", "enrollment_expired")
    def on_enrollment_expired(self, envelope): ...

    @handles("enrollment", "application_expiring")
    def on_application_expiring(self, envelope): ...

    @handles("enrollment", "decisions_due_tomorrow")
    def on_decisions_due_tomorrow(self, envelope): ...

    # --- money ---------------------------------------------------------------------------------

    @handles("payments", "contract_terminated")
    def on_contract_terminated(self, envelope): ...

    @handles("payments", "charge_posted")
    def on_charge_posted(self, envelope): ...

    @handles("payments", "invoice_issued")
    def on_invoice_issued(self, envelope): ...

    @handles("certificates", "funds_reserved")
    def on_funds_reserved(self, envelope): ...

    @handles("certificates", "certificate_type_changed")
    def on_certificate_type_changed(self, envelope): ...

    @handles("certificates", "certificate_expired")
    def on_certificate_expired(self, envelope): ...

    @handles("certificates", "certificate_expiring")
    def on_certificate_expiring(self, envelope): ...

    # --- the cabinet ---------------------------------------------------------------------------

    @rpc
    def list_notifications(self, principal: dict, limit: int = 20, offset: int = 0) -> dict:
        page = operations.list_notifications(self.db, int(principal["user_id"]), limit, offset)
        return NotificationPageSchema().dump(page)

    @rpc
    def mark_read(self, principal: dict, notification_id: int) -> dict:
        row = operations.mark_read(self.db, int(principal["user_id"]), notification_id, utcnow())
        return NotificationSchema().dump(row)

    @rpc
    def get_preferences(self, principal: dict) -> dict:
        answer = operations.get_preferences(self.db, int(principal["user_id"]), principal["role"])
        return PreferencesSchema().dump(answer)

    @rpc
    def set_preferences(self, principal: dict, email: dict) -> dict:
        answer = operations.set_preferences(
            self.db, int(principal["user_id"]), principal["role"], email
        )
        return PreferencesSchema().dump(answer)
