"""The billing runner: a thread of every payments process that works unfinished billing runs
batch by batch (billing.py), woken when a run starts and every BILLING_POLL_INTERVAL seconds,
so a run left by a killed process is resumed by any payments process."""

import logging

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from servicekit import config
from servicekit.db import make_engine
from services.payments import billing
from services.payments.models import BillingRun

log = logging.getLogger(__name__)


class BillingRunner(DependencyProvider):
    """Works unfinished billing runs in a thread of the service: woken when a run starts,
    and every BILLING_POLL_INTERVAL seconds (a run left by a killed process is resumed)."""

    def setup(self):
        self.interval = float(config.env("BILLING_POLL_INTERVAL", "5"))
        self.batch = int(config.env("BILLING_BATCH", str(billing.BATCH)))
        self.workers = int(config.env("BILLING_WORKERS", "2"))
        self.pause = float(config.env("BILLING_PAUSE_SECONDS", "0"))
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
                self.session, run_id, certificates, self.batch, lambda: not self._running,
                self.pause,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - logged; the run is resumed on the next round
            log.exception("billing run %s stopped; it resumes on the next round", run_id)
        finally:
            certificates.close()

    def get_dependency(self, worker_ctx):
        return self
