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
