"""Health, liveness, the round-trip probe and the API description."""

import time

from werkzeug.wrappers import Response

from gateway.http import API, route
from gateway.openapi import build_spec, docs_page
from gateway.problems import json_response
from gateway.schemas import HealthSchema, LivenessSchema, PingSchema
from gateway.web import DOCS_CSP, security_headers
from servicekit import config
from servicekit.errors import NavigatorError
from servicekit.rpc import BROKER, broker_down

HEALTH_TIMEOUT = float(config.env("HEALTH_RPC_TIMEOUT", "2"))


_document: dict = {}


def api_document() -> dict:
    # built once per process: routes are fixed at import time
    if not _document:
        _document.update(build_spec())
    return _document


def _down(service: str, why: str) -> dict:
    return {"service": service, "status": "down", "database": None, "broker": None, "error": why}


class SystemRoutes:
    @route(
        "GET",
        "/healthz",
        summary="The gateway process is alive",
        tags=["system"],
        response=LivenessSchema,
        operation_id="getLiveness",
    )
    def liveness(self, call):
        return {"status": "ok"}

    @route(
        "GET",
        f"{API}/health",
        summary="Health of every service behind the gateway",
        tags=["system"],
        response=HealthSchema,
        description="503 when any service is down; each service is asked with a deadline."
        " With the message broker unreachable, 503 at once with `broker: down` and"
        " Retry-After.",
        operation_id="getHealth",
        answers={503: HealthSchema},
    )
    def health(self, call):
        if BROKER.is_down:  # known at once: no service can be asked
            down = broker_down()
            body = {
                "status": "degraded",
                "broker": "down",
                "services": [_down(s, down.message) for s in config.RUNNING_SERVICES],
            }
            retry_after = {"Retry-After": str(down.extra["retry_after"])}
            return json_response(503, HealthSchema().dump(body), headers=retry_after)
        started = time.perf_counter()
        pending = []
        for service in config.RUNNING_SERVICES:
            try:
                pending.append((service, self.rpc.call_async(service, "health")))
            except NavigatorError as error:
                pending.append((service, error))
        report = []
        for service, reply in pending:
            if isinstance(reply, NavigatorError):
                report.append(_down(service, reply.message))
                continue
            try:
                remaining = max(0.05, HEALTH_TIMEOUT - (time.perf_counter() - started))
                answer = self.rpc.wait(service, reply, timeout=remaining)
                answer["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
                report.append(answer)
            except NavigatorError as error:
                report.append(_down(service, error.message))
            except Exception as error:  # noqa: BLE001 - a broken service is just "down"
                report.append(_down(service, type(error).__name__))
        healthy = all(item["status"] == "up" for item in report)
        return (200 if healthy else 503), {
            "status": "ok" if healthy else "degraded",
            "broker": "down" if BROKER.is_down else "up",
            "services": report,
        }

    @route(
        "GET",
        f"{API}/ping",
        summary="Round trip to the catalog service, no database",
        tags=["system"],
        response=PingSchema,
        operation_id="ping",
    )
    def ping(self, call):
        return self.rpc.call("catalog", "ping")

    @route(
        "GET",
        f"{API}/openapi.json",
        summary="This API's OpenAPI 3 document",
        tags=["system"],
        operation_id="getOpenApiDocument",
    )
    def openapi(self, call):
        return api_document()

    @route(
        "GET",
        f"{API}/docs",
        summary="Swagger UI for this API (assets served by the portal's build)",
        tags=["system"],
        operation_id="getApiDocs",
        content_type="text/html",
    )
    def docs(self, call):
        return Response(
            docs_page(api_document()),
            status=200,
            content_type="text/html; charset=utf-8",
            headers=security_headers(DOCS_CSP),
        )
