"""What operators see of the running system: one request id from HTTP through RPC into an
event handler's log, JSON log lines without secrets, and every process's metrics."""

import json
import re
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from servicekit import topology
from servicekit.tokens import issue_access_token
from services.catalog.domain import inn_with_check_digits
from tests.support.accounts import PASSWORD, child_body, fresh_email
from tests.support.listener_service import CatalogListener
from tests.support.raw_http import connect, parse_answer, read_answer
from tests.support.system import ServiceProcess

REGIONAL = {"sub": "9101", "role": "regional_operator"}


def bearer(claims: dict) -> dict:
    return {"Authorization": f"Bearer {issue_access_token(claims, ttl=3600)}"}


def json_lines(process) -> list[dict]:
    """Every line of a process's log; each is a JSON object (LOG_FORMAT=json), eventlet's
    import banner included (sitecustomize.py silences it)."""
    lines = []
    for raw in process.log().splitlines():
        if not raw.strip():
            continue
        try:
            lines.append(json.loads(raw))
        except ValueError as exc:
            raise AssertionError(f"{process.name} wrote a line that is not JSON: {raw}") from exc
    return lines


def wait_for_line(process, predicate, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in json_lines(process):
            if predicate(line):
                return line
        time.sleep(0.2)
    raise AssertionError(f"no such line in {process.name}'s log:\n{process.log()[-3000:]}")


@pytest.fixture(scope="module")
def listener(system, vhost):
    """A subscriber of catalog's events, as another service would be, in its own process."""
    topology.declare(topology.reliable_handlers(CatalogListener), vhost)
    process = ServiceProcess(
        "listener",
        "tests.support.listener_service:CatalogListener",
        system.processes["catalog"].env,
        system.processes["catalog"].log_path.parent,
    ).start()
    yield process
    process.stop()


def new_organization() -> dict:
    return {
        "name": f"Центр «{uuid.uuid4().hex[:6]}»",
        "inn": inn_with_check_digits(f"24{uuid.uuid4().int % 10_000_000:07d}"),
        "municipality_code": "krasnoyarsk",
        "address": "Красноярский край, г. Красноярск, ул. Ленина, д. 1",
        "phone": "+7 (391) 200-00-00",
        "email": "info@center.example",
    }


def test_one_request_id_goes_from_http_through_rpc_into_the_event_handler_log(
    system, api, listener, databases
):
    # the tests' own address is a trusted proxy here (TRUSTED_PROXIES=127.0.0.1)
    request_id = f"trace-{uuid.uuid4().hex}"
    response = requests.post(
        f"{api}/organizations",
        json=new_organization(),
        headers={**bearer(REGIONAL), "X-Request-ID": request_id},
        timeout=10,
    )

    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == request_id
    organization_id = response.json()["id"]
    http_line = wait_for_line(
        system.processes["gateway"],
        lambda line: line.get("request_id") == request_id and line.get("kind") == "http",
    )
    assert http_line["route"] == "/api/v1/organizations"
    assert http_line["method"] == "POST" and http_line["status"] == 201
    assert http_line["role"] == "regional_operator"
    assert http_line["service"] == "gateway" and http_line["instance"]
    assert http_line["duration_ms"] > 0
    rpc_line = wait_for_line(
        system.processes["catalog"],
        lambda line: line.get("request_id") == request_id and line.get("kind") == "rpc",
    )
    assert rpc_line["method"] == "create_organization" and rpc_line["service"] == "catalog"
    catalog = sa.create_engine(databases["catalog"])
    with catalog.connect() as conn:
        body = conn.execute(
            sa.text(
                "SELECT body FROM outbox WHERE type = 'organization_registered' "
                "AND (body->'data'->>'organization_id')::int = :id"
            ),
            {"id": organization_id},
        ).scalar_one()
    catalog.dispose()
    assert body["correlation_id"] == request_id
    event_line = wait_for_line(
        listener,
        lambda line: line.get("request_id") == request_id and line.get("kind") == "event",
    )
    assert event_line["outcome"] == "handled"
    assert event_line["handler"] == "listener.on_organization_registered"
    assert event_line["event_id"] == body["event_id"]
    # the handler's own line carries the id too, without passing it around
    wait_for_line(
        listener,
        lambda line: (
            line.get("request_id") == request_id
            and line["message"].startswith(f"organization {organization_id} registered")
        ),
    )


def test_a_request_without_an_id_gets_one_and_problems_carry_it(api):
    response = requests.get(f"{api}/organizations/999999", timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) >= 16
    assert response.json()["request_id"] == request_id
    ok = requests.get(f"{system_url(api)}/healthz", timeout=5)
    assert ok.headers["X-Request-ID"] not in ("", request_id)


def system_url(api: str) -> str:
    return api.removesuffix("/api/v1")


# What the gateway's server answers before any route runs, each sent as raw bytes:
# (request, status, route label of its line and metrics, method label).
SERVER_ANSWERS = {
    "unknown path": (
        b"GET /api/v1/no-such-thing HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
        404,
        "(unmatched)",
        "GET",
    ),
    "wrong method": (
        b"DELETE /api/v1/me HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
        405,
        "/api/v1/me",
        "DELETE",
    ),
    "unknown method": (
        b"BREW /api/v1/me HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
        405,
        "/api/v1/me",
        "OTHER",
    ),
    "body too large": (
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: g\r\n"
        b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{",
        413,
        "/api/v1/auth/register",
        "POST",
    ),
    "body too slow": (
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: g\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        408,
        "/api/v1/auth/register",
        "POST",
    ),
    "headers too slow": (
        b"GET /healthz HTTP/1.1\r\nHost: g\r\nX-Slow: a",
        408,
        "(unmatched)",
        "GET",
    ),
    "headers too large": (
        b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 16384 + b"\r\n\r\n",
        431,
        "(unmatched)",
        "GET",
    ),
    "url too long": (b"GET /?" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "(unmatched)", "GET"),
    "malformed request line": (b"GARBAGE\r\n\r\n", 400, "(unmatched)", "OTHER"),
    "negative length": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: g\r\nContent-Length: -1\r\n\r\n",
        400,
        "(unmatched)",
        "POST",
    ),
}


@pytest.mark.parametrize("case", SERVER_ANSWERS)
def test_answers_of_the_server_itself_carry_a_request_id_and_write_their_line(system, api, case):
    raw, status, route, method = SERVER_ANSWERS[case]
    with connect(api) as sock:
        sock.sendall(raw)
        answer = read_answer(sock, timeout=8)  # the slow cases end at the 2-3 s deadlines
    answered, headers, body = parse_answer(answer)
    assert answered == status, answer[:300]
    assert headers["content-type"] == "application/problem+json"
    request_id = headers["x-request-id"]
    assert len(request_id) >= 16
    assert json.loads(body)["request_id"] == request_id
    line = wait_for_line(
        system.processes["gateway"],
        lambda line: line.get("request_id") == request_id and line.get("kind") == "http",
    )
    assert (line["status"], line["route"], line["method"]) == (status, route, method)
    assert line["role"] == "anonymous" and line["duration_ms"] >= 0


def test_a_proxy_id_is_kept_on_an_unknown_path_and_metrics_are_off_the_api_port(system, api):
    # the tests' own address is a trusted proxy here (TRUSTED_PROXIES=127.0.0.1)
    request_id = f"trace-{uuid.uuid4().hex}"
    response = requests.get(
        f"{api}/no-such-thing", headers={"X-Request-ID": request_id}, timeout=10
    )
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == request_id
    assert response.json()["request_id"] == request_id
    scraped = requests.get(f"{system_url(api)}/metrics", timeout=10)  # not on the API port
    assert scraped.status_code == 404 and len(scraped.headers["X-Request-ID"]) >= 16
    assert scraped.headers["Content-Type"] == "application/problem+json"
    gateway = system.processes["gateway"]
    metrics = requests.get(f"http://127.0.0.1:{gateway.metrics_port}/metrics", timeout=10)
    assert 'route="(unmatched)",status="404"' in metrics.text


GATEWAY_METRICS = (
    "navigator_http_requests_total",
    "navigator_http_request_duration_seconds_bucket",
    "navigator_idempotent_replays_total",
    "navigator_search_cache_total",
    "navigator_rpc_deadline_misses_total",
)
SERVICE_METRICS = (
    "navigator_rpc_calls_total",
    "navigator_rpc_duration_seconds_bucket",
    "navigator_rpc_errors_total",
    "navigator_events_handled_total",
    "navigator_events_retried_total",
    "navigator_events_parked_total",
    "navigator_outbox_unsent_rows",
    "navigator_outbox_oldest_unsent_age_seconds",
    "navigator_db_pool_in_use",
)


def metric_names(text: str) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def declared_names(text: str) -> set[str]:
    """Names announced by `# TYPE` lines, also of metrics with no sample yet; a counter is
    announced with or without its `_total` (prometheus_client says it without a sample)."""
    names = {line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return names | {f"{name}_total" for name in names}


def test_gateway_and_every_service_expose_their_metrics(system, api):
    # traffic that touches every kind of gateway metric
    requests.get(f"{api}/health", timeout=10)
    requests.get(f"{api}/catalog/search", params={"limit": 1}, timeout=10)
    requests.get(f"{api}/catalog/search", params={"limit": 1}, timeout=10)
    requests.get(f"{api}/organizations/999999", timeout=10)

    port = system.processes["gateway"].metrics_port
    gateway = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert gateway.status_code == 200
    assert gateway.headers["Content-Type"].startswith("text/plain")
    names = metric_names(gateway.text) | declared_names(gateway.text)
    assert set(GATEWAY_METRICS) <= names, set(GATEWAY_METRICS) - names
    assert 'route="/api/v1/organizations/{organization_id}",status="404"' in gateway.text
    for name in ("accounts", "catalog", "certificates", "payments"):
        process = system.processes[name]
        scraped = requests.get(f"http://127.0.0.1:{process.metrics_port}/metrics", timeout=5)
        assert scraped.status_code == 200, name
        names = metric_names(scraped.text) | declared_names(scraped.text)
        missing = set(SERVICE_METRICS) - names
        assert not missing, f"{name} lacks {missing}"
        assert 'navigator_rpc_calls_total{method="health"}' in scraped.text, name
        assert f'navigator_outbox_unsent_rows{{service="{name}"}}' in scraped.text


SECRET_SCENARIO_PASSWORD = "Zq-" + uuid.uuid4().hex[:12] + "-Pw9"


def test_logs_of_a_full_scenario_hold_no_password_token_snils_or_document(system, api):
    email = fresh_email("secrets")
    registered = requests.post(
        f"{api}/auth/register",
        json={
            "email": email,
            "password": SECRET_SCENARIO_PASSWORD,
            "full_name": "Секретова Ирина Сергеевна",
            "consent_personal_data": True,
        },
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    wrong = requests.post(
        f"{api}/auth/login", json={"email": email, "password": PASSWORD + "x"}, timeout=10
    )
    assert wrong.status_code == 401
    tokens = requests.post(
        f"{api}/auth/login",
        json={"email": email, "password": SECRET_SCENARIO_PASSWORD},
        timeout=10,
    ).json()
    refreshed = requests.post(
        f"{api}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, timeout=10
    ).json()
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    document = f"{uuid.uuid4().int % 900_000 + 100_000}"
    child = child_body(birth_certificate_number=document)
    added = requests.post(f"{api}/children", json=child, headers=headers, timeout=10)
    assert added.status_code == 201, added.text
    requests.get(f"{api}/children/{added.json()['id']}", headers=headers, timeout=10)
    # a malformed repeat: the validation error must not echo the values into a log either
    requests.post(f"{api}/children", json={**child, "snils": child["snils"] + "0"}, headers=headers)
    # a bearer token in a query string and a garbage token in a header
    requests.get(f"{api}/children?access_token={tokens['access_token']}", timeout=10)
    requests.get(f"{api}/children", headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    time.sleep(1.0)  # let the last lines reach the files

    snils_digits = "".join(ch for ch in child["snils"] if ch.isdigit())
    secrets = {
        "password": SECRET_SCENARIO_PASSWORD,
        "access token": tokens["access_token"],
        "refreshed access token": refreshed["access_token"],
        "refresh token": tokens["refresh_token"],
        "new refresh token": refreshed["refresh_token"],
        "SNILS": child["snils"],
        "SNILS digits": snils_digits,
        "document number": document,
    }
    seen_http = 0
    for process in system.processes.values():
        text = process.log()
        for what, secret in secrets.items():
            leaked = appears_as_token(secret, text)
            assert not leaked, f"the {what} appears in the {process.name} log"
        seen_http += sum(1 for line in json_lines(process) if line.get("kind") == "http")
    assert seen_http >= 7  # the scenario's own requests were logged, only without secrets


def appears_as_token(secret: str, text: str) -> bool:
    """Whether the secret stands in the text as itself, not as a run of characters inside a
    longer id: a six-digit document number turns up inside a hex request id now and then
    ("...a4406383..." holds 440638), which a leak never looks like."""
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text) is not None


def handled_event_ids(listener) -> set[str]:
    return {
        line["event_id"]
        for line in json_lines(listener)
        if line.get("kind") == "event" and line.get("outcome") == "handled"
    }


@pytest.mark.parametrize("stopped", ["catalog", "listener"])
def test_sigterm_under_load_loses_no_event_and_callers_get_an_answer_or_a_clean_503(
    system, api, listener, databases, stopped
):
    """Four clients create organizations (an RPC and an event each) while one process gets
    SIGTERM and is started again: every request answers 201 or a clean 503, every event that
    was committed reaches the handler, and the restarted process carries on."""
    import eventlet

    process = listener if stopped == "listener" else system.processes[stopped]
    prefix = f"graceful-{stopped}-{uuid.uuid4().hex[:8]}"
    answers: list[tuple[int, dict | None, float]] = []
    running = True

    def client(n: int):
        i = 0
        while running:
            i += 1
            started = time.monotonic()
            response = requests.post(
                f"{api}/organizations",
                json=new_organization(),
                headers={**bearer(REGIONAL), "X-Request-ID": f"{prefix}-{n}-{i}"},
                timeout=30,
            )
            body = response.json() if response.content else None
            answers.append((response.status_code, body, started))
            eventlet.sleep(0.05)

    clients = [eventlet.spawn(client, n) for n in range(4)]
    eventlet.sleep(1.5)
    stopped_at = time.monotonic()
    process.process.send_signal(15)  # SIGTERM, as Kubernetes or honcho sends it
    assert process.wait_exit(timeout=20) == 0, process.log()[-3000:]
    drained_in = time.monotonic() - stopped_at
    process.start()
    if stopped == "listener":
        eventlet.sleep(3)
    else:
        system.wait_healthy(60)
    restarted_at = time.monotonic()
    eventlet.sleep(2.0)
    running = False
    for thread in clients:
        thread.wait()

    statuses = [status for status, _, _ in answers]
    assert set(statuses) <= {201, 503}, statuses
    for status, body, _ in answers:
        if status == 503:
            assert body["code"] in ("service_timeout", "service_down"), body
    assert statuses.count(201) >= 4
    assert any(status == 201 and at > restarted_at for status, _, at in answers), (
        "the restarted process did not carry on"
    )
    # every event committed under this test's ids is published and handled
    catalog = sa.create_engine(databases["catalog"])
    deadline = time.monotonic() + 60
    while True:
        with catalog.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT event_id::text, published_at IS NOT NULL FROM outbox "
                    "WHERE body->>'correlation_id' LIKE :prefix"
                ),
                {"prefix": f"{prefix}-%"},
            ).all()
        committed = {event_id for event_id, _ in rows}
        missing = committed - handled_event_ids(listener)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    catalog.dispose()
    assert len(committed) >= statuses.count(201)
    assert not missing, f"{len(missing)} of {len(committed)} events never handled"
    assert drained_in < 15
