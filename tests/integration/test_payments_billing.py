"""Billing against the real certificates service: payments and certificates run as processes
(`nameko run`) on the test databases and vhost, reservations are made through
certificates.reserve_funds, contracts arrive as real `enrollment_confirmed` messages.

- a run killed (SIGKILL) at random points and resumed ends with exactly the debits the rules
  give, one ledger debit per (enrollment, month), while a second run (the CLI) works the same
  month at the same time; the ledger audit stays clean;
- a crash right after certificates debited a batch and before payments recorded it debits
  nothing twice;
- an early termination releases the months after it, once.
"""

import random
import subprocess
import sys
import time
import uuid
from datetime import date
from fractions import Fraction

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.orm import Session

from servicekit import clock, topology
from services.certificates import audit
from services.certificates.models import MunicipalFund
from services.payments import domain
from tests.support.payments import Enrollment, confirmed_data, reset_billing, school_year
from tests.support.sql import scalar
from tests.support.system import ROOT, ServiceProcess, base_env
from tests.support.waiting import wait_for

PAYMENTS = "services.payments.service:PaymentsService"
CERTIFICATES = "services.certificates.service:CertificatesService"
REGIONAL = {"user_id": 1, "role": "regional_operator"}
NOMINAL = 5_000_000
RECORDING = "2026-11-02T10:00:00+07:00"  # October's attendance can be corrected
BILLING = "2026-11-05T10:00:00+07:00"  # October's deadline (4 November) has passed


@pytest.fixture(scope="module")
def vhost(server_urls):
    """A virtual host of this module alone: the end-to-end system of the session runs its own
    payments in the run's vhost, and an RPC meant for the process under test (the one set to
    crash) could be answered by that one instead."""
    from tests.conftest import RUN_ID, own_vhost

    with own_vhost(server_urls, f"navtest_{RUN_ID}_billing") as uri:
        yield uri


@pytest.fixture
def period(engine_of):
    return school_year(engine_of("certificates"))


@pytest.fixture
def processes(databases, vhost, tmp_path, engine_of):
    from servicekit.topology import all_handlers

    topology.declare(all_handlers(), vhost)
    reset_billing(engine_of("payments"))
    # the processes read the business clock from a file the tests move: October's lessons
    # are recorded before its submission deadline (4 November), billed after it
    shared_clock = str(tmp_path / "clock.json")
    clock.set_shared(shared_clock, RECORDING)
    env = base_env(vhost, {"BILLING_POLL_INTERVAL": "1", "BILLING_BATCH": "15",
                           "BILLING_WORKERS": "2", "RPC_TIMEOUT": "10",
                           "NAVIGATOR_CLOCK_FILE": shared_clock})  # fmt: skip
    started = {
        "certificates": ServiceProcess("certificates", CERTIFICATES, env, tmp_path).start(),
        "payments": ServiceProcess("payments", PAYMENTS, env, tmp_path).start(),
    }
    started["clock"] = shared_clock
    yield started
    for name, process in started.items():
        if name != "clock":
            process.stop()


def wait_rpc(client, service, timeout=40):
    import eventlet
    from nameko.exceptions import UnknownService

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with eventlet.Timeout(2):
                getattr(client, service).ping()
            return
        except (UnknownService, eventlet.Timeout):
            time.sleep(0.3)
    raise AssertionError(f"{service} did not start")


class Region:
    """Children with financing certificates, their reservations and contracts, lessons."""

    def __init__(self, client, vhost, engine_of, period_id, count, groups=5):
        self.client, self.engine = client, engine_of("payments")
        self.certificates_engine = engine_of("certificates")
        self.municipality = f"mun-{uuid.uuid4().hex[:8]}"
        base = uuid.uuid4().int % 10**5 * 1000  # ids (program_id = 10 x group) stay int4
        self.org = base + 999
        with Session(self.certificates_engine) as session, session.begin():
            band = {"age_from": 0, "age_to": 17, "amount": NOMINAL}
            session.add(
                MunicipalFund(
                    municipality_code=self.municipality,
                    period_id=period_id,
                    limit_amount=NOMINAL * count,
                    used=0,
                    bands=[band],
                )
            )
        self.groups = [base + g for g in range(groups)]
        self.contracts = []
        enrollment = Enrollment(vhost)
        try:
            for n in range(count):
                group = self.groups[n % groups]
                data = confirmed_data(child_id=base + 100 + n, group_id=group,
                                      organization_id=self.org, payer=self.municipality,
                                      price=[2_730_000, 3_000_000][n % 2],
                                      normative=[3_000_000, 2_400_000][n % 2])  # fmt: skip
                share = int(data["certificate_share"].replace(".", ""))
                child = {"id": data["child_id"], "parent_id": 500, "birth_date": "2016-05-20",
                         "municipality_code": self.municipality}  # fmt: skip
                answer = client.certificates.reserve_funds(
                    data["enrollment_id"], child, period_id, share, True
                )
                assert answer["certificate_type"] == "financing", answer
                enrollment.publish("enrollment_confirmed", data)
                self.contracts.append(data)
        finally:
            enrollment.close()
        ids = [c["enrollment_id"] for c in self.contracts]
        wait_for(
            lambda: (
                scalar(
                    self.engine,
                    "SELECT count(*) FROM contracts WHERE enrollment_id = ANY(:ids)",
                    ids=ids,
                )
                == len(ids)
            ),  # fmt: skip
            what="contracts from the events",
        )

    def record_october(self):
        """Group g cancels its first g lessons of October; every second child misses one."""
        provider = {"user_id": 7, "role": "provider", "organization_id": self.org}
        days = [1, 6, 8, 13, 15, 20, 22, 27, 29]
        self.held = {}
        for g, group in enumerate(self.groups):
            children = [c["child_id"] for c in self.contracts if c["group_id"] == group]
            lessons = []
            for i, day in enumerate(days):
                status = "cancelled" if i < g else "held"
                marks = [{"child_id": child, "present": not (child % 2 and day == 29)}
                         for child in children] if status == "held" else []  # fmt: skip
                lessons.append({"date": f"2026-10-{day:02d}", "status": status,
                                "attendance": marks})  # fmt: skip
            self.client.payments.record_lessons(provider, group, lessons)
            self.held[group] = len(days) - g

    def expected_october(self) -> dict[str, tuple[int, int]]:
        """(debit, release) per enrollment by the rules, as an uninterrupted run gives."""
        expected = {}
        for contract in self.contracts:
            part = next(p for p in contract["schedule"] if p["month"] == "2026-10")
            certificate = int(part["certificate"].replace(".", ""))
            share = Fraction(self.held[contract["group_id"]], 9)
            charge = domain.month_charge(certificate, 0, share)
            expected[contract["enrollment_id"]] = (
                charge.certificate_charged,
                charge.certificate_released,
            )
        return expected

    def bill_only_this_region(self, month: str) -> None:
        """Contracts of earlier tests in this database count as billed for the month (after
        reset_billing they would be charged again, and fill the first batch)."""
        ids = [c["enrollment_id"] for c in self.contracts]
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE contract_months SET charged = true WHERE month = :m AND contract_id"
                    " IN (SELECT id FROM contracts WHERE enrollment_id <> ALL(:ids))"
                ),
                {"m": month, "ids": ids},
            )

    def ledger_debits(self, month) -> dict[str, list[tuple[str, int]]]:
        ids = [c["enrollment_id"] for c in self.contracts]
        with self.certificates_engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT enrollment_id, kind, amount FROM ledger_entries WHERE month = :m "
                    "AND enrollment_id = ANY(:ids) ORDER BY id"
                ),  # fmt: skip
                {"m": month, "ids": ids},
            ).all()
        found: dict[str, list[tuple[str, int]]] = {}
        for enrollment_id, kind, amount in rows:
            found.setdefault(enrollment_id, []).append((kind, int(amount)))
        return found


def audit_clean(engine):
    with engine.connect() as conn:
        return audit.audit(conn)


def assert_month_billed_exactly(region, expected):
    entries = region.ledger_debits("2026-10")
    for enrollment_id, (debit, release) in expected.items():
        want = [(k, a) for k, a in (("debit", debit), ("release", release)) if a]
        assert sorted(entries.get(enrollment_id, [])) == sorted(want), enrollment_id
    with region.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT enrollment_id, count(*), min(status), sum(debited), sum(released) "
                "FROM charges WHERE month = '2026-10' AND enrollment_id = ANY(:ids) "
                "GROUP BY enrollment_id"
            ),  # fmt: skip
            {"ids": list(expected)},
        ).all()
    assert len(rows) == len(expected)
    for enrollment_id, count, status, debited, released in rows:
        assert (count, status) == (1, "posted")
        assert (debited, released) == expected[enrollment_id]


def test_billing_killed_at_random_points_and_raced_by_a_second_run_debits_exactly_once(
    processes, vhost, engine_of, period, nameko_config, tmp_path
):
    with ClusterRpcClient() as client:
        wait_rpc(client, "certificates")
        wait_rpc(client, "payments")
        region = Region(client, vhost, engine_of, period, count=120)
        region.record_october()
        expected = region.expected_october()
        clock.set_shared(processes["clock"], BILLING)

        run = client.payments.start_billing_run(REGIONAL, "2026-10")
        # a second run of the same month at the same time: the CLI, in its own process
        cli = subprocess.Popen(
            [sys.executable, "-m", "services.payments.billing", "run", "--month", "2026-10",
             "--batch", "10"],
            cwd=ROOT, env=base_env(vhost, {"NAVIGATOR_CLOCK_FILE": processes["clock"]}),
            stdout=open(tmp_path / "cli.log", "wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        rng = random.Random(20261129)
        payments = processes["payments"]
        kills = 0
        for _ in range(6):
            time.sleep(rng.uniform(0.2, 1.2))
            payments.process.kill()  # SIGKILL: no cleanup, transactions cut mid-way
            payments.process.wait()
            kills += 1
            payments.start()
            if client.payments.get_billing_run(run["id"])["status"] == "completed":
                break
        cli.wait(timeout=180)
        wait_for(
            lambda: client.payments.get_billing_run(run["id"])["status"] == "completed",
            timeout=120,
            what="the run completed",
        )
    assert kills >= 1
    assert_month_billed_exactly(region, expected)
    assert audit_clean(region.certificates_engine) == []


def test_a_crash_after_the_debit_and_before_the_record_debits_nothing_twice(
    processes, vhost, engine_of, period, nameko_config
):
    payments = processes["payments"]
    with ClusterRpcClient() as client:
        wait_rpc(client, "certificates")
        wait_rpc(client, "payments")
        region = Region(client, vhost, engine_of, period, count=30, groups=3)
        region.record_october()
        expected = region.expected_october()
        region.bill_only_this_region("2026-10")
        clock.set_shared(processes["clock"], BILLING)
        payments.stop()
        payments.start({"NAVIGATOR_CRASH_AT": "billing_after_debit"})
        wait_rpc(client, "payments")
        client.payments.start_billing_run.call_async(REGIONAL, "2026-10")
        assert payments.wait_exit(timeout=60) == 137, payments.log()[-3000:]
        debited_before_restart = region.ledger_debits("2026-10")
        assert debited_before_restart, "certificates should have debited the first batch"
        payments.start()
        wait_rpc(client, "payments")
        run_id = scalar(region.engine, "SELECT max(id) FROM billing_runs WHERE month = '2026-10'")
        wait_for(
            lambda: client.payments.get_billing_run(run_id)["status"] == "completed",
            timeout=120,
            what="the run completed",
        )
    assert_month_billed_exactly(region, expected)
    assert audit_clean(region.certificates_engine) == []


def test_early_termination_releases_the_later_months_once(
    processes, vhost, engine_of, period, nameko_config
):
    with ClusterRpcClient() as client:
        wait_rpc(client, "certificates")
        wait_rpc(client, "payments")
        region = Region(client, vhost, engine_of, period, count=1, groups=1)
        contract = region.contracts[0]
        enrollment = Enrollment(vhost)
        data = {"enrollment_id": contract["enrollment_id"], "child_id": contract["child_id"],
                "group_id": contract["group_id"], "effective_end_date": "2026-11-10",
                "reason": "переезд"}  # fmt: skip
        try:
            first = enrollment.publish("enrollment_terminated", data)
            enrollment.publish("enrollment_terminated", data, event_id=first["event_id"])
            enrollment.publish("enrollment_terminated", data)
        finally:
            enrollment.close()
        wait_for(
            lambda: (
                scalar(
                    region.engine,
                    "SELECT status FROM contracts WHERE enrollment_id = :e",
                    e=contract["enrollment_id"],
                )
                == "terminated"
            ),  # fmt: skip
            what="the contract terminated",
        )
        time.sleep(1.5)
    # December..May: 6 x 3 037.50 back to the certificate, once
    with region.certificates_engine.connect() as conn:
        releases = (
            conn.execute(
                sa.text(
                    "SELECT amount FROM ledger_entries WHERE kind = 'release' "
                    "AND enrollment_id = :e"
                ),  # fmt: skip
                {"e": contract["enrollment_id"]},
            )
            .scalars()
            .all()
        )
        reservation = conn.execute(
            sa.text("SELECT reserved, released FROM reservations WHERE enrollment_id = :e"),
            {"e": contract["enrollment_id"]},
        ).one()
    assert [int(a) for a in releases] == [1_822_500]
    assert (int(reservation.reserved), int(reservation.released)) == (
        2_730_000 - 1_822_500,
        1_822_500,
    )
    assert scalar(region.engine, "SELECT end_date FROM contracts WHERE enrollment_id = :e",
                  e=contract["enrollment_id"]) == date(2026, 11, 30)  # fmt: skip
    assert audit_clean(region.certificates_engine) == []
