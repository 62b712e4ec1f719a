"""Shared by the benchmarks: a running system to measure and wrk to measure it with.

A benchmark uses the system at BENCH_URL when it answers; otherwise it starts the processes
of the Procfile on the development databases, in a RabbitMQ virtual host of its own and on
port 8100, so that it never disturbs a `make run` on port 8000.

It starts them itself, each writing to a log file of its own, rather than with honcho as
`make run` does: honcho reads every line a process writes and prints it again with a prefix,
and with the request lines on that cost 0.09 ms of CPU per ping (about 9 % of a ping's CPU,
counted against telemetry in bench.telemetry_overhead). Deployed, no such relay runs in the
services' pods: their output goes to the container runtime.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# BENCH_VHOST and BENCH_PORT let two checkouts benchmark on one machine without meeting.
BENCH_VHOST = os.environ.get("BENCH_VHOST", "navigator_bench")


def _healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/api/v1/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _answers(base_url: str) -> bool:
    try:
        requests.get(f"{base_url}/healthz", timeout=1)
        return True
    except requests.RequestException:
        return False


def _ensure_vhost(name: str) -> None:
    subprocess.run(["rabbitmqctl", "add_vhost", name], capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        capture_output=True,
        check=True,
    )


@contextmanager
def running_system(
    port: int | None = None, scale: str = "", env: dict | None = None, vhost: str | None = None
):
    """Yields the base URL of a healthy system (`env`: extra settings of its processes;
    `vhost`: a RabbitMQ virtual host other than BENCH_VHOST, for two systems at once)."""
    given = os.environ.get("BENCH_URL")
    if given:
        if not _healthy(given):
            sys.exit(f"BENCH_URL={given} is not healthy")
        yield given
        return
    port = port or int(os.environ.get("BENCH_PORT", "8100"))
    base_url = f"http://127.0.0.1:{port}"
    if _answers(base_url):
        sys.exit(f"port {port} is taken by another system; stop it or set BENCH_URL")
    vhost = vhost or BENCH_VHOST
    _ensure_vhost(vhost)
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        **(env or {}),
        "AMQP_URI": amqp,
        "GATEWAY_ADDRESS": f"127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    subprocess.run(
        [sys.executable, "-m", "servicekit.topology"], env=env, check=True, capture_output=True
    )
    log_dir = Path(tempfile.mkdtemp(prefix="bench-system-"))
    processes = []
    for name, command, instance in procfile_processes(scale):
        with open(log_dir / f"{name}.{instance}.log", "wb") as log:  # the child keeps its copy
            processes.append(
                subprocess.Popen(
                    ["/bin/sh", "-c", f"exec {command}"],  # as honcho runs a Procfile line
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        deadline = time.monotonic() + 90
        while not _healthy(base_url):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                sys.exit(f"the benchmark's system did not become healthy; see {log_dir}")
            time.sleep(0.3)
        yield base_url
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # the next benchmark must not find this system still answering on the port
        deadline = time.monotonic() + 30
        while _answers(base_url) and time.monotonic() < deadline:
            time.sleep(0.2)


def procfile_processes(scale: str = "") -> list[tuple[str, str, int]]:
    """(name, command, instance) of every process to start: the Procfile's, one of each, or
    as many as `scale` says (honcho's `-c` form: `catalog=2,enrollment=2`)."""
    counts = dict(part.split("=", 1) for part in scale.split(",") if part)
    processes = []
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = (part.strip() for part in line.split(":", 1))
        for instance in range(1, int(counts.pop(name, 1)) + 1):
            processes.append((name, command, instance))
    if counts:
        sys.exit(f"not in the Procfile: {', '.join(counts)}")
    return processes


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    return path


THREADS = 2

# Each wrk thread takes every THREADS-th path, so no two threads send the same path close
# together; with `count_cache` the gateway's X-Cache answers (hit / miss) are counted.
LUA = """
local paths = {%(paths)s}
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args) counter = id; hits = 0; misses = 0 end
request = function()
  local path = paths[(counter %% #paths) + 1]
  counter = counter + %(threads)d
  return wrk.format("GET", path)
end
%(response)s
function done(summary, latency, requests)
  local h, m = 0, 0
  for _, t in ipairs(threads) do h = h + t:get("hits"); m = m + t:get("misses") end
  io.write(string.format(
    'BENCH {"requests": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f, ' ..
    '"non2xx": %%d, "socket_errors": %%d, "cache_hits": %%d, "cache_misses": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    h, m))
end
"""
COUNT_CACHE = """
function response(status, headers, body)
  local cache = headers["X-Cache"]
  if cache == "hit" then hits = hits + 1 elseif cache == "miss" then misses = misses + 1 end
end
"""


def run_wrk(
    base_url: str,
    paths: list[str],
    seconds: int,
    connections: int = 50,
    count_cache: bool = False,
) -> dict:
    """wrk rotating over `paths`; requests/s and latency percentiles (ms) from wrk itself,
    and with `count_cache` how many answers came from the gateway's memory."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            LUA
            % {
                "paths": ", ".join(json.dumps(p) for p in paths),
                "threads": THREADS,
                "response": COUNT_CACHE if count_cache else "",
            }
        )
    command = [
        wrk_path(), f"-t{THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"
    ]  # fmt: skip
    output = subprocess.run(
        command + ["-s", script.name, base_url], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    result = json.loads(line[6:])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def _cpu_seconds(pid: str) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: str) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as cmd:
        return cmd.read().replace(b"\0", b" ").decode(errors="replace")


def _environ_has(pid: str, needle: bytes) -> bool:
    with open(f"/proc/{pid}/environ", "rb") as environ:
        return needle in environ.read()


def cpu_by_part(parts: dict[str, str]) -> dict[str, float]:
    """CPU seconds used so far by each part of the benchmark's system (Linux /proc): the
    gateway and service processes in BENCH_VHOST, PostgreSQL backends of the service
    databases, and RabbitMQ (shared with everything else on the machine)."""
    totals = dict.fromkeys(list(parts) + ["postgres", "rabbitmq (shared)"], 0.0)
    vhost = f"/{BENCH_VHOST}".encode()
    databases = [os.environ.get(f"{s.upper()}_DATABASE_NAME", f"navigator_{s}") for s in parts]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = _cmdline(pid)
            if cmdline.startswith("postgres: ") and any(f" {d} " in cmdline for d in databases):
                totals["postgres"] += _cpu_seconds(pid)
            elif "beam.smp" in cmdline and "rabbit" in cmdline:
                totals["rabbitmq (shared)"] += _cpu_seconds(pid)
            elif " run " in cmdline and "nameko" in cmdline:
                part = next((p for p, marker in parts.items() if marker in cmdline), None)
                if part is not None and _environ_has(
                    pid, b"AMQP_URI=amqp://guest:guest@127.0.0.1:5672" + vhost + b"\0"
                ):
                    totals[part] += _cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return totals


def deliveries_by_queue(vhost: str = BENCH_VHOST) -> dict[str, int]:
    """Messages delivered so far from each queue of `vhost` (RabbitMQ's management API),
    grouped as nameko names its queues: `rpc to <service>`, `<event> -> <service>`, `rpc
    replies to <caller>`, the rest by name. The difference of two readings is the
    traffic of what ran between them (the statistics lag a few seconds behind)."""
    answer = requests.get(
        f"http://127.0.0.1:15672/api/queues/{requests.utils.quote(vhost, safe='')}",
        params={"columns": "name,message_stats.deliver_get"},
        auth=("guest", "guest"),
        timeout=10,
    )
    answer.raise_for_status()
    totals: dict[str, int] = {}
    for queue in answer.json():
        kind = queue_kind(queue["name"])
        delivered = (queue.get("message_stats") or {}).get("deliver_get", 0)
        totals[kind] = totals.get(kind, 0) + int(delivered)
    return totals


def queue_kind(name: str) -> str:
    """What a queue carries, by nameko's names: `rpc.reply-<caller>-<uuid>`, `rpc-<service>`,
    `evt-<producer>-<event>--<service>.<handler>`; other queues by their name."""
    if name.startswith("rpc.reply-"):
        return f"rpc replies to {name[len('rpc.reply-') :].rsplit('-', 5)[0]}"
    if name.startswith("rpc-"):
        return f"rpc to {name[4:]}"
    if name.startswith("evt-") and "--" in name:
        event, handler = name[4:].split("--", 1)
        return f"{event.split('-', 1)[-1]} -> {handler.split('.', 1)[0]}"
    return name


PARTS = {"gateway": "gateway.service:", "catalog": "services.catalog.service:"}


def measure(base_url: str, paths: list[str], seconds: int, connections: int = 50, **kw) -> dict:
    """run_wrk, plus the CPU milliseconds each part of the system spent per request."""
    before = cpu_by_part(PARTS)
    result = run_wrk(base_url, paths, seconds, connections, **kw)
    after = cpu_by_part(PARTS)
    result["cpu_ms"] = {
        part: (after[part] - before[part]) * 1000 / max(result["requests"], 1) for part in after
    }
    return result


def cpu_line(result: dict) -> str:
    return "CPU ms/request: " + ", ".join(f"{p} {ms:.2f}" for p, ms in result["cpu_ms"].items())
