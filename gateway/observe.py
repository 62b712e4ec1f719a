"""The gateway's side of telemetry: which request id a request runs under, and the one log
line and the metrics of every answered request."""

import logging
import re
import time
import uuid

from werkzeug.wrappers import Request, Response

from gateway.proxies import is_trusted, trusted_proxies
from servicekit import logs, metrics

log = logging.getLogger("navigator.http")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CONVERTER = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")


def request_id_of(request: Request) -> str:
    """A proxy of ours (TRUSTED_PROXIES) may hand its request id on; anyone else's is ignored
    (a client must not pick the id under which its request is logged), and a new one is made."""
    offered = request.headers.get(REQUEST_ID_HEADER)
    if (
        offered
        and _VALID_ID.fullmatch(offered)
        and is_trusted(request.remote_addr, trusted_proxies())
    ):
        return offered
    return uuid.uuid4().hex


def route_template(path: str) -> str:
    """`/children/<int(min=1,max=9):child_id>` -> `/children/{child_id}`: a bounded label."""
    return _CONVERTER.sub(r"{\1}", path)


# the route label of a request no route took (unknown path, or refused before routing)
UNMATCHED = "(unmatched)"
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def method_label(method: str | None) -> str:
    """A client's method as a bounded label: the known ones, else OTHER."""
    return method if method in _METHODS else "OTHER"


def record(method: str, template: str, status: int, seconds: float) -> None:
    """The request's line and its metrics (under the request id bound to the context)."""
    metrics.http_request(method, template, status, seconds)
    logs.log_fields(
        log,
        logging.INFO if status < 500 else logging.ERROR,
        f"{method} {template} {status} in {seconds * 1000:.1f} ms",
        known_safe=True,  # a bounded method and template, a status and a duration
        kind="http",
        method=method,
        route=template,
        status=status,
        duration_ms=round(seconds * 1000, 2),
        role=logs.current("role") or "anonymous",
    )


def answered(method: str, template: str, response: Response, started: float) -> Response:
    """Stamp the request id on the response, write the request's line, count it."""
    seconds = time.perf_counter() - started
    request_id = logs.current_request_id()
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    record(method, template, response.status_code, seconds)
    return response


def answered_without_route(request: Request, template: str, make_response, started: float):
    """An answer the server gives before any route's worker runs (unknown path 404, wrong
    method 405, a body refused with 408, 413 or 400): under a request id of its own, as a
    route's answer is, with the header, `request_id` in the problem body, the line and the
    metrics."""
    token = logs.bind(request_id=request_id_of(request))
    try:
        return answered(method_label(request.method), template, make_response(), started)
    finally:
        logs.unbind(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
