"""The billing runner: a thread of every payments process that works unfinished billing runs
batch by batch (billing.py), woken when a run starts and every BILLING_POLL_INTERVAL seconds,
so a run left by a killed process is resumed by any payments process."""

import logging

import eventlet
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from servicekit import config
from servicekit.background import WakeableLoop
from servicekit.db import make_engine
from services.payments import billing
from services.payments.models import BillingRun

log = logging.getLogger(__name__)


class BillingRunner(WakeableLoop):
    """Works unfinished billing runs in a thread of the service: woken when a run starts,
    and every BILLING_POLL_INTERVAL seconds (a run left by a killed process is resumed)."""

    thread = "billing_runner"

    def setup(self):
        super().setup()
        self.interval = float(config.env("BILLING_POLL_INTERVAL", "5"))
        self.batch = int(config.env("BILLING_BATCH", str(billing.BATCH)))
        self.workers = int(config.env("BILLING_WORKERS", "2"))
        self.pause = float(config.env("BILLING_PAUSE_SECONDS", "0"))
        self.engine = make_engine("payments", pool_size=self.workers + 1, max_overflow=2)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)

    def session(self):
        session = self.factory()
        session.info["producer"] = "payments"
        return session

    def work_round(self) -> bool:
        with self.session() as session:
            runs = (
                session.execute(select(BillingRun.id).where(BillingRun.status == "running"))
                .scalars()
                .all()
            )
        for run_id in runs:
            # several workers on one run: claims are SKIP LOCKED, charges unique
            pool = eventlet.GreenPool(self.workers)
            list(pool.imap(lambda _, run_id=run_id: self._work(run_id), range(self.workers)))
        return False

    def _work(self, run_id: int) -> None:
        certificates = billing.RpcCertificates(
            timeout=float(config.env("BILLING_RPC_TIMEOUT", "60"))
        )
        try:
            billing.work_run(
                self.session, run_id, certificates, self.batch, lambda: not self.running,
                self.pause,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - logged; the run is resumed on the next round
            log.exception("billing run %s stopped; it resumes on the next round", run_id)
        finally:
            certificates.close()
