"""Certificates service: certificates, periods, nominals, municipal limits and the queue,
and the money ledger (credit, reserve, release, debit, expire).

Entrypoints are thin: operations.py does the work on the worker's session (committed when
the entrypoint returns), servicekit.errors.refusals_as_rpc_errors turns refusals into RPC
errors (the one mapping every service uses). Callers with a `principal` are the gateway
(`Principal.as_rpc()`); the money calls (reserve_funds, release_funds, debit_funds,
get_balance, ensure_certificate) are for enrollment and payments, as docs/interfaces.md says.
"""

import logging

from nameko.rpc import rpc

from contracts.principal import Principal
from servicekit import clock, config
from servicekit.calendar import Calendar, Job
from servicekit.errors import NavigatorError, NotFound, ServiceUnavailable
from servicekit.events import idempotent, reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.certificates import batch, operations, rollover
from services.certificates.exceptions import refusals_as_rpc_errors
from services.certificates.schemas import BandsSchema, PeriodSchema, SettingsSchema, load

log = logging.getLogger(__name__)

# shorter than the gateway's deadline on us, so a slow neighbour is our 503, not a timeout
NEIGHBOUR_TIMEOUT = float(config.env("NEIGHBOUR_RPC_TIMEOUT", "3"))


class Neighbours:
    """Accounts (children) and the catalog (municipalities), asked over RPC with a deadline."""

    def __init__(self, client):
        self.client = client

    def _ask(self, service: str, method: str, *args) -> dict | None:
        try:
            return self.client.call(service, method, *args, timeout=NEIGHBOUR_TIMEOUT)
        except NotFound:
            return None
        except NavigatorError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. MethodNotFound from an older service
            log.warning("%s.%s failed: %r", service, method, exc)
            raise ServiceUnavailable(
                f"Сервис {service} сейчас не отвечает, повторите позже",
                code=f"{service}_unavailable",
            ) from exc

    def child(self, child_id: int) -> dict | None:
        return self._ask("accounts", "get_child", child_id)

    def municipality(self, code: str) -> dict | None:
        return self._ask("catalog", "get_municipality", code)

    def operator_name(self, viewer: Principal) -> str | None:
        """The name for the ledger; the change does not wait for accounts (the id is kept)."""
        try:
            user = self._ask("accounts", "me", viewer.as_rpc())
        except ServiceUnavailable:
            return None
        return user.get("full_name") if user else None


class CertificatesService(ServiceBase):
    name = "certificates"

    neighbour_rpc = TimedClusterRpc()
    # a period closes once its last day is over; certificates expire at the 18th birthday
    calendar = Calendar(
        Job("close_periods", rollover.close_due_periods),
        Job("expire_aged", rollover.expire_aged_job),
        # certificates financed before their children apply (issue 20)
        Job("finance_registered", rollover.finance_registered_job),
        # parents told a certificate's validity ends within 30 days (issue 23)
        Job("announce_expiring", rollover.announce_expiring_job),
    )

    @property
    def neighbours(self) -> Neighbours:
        return Neighbours(self.neighbour_rpc)

    def _child(self, child_id: int, child: dict | None) -> dict:
        child = child or self.neighbours.child(child_id)
        if child is None:
            raise NotFound("Ребёнок не найден", code="child_not_found")
        return child

    # --- money: enrollment and payments -------------------------------------------------

    @rpc
    def list_periods(self) -> list[dict]:
        return operations.list_periods(self.db)

    @rpc
    def ensure_certificate(self, child_id: int, child: dict | None = None) -> dict:
        with refusals_as_rpc_errors():
            certificate = operations.ensure_certificate(self.db, self._child(child_id, child))
            return operations.certificate_view(self.db, certificate, clock.today())

    @rpc
    def reserve_funds(
        self, enrollment_id: str, child: dict, period_id: int, amount: int, financing: bool
    ) -> dict:
        with refusals_as_rpc_errors():
            certificate, written = operations.ready_to_reserve(
                self.db, self._child(None, child), period_id, financing
            )
            if written:
                self.db.commit()  # issued and financed (or queued) even if the reservation fails
            return operations.reserve_funds(
                self.db, certificate, enrollment_id, period_id, amount, clock.today(),
                free_place=not financing,
            )  # fmt: skip

    @rpc
    def reserve_many(self, items: list[dict]) -> list[dict]:
        """`reserve_funds` for a batch of applications in one transaction (batch.py); one
        outcome per item, a refusal of one never refuses the others."""
        return batch.reserve_many(
            self.db, items, clock.today(), lambda child: self._child(None, child)
        )

    @rpc
    def child_certificate(self, child_id: int) -> dict:
        """For accounts: the child's certificate as issued (birth date, municipality) and the
        money reserved on it now; NotFound when the child has none."""
        return operations.child_certificate(self.db, child_id)

    # a free place ends with its application or contract (issue 18 item 13)

    @reliable_handler("enrollment", "enrollment_terminated")
    @idempotent
    def on_enrollment_terminated(self, envelope):
        operations.enrollment_ended(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_completed")
    @idempotent
    def on_enrollment_completed(self, envelope):
        operations.enrollment_ended(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_rejected")
    @idempotent
    def on_enrollment_rejected(self, envelope):
        operations.enrollment_ended(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_cancelled")
    @idempotent
    def on_enrollment_cancelled(self, envelope):
        operations.enrollment_ended(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_expired")
    @idempotent
    def on_enrollment_expired(self, envelope):
        operations.enrollment_ended(self.db, envelope["data"])

    @reliable_handler("accounts", "child_registered")
    @idempotent
    def on_child_registered(self, envelope):
        """The certificate is issued with the facts the child was registered with: a later
        edit of the birth date or municipality never changes its nominal or its payer. It is
        financed at once for an open period whose limit has room (issue 20)."""
        with refusals_as_rpc_errors():
            certificate = operations.ensure_certificate(
                self.db, operations.registered_child(envelope["data"])
            )
            # and financed now when the limit has room: the first application only reserves
            operations.finance_registered_child(self.db, certificate, clock.today())

    @rpc
    def release_funds(
        self,
        enrollment_id: str,
        amount: int | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> dict:
        with refusals_as_rpc_errors():
            return operations.release_funds(self.db, enrollment_id, amount, reason, key)

    @rpc
    def debit_funds(self, items: list[dict]) -> list[dict]:
        with refusals_as_rpc_errors():
            return operations.debit_funds(self.db, items)

    @rpc
    def get_balance(self, child_id: int) -> dict:
        return operations.get_balance(self.db, child_id, clock.today())

    @rpc
    def usage_totals(self, municipality_code: str | None = None, month: str | None = None):
        """For payments' reports: credited, reserved, spent, expired (and spent in a month)."""
        with refusals_as_rpc_errors():
            return operations.usage_totals(self.db, municipality_code, month)

    # --- parents and operators, through the gateway --------------------------------------

    @rpc
    def list_certificates(self, principal: dict, filters: dict, limit: int, offset: int) -> dict:
        return operations.list_certificates(
            self.db, Principal.from_rpc(principal), filters, limit, offset, clock.today()
        )

    @rpc
    def show_certificate(self, principal: dict, number: str) -> dict:
        return operations.show_certificate(
            self.db, Principal.from_rpc(principal), number, clock.today()
        )

    @rpc
    def list_transactions(self, principal: dict, number: str, limit: int, offset: int) -> dict:
        return operations.transactions(
            self.db, Principal.from_rpc(principal), number, limit, offset
        )

    @rpc
    def request_certificate(self, principal: dict, child_id: int) -> dict:
        return operations.request_certificate(
            self.db, Principal.from_rpc(principal), child_id, self.neighbours, clock.today()
        )

    @rpc
    def freeze(self, principal: dict, number: str, frozen: bool = True) -> dict:
        with refusals_as_rpc_errors():
            return operations.set_status(
                self.db, Principal.from_rpc(principal), number, frozen, clock.today()
            )

    @rpc
    def change_nominal(
        self, principal: dict, number: str, amount: int, reason: str | None = None
    ) -> dict:
        with refusals_as_rpc_errors():
            return operations.change_nominal(
                self.db, Principal.from_rpc(principal), number, amount, reason, clock.today(),
                self.neighbours,
            )  # fmt: skip

    @rpc
    def open_period(self, data: dict) -> dict:
        body = load(PeriodSchema(), data)
        with refusals_as_rpc_errors():
            return operations.open_period(
                self.db, body["name"], body["start_date"], body["end_date"]
            )

    @rpc
    def close_period(self, period_id: int) -> dict:
        operations.get_period(self.db, period_id)
        with refusals_as_rpc_errors():
            return rollover.close_period(
                rollover.sessions_on(self.db.get_bind()), period_id, clock.today()
            )

    @rpc
    def run_calendar_job(self, name: str) -> dict:
        """An operator runs a calendar job now (`close_periods`, `expire_aged`,
        `finance_registered`, `announce_expiring`)."""
        with refusals_as_rpc_errors():
            return operations.run_calendar_job(self.calendar, name)

    @rpc
    def get_funding(self, principal: dict, code: str, period_id: int) -> dict:
        return operations.get_funding(
            self.db, Principal.from_rpc(principal), code, period_id, self.neighbours
        )

    @rpc
    def set_nominals(self, principal: dict, code: str, period_id: int, data: dict) -> dict:
        body = load(BandsSchema(), data)
        with refusals_as_rpc_errors():
            return operations.set_nominals(
                self.db,
                Principal.from_rpc(principal),
                code,
                period_id,
                body,
                self.neighbours,
            )

    @rpc
    def get_settings(self, principal: dict, code: str) -> dict:
        return operations.get_settings(
            self.db, Principal.from_rpc(principal), code, self.neighbours
        )

    @rpc
    def set_settings(self, principal: dict, code: str, data: dict) -> dict:
        body = load(SettingsSchema(), data)
        with refusals_as_rpc_errors():
            return operations.set_settings(
                self.db, Principal.from_rpc(principal), code, body, self.neighbours
            )

    @rpc
    def set_limit(self, principal: dict, code: str, period_id: int, limit: int) -> dict:
        with refusals_as_rpc_errors():
            return operations.set_limit(
                self.db, Principal.from_rpc(principal), code, period_id, limit, self.neighbours
            )

    @rpc
    def list_queue(self, principal: dict, code: str, period_id: int, limit: int, offset: int):
        return operations.queue(
            self.db, Principal.from_rpc(principal), code, period_id, limit, offset, self.neighbours
        )
