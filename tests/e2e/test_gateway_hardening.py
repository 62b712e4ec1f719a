"""What an attacker and a careless client found at the gateway (issue 13), each as it was
reproduced: slow clients, cache poisoning, input that made a 5xx, tokens on public routes,
one idempotency scope for every anonymous caller, errors that were not problem+json."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from gateway.service import GatewayService
from servicekit.tokens import issue_access_token
from tests.support.accounts import PASSWORD, Client, child_body, fresh_email
from tests.support.raw_http import connect, parse_answer, read_answer

# the test system's gateway runs with the same environment, so with this many workers
WORKERS = GatewayService.workers.size


def _problem_of(raw: bytes) -> tuple[int, dict, dict]:
    status, headers, body = parse_answer(raw)
    return status, headers, json.loads(body)


def assert_problem(response, status: int, code: str) -> None:
    """The answer is a problem document (RFC 9457) with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


# --- 1. slow clients -----------------------------------------------------------------------


def test_slow_bodies_on_more_connections_than_workers_do_not_stop_other_routes(api):
    slow = []
    try:
        for _ in range(WORKERS + 10):
            sock = connect(api)
            sock.sendall(
                b"POST /api/v1/auth/register HTTP/1.1\r\nHost: gateway\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"email":'
            )
            slow.append(sock)
        time.sleep(0.3)  # every slow request is now waiting for its body

        base = api.removesuffix("/api/v1")
        for url in (f"{base}/healthz", f"{api}/health", f"{api}/directions"):
            started = time.monotonic()
            answer = requests.get(url, timeout=5)
            assert answer.status_code == 200, (url, answer.text)
            assert time.monotonic() - started < 1.0, url

        # and the slow ones are told why and disconnected at the body deadline (2 s here)
        started = time.monotonic()
        status, headers, body = _problem_of(read_answer(slow[0], timeout=10))
        assert status == 408 and body["code"] == "request_timeout"
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        assert time.monotonic() - started < 5
    finally:
        for sock in slow:
            sock.close()


def test_headers_sent_slowly_get_408_at_the_header_deadline(api):
    sock = connect(api)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        started = time.monotonic()
        for _ in range(10):  # a byte a second keeps the socket busy but never finishes
            time.sleep(0.5)
            try:
                sock.sendall(b"a")
            except OSError:
                break
        raw = read_answer(sock, timeout=5)
        status, _, body = _problem_of(raw)
        assert status == 408 and body["code"] == "request_timeout"
        assert time.monotonic() - started < 6
    finally:
        sock.close()


def test_a_body_larger_than_the_limit_is_refused_before_it_is_read(api):
    sock = connect(api)
    try:
        sock.sendall(
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: gateway\r\n"
            b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{"
        )
        status, _, body = _problem_of(read_answer(sock, timeout=3))
        assert status == 413 and body["code"] == "body_too_large"
    finally:
        sock.close()


# --- 2. search cache poisoning -------------------------------------------------------------


def test_an_encoded_ampersand_in_the_text_does_not_poison_the_search_answer(api):
    from tests.e2e.test_catalog_access import World, program_body

    world = World(api)
    title = f"Робототехника {uuid.uuid4().hex[:8]}"
    program_id = world.provider.ok("POST", "/programs", program_body(title), 201)["id"]
    world.group_of(program_id)
    world.provider.ok("POST", f"/programs/{program_id}/submit")
    world.regional_client.ok("POST", f"/programs/{program_id}/certify")
    honest = f"{api}/catalog/search?q={title}&sort=price"
    poison = f"{api}/catalog/search?q={title}%26sort%3Dprice"

    poisoned = requests.get(poison, timeout=10)  # first: its answer would be kept 1 s
    answer = requests.get(honest, timeout=10)

    assert poisoned.status_code == answer.status_code == 200
    assert poisoned.json()["total"] == 0
    assert [item["id"] for item in answer.json()["items"]] == [program_id]


def test_unknown_query_parameters_are_refused_not_cached(api):
    response = requests.get(f"{api}/catalog/search?q=футбол&nocache={uuid.uuid4()}", timeout=10)
    assert_problem(response, 400, "unknown_query_parameter")
    assert "nocache" in response.json()["fields"]


def test_the_same_filters_in_another_spelling_share_one_answer(api):
    first = requests.get(f"{api}/catalog/search?q=футбол&age=9&limit=3", timeout=10)
    second = requests.get(f"{api}/catalog/search?limit=03&age=9&q=футбол", timeout=10)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()


# --- 4. no 5xx from input -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/register", "/children"])
def test_json_nested_a_thousand_levels_is_a_422(api, accounts_world, path):
    client = accounts_world.client("parent")
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    response = client.request(
        "POST", path, data=deep.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"


def test_nested_json_within_the_parser_is_refused_by_depth_with_a_field(api):
    nested = {"email": "a@b.ru"}
    cursor = nested
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    response = Client(api).post("/auth/register", nested)
    assert response.status_code == 422
    assert response.json()["code"] == "too_deep"


@pytest.mark.parametrize(
    "path,body",
    [
        ("/auth/login", {"email": "pa\u0000rent@navigator.example", "password": PASSWORD}),
        (
            "/auth/register",
            {"email": "nul\u0000@example.ru", "password": PASSWORD, "full_name": "Иванова Анна",
             "consent_personal_data": True},
        ),
    ],
)  # fmt: skip
def test_a_nul_character_is_a_422_naming_the_field(api, path, body):
    response = Client(api).post(path, body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_characters"
    assert "email" in response.json()["fields"]


def test_nul_in_staff_and_child_fields_is_refused_before_any_rpc(api, accounts_world):
    operator = accounts_world.client("regional")
    staff = operator.post(
        "/staff",
        {"email": "st\u0000aff@example.ru", "password": PASSWORD, "full_name": "Сотрудник",
         "role": "regional_operator"},
    )  # fmt: skip
    assert staff.status_code == 422 and "email" in staff.json()["fields"]

    parent = accounts_world.client("parent")
    child = parent.post("/children", child_body(municipality_code="krasnoyarsk\u0000"))
    assert child.status_code == 422, child.text
    assert "municipality_code" in child.json()["fields"]


def test_a_lone_surrogate_is_a_422(api):
    raw = b'{"email": "\\ud800@example.ru", "password": "x"}'
    response = requests.post(
        f"{api}/auth/login", data=raw, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 422


# --- 7. tokens on public routes ------------------------------------------------------------


def _expired_token() -> str:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    return issue_access_token({"sub": "1", "role": "parent"}, ttl=60, now=an_hour_ago)


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/health", None),
        ("GET", "/catalog/search?q=футбол&limit=2", None),
        ("POST", "/auth/logout", {"refresh_token": "not-a-token"}),
        ("POST", "/auth/refresh", {"refresh_token": "x" * 43}),
    ],
)
def test_an_expired_bearer_on_a_public_route_is_ignored(api, method, path, body):
    headers = {"Authorization": f"Bearer {_expired_token()}"}
    response = Client(api).request(method, path, json=body, headers=headers)
    assert response.status_code in (200, 204, 401), response.text
    if response.status_code != 204:
        assert response.json().get("code") != "invalid_token", response.text
    if path == "/auth/refresh":  # refused for its refresh token, not for the bearer
        assert response.json()["code"] == "invalid_refresh_token"


def test_login_and_refresh_work_with_an_expired_bearer_attached(api):
    from tests.support.accounts import register_parent

    user = register_parent(api)
    client = Client(api, token=_expired_token())
    logged_in = client.post("/auth/login", {"email": user["email"], "password": PASSWORD})
    assert logged_in.status_code == 200, logged_in.text
    refreshed = client.post("/auth/refresh", {"refresh_token": logged_in.json()["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


def test_a_forged_bearer_on_a_protected_route_is_still_401(api):
    forged = issue_access_token({"sub": "1", "role": "parent"}, ttl=60) + "x"
    response = Client(api, token=forged).get("/me")
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


# --- 9. idempotency scope and personal data -----------------------------------------------


def _registration(email: str) -> dict:
    return {"email": email, "password": PASSWORD, "full_name": "Повторова Ирина Сергеевна",
            "consent_personal_data": True}  # fmt: skip


def test_anonymous_callers_do_not_share_an_idempotency_scope(api):
    key = {"Idempotency-Key": "1"}  # the key a careless client library always sends
    a_email, b_email = fresh_email("client-a"), fresh_email("client-b")
    first = Client(api).post("/auth/register", _registration(a_email), headers=key)
    second = Client(api).post("/auth/register", _registration(b_email), headers=key)

    assert first.status_code == second.status_code == 201, second.text
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["email"] == b_email  # B's own account, not A's answer


def test_the_idempotency_store_keeps_no_personal_data_in_clear(api, accounts_world, engine_of):
    parent = accounts_world.client("parent")
    key = str(uuid.uuid4())
    body = child_body()
    first = parent.post("/children", body, headers={"Idempotency-Key": key})
    again = parent.post("/children", body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()

    with engine_of("gateway").connect() as conn:
        dump = "\n".join(conn.execute(sa.text("SELECT t::text FROM idempotency_keys t")).scalars())
    digits = "".join(ch for ch in first.json()["snils"] if ch.isdigit())
    assert key not in dump
    for secret in (first.json()["snils"], digits, body["last_name"], body["first_name"]):
        assert secret not in dump


# --- 10. one error format -------------------------------------------------------------------


def test_an_unknown_path_is_a_problem(api):
    response = requests.get(f"{api}/no-such-thing", timeout=10)
    assert_problem(response, 404, "not_found")


def test_a_method_not_allowed_is_a_problem_with_allow(api):
    response = requests.delete(f"{api}/me", timeout=10)
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_headers_of_16_kb_are_a_problem(api):
    response = requests.get(f"{api}/health", headers={"X-Big": "a" * 16384}, timeout=10)
    assert_problem(response, 431, "headers_too_large")


def test_an_overlong_url_is_a_problem(api):
    response = requests.get(f"{api}/catalog/search?q={'a' * 9000}", timeout=10)
    assert_problem(response, 414, "uri_too_long")


def test_a_malformed_request_line_is_a_problem(api):
    sock = connect(api)
    try:
        sock.sendall(b"GARBAGE\r\n\r\n")
        status, headers, body = _problem_of(read_answer(sock, timeout=3))
        assert status == 400
        assert headers["content-type"] == "application/problem+json"
        assert body["status"] == 400
    finally:
        sock.close()


# --- 8. strict types, documented -------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_world(api):
    from tests.e2e.test_catalog_access import World

    return World(api)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"capacity": 3.9}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"capacity": "4"}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"enrollment_open": "yes"}, "enrollment_open"),
        ({"enrollment_open": 1}, "enrollment_open"),
        ({"start_date": "20270105"}, "start_date"),
        ({"start_date": "2027-W01-2"}, "start_date"),
        ({"price": "18000.5"}, "price"),
        ({"price": "18000"}, "price"),
        ({"price": 18000}, "price"),
        ({"lat": "56.01"}, "lat"),
    ],
)
def test_loose_types_are_refused_not_coerced(catalog_world, change, field):
    from tests.e2e.test_catalog_access import group_body

    program_id = catalog_world.published()
    response = catalog_world.provider.request("POST", "/groups", group_body(program_id) | change)
    assert response.status_code == 422, response.text
    assert field in response.json()["fields"]


def test_query_booleans_and_integers_take_only_their_documented_spelling(api):
    for query in ("adapted=yes", "adapted=1", "age=9.5", "limit=2.0", "open_only=True"):
        response = requests.get(f"{api}/catalog/search?{query}", timeout=10)
        assert response.status_code == 422, (query, response.text)
    assert requests.get(f"{api}/catalog/search?adapted=true&age=9", timeout=10).ok


def test_consent_must_be_true_and_the_document_says_so(api):
    body = _registration(fresh_email("consent")) | {"consent_personal_data": False}
    assert Client(api).post("/auth/register", body).status_code == 422
    for loose in ("true", 1):
        body["consent_personal_data"] = loose
        assert Client(api).post("/auth/register", body).status_code == 422

    schemas = requests.get(f"{api}/openapi.json", timeout=10).json()["components"]["schemas"]
    assert schemas["Register"]["properties"]["consent_personal_data"]["enum"] == [True]


def test_the_document_states_money_dates_and_integers(api):
    schemas = requests.get(f"{api}/openapi.json", timeout=10).json()["components"]["schemas"]
    group = schemas["GroupCreate"]["properties"]
    assert group["price"]["pattern"] == r"^(0|[1-9]\d{0,12})\.\d{2}$"
    assert group["start_date"] == group["start_date"] | {"type": "string", "format": "date"}
    assert group["capacity"]["type"] == "integer"
    assert (group["capacity"]["minimum"], group["capacity"]["maximum"]) == (1, 1000)
    assert group["enrollment_open"]["type"] == "boolean"
    assert schemas["GroupCreate"]["additionalProperties"] is False
