"""Enrollment's projection of the children (issue 20): accounts' `child_changed` keeps the
child's parent, birth date and municipality in enrollment's `children`, so an application
reads the child there and does not ask accounts; a newer change wins, an older one arriving
late does not."""

import time
from datetime import date

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient
from sqlalchemy.orm import Session

from servicekit import clock
from servicekit.errors import NotFound
from services.accounts import operations
from services.accounts.service import AccountsService, CatalogDirectory
from services.catalog.service import CatalogService
from services.certificates.service import CertificatesService
from services.enrollment import children
from services.enrollment.service import EnrollmentService
from tests.support import enrollment as world
from tests.support.accounts import child_body

START = "2026-12-01"


@pytest.fixture(autouse=True)
def business_day():
    with clock.freeze(date.fromisoformat(START)):
        yield


@pytest.fixture
def engines(engine_of):
    return {name: engine_of(name) for name in ("catalog", "accounts", "certificates", "enrollment")}


def as_parent(parent_id):
    return {"user_id": parent_id, "role": "parent", "organization_id": None}


def known(engines, child_id):
    with Session(engines["enrollment"]) as session:
        return children.known(session, child_id)


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)
    return value


def started_services(container_factory):
    """Accounts, enrollment, certificates and the catalog running; accounts' container, for
    the test to stop."""
    accounts = container_factory(AccountsService)
    for container in (
        accounts,
        *(container_factory(cls) for cls in (EnrollmentService, CertificatesService,
                                              CatalogService)),
    ):  # fmt: skip
        container.start()
    return accounts


def test_a_registered_child_is_known_to_enrollment_and_applies_while_accounts_is_down(
    nameko_config, databases, container_factory, engines
):
    world.period(engines["certificates"])
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org)
    parent_id = world.parent(engines["accounts"])
    accounts = started_services(container_factory)
    with ClusterRpcClient() as rpc:
        child = rpc.accounts.add_child(as_parent(parent_id), child_body(birth_date="2017-03-01"))
        facts = wait_for(lambda: known(engines, child["id"]))
        assert facts == {
            "id": child["id"],
            "parent_id": parent_id,
            "birth_date": "2017-03-01",
            "municipality_code": "krasnoyarsk",
        }
        rpc.accounts.change_child(as_parent(parent_id), child["id"], {"birth_date": "2016-04-02"})
        wait_for(lambda: known(engines, child["id"])["birth_date"] == "2016-04-02")

        accounts.stop()  # an application no longer needs accounts
        applied = rpc.enrollment.apply(
            as_parent(parent_id), {"child_id": child["id"], "group_id": group_id}
        )
        assert applied["status"] in ("awaiting_provider", "waitlisted")
        with engines["enrollment"].connect() as conn:
            assert conn.execute(
                sa.text("SELECT child_birth_date FROM enrollments WHERE id = :e"),
                {"e": applied["id"]},
            ).scalar() == date(2016, 4, 2)  # fmt: skip
        # another parent's child is not theirs, whoever keeps the facts
        with pytest.raises(NotFound) as refused:
            rpc.enrollment.apply(
                as_parent(parent_id + 1), {"child_id": child["id"], "group_id": group_id}
            )
        assert refused.value.code == "child_not_found"


def test_a_promotion_reserves_for_a_known_child_while_accounts_is_down(
    nameko_config, databases, container_factory, engines
):
    """A seat freed by a cancellation promotes the first waiter, whose money is reserved at
    once: for a child enrollment knows, accounts is not asked (it was, for every promotion
    and every recovery, until stop 30)."""
    world.period(engines["certificates"])
    org = world.organization(engines["catalog"])
    group_id = world.group(engines["catalog"], org, capacity=1)
    parent_id = world.parent(engines["accounts"])
    accounts = started_services(container_factory)
    with ClusterRpcClient() as rpc:
        kids = [rpc.accounts.add_child(as_parent(parent_id), child_body(birth_date="2017-03-01"))
                for _ in range(2)]  # fmt: skip
        for kid in kids:
            wait_for(lambda kid=kid: known(engines, kid["id"]))
        seated, waiting = (
            rpc.enrollment.apply(as_parent(parent_id), {"child_id": k["id"], "group_id": group_id})
            for k in kids
        )
        assert (seated["status"], waiting["status"]) == ("awaiting_provider", "waitlisted")

        accounts.stop()
        rpc.enrollment.decide(as_parent(parent_id), seated["id"], "cancel")
        promoted = rpc.enrollment.get_enrollment(None, waiting["id"])
        assert (promoted["status"], promoted["money"]) == ("awaiting_provider", "reserved")
        assert promoted["certificate_number"]


def test_an_older_change_arriving_late_does_not_overwrite_a_newer_one(databases, engines):
    child_id = 987_654_321
    newer = {"child_id": child_id, "parent_id": 5, "birth_date": "2016-01-02",
             "municipality_code": "achinsk", "changed_at": "2026-12-01T10:00:01Z"}  # fmt: skip
    older = {**newer, "birth_date": "2015-01-02", "municipality_code": "krasnoyarsk",
             "changed_at": "2026-12-01T10:00:00Z"}  # fmt: skip
    with Session(engines["enrollment"]) as session, session.begin():
        children.remember(session, newer)
        children.remember(session, older)
    assert known(engines, child_id)["municipality_code"] == "achinsk"
    with Session(engines["enrollment"]) as session, session.begin():
        children.remember(session, {**newer, "municipality_code": "bogotol",
                                    "changed_at": "2026-12-01T10:00:02Z"})  # fmt: skip
    assert known(engines, child_id) == {
        "id": child_id,
        "parent_id": 5,
        "birth_date": "2016-01-02",
        "municipality_code": "bogotol",
    }


class _ThroughTheBroker:
    """accounts' directory client over a standalone RPC client: the real catalog answers."""

    def __init__(self, rpc):
        self.rpc = rpc

    def call(self, service, method, *args, timeout=None):
        return getattr(getattr(self.rpc, service), method)(*args)


def test_two_edits_of_one_child_reach_enrollment_in_the_order_they_took_effect(
    nameko_config, databases, container_factory, engines
):
    """The edit whose transaction began first but took the child's row last is the child's
    data: `child_changed` must order it last, or enrollment keeps the edit it overwrote
    (SQL's now(), the time a transaction began, ordered them the other way round)."""
    container_factory(CatalogService).start()
    parent_id = world.parent(engines["accounts"])

    def session():
        s = Session(engines["accounts"])
        s.info["producer"] = "accounts"
        return s

    with ClusterRpcClient() as rpc:
        directory = CatalogDirectory(_ThroughTheBroker(rpc))
        with session() as s, s.begin():
            viewer = operations.viewer_of(s, as_parent(parent_id))
            child_id = operations.add_child(s, viewer, child_body(), clock.today(), directory)["id"]
        late = session()
        late.execute(sa.text("SELECT 1"))  # its transaction begins before the other edit's
        with session() as s, s.begin():
            operations.change_child(
                s, viewer, child_id, {"municipality_code": "achinsk"}, clock.today(), directory
            )
        operations.change_child(
            late, viewer, child_id, {"municipality_code": "krasnoyarsk"}, clock.today(), directory
        )
        late.commit()
        late.close()
    with engines["accounts"].connect() as conn:
        published = conn.execute(
            sa.text(
                "SELECT body FROM outbox WHERE type = 'child_changed'"
                " AND (body->'data'->>'child_id')::int = :c ORDER BY id"
            ),
            {"c": child_id},
        ).scalars().all()  # fmt: skip
    assert [body["data"]["municipality_code"] for body in published] == [
        "krasnoyarsk", "achinsk", "krasnoyarsk",
    ]  # fmt: skip
    stamps = [clock.parse_instant(body["data"]["changed_at"]) for body in published]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    with Session(engines["enrollment"]) as s, s.begin():
        for body in reversed(published):  # delivered in any order: the last edit stays
            children.remember(s, body["data"])
    assert known(engines, child_id)["municipality_code"] == "krasnoyarsk"
