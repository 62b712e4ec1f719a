"""Finding PostgreSQL and RabbitMQ for the tests: the running servers at DATABASE_URL /
AMQP_URI, or, where they are not reachable and a Docker engine is, testcontainers."""

import os
import socket
from urllib.parse import urlparse

from servicekit import config

HINT = (
    "Start them: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` and "
    "`rabbitmq-server -detached && rabbitmq-plugins enable rabbitmq_management`, or point "
    "DATABASE_URL / AMQP_URI / RABBIT_API_URI at running servers."
)


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False


def docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all "no"
        return False


def start_containers() -> list:
    """Start PostgreSQL and RabbitMQ (with management) containers and point the env at them."""
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    postgres = PostgresContainer(
        "postgres:15", username="postgres", password="postgres", driver=None
    ).start()
    rabbit = RabbitMqContainer("rabbitmq:3-management").with_exposed_ports(5672, 15672).start()
    os.environ["DATABASE_URL"] = (
        f"postgresql://postgres:postgres@{postgres.get_container_host_ip()}:"
        f"{postgres.get_exposed_port(5432)}"
    )
    host = rabbit.get_container_host_ip()
    os.environ["AMQP_URI"] = f"amqp://guest:guest@{host}:{rabbit.get_exposed_port(5672)}/"
    os.environ["RABBIT_API_URI"] = f"http://guest:guest@{host}:{rabbit.get_exposed_port(15672)}"
    return [postgres, rabbit]


def rabbit_api_uri() -> str:
    return config.env("RABBIT_API_URI", "http://guest:guest@127.0.0.1:15672")
