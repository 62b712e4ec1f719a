"""Waiting in a test for what another process or thread does in its own time."""

import time


def wait_for(check, timeout: float = 60.0, what: str = "condition", interval: float = 0.2):
    """The first truthy value `check()` returns within `timeout` seconds, asked every
    `interval`; an AssertionError naming `what` when none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not met in {timeout}s")
