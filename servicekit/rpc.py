"""RPC with a deadline, for the gateway and for service-to-service calls: a dead or stuck
service answers ServiceUnavailable (503 at the gateway), never hangs the caller.

Nameko's own RPC client waits forever; use `rpc = TimedClusterRpc()` and
`self.rpc.call("catalog", "get_organization", 5)` instead."""

import logging

import eventlet
from nameko.exceptions import ReplyQueueExpiredWithPendingReplies, UnknownService
from nameko.rpc import ClusterRpc, ReplyListener

from servicekit import config, metrics
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
            metrics.count(metrics.RPC_DEADLINE_MISSES, service)
            raise ServiceUnavailable(
                f"service {service} did not answer in time", code="service_timeout"
            ) from exc

    def call(self, service: str, method: str, *args, timeout: float | None = None, **kwargs):
        return self.wait(service, self.call_async(service, method, *args, **kwargs), timeout)


log = logging.getLogger(__name__)


class DeadlineReplyListener(ReplyListener):
    def check_for_lost_replies(self):
        # Nameko kills the whole process when its reply queue vanished with calls pending.
        # Here every call has a deadline: those callers get their 503 and the process lives.
        try:
            super().check_for_lost_replies()
        except ReplyQueueExpiredWithPendingReplies:
            log.warning("reply queue was gone: %d pending calls will miss their deadline",
                        len(self.pending))  # fmt: skip


class TimedClusterRpc(ClusterRpc):
    reply_listener = DeadlineReplyListener()

    def get_dependency(self, worker_ctx):
        if self.publisher.declare and self.reply_listener.consumer.ready.is_set():
            # Nameko re-declares the reply queue (exchange, queue, binding: three broker round
            # trips) on every publish, because kombu never caches a queue with x-expires. Once
            # the reply listener consumes the queue it cannot expire, so stop. Not before: a
            # call made while the process starts would find no reply queue, and the listener
            # would then die of "lost replies" (ReplyQueueExpiredWithPendingReplies).
            self.publisher.declare = []
        return TimedClient(
            super().get_dependency(worker_ctx), self.reply_listener, config.rpc_timeout()
        )
