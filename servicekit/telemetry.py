"""What a process tells its operators: every worker's request id in its log lines, one
structured line and the metrics per RPC handled, and (services) a Prometheus endpoint.

`ServiceBase` and the gateway declare `telemetry = Telemetry()`; nothing else is needed:

- the request id is the worker's Nameko context `correlation_id`: the gateway sets it from
  `X-Request-ID` (or makes one) for each HTTP request, Nameko's RPC passes context to the
  callee, `Database` writes it into every event the worker emits, and the outbox relay puts
  it back into the message headers, so the handlers of those events run under it too;
- reliable event handlers report handled / retried / parked through `event_outcome`.
"""

import logging
import time

import eventlet
from eventlet import wsgi
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import make_wsgi_app

from servicekit import config, logs, metrics, tokens

log = logging.getLogger("navigator.telemetry")

_STARTED = "_navigator_started"


def handler_name(worker_ctx) -> str:
    return f"{worker_ctx.service_name}.{worker_ctx.entrypoint.method_name}"


def _request_id_of_event(worker_ctx) -> str | None:
    envelope = worker_ctx.args[0] if worker_ctx.args else None
    return envelope.get("correlation_id") if isinstance(envelope, dict) else None


def metrics_app():
    """`/metrics` for Prometheus; `/healthz` answers while the process and its event loop do
    (the liveness probe: no database or broker involved, so their outage restarts nothing)."""
    prometheus = make_wsgi_app()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        return prometheus(environ, start_response)

    return app


class Telemetry(DependencyProvider):
    """`/metrics` on METRICS_PORT (the gateway's too: not on its API port);
    `http_request_id(request)` decides the request id of an HTTP worker."""

    def __init__(self, serve_metrics: bool = True, http_request_id=None):
        self.serve_metrics = serve_metrics
        self.http_request_id = http_request_id
        self.server = None
        self.socket = None

    def setup(self):
        service = self.container.service_name
        logs.PROCESS["service"] = service
        config.refuse_placeholders()
        tokens.check_keys(service)
        from servicekit.db import Database
        from servicekit.outbox import OutboxRelay

        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                self._database = dependency
            if isinstance(dependency, OutboxRelay):
                self._relay = dependency

    def start(self):
        service = self.container.service_name
        database, relay = getattr(self, "_database", None), getattr(self, "_relay", None)
        if database is not None and database.engine is not None:
            metrics.resources.pools[service] = database.engine
        if relay is not None:
            metrics.resources.outboxes[service] = relay.engine
        port = int(config.env("METRICS_PORT", config.env("PORT", "0")))
        if self.serve_metrics and port:
            host = config.env("METRICS_HOST", "127.0.0.1")
            try:
                # not shared: eventlet.listen would let a second process on the same port take
                # half the scrapes (SO_REUSEPORT), with another process's figures
                self.socket = eventlet.listen((host, port), reuse_port=False)
            except OSError as exc:  # a busy port must not keep the service from working
                log.warning("metrics not served: cannot listen on %s:%s (%s)", host, port, exc)
                return
            log.info("metrics of %s at http://%s:%s/metrics", service, host, port)
            self.server = self.container.spawn_managed_thread(self._serve, identifier="metrics")

    def _serve(self):
        wsgi.server(self.socket, metrics_app(), log_output=False, socket_timeout=10)

    def stop(self):
        service = self.container.service_name
        metrics.resources.pools.pop(service, None)
        metrics.resources.outboxes.pop(service, None)
        if self.server is not None:
            self.server.kill()
            self.server = None
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    kill = stop

    def worker_setup(self, worker_ctx):
        setattr(worker_ctx, _STARTED, time.perf_counter())
        entrypoint = worker_ctx.entrypoint
        if isinstance(entrypoint, HttpRequestHandler) and self.http_request_id is not None:
            worker_ctx.data["correlation_id"] = self.http_request_id(worker_ctx.args[0])
        request_id = worker_ctx.data.get("correlation_id")
        if request_id is None and isinstance(entrypoint, EventHandler):
            request_id = _request_id_of_event(worker_ctx)
        worker_ctx._navigator_log = logs.bind(request_id=request_id)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if isinstance(worker_ctx.entrypoint, Rpc):
            method = worker_ctx.entrypoint.method_name
            seconds = time.perf_counter() - getattr(worker_ctx, _STARTED)
            code = None
            if exc_info is not None:
                code = getattr(exc_info[1], "code", None) or type(exc_info[1]).__name__
            metrics.rpc_handled(method, seconds, code)
            logs.log_fields(
                log,
                logging.INFO if code is None else logging.WARNING,
                f"rpc {method} {'ok' if code is None else code} in {seconds * 1000:.1f} ms",
                kind="rpc",
                method=method,
                outcome="ok" if code is None else "error",
                error_code=code,
                duration_ms=round(seconds * 1000, 2),
            )

    def worker_teardown(self, worker_ctx):
        token = getattr(worker_ctx, "_navigator_log", None)
        if token is not None:
            logs.unbind(token)


def event_outcome(worker_ctx, outcome: str, attempts: int = 0, error: str | None = None) -> None:
    """One line and the counters for an event a reliable handler handled, retried or parked."""
    handler = handler_name(worker_ctx)
    started = getattr(worker_ctx, _STARTED, None)
    seconds = time.perf_counter() - started if started is not None else None
    metrics.event_handled(handler, outcome, seconds)
    envelope = worker_ctx.args[0] if worker_ctx.args else {}
    event_id = envelope.get("event_id") if isinstance(envelope, dict) else None
    event_type = envelope.get("type") if isinstance(envelope, dict) else None
    level = {"handled": logging.INFO, "retried": logging.WARNING}.get(outcome, logging.ERROR)
    logs.log_fields(
        log,
        level,
        f"event {event_type} {outcome} by {handler}",
        kind="event",
        handler=handler,
        outcome=outcome,
        event_id=event_id,
        event_type=event_type,
        attempts=attempts or None,
        error=error,
        duration_ms=round(seconds * 1000, 2) if seconds is not None else None,
    )
