"""Runs services as real processes (`nameko run`), as `make run` does, for end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from servicekit import config

ROOT = Path(__file__).resolve().parents[2]
NAMEKO = str(Path(sys.executable).with_name("nameko"))

# every service's Nameko class (servicekit.config's table, which `make run`'s tools read too)
# and the gateway's
PROCESSES = {**config.SERVICE_CLASSES, "gateway": "gateway.service:GatewayService"}


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before in this run: the system's processes bind
    theirs later, so the kernel could offer a port twice in the meantime (two processes then
    listened on one metrics port, and a scrape got the other's figures)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class ServiceProcess:
    def __init__(self, name: str, target: str, env: dict, log_dir: Path):
        self.name, self.target = name, target
        # each process serves its Prometheus metrics on a port of its own (the gateway: /metrics)
        self.metrics_port = free_port()
        self.env = {**env, "METRICS_PORT": str(self.metrics_port)}
        self.log_path = log_dir / f"{name}.log"
        self.process = None

    def start(self, extra_env: dict | None = None):
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [NAMEKO, "run", "--config", str(ROOT / "deploy" / "nameko.yaml"), self.target],
            cwd=ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def stop(self, timeout: float = 10):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_exit(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def base_env(amqp_uri: str, extra: dict | None = None) -> dict:
    env = {key: value for key, value in os.environ.items()}
    env.update(
        {
            "AMQP_URI": amqp_uri,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(extra or {})
    return env


class RunningSystem:
    """All four services and the gateway on a free port, on the test databases and vhost."""

    def __init__(self, amqp_uri: str, log_dir: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = base_env(amqp_uri, {"GATEWAY_ADDRESS": f"127.0.0.1:{self.port}", **(extra_env or {})})
        self.processes = {
            name: ServiceProcess(name, target, env, log_dir) for name, target in PROCESSES.items()
        }

    def start(self, timeout: float = 60):
        for process in self.processes.values():
            process.start()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = requests.get(f"{self.base_url}/api/v1/health", timeout=5)
                if last.status_code == 200:
                    return last.json()
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.3)
        logs = "\n".join(f"--- {p.name}\n{p.log()[-2000:]}" for p in self.processes.values())
        raise AssertionError(f"system not healthy in {timeout}s: {last}\n{logs}")

    def stop(self):
        for process in self.processes.values():
            process.stop()
