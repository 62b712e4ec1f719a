"""What every Navigator service class inherits: its database session, its outbox relay, its
telemetry (request ids in logs, structured lines, metrics endpoint) and the `health` RPC."""

import time

from sqlalchemy import text

from servicekit import clock
from servicekit.db import Database
from servicekit.outbox import OutboxRelay
from servicekit.rpc import rpc
from servicekit.telemetry import Telemetry

# a moved business clock is refused in production before anything starts
clock.check_allowed()


class ServiceBase:
    name: str

    db = Database()
    outbox_relay = OutboxRelay()
    telemetry = Telemetry()

    @rpc
    def ping(self) -> dict:
        """The cheapest possible round trip, for monitoring and benchmarks."""
        return {"service": self.name}

    @rpc
    def health(self) -> dict:
        # the request reached us over RabbitMQ, so the broker is reachable
        started = time.perf_counter()
        database = self.db.execute(text("SELECT 1")).scalar() == 1
        return {
            "service": self.name,
            "status": "up" if database else "down",
            "database": database,
            "broker": True,
            "database_ms": round((time.perf_counter() - started) * 1000, 2),
        }
