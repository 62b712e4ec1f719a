"""The report's figures that other services own, against real data: accounts'
count_children, certificates' usage_totals, enrollment's count_by_status, each through its
service's entrypoint; then payments' report asking all three, with exact figures on a
hand-made municipality, as JSON and CSV, and a clean 503 when one of them does not answer.

The scenario, in a municipality of its own (`rep-...`), period 2026/2027, nominal 10 000.00:
- accounts: 4 children registered there (and 1 elsewhere);
- certificates: A reserves 3 000.00 and is billed October (1 000.00 debited, 500.00
  released), C reserves 2 000.00 and is billed September (800.00 debited), B's certificate
  expires with its 10 000.00 untouched, D has none;
- enrollment: 2 enrolled, 1 awaiting the provider, 1 waitlisted, 1 cancelled, and one
  application of a child of another municipality to the same group;
- payments: contracts for A and C (covered from September).
"""

import uuid

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.orm import Session

from servicekit.errors import ServiceUnavailable
from services.accounts.service import AccountsService
from services.certificates import operations as certificates_operations
from services.certificates.models import Certificate
from services.certificates.service import CertificatesService
from services.enrollment.service import EnrollmentService
from services.payments import contracts
from services.payments import service as payments_service
from services.payments.service import PaymentsService
from tests.support import enrollment as world
from tests.support.payments import confirmed_data, reset_billing

REGIONAL = {"user_id": 1, "role": "regional_operator"}
NOMINAL = 1_000_000
NO_APPLICATIONS = dict.fromkeys(
    ("requested", "waitlisted", "awaiting_provider", "enrolled", "completed", "terminated",
     "rejected", "cancelled", "expired"),
    0,
)  # fmt: skip


@pytest.fixture(scope="module")
def vhost(server_urls):
    """A virtual host of this module alone: with the whole suite running, other modules'
    enrollment (and accounts, certificates) services answer in the run's vhost, so a stopped
    container here would not make its RPCs go unanswered."""
    from tests.conftest import RUN_ID, own_vhost

    with own_vhost(server_urls, f"navtest_{RUN_ID}_reports") as uri:
        yield uri


@pytest.fixture
def containers(nameko_config, databases, container_factory, engine_of):
    reset_billing(engine_of("payments"))
    started = {}
    for cls in (AccountsService, CertificatesService, EnrollmentService, PaymentsService):
        started[cls.name] = container_factory(cls)
        started[cls.name].start()
    return started


@pytest.fixture
def rpc(containers):
    with ClusterRpcClient() as client:
        yield client


@pytest.fixture
def engines(engine_of):
    return {
        name: engine_of(name)
        for name in ("accounts", "certificates", "catalog", "payments", "enrollment")
    }


def municipality() -> str:
    return f"rep-{uuid.uuid4().hex[:8]}"


def registered(engines, mun, count):
    return world.children(engines["accounts"], world.parent(engines["accounts"]), count,
                          municipality=mun)  # fmt: skip


def certificates_used(rpc, engines, mun, children):
    """A, B, C of the scenario (D has no certificate)."""
    period_id = world.period(engines["certificates"], mun, NOMINAL, 3 * NOMINAL)
    a, b, c = ({"id": k, "parent_id": 1, "birth_date": "2017-03-01", "municipality_code": mun}
               for k in children[:3])  # fmt: skip
    ea, ec = str(uuid.uuid4()), str(uuid.uuid4())
    rpc.certificates.reserve_funds(ea, a, period_id, 300_000, True)
    rpc.certificates.reserve_funds(f"probe-{uuid.uuid4()}", b, period_id, 0, True)
    rpc.certificates.reserve_funds(ec, c, period_id, 200_000, True)
    answers = rpc.certificates.debit_funds(
        [
            {"enrollment_id": ea, "month": "2026-10", "debit": 100_000, "release": 50_000},
            {"enrollment_id": ec, "month": "2026-09", "debit": 80_000, "release": 0},
        ]
    )
    assert [x["status"] for x in answers] == ["debited", "debited"]
    with Session(engines["certificates"], info={"producer": "certificates"}) as session:
        certificate = session.scalar(sa.select(Certificate).where(Certificate.child_id == b["id"]))
        certificates_operations.expire_certificate(session, certificate, "тест: 18 лет")
        session.commit()


def applications(engines, mun, children):
    """Five applications of the municipality's children and one of another municipality's
    child, all to an organization of Krasnoyarsk: the payer is the child's municipality."""
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=10)
    rows = [
        (children[0], mun, "enrolled", "contract"),
        (children[1], mun, "enrolled", "contract"),
        (children[2], mun, "awaiting_provider", "reserved"),
        (children[3], mun, "waitlisted", "reserved"),
        (children[0] + 10**8, mun, "cancelled", "released"),
        (children[0] + 2 * 10**8, "elsewhere", "enrolled", "contract"),
    ]
    with engines["enrollment"].begin() as conn:
        program_id = conn.execute(
            sa.text("SELECT program_id FROM groups WHERE id = :g"), {"g": group_id}
        ).scalar()
        for child_id, child_mun, status, money in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO enrollments (id, child_id, parent_id, group_id, program_id,"
                    " organization_id, organization_municipality, child_municipality, status,"
                    " arrival, seat_held, accept_copay, start_date, end_date, terms, money)"
                    " VALUES (:id, :child, 1, :g, :p, :org, :mun, :child_mun, :status,"
                    " nextval('enrollment_arrival_seq'), false, false, '2026-09-01',"
                    " '2027-05-31', '{}'::jsonb, :money)"
                ),
                {"id": uuid.uuid4(), "child": child_id, "g": group_id, "p": program_id,
                 "org": org, "mun": "krasnoyarsk", "child_mun": child_mun, "status": status,
                 "money": money},
            )  # fmt: skip


def contracts_for(engines, mun, children):
    with Session(engines["payments"], info={"producer": "payments"}) as session:
        for child_id in (children[0], children[2]):
            contracts.activate(
                session,
                confirmed_data(child_id=child_id, group_id=child_id, organization_id=4242,
                               payer=mun),
            )  # fmt: skip
        session.commit()


COUNTS = {
    "children": sa.text("SELECT count(*) FROM children"),
    "enrollments": sa.text("SELECT count(*) FROM enrollments"),
}


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(COUNTS[table]).scalar()


# --- each new RPC against real data ------------------------------------------------------


def test_count_children_counts_a_municipalitys_children_and_the_regions(rpc, engines):
    mun = municipality()
    assert rpc.accounts.count_children(mun) == 0
    registered(engines, mun, 4)
    registered(engines, municipality(), 1)
    assert rpc.accounts.count_children(mun) == 4
    assert rpc.accounts.count_children(None) == count(engines["accounts"], "children")


def test_usage_totals_sums_the_balances_and_a_months_debits(rpc, engines):
    mun = municipality()
    before = rpc.certificates.usage_totals(None)
    certificates_used(rpc, engines, mun, registered(engines, mun, 4))
    whole = {"credited": 3 * NOMINAL, "reserved": 270_000, "spent": 180_000,
             "expired": NOMINAL}  # fmt: skip
    assert rpc.certificates.usage_totals(mun) == {**whole, "spent_in_month": None}
    assert rpc.certificates.usage_totals(mun, "2026-10") == {**whole, "spent_in_month": 100_000}
    assert rpc.certificates.usage_totals(mun, "2026-09")["spent_in_month"] == 80_000
    # a month of no period holds none of the balances
    assert rpc.certificates.usage_totals(mun, "2031-01") == {
        "credited": 0, "reserved": 0, "spent": 0, "expired": 0, "spent_in_month": 0,
    }  # fmt: skip
    after = rpc.certificates.usage_totals(None)
    assert {k: after[k] - before[k] for k in whole} == whole
    with pytest.raises(Exception, match="ГГГГ-ММ"):
        rpc.certificates.usage_totals(mun, "2026-13")


def test_count_by_status_counts_applications_of_the_municipalitys_children(rpc, engines):
    mun = municipality()
    assert rpc.enrollment.count_by_status(mun) == NO_APPLICATIONS
    before = rpc.enrollment.count_by_status(None)
    applications(engines, mun, registered(engines, mun, 4))
    assert rpc.enrollment.count_by_status(mun) == {
        **NO_APPLICATIONS, "enrolled": 2, "awaiting_provider": 1, "waitlisted": 1,
        "cancelled": 1,
    }  # fmt: skip
    after = rpc.enrollment.count_by_status(None)
    assert sum(after.values()) - sum(before.values()) == 6
    assert sum(after.values()) == count(engines["enrollment"], "enrollments")


# --- the report, with all of them -----------------------------------------------------------


def test_report_has_the_figures_of_accounts_certificates_and_enrollment(rpc, engines):
    mun = municipality()
    children = registered(engines, mun, 4)
    registered(engines, municipality(), 1)
    certificates_used(rpc, engines, mun, children)
    applications(engines, mun, children)
    contracts_for(engines, mun, children)

    report = rpc.payments.report(REGIONAL, mun, "2026-10")
    assert report["children_covered"] == 2
    assert report["children_registered"] == 4
    assert report["children_covered_percent"] == "50.00"
    assert report["certificate_usage"] == {
        "credited": 3_000_000, "reserved": 270_000, "spent": 180_000, "expired": 1_000_000,
        "spent_in_month": 100_000,
    }  # fmt: skip
    assert report["enrollments_by_status"] == {
        **NO_APPLICATIONS, "enrolled": 2, "awaiting_provider": 1, "waitlisted": 1,
        "cancelled": 1,
    }  # fmt: skip
    whole = rpc.payments.report(REGIONAL, mun, None)
    assert whole["certificate_usage"]["spent_in_month"] is None
    assert whole["children_registered"] == 4

    lines = rpc.payments.report_csv(REGIONAL, mun, "2026-10").lstrip("\ufeff").splitlines()
    for line in (
        "Дети;Охвачено договорами;;;2",
        "Дети;Зарегистрировано;;;4",
        "Дети;Доля охваченных, %;;;50,00",
        "Сертификаты: движение средств;Зачислено;30000,00;;",
        "Сертификаты: движение средств;Зарезервировано;2700,00;;",
        "Сертификаты: движение средств;Списано;1800,00;;",
        "Сертификаты: движение средств;Сгорело;10000,00;;",
        "Сертификаты: движение средств;Списано за месяц;1000,00;;",
        "Заявки по статусам;Зачислен;;;2",
        "Заявки по статусам;Ждёт решения организации;;;1",
        "Заявки по статусам;В листе ожидания;;;1",
        "Заявки по статусам;Отменена;;;1",
        "Заявки по статусам;Отклонена;;;0",
    ):
        assert line in lines

    region = rpc.payments.report(REGIONAL, None, "2026-10")
    assert region["children_registered"] == count(engines["accounts"], "children")


def test_report_is_a_503_when_a_service_it_asks_does_not_answer(
    containers, rpc, engines, monkeypatch
):
    monkeypatch.setattr(payments_service, "REPORT_TIMEOUT", 1.0)
    mun = municipality()
    assert rpc.payments.report(REGIONAL, mun, "2026-10")["children_registered"] == 0
    containers["enrollment"].stop()
    for method in (rpc.payments.report, rpc.payments.report_csv):
        with pytest.raises(ServiceUnavailable) as raised:
            method(REGIONAL, mun, "2026-10")
        assert raised.value.code == "enrollment_unavailable"
