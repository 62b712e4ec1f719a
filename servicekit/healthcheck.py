"""Exit 0 when a service answers its `health` RPC in time: for container health checks.

python -m servicekit.healthcheck catalog
"""

import sys

import eventlet

eventlet.monkey_patch()

from nameko import config as nameko_config  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402

from servicekit import config  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m servicekit.healthcheck SERVICE", file=sys.stderr)
        return 2
    service = argv[0]
    try:
        with nameko_config.patch({"AMQP_URI": config.amqp_uri()}), ClusterRpcClient() as rpc:
            with eventlet.Timeout(config.rpc_timeout()):
                answer = getattr(rpc, service).health()
    except BaseException as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"{service}: down ({type(exc).__name__}: {exc})")
        return 1
    print(f"{service}: {answer['status']}")
    return 0 if answer["status"] == "up" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
