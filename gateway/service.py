"""The HTTP API for web and mobile clients: the only way in from outside."""

from gateway.idempotency import IdempotencyStore
from gateway.routes.system import SystemRoutes
from servicekit.rpc import TimedClusterRpc


class GatewayService(SystemRoutes):
    name = "gateway"

    rpc = TimedClusterRpc()
    idempotency = IdempotencyStore()
