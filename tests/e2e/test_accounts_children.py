"""Children: invalid input changes nothing, SNILS is unique without telling whose, personal
data is masked for staff, verification by a provider and its loss on a change, events."""

import json
import uuid

import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcClient

from servicekit.errors import NotFound
from tests.support.accounts import (
    HOME_ORG,
    PASSWORD,
    Client,
    apply_to_organization,
    child_body,
    confirm_email,
    fresh_email,
    login,
    register_parent,
)
from tests.support.amqp import PlainSubscriber


@pytest.fixture
def parent(api, databases):
    user = register_parent(api)
    confirm_email(databases["accounts"], user["id"])  # one of them applies
    return Client(api, login(api, user["email"])["access_token"]), user


def children_total(client) -> int:
    response = client.get("/children")
    assert response.status_code == 200
    return response.json()["total"]


def db_children(engine_of) -> int:
    with engine_of("accounts").connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM children")).scalar()


INVALID_CHILDREN = [
    pytest.param({"snils": "112-233-445 96"}, "snils", id="snils checksum"),
    pytest.param({"snils": "112-233-445"}, "snils", id="snils too short"),
    pytest.param({"birth_date": "2999-01-01"}, "birth_date", id="birth date in the future"),
    pytest.param({"birth_date": "2001-01-01"}, "birth_date", id="an adult"),
    pytest.param({"birth_date": "2016-02-30"}, "birth_date", id="no such date"),
    pytest.param({"municipality_code": "atlantis"}, "municipality_code", id="unknown municipality"),
    pytest.param({"last_name": "Я" * 101}, "last_name", id="overlong surname"),
    pytest.param({"first_name": "Peter"}, "first_name", id="latin letters in a name"),
    pytest.param({"municipality_code": "k" * 101}, "municipality_code", id="overlong code"),
    pytest.param({"birth_date": 20160520}, "birth_date", id="birth date a number"),
    pytest.param({"sex": 1}, "sex", id="sex a number"),
    pytest.param({"sex": "other"}, "sex", id="sex not a choice"),
    pytest.param({"snils": 11223344595}, "snils", id="snils a number"),
    pytest.param({"middle_name": ["Сергеевич"]}, "middle_name", id="patronymic a list"),
    pytest.param({"birth_certificate_series": "XYZ"}, "birth_certificate_series", id="series"),
    pytest.param({"birth_certificate_number": "12345"}, "birth_certificate_number", id="number"),
    pytest.param({"nickname": "Петя"}, "nickname", id="unknown field"),
]


@pytest.mark.parametrize("override, field", INVALID_CHILDREN)
def test_invalid_child_gets_a_field_message_and_changes_nothing(parent, engine_of, override, field):
    client, _ = parent
    before = db_children(engine_of)

    response = client.post("/children", child_body(**override))

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["fields"][field] and all(isinstance(m, str) for m in problem["fields"][field])
    assert children_total(client) == 0
    assert db_children(engine_of) == before


@pytest.mark.parametrize("override, field", INVALID_CHILDREN)
def test_invalid_change_gets_a_field_message_and_changes_nothing(parent, override, field):
    client, _ = parent
    child = client.post("/children", child_body()).json()

    response = client.patch(f"/children/{child['id']}", override)

    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]
    assert client.get(f"/children/{child['id']}").json() == child


def test_duplicate_snils_is_a_conflict_that_reveals_nothing(api, parent, engine_of):
    owner = register_parent(api)
    owner_client = Client(api, login(api, owner["email"])["access_token"])
    body = child_body(last_name="Секретов", first_name="Тайна")
    taken = owner_client.post("/children", body).json()
    client, _ = parent
    before = db_children(engine_of)

    # the same SNILS typed differently is the same SNILS
    digits = body["snils"].replace("-", "").replace(" ", "")
    response = client.post("/children", child_body(snils=digits))

    assert response.status_code == 409
    assert response.json()["code"] == "snils_taken"
    # the random request id may contain a short number by chance: look at everything else
    problem = {k: v for k, v in response.json().items() if k != "request_id"}
    text = json.dumps(problem, ensure_ascii=False)
    for secret in (owner["email"], str(owner["id"]), "Секретов", "Тайна", str(taken["id"])):
        assert secret not in text
    assert db_children(engine_of) == before
    # changing one's own child to a taken SNILS is the same conflict
    mine = client.post("/children", child_body()).json()
    assert client.patch(f"/children/{mine['id']}", {"snils": digits}).status_code == 409


def test_parent_sees_own_children_in_full_and_only_them(accounts_world, parent):
    client, user = parent
    added = client.post("/children", child_body())
    assert added.status_code == 201
    child = added.json()

    page = client.get("/children").json()
    assert page["total"] == 1 and [c["id"] for c in page["items"]] == [child["id"]]
    assert child["parent_id"] == user["id"] and child["masked"] is False
    assert child["snils"].count("*") == 0 and len(child["snils"]) == 14
    assert child["birth_certificate_number"] == "123456"
    foreign = client.get(f"/children/{accounts_world.children['other_parent']}")
    assert foreign.status_code == 404
    missing = client.get("/children/2147483000")
    assert foreign.json() | {"request_id": None} == missing.json() | {"request_id": None}


def test_staff_see_snils_and_certificate_number_masked_and_the_region_in_full(
    accounts_world, home_applicant
):
    child_id = accounts_world.children["parent"]
    full = accounts_world.client("parent").get(f"/children/{child_id}").json()
    for viewer in ("provider", "municipal"):
        shown = accounts_world.client(viewer).get(f"/children/{child_id}").json()
        assert shown["masked"] is True
        assert shown["snils"] == "***-***-" + full["snils"][8:]
        assert shown["birth_certificate_number"] == "****56"
        assert full["snils"] not in str(shown)
    regional = accounts_world.client("regional").get(f"/children/{child_id}").json()
    assert regional["masked"] is False and regional["snils"] == full["snils"]
    listed = accounts_world.client("municipal").get("/children?limit=100").json()
    assert listed["items"] and all(c["masked"] for c in listed["items"])
    assert all(c["municipality_code"] == "krasnoyarsk" for c in listed["items"])


def test_provider_verifies_and_a_change_of_verified_data_clears_the_mark(
    accounts_world, parent, vhost, databases
):
    client, _ = parent
    subscriber = PlainSubscriber(vhost, "accounts", "child_verified", f"it-{uuid.uuid4().hex[:6]}")
    try:
        child = client.post("/children", child_body()).json()
        # the provider sees (and verifies) only a child who applied to its organization
        apply_to_organization(databases, client, child["id"], HOME_ORG)
        assert child["verified"] is False
        provider = accounts_world.users["provider"]

        verified = accounts_world.client("provider").post(f"/children/{child['id']}/verify")
        assert verified.status_code == 200
        verified = verified.json()
        assert verified["verified"] is True and verified["verified_by"] == provider.id
        assert verified["verified_organization_id"] == provider.organization_id
        assert verified["verified_at"]

        events = subscriber.collect(expected=2, timeout=10, quiet=0.5)
        mine = [e for e in events if e["data"]["child_id"] == child["id"]]
        assert len(mine) == 1 and mine[0]["type"] == "child_verified"
        assert mine[0]["producer"] == "accounts"
        assert mine[0]["data"]["verified_by"] == provider.id
        # verifying twice changes nothing and publishes nothing more
        again = accounts_world.client("provider").post(f"/children/{child['id']}/verify").json()
        assert again["verified_at"] == verified["verified_at"]
        assert subscriber.collect(expected=1, timeout=1.5) == []
    finally:
        subscriber.close()

    # where the child lives is not what the provider verified: the mark stays
    kept = client.patch(f"/children/{child['id']}", {"municipality_code": "achinsk"}).json()
    assert kept["verified"] is True
    cleared = client.patch(f"/children/{child['id']}", {"first_name": "Павел"}).json()
    assert cleared["verified"] is False and cleared["verified_by"] is None
    assert cleared["first_name"] == "Павел"


def test_registering_a_child_publishes_child_registered(parent, vhost):
    client, user = parent
    subscriber = PlainSubscriber(
        vhost, "accounts", "child_registered", f"it-{uuid.uuid4().hex[:6]}"
    )
    try:
        child = client.post("/children", child_body(birth_date="2017-03-01")).json()
        events = subscriber.collect(expected=5, timeout=5, quiet=0.3)
    finally:
        subscriber.close()
    [event] = [e for e in events if e["data"]["child_id"] == child["id"]]
    assert event["data"] == {
        "child_id": child["id"],
        "parent_id": user["id"],
        "birth_date": "2017-03-01",
        "municipality_code": "krasnoyarsk",
    }
    assert event["version"] == 1


def test_other_services_get_a_child_without_personal_documents(accounts_world, nameko_config):
    child_id = accounts_world.children["parent"]
    with ClusterRpcClient() as client:
        facts = client.accounts.get_child(child_id)
        with pytest.raises(NotFound):
            client.accounts.get_child(2147483000)

    assert facts["id"] == child_id
    assert facts["parent_id"] == accounts_world.users["parent"].id
    assert facts["municipality_code"] == "krasnoyarsk"
    assert facts["birth_date"] == "2016-05-20"
    assert "snils" not in facts and "birth_certificate_number" not in facts


INVALID_REGISTRATIONS = [
    pytest.param({"password": "short1A"}, "password", id="short password"),
    pytest.param({"password": "qwerty123456"}, "password", id="common password"),
    pytest.param({"password": "aaaaaaaaaaaa"}, "password", id="one class of characters"),
    pytest.param({"email": "not-an-email"}, "email", id="email"),
    pytest.param({"email": "x" * 250 + "@example.ru"}, "email", id="overlong email"),
    pytest.param({"full_name": ""}, "full_name", id="empty name"),
    pytest.param({"full_name": "Я" * 201}, "full_name", id="overlong name"),
    pytest.param({"phone": "12"}, "phone", id="phone"),
    pytest.param({"consent_personal_data": False}, "consent_personal_data", id="no consent"),
    pytest.param({"consent_personal_data": "yes"}, "consent_personal_data", id="consent a word"),
    pytest.param({"password": 1234567890123}, "password", id="password a number"),
]


@pytest.mark.parametrize("override, field", INVALID_REGISTRATIONS)
def test_invalid_registration_gets_a_field_message_and_creates_nobody(
    api, engine_of, override, field
):
    body = {
        "email": fresh_email("reg"),
        "password": PASSWORD,
        "full_name": "Петрова Анна",
        "consent_personal_data": True,
        **override,
    }
    response = Client(api).post("/auth/register", body)

    assert response.status_code == 422, response.text
    assert response.json()["fields"][field]
    with engine_of("accounts").connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM users WHERE email = lower(:e)"), {"e": str(body["email"])}
        ).scalar()
    assert found == 0


def test_registration_stores_the_consent_with_time_and_text_version(api, engine_of):
    from services.accounts.domain import CONSENT_TEXT_VERSION

    user = register_parent(api)
    with engine_of("accounts").connect() as conn:
        consent = conn.execute(
            sa.text("SELECT kind, text_version, given_at FROM consents WHERE user_id = :u"),
            {"u": user["id"]},
        ).one()
    assert consent.kind == "personal_data"
    assert consent.text_version == CONSENT_TEXT_VERSION
    assert consent.given_at is not None


def test_an_email_registers_once_whatever_its_case(api):
    user = register_parent(api)
    again = Client(api).post(
        "/auth/register",
        {
            "email": user["email"].upper(),
            "password": PASSWORD,
            "full_name": "Другая Анна",
            "consent_personal_data": True,
        },
    )
    assert again.status_code == 409 and again.json()["code"] == "email_taken"


def test_staff_creation_checks_the_organization_and_the_municipality(accounts_world):
    regional = accounts_world.client("regional")
    base = {"email": fresh_email("staff"), "password": PASSWORD, "full_name": "Иванова Ирина"}
    unknown_org = regional.post(
        "/staff", {**base, "role": "provider", "organization_id": 2147483000}
    )
    unknown_mun = regional.post(
        "/staff", {**base, "role": "municipal_operator", "municipality_code": "atlantis"}
    )
    missing_org = regional.post("/staff", {**base, "role": "provider"})
    parent_role = regional.post("/staff", {**base, "role": "parent"})

    assert unknown_org.status_code == 422 and "organization_id" in unknown_org.json()["fields"]
    assert unknown_mun.status_code == 422 and "municipality_code" in unknown_mun.json()["fields"]
    assert missing_org.status_code == 422 and "organization_id" in missing_org.json()["fields"]
    assert parent_role.status_code == 422 and "role" in parent_role.json()["fields"]
    municipal = accounts_world.client("municipal")
    operator = municipal.post(
        "/staff", {**base, "role": "municipal_operator", "municipality_code": "krasnoyarsk"}
    )
    assert operator.status_code == 403


def test_me_tells_staff_their_organization_or_municipality(accounts_world):
    provider = accounts_world.client("provider").get("/me").json()
    municipal = accounts_world.client("municipal").get("/me").json()
    assert provider["role"] == "provider"
    assert provider["organization_id"] == accounts_world.users["provider"].organization_id
    assert provider["municipality_code"] == "krasnoyarsk"
    assert municipal["municipality_code"] == "krasnoyarsk"


def test_a_staff_user_logs_in_with_a_token_naming_their_attachment(accounts_world):
    from servicekit import tokens

    provider = tokens.verify_access_token(accounts_world.users["provider"].token)
    municipal = tokens.verify_access_token(accounts_world.users["municipal"].token)
    assert provider["role"] == "provider"
    assert provider["org"] == accounts_world.users["provider"].organization_id
    assert municipal["mun"] == "krasnoyarsk"


def test_a_child_cannot_be_added_while_the_catalog_is_down(system, parent):
    client, _ = parent
    system.processes["catalog"].stop()
    try:
        response = client.post("/children", child_body())
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert children_total(client) == 0
    finally:
        system.processes["catalog"].start()
        system.wait_healthy(60)
