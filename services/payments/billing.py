"""Monthly billing: exactly one charge per (contract, month), debited once from the certificate.

A run works in small transactions, so it never holds anything the portal needs:

1. charge: claim a batch of the month's uncharged contract months (`FOR UPDATE SKIP LOCKED`,
   in contract order), read their attendance, insert their charges and mark them charged.
   `UNIQUE (contract_id, month)` makes a second run, a concurrent one or a resumed one insert
   nothing twice.
2. post: claim a batch of `pending` charges (`SKIP LOCKED`), send them to
   `certificates.debit_funds` (idempotent by `debit:<enrollment_id>:<month>`), mark them
   `posted` and emit `charge_posted`. A crash between the debit and the commit leaves them
   pending; the next attempt sends the same figures and certificates answers the first result.
3. finish: when nothing is left to charge or post, the run is `completed`, the month's final
   invoices (or corrections, for a later run) and the next month's advances are issued.
   A charge a later run posts once the month is invoiced brings a correction invoice in the
   same transaction (invoices.reconcile), so invoices equal debits at every commit.

A month is billed once its attendance is final: after it has ended and every municipality's
submission deadline has passed (check_month: 409 `month_not_over` before). Attendance of the
month is frozen when its first run starts (attendance.lock_month), so the figures of a charge
never change between attempts. A contract month after the contract's end is never charged:
it is released whole.

CLI: python -m services.payments.billing run --month 2026-10 [--batch 500]
     python -m services.payments.billing status --run 3
     python -m services.payments.billing advances --month 2026-11
     python -m services.payments.billing calendar final_billing   (or advances)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from datetime import date
from fractions import Fraction
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.db import insert_rows
from servicekit.errors import Conflict, NotFound
from servicekit.faults import crash_point
from servicekit.money import format_kopecks
from servicekit.outbox import emit_many
from servicekit.views import attributes
from services.payments import attendance, domain, invoices
from services.payments.models import BillingRun, Charge, Contract, ContractMonth

log = logging.getLogger(__name__)

BATCH = 500
POSTED_STATUSES = ("debited", "short", "repeated")


class Certificates(Protocol):
    def debit_funds(self, items: list[dict]) -> list[dict]: ...


def check_month(month: str, today: date, deadline: date | None = None) -> None:
    """A month is billed after it has ended and its submission deadline has passed."""
    domain.parse_month(month)
    deadline = deadline or domain.submission_deadline(month)
    if today <= deadline:
        raise Conflict(
            f"Месяц {month} оплачивается после срока сдачи посещаемости {deadline} "
            f"(сегодня {today})",
            code="month_not_over",
        )


def eligible(month: str):
    """The month's contract months that are to be billed (not released by an early end)."""
    return select(ContractMonth.contract_id).where(
        ContractMonth.month == month, ContractMonth.released.is_(False)
    )


def start_run(session: Session, month: str, requested_by: int | None, today: date) -> BillingRun:
    """The month's unfinished run, or a new one. Closes the month's attendance."""
    domain.parse_month(month)
    check_month(month, today, attendance.month_deadline(session, month))
    attendance.lock_month(session, month, exclusive=True)
    running = session.execute(
        select(BillingRun)
        .where(BillingRun.month == month, BillingRun.status == "running")
        .order_by(BillingRun.id)
        .limit(1)
    ).scalar()
    if running is not None:
        return running
    total = session.execute(select(func.count()).select_from(eligible(month).subquery())).scalar()
    run = BillingRun(month=month, status="running", requested_by=requested_by,
                     contracts_total=total)  # fmt: skip
    session.add(run)
    session.flush()
    # charges certificates refused (e.g. a frozen certificate) are tried again by a new run
    session.execute(
        update(Charge)
        .where(Charge.month == month, Charge.status == "refused")
        .values(status="pending", refusal=None, run_id=run.id)
    )
    return run


def progress(session: Session, run_id: int) -> dict:
    run = session.get(BillingRun, run_id)
    if run is None:
        raise NotFound("Нет такого запуска", code="run_not_found")
    by_status = (
        select(Charge.status, func.count()).where(Charge.month == run.month).group_by(Charge.status)
    )
    counts = dict(session.execute(by_status).all())
    sums = session.execute(
        select(
            func.coalesce(func.sum(Charge.certificate_charged), 0),
            func.coalesce(func.sum(Charge.certificate_released), 0),
            func.coalesce(func.sum(Charge.copay_charged), 0),
        ).where(Charge.month == run.month)
    ).one()
    charged = sum(counts.values())
    return {
        "id": run.id,
        "month": run.month,
        "status": run.status,
        "contracts_total": run.contracts_total,
        "charged": charged,
        "posted": counts.get("posted", 0),
        "pending": counts.get("pending", 0),
        "refused": counts.get("refused", 0),
        "percent": 100
        if run.contracts_total == 0
        else min(100, round(100 * counts.get("posted", 0) / run.contracts_total)),
        "certificate_charged": int(sums[0]),
        "certificate_released": int(sums[1]),
        "copay_charged": int(sums[2]),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


# --- 1. charge ----------------------------------------------------------------------------


def charge_batch(session: Session, run: BillingRun, after: int, size: int = BATCH) -> int:
    """Charge up to `size` contracts with id > `after`; returns the last id claimed (0: none).

    Claims the contracts' month rows that are neither charged nor released (a partial index
    holds exactly those), so a batch costs the same at the end of a run as at its start."""
    month = run.month
    claimed = (
        session.execute(
            select(ContractMonth)
            .where(
                ContractMonth.month == month,
                ContractMonth.charged.is_(False),
                ContractMonth.released.is_(False),
                ContractMonth.contract_id > after,
            )
            .order_by(ContractMonth.contract_id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not claimed:
        return 0
    parts = {m.contract_id: m for m in claimed}
    contracts = (
        session.execute(select(Contract).where(Contract.id.in_(list(parts))).order_by(Contract.id))
        .scalars()
        .all()
    )
    figures = attendance.month_attendance(session, contracts, month)
    settings = attendance.billing_settings(session, {c.payer_municipality_code for c in contracts})
    rows = []
    for contract in contracts:
        rules = settings[contract.payer_municipality_code]
        mode = rules.completeness_mode
        month_figures = figures[contract.id]
        if month > domain.month_of(contract.end_date) or month < domain.month_of(
            contract.start_date
        ):
            share = Fraction(0)  # outside the contract: never billed, released whole
        else:
            share = domain.completeness(month_figures, mode, rules.unrecorded)
        part = parts[contract.id]
        charge = domain.month_charge(part.certificate, part.copay, share)
        rows.append(
            {
                "contract_id": contract.id,
                "enrollment_id": contract.enrollment_id,
                "month": month,
                "run_id": run.id,
                "child_id": contract.child_id,
                "organization_id": contract.organization_id,
                "payer_municipality_code": contract.payer_municipality_code,
                "direction": contract.direction,
                "completeness_mode": mode,
                "lessons_scheduled": month_figures.scheduled,
                "lessons_held": month_figures.held,
                "lessons_attended": month_figures.attended,
                "completeness": round(float(share), 6),
                "certificate_planned": charge.certificate_planned,
                "certificate_charged": charge.certificate_charged,
                "certificate_released": charge.certificate_released,
                "copay_planned": charge.copay_planned,
                "copay_charged": charge.copay_charged,
                "status": "pending",
            }
        )
    insert_rows(
        session,
        Charge.__table__,
        rows,
        "ON CONFLICT ON CONSTRAINT uq_charges_contract_month DO NOTHING",
    )
    session.execute(
        update(ContractMonth)
        .where(ContractMonth.month == month, ContractMonth.contract_id.in_(list(parts)))
        .values(charged=True)
        .execution_options(synchronize_session=False)
    )
    return claimed[-1].contract_id


# --- 2. post ------------------------------------------------------------------------------


def charge_event(charge: Charge) -> dict:
    return {
        "charge_id": charge.id,
        **attributes(charge, "contract_id", "enrollment_id", "child_id", "organization_id"),
        **attributes(charge, "payer_municipality_code", "month"),
        "completeness": f"{charge.completeness:.6f}",
        "certificate_charged": format_kopecks(charge.debited or 0),
        "certificate_released": format_kopecks(charge.released or 0),
        "copay_charged": format_kopecks(charge.copay_charged),
    }


def post_batch(session: Session, month: str, certificates: Certificates, size: int = BATCH) -> int:
    """Send a batch of pending charges to certificates; returns how many were settled."""
    charges = (
        session.execute(
            select(Charge)
            .where(Charge.month == month, Charge.status == "pending")
            .order_by(Charge.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not charges:
        return 0
    to_send = [c for c in charges if c.certificate_planned > 0]
    answers = {}
    if to_send:
        items = [
            {"enrollment_id": c.enrollment_id, "month": c.month,
             "debit": c.certificate_charged, "release": c.certificate_released}
            for c in to_send
        ]  # fmt: skip
        for answer in certificates.debit_funds(items):
            answers[answer["enrollment_id"]] = answer
        crash_point("billing_after_debit")  # debited in certificates, not yet marked here
    now = clock.now()
    posted = []
    for charge in charges:
        if charge.certificate_planned == 0:  # co-payment only: nothing reserved to debit
            charge.debited, charge.released, status = 0, 0, "debited"
        else:
            answer = answers.get(charge.enrollment_id)
            if answer is None:
                raise RuntimeError(f"certificates did not answer for {charge.enrollment_id}")
            charge.debited, charge.released = int(answer["debited"]), int(answer["released"])
            status = answer.get("status", "debited")
        if status in POSTED_STATUSES:
            charge.status, charge.posted_at = "posted", now
            charge.refusal = "short" if status == "short" else None
            posted.append(charge_event(charge))
        else:
            charge.status, charge.refusal = "refused", str(status)[:300]
    emit_many(session, "charge_posted", posted)
    if posted and invoices.month_billed(session, month):
        # a later run of a month already invoiced: the invoices follow the debits at once
        invoices.reconcile(session, month, sorted({c["organization_id"] for c in posted}))
    return len(charges)


# --- 3. finish ----------------------------------------------------------------------------


def finish(session: Session, run_id: int) -> bool:
    """Complete the run when nothing of its month is left; True if it is completed."""
    run = session.execute(
        select(BillingRun).where(BillingRun.id == run_id).with_for_update()
    ).scalar_one()
    if run.status == "completed":
        return True
    month = run.month
    pending = session.execute(
        select(func.count()).where(Charge.month == month, Charge.status == "pending")
    ).scalar()
    uncharged = session.execute(
        select(func.count())
        .select_from(ContractMonth)
        .where(
            ContractMonth.month == month,
            ContractMonth.released.is_(False),
            ContractMonth.charged.is_(False),
        )
    ).scalar()
    if pending or uncharged:
        return False
    run.status, run.finished_at = "completed", clock.now()
    # every other unfinished run of the month has nothing left either
    session.execute(
        update(BillingRun)
        .where(BillingRun.month == month, BillingRun.status == "running")
        .values(status="completed", finished_at=run.finished_at)
    )
    invoices.issue_finals(session, month)
    invoices.issue_advances(session, domain.next_month(month))
    return True


def work_run(
    session_factory: Callable[[], Session],
    run_id: int,
    certificates: Certificates,
    batch: int = BATCH,
    should_stop: Callable[[], bool] = lambda: False,
    pause: float = 0.0,
) -> bool:
    """Charge and post batches of the run's month until none is left; True when completed.

    Each batch is its own transaction. Safe to run in several processes at once. `pause`
    (seconds after each batch) leaves the CPU to the portal: on a small machine a run at
    full speed slows the parents' searches (docs/payments.md, Benchmark)."""
    with session_factory() as session:
        run = session.get(BillingRun, run_id)
        if run is None:
            raise NotFound("Нет такого запуска", code="run_not_found")
        if run.status == "completed":
            return True
        month = run.month
    after = 0
    while not should_stop():
        with session_factory() as session, session.begin():
            run = session.get(BillingRun, run_id)
            last = charge_batch(session, run, after, batch)
        with session_factory() as session, session.begin():
            posted = post_batch(session, month, certificates, batch)
        if last:
            after = last
        elif after:
            after = 0  # one more pass from the start for contracts skipped while locked
        elif not posted:
            break
        if pause:
            time.sleep(pause)  # green under eventlet: the service's other workers run
    with session_factory() as session, session.begin():
        return finish(session, run_id)


# --- the command line ---------------------------------------------------------------------


class RpcCertificates:
    """certificates.debit_funds over RPC from outside a Nameko service."""

    def __init__(self, timeout: float = 60):
        from nameko import config as nameko_config
        from nameko.standalone.rpc import ClusterRpcClient

        from servicekit import config

        # the reply listener reads nameko's config: a CLI has none but the environment's
        nameko_config.setdefault("AMQP_URI", config.amqp_uri())
        self.cluster = ClusterRpcClient(timeout=timeout, uri=nameko_config["AMQP_URI"])
        self.client = self.cluster.start()

    def debit_funds(self, items: list[dict]) -> list[dict]:
        return self.client.certificates.debit_funds(items)

    def close(self):
        try:
            self.cluster.stop()
        except Exception:  # noqa: BLE001 - closing a broken connection
            log.warning("closing the certificates client failed", exc_info=True)


def main(argv=None) -> int:
    from sqlalchemy.orm import sessionmaker

    from servicekit.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m services.payments.billing")
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="bill a month (resumes its unfinished run)")
    run_cmd.add_argument("--month", required=True)
    run_cmd.add_argument("--batch", type=int, default=BATCH)
    status_cmd = sub.add_parser("status")
    status_cmd.add_argument("--run", type=int, required=True)
    advances = sub.add_parser("advances", help="issue a month's advance invoices")
    advances.add_argument("--month", required=True)
    calendar = sub.add_parser(
        "calendar", help="run one of the calendar's jobs now, under its lease (a started run "
        "is worked by the payments processes' runner)",
    )  # fmt: skip
    calendar.add_argument("job", choices=["advances", "final_billing"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    engine = make_engine("payments", pool_size=2)
    factory = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    session.info["producer"] = "payments"
    try:
        if args.command == "status":
            print(progress(session, args.run))
            return 0
        if args.command == "calendar":
            from servicekit.calendar import Job, run_job
            from services.payments import calendar_jobs

            job = Job(args.job, getattr(calendar_jobs, args.job))
            print(run_job(engine, "payments", job) or "nothing was due")
            return 0
        if args.command == "advances":
            with session.begin():
                issued = invoices.issue_advances(session, args.month)
            print(f"{len(issued)} advance invoices issued for {args.month}")
            return 0
        try:
            with session.begin():
                run = start_run(session, args.month, None, clock.today())
        except Conflict as refused:  # e.g. month_not_over
            print(f"{refused.code}: {refused}", file=sys.stderr)
            return 2
        run_id = run.id
        certificates = RpcCertificates()
        started = time.monotonic()
        try:
            done = work_run(_producer_sessions(factory), run_id, certificates, args.batch)
        finally:
            certificates.close()
        figures = progress(session, run_id)
        print(
            f"run {run_id} of {args.month}: {figures['status']}, {figures['posted']} posted, "
            f"{figures['pending']} pending, {figures['refused']} refused "
            f"in {time.monotonic() - started:.1f}s"
        )
        return 0 if done else 1
    finally:
        session.close()
        engine.dispose()


def _producer_sessions(factory):
    def make():
        session = factory()
        session.info["producer"] = "payments"
        return session

    return make


if __name__ == "__main__":
    sys.exit(main())
