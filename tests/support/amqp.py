"""A plain AMQP consumer, as an integrator would bind one: no nameko involved."""

import json
import time

from kombu import Connection, Queue

from servicekit.outbox import events_exchange


class PlainSubscriber:
    def __init__(self, amqp_uri: str, service: str, routing_key: str, name: str):
        self.connection = Connection(amqp_uri)
        self.channel = self.connection.channel()
        self.queue = Queue(
            name,
            exchange=events_exchange(service),
            routing_key=routing_key,
            durable=False,
            auto_delete=False,
        )
        self.queue(self.channel).declare()

    def collect(self, expected: int, timeout: float, quiet: float = 0.0) -> list[dict]:
        """Messages until `expected` arrived (or timeout), then `quiet` more seconds of
        listening, so a duplicate arriving late is caught too."""
        received = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(received) < expected:
            message = self.channel.basic_get(self.queue.name, no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            received.append(json.loads(message.body))
        quiet_until = time.monotonic() + quiet
        while time.monotonic() < quiet_until:
            message = self.channel.basic_get(self.queue.name, no_ack=True)
            if message is None:
                time.sleep(0.05)
            else:
                received.append(json.loads(message.body))
        return received

    def close(self):
        try:
            self.queue(self.channel).delete()
        finally:
            self.connection.release()
