"""Idempotency keys: the first request runs, a repeat gets its result, a clash is refused."""

import eventlet
import pytest

from gateway.idempotency import IdempotencyStore, StoredResponse
from servicekit.db import make_engine
from servicekit.errors import Conflict, InvalidInput


@pytest.fixture
def store(databases):
    from psycogreen.eventlet import patch_psycopg

    patch_psycopg()
    instance = IdempotencyStore()
    instance.engine = make_engine("gateway")
    yield instance
    instance.engine.dispose()


def test_first_request_with_a_key_runs_and_a_repeat_gets_its_result(store):
    assert store.claim("user:1", "k-1", "POST", "/x", "hash-a") is None
    store.complete("user:1", "k-1", 201, {"id": 5})

    assert store.claim("user:1", "k-1", "POST", "/x", "hash-a") == StoredResponse(201, {"id": 5})


def test_same_key_for_a_different_request_is_refused(store):
    store.claim("user:1", "k-2", "POST", "/x", "hash-a")
    store.complete("user:1", "k-2", 201, {"id": 5})

    with pytest.raises(InvalidInput) as refused:
        store.claim("user:1", "k-2", "POST", "/x", "hash-b")
    assert refused.value.code == "idempotency_key_reused"


def test_keys_are_scoped_to_the_caller(store):
    assert store.claim("user:1", "k-3", "POST", "/x", "hash-a") is None
    assert store.claim("user:2", "k-3", "POST", "/x", "hash-a") is None


def test_repeat_while_the_first_is_running_is_a_conflict(store):
    store.claim("user:1", "k-4", "POST", "/x", "hash-a")

    with pytest.raises(Conflict) as busy:
        store.claim("user:1", "k-4", "POST", "/x", "hash-a")
    assert busy.value.code == "request_in_progress"


def test_failed_request_releases_its_key_for_a_retry(store):
    store.claim("user:1", "k-5", "POST", "/x", "hash-a")
    store.release("user:1", "k-5")

    assert store.claim("user:1", "k-5", "POST", "/x", "hash-a") is None


def test_concurrent_requests_with_one_key_run_once(store):
    def attempt(_):
        try:
            return store.claim("user:9", "k-6", "POST", "/x", "hash-a")
        except Conflict:
            return "conflict"

    outcomes = list(eventlet.GreenPool(20).imap(attempt, range(20)))
    assert outcomes.count(None) == 1
    assert outcomes.count("conflict") == 19


def test_take_over_runs_a_repeat_of_a_claim_still_in_progress(store):
    """For an operation its service keys by the request's key: a claim left by a crashed
    gateway (or an attempt whose outcome is unknown) is taken over at once, not 409."""
    store.claim("user:1", "k-7", "POST", "/x", "hash-a")

    assert store.claim("user:1", "k-7", "POST", "/x", "hash-a", take_over=True) is None
    store.complete("user:1", "k-7", 201, {"id": 5})
    assert store.claim("user:1", "k-7", "POST", "/x", "hash-a", take_over=True) == (
        StoredResponse(201, {"id": 5})
    )
    with pytest.raises(InvalidInput):
        store.claim("user:1", "k-7", "POST", "/x", "hash-b", take_over=True)


# --- the gateway's path (gateway.http._run) for a route keyed by the operation -------------


def _attempt(store, handler, key="op-key-1"):
    import json

    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from gateway.http import RouteSpec, _run
    from servicekit.tokens import issue_access_token

    spec = RouteSpec("POST", "/api/v1/things", "a thing", ["things"], ("parent",), status=201,
                     operation_keyed=True)  # fmt: skip
    token = issue_access_token({"sub": "77", "role": "parent"}, ttl=600)
    request = Request(
        EnvironBuilder(
            method="POST", path="/api/v1/things", data=b"{}",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        ).get_environ()
    )  # fmt: skip

    class Gateway:
        idempotency = store

    response = _run(Gateway(), spec, handler, request, {})
    return response.status_code, json.loads(response.get_data())


def test_an_operation_keyed_route_runs_a_repeat_after_a_503_with_the_same_operation(store):
    from servicekit.errors import ServiceUnavailable

    seen = []

    def unknown(service, call):
        seen.append(call.operation)
        raise ServiceUnavailable("service thing did not answer in time", code="service_timeout")

    def done(service, call):
        seen.append(call.operation)
        return {"id": call.operation}

    assert _attempt(store, unknown)[0] == 503
    assert _attempt(store, done) == (201, {"id": seen[0]})
    assert _attempt(store, unknown) == (201, {"id": seen[0]})  # the stored answer
    assert len(seen) == 2 and seen[0] == seen[1] and seen[0]


def test_after_a_gateway_crash_a_repeat_finds_the_operations_outcome(store):
    """The gateway died between claiming the key and completing it: the repeat is not
    refused request_in_progress (for a minute), it runs the operation again, which its
    service answers with the first outcome."""
    from contracts.principal import Principal
    from gateway.http import _idempotency_scope
    from gateway.idempotency import operation_id, request_fingerprint

    scope = _idempotency_scope(Principal(user_id=77, role="parent"), "")
    fingerprint = request_fingerprint("POST", "/api/v1/things", b"{}")
    assert store.claim(scope, "op-key-2", "POST", "/api/v1/things", fingerprint) is None
    # ... and the gateway was killed here

    answer = _attempt(store, lambda service, call: {"id": call.operation}, "op-key-2")
    assert answer == (201, {"id": operation_id(scope, "op-key-2")})
