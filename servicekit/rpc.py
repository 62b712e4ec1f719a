"""RPC with a deadline, for the gateway and for service-to-service calls: a dead or stuck
service answers ServiceUnavailable (503 at the gateway), never hangs the caller.

Nameko's own RPC client waits forever; use `rpc = TimedClusterRpc()` and
`self.rpc.call("catalog", "get_organization", 5)` instead."""

import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import ClusterRpc

from servicekit import config
from servicekit.errors import ServiceUnavailable


class TimedClient:
    def __init__(self, client, reply_listener, timeout: float):
        self._client = client
        self._pending = reply_listener.pending
        self.timeout = timeout

    def call_async(self, service: str, method: str, *args, **kwargs):
        try:
            return getattr(getattr(self._client, service), method).call_async(*args, **kwargs)
        except UnknownService as exc:
            raise ServiceUnavailable(
                f"service {service} is not running", code="service_down"
            ) from exc

    def wait(self, service: str, reply, timeout: float | None = None):
        try:
            with eventlet.Timeout(timeout or self.timeout):
                return reply.result()
        except eventlet.Timeout as exc:
            # forget the call so a reply that never comes does not pile up
            self._pending.pop(reply.correlation_id, None)
            raise ServiceUnavailable(
                f"service {service} did not answer in time", code="service_timeout"
            ) from exc

    def call(self, service: str, method: str, *args, timeout: float | None = None, **kwargs):
        return self.wait(service, self.call_async(service, method, *args, **kwargs), timeout)


class TimedClusterRpc(ClusterRpc):
    def setup(self):
        super().setup()
        # Nameko re-declares the reply queue (exchange, queue, binding: three broker round
        # trips) on every publish, because kombu never caches a queue with x-expires. The reply
        # listener declares it when it (re)connects and consumes it, so it cannot expire.
        self.publisher.declare = []

    def get_dependency(self, worker_ctx):
        # A call published before the reply queue exists (a request racing the start of the
        # process) makes nameko's reply listener find "lost replies" and kill the container.
        self.reply_listener.consumer.wait_until_consumer_ready()
        return TimedClient(
            super().get_dependency(worker_ctx), self.reply_listener, config.rpc_timeout()
        )
