"""A new provider gets onto the portal alone (issue 22): one request registers the person as
their organization's first staff member and the organization, `pending` until the regional
operator approves it. The catalog's refusals (INN check digits, an INN taken) leave no
account behind; the e-mail and throttle rules are the parents'."""

import random

from services.catalog import domain as catalog_domain
from tests.support.accounts import PASSWORD, Client, fresh_email, login
from tests.support.mail import MailServer


def fresh_inn() -> str:
    return catalog_domain.inn_with_check_digits(f"{random.randint(10**8, 10**9 - 1)}")


def body(email: str, inn: str, **overrides) -> dict:
    return {
        "email": email,
        "password": PASSWORD,
        "full_name": "Кружкова Ольга Ивановна",
        "consent_personal_data": True,
        "organization_name": "Клуб юных техников «Импульс»",
        "inn": inn,
        "municipality_code": "krasnoyarsk",
        "address": "г. Красноярск, ул. Мира, 10",
        "organization_phone": "+73912000000",
        "organization_email": "impuls@example.ru",
        **overrides,
    }


def test_a_new_provider_registers_an_organization_that_waits_for_approval(
    api, accounts_world, mail_server
):
    email, inn = fresh_email("founder"), fresh_inn()
    anonymous = Client(api)

    # wrong check digits: the catalog's field message, named as the form names it; no account
    wrong = inn[:-1] + str((int(inn[-1]) + 1) % 10)
    refused = anonymous.post("/auth/register-provider", body(email, wrong))
    assert refused.status_code == 422, refused.text
    assert "inn" in refused.json()["fields"], refused.text
    assert (
        Client(api).post("/auth/login", {"email": email, "password": PASSWORD}).status_code == 401
    )

    created = anonymous.post("/auth/register-provider", body(email, inn))
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["role"] == "provider" and user["organization_id"]
    assert user["municipality_code"] == "krasnoyarsk" and user["email_verified"] is False

    provider = Client(api, login(api, email)["access_token"])
    me = provider.get("/me").json()
    assert me["organization_id"] == user["organization_id"]
    organization = provider.get(f"/organizations/{user['organization_id']}").json()
    assert (organization["status"], organization["inn"]) == ("pending", inn)
    assert organization["name"] == "Клуб юных техников «Импульс»"
    MailServer(mail_server.maildir).wait_for(1, to=email)  # the confirmation letter

    # the same e-mail, or the same INN with another e-mail: 409, nothing new
    again = Client(api).post("/auth/register-provider", body(email, fresh_inn()))
    assert again.status_code == 409, again.text
    taken = Client(api).post("/auth/register-provider", body(fresh_email("other"), inn))
    assert taken.status_code == 409, taken.text

    regional = accounts_world.client("regional")
    pending, offset = [], 0
    while True:  # the queue, oldest first, page by page (earlier tests left pending ones too)
        page = regional.get(f"/organizations?status=pending&limit=100&offset={offset}").json()
        pending += [o["id"] for o in page["items"]]
        offset += 100
        if not page["items"] or user["organization_id"] in pending:
            break
    assert user["organization_id"] in pending
    approved = regional.post(f"/organizations/{user['organization_id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    program = provider.post(
        "/programs",
        {"title": "Робототехника", "description": "Собираем и программируем роботов",
         "direction": "technical", "level": "intro", "format": "in_person",
         "min_age": 8, "max_age": 14, "registry": "paid"},
    )  # fmt: skip
    assert program.status_code == 201, program.text
    program_id = program.json()["id"]
    assert provider.post(f"/programs/{program_id}/submit").status_code == 200
    # the regional operator's review queue lists it (and the provider may not read the queue)
    queue = regional.get("/programs?status=on_review&limit=100").json()["items"]
    assert program_id in [p["id"] for p in queue]
    assert provider.get("/programs?status=on_review").status_code == 403
    certified = regional.post(f"/programs/{program_id}/certify")
    assert certified.status_code == 200, certified.text
    queue = regional.get("/programs?status=on_review&limit=100").json()["items"]
    assert program_id not in [p["id"] for p in queue]


def test_registrations_of_providers_share_the_parents_limit_per_address(api):
    client = Client(api)
    answers = [
        client.post("/auth/register-provider", body(fresh_email("burst"), fresh_inn())).status_code
        for _ in range(12)
    ]
    assert 429 in answers, answers
