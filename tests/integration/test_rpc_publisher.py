"""The RPC path's publisher (servicekit.rpc.ChannelPublisher) on the real broker: the messages
published in one turn of the hub share a socket write, and none is lost, cut or mixed."""

import uuid

import eventlet
import pytest
from kombu import Connection

from servicekit import rpc
from servicekit.rpc import ChannelPublisher


@pytest.fixture
def queue(vhost):
    name = f"publisher-test-{uuid.uuid4().hex[:8]}"
    with Connection(vhost) as conn:
        channel = conn.channel()
        channel.queue_declare(name, durable=False, auto_delete=False)
        yield name, channel
        channel.queue_delete(name)


def drain(channel, name: str, expected: int, timeout: float = 10.0) -> list:
    received = []
    deadline = eventlet.hubs.get_hub().clock() + timeout
    while len(received) < expected and eventlet.hubs.get_hub().clock() < deadline:
        message = channel.basic_get(name, no_ack=True)
        if message is None:
            eventlet.sleep(0.02)
        else:
            received.append(message)
    return received


def counting_socket_writes(publisher: ChannelPublisher) -> list[int]:
    """Opens the publisher's connection and counts the bytes of each write to its socket."""
    publisher._open()
    writes = publisher._writes
    real, sizes = writes._write, []

    def write(data):
        sizes.append(len(data))
        real(data)

    writes._write = write
    return sizes


def test_publishes_of_one_turn_share_a_socket_write_and_all_arrive_intact(vhost, queue):
    name, channel = queue
    publisher = ChannelPublisher(vhost)
    sizes = counting_socket_writes(publisher)
    # bodies of many sizes, some larger than a frame, so frames of one message must stay
    # together while others are gathered around them
    bodies = {i: (f"{i}:" + "ж" * (i * 997 % 80_000)).encode() for i in range(200)}

    def publish(i):
        publisher.publish(bodies[i], exchange="", routing_key=name, correlation_id=str(i))
        return i

    pool = eventlet.GreenPool(200)
    assert sorted(pool.imap(publish, range(200))) == list(range(200))
    received = drain(channel, name, 200)
    publisher.close()

    assert len(received) == 200
    assert {m.properties["correlation_id"]: m.body for m in received} == {
        str(i): body for i, body in bodies.items()
    }
    assert len(sizes) < 20  # 200 publishes of one turn: a few writes, not 200


def test_a_publish_returns_once_its_message_is_with_the_broker(vhost, queue):
    name, channel = queue
    publisher = ChannelPublisher(vhost)
    publisher.publish(b"one", exchange="", routing_key=name)
    # no yield to the hub here: had the write still been waiting, nothing would be sent
    assert [m.body for m in drain(channel, name, 1)] == [b"one"]
    publisher.close()


def test_a_broken_connection_is_reopened_and_the_publish_goes_through(vhost, queue):
    name, channel = queue
    publisher = ChannelPublisher(vhost)
    publisher.publish(b"before", exchange="", routing_key=name)
    publisher._connection.connection.transport.sock.close()  # the socket dies under it
    publisher.publish(b"after", exchange="", routing_key=name)
    assert [m.body for m in drain(channel, name, 2)] == [b"before", b"after"]
    publisher.close()


def test_a_failed_write_raises_in_every_publish_it_carried(vhost, queue, monkeypatch):
    name, _ = queue
    flushes = []

    def broken(data):
        flushes.append(len(data))
        raise OSError("connection reset")

    # every connection's socket refuses the write, the reopened one too
    gathered = rpc.GatheredWrites.__init__
    monkeypatch.setattr(rpc.GatheredWrites, "__init__", lambda self, write: gathered(self, broken))
    publisher = ChannelPublisher(vhost)

    def publish(i):
        try:
            publisher.publish(b"x", exchange="", routing_key=name)
        except OSError as exc:
            return str(exc)
        return "published"

    outcomes = list(eventlet.GreenPool(5).imap(publish, range(5)))
    assert outcomes == ["connection reset"] * 5
    assert 2 <= len(flushes) <= 10  # each publish tried twice, in shared writes
