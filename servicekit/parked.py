"""Operator tool for parked events: messages whose handler failed every retry.

    python -m servicekit.parked list                 # what is parked, why, how often tried
    python -m servicekit.parked replay [--event-id ID] [--queue QUEUE]

Replay puts a message back on its handler's queue with its attempt count reset; it is
acked from the parked queue only after the broker confirmed the republish.
"""

import argparse
import json
import sys

from kombu import Connection

from servicekit import config
from servicekit.events import ATTEMPTS_HEADER, ERROR_HEADER, ORIGIN_HEADER, republish
from servicekit.topology import all_handlers


def parked_queue_names() -> list[str]:
    return [f"{binding.queue}.parked" for binding in all_handlers()]


def _drain(channel, queue_name: str):
    """Fetch every message of a queue without acking; closing the channel requeues them."""
    messages = []
    while True:
        message = channel.basic_get(queue_name, no_ack=False)
        if message is None:
            return messages
        messages.append(message)


def _describe(queue_name: str, message) -> dict:
    try:
        body = json.loads(message.body)
    except (ValueError, TypeError):
        body = {}
    headers = message.headers or {}
    return {
        "queue": queue_name,
        "event_id": body.get("event_id") or message.properties.get("message_id"),
        "type": body.get("type"),
        "occurred_at": body.get("occurred_at"),
        "attempts": headers.get(ATTEMPTS_HEADER),
        "error": (headers.get(ERROR_HEADER) or "").strip(),
    }


def list_parked(amqp_uri: str | None = None, queues: list[str] | None = None) -> list[dict]:
    found = []
    with Connection(amqp_uri or config.amqp_uri()) as conn:
        channel = conn.channel()
        for name in queues or parked_queue_names():
            found.extend(_describe(name, m) for m in _drain(channel, name))
        channel.close()  # unacked messages go back to their queues
    return found


def replay(
    amqp_uri: str | None = None, event_id: str | None = None, queues: list[str] | None = None
) -> int:
    uri = amqp_uri or config.amqp_uri()
    replayed = 0
    with Connection(uri) as conn:
        channel = conn.channel()
        for name in queues or parked_queue_names():
            for message in _drain(channel, name):
                if event_id and _describe(name, message)["event_id"] != event_id:
                    continue
                headers = dict(message.headers or {})
                origin = headers.pop(ORIGIN_HEADER, name.removesuffix(".parked"))
                headers.pop(ATTEMPTS_HEADER, None)
                headers.pop(ERROR_HEADER, None)
                republish(uri, message, routing_key=origin, headers=headers)
                channel.basic_ack(message.delivery_tag)
                replayed += 1
        channel.close()
    return replayed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.parked",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list parked events")
    replay_parser = sub.add_parser("replay", help="replay parked events")
    replay_parser.add_argument("--event-id")
    replay_parser.add_argument("--queue", action="append")
    args = parser.parse_args(argv)
    if args.command == "list":
        rows = list_parked()
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        print(f"{len(rows)} parked event(s)", file=sys.stderr)
    else:
        count = replay(event_id=args.event_id, queues=args.queue)
        print(f"replayed {count} event(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
