"""An integrator's consumer of Navigator events, with plain kombu (no Nameko): it declares a
durable queue of its own, binds it to the exchanges and routing keys that docs/asyncapi.yaml
names, and prints each event as it arrives (validated against its JSON Schema when the
`jsonschema_rs` package is installed).

    python examples/integrator.py                         # every enrollment event
    python examples/integrator.py --queue school.enrollment --exchange enrollment.events \\
        --exchange certificates.events --amqp amqp://guest:guest@127.0.0.1:5672/

Delivery is at least once: a real integrator stores the `event_id`s it processed (in the same
transaction as its effect) and skips a repeat; this example keeps them in memory.
"""

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from kombu import Connection, Exchange, Queue

ASYNCAPI = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"


def load_catalog(path: Path = ASYNCAPI) -> dict:
    """{(exchange, routing key): JSON Schema of the whole message} from the AsyncAPI document."""
    document = yaml.safe_load(path.read_text())
    schemas = document["components"]["schemas"]
    messages = document["components"]["messages"]
    catalog = {}
    for channel in document["channels"].values():
        exchange = channel["bindings"]["amqp"]["exchange"]["name"]
        message = messages[channel["subscribe"]["message"]["$ref"].rsplit("/", 1)[-1]]
        envelope, specific = message["payload"]["allOf"]
        data_ref = specific["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        schema = {
            "allOf": [
                schemas["Envelope"],
                {**specific, "properties": {**specific["properties"], "data": schemas[data_ref]}},
            ]
        }
        catalog[(exchange, message["name"])] = schema
    return catalog


def bind(connection: Connection, queue_name: str, exchanges: list[str], keys: list[str]) -> Queue:
    """A durable queue of ours, bound to each exchange (topic, durable, as the document says)."""
    bindings = [Exchange(name, type="topic", durable=True) for name in exchanges]
    queue = Queue(queue_name, durable=True, auto_delete=False)
    channel = connection.channel()
    queue(channel).declare()
    for exchange in bindings:
        exchange(channel).declare()
        for key in keys:
            queue(channel).bind_to(exchange=exchange, routing_key=key)
    return queue


def validator(catalog: dict) -> Callable[[str, dict], list[str]]:
    try:
        import jsonschema_rs
    except ImportError:  # validation is optional for the example
        return lambda exchange, body: []
    compiled = {key: jsonschema_rs.validator_for(schema) for key, schema in catalog.items()}

    def errors(exchange: str, body: dict) -> list[str]:
        check = compiled.get((exchange, body.get("type")))
        if check is None:
            return [f"unknown event {exchange}/{body.get('type')}"]
        return [error.message for error in check.iter_errors(body)]

    return errors


def events(connection: Connection, queue: Queue, timeout: float = 5.0) -> Iterator[tuple]:
    """(exchange, body) of each message, acked after it is yielded; stops after `timeout`
    seconds without a message."""
    with connection.SimpleQueue(queue) as simple:
        while True:
            try:
                message = simple.get(block=True, timeout=timeout)
            except simple.Empty:
                return
            body = (
                message.payload if isinstance(message.payload, dict) else json.loads(message.body)
            )
            yield message.delivery_info.get("exchange"), body
            message.ack()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--queue", default="example-integrator.enrollment")
    parser.add_argument("--exchange", action="append", help="default: enrollment.events")
    parser.add_argument("--key", action="append", help="routing key (default: #)")
    parser.add_argument("--idle", type=float, default=3600.0, help="stop after idle seconds")
    args = parser.parse_args(argv)
    catalog = load_catalog()
    errors = validator(catalog)
    seen: set[str] = set()
    with Connection(args.amqp) as connection:
        queue = bind(connection, args.queue, args.exchange or ["enrollment.events"],
                     args.key or ["#"])  # fmt: skip
        print(f"bound {args.queue}; waiting for events (Ctrl-C to stop)", flush=True)
        for exchange, body in events(connection, queue, timeout=args.idle):
            repeat = " (repeat, skipped)" if body["event_id"] in seen else ""
            seen.add(body["event_id"])
            problems = errors(exchange, body)
            print(f"{body['occurred_at']} {exchange} {body['type']} v{body['version']}{repeat}"
                  f" {json.dumps(body['data'], ensure_ascii=False)}"
                  + (f"  INVALID: {problems}" if problems else ""), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
