"""How fast the plumbing is: requests/s of a trivial gateway -> service RPC round trip
(`GET /api/v1/ping`) and of the gateway alone (`GET /healthz`), 50 concurrent clients."""

import argparse

from bench.harness import run_wrk, running_system


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_rpc")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with running_system() as base_url:
        run_wrk(base_url, ["/api/v1/ping"], 3, args.connections)  # warm up
        ping = run_wrk(base_url, ["/api/v1/ping"], args.seconds, args.connections)
        alone = run_wrk(base_url, ["/healthz"], args.seconds, args.connections)
    for name, r in (
        ("gateway -> catalog RPC (/api/v1/ping)", ping),
        ("gateway alone (/healthz)", alone),
    ):
        print(
            f"{name:38} {r['rps']:7.0f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms"
            f"  p99 {r['p99']:6.1f} ms  non-2xx {r['non2xx']}"
        )


if __name__ == "__main__":
    main()
