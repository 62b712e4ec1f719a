"""A request expires in the service's queue at its caller's deadline (servicekit.rpc): a call
answered "did not answer in time" is not carried out later, when the service gets to it; nor
when the service had already taken it (prefetched) and starts it past that deadline."""

import os
import signal
import subprocess
import time

import eventlet
import pytest
from eventlet.event import Event
from nameko import config as nameko_settings
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcClient

from servicekit.errors import ServiceUnavailable
from servicekit.rpc import TimedClusterRpc
from tests.support.system import NAMEKO, ROOT

recorded: list[int] = []
relayed: list[tuple[float, str]] = []
release = Event()


class Slowpoke:
    """One worker, one message at a time: while `hold` runs, other requests wait in the
    broker's queue."""

    name = "slowpoke"

    @rpc
    def hold(self):
        release.wait()
        return "held"

    @rpc
    def record(self, number):
        recorded.append(number)
        return number


class Caller:
    name = "caller"
    requests_without_confirms = TimedClusterRpc(use_confirms=False)  # as the gateway calls
    requests_with_confirms = TimedClusterRpc()  # as services call each other

    @rpc
    def hold_then_record(self, number, timeout, confirms):
        client = self.requests_with_confirms if confirms else self.requests_without_confirms
        held = client.call_async("slowpoke", "hold")
        try:
            outcome = client.call("slowpoke", "record", number, timeout=timeout)
        except ServiceUnavailable as exc:
            outcome = exc.code
        return outcome, held.correlation_id

    @rpc
    def relay(self):
        """A call of its own with the default timeout, made while serving a request: how
        long it waited, and how it ended."""
        started = time.monotonic()
        try:
            outcome = self.requests_with_confirms.call("slowpoke", "hold")
        except ServiceUnavailable as exc:
            outcome = exc.code
        relayed.append((time.monotonic() - started, outcome))
        return outcome

    @rpc
    def call(self, service, method, args, timeout):
        """One call as the gateway makes it; its outcome, or the code of its 503."""
        try:
            return self.requests_without_confirms.call(service, method, *args, timeout=timeout)
        except ServiceUnavailable as exc:
            return exc.code


@pytest.fixture(params=[1], ids=["prefetch1"])
def services(request, nameko_config, container_factory):
    global release
    recorded.clear()
    relayed.clear()
    release = Event()
    with nameko_settings.patch({"max_workers": 1, "PREFETCH_COUNT": request.param}):
        slowpoke = container_factory(Slowpoke)
        slowpoke.start()
    container_factory(Caller).start()
    yield
    if not release.ready():
        release.send(True)


@pytest.mark.parametrize("confirms", [False, True])
def test_a_request_that_waited_past_its_deadline_is_dropped_not_carried_out(services, confirms):
    with ClusterRpcClient() as client:
        outcome, _ = client.caller.hold_then_record(1, 0.5, confirms)
        assert outcome == "service_timeout"
        release.send(True)  # the service gets to its queue now
        # a request sent afterwards is carried out; the expired one never is
        assert client.slowpoke.record(2) == 2
        eventlet.sleep(0.5)
    assert recorded == [2]


def test_a_request_within_its_deadline_is_carried_out(services):
    with ClusterRpcClient() as client:
        eventlet.spawn_after(0.3, lambda: release.send(True))
        outcome, _ = client.caller.hold_then_record(1, 5, False)
    assert outcome == 1
    assert recorded == [1]


@pytest.mark.parametrize("services", [10], ids=["prefetch10"], indirect=True)
def test_a_request_taken_while_the_worker_was_busy_is_not_started_past_its_deadline(services):
    """With prefetch above the workers, the request waits in the process, not in the
    broker's queue, so the broker cannot drop it: the worker checks its deadline as it
    starts, and answers deadline_passed without running it."""
    with ClusterRpcClient() as client:
        outcome, _ = client.caller.hold_then_record(1, 0.5, False)
        assert outcome == "service_timeout"
        release.send(True)  # the worker is free; the waiting request starts, 0.5 s late
        assert client.slowpoke.record(2) == 2
        eventlet.sleep(0.5)
    assert recorded == [2]


def test_the_calls_a_worker_makes_are_bounded_by_its_callers_deadline(services):
    """A service serving a request whose caller waits 1 s does not wait 5 s (its default
    timeout) on a call of its own: the caller has gone by then."""
    with ClusterRpcClient() as client:
        assert client.caller.call("caller", "relay", [], 1) == "service_timeout"
        deadline = time.monotonic() + 10
        while not relayed and time.monotonic() < deadline:
            eventlet.sleep(0.1)
    (waited, outcome), *_ = relayed
    assert outcome in ("service_timeout", "deadline_passed")
    assert waited < 1.5, waited


@pytest.fixture
def recorder(nameko_config, container_factory, tmp_path, vhost):
    """The Recorder as its own process (`nameko run`), on this run's vhost."""
    container_factory(Caller).start()
    out = tmp_path / "recorded.txt"
    out.touch()
    process = subprocess.Popen(
        [NAMEKO, "run", "--config", str(ROOT / "deploy" / "nameko.yaml"),
         "tests.support.deadline_service:Recorder"],
        cwd=ROOT,
        env={**os.environ, "AMQP_URI": vhost, "RECORDER_FILE": str(out), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with ClusterRpcClient() as client:
            deadline = time.monotonic() + 30
            while client.caller.call("recorder", "record", [0], 1) != 0:
                assert time.monotonic() < deadline, "the recorder did not start"
        yield process, out
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(10)


def test_a_request_held_by_a_stopped_process_is_not_carried_out_when_it_resumes(recorder):
    """The campaign's SIGSTOP: the broker had handed the request to the process (it sits in
    the socket), the caller answered 503; resumed, the process refuses to start it."""
    process, out = recorder
    with ClusterRpcClient() as client:
        process.send_signal(signal.SIGSTOP)
        try:
            assert client.caller.call("recorder", "record", [1], 0.5) == "service_timeout"
            eventlet.sleep(0.5)
        finally:
            process.send_signal(signal.SIGCONT)
        # resumed: the late request is refused, a new one within its deadline is carried out
        assert client.caller.call("recorder", "record", [2], 5) == 2
    lines = [line for line in out.read_text().split() if line != "0"]
    assert lines == ["2"]
