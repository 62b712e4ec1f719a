"""The gateway's short memory of answers that are the same for every caller."""

import eventlet

from gateway.cache import ResponseCache, request_key


def test_a_repeated_question_is_answered_from_memory():
    cache, calls = ResponseCache(ttl=60), []

    def compute():
        calls.append(1)
        return 200, b'{"n": 1}'

    assert cache.fetch("k", compute) == (200, b'{"n": 1}')
    assert cache.fetch("k", compute) == (200, b'{"n": 1}')
    assert len(calls) == 1


def test_an_expired_answer_is_asked_again():
    cache, calls = ResponseCache(ttl=0.05), []

    def compute():
        calls.append(1)
        return 200, b"{}"

    cache.fetch("k", compute)
    eventlet.sleep(0.1)
    cache.fetch("k", compute)
    assert len(calls) == 2


def test_only_successful_answers_are_kept():
    cache, calls = ResponseCache(ttl=60), []

    def compute():
        calls.append(1)
        return 422, b"{}"

    cache.fetch("k", compute)
    cache.fetch("k", compute)
    assert len(calls) == 2


def test_concurrent_misses_of_one_key_ask_the_service_once():
    cache, calls = ResponseCache(ttl=60), []

    def compute():
        calls.append(1)
        eventlet.sleep(0.05)
        return 200, b"{}"

    answers = list(eventlet.GreenPool(20).imap(lambda _: cache.fetch("k", compute), range(20)))
    assert answers == [(200, b"{}")] * 20
    assert len(calls) == 1


def test_memory_is_bounded():
    cache = ResponseCache(ttl=60, max_entries=3)
    for n in range(10):
        cache.fetch(str(n), lambda: (200, b"{}"))
    assert list(cache.entries) == ["7", "8", "9"]


def test_parameter_order_does_not_change_the_key():
    first = request_key("/s", {"q": "футбол", "age": 9})
    second = request_key("/s", {"age": 9, "q": "футбол"})
    assert first == second
    assert first != request_key("/s", {"q": "футбол", "age": 10})


def test_a_text_holding_an_ampersand_is_not_the_key_of_two_filters():
    # ?q=робот%26sort%3Dprice used to share its key with ?q=робот&sort=price
    text_with_ampersand = request_key("/s", {"q": "робот&sort=price", "sort": "relevance"})
    two_filters = request_key("/s", {"q": "робот", "sort": "price"})
    assert text_with_ampersand != two_filters


def test_memory_is_bounded_by_bytes_too():
    cache = ResponseCache(ttl=60, max_entries=1000, max_bytes=100_000)
    answer = b"x" * 54_000  # about a 100-row search answer
    for n in range(5):
        cache.fetch(str(n), lambda: (200, answer))
    assert list(cache.entries) == ["4"]
    assert cache.bytes == 54_000 <= cache.max_bytes
    cache.fetch("huge", lambda: (200, b"y" * 200_000))  # larger than the whole budget
    assert "huge" not in cache.entries and cache.bytes == 54_000
