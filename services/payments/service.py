"""Payments service: contracts, attendance, monthly billing, invoices, reports.

Entrypoints are thin: they call operations.py on the worker's session (committed when the
entrypoint returns) and dump the answer through schemas.py. Billing runs are worked by the
runner (runner.py), a thread of every payments process, batch by batch.
"""

import base64
import logging
import time

from nameko.rpc import rpc

from servicekit import clock, config
from servicekit.calendar import Calendar, Job
from servicekit.errors import InvalidInput, ServiceUnavailable
from servicekit.events import idempotent, reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.payments import calendar_jobs, operations
from services.payments.exceptions import refusals_as_rpc_errors
from services.payments.runner import BillingRunner
from services.payments.schemas import (
    ChildContractSchema,
    GroupMonthSchema,
    InvoicePageSchema,
    InvoiceSchema,
    RecordedSchema,
    RegisterSchema,
    ReportSchema,
    RunSchema,
)

log = logging.getLogger(__name__)

RELEASE_REASON = "договор расторгнут досрочно"
# shorter than the gateway's deadline on us, so a peer that does not answer is our 503
REPORT_TIMEOUT = float(config.env("REPORT_RPC_TIMEOUT", "3"))


def unavailable(service: str, exc: BaseException) -> ServiceUnavailable:
    log.warning("report: %s failed: %r", service, exc)
    return ServiceUnavailable(
        f"Отчёт не собран: сервис {service} сейчас не отвечает, повторите позже",
        code=f"{service}_unavailable",
    )


class ReportPeers:
    """A report's figures that other services own, asked side by side over RPC with one
    deadline for all; any of them failing is the report's 503, never a partial report."""

    def __init__(self, client):
        self.client = client

    def ask(self, municipality_code: str | None, month: str | None):
        questions = (
            ("children_registered", "accounts", "count_children", (municipality_code,)),
            ("certificate_usage", "certificates", "usage_totals", (municipality_code, month)),
            ("enrollments_by_status", "enrollment", "count_by_status", (municipality_code,)),
        )
        deadline = time.monotonic() + REPORT_TIMEOUT
        sent = {}
        for figure, service, method, args in questions:
            try:
                sent[figure] = service, self.client.call_async(service, method, *args)
            except Exception as exc:  # noqa: BLE001 - e.g. the service is not running
                raise unavailable(service, exc) from exc

        def collect() -> dict:
            answers = {}
            for figure, (service, reply) in sent.items():
                left = max(deadline - time.monotonic(), 0.001)
                try:
                    answers[figure] = self.client.wait(service, reply, left)
                except Exception as exc:  # noqa: BLE001 - late, or an error of any kind
                    raise unavailable(service, exc) from exc
            return answers

        return collect

    def organization_names(self, organization_ids: list[int]) -> dict[str, str]:
        """The catalog's names of the organizations a report lists ({} for none); a catalog
        that does not answer in time is the report's 503, as for the other figures."""
        if not organization_ids:
            return {}
        try:
            return self.client.call(
                "catalog", "organization_names", organization_ids, timeout=REPORT_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - late, or an error of any kind
            raise unavailable("catalog", exc) from exc


class PaymentsService(ServiceBase):
    name = "payments"

    rpc_client = TimedClusterRpc()
    billing_runner = BillingRunner()
    calendar = Calendar(
        Job("advances", calendar_jobs.advances),
        Job("final_billing", calendar_jobs.final_billing),
    )

    @property
    def report_peers(self) -> ReportPeers:
        return ReportPeers(self.rpc_client)

    # --- contracts, from enrollment's events -------------------------------------------

    @reliable_handler("enrollment", "enrollment_confirmed")
    @idempotent
    def on_enrollment_confirmed(self, envelope):
        operations.activate_contract(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_terminated")
    @idempotent
    def on_enrollment_terminated(self, envelope):
        operations.terminate_contract(self.db, envelope["data"], self._release_funds)

    @reliable_handler("enrollment", "enrollment_completed")
    @idempotent
    def on_enrollment_completed(self, envelope):
        operations.complete_contract(self.db, envelope["data"], self._release_funds)

    def _release_funds(self, enrollment_id: str, amount: int, key: str) -> dict:
        return self.rpc_client.call(
            "certificates", "release_funds", enrollment_id, amount, RELEASE_REASON, key
        )

    # --- attendance --------------------------------------------------------------------

    @rpc
    def record_lessons(self, principal: dict, group_id: int, lessons: list[dict]) -> dict:
        with refusals_as_rpc_errors():
            answer = operations.record_lessons(self.db, principal, group_id, lessons)
        return RecordedSchema().dump(answer)

    @rpc
    def group_month(self, principal: dict, group_id: int, month: str) -> dict:
        with refusals_as_rpc_errors():
            answer = operations.group_month(self.db, principal, group_id, month)
        return GroupMonthSchema().dump(answer)

    @rpc
    def set_completeness_mode(self, principal: dict, municipality_code: str, mode: str) -> dict:
        return operations.set_completeness_mode(self.db, principal, municipality_code, mode)

    @rpc
    def billing_settings(self, principal: dict, municipality_code: str) -> dict:
        return operations.billing_settings(self.db, principal, municipality_code)

    @rpc
    def set_billing_settings(self, principal: dict, municipality_code: str, changes: dict):
        with refusals_as_rpc_errors():
            return operations.set_billing_settings(self.db, principal, municipality_code, changes)

    # --- billing -----------------------------------------------------------------------

    @rpc
    def start_billing_run(self, principal: dict, month: str) -> dict:
        with refusals_as_rpc_errors():
            run = operations.start_billing_run(self.db, principal, month, clock.today())
        self.billing_runner.wake()
        return RunSchema().dump(run)

    @rpc
    def get_billing_run(self, run_id: int) -> dict:
        return RunSchema().dump(operations.billing_progress(self.db, run_id))

    # --- the calendar --------------------------------------------------------------------

    @rpc
    def run_calendar_job(self, name: str) -> dict:
        """Run one of the calendar's jobs now (`advances`, `final_billing`), under its lease."""
        if name not in self.calendar.jobs:
            raise InvalidInput(
                "Нет такой задачи календаря",
                code="unknown_job",
                fields={"name": [f"одна из: {', '.join(sorted(self.calendar.jobs))}"]},
            )
        summary = self.calendar.run(name)
        self.billing_runner.wake()
        return summary

    # --- invoices ----------------------------------------------------------------------

    @rpc
    def list_invoices(self, principal: dict, filters: dict, limit: int = 20, offset: int = 0):
        page = operations.list_invoices(self.db, principal, filters, limit, offset)
        return InvoicePageSchema().dump(page)

    @rpc
    def pay_invoice(self, principal: dict, invoice_id: int) -> dict:
        return InvoiceSchema().dump(operations.pay_invoice(self.db, principal, invoice_id))

    @rpc
    def invoice_contracts(self, principal: dict, invoice_id: int) -> dict:
        return RegisterSchema().dump(operations.invoice_register(self.db, principal, invoice_id))

    @rpc
    def invoice_contracts_csv(self, principal: dict, invoice_id: int) -> str:
        return operations.invoice_register_csv(self.db, principal, invoice_id).decode()

    @rpc
    def issue_advances(self, month: str) -> list[dict]:
        with refusals_as_rpc_errors():
            return InvoiceSchema(many=True).dump(operations.issue_advances(self.db, month))

    # --- reports and the parent's view -------------------------------------------------

    @rpc
    def report(self, principal: dict, municipality_code: str | None, month: str | None) -> dict:
        with refusals_as_rpc_errors():
            answer = operations.report(
                self.db, principal, municipality_code, month, self.report_peers
            )
        return ReportSchema().dump(answer)

    @rpc
    def report_csv(self, principal: dict, municipality_code: str | None, month: str | None):
        with refusals_as_rpc_errors():
            return operations.report_csv(
                self.db, principal, municipality_code, month, self.report_peers
            )

    @rpc
    def report_xlsx(self, principal: dict, municipality_code: str | None, month: str | None):
        """The report as an XLSX workbook, base64 (RPC carries JSON)."""
        with refusals_as_rpc_errors():
            book = operations.report_xlsx(
                self.db, principal, municipality_code, month, self.report_peers
            )
        return base64.b64encode(book).decode("ascii")

    @rpc
    def child_payments(self, child_id: int) -> list[dict]:
        """For the gateway, after accounts confirmed the child is the caller's."""
        return ChildContractSchema(many=True).dump(operations.child_payments(self.db, child_id))
