"""Conventions every route shares, seen over HTTP: Idempotency-Key, problem+json, the shared
short memory of public answers."""

import uuid

import requests
from sqlalchemy import create_engine, text

from gateway.idempotency import key_id
from servicekit.tokens import issue_access_token
from tests.support.accounts import PASSWORD, child_body, fresh_email


def registration(email: str) -> dict:
    return {"email": email, "password": PASSWORD, "full_name": "Повторова Ирина Сергеевна",
            "consent_personal_data": True}  # fmt: skip


def test_repeated_request_with_one_idempotency_key_runs_once(api, databases):
    email, key = fresh_email("idem"), str(uuid.uuid4())
    headers = {"Idempotency-Key": key}

    first = requests.post(f"{api}/auth/register", json=registration(email), headers=headers)
    again = requests.post(f"{api}/auth/register", json=registration(email), headers=headers)

    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    engine = create_engine(databases["accounts"])
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM users WHERE lower(email) = :e"), {"e": email.lower()}
        ).scalar()
    engine.dispose()
    assert count == 1
    gateway = create_engine(databases["gateway"])
    with gateway.connect() as conn:  # the store keeps the key's hash, not the key
        status = conn.execute(
            text("SELECT status_code FROM idempotency_keys WHERE key = :k"), {"k": key_id(key)}
        ).scalar()
    gateway.dispose()
    assert status == 201


def test_without_a_key_a_repeat_is_a_new_request(api):
    email = fresh_email("nokey")
    assert requests.post(f"{api}/auth/register", json=registration(email)).status_code == 201
    repeat = requests.post(f"{api}/auth/register", json=registration(email))
    assert repeat.status_code == 409
    assert repeat.headers["Content-Type"] == "application/problem+json"


def test_one_key_for_a_different_body_is_refused_and_changes_nothing(api, accounts_world):
    parent = accounts_world.client("parent")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = parent.post("/children", child_body(), headers=key)
    other = child_body()
    clash = parent.post("/children", other, headers=key)

    assert first.status_code == 201
    assert clash.status_code == 422
    assert clash.json()["code"] == "idempotency_key_reused"
    listed = parent.get("/children", params={"limit": 100}).json()["items"]
    assert other["snils"] not in {child["snils"] for child in listed}


def test_malformed_json_is_a_problem_with_a_code_not_a_crash(api):
    response = requests.post(
        f"{api}/auth/register", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_json"


def test_invalid_field_answers_with_field_messages(api, accounts_world):
    parent = accounts_world.client("parent")
    response = parent.post("/children", child_body(birth_date="2999-01-01"))
    assert response.status_code == 422
    assert "birth_date" in response.json()["fields"]


def test_public_answer_is_shared_for_a_few_seconds_and_a_bad_token_reads_it_anonymously(api):
    url = f"{api}/catalog/search?q=футбол&limit=3"
    first, second = requests.get(url), requests.get(url)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()

    # a public read needs no login: a forged or expired token is an anonymous caller
    forged = issue_access_token({"sub": "1", "role": "parent"}, ttl=60) + "x"
    anonymous = requests.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert anonymous.status_code == 200
    assert anonymous.json() == first.json()
