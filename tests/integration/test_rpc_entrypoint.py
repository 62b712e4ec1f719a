"""How a service takes an RPC request (servicekit.rpc patches nameko's `Rpc` entrypoint): a
free worker is started straight from the consumer, a request waits when every worker is busy,
and a call's arguments are still checked, whatever shapes came before it."""

import json

import eventlet
import pytest
from eventlet.event import Event
from kombu import Connection
from nameko import config as nameko_settings
from nameko.exceptions import IncorrectSignature
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcClient

import servicekit.rpc  # noqa: F401 - what is tested: its patches of nameko's entrypoint
from tests.support.containers import settled_count

running: list[int] = []
release = Event()


class Greeter:
    name = "greeter"

    @rpc
    def greet(self, name, greeting="hello"):
        return f"{greeting} {name}"

    @rpc
    def hold(self, number):
        running.append(number)
        release.wait()
        return number


def test_arguments_are_checked_on_every_call_of_a_shape_that_does_not_fit(
    nameko_config, container_factory
):
    container_factory(Greeter).start()
    with ClusterRpcClient() as client:
        assert client.greeter.greet("Ann") == "hello Ann"
        assert client.greeter.greet("Ann", greeting="hi") == "hi Ann"
        for _ in range(2):  # a shape refused once is refused again, not remembered as fitting
            with pytest.raises(IncorrectSignature):
                client.greeter.greet()
            with pytest.raises(IncorrectSignature):
                client.greeter.greet("Ann", tone="warm")
            with pytest.raises(IncorrectSignature):
                client.greeter.greet("Ann", "hi", "there")
        assert client.greeter.greet(name="Bob") == "hello Bob"  # a new shape that fits


def test_a_request_without_arguments_is_refused_as_malformed(
    nameko_config, container_factory, vhost
):
    container_factory(Greeter).start()
    with Connection(vhost) as conn:
        channel = conn.channel()
        replies = channel.queue_declare("", exclusive=True).queue
        channel.queue_bind(replies, "nameko-rpc", routing_key=replies)  # replies go there
        producer = conn.Producer(channel)
        for number, body in enumerate(({"kwargs": {}}, {"args": ["Ann"], "kwargs": {}})):
            producer.publish(
                body,
                exchange="nameko-rpc",
                routing_key="greeter.greet",
                reply_to=replies,
                correlation_id=str(number),
                serializer="json",
            )
        answers = {}
        with eventlet.Timeout(10):
            while len(answers) < 2:
                message = channel.basic_get(replies, no_ack=True)
                if message is None:
                    eventlet.sleep(0.02)
                else:
                    answers[message.properties["correlation_id"]] = json.loads(message.body)
    assert answers["0"]["result"] is None
    assert answers["0"]["error"]["exc_type"] == "MalformedRequest"
    assert answers["1"] == {"result": "hello Ann", "error": None}


def test_requests_beyond_the_free_workers_wait_for_one_and_are_all_answered(
    nameko_config, container_factory
):
    global release
    running.clear()
    release = Event()
    with nameko_settings.patch({"max_workers": 3}):
        container = container_factory(Greeter)
    container.start()
    with ClusterRpcClient() as client:
        replies = [client.greeter.hold.call_async(n) for n in range(8)]
        assert settled_count(running, 3) == 3  # the other five wait for a worker
        release.send(True)
        assert sorted(reply.result() for reply in replies) == list(range(8))
    assert sorted(running) == list(range(8))
