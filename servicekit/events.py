"""Reliable event handling (docs/design.md, section 7).

`reliable_handler(source, event_type)` is a Nameko event handler that never acks a failed
message and forgets it: a handler that raises has its message republished (with publisher
confirms) to a delay queue that dead-letters back to the handler's queue after a backoff;
after the last delay it goes to `<queue>.parked`, where `python -m servicekit.parked`
lists and replays it. Only after that republish is confirmed is the original acked.

`idempotent` makes a handler remember each processed `event_id` in the same transaction
as its effect, so a redelivered or replayed event changes nothing the second time.
"""

import logging
import traceback
from functools import wraps

from kombu import Connection, Producer, Queue
from nameko.events import SERVICE_POOL, EventHandler

from servicekit import config, metrics, telemetry
from servicekit.db import inserted_once
from servicekit.outbox import processed_events

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-navigator-attempts"
ERROR_HEADER = "x-navigator-error"
ORIGIN_HEADER = "x-navigator-queue"


def retry_delays_ms() -> list[int]:
    """Backoff before each retry; after the last one a failing message is parked."""
    raw = config.env("EVENT_RETRY_DELAYS_MS", "1000,5000,30000,120000")
    return [int(part) for part in raw.split(",") if part.strip()]


def handler_queue_name(source_service: str, event_type: str, service: str, method: str) -> str:
    # nameko's SERVICE_POOL naming, so the queue is the one nameko itself consumes
    return f"evt-{source_service}-{event_type}--{service}.{method}"


def retry_queues(queue_name: str, delays: list[int]) -> list[Queue]:
    # named by delay, so changing the backoff never clashes with an existing queue's TTL
    return [
        Queue(
            f"{queue_name}.retry-{delay}ms",
            durable=True,
            queue_arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue_name,
            },
        )
        for delay in delays
    ]


def parked_queue(queue_name: str) -> Queue:
    return Queue(f"{queue_name}.parked", durable=True)


def failure_queues(queue_name: str, delays: list[int]) -> list[Queue]:
    """Every queue a failing message of this handler queue may pass through."""
    return [*retry_queues(queue_name, delays), parked_queue(queue_name)]


class ReliableEventHandler(EventHandler):
    def __init__(self, source_service: str, event_type: str, **kwargs):
        kwargs.setdefault("handler_type", SERVICE_POOL)
        kwargs["reliable_delivery"] = True
        kwargs["requeue_on_error"] = False
        super().__init__(source_service, event_type, **kwargs)

    def setup(self):
        super().setup()
        self.delays = retry_delays_ms()
        self.retry_queues = retry_queues(self.queue.name, self.delays)
        self.parked = parked_queue(self.queue.name)
        metrics.event_handler_started(f"{self.container.service_name}.{self.method_name}")
        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            for queue in failure_queues(self.queue.name, self.delays):
                queue(channel).declare()

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self.consumer.ack_message(message)
            telemetry.event_outcome(worker_ctx, "handled")
            return result, exc_info
        try:
            outcome, attempts, error = self._reroute_failed(message, exc_info)
        except Exception:  # noqa: BLE001
            # could not park it safely: give it back to the broker rather than lose it
            log.exception("could not reroute failed message; requeueing it")
            self.consumer.requeue_message(message)
        else:
            self.consumer.ack_message(message)
            telemetry.event_outcome(worker_ctx, outcome, attempts, error)
        return result, exc_info

    def _reroute_failed(self, message, exc_info) -> tuple[str, int, str]:
        """Send the failed message to its next retry queue, or park it; says which."""
        headers = dict(message.headers or {})
        attempts = int(headers.get(ATTEMPTS_HEADER, 0)) + 1
        headers[ATTEMPTS_HEADER] = attempts
        headers[ORIGIN_HEADER] = self.queue.name
        error = "".join(traceback.format_exception_only(*exc_info[:2]))[-1000:]
        headers[ERROR_HEADER] = error
        headers.pop("x-death", None)
        if attempts <= len(self.delays):
            outcome, target = "retried", self.retry_queues[attempts - 1].name
        else:
            outcome, target = "parked", self.parked.name
        republish(self.amqp_uri, message, routing_key=target, headers=headers)
        return outcome, attempts, error.strip()


def republish(amqp_uri: str, message, routing_key: str, headers: dict) -> None:
    """Publish `message` unchanged but for its headers to a queue, confirmed by the broker."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.channel())
        producer.publish(
            message.body,
            exchange="",
            routing_key=routing_key,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=2,
            message_id=message.properties.get("message_id"),
        )


reliable_handler = ReliableEventHandler.decorator


def claim_event(session, event_id: str, handler: str) -> bool:
    """True the first time (event, handler) is seen; the claim commits with the effect."""
    return inserted_once(session, processed_events, event_id=event_id, handler=handler)


def idempotent(method):
    """For a handler method of a service with `db = Database()`, taking an event envelope."""
    handler = f"{method.__qualname__}"

    @wraps(method)
    def wrapper(self, envelope):
        if not claim_event(self.db, envelope["event_id"], handler):
            log.info("event %s already processed by %s", envelope["event_id"], handler)
            return None
        return method(self, envelope)

    return wrapper
