"""A suspended or unapproved organization's staff act on nothing (issue 24, item 5): after the
region suspends the organization, or after its staff edit its INN (back to approval), every
decision on an application and every lesson recorded is 403 `organization_not_active`, as
`/children/{id}/verify` already was; the application is left as it was."""

import random
import uuid

import sqlalchemy as sa

from servicekit import clock
from services.catalog import domain as catalog_domain
from tests.support import enrollment as data
from tests.support.accounts import (
    Client,
    child_body,
    confirm_email,
    login,
    register_parent,
)


def _apply(parent: Client, child_id: int, group_id: int) -> str:
    response = parent.post(
        "/enrollments",
        {
            "child_id": child_id,
            "group_id": group_id,
            "start_date": clock.today().isoformat(),
            "accept_copay": True,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _refused_everything(provider: Client, waiting: str, enrolled: str, group_id: int) -> None:
    attempts = [
        ("POST", f"/enrollments/{waiting}/confirm", None),
        ("POST", f"/enrollments/{waiting}/reject", {"reason": "нет мест"}),
        ("POST", f"/enrollments/{enrolled}/terminate", {"reason": "переезд"}),
        (
            "POST",
            f"/groups/{group_id}/lessons",
            {"lessons": [{"date": clock.today().isoformat(), "status": "held", "attendance": []}]},
        ),
    ]
    for method, path, body in attempts:
        refused = provider.request(method, path, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["code"] == "organization_not_active", (path, refused.text)
    assert provider.get(f"/enrollments/{waiting}").json()["status"] == "awaiting_provider"
    assert provider.get(f"/enrollments/{enrolled}").json()["status"] == "enrolled"


def test_a_suspended_or_unapproved_organizations_staff_decide_nothing(
    api, accounts_world, databases
):
    catalog = sa.create_engine(databases["catalog"])
    certificates = sa.create_engine(databases["certificates"])
    try:
        data.period(certificates)
        organization_id = data.organization(catalog)
        groups = [data.group(catalog, organization_id, registry="paid") for _ in range(2)]
    finally:
        catalog.dispose()
        certificates.dispose()
    provider = accounts_world.staff_of(organization_id)
    # a parent of its own: the shared parents' children must not gain contracts here; with a
    # confirmed address, as applying asks (issue 23)
    user = register_parent(api)
    confirm_email(databases["accounts"], user["id"])
    parent = Client(api, login(api, user["email"])["access_token"])
    child = parent.post("/children", child_body())
    assert child.status_code == 201, child.text
    enrolled = _apply(parent, child.json()["id"], groups[0])
    waiting = _apply(parent, child.json()["id"], groups[1])
    done = provider.post(f"/enrollments/{enrolled}/confirm")
    assert done.status_code == 200, done.text
    regional = accounts_world.client("regional")

    suspended = regional.post(f"/organizations/{organization_id}/suspend")
    assert suspended.status_code == 200, suspended.text
    _refused_everything(provider, waiting, enrolled, groups[0])

    assert regional.post(f"/organizations/{organization_id}/reinstate").status_code == 200
    # its staff change the INN: the organization goes back to approval, and acts on nothing
    inn = catalog_domain.inn_with_check_digits(f"{random.randint(10**8, 10**9 - 1)}")
    edited = provider.patch(f"/organizations/{organization_id}", {"inn": inn})
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "pending"
    _refused_everything(provider, waiting, enrolled, groups[0])

    # approved again, its staff decide as before
    assert regional.post(f"/organizations/{organization_id}/approve").status_code == 200
    confirmed = provider.post(f"/enrollments/{waiting}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert uuid.UUID(confirmed.json()["id"])
