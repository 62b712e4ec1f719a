"""What telemetry costs the gateway: requests/s with metrics and JSON request lines on (as
deployed: LOG_LEVEL=INFO, LOG_FORMAT=json, METRICS_ENABLED=true) against off (no request
lines, LOG_LEVEL=WARNING, METRICS_ENABLED=false), alternating systems to spread the noise of
a shared machine. The target is "on" within 10 % of "off".

Throughput on a busy machine swings more than 10 % from run to run, so it also prints the
gateway process's CPU time per request (user + system, from /proc), which the neighbours
disturb less."""

import argparse
import os
from pathlib import Path

from bench.harness import run_wrk, running_system

ON = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "METRICS_ENABLED": "true"}
OFF = {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "text", "METRICS_ENABLED": "false"}
PATHS = {"ping": "/api/v1/ping", "healthz": "/healthz"}
TICKS = os.sysconf("SC_CLK_TCK")


def gateway_pid(port: int) -> int | None:
    """The gateway process serving `port` (a grandchild of honcho)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if command.split(b"\0")[0].endswith(b"sh"):
            continue  # honcho's `sh -c` around it
        if b"gateway.service:GatewayService" in command and (
            f"GATEWAY_ADDRESS=127.0.0.1:{port}".encode() in environ.split(b"\0")
        ):
            return int(proc.name)
    return None


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure(env: dict, seconds: int, connections: int) -> dict[str, tuple[float, float]]:
    with running_system(env=env) as base_url:
        pid = gateway_pid(int(base_url.rsplit(":", 1)[1]))
        run_wrk(base_url, [PATHS["ping"]], 3, connections)  # warm up
        results = {}
        for name, path in PATHS.items():
            before = cpu_seconds(pid)
            result = run_wrk(base_url, [path], seconds, connections)
            used = cpu_seconds(pid) - before
            results[name] = (result["rps"], used / result["requests"] * 1e6)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry_overhead")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    rps = {"on": dict.fromkeys(PATHS, 0.0), "off": dict.fromkeys(PATHS, 0.0)}
    cpu = {"on": dict.fromkeys(PATHS, 0.0), "off": dict.fromkeys(PATHS, 0.0)}
    for _ in range(args.rounds):
        for mode, env in (("off", OFF), ("on", ON)):
            for name, (rate, micros) in measure(env, args.seconds, args.connections).items():
                rps[mode][name] += rate / args.rounds
                cpu[mode][name] += micros / args.rounds
    for name, path in PATHS.items():
        on, off = rps["on"][name], rps["off"][name]
        print(
            f"telemetry on/off {path:13} on {on:6.0f} req/s  off {off:6.0f} req/s  "
            f"ratio {on / off:.2f} ({'within' if on >= 0.9 * off else 'OUTSIDE'} 10 %); "
            f"gateway CPU per request on {cpu['on'][name]:4.0f} us  off {cpu['off'][name]:4.0f} us"
            f"  ratio {cpu['off'][name] / cpu['on'][name]:.2f}"
        )


if __name__ == "__main__":
    main()
