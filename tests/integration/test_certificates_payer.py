"""Issue 18 item 8: the payer is the certificate's municipality. A certificate keeps the
municipality and the birth date of its issue: a child who moves is invoiced to (and paid
from the limit of) the issuing municipality; neither can change while money is reserved on
the certificate; a birth date edited before the first application does not raise the
nominal. Enrollment, accounts, certificates and the catalog in-process on the real servers."""

import time

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient

from servicekit.errors import Conflict, NotFound
from services.accounts.service import AccountsService
from services.catalog.enrollment.service import EnrollmentService
from services.catalog.service import CatalogService
from services.certificates import funding
from services.certificates.domain import AgeBand
from services.certificates.service import CertificatesService
from tests.support import enrollment as world
from tests.support.accounts import child_body

START = "2026-12-01"


@pytest.fixture
def rpc(nameko_config, databases, container_factory):
    for cls in (EnrollmentService, AccountsService, CertificatesService, CatalogService):
        container_factory(cls).start()
    with ClusterRpcClient() as client:
        yield client


@pytest.fixture
def engines(engine_of):
    return {name: engine_of(name) for name in ("catalog", "accounts", "certificates")}


def as_parent(parent_id):
    return {"user_id": parent_id, "role": "parent", "organization_id": None}


def operator_of(code):
    return {"user_id": 900, "role": "municipal_operator", "municipality_code": code}


def confirmed_data(engines, enrollment_id):
    with engines["catalog"].connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT body->'data' FROM outbox WHERE type = 'enrollment_confirmed'"
                " AND body->'data'->>'enrollment_id' = :e"
            ),
            {"e": enrollment_id},
        ).scalar()


def used(engines, code, period_id):
    with engines["certificates"].connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT coalesce(sum(used), 0) FROM municipal_funds"
                " WHERE municipality_code = :m AND period_id = :p"
            ),
            {"m": code, "p": period_id},
        ).scalar()


def test_a_child_who_moves_is_paid_for_by_the_certificates_municipality(rpc, engines):
    period = world.period(engines["certificates"], "krasnoyarsk")
    world.period(engines["certificates"], "achinsk")
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    body = child_body(birth_date="2017-03-01", municipality_code="krasnoyarsk")
    child = rpc.accounts.add_child(as_parent(parent_id), body)["id"]
    number = rpc.certificates.ensure_certificate(child)["number"]
    # the family moves before the first application: nothing is reserved, so accounts takes it
    moved = rpc.accounts.change_child(as_parent(parent_id), child, {"municipality_code": "achinsk"})
    assert moved["municipality_code"] == "achinsk"
    achinsk_before = used(engines, "achinsk", period)

    applied = rpc.enrollment.apply(
        as_parent(parent_id), {"child_id": child, "group_id": group_id, "start_date": START}
    )
    assert applied["certificate_number"] == number
    enrolled = rpc.enrollment.decide(world.provider(engines["accounts"], org), applied["id"],
                                     "confirm")  # fmt: skip
    assert enrolled["status"] == "enrolled"
    # the contract is invoiced to the municipality whose limit financed the certificate
    assert confirmed_data(engines, applied["id"])["child_municipality_code"] == "krasnoyarsk"
    assert used(engines, "achinsk", period) == achinsk_before
    # that municipality's operator sees the certificate; the new one's does not
    shown = rpc.certificates.show_certificate(operator_of("krasnoyarsk"), number)
    assert shown["municipality_code"] == "krasnoyarsk"
    with pytest.raises(NotFound):
        rpc.certificates.show_certificate(operator_of("achinsk"), number)

    # with money reserved, neither the birth date nor the municipality changes
    for change in ({"birth_date": "2015-03-01"}, {"municipality_code": "krasnoyarsk"}):
        with pytest.raises(Conflict) as refused:
            rpc.accounts.change_child(as_parent(parent_id), child, change)
        assert refused.value.code == "certificate_money_reserved"
    facts = rpc.accounts.get_child(child)
    assert (facts["birth_date"], facts["municipality_code"]) == ("2017-03-01", "achinsk")


def test_a_birth_date_edited_before_the_first_application_does_not_raise_the_nominal(rpc, engines):
    """The reproduction: 26,000 ₽ raised to 32,000 ₽ by editing the birth date first."""
    code = "bogotol"
    period = world.period(engines["certificates"], code)
    with sa.orm.Session(engines["certificates"], info={"producer": "certificates"}) as session:
        bands = [AgeBand(0, 9, 26_000_00), AgeBand(10, 17, 32_000_00)]
        funding.set_bands(session, code, period, bands)
        session.commit()
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, min_age=5, max_age=14)
    parent_id = world.parent(engines["accounts"])
    body = child_body(birth_date="2017-03-01", municipality_code=code)  # 9 on 1 Sep 2026
    child = rpc.accounts.add_child(as_parent(parent_id), body)["id"]
    deadline = time.monotonic() + 20
    while True:  # the certificate is issued from accounts' child_registered
        try:
            issued = rpc.certificates.child_certificate(child)
            break
        except NotFound:
            assert time.monotonic() < deadline, "no certificate issued on registration"
            time.sleep(0.1)
    assert issued["birth_date"] == "2017-03-01"
    rpc.accounts.change_child(as_parent(parent_id), child, {"birth_date": "2015-03-01"})
    applied = rpc.enrollment.apply(
        as_parent(parent_id),
        {"child_id": child, "group_id": group_id, "start_date": START, "accept_copay": True},
    )
    assert applied["certificate_number"] == issued["certificate_number"]
    balance = rpc.certificates.get_balance(child)
    assert (balance["type"], balance["credited"]) == ("financing", 26_000_00)
