"""Payments service: contracts, attendance, monthly billing, invoices, reports.

Entrypoints are thin: they call the operations modules (contracts, attendance, billing,
invoices, reports) on the worker's session, committed when the entrypoint returns, and dump
the answer through schemas.py. Billing runs are worked by `BillingRunner`, a thread of every
payments process that picks up unfinished runs (also after a crash), batch by batch.
"""

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from servicekit import config
from servicekit.db import make_engine
from servicekit.events import idempotent, reliable_handler
from servicekit.rpc import TimedClusterRpc
from servicekit.service import ServiceBase
from services.payments import attendance, billing, contracts, invoices, reports
from services.payments.exceptions import domain_errors
from services.payments.models import BillingRun
from services.payments.schemas import (
    ChildContractSchema,
    GroupMonthSchema,
    InvoicePageSchema,
    InvoiceSchema,
    RecordedSchema,
    ReportSchema,
    RunSchema,
)

log = logging.getLogger(__name__)


def region_today() -> date:
    return datetime.now(ZoneInfo(config.env("REGION_TIMEZONE", "Asia/Krasnoyarsk"))).date()


class BillingRunner(DependencyProvider):
    """Works unfinished billing runs in a thread of the service: woken when a run starts,
    and every BILLING_POLL_INTERVAL seconds (a run left by a killed process is resumed)."""

    def setup(self):
        self.interval = float(config.env("BILLING_POLL_INTERVAL", "5"))
        self.batch = int(config.env("BILLING_BATCH", str(billing.BATCH)))
        self.workers = int(config.env("BILLING_WORKERS", "2"))
        self.engine = make_engine("payments", pool_size=self.workers + 1, max_overflow=2)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        self._wakeup = Event()
        self._running = False

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier="billing_runner")

    def stop(self):
        self._running = False
        self.wake()

    kill = stop

    def wake(self):
        if not self._wakeup.ready():
            self._wakeup.send(True)

    def session(self):
        session = self.factory()
        session.info["producer"] = "payments"
        return session

    def _run(self):
        while self._running:
            try:
                with self.session() as session:
                    runs = (
                        session.execute(select(BillingRun.id).where(BillingRun.status == "running"))
                        .scalars()
                        .all()
                    )
                for run_id in runs:
                    # several workers on one run: claims are SKIP LOCKED, charges unique
                    pool = eventlet.GreenPool(self.workers)
                    list(
                        pool.imap(lambda _, run_id=run_id: self._work(run_id), range(self.workers))
                    )
            except Exception:  # noqa: BLE001 - the runner must outlive a broker or db hiccup
                log.exception("billing runner failed; retrying")
            with eventlet.Timeout(self.interval, False):
                self._wakeup.wait()
            self._wakeup = Event()
        self.engine.dispose()

    def _work(self, run_id: int) -> None:
        certificates = billing.RpcCertificates(
            timeout=float(config.env("BILLING_RPC_TIMEOUT", "60"))
        )
        try:
            billing.work_run(
                self.session, run_id, certificates, self.batch, lambda: not self._running
            )
        except Exception:  # noqa: BLE001 - logged; the run is resumed on the next round
            log.exception("billing run %s stopped; it resumes on the next round", run_id)
        finally:
            certificates.close()

    def get_dependency(self, worker_ctx):
        return self


class PaymentsService(ServiceBase):
    name = "payments"

    rpc_client = TimedClusterRpc()
    billing_runner = BillingRunner()

    # --- contracts, from enrollment's events -------------------------------------------

    @reliable_handler("enrollment", "enrollment_confirmed")
    @idempotent
    def on_enrollment_confirmed(self, envelope):
        contracts.activate(self.db, envelope["data"])

    @reliable_handler("enrollment", "enrollment_terminated")
    @idempotent
    def on_enrollment_terminated(self, envelope):
        contracts.terminate(self.db, envelope["data"], self._release_funds)

    def _release_funds(self, enrollment_id: str, amount: int, key: str) -> dict:
        return self.rpc_client.call(
            "certificates", "release_funds", enrollment_id, amount,
            "договор расторгнут досрочно", key,
        )  # fmt: skip

    # --- attendance --------------------------------------------------------------------

    @rpc
    def record_lessons(self, principal: dict, group_id: int, lessons: list[dict]) -> dict:
        parsed = [{**lesson, "date": date.fromisoformat(lesson["date"])} for lesson in lessons]
        with domain_errors():
            answer = attendance.record_lessons(self.db, principal, group_id, parsed)
        return RecordedSchema().dump(answer)

    @rpc
    def group_month(self, principal: dict, group_id: int, month: str) -> dict:
        with domain_errors():
            answer = attendance.group_month(self.db, principal, group_id, month)
        return GroupMonthSchema().dump(answer)

    @rpc
    def set_completeness_mode(self, principal: dict, municipality_code: str, mode: str) -> dict:
        return attendance.set_completeness_mode(self.db, principal, municipality_code, mode)

    # --- billing -----------------------------------------------------------------------

    @rpc
    def start_billing_run(self, principal: dict, month: str) -> dict:
        with domain_errors():
            run = billing.start_run(self.db, month, principal.get("user_id"), region_today())
        self.db.commit()  # the runner reads it from its own connection
        self.billing_runner.wake()
        return RunSchema().dump(billing.progress(self.db, run.id))

    @rpc
    def get_billing_run(self, run_id: int) -> dict:
        return RunSchema().dump(billing.progress(self.db, run_id))

    # --- invoices ----------------------------------------------------------------------

    @rpc
    def list_invoices(self, principal: dict, filters: dict, limit: int = 20, offset: int = 0):
        page = invoices.list_invoices(self.db, principal, filters, limit, offset)
        return InvoicePageSchema().dump(page)

    @rpc
    def pay_invoice(self, principal: dict, invoice_id: int) -> dict:
        return InvoiceSchema().dump(invoices.mark_paid(self.db, principal, invoice_id))

    @rpc
    def issue_advances(self, month: str) -> list[dict]:
        with domain_errors():
            return InvoiceSchema(many=True).dump(invoices.issue_advances(self.db, month))

    # --- reports and the parent's view -------------------------------------------------

    @rpc
    def report(self, principal: dict, municipality_code: str | None, month: str | None) -> dict:
        reports.check_access(principal, municipality_code)
        with domain_errors():
            return ReportSchema().dump(reports.build(self.db, municipality_code, month))

    @rpc
    def report_csv(self, principal: dict, municipality_code: str | None, month: str | None):
        reports.check_access(principal, municipality_code)
        with domain_errors():
            return reports.as_csv(reports.build(self.db, municipality_code, month)).decode()

    @rpc
    def child_payments(self, child_id: int) -> list[dict]:
        """For the gateway, after accounts confirmed the child is the caller's."""
        return ChildContractSchema(many=True).dump(contracts.child_payments(self.db, child_id))
