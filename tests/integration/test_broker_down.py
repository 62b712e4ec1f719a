"""Issue 20 item 6: with RabbitMQ unreachable the gateway answers every API route 503 with
Retry-After within about a second (not 500 after 6-12 s), and /api/v1/health says the broker
is down at once. The broker is cut by a TCP proxy of this test (bench/tcp_proxy.py) between
the gateway and the shared RabbitMQ server, which keeps running for everyone else."""

import re
import subprocess
import sys
import time
from urllib.parse import urlparse, urlunparse

import eventlet
import pytest
import requests
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient

from gateway import http
from servicekit import tokens
from tests.conftest import RUN_ID, own_vhost
from tests.support.system import ROOT, ServiceProcess, base_env, free_port

PASSWORD = "Correct-Horse-42"
# requests that pass validation and need a service: each must answer broker_down
NEEDING_A_SERVICE = [
    ("GET", "/api/v1/ping", None, None),
    ("GET", "/api/v1/catalog/search?q=robot", None, None),
    ("GET", "/api/v1/municipalities", None, None),
    ("POST", "/api/v1/auth/register", None,
     {"email": "down@example.ru", "password": PASSWORD, "full_name": "Родителева Анна Викторовна",
      "consent_personal_data": True}),
    ("POST", "/api/v1/auth/login", None, {"email": "down@example.ru", "password": PASSWORD}),
    ("GET", "/api/v1/me", "parent", None),
    ("GET", "/api/v1/children", "parent", None),
    ("GET", "/api/v1/enrollments", "parent", None),
    ("POST", "/api/v1/enrollments", "parent", {"child_id": 1, "group_id": 1}),
]  # fmt: skip


def token(role: str) -> str:
    claims = {"sub": "1", "role": role, "org": 1, "mun": "krasnoyarsk"}
    return tokens.issue_access_token(claims)


def every_route():
    """Each route of the gateway as a request: a token of a role it admits, 1 (or a uuid) for
    its path parameters, an empty body."""
    import gateway.service  # noqa: F401 - registers the routes

    for spec in http.ROUTES:
        path = re.sub(r"<int[^>]*:\w+>", "1", spec.path)
        path = re.sub(r"<enrollment_id>", "5f0c8f40-8a35-4c8a-9b64-3f1f0b0e2a11", path)
        path = re.sub(r"<\w+>", "krasnoyarsk", path)
        role = spec.roles[0] if spec.roles else None
        yield spec.method, path, role, {} if spec.method in http.MUTATING else None


class Proxy:
    def __init__(self, target: str):
        self.port, self.target, self.process = free_port(), target, None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.tcp_proxy", str(self.port), self.target],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with __import__("socket").create_connection(("127.0.0.1", self.port), 0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the proxy did not start")

    def cut(self):
        self.process.kill()
        self.process.wait()


@pytest.fixture
def gateway_behind_a_proxy(server_urls, databases, tmp_path):
    amqp = urlparse(server_urls["amqp"])
    with own_vhost(server_urls, f"navtest_{RUN_ID}_brokerdown", point_env=False) as uri:
        proxy = Proxy(f"{amqp.hostname}:{amqp.port or 5672}").start()
        through = urlunparse(urlparse(uri)._replace(netloc=f"{amqp.username or 'guest'}:"
                             f"{amqp.password or 'guest'}@127.0.0.1:{proxy.port}"))  # fmt: skip
        port = free_port()
        env = base_env(through, {"GATEWAY_ADDRESS": f"127.0.0.1:{port}", "RPC_TIMEOUT": "5",
                                 "HEALTH_RPC_TIMEOUT": "2", "CALENDAR_SECONDS": "0"})  # fmt: skip
        processes = [
            ServiceProcess("gateway", "gateway.service:GatewayService", env, tmp_path).start(),
            ServiceProcess("catalog", "services.catalog.service:CatalogService", env, tmp_path)
            .start(),
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{base}/api/v1/ping", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, processes[0].log()[-3000:]
                time.sleep(0.3)
            yield base, proxy, processes
        finally:
            for process in processes:
                process.stop()
            if proxy.process.poll() is None:
                proxy.cut()


def timed(base, method, path, role=None, body=None):
    headers = {"Authorization": f"Bearer {token(role)}"} if role else {}
    started = time.monotonic()
    answer = requests.request(method, base + path, json=body, headers=headers, timeout=30)
    return answer, time.monotonic() - started


def test_with_the_broker_cut_every_route_answers_503_with_retry_after_at_once(
    gateway_behind_a_proxy,
):
    base, proxy, processes = gateway_behind_a_proxy
    proxy.cut()
    time.sleep(0.5)  # the gateway's connections see the cut
    for method, path, role, body in NEEDING_A_SERVICE:
        answer, seconds = timed(base, method, path, role, body)
        assert answer.status_code == 503, (path, answer.status_code, answer.text, seconds)
        assert answer.json()["code"] == "broker_down", (path, answer.text)
        assert int(answer.headers["Retry-After"]) >= 1, (path, answer.headers)
        assert seconds < 1.5, (path, seconds)
    health, seconds = timed(base, "GET", "/api/v1/health")
    assert health.status_code == 503
    assert health.json()["broker"] == "down", health.text
    assert int(health.headers["Retry-After"]) >= 1
    assert seconds < 1.5, seconds
    # every route: a refusal that needs no service (validation, role), or broker_down; never a
    # 500, never a wait
    outcomes = {}
    for method, path, role, body in every_route():
        answer, seconds = timed(base, method, path, role, body)
        said = answer.json() if "json" in answer.headers["Content-Type"] else {}
        down = said.get("code") == "broker_down" or said.get("broker") == "down"  # or health
        assert answer.status_code < 500 or down, (method, path, answer.text)
        assert seconds < 1.5, (method, path, seconds)
        outcomes[(method, path)] = answer.status_code
        if answer.status_code == 503:
            assert int(answer.headers["Retry-After"]) >= 1, (path, answer.headers)
    assert sum(1 for status in outcomes.values() if status == 503) >= 30, outcomes
    # the broker is back: so is the gateway, without a restart
    proxy.start()
    deadline = time.monotonic() + 30
    while requests.get(base + "/api/v1/ping", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, processes[0].log()[-3000:]
        time.sleep(0.3)
    health = requests.get(base + "/api/v1/health", timeout=10).json()
    assert health["broker"] == "up", health


def test_a_reply_or_an_ack_the_cut_broker_cannot_take_does_not_kill_the_service(
    server_urls, databases, tmp_path
):
    """A worker finishing while the broker is cut cannot publish its reply, nor an event
    handler ack its event: the reply is lost (its caller answers at the deadline), the event
    comes again, and the service lives on. Either error ended the worker's thread with an
    error, and nameko killed the whole container for it: in the campaign's broker cut
    enrollment, certificates and accounts died."""
    amqp = urlparse(server_urls["amqp"])
    with own_vhost(server_urls, f"navtest_{RUN_ID}_replylost", point_env=False) as uri:
        proxy = Proxy(f"{amqp.hostname}:{amqp.port or 5672}").start()
        through = urlunparse(urlparse(uri)._replace(netloc=f"{amqp.username or 'guest'}:"
                             f"{amqp.password or 'guest'}@127.0.0.1:{proxy.port}"))  # fmt: skip
        env = base_env(through, {"RECORDER_FILE": str(tmp_path / "recorded.txt")})
        service = ServiceProcess(
            "recorder", "tests.support.deadline_service:Recorder", env, tmp_path
        ).start()
        try:
            with ClusterRpcClient(uri=uri) as client:  # straight to the broker, not cut
                deadline = time.monotonic() + 30
                while True:
                    try:
                        client.recorder.slow.call_async(0).result()
                        break
                    except Exception:  # noqa: BLE001 - not consuming yet
                        assert time.monotonic() < deadline, service.log()[-3000:]
                        time.sleep(0.3)
                client.recorder.slow.call_async(1.0)  # its reply will find the broker cut
                dispatch = event_dispatcher(uri=uri)
                dispatch("ticker", "tick", 1.0)  # and its handler's ack too
                time.sleep(0.5)
                proxy.cut()
                time.sleep(1.5)  # the worker finished and failed to reply
                proxy.start()
                time.sleep(3)
                assert service.process.poll() is None, service.log()[-3000:]
                deadline = time.monotonic() + 30
                while True:  # it reconnects and answers
                    reply = client.recorder.slow.call_async(0)
                    with eventlet.Timeout(5, False):
                        assert reply.result() == 0
                        break
                    assert time.monotonic() < deadline, service.log()[-3000:]
            assert "thread exited with error" not in service.log()
        finally:
            service.stop()
            proxy.cut()
