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

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from servicekit import config
from servicekit.db import EVENTS_RECORDED
from servicekit.errors import NotFound
from servicekit.events import idempotent, reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.notifications import operations, triggers
from services.notifications.lookups import SHARED, SharedLookups
from services.notifications.schemas import (
    NotificationPageSchema,
    NotificationSchema,
    PreferencesSchema,
)
from services.notifications.sender import Sender, utcnow
from services.notifications.smtp import SmtpSettings

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = float(config.env("NOTIFICATIONS_RPC_TIMEOUT", "5"))


class SharedLookupsProvider(DependencyProvider):
    """The process's memory of the answers that are the same for every applicant (staff,
    operators, programs, groups, organizations), shared by all its workers and events: one per
    service container, so one per process in production, a fresh one per test's container.
    Kept NOTIFICATIONS_LOOKUP_CACHE_SECONDS (0: not kept): a program renamed or a staff member
    removed shows in letters at most this long after (docs/notifications.md)."""

    def setup(self):
        self.lookups = SharedLookups(
            float(config.env("NOTIFICATIONS_LOOKUP_CACHE_SECONDS", "5")),
            int(config.env("NOTIFICATIONS_LOOKUP_CACHE_ENTRIES", "1024")),
        )

    def get_dependency(self, worker_ctx):
        return self.lookups


class RpcDirectory:
    """triggers.Directory over RPC. A failure raises: the handler's event is retried with
    backoff (and parked at last), never acknowledged without its messages.

    One directory serves one event, and remembers its answers for that event: an application's
    letters (the parent's and its provider staff's) asked accounts for the child and the
    catalog for the program twice, two RPCs of seven per application on opening day.

    The answers that are the same for every applicant also come from `shared`, the process's
    short-lived memory (lookups.py): thousands of opening-day applications to one group asked
    the same staff, program and organization once each."""

    def __init__(self, client, shared: SharedLookups | None = None):
        self.client = client
        self.shared = SharedLookups(0) if shared is None else shared
        self.answers: dict[tuple, object] = {}

    def _ask(self, service: str, method: str, *args):
        question = (service, method, *args)
        if question not in self.answers:
            self.answers[question] = self._fetch(question)
        return self.answers[question]

    def _fetch(self, question: tuple):
        service, method, *args = question
        shared = (service, method) in SHARED and self.shared.enabled
        if shared:
            kept, answer = self.shared.get(question)
            if kept:
                return answer
        try:
            answer = self.client.call(service, method, *args, timeout=LOOKUP_TIMEOUT)
        except NotFound:
            return None  # not kept: the organization or program may appear at once
        if shared:
            self.shared.put(question, answer)
        return answer

    def person(self, user_id):
        return self._ask("accounts", "contact", user_id)

    def child(self, child_id):
        child = self._ask("accounts", "child_contact", child_id)
        if child and "parent" in child:  # the parent's contact came with it: not asked again
            self.answers.setdefault(("accounts", "contact", child["parent_id"]), child["parent"])
        return child

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


def handles(producer: str, event_type: str, claimed: bool = False):
    """A reliable handler whose messages triggers.py plans. Idempotent by its effect:
    `notifications` is unique on (event, user, kind) and a delivery is made only with its
    notification, so a redelivered event records and mails nothing. Only `claimed` handlers
    also claim the event id first (servicekit.events.idempotent): those whose planning
    writes elsewhere, as accounts' `mail_token` does (asked again, it issues a new token and
    the mailed one stops working). For the others a claim would be one more insert per
    event, and a whole transaction for the many events that plan no letter (a reservation
    leaving the balance high: every seated application of opening day), issue 20."""

    def decorate(method):
        def handler(self, envelope):
            self._notify(producer, event_type, envelope)

        handler.__name__ = method.__name__
        handler.__qualname__ = f"NotificationsService.{method.__name__}"  # the claim's name
        handler.__doc__ = f"{producer}.{event_type}: the messages triggers.py plans for it."
        return reliable_handler(producer, event_type)(idempotent(handler) if claimed else handler)

    return decorate


class NotificationsService(ServiceBase):
    name = "notifications"

    # Lookups only read, so their requests go without publisher confirms, on one kept channel
    # as the gateway's do (servicekit.rpc.ChannelPublisher): a confirm cost each of the two
    # or three lookups of every application's letters a round trip to the broker and about a
    # sixth of this service's CPU on opening day (issue 20). A lookup of a service that is not
    # running then ends at its deadline (NOTIFICATIONS_RPC_TIMEOUT) instead of at once, and
    # the event is retried with backoff either way.
    rpc_client = TimedClusterRpc(use_confirms=False)
    shared_lookups = SharedLookupsProvider()
    sender = Sender()

    def _notify(self, producer: str, event_type: str, envelope: dict) -> None:
        directory = RpcDirectory(self.rpc_client, self.shared_lookups)
        planned = triggers.plan(producer, event_type, envelope["data"], directory)
        recorded = operations.record(
            self.db, envelope, planned, utcnow(), SmtpSettings.from_env().domain
        )
        if recorded:
            self.db.info[EVENTS_RECORDED] = True  # wakes the sender after the commit
        log.info("%s %s: %d notification(s)", event_type, envelope["event_id"], len(recorded))

    # --- accounts: the legally required messages -----------------------------------------

    @handles("accounts", "email_verification_requested", claimed=True)
    def on_email_verification_requested(self, envelope): ...

    @handles("accounts", "password_reset_requested", claimed=True)
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
