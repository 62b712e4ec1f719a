"""A request expires in the service's queue at its caller's deadline (servicekit.rpc): a call
answered "did not answer in time" is not carried out later, when the service gets to it."""

import eventlet
import pytest
from eventlet.event import Event
from nameko import config as nameko_settings
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcClient

from servicekit.errors import ServiceUnavailable
from servicekit.rpc import TimedClusterRpc

recorded: list[int] = []
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


@pytest.fixture
def services(nameko_config, container_factory):
    global release
    recorded.clear()
    release = Event()
    with nameko_settings.patch({"max_workers": 1, "PREFETCH_COUNT": 1}):
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
