"""Every accounts route × every caller × own or foreign resource, with the exact status.

Callers: anonymous; a parent and another parent; a provider and a municipal operator of
Krasnoyarsk (the child's municipality) and of Achinsk; the regional operator. The resource
is the first parent's child in Krasnoyarsk, who applied to a group of the home organization:
"own" for the parent, the municipal operator of Krasnoyarsk and the home organization's
provider, "foreign" for the others. A foreign child answers 404, as a missing one does. A
provider sees only the children who applied to its organization (the last test).
"""

import pytest
import sqlalchemy as sa

from tests.support.accounts import (
    CALLERS,
    ELSEWHERE_ORG,
    HOME_ORG,
    PASSWORD,
    Client,
    apply_to_organization,
    child_body,
    fresh_email,
    login,
)


def staff_body(organization_id=HOME_ORG):
    return {
        "email": fresh_email("staff"),
        "password": PASSWORD,
        "full_name": "Новикова Светлана",
        "role": "provider",
        "organization_id": organization_id,
    }


def unchanged_child():
    # a PATCH that changes nothing verified, so the table leaves the child as it was
    return {"municipality_code": "krasnoyarsk"}


# (name, method, path template, body factory, {caller: status})
TABLE = [
    (
        "mail the confirmation again",
        "POST",
        "/auth/verify-email/resend",
        None,
        dict.fromkeys(CALLERS, 403) | {"anonymous": 401, "parent": 202, "other_parent": 202},
    ),
    (
        "me",
        "GET",
        "/me",
        None,
        dict.fromkeys(CALLERS, 200) | {"anonymous": 401},
    ),
    (
        "create staff of the home organization",
        "POST",
        "/staff",
        staff_body,
        {
            "anonymous": 401,
            "parent": 403,
            "other_parent": 403,
            "provider": 403,
            "provider_elsewhere": 403,
            "municipal": 201,
            "municipal_elsewhere": 403,
            "regional": 201,
        },
    ),
    (
        "create staff of an organization elsewhere",
        "POST",
        "/staff",
        lambda: staff_body(ELSEWHERE_ORG),
        {
            "anonymous": 401,
            "parent": 403,
            "other_parent": 403,
            "provider": 403,
            "provider_elsewhere": 403,
            "municipal": 403,
            "municipal_elsewhere": 201,
            "regional": 201,
        },
    ),
    (
        "add a child",
        "POST",
        "/children",
        child_body,
        dict.fromkeys(CALLERS, 403) | {"anonymous": 401, "parent": 201, "other_parent": 201},
    ),
    (
        "list children",
        "GET",
        "/children",
        None,
        {
            "anonymous": 401,
            "parent": 200,
            "other_parent": 200,
            "provider": 403,
            "provider_elsewhere": 403,
            "municipal": 200,
            "municipal_elsewhere": 200,
            "regional": 200,
        },
    ),
    (
        "show the child",
        "GET",
        "/children/{child}",
        None,
        {
            "anonymous": 401,
            "parent": 200,
            "other_parent": 404,
            "provider": 200,
            "provider_elsewhere": 404,
            "municipal": 200,
            "municipal_elsewhere": 404,
            "regional": 200,
        },
    ),
    (
        "show a child that does not exist",
        "GET",
        "/children/2147483000",
        None,
        dict.fromkeys(CALLERS, 404) | {"anonymous": 401},
    ),
    (
        "change the child",
        "PATCH",
        "/children/{child}",
        unchanged_child,
        dict.fromkeys(CALLERS, 403) | {"anonymous": 401, "parent": 200, "other_parent": 404},
    ),
    (
        "change a child that does not exist",
        "PATCH",
        "/children/2147483000",
        unchanged_child,
        dict.fromkeys(CALLERS, 403) | {"anonymous": 401, "parent": 404, "other_parent": 404},
    ),
    (
        "verify the child",
        "POST",
        "/children/{child}/verify",
        None,
        dict.fromkeys(CALLERS, 403)
        | {"anonymous": 401, "provider": 200, "provider_elsewhere": 404},
    ),
    (
        "verify a child that does not exist",
        "POST",
        "/children/2147483000/verify",
        None,
        dict.fromkeys(CALLERS, 403)
        | {"anonymous": 401, "provider": 404, "provider_elsewhere": 404},
    ),
]

CASES = [
    pytest.param(method, path, body, caller, expected[caller], id=f"{name} as {caller}")
    for name, method, path, body, expected in TABLE
    for caller in CALLERS
]


def test_the_table_covers_every_accounts_route_and_every_caller(api):
    import requests

    document = requests.get(f"{api}/openapi.json", timeout=10).json()
    accounts_routes = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if {"accounts", "children"} & set(operation.get("tags", []))
    }
    public = {
        ("POST", f"/auth/{name}")
        for name in (
            "register",
            "login",
            "refresh",
            "logout",
            "verify-email",
            "password-reset",
            "password-reset/confirm",
            "register-provider",
        )
    }  # fmt: skip  (register-provider's answers: tests/e2e/test_provider_registration.py)
    covered = {
        (method, path.replace("{child}", "{child_id}").replace("2147483000", "{child_id}"))
        for _, method, path, _, expected in TABLE
    }
    assert accounts_routes - public == covered
    assert all(set(expected) == set(CALLERS) for *_, expected in TABLE)


@pytest.mark.parametrize("method, path, body, caller, expected", CASES)
def test_route_answers_caller_with_exact_status(
    accounts_world, home_applicant, method, path, body, caller, expected
):
    client = accounts_world.client(None if caller == "anonymous" else caller)
    url = path.format(child=accounts_world.children["parent"])
    response = client.request(method, url, json=body() if body else None)

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["status"] == expected


@pytest.mark.parametrize("caller", ["anonymous", *CALLERS[1:]])
def test_public_auth_routes_answer_everyone(accounts_world, caller):
    client = accounts_world.client(None if caller == "anonymous" else caller)
    email = fresh_email("public")
    registered = client.post(
        "/auth/register",
        {"email": email, "password": PASSWORD, "full_name": "Гость", "consent_personal_data": True},
    )
    logged_in = client.post("/auth/login", {"email": email, "password": PASSWORD})
    refreshed = client.post("/auth/refresh", {"refresh_token": logged_in.json()["refresh_token"]})
    logged_out = client.post("/auth/logout", {"refresh_token": refreshed.json()["refresh_token"]})

    assert (registered.status_code, logged_in.status_code) == (201, 200)
    assert (refreshed.status_code, logged_out.status_code) == (200, 204)


def test_a_provider_sees_only_the_children_who_applied_to_its_organization(
    accounts_world, databases
):
    """Three children of one Krasnoyarsk parent: one applied to the home organization, one
    only to another organization of Krasnoyarsk, one nowhere. The home provider sees the
    first, masked, even after its application was cancelled; the other two are 404 to it,
    as a missing child is. The other organization's staff see only theirs; the municipal
    operator still sees all three."""
    from tests.support import enrollment as data

    parent = accounts_world.client("parent")
    applied, elsewhere, nowhere = (
        parent.post("/children", child_body()).json()["id"] for _ in range(3)
    )
    catalog = sa.create_engine(databases["catalog"])
    try:
        other_org = data.organization(catalog, "krasnoyarsk")
    finally:
        catalog.dispose()
    application = apply_to_organization(databases, parent, applied, HOME_ORG)
    apply_to_organization(databases, parent, elsewhere, other_org)
    email = fresh_email("other-org")
    created = accounts_world.client("regional").post(
        "/staff", staff_body(other_org) | {"email": email}
    )
    assert created.status_code == 201, created.text
    other_provider = Client(accounts_world.api, login(accounts_world.api, email)["access_token"])
    home_provider = accounts_world.client("provider")
    full = parent.get(f"/children/{applied}").json()

    shown = home_provider.get(f"/children/{applied}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["masked"] is True
    assert shown.json()["snils"] == "***-***-" + full["snils"][8:]
    assert shown.json()["birth_certificate_number"] == "****56"
    missing = home_provider.get("/children/2147483000").json()
    for child in (elsewhere, nowhere):
        refused = home_provider.get(f"/children/{child}")
        assert refused.status_code == 404, refused.text
        assert refused.json() | {"request_id": None} == missing | {"request_id": None}
        assert home_provider.post(f"/children/{child}/verify").status_code == 404

    assert other_provider.get(f"/children/{elsewhere}").status_code == 200
    assert other_provider.get(f"/children/{applied}").status_code == 404
    assert other_provider.get(f"/children/{nowhere}").status_code == 404
    for child in (applied, elsewhere, nowhere):
        assert accounts_world.client("municipal").get(f"/children/{child}").status_code == 200

    # a cancelled application is still history with the organization: the child stays seen
    cancelled = parent.post(f"/enrollments/{application}/cancel", {"reason": "передумали"})
    assert cancelled.status_code == 200, cancelled.text
    assert home_provider.get(f"/children/{applied}").status_code == 200
