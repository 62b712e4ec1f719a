"""What the second probe got past the first fixes in accounts (issue 24): the owner kept at
429 by an attacker rotating addresses, and SNILS enumeration through the throttle's answer."""

import threading
import time
import uuid

from tests.e2e.conftest import SNILS_CHECK_LIMIT
from tests.support.accounts import PASSWORD, Client, child_body, login, register_parent

# --- 2. the owner cannot be locked out ------------------------------------------------------


def test_an_attacker_rotating_addresses_does_not_keep_the_owner_out(api):
    user = register_parent(api)
    wrong = {"email": user["email"], "password": "Wrong-pass-1"}
    stop = threading.Event()
    attacker_statuses = []

    def attack(attacker: Client):  # one of four addresses, a guess every 100 ms
        while not stop.is_set():
            attacker_statuses.append(attacker.post("/auth/login", wrong).status_code)
            time.sleep(0.1)

    threads = [threading.Thread(target=attack, args=(Client(api),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    owner_statuses = []
    try:
        deadline = time.monotonic() + 120  # under load some guesses end in 503
        while attacker_statuses.count(401) < 11 and time.monotonic() < deadline:
            time.sleep(0.05)  # the account-wide wait is armed from now on
        owner = Client(api)
        for _ in range(4):
            answer = owner.post("/auth/login", {"email": user["email"], "password": PASSWORD})
            owner_statuses.append(answer.status_code)
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert attacker_statuses.count(401) >= 11, attacker_statuses
    assert 429 in attacker_statuses, "the attacker's addresses are slowed"
    assert owner_statuses == [200] * 4, owner_statuses


def test_the_owner_who_mistyped_waits_only_from_their_own_failure(api):
    user = register_parent(api)
    wrong = {"email": user["email"], "password": "Wrong-pass-1"}
    for _ in range(12):  # the account as a whole is slowed
        Client(api).post("/auth/login", wrong)
    owner = Client(api)
    assert owner.post("/auth/login", wrong).status_code == 401  # the owner's own typo
    time.sleep(1.0)
    for _ in range(3):  # others keep failing: that must not re-arm the owner's wait
        Client(api).post("/auth/login", wrong)
    time.sleep(7.2)  # the longest account-wide wait (8 s) from the owner's own failure
    answer = owner.post("/auth/login", {"email": user["email"], "password": PASSWORD})
    assert answer.status_code == 200, answer.text


# --- 3. SNILS enumeration --------------------------------------------------------------------


def test_every_snils_check_counts_and_the_answer_past_the_limit_does_not_tell(api, accounts_world):
    registered = accounts_world.client("parent").post("/children", child_body())
    assert registered.status_code == 201
    taken = registered.json()["snils"]
    prober = Client(api, login(api, register_parent(api)["email"])["access_token"])
    child = prober.post("/children", child_body())
    assert child.status_code == 201  # the first check
    path = f"/children/{child.json()['id']}"
    statuses = [
        prober.patch(path, {"snils": child_body()["snils"]}).status_code
        for _ in range(SNILS_CHECK_LIMIT - 1)
    ]
    assert statuses == [200] * (SNILS_CHECK_LIMIT - 1), statuses  # free numbers count too

    free = prober.patch(path, {"snils": child_body()["snils"]})
    registered_answer = prober.patch(path, {"snils": taken})
    assert free.status_code == registered_answer.status_code == 429
    assert free.json()["code"] == registered_answer.json()["code"] == "too_many_attempts"
    # a change that is not a SNILS check is still allowed
    assert prober.patch(path, {"first_name": "Илья"}).status_code == 200


# --- 4. lookalike e-mails --------------------------------------------------------------------


def _register(api, email: str):
    return Client(api).post(
        "/auth/register",
        {"email": email, "password": PASSWORD, "full_name": "Похожева Анна Сергеевна",
         "consent_personal_data": True},
    )  # fmt: skip


def test_lookalikes_of_a_registered_address_are_refused(api):
    n = uuid.uuid4().int % 10**8
    assert _register(api, f"provider{n}@navigator.example").status_code == 201
    for lookalike in (
        f"prov\u0130der{n}@navigator.example",  # İ: lowered, an i with a dot above
        f"provider{n}@navigator.exarnple",  # rn looks like m
    ):
        refused = _register(api, lookalike)
        assert refused.status_code == 409, (lookalike, refused.text)
        assert refused.json()["code"] == "email_taken"
    for lookalike in (
        f"provider\u034f{n}@navigator.example",  # combining grapheme joiner
        f"provider{n}\ufe0f@navigator.example",
        f"provider{n}\U000e0100@navigator.example",
        f"provi\u17b4der{n}@navigator.example",
        f"provi\u180bder{n}@navigator.example",
        f"prov\u0131der{n}@navigator.example",  # dotless ı
        f"\u0455\u0441\u04bb\u043e\u043e\u04cf{n}@navigator.example",  # all-Cyrillic ѕсһооӏ
    ):
        refused = _register(api, lookalike)
        assert refused.status_code == 422, (lookalike, refused.text)
        assert refused.json()["fields"]["email"], refused.text
    assert _register(api, f"provider{n + 1}@navigator.example").status_code == 201
