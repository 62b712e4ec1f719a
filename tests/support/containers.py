"""Helpers for tests that run nameko containers in the test process (container_factory)."""

import eventlet


def http_address(container) -> str:
    """The base URL of a started container's HTTP server (it listens on a free port)."""
    entrypoint = next(iter(container.entrypoints))
    host, port = entrypoint.server._sock.getsockname()[:2]
    return f"http://{host}:{port}"


def settled_count(items: list, expected: int, timeout: float = 5, settle: float = 0.3) -> int:
    """How many `items` there are once `expected` have arrived (or `timeout` has passed) and
    `settle` seconds more have gone by: time for a bound that is too loose to let more in."""
    with eventlet.Timeout(timeout, False):
        while len(items) < expected:
            eventlet.sleep(0.02)
    eventlet.sleep(settle)
    return len(items)
