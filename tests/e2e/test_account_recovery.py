"""E-mail confirmation and password reset end to end, over HTTP against the running system
(the notifications service mails to the test's aiosmtpd): the letter arrives, its link's
token works once and only in time, a reset ends every login, and nothing tells whether an
address is registered."""

import re
import time
import uuid

import requests
import sqlalchemy as sa

from tests.support.accounts import PASSWORD, Client, fresh_email, register_parent
from tests.support.mail import html_of, text_of

NEW_PASSWORD = "Another-Horse-77"


def link_token(message, path: str) -> str:
    found = re.search(rf"http://portal\.test{path}\?token=([\w-]+)", text_of(message))
    assert found, text_of(message)
    assert found.group(0) in html_of(message)
    return found.group(1)


def login(api, email, password=PASSWORD):
    return Client(api).post("/auth/login", {"email": email, "password": password})


def apply(api, token):
    body = {"child_id": 1, "group_id": 2_000_000_000, "start_date": "2026-12-01",
            "accept_copay": True}  # fmt: skip
    return Client(api, token).post(
        "/enrollments", body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )


def test_registration_mails_a_confirmation_whose_link_confirms_once(api, mail_server):
    user = register_parent(api)
    assert user["email_verified"] is False
    (letter,) = mail_server.wait_for(1, to=user["email"], timeout=15)
    assert letter["Subject"] == "Подтвердите адрес электронной почты"
    assert "Здравствуйте, Анна Викторовна!" in text_of(letter)
    token = link_token(letter, "/verify-email")

    # unconfirmed, a parent may log in (and search, add children) but not apply
    pair = login(api, user["email"]).json()
    refused = apply(api, pair["access_token"])
    assert refused.status_code == 403 and refused.json()["code"] == "email_not_verified"

    confirmed = Client(api).post("/auth/verify-email", {"token": token})
    assert confirmed.status_code == 200 and confirmed.json() == {"verified": True}
    again = Client(api).post("/auth/verify-email", {"token": token})
    assert again.status_code == 422 and again.json()["code"] == "invalid_token"
    assert Client(api).post("/auth/verify-email", {"token": "x" * 43}).status_code == 422

    # a refreshed token carries the confirmation: applying reaches enrollment (no such group)
    fresh = Client(api).post("/auth/refresh", {"refresh_token": pair["refresh_token"]}).json()
    assert Client(api, fresh["access_token"]).get("/me").json()["email_verified"] is True
    assert apply(api, fresh["access_token"]).status_code == 404


def test_password_reset_end_to_end(api, mail_server, databases):
    user = register_parent(api)
    mail_server.wait_for(1, to=user["email"])  # the confirmation
    first, second = login(api, user["email"]).json(), login(api, user["email"]).json()

    asked = Client(api).post("/auth/password-reset", {"email": user["email"].upper()})
    assert asked.status_code == 202
    letters = mail_server.wait_for(2, to=user["email"], timeout=15)
    (letter,) = [m for m in letters if m["Subject"] == "Восстановление пароля"]
    assert "один час" in text_of(letter)
    token = link_token(letter, "/password-reset")

    weak = Client(api).post("/auth/password-reset/confirm", {"token": token, "password": "123"})
    assert weak.status_code == 422  # and the token still works:
    done = Client(api).post(
        "/auth/password-reset/confirm", {"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 204, done.text

    # every earlier login ended; the old password is gone, the new one works
    for pair in (first, second):
        refused = Client(api).post("/auth/refresh", {"refresh_token": pair["refresh_token"]})
        assert refused.status_code == 401
    assert login(api, user["email"]).status_code == 401
    assert login(api, user["email"], NEW_PASSWORD).status_code == 200
    # single use
    reused = Client(api).post(
        "/auth/password-reset/confirm", {"token": token, "password": "Third-Horse-99x"}
    )
    assert reused.status_code == 422 and reused.json()["code"] == "invalid_token"

    # a link past its hour opens nothing
    Client(api).post("/auth/password-reset", {"email": user["email"]})
    letters = mail_server.wait_for(3, to=user["email"], timeout=15)
    late = [m for m in letters if m["Subject"] == "Восстановление пароля"]
    (newest,) = [m for m in late if link_token(m, "/password-reset") != token]
    expired_token = link_token(newest, "/password-reset")
    engine = sa.create_engine(databases["accounts"])
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE mail_tokens SET expires_at = now() - interval '1 second'"
                    " WHERE user_id = :u AND purpose = 'reset_password' AND used_at IS NULL"
                ),
                {"u": user["id"]},
            )
    finally:
        engine.dispose()
    expired = Client(api).post(
        "/auth/password-reset/confirm", {"token": expired_token, "password": "Third-Horse-99x"}
    )
    assert expired.status_code == 422 and expired.json()["code"] == "invalid_token"
    assert login(api, user["email"], NEW_PASSWORD).status_code == 200


def test_a_reset_answers_the_same_for_a_known_and_an_unknown_address(api, mail_server):
    known = register_parent(api)["email"]
    unknown = fresh_email("nobody")
    answers = [requests.post(f"{api}/auth/password-reset", json={"email": address},
                             headers={"X-Forwarded-For": Client(api).address}, timeout=20)
               for address in (known, unknown)]  # fmt: skip
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers.get("Content-Length") == answers[1].headers.get("Content-Length")
    mail_server.wait_for(2, to=known, timeout=15)  # confirmation and reset
    assert mail_server.messages(unknown) == []


def test_reset_requests_are_throttled_per_address_asked_for(api):
    email = fresh_email("flood")  # unknown: the throttle must not tell either
    statuses = [
        Client(api).post("/auth/password-reset", {"email": email}).status_code for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]


def test_a_parent_who_lost_the_letter_gets_another_and_either_link_confirms(api, mail_server):
    user = register_parent(api)
    (first,) = mail_server.wait_for(1, to=user["email"])
    token = login(api, user["email"]).json()["access_token"]
    again = Client(api, token).post("/auth/verify-email/resend")
    assert again.status_code == 202
    letters = mail_server.wait_for(2, to=user["email"])
    tokens = {link_token(m, "/verify-email") for m in letters}
    assert len(tokens) == 2
    confirmed = Client(api).post("/auth/verify-email", {"token": tokens.pop()})
    assert confirmed.status_code == 200
    # confirmed: no third letter
    assert Client(api, token).post("/auth/verify-email/resend").status_code == 202
    time.sleep(2)
    assert len(mail_server.messages(user["email"])) == 2


def test_tokens_presented_are_counted_per_client_address(api):
    """MAIL_TOKEN_ADDRESS_LIMIT (20 per 10 min): guessing tokens from one address is slowed,
    whichever of the two routes takes them and whatever the answer was."""
    guesser = Client(api)
    statuses = [
        guesser.post("/auth/verify-email", {"token": uuid.uuid4().hex}).status_code
        for _ in range(20)
    ]
    assert statuses == [422] * 20
    refused = guesser.post(
        "/auth/password-reset/confirm", {"token": uuid.uuid4().hex, "password": NEW_PASSWORD}
    )
    assert refused.status_code == 429 and refused.headers.get("Retry-After"), refused.text
    assert guesser.post("/auth/verify-email", {"token": "x" * 43}).status_code == 429
    # another client is not slowed by this one's guesses
    assert Client(api).post("/auth/verify-email", {"token": "x" * 43}).status_code == 422


def test_reset_requests_are_throttled_per_client_address(api):
    client = Client(api)  # one client asking for many addresses, none of them registered
    statuses = [
        client.post("/auth/password-reset", {"email": fresh_email("spray")}).status_code
        for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]
    other = Client(api).post("/auth/password-reset", {"email": fresh_email("spray")})
    assert other.status_code == 202  # another client is not slowed by this one's requests


def test_another_confirmation_letter_is_throttled_per_account(api, mail_server):
    user = register_parent(api)
    mail_server.wait_for(1, to=user["email"])
    token = login(api, user["email"]).json()["access_token"]
    statuses = [
        Client(api, token).post("/auth/verify-email/resend").status_code for _ in range(6)
    ]  # each from another address: the limit is the account's
    assert statuses == [202] * 5 + [429]
    assert len(mail_server.wait_for(6, to=user["email"])) == 6  # the first and five more
