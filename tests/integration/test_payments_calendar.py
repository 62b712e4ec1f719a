"""Payments' calendar against the real certificates service, both in this process on a
virtual host of their own: the business clock moves over a month's end and its submission
deadline, and the month's advance invoices, its final billing (debits in certificates) and
its final invoices happen with no operator; a later run's charge brings a correction invoice;
`enrollment_completed` gives the months after the end back to the certificate, once.
"""

import time
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.errors import InvalidInput
from services.certificates.models import MunicipalFund
from services.certificates.service import CertificatesService
from services.payments import invoices
from services.payments.service import PaymentsService
from tests.integration import test_payments_billing as billing_tests
from tests.support.payments import Enrollment, confirmed_data, reset_billing
from tests.support.waiting import wait_for

REGIONAL = {"user_id": 1, "role": "regional_operator"}
NOMINAL = 5_000_000


@pytest.fixture(scope="module")
def vhost(server_urls):
    """A virtual host of this module alone: no other module's payments or certificates
    answers the RPCs of the ones under test."""
    from tests.conftest import RUN_ID, own_vhost

    with own_vhost(server_urls, f"navtest_{RUN_ID}_paycal") as uri:
        yield uri


# the billing tests' fixture: the certificates' period of the school year
period = billing_tests.period


@pytest.fixture
def system(nameko_config, vhost, databases, container_factory, engine_of, monkeypatch):
    from servicekit import topology
    from servicekit.topology import all_handlers

    topology.declare(all_handlers(), vhost)
    reset_billing(engine_of("payments"))
    monkeypatch.setenv("BILLING_POLL_INTERVAL", "0.5")
    monkeypatch.setenv("BILLING_RPC_TIMEOUT", "10")
    # the calendar's first tick already sees the business day of the scenario (the last of
    # September), not the real one
    with clock.freeze(date(2026, 9, 30)):
        certificates = container_factory(CertificatesService)
        certificates.start()  # its calendar stays off (CALENDAR_SECONDS=0 in tests)
        monkeypatch.setenv("CALENDAR_SECONDS", "0.3")  # payments' calendar runs by itself
        payments = container_factory(PaymentsService)
        payments.start()
        enrollment = Enrollment(vhost)
        with ClusterRpcClient() as client:
            yield client, enrollment
        enrollment.close()


def rows(engine, query, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).all()


class Provider:
    """One provider's group paid by a municipality of its own, children with financing
    certificates and their reservations (certificates.reserve_funds), contracts from real
    `enrollment_confirmed` messages."""

    def __init__(self, client, enrollment, engine_of, period_id):
        self.client, self.enrollment = client, enrollment
        self.engine, self.ledger = engine_of("payments"), engine_of("certificates")
        self.payer = f"cal-{uuid.uuid4().hex[:8]}"
        self.base = uuid.uuid4().int % 10**5 * 1000 + 105 * 10**6  # program_id (x10) stays int4
        self.org, self.group = self.base + 999, self.base
        self.period_id = period_id
        self.contracts = []
        with Session(self.ledger) as session, session.begin():
            session.add(MunicipalFund(municipality_code=self.payer, period_id=period_id,
                                      limit_amount=NOMINAL * 10, used=0,
                                      bands=[{"age_from": 0, "age_to": 17,
                                              "amount": NOMINAL}]))  # fmt: skip

    def enroll(self, n: int) -> dict:
        data = confirmed_data(child_id=self.base + n, group_id=self.group, organization_id=self.org,
                              payer=self.payer, start_date=date(2026, 10, 1))  # fmt: skip
        share = int(data["certificate_share"].replace(".", ""))
        child = {"id": data["child_id"], "parent_id": 500, "birth_date": "2016-05-20",
                 "municipality_code": self.payer}  # fmt: skip
        answer = self.client.certificates.reserve_funds(
            data["enrollment_id"], child, self.period_id, share, True
        )
        assert answer["certificate_type"] == "financing", answer
        self.enrollment.publish("enrollment_confirmed", data)
        self.contracts.append(data)
        wait_for(
            lambda: rows(
                self.engine,
                "SELECT 1 FROM contracts WHERE enrollment_id = :e",
                e=data["enrollment_id"],
            ),  # fmt: skip
            what="the contract from the event",
        )
        # earlier tests' contracts in this database count as billed: only ours are charged
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE contract_months SET charged = true WHERE NOT charged AND contract_id"
                    " IN (SELECT id FROM contracts WHERE group_id <> :g)"
                ),
                {"g": self.group},
            )
        return data

    def invoices(self, month):
        return {
            (kind, number): int(amount)
            for kind, number, amount in rows(
                self.engine,
                "SELECT kind, number, amount FROM invoices WHERE organization_id = :o "
                "AND month = :m",
                o=self.org,
                m=month,
            )  # fmt: skip
        }

    def debited(self, month) -> int:
        ids = [c["enrollment_id"] for c in self.contracts]
        return sum(
            int(amount)
            for (amount,) in rows(
                self.ledger,
                "SELECT amount FROM ledger_entries WHERE kind = 'debit' AND month = :m "
                "AND enrollment_id = ANY(:ids)",
                m=month,
                ids=ids,
            )  # fmt: skip
        )

    def run_of(self, month, status="completed"):
        found = rows(self.engine, "SELECT id FROM billing_runs WHERE month = :m AND status = :s",
                     m=month, s=status)  # fmt: skip
        return found[0][0] if found else None


def at(day: date):
    return clock.freeze(day)  # 10:00 in the region


def test_the_calendar_bills_a_month_after_its_deadline_without_an_operator(
    system, engine_of, period
):
    client, enrollment = system
    with at(date(2026, 9, 30)):
        provider = Provider(client, enrollment, engine_of, period)
        for n in range(3):
            provider.enroll(n)
    with at(date(2026, 10, 1)):
        # the 1st: October's advance, 80 % of 3 x 3 100.01 (from October, 24 300.00 over
        # eight months), by the calendar's own timer
        wait_for(lambda: provider.invoices("2026-10"), what="October's advance invoice")
        assert provider.invoices("2026-10") == {("advance", 0): 744_002}
        assert client.payments.run_calendar_job("advances") == {}  # once a month
    with at(date(2026, 10, 30)):
        lessons = [{"date": f"2026-10-{day:02d}", "status": "held", "attendance": []}
                   for day in (1, 6, 8, 13, 15, 20, 22, 27, 29)]  # fmt: skip
        provider_principal = {"user_id": 7, "role": "provider", "organization_id": provider.org}
        client.payments.record_lessons(provider_principal, provider.group, lessons)
    with at(date(2026, 11, 4)):  # October's submission deadline: attendance is not final yet
        time.sleep(1.5)  # several ticks of the calendar
        assert provider.run_of("2026-10", "running") is None
        assert provider.run_of("2026-10") is None
    with at(date(2026, 11, 5)):
        run_id = wait_for(lambda: provider.run_of("2026-10"), what="October billed by the calendar")
        progress = client.payments.get_billing_run(run_id)
        # (its percent counts earlier tests' contracts this test marked charged)
        assert progress["status"] == "completed" and progress["posted"] >= 3
        assert provider.debited("2026-10") == 3 * 310_001
        assert provider.invoices("2026-10") == {("advance", 0): 744_002, ("final", 0): 186_001}
        # a child whose enrollment was confirmed late: the operator bills October again,
        # and the new debit is invoiced by a correction at once
        provider.enroll(3)
        again = client.payments.start_billing_run(REGIONAL, "2026-10")
        wait_for(
            lambda: client.payments.get_billing_run(again["id"])["status"] == "completed",
            what="the second run",
        )
    books = provider.invoices("2026-10")
    assert books == {("advance", 0): 744_002, ("final", 0): 186_001, ("correction", 1): 310_001}
    assert sum(books.values()) == provider.debited("2026-10") == 4 * 310_001
    with Session(provider.engine) as session:
        mine = [d for d in invoices.differences(session) if d["organization_id"] == provider.org]
    assert mine == []


def test_a_completed_enrollment_gives_the_months_after_its_end_back_once(system, engine_of, period):
    client, enrollment = system
    with at(date(2026, 10, 1)):
        provider = Provider(client, enrollment, engine_of, period)
        data = provider.enroll(0)
    completed = {"enrollment_id": data["enrollment_id"], "child_id": data["child_id"],
                 "parent_id": 500, "group_id": provider.group, "program_id": provider.group * 10,
                 "organization_id": provider.org, "status": "completed",
                 "start_date": "2026-10-01", "end_date": "2027-01-15"}  # fmt: skip
    first = enrollment.publish("enrollment_completed", completed)
    enrollment.publish("enrollment_completed", completed, event_id=first["event_id"])
    enrollment.publish("enrollment_completed", completed)
    wait_for(
        lambda: (
            rows(
                provider.engine,
                "SELECT end_date FROM contracts WHERE enrollment_id = :e",
                e=data["enrollment_id"],
            )[0][0]
            == date(2027, 1, 31)
        ),  # fmt: skip
        what="the contract ended",
    )
    time.sleep(1)  # room for a duplicate
    releases = rows(provider.ledger, "SELECT amount FROM ledger_entries WHERE kind = 'release' "
                    "AND enrollment_id = :e", e=data["enrollment_id"])  # fmt: skip
    assert [int(a) for (a,) in releases] == [4 * 302_857]  # February..May, once
    released = rows(provider.engine, "SELECT month FROM contract_months cm JOIN contracts c ON "
                    "c.id = cm.contract_id WHERE c.enrollment_id = :e AND cm.released ORDER BY 1",
                    e=data["enrollment_id"])  # fmt: skip
    assert [m for (m,) in released] == ["2027-02", "2027-03", "2027-04", "2027-05"]
    # January is the contract's last month, but the child's last day was the 15th: a lesson
    # after it is not theirs (the group ended there), one before it is
    provider_principal = {"user_id": 7, "role": "provider", "organization_id": provider.org}
    child = data["child_id"]
    with at(date(2027, 1, 25)):
        late = [{"date": "2027-01-21", "status": "held",
                 "attendance": [{"child_id": child, "present": True}]}]  # fmt: skip
        with pytest.raises(InvalidInput) as refused:
            client.payments.record_lessons(provider_principal, provider.group, late)
        assert "lessons.0.date" in refused.value.fields, refused.value.fields
        early = [{"date": "2027-01-14", "status": "held",
                  "attendance": [{"child_id": child, "present": True}]}]  # fmt: skip
        client.payments.record_lessons(provider_principal, provider.group, early)
