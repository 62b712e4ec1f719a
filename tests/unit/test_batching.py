"""servicekit.batching: natural batching. An item goes at once when nothing is on its way;
what arrives meanwhile goes together as the next batch; each caller gets its own outcome or
the batch's failure; a caller that stops waiting before its item was sent takes it out."""

import threading
import time

import pytest

from servicekit.batching import Batcher, NoAnswer, NotSent


class Remote:
    """A `send` whose batches wait until the test lets them go (`release`)."""

    def __init__(self, fail: Exception | None = None):
        self.batches: list[list] = []
        self.gate = threading.Event()
        self.fail = fail

    def send(self, items):
        self.batches.append(list(items))
        self.gate.wait(5)
        if self.fail is not None:
            raise self.fail
        return [f"done {item}" for item in items]


def submit_all(batcher, items, wait=5.0):
    outcomes: dict = {}

    def one(item):
        try:
            outcomes[item] = batcher.submit(item, wait)
        except Exception as error:  # noqa: BLE001 - the test reads what each caller got
            outcomes[item] = error

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
        time.sleep(0.01)
    return threads, outcomes


def until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_one_item_alone_goes_at_once_and_gets_its_outcome():
    remote = Remote()
    remote.gate.set()
    assert Batcher(remote.send).submit("a", 5) == "done a"
    assert remote.batches == [["a"]]


def test_items_that_arrive_while_a_batch_is_on_its_way_go_together_next():
    remote = Remote()
    batcher = Batcher(remote.send, limit=3)
    first, outcomes = submit_all(batcher, ["a"])
    until(lambda: remote.batches == [["a"]])
    rest, more = submit_all(batcher, ["b", "c", "d", "e"])
    remote.gate.set()
    for thread in first + rest:
        thread.join(5)
    outcomes.update(more)
    assert remote.batches == [["a"], ["b", "c", "d"], ["e"]]  # at most `limit` per batch
    assert outcomes == {item: f"done {item}" for item in "abcde"}


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_goes_on():
    remote = Remote(fail=RuntimeError("broker gone"))
    batcher = Batcher(remote.send)
    threads, outcomes = submit_all(batcher, ["a", "b"])
    remote.gate.set()
    for thread in threads:
        thread.join(5)
    assert all(isinstance(outcomes[item], RuntimeError) for item in "ab")
    remote.fail = None
    assert batcher.submit("c", 5) == "done c"


def test_a_caller_that_stops_waiting_before_its_item_was_sent_takes_it_out():
    remote = Remote()
    batcher = Batcher(remote.send)
    first, _ = submit_all(batcher, ["a"])
    until(lambda: len(remote.batches) == 1)
    with pytest.raises(NotSent):
        batcher.submit("late", 0.05)  # queued behind "a", gives up before it goes
    remote.gate.set()
    for thread in first:
        thread.join(5)
    assert batcher.submit("b", 5) == "done b"
    assert "late" not in sum(remote.batches, [])


def test_a_caller_that_stops_waiting_after_its_item_was_sent_does_not_know_the_outcome():
    remote = Remote()
    batcher = Batcher(remote.send)
    with pytest.raises(NoAnswer):
        batcher.submit("a", 0.1)
    assert remote.batches == [["a"]]
    remote.gate.set()


def test_sizes_are_observed_and_a_wrong_number_of_outcomes_is_a_failure():
    sizes = []
    batcher = Batcher(lambda items: ["only one"], observe=sizes.append)
    assert batcher.submit("a", 5) == "only one"
    short = Batcher(lambda items: [])
    with pytest.raises(RuntimeError):
        short.submit("a", 5)
    assert sizes == [1]
