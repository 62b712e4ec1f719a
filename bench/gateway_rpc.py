"""How fast the plumbing is: requests/s of a trivial gateway → service RPC round trip
(`GET /api/v1/ping`) and of the gateway alone (`GET /healthz`), 50 concurrent clients."""

import argparse

from bench.harness import running_system, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with running_system() as base_url:
        wrk(f"{base_url}/api/v1/ping", seconds=3, connections=args.connections)  # warm up
        ping = wrk(f"{base_url}/api/v1/ping", args.seconds, args.connections)
        alone = wrk(f"{base_url}/healthz", args.seconds, args.connections)
    for name, result in (
        ("gateway -> catalog RPC (/api/v1/ping)", ping),
        ("gateway alone (/healthz)", alone),
    ):
        print(
            f"{name}: {result['requests_per_s']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms, non-2xx {result['non_2xx']}"
        )


if __name__ == "__main__":
    main()
