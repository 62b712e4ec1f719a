"""The event catalog as an AsyncAPI 2.6 document, generated from the marshmallow schemas
that describe each event's `data`, so the document cannot drift from the code.

    python -m servicekit.asyncapi            # writes docs/asyncapi.yaml
    python -m servicekit.asyncapi --check    # exits 1 when docs/asyncapi.yaml is stale

Each service lists its events in a module named in CATALOGS: `EVENTS = [EventSpec(...)]`.
"""

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "asyncapi.yaml"

CATALOGS = (
    "services.accounts.event_schemas",
    "services.catalog.event_schemas",
    "services.enrollment.event_schemas",
    "services.certificates.event_schemas",
    "services.payments.event_schemas",
)


# money in event data: a decimal string with two places (docs/design.md, section 3), never a float
MONEY = {"pattern": r"^\d+\.\d{2}$", "example": "1900.00"}


def money() -> fields.String:
    return fields.String(required=True, metadata=MONEY)


@dataclass(frozen=True)
class EventSpec:
    producer: str  # exchange `<producer>.events`
    type: str  # routing key
    schema: type[Schema]  # of `data`
    summary: str
    version: int = 1


ENVELOPE = {
    "type": "object",
    "required": ["event_id", "type", "version", "occurred_at", "producer", "data"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid", "description": "deduplicate on it"},
        "type": {"type": "string", "description": "the event type = the routing key"},
        "version": {"type": "integer", "minimum": 1},
        "occurred_at": {"type": "string", "format": "date-time", "description": "UTC"},
        "producer": {"type": "string"},
        "correlation_id": {"type": ["string", "null"]},
        "data": {"type": "object"},
    },
}

HOW_TO_BIND = """\
Every service publishes to its own durable topic exchange `<service>.events`; the routing
key is the event type. An integrator declares a durable queue of its own (a name of its
choosing, e.g. `school-system.enrollment`), binds it to the exchange with the routing keys
it needs (`#` for all, or one binding per type), and consumes with manual acks. Bind before
the events you want are published: RabbitMQ drops a message no queue is bound for.
Messages are persistent JSON (`content_type: application/json`, `message_id` = `event_id`).
Delivery is at least once: remember the `event_id`s you processed. Changes are additive;
a breaking change gets a new `version`. `examples/integrator.py` does all this with kombu.
"""


def _nullable_to_json_schema(node):
    """apispec writes OpenAPI 3.0 (`nullable: true`); integrators validate with JSON Schema."""
    if isinstance(node, dict):
        node = {k: _nullable_to_json_schema(v) for k, v in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable_to_json_schema(v) for v in node]
    return node


def data_schema(schema: type[Schema]) -> dict:
    # nested schemas inline (no $ref), so each event's schema stands alone for a validator
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
    spec = APISpec("events", "1", "3.0.3", plugins=[plugin])
    converter = spec.plugins[0].converter
    converted = converter.schema2jsonschema(schema())
    # the contract is additive: a consumer must accept fields it does not know yet
    converted.pop("additionalProperties", None)
    return _nullable_to_json_schema(converted)


def all_events() -> list[EventSpec]:
    events = []
    for module in CATALOGS:
        events.extend(importlib.import_module(module).EVENTS)
    return sorted(events, key=lambda e: (e.producer, e.type))


def document(events: list[EventSpec] | None = None) -> dict:
    events = events if events is not None else all_events()
    channels, messages, schemas = {}, {}, {"Envelope": ENVELOPE}
    for event in events:
        name = f"{event.type}.v{event.version}"
        schemas[f"{name}.data"] = data_schema(event.schema)
        messages[name] = {
            "name": event.type,
            "title": event.type,
            "summary": event.summary,
            "contentType": "application/json",
            "payload": {
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": event.type},
                            "version": {"const": event.version},
                            "producer": {"const": event.producer},
                            "data": {"$ref": f"#/components/schemas/{name}.data"},
                        },
                    },
                ]
            },
            "bindings": {"amqp": {"messageType": event.type, "bindingVersion": "0.2.0"}},
        }
        channels[f"{event.producer}.events/{event.type}"] = {
            "description": f"Routing key `{event.type}` on exchange `{event.producer}.events`.",
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": f"{event.producer}.events",
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                    },
                    "bindingVersion": "0.2.0",
                }
            },
            "subscribe": {
                "operationId": f"on_{event.producer}_{event.type}",
                "summary": event.summary,
                "bindings": {"amqp": {"ack": True, "deliveryMode": 2, "bindingVersion": "0.2.0"}},
                "message": {"$ref": f"#/components/messages/{name}"},
            },
        }
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "Navigator events",
            "version": "1.0.0",
            "description": " ".join(HOW_TO_BIND.split()),
        },
        "servers": {
            "rabbitmq": {
                "url": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ; ask the operator for your virtual host and credentials",
            }
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {
            "messages": messages,
            "schemas": schemas,
            "x-integrator-queue": {
                "description": "How to declare your own queue (AMQP 0-9-1 queue binding)",
                "bindings": {
                    "amqp": {
                        "is": "queue",
                        "queue": {
                            "name": "<your-system>.<purpose>",
                            "durable": True,
                            "exclusive": False,
                            "autoDelete": False,
                        },
                        "bindingVersion": "0.2.0",
                    }
                },
            },
        },
    }


def render(events: list[EventSpec] | None = None) -> str:
    header = "# Generated by `make asyncapi` (python -m servicekit.asyncapi); do not edit.\n"
    body = yaml.safe_dump(document(events), sort_keys=False, allow_unicode=True, width=100)
    return header + body


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.asyncapi")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
