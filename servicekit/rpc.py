"""RPC with a deadline, for the gateway and for service-to-service calls: a dead or stuck
service answers ServiceUnavailable (503 at the gateway), never hangs the caller.

Nameko's own RPC client waits forever; use `rpc = TimedClusterRpc()` and
`self.rpc.call("catalog", "get_organization", 5)` instead.

The round trip is lean (the measurements: docs/catalog.md, "Benchmark"). Nameko, for every
reply, builds a Publisher and a kombu Connection, serializes the result twice (a check, then
the publish), takes a pooled producer and waits for a publisher confirm; the caller acks
every reply; it starts two green threads per request. Here:

- replies go out on one AMQP channel per service process (`ChannelPublisher`), serialized
  once, without a confirm: the caller has a deadline, so a reply lost with a broker crash
  surfaces as ServiceUnavailable exactly like a reply that never comes. The request is
  acked only after its reply is written, and the worker has committed before that
  (servicekit/db.py), as before;
- the messages published on that channel in one turn of the hub go to the socket in one
  write (`GatheredWrites`): under load one write carries many replies (or requests); the
  acks of the requests, on the consumer's connection, are gathered the same way;
- a request starts its worker straight from the consumer when a worker is free (nameko's
  waiter thread only when none is), and a call's argument shape is checked once per shape;
- requests of a client made with `use_confirms=False` (the gateway) go out the same way;
  with confirms (the default for service-to-service calls) nameko's confirmed, mandatory
  publish is kept, so an unknown service is still told at once;
- the reply queue is consumed without acks: it is the caller's own queue, and a reply that
  is lost is the deadline's business anyway;
- RPC messages are transient: a request or reply outliving a broker restart would find
  its caller gone (deadline) anyway;
- a request expires in the service's queue at its caller's deadline: one that waited there
  longer (the caller has answered 503 by then) is dropped by the broker, not carried out
  later;
- the deadline also travels with the request (the `x-deadline` header, epoch milliseconds,
  set by every TimedClient from its timeout), and a request already past it when its worker
  starts is answered `ServiceUnavailable(code="deadline_passed")` without running its
  method: one the process had prefetched before it hung (SIGSTOP), one redelivered after a
  SIGKILL, or one that waited in the process for a busy worker. One that started within its
  deadline is carried out. Service processes run on clocks kept in step (NTP); a request
  without the header (a standalone client, a tool) has no deadline;
- a request's deadline bounds the calls its worker makes (`TimedClient.deadline`): each
  waits no longer than what is left of it, and one not sent before it passes is answered
  `deadline_passed` at once: a service does not keep working for a caller that has gone.

Importing this module (servicekit.service does, so every service does) makes every `@rpc`
entrypoint of the process reply this way: a service's entrypoints must share one consumer of
its queue, so this cannot be chosen per method. The wire format is nameko's own.
"""

import logging
import sys
import time
import uuid
from contextlib import contextmanager
from functools import partial

import amqp
import eventlet
import kombu.exceptions
import kombu.serialization
import nameko.amqp.consume
import nameko.rpc
from amqp.method_framing import frame_writer
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from kombu import Connection
from nameko import config as nameko_config
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.exceptions import (
    ContainerBeingKilled,
    MalformedRequest,
    UnknownService,
    UnserializableValueError,
    serialize,
)
from nameko.messaging import decode_from_headers, encode_to_headers
from nameko.rpc import ClusterRpc, ReplyListener, RpcCall, RpcConsumer, get_rpc_exchange

from servicekit import config, metrics
from servicekit.batching import Batcher
from servicekit.errors import ServiceUnavailable

TRANSIENT = 1

log = logging.getLogger(__name__)

# seconds a publish waits for a new broker connection; a caller is answered 503 after it
BROKER_CONNECT_TIMEOUT = float(config.env("BROKER_CONNECT_TIMEOUT", "1"))
# what a client is told to wait before trying again while the broker is unreachable
BROKER_RETRY_AFTER = 5


class BrokerLink:
    """Whether this process's broker connection is up, as its RPC reply listener knows it: a
    lost connection is seen at once (the socket closes), so while it is down a call fails at
    once (`broker_down`, 503 with Retry-After at the gateway) instead of publishing into a
    connection that is gone and waiting out its deadline; the listener's reconnection
    brings it back."""

    def __init__(self):
        self.down_since: float | None = None
        self.reason = ""

    def down(self, reason: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("message broker unreachable: %s", reason)
        self.reason = reason

    def up(self) -> None:
        if self.down_since is not None:
            log.warning("message broker reachable again after %.1f s",
                        time.monotonic() - self.down_since)  # fmt: skip
        self.down_since = None

    @property
    def is_down(self) -> bool:
        return self.down_since is not None


BROKER = BrokerLink()


def broker_down() -> ServiceUnavailable:
    return ServiceUnavailable(
        "the message broker is unreachable; try again shortly",
        code="broker_down",
        extra={"retry_after": BROKER_RETRY_AFTER},
    )


class GatheredWrites:
    """The frames a connection writes, gathered while the green threads that are ready to run
    take their turn, then written to the socket at once by one flush: under load, the
    messages published in one turn of the hub cost one socket write instead of one each (on
    loopback a write also runs the broker's side of TCP, the largest single cost of a
    publish). `pending()` is the flush the last write waits for; a failed flush raises in
    every publish it carried."""

    def __init__(self, write):
        self._write = write  # the transport's own
        self._frames: list[bytes] = []
        self._flushed: Event | None = None
        self._lock = Semaphore()  # one flush on the socket at a time, in order

    def write(self, data) -> None:
        # amqp hands over a view of its frame buffer, reused for the next frame: copy it
        self._frames.append(bytes(data))
        if self._flushed is None:
            self._flushed = Event()
            eventlet.spawn_n(self._flush)  # after the threads that are ready now

    def pending(self) -> "Event | None":
        return self._flushed

    def _flush(self) -> None:
        with self._lock:
            flushed, frames = self._flushed, self._frames
            self._flushed, self._frames = None, []
            if flushed is None:
                return
            try:
                self._write(b"".join(frames))
            except BaseException as exc:  # noqa: BLE001 - handed to every waiting publish
                flushed.send_exception(exc)
            else:
                flushed.send(True)


def gather_writes(connection: amqp.Connection) -> GatheredWrites:
    """Make every frame the connection writes go through one GatheredWrites."""
    writes = GatheredWrites(connection.transport.write)
    connection.frame_writer = frame_writer(connection, writes)
    return writes


class ChannelPublisher:
    """One AMQP channel kept open for a process's RPC messages, published without confirms:
    a publish is a socket write, shared with the other publishes of the same turn of the hub
    (`GatheredWrites`). Green threads take turns to frame a message (a frame must not be
    interleaved with another's); a publish returns once its frames are written; a broken
    connection is reopened once per publish before giving up."""

    # how often to look for what the broker may have said (a closed channel) on a
    # connection that otherwise only writes
    CHECK_SECONDS = 1.0

    def __init__(self, amqp_uri: str, ssl=None, login_method=None):
        self.amqp_uri, self.ssl, self.login_method = amqp_uri, ssl, login_method
        self._connection = None
        self._channel = None
        self._writes: GatheredWrites | None = None
        self._checked = 0.0
        self._lock = Semaphore()

    def publish(self, body: bytes, *, exchange: str, routing_key: str, **properties) -> None:
        message = amqp.Message(body, delivery_mode=TRANSIENT, **properties)
        for attempt in (1, 2):
            connection = None
            try:
                with self._lock:
                    channel = self._open()
                    connection = self._connection
                    channel.basic_publish(message, exchange=exchange, routing_key=routing_key)
                    flushed = self._writes.pending()
                if flushed is not None:
                    flushed.wait()
                return
            except Exception:
                with self._lock:
                    # not a connection another publish has opened since
                    if connection is None or connection is self._connection:
                        self.close(handshake=False)
                if attempt == 2:
                    raise

    def _open(self):
        if self._channel is None:
            self._connection = Connection(
                self.amqp_uri,
                ssl=self.ssl,
                login_method=self.login_method,
                connect_timeout=BROKER_CONNECT_TIMEOUT,
            )
            # one attempt: kombu's default retries for seconds while the caller waits
            self._connection.ensure_connection(max_retries=0)
            self._channel = self._connection.default_channel
            self._writes = gather_writes(self._connection.connection)  # amqp's, connected
            self._checked = time.monotonic()
        elif time.monotonic() - self._checked > self.CHECK_SECONDS:
            self._checked = time.monotonic()
            try:
                # raises if the broker closed the channel or the connection
                self._connection.connection.drain_events(timeout=0)
            except TimeoutError:
                pass  # nothing was said: the usual case
        return self._channel

    def close(self, handshake: bool = True) -> None:
        """Without `handshake`, a broken connection is dropped at once: its closing frames
        might never be written, and the broker's answer would never come."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                if handshake:
                    connection.close()
                else:
                    connection.collect()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass


def _encode(payload: dict, serializer: str) -> tuple[str, str, bytes]:
    content_type, encoding, body = kombu.serialization.dumps(payload, serializer)
    return content_type, encoding, body.encode(encoding) if isinstance(body, str) else body


class LeanRpcConsumer(RpcConsumer):
    """Nameko's RPC consumer with the reply path described in the module docstring."""

    def setup(self):
        super().setup()
        # the acks of the requests answered in one turn of the hub share a socket write too
        # (a write of its own per request was the largest single cost of a trivial call)
        consume_ready = self.consumer.on_consume_ready

        def on_consume_ready(connection, *args, **kwargs):
            gather_writes(connection.connection)  # after every (re)connection
            consume_ready(connection, *args, **kwargs)

        self.consumer.on_consume_ready = on_consume_ready
        self.replies = ChannelPublisher(
            self.amqp_uri,
            nameko_config.get(AMQP_SSL_CONFIG_KEY),
            nameko_config.get(LOGIN_METHOD_CONFIG_KEY),
        )
        self.exchange = get_rpc_exchange().name

    def handle_result(self, message, result, exc_info):
        properties = message.properties
        content_type = properties["content_type"]  # answer in the request's encoding
        serializer = kombu.serialization.registry.type_to_name[content_type]
        error = serialize(exc_info[1]) if exc_info is not None else None
        try:
            content_type, encoding, body = _encode({"result": result, "error": error}, serializer)
        except Exception:  # noqa: BLE001 - the caller gets UnserializableValueError instead
            exc_info = sys.exc_info()
            error, result = serialize(UnserializableValueError(result)), None
            content_type, encoding, body = _encode({"result": None, "error": error}, serializer)
        try:
            self.replies.publish(
                body,
                exchange=self.exchange,
                routing_key=properties["reply_to"],
                correlation_id=properties.get("correlation_id"),
                content_type=content_type,
                content_encoding=encoding,
            )
        except (OSError, amqp.exceptions.AMQPError, kombu.exceptions.OperationalError) as exc:
            # the broker is gone: the reply is lost and the caller answers at its deadline,
            # as for any lost reply. Raised here, it would end the worker's thread with an
            # error, and nameko kills the whole container for that (the broker cut of the
            # campaign left enrollment dead).
            log.warning("reply to %s lost: %r", properties.get("reply_to"), exc)
        self.consumer.ack_message(message)  # work done: not to be run again on redelivery
        return result, exc_info

    def stop(self):
        super().stop()
        # The container stops this once per entrypoint while workers may still reply, and
        # once more, with no entrypoint left, after every worker has finished.
        if not self._providers:
            self.replies.close()

    def kill(self):
        super().kill()
        self.replies.close()


_check_signature = nameko.rpc.Rpc.check_signature

DEADLINE_HEADER = "x-deadline"


def deadline_header(timeout: float) -> dict:
    """The header that carries a request's deadline: `timeout` seconds from now."""
    return {DEADLINE_HEADER: int((time.time() + timeout) * 1000)}


def _deadline_of(message) -> float | None:
    """The request's deadline in epoch seconds, None when it carries none."""
    value = (message.headers or {}).get(DEADLINE_HEADER)
    try:
        return int(value) / 1000 if value is not None else None
    except (TypeError, ValueError):
        return None


_NOT_RUN = object()


def _refuse_if_late(worker_ctx, deadline: float) -> None:
    """Make the worker, which has not run yet (a spawned green thread runs only when this
    one yields), check the deadline as it starts: past it, the method is not called and the
    caller is answered `deadline_passed`. nameko looks the method up on the worker's own
    service instance, so the check shadows it there."""
    service = worker_ctx.service
    method_name = worker_ctx.entrypoint.method_name
    method = getattr(service, method_name)

    def run_unless_late(*args, **kwargs):
        late = time.time() - deadline
        if late > 0:
            metrics.count(metrics.RPC_REQUESTS_EXPIRED, method_name)
            log.warning("%s not started: %.1f s past its caller's deadline", method_name, late)
            return _NOT_RUN
        return method(*args, **kwargs)

    setattr(service, method_name, run_unless_late)


def _handle_late_result(handle_result, worker_ctx, result, exc_info):
    if result is _NOT_RUN:
        try:
            raise ServiceUnavailable(
                "the caller's deadline passed before the request started; nothing was done",
                code="deadline_passed",
            )
        except ServiceUnavailable:
            result, exc_info = None, sys.exc_info()
    return handle_result(worker_ctx, result, exc_info)


def _handle_message(self, body, message):
    """nameko's, without a green thread of its own per request when a worker is free:
    nameko starts one to wait for a free worker, which then starts the worker (two threads
    and a turn of the hub more per call). With a worker free there is nothing to wait for;
    without, a thread waits for one, as nameko's does. Either way the worker checks the
    request's deadline as it starts (`_refuse_if_late`)."""
    try:
        args, kwargs = body["args"], body["kwargs"]
    except KeyError:
        raise MalformedRequest("Message missing `args` or `kwargs`") from None
    self.check_signature(args, kwargs)
    context_data = decode_from_headers(message.headers)
    deadline = _deadline_of(message)
    handle_result = partial(self.handle_result, message)
    if deadline is not None:
        handle_result = partial(_handle_late_result, handle_result)

    def start_worker():
        try:
            worker_ctx = self.container.spawn_worker(
                self, args, kwargs, context_data=context_data, handle_result=handle_result
            )
        except ContainerBeingKilled:
            self.rpc_consumer.consumer.requeue_message(message)
            return
        if deadline is not None:
            worker_ctx.deadline = deadline  # bounds the calls the worker makes (TimedClient)
            _refuse_if_late(worker_ctx, deadline)

    if self.container._worker_pool.free() >= 1:
        start_worker()
    else:  # waits for a worker without blocking the consumer (its heartbeats)
        self.container.spawn_managed_thread(
            start_worker,
            identifier=f"Rpc.wait_for_worker_pool[{self.container.service_name}.{self.method_name}]",
        )


def _check_signature_once_per_shape(self, args, kwargs):
    """Whether arguments bind to a method depends only on how many are positional and on
    the names of the others: a shape that fitted once is not checked again (nameko's
    inspect.getcallargs on every call was 2 % of a service's CPU on a trivial call)."""
    shape = (len(args), frozenset(kwargs))
    fitting = self.__dict__.setdefault("_fitting_shapes", set())
    if shape not in fitting:
        _check_signature(self, args, kwargs)  # raises IncorrectSignature
        if len(fitting) < 64:  # a method taking **kwargs fits any names
            fitting.add(shape)


_ack_message = nameko.amqp.consume.Consumer.ack_message
_requeue_message = nameko.amqp.consume.Consumer.requeue_message


def _unless_connection_gone(settle):
    """nameko's ack (or requeue) of a consumed message, where a connection the broker has
    dropped is no error: the broker gives every unacked message of it to the next consumer.
    nameko ignores only amqp's ConnectionError; the socket's own (a reset) ended the
    worker's thread with an error, and nameko kills the whole container for that: the
    campaign's broker cut left accounts dead with an event handler's ack."""

    def settle_unless_gone(self, message):
        try:
            settle(self, message)
        except OSError as exc:
            log.warning("message not settled, its connection is gone: %r", exc)

    return settle_unless_gone


nameko.amqp.consume.Consumer.ack_message = _unless_connection_gone(_ack_message)
nameko.amqp.consume.Consumer.requeue_message = _unless_connection_gone(_requeue_message)

# every @rpc entrypoint of the process (nameko's decorator included) binds this consumer
nameko.rpc.Rpc.rpc_consumer = LeanRpcConsumer()
nameko.rpc.Rpc.handle_message = _handle_message
nameko.rpc.Rpc.check_signature = _check_signature_once_per_shape
rpc = nameko.rpc.rpc  # `from servicekit.rpc import rpc` says which reply path is in use


class UnackedReplyListener(ReplyListener):
    """Consumes the caller's reply queue without acks (one socket write less per call)."""

    def setup(self):
        super().setup()
        self.consumer.consumer_options["no_ack"] = True
        consumer = self.consumer
        consume_ready, connection_error = consumer.on_consume_ready, consumer.on_connection_error

        def on_consume_ready(*args, **kwargs):
            BROKER.up()  # after every (re)connection
            consume_ready(*args, **kwargs)

        def on_connection_error(exc, interval):
            BROKER.down(str(exc))  # a (re)connection failed, the first one too
            connection_error(exc, interval)

        @contextmanager
        def consuming(connection, channel):  # kombu's hook around the consuming loop
            try:
                yield
            finally:
                if not consumer.should_stop:  # the connection was lost
                    BROKER.down("connection lost")

        consumer.on_consume_ready = on_consume_ready
        consumer.on_connection_error = on_connection_error
        consumer.extra_context = consuming

    # kombu's consuming loop sends a heartbeat only after a second without a message, and
    # this connection acks nothing: a busy caller's replies never paused that long, nothing
    # was written, and the broker closed the connection for missed heartbeats every few
    # minutes under load (the opening day run: the gateway's 31 answers 503 broker_down)
    HEARTBEAT_EVERY = 1.0
    _next_heartbeat = 0.0

    def handle_message(self, body, message):
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.HEARTBEAT_EVERY
            message.channel.connection.heartbeat_tick()  # sends one only when it is due
        waiting = self.pending.pop(message.properties.get("correlation_id"), None)
        if waiting is not None:
            waiting.send(body)


def deadline_passed() -> ServiceUnavailable:
    return ServiceUnavailable(
        "the caller's deadline passed; the request was not made", code="deadline_passed"
    )


class TimedClient:
    def __init__(
        self,
        provider: "TimedClusterRpc",
        context_data: dict,
        timeout: float,
        deadline: float | None = None,
    ):
        self._provider = provider
        self._pending = provider.reply_listener.pending
        self._context_data = context_data
        self.timeout = timeout
        # the deadline (epoch seconds) of the request this worker serves; None: its own
        self.deadline = deadline

    def remaining(self) -> float | None:
        """Seconds left of the served request's deadline (None: it has none)."""
        return None if self.deadline is None else self.deadline - time.time()

    def _bounded(self, timeout: float | None) -> float:
        """The call's timeout, no longer than what is left of the served request's deadline;
        `deadline_passed` when nothing is left."""
        timeout = timeout or self.timeout
        left = self.remaining()
        if left is None:
            return timeout
        if left <= 0:
            raise deadline_passed()
        return min(timeout, left)

    def call_async(
        self, service: str, method: str, *args, timeout: float | None = None, **kwargs
    ) -> RpcCall:
        """`timeout`: how long the caller will wait (the default deadline if None); the
        request expires in the broker's queue after as long, so a request that waited there
        past its caller's deadline (answered 503 by then) is dropped, not carried out."""
        if BROKER.is_down:
            raise broker_down()
        listener = self._provider.reply_listener
        # a container starts its extensions side by side: the HTTP server may take a request
        # before the reply queue exists, and a reply sent to no queue is dropped
        if not listener.consumer.ready.is_set() and not listener.consumer.ready.wait(self.timeout):
            raise ServiceUnavailable("replies cannot be received yet", code="service_timeout")
        timeout = self._bounded(timeout)
        correlation_id = str(uuid.uuid4())
        get_response = listener.register_for_reply(correlation_id)
        try:
            self._provider.send(
                f"{service}.{method}",
                {"args": args, "kwargs": kwargs},
                correlation_id,
                {**encode_to_headers(self._context_data), **deadline_header(timeout)},
                timeout,
            )
        except UnknownService as exc:
            self._pending.pop(correlation_id, None)
            raise ServiceUnavailable(
                f"service {service} is not running", code="service_down"
            ) from exc
        except (OSError, amqp.exceptions.AMQPError, kombu.exceptions.OperationalError) as exc:
            # the connection broke under this publish, before the listener saw it go
            self._pending.pop(correlation_id, None)
            raise broker_down() from exc
        except BaseException:
            self._pending.pop(correlation_id, None)
            raise
        return RpcCall(correlation_id, None, get_response)

    def wait(self, service: str, reply: RpcCall, timeout: float | None = None):
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
        timeout = self._bounded(timeout)
        reply = self.call_async(service, method, *args, timeout=timeout, **kwargs)
        return self.wait(service, reply, timeout)

    def batched(self, service: str, method: str) -> Batcher:
        """This process's batcher of `service.method(items)` (servicekit.batching): the items
        its workers submit while a batch is on its way go together as the next one, in one
        request. Each item is a dict with its caller's `deadline` (epoch seconds or None)."""
        return self._provider.batcher(service, method)


class TimedClusterRpc(ClusterRpc):
    """`TimedClusterRpc()` publishes requests with confirms, so a call to a service that is
    not running fails at once; `TimedClusterRpc(use_confirms=False)` (the gateway) publishes
    on one kept channel without confirms, and such a call ends at its deadline."""

    reply_listener = UnackedReplyListener()

    def setup(self):
        confirms = self.publisher_options.get("use_confirms", True)
        super().setup()
        # Nameko re-declares the reply queue (exchange, queue, binding: three broker round
        # trips) on every publish, because kombu never caches a queue with x-expires. The reply
        # listener declares it when it (re)connects and consumes it, so it cannot expire.
        self.publisher.declare = []
        self.exchange = get_rpc_exchange().name
        self.reply_to = self.reply_listener.queue.routing_key
        self.requests = None
        if not confirms:
            self.requests = ChannelPublisher(
                self.amqp_uri, self.publisher.ssl, self.publisher.login_method
            )

    def stop(self):
        if self.requests is not None:
            self.requests.close()

    kill = stop

    def send(
        self, routing_key: str, payload: dict, correlation_id: str, headers: dict, expires: float
    ) -> None:
        """`expires`: seconds the request may wait in the service's queue (the caller's
        deadline); the broker drops it when it reaches the head of the queue later than that.
        One already handed to a worker is carried out: a deadline cannot take that back."""
        if self.requests is None:
            try:
                self.publisher.publish(
                    payload,
                    routing_key=routing_key,
                    mandatory=True,
                    correlation_id=correlation_id,
                    extra_headers=headers,
                    delivery_mode=TRANSIENT,
                    expiration=expires,
                )
            except UndeliverableMessage as exc:
                raise UnknownService(routing_key.split(".")[0]) from exc
            return
        content_type, encoding, body = _encode(payload, self.publisher.serializer)
        self.requests.publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            reply_to=self.reply_to,
            correlation_id=correlation_id,
            application_headers=headers,
            content_type=content_type,
            content_encoding=encoding,
            expiration=str(int(expires * 1000)),
        )

    def batcher(self, service: str, method: str) -> Batcher:
        key = (service, method)
        batchers = self.__dict__.setdefault("_batchers", {})
        if key not in batchers:
            batchers[key] = Batcher(
                partial(self._send_batch, service, method),
                observe=partial(self._count_batch, f"{service}.{method}"),
            )
        return batchers[key]

    @staticmethod
    def _count_batch(method: str, size: int) -> None:
        metrics.count(metrics.RPC_BATCHES, method)
        metrics.count(metrics.RPC_BATCHED_ITEMS, method, amount=size)

    def _send_batch(self, service: str, method: str, items: list[dict]) -> list:
        """One request for the batch, bounded by the latest of its items' deadlines (the
        callee refuses each item past its own); none when an item has none."""
        deadlines = [item.get("deadline") for item in items]
        deadline = None if None in deadlines else max(deadlines)
        client = TimedClient(self, {}, config.rpc_timeout(), deadline)
        return client.call(service, method, items)

    def get_dependency(self, worker_ctx):
        deadline = getattr(worker_ctx, "deadline", None)
        return TimedClient(self, worker_ctx.context_data, config.rpc_timeout(), deadline)
