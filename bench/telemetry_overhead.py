"""What telemetry costs the gateway: requests/s with metrics and JSON request lines on (as
deployed: LOG_LEVEL=INFO, LOG_FORMAT=json, METRICS_ENABLED=true) against off (no request
lines, LOG_LEVEL=WARNING, METRICS_ENABLED=false). The target is "on" within 10 % of "off".

Both systems run at once (ports BENCH_PORT and BENCH_PORT+1, virtual hosts of their own) and
wrk alternates between them in short runs, the first of each pair taking turns, so a
neighbour's burst on a shared machine falls on both; the ratio printed is the median of the
rounds' ratios, with their range. Throughput on a busy machine still swings, so it also
prints the gateway process's CPU time per request (user + system, from /proc), which the
neighbours disturb less."""

import argparse
import os
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

from bench.harness import BENCH_VHOST, run_wrk, running_system

ON = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json", "METRICS_ENABLED": "true"}
OFF = {"LOG_LEVEL": "WARNING", "LOG_FORMAT": "text", "METRICS_ENABLED": "false"}
PATHS = {"ping": "/api/v1/ping", "healthz": "/healthz"}
TICKS = os.sysconf("SC_CLK_TCK")


def gateway_pid(port: int) -> int | None:
    """The gateway process serving `port`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
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


def measure(base_url: str, pid: int | None, path: str, seconds: int, connections: int):
    """requests/s and the gateway's CPU microseconds per request."""
    before = cpu_seconds(pid)
    result = run_wrk(base_url, [path], seconds, connections)
    return result["rps"], (cpu_seconds(pid) - before) / max(result["requests"], 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry_overhead")
    parser.add_argument("--seconds", type=int, default=5, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if os.environ.get("BENCH_URL"):
        sys.exit("the telemetry benchmark starts its two systems itself; unset BENCH_URL")
    port = int(os.environ.get("BENCH_PORT", "8100"))
    with ExitStack() as stack:
        urls, pids = {}, {}
        for offset, (mode, env) in enumerate((("off", OFF), ("on", ON))):
            urls[mode] = stack.enter_context(
                running_system(port=port + offset, env=env, vhost=f"{BENCH_VHOST}_{mode}")
            )
            pids[mode] = gateway_pid(port + offset)
        for mode in urls:
            run_wrk(urls[mode], [PATHS["ping"]], 3, args.connections)  # warm up
        rates = {name: {"on": [], "off": []} for name in PATHS}
        cpus = {name: {"on": [], "off": []} for name in PATHS}
        for number in range(args.rounds):
            for name, path in PATHS.items():
                order = ("off", "on") if number % 2 == 0 else ("on", "off")
                for mode in order:
                    rate, micros = measure(
                        urls[mode], pids[mode], path, args.seconds, args.connections
                    )
                    rates[name][mode].append(rate)
                    cpus[name][mode].append(micros)
    for name, path in PATHS.items():
        ratios = [on / off for on, off in zip(rates[name]["on"], rates[name]["off"], strict=True)]
        cpu_ratios = [off / on for on, off in zip(cpus[name]["on"], cpus[name]["off"], strict=True)]
        ratio = statistics.median(ratios)
        print(
            f"telemetry on/off {path:13} on {statistics.median(rates[name]['on']):6.0f} req/s  "
            f"off {statistics.median(rates[name]['off']):6.0f} req/s  ratio {ratio:.2f} "
            f"(rounds {min(ratios):.2f}-{max(ratios):.2f}; "
            f"{'within' if ratio >= 0.9 else 'OUTSIDE'} 10 %); gateway CPU per request "
            f"on {statistics.median(cpus[name]['on']):4.0f} us  "
            f"off {statistics.median(cpus[name]['off']):4.0f} us  "
            f"ratio {statistics.median(cpu_ratios):.2f}"
        )


if __name__ == "__main__":
    main()
