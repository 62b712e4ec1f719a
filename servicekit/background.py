"""A thread of a service that works by itself: woken by `wake()` when a commit gave it work,
and every `interval` seconds, so what a killed process left is taken up by any process. It
outlives a failed round (logged, tried again on the next). The billing runner
(services/payments/runner.py) and the notification sender (services/notifications/sender.py)
are such loops; each says only what one round does."""

import logging

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider


class WakeableLoop(DependencyProvider):
    """A subclass names its `thread` ("billing_runner"), sets `interval` (seconds) and
    `engine` in its `setup()` after calling this one's, and defines `work_round()`: True
    when more is already due, and the next round starts at once. The engine is disposed
    when the loop ends."""

    thread = "loop"
    interval: float

    def setup(self):
        self._wakeup = Event()
        self._running = False

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._run, identifier=self.thread)

    def stop(self):
        self._running = False
        self.wake()

    kill = stop

    def wake(self):
        if not self._wakeup.ready():
            self._wakeup.send(True)

    @property
    def running(self) -> bool:
        return self._running

    def work_round(self) -> bool:
        raise NotImplementedError

    def _run(self):
        log = logging.getLogger(type(self).__module__)
        while self._running:
            try:
                if self.work_round():
                    continue
            except Exception:  # noqa: BLE001 - the loop must outlive a broker or database hiccup
                log.exception("%s failed; retrying", self.thread.replace("_", " "))
            with eventlet.Timeout(self.interval, False):
                self._wakeup.wait()
            self._wakeup = Event()
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return self
