"""The foundation's plain parts: money, errors over the wire, the envelope, problem+json."""

import json
import uuid
from decimal import Decimal

import pytest
from nameko.exceptions import deserialize, serialize

from gateway.http import problem
from gateway.openapi import openapi_path
from servicekit import config
from servicekit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from servicekit.money import ceil_to_kopeck, floor_to_kopeck, format_kopecks, parse_money
from servicekit.outbox import envelope


@pytest.mark.parametrize(
    ("kopecks", "text"), [(0, "0.00"), (5, "0.05"), (190000, "1900.00"), (-150, "-1.50")]
)
def test_kopecks_are_shown_with_two_places(kopecks, text):
    assert format_kopecks(kopecks) == text


@pytest.mark.parametrize(
    ("text", "kopecks"), [("1900.00", 190000), ("1900", 190000), ("0.5", 50), ("12.34", 1234)]
)
def test_money_text_is_read_as_kopecks(text, kopecks):
    assert parse_money(text) == kopecks


@pytest.mark.parametrize("text", ["-1.00", "1.234", "1e3", "NaN", "", " 1.00", "01.00", "1,00"])
def test_malformed_money_is_refused(text):
    with pytest.raises(ValueError):
        parse_money(text)


def test_float_is_not_money():
    with pytest.raises(TypeError):
        format_kopecks(19.0)


def test_rounding_helpers_round_the_right_way():
    assert ceil_to_kopeck(Decimal("10.01")) == 11
    assert floor_to_kopeck(Decimal("10.99")) == 10


@pytest.mark.parametrize(
    "error_type",
    [
        InvalidInput,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        TooManyRequests,
        ServiceUnavailable,
    ],
)
def test_errors_cross_the_wire_as_their_own_type(error_type):
    original = error_type("Nope", code="some_code", fields={"x": ["bad"]})

    received = deserialize(json.loads(json.dumps(serialize(original))))

    assert type(received) is error_type
    assert (received.message, received.code, received.fields) == (
        "Nope",
        "some_code",
        {"x": ["bad"]},
    )


@pytest.mark.parametrize(("error", "status"), [
    (InvalidInput("bad", fields={"email": ["required"]}), 422),
    (Unauthorized("who"), 401), (Forbidden("no"), 403), (NotFound("none"), 404),
    (Conflict("taken", code="snils_taken"), 409), (ServiceUnavailable("down"), 503),
])  # fmt: skip
def test_errors_become_problem_json_with_a_stable_code(error, status):
    response = problem(error)

    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = json.loads(response.get_data())
    assert body["status"] == status
    assert body["code"] == error.code
    assert body.get("fields", {}) == error.fields


def test_too_many_requests_says_when_to_retry():
    response = problem(TooManyRequests("slow down", extra={"retry_after": 30}))
    assert response.headers["Retry-After"] == "30"
    assert json.loads(response.get_data())["retry_after"] == 30


def test_a_refusal_that_names_an_existing_application_carries_its_id():
    from servicekit.errors import Conflict

    refused = Conflict("already", code="already_applied", extra={"enrollment_id": "e-1"})
    body = json.loads(problem(refused).get_data())
    assert (body["status"], body["code"], body["enrollment_id"]) == (409, "already_applied", "e-1")


def test_envelope_has_every_field_of_the_contract():
    body = envelope("child_registered", {"child_id": 1}, "accounts", 2, "corr-1")

    assert set(body) == {
        "event_id",
        "type",
        "version",
        "occurred_at",
        "producer",
        "correlation_id",
        "data",
    }
    uuid.UUID(body["event_id"])
    assert body["occurred_at"].endswith("Z")
    assert (body["type"], body["version"], body["producer"]) == ("child_registered", 2, "accounts")


def test_werkzeug_paths_become_openapi_paths_with_bounded_ids():
    path, params = openapi_path("/api/v1/children/<int(min=1,max=2147483647):child_id>")

    assert path == "/api/v1/children/{child_id}"
    assert params[0]["name"] == "child_id"
    assert params[0]["schema"]["maximum"] == 2147483647


def test_database_url_defaults_to_the_local_server_and_psycopg2(monkeypatch):
    for name in ("DATABASE_URL", "CATALOG_DATABASE_URL", "CATALOG_DATABASE_NAME"):
        monkeypatch.delenv(name, raising=False)

    assert config.database_url("catalog") == (
        "postgresql+psycopg2://postgres@127.0.0.1:5432/navigator_catalog"
    )


def test_production_refuses_the_development_signing_key(monkeypatch):
    from servicekit import tokens

    monkeypatch.setenv("NAVIGATOR_ENV", "production")
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    with pytest.raises(tokens.InsecureConfiguration):
        tokens.private_key()


def test_an_ack_on_a_connection_the_broker_dropped_is_not_an_error():
    """The campaign's broker cut: an event handler acked on a socket the proxy had reset,
    nameko's ack let the ConnectionResetError out of the worker's thread, and nameko killed
    the whole container (accounts died). The broker requeues an unacked message of a
    dropped connection by itself, so servicekit lets that ack go."""
    from nameko.amqp.consume import Consumer

    import servicekit.rpc  # noqa: F401 - installs the ack every service uses

    class ResetSocketMessage:  # what kombu hands over: a channel, and an ack that writes
        class channel:
            connection = True

        def ack(self):
            raise ConnectionResetError(104, "Connection reset by peer")

        requeue = ack

    consumer = Consumer("amqp://unused")
    consumer.ack_message(ResetSocketMessage())
    consumer.requeue_message(ResetSocketMessage())


def test_a_busy_reply_listener_still_sends_its_heartbeats(monkeypatch):
    """kombu sends heartbeats only when a second passes without a message, and the reply
    connection acks nothing: under a steady stream of replies it wrote nothing at all, and the
    broker closed it for missed heartbeats. Each second of replies ticks the heartbeat."""
    from types import SimpleNamespace

    from servicekit import rpc

    ticks, clock = [], [100.0]
    monkeypatch.setattr(rpc.time, "monotonic", lambda: clock[0])
    connection = SimpleNamespace(heartbeat_tick=lambda: ticks.append(clock[0]))
    listener = rpc.UnackedReplyListener()
    listener.pending = {}
    reply = SimpleNamespace(channel=SimpleNamespace(connection=connection), properties={})

    for _ in range(40):  # 40 replies in 2.5 s, never a second's pause
        listener.handle_message({}, reply)
        clock[0] += 0.0625

    assert ticks == [100.0, 101.0, 102.0]
