"""Shared by the benchmarks: a running system to measure and wrk to measure it with.

A benchmark uses the system at BENCH_URL when it answers; otherwise it starts one with
honcho on the development databases, in a RabbitMQ virtual host of its own and on port
8100, so that it never disturbs a `make run` on port 8000.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENCH_VHOST = "navigator_bench"


def _healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/api/v1/health", timeout=5).status_code == 200
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
def running_system(port: int = 8100, scale: str = ""):
    """Yields the base URL of a healthy system."""
    given = os.environ.get("BENCH_URL")
    if given:
        if not _healthy(given):
            sys.exit(f"BENCH_URL={given} is not healthy")
        yield given
        return
    base_url = f"http://127.0.0.1:{port}"
    _ensure_vhost(BENCH_VHOST)
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{BENCH_VHOST}"
    env = {
        **os.environ,
        "AMQP_URI": amqp,
        "GATEWAY_ADDRESS": f"127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    subprocess.run(
        [sys.executable, "-m", "servicekit.topology"], env=env, check=True, capture_output=True
    )
    command = [
        str(Path(sys.executable).with_name("honcho")),
        "start",
        "-f",
        str(ROOT / "Procfile"),
    ] + (["-c", scale] if scale else [])
    log = open(ROOT / "var" / "bench-system.log", "wb") if (ROOT / "var").is_dir() else None
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not _healthy(base_url):
            if time.monotonic() > deadline or process.poll() is not None:
                sys.exit("the benchmark's system did not become healthy")
            time.sleep(0.3)
        yield base_url
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    return path


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str, seconds: int = 15, connections: int = 50, threads: int = 2, script: str | None = None
) -> dict:
    """Runs wrk and returns requests/s, latency percentiles (ms) and error counts."""
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    result = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        result[f"p{pct}_ms"] = _ms(*match.groups()) if match else None
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(errors[1]) if errors else 0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    result["socket_errors"] = socket_errors[1] if socket_errors else ""
    result["raw"] = output
    return result
