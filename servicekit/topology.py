"""The broker topology every service's reliable handlers need, declared up front.

RabbitMQ drops an event published to an exchange with no bound queue. Nameko declares a
handler's queue only when that service starts, so `make run` (and the tests) declare every
handler queue, its delay queues and its parked queue before any producer starts.
Integrators bind their own durable queues the same way (see docs/events.md).
"""

import importlib
import inspect
from dataclasses import dataclass

from kombu import Connection

from servicekit import config
from servicekit.events import (
    ReliableEventHandler,
    failure_queues,
    handler_queue_name,
    retry_delays_ms,
)
from servicekit.outbox import events_exchange


@dataclass(frozen=True)
class HandlerBinding:
    service: str
    method: str
    source_service: str
    event_type: str

    @property
    def queue(self) -> str:
        return handler_queue_name(self.source_service, self.event_type, self.service, self.method)


def load_service_class(path: str):
    module_name, _, class_name = path.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def reliable_handlers(service_cls) -> list[HandlerBinding]:
    found = []
    for name, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, ReliableEventHandler):
                found.append(
                    HandlerBinding(
                        service_cls.name, name, entrypoint.source_service, entrypoint.event_type
                    )
                )
    return found


def all_handlers(service_classes=None) -> list[HandlerBinding]:
    classes = service_classes or [load_service_class(p) for p in config.SERVICE_CLASSES.values()]
    return [binding for cls in classes for binding in reliable_handlers(cls)]


def declare(bindings: list[HandlerBinding], amqp_uri: str | None = None) -> None:
    from kombu import Queue

    delays = retry_delays_ms()
    with Connection(amqp_uri or config.amqp_uri()) as conn:
        channel = conn.channel()
        for binding in bindings:
            exchange = events_exchange(binding.source_service)
            exchange(channel).declare()
            Queue(binding.queue, exchange=exchange, routing_key=binding.event_type, durable=True)(
                channel
            ).declare()
            for queue in failure_queues(binding.queue, delays):
                queue(channel).declare()
        for service in config.RUNNING_SERVICES:
            events_exchange(service)(channel).declare()


if __name__ == "__main__":
    handlers = all_handlers()
    declare(handlers)
    exchanges = len(config.RUNNING_SERVICES)
    print(f"declared {len(handlers)} handler queues and {exchanges} event exchanges")
