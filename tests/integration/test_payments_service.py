"""The payments service in-process on the real broker and database: contracts from
enrollment's events, attendance, and the charging half of a billing run.

Posting charges needs the certificates service (debit_funds); where it is not running these
tests check what payments does on its own and that nothing is posted without it.
"""

import time
import uuid
from datetime import date

import eventlet
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.errors import Conflict, Forbidden, InvalidInput
from servicekit.outbox import outbox
from services.payments import billing, contracts
from services.payments.models import BillingRun, Charge, Contract, ContractMonth
from services.payments.service import PaymentsService
from tests.support.payments import Enrollment, confirmed_data, reset_billing
from tests.support.sql import scalar
from tests.support.waiting import wait_for

REGIONAL = {"user_id": 1, "role": "regional_operator"}


@pytest.fixture
def payments(nameko_config, databases, container_factory, vhost, engine_of, monkeypatch):
    reset_billing(engine_of("payments"))
    monkeypatch.setenv("BILLING_POLL_INTERVAL", "1")
    monkeypatch.setenv("BILLING_RPC_TIMEOUT", "3")
    container = container_factory(PaymentsService)
    container.start()
    enrollment = Enrollment(vhost)
    with ClusterRpcClient() as client:
        yield client.payments, engine_of("payments"), enrollment
    enrollment.close()


def fresh_ids():
    base = uuid.uuid4().int % 1_000_000 + 1000
    return base, base + 1  # group, organization


def test_confirmed_enrollment_becomes_one_contract_even_when_redelivered(payments):
    _, engine, enrollment = payments
    group_id, org_id = fresh_ids()
    data = confirmed_data(child_id=group_id, group_id=group_id, organization_id=org_id)
    first = enrollment.publish("enrollment_confirmed", data)
    enrollment.publish("enrollment_confirmed", data, event_id=first["event_id"])  # redelivered
    enrollment.publish("enrollment_confirmed", data)  # the producer sent it twice

    wait_for(
        lambda: scalar(
            engine,
            "SELECT count(*) FROM contracts WHERE enrollment_id = :e",
            e=data["enrollment_id"],
        ),
        timeout=15,
    )
    time.sleep(1)  # room for a duplicate to arrive
    with Session(engine) as session:
        stored = (
            session.execute(
                sa.select(Contract).where(Contract.enrollment_id == data["enrollment_id"])
            )
            .scalars()
            .all()
        )
        assert len(stored) == 1
        contract = stored[0]
        assert (contract.total, contract.certificate_share, contract.copay) == (2_730_000,) * 2 + (
            0,
        )
        assert (contract.start_date, contract.end_date) == (date(2026, 9, 1), date(2027, 5, 31))
        months = session.execute(
            sa.select(ContractMonth.month, ContractMonth.certificate)
            .where(ContractMonth.contract_id == contract.id)
            .order_by(ContractMonth.month)
        ).all()
        assert months[0] == ("2026-09", 300_000)  # 27 300.00 - 8 x 3 037.50
        assert {certificate for _, certificate in months[1:]} == {303_750}
        announced = session.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(
                outbox.c.type == "contract_activated",
                outbox.c.body["data"]["enrollment_id"].astext == data["enrollment_id"],
            )
        ).scalar()
        assert announced == 1


def test_terms_that_do_not_add_up_are_refused(payments):
    data = confirmed_data(child_id=1, group_id=1, organization_id=1)
    data["copay"] = "1.00"
    with pytest.raises(InvalidInput) as refused:
        contracts.contract_from_event(data)
    assert refused.value.code == "terms_mismatch"


def test_attendance_then_billing_charges_each_contract_once_to_the_kopeck(payments):
    rpc, engine, enrollment = payments
    group_id, org_id = fresh_ids()
    a, b, c = group_id * 10 + 1, group_id * 10 + 2, group_id * 10 + 3
    provider = {"user_id": 7, "role": "provider", "organization_id": org_id}
    # a: from September, fully paid by the certificate; October part 3 037.50
    # b: from October 15, registry `paid`: October's co-payment 1 700.01
    # c: Achinsk pays by attendance; price above normative: October 2 670.32 + 667.58
    confirmed = [
        confirmed_data(child_id=a, group_id=group_id, organization_id=org_id),
        confirmed_data(
            child_id=b,
            group_id=group_id,
            organization_id=org_id,
            start_date=date(2026, 10, 15),
            registry="paid",
        ),
        confirmed_data(
            child_id=c,
            group_id=group_id,
            organization_id=org_id,
            payer="achinsk",
            price=3_000_000,
            normative=2_400_000,
        ),
    ]
    for data in confirmed:
        enrollment.publish("enrollment_confirmed", data)
    wait_for(
        lambda: (
            scalar(engine, "SELECT count(*) FROM contracts WHERE group_id = :g", g=group_id) == 3
        ),
        timeout=15,
    )
    achinsk = {"user_id": 8, "role": "municipal_operator", "municipality_code": "achinsk"}
    rpc.set_completeness_mode(achinsk, "achinsk", "attended")
    with pytest.raises(Forbidden):
        rpc.set_completeness_mode(achinsk, "krasnoyarsk", "attended")

    # October's attendance is recorded before its submission deadline (4 November) and
    # billed after it (the rules of issue 18: a month is billed once its attendance is final)
    with clock.freeze(date(2026, 11, 4)):
        # 1, 6 and 8 October cancelled: 6 of 9 held; c missed the 29th
        held = [13, 15, 20, 22, 27, 29]
        lessons = []
        for day in [1, 6, 8, *held]:
            status = "cancelled" if day in (1, 6, 8) else "held"
            marks = []
            if status == "held":
                marks = [{"child_id": a, "present": True}, {"child_id": c, "present": day != 29}]
                if day >= 15:
                    marks.append({"child_id": b, "present": True})
            lessons.append({"date": f"2026-10-{day:02d}", "status": status, "attendance": marks})
        with pytest.raises(Forbidden):
            rpc.record_lessons({**provider, "organization_id": org_id + 99}, group_id, lessons)
        with pytest.raises(InvalidInput) as stranger:
            rpc.record_lessons(
                provider,
                group_id,
                [
                    {
                        "date": "2026-10-13",
                        "status": "held",
                        "attendance": [{"child_id": 1, "present": 1}],
                    }
                ],
            )
        assert "lessons.0.attendance" in stranger.value.fields
        # recorded wrongly first, then corrected: the correction replaces the marks
        rpc.record_lessons(provider, group_id, [{**lessons[3], "status": "cancelled"}])
        answer = rpc.record_lessons(provider, group_id, lessons)
        assert answer["recorded"] == 9

        month = rpc.group_month(provider, group_id, "2026-10")
        figures = {child["child_id"]: child for child in month["children"]}
        assert (figures[a]["lessons_scheduled"], figures[a]["lessons_held"]) == (9, 6)
        assert (figures[b]["lessons_scheduled"], figures[b]["lessons_held"]) == (5, 5)
        assert (figures[c]["lessons_held"], figures[c]["lessons_attended"]) == (6, 5)
        assert figures[c]["completeness_mode"] == "attended"

    with clock.freeze(date(2026, 11, 5)):
        run = rpc.start_billing_run(REGIONAL, "2026-10")
        assert rpc.start_billing_run(REGIONAL, "2026-10")["id"] == run["id"]  # one at a time
    wait_for(
        lambda: (
            scalar(
                engine,
                "SELECT count(*) FROM charges ch JOIN contracts c ON c.id = ch.contract_id "
                "WHERE c.group_id = :g AND ch.month = '2026-10'",
                g=group_id,
            )
            == 3
        ),
        timeout=15,
    )
    with Session(engine) as session:
        charged = {
            row.child_id: row
            for row in session.execute(
                sa.select(Charge).join(Contract).where(Contract.group_id == group_id)
            ).scalars()
        }
    got = {
        child: (
            ch.certificate_planned,
            ch.certificate_charged,
            ch.certificate_released,
            ch.copay_planned,
            ch.copay_charged,
        )
        for child, ch in charged.items()
    }
    assert got == {
        a: (303_750, 202_500, 101_250, 0, 0),  # 6/9 held
        b: (0, 0, 0, 170_001, 170_001),  # 5/5 of its days
        c: (267_032, 222_527, 44_505, 66_758, 55_632),  # attended 5/6
    }

    # the month is closed for corrections; the next one is not
    with clock.freeze(date(2026, 11, 5)):
        with pytest.raises(Conflict) as closed:
            rpc.record_lessons(provider, group_id, lessons[:1])
        assert closed.value.code == "month_billed"
        rpc.record_lessons(provider, group_id, [{"date": "2026-11-03", "status": "held"}])


def test_concurrent_runs_charge_every_contract_exactly_once(payments):
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
    _, engine, _ = payments
    month = "2026-09"
    group_id, org_id = fresh_ids()
    with Session(engine) as session, session.begin():
        session.info["producer"] = "payments"
        for n in range(240):
            contracts.activate(
                session,
                confirmed_data(
                    child_id=group_id * 1000 + n, group_id=group_id, organization_id=org_id
                ),
            )
        run = billing.start_run(session, month, None, date(2026, 11, 29))
        run_id = run.id
    eligible = scalar(
        engine,
        "SELECT count(*) FROM contract_months WHERE month = :m AND NOT released",
        m=month,
    )

    def worker(_):
        claimed = 0
        after = 0
        while True:
            with Session(engine) as session, session.begin():
                last = billing.charge_batch(session, session.get(BillingRun, run_id), after, 25)
            if not last:
                if after == 0:
                    return claimed
                after = 0
                continue
            after, claimed = last, claimed + 1

    pool = eventlet.GreenPool(4)
    list(pool.imap(worker, range(4)))
    charges = scalar(engine, "SELECT count(*) FROM charges WHERE month = :m", m=month)
    distinct = scalar(
        engine, "SELECT count(DISTINCT contract_id) FROM charges WHERE month = :m", m=month
    )
    assert charges == distinct == eligible >= 240
