"""The gateway sizes its own worker pool (gateway.server.WorkerPool, GATEWAY_WORKERS): its
workers wait on replies, so their number bounds requests in flight, not work."""

import eventlet
import requests
from eventlet.event import Event
from werkzeug.wrappers import Response

from gateway.server import WorkerPool, gateway_http
from tests.support.containers import http_address, settled_count

running: list[int] = []
release = Event()


class Held:
    """Each request holds its worker until the test releases them all."""

    name = "held"
    workers = WorkerPool(30)

    @gateway_http("GET", "/hold")
    def hold(self, request):
        running.append(1)
        release.wait()
        return Response("done", status=200)


class Small(Held):
    name = "small"
    workers = WorkerPool(5)


def running_at_once(container, clients: int) -> tuple[int, list[int]]:
    """How many of `clients` concurrent requests ran at once, and every answer's status."""
    global release
    running.clear()
    release = Event()
    url = f"{http_address(container)}/hold"
    pool = eventlet.GreenPool(clients)
    answers = [pool.spawn(requests.get, url, timeout=10) for _ in range(clients)]
    at_once = settled_count(running, clients)
    release.send(True)
    return at_once, [answer.wait().status_code for answer in answers]


def test_the_gateway_runs_more_routes_at_once_than_nameko_max_workers(
    nameko_config, container_factory
):
    container = container_factory(Held)
    container.start()
    assert container.max_workers == 30  # nameko's own setting here is its default, 10
    at_once, statuses = running_at_once(container, 30)
    assert at_once == 30
    assert statuses == [200] * 30


def test_the_pool_still_bounds_requests_in_flight(nameko_config, container_factory):
    container = container_factory(Small)
    container.start()
    at_once, statuses = running_at_once(container, 12)
    assert at_once == 5  # the others waited for a worker, then were answered
    assert statuses == [200] * 12
