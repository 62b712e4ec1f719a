"""What telemetry costs the gateway: requests/s with metrics and JSON request lines on (as
deployed: LOG_LEVEL=INFO, LOG_FORMAT=json, METRICS_ENABLED=true) against off (no request
lines, LOG_LEVEL=WARNING, METRICS_ENABLED=false), alternating systems to spread the noise of
a shared machine. The target is "on" within 10 % of "off"."""

import argparse

from bench.harness import run_wrk, running_system

ON = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "METRICS_ENABLED": "true"}
OFF = {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "text", "METRICS_ENABLED": "false"}
PATHS = {"ping": "/api/v1/ping", "healthz": "/healthz"}


def measure(env: dict, seconds: int, connections: int) -> dict[str, float]:
    with running_system(env=env) as base_url:
        run_wrk(base_url, [PATHS["ping"]], 3, connections)  # warm up
        return {
            name: run_wrk(base_url, [path], seconds, connections)["rps"]
            for name, path in PATHS.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry_overhead")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    totals = {"on": dict.fromkeys(PATHS, 0.0), "off": dict.fromkeys(PATHS, 0.0)}
    for _ in range(args.rounds):
        for mode, env in (("off", OFF), ("on", ON)):
            for name, rps in measure(env, args.seconds, args.connections).items():
                totals[mode][name] += rps / args.rounds
    for name, path in PATHS.items():
        on, off = totals["on"][name], totals["off"][name]
        print(
            f"telemetry on/off {path:14} on {on:6.0f} req/s  off {off:6.0f} req/s  "
            f"ratio {on / off:.2f}  ({'within' if on >= 0.9 * off else 'OUTSIDE'} 10 %)"
        )


if __name__ == "__main__":
    main()
