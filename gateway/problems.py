"""Every error the gateway answers is `application/problem+json` (RFC 9457) with a stable
`code`: from a route, from routing (404, 405), and from the HTTP server itself (408, 413,
414, 431, 400) before any route runs."""

import json

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from servicekit import logs
from servicekit.errors import NavigatorError

JSON = "application/json"
PROBLEM = "application/problem+json"


def json_response(status: int, payload, content_type=JSON, headers=None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type=content_type,
        headers=headers,
    )


def problem_body(status: int, title: str, code: str, fields: dict | None = None) -> dict:
    body = {"type": "about:blank", "title": title, "status": status, "code": code}
    if fields:
        body["fields"] = fields
    request_id = logs.current_request_id()  # what to quote when reporting the problem
    if request_id:
        body["request_id"] = request_id
    return body


def problem(error: NavigatorError, headers: dict | None = None) -> Response:
    body = problem_body(error.status, error.message, error.code, error.fields)
    headers = dict(headers or {})
    if "enrollment_id" in error.extra:  # the application a refusal names (already_applied)
        body["enrollment_id"] = str(error.extra["enrollment_id"])
    if "retry_after" in error.extra:
        body["retry_after"] = int(error.extra["retry_after"])
        headers["Retry-After"] = str(body["retry_after"])
    return json_response(error.status, body, PROBLEM, headers)


# werkzeug's routing and request errors, in the project's words
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    414: "uri_too_long",
    431: "headers_too_large",
}


def from_http_exception(exc: HTTPException) -> Response:
    """werkzeug's HTML error page (NotFound, MethodNotAllowed...) as problem+json."""
    status = exc.code or 500
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    body = problem_body(status, exc.name, _HTTP_CODES.get(status, "http_error"))
    return json_response(status, body, PROBLEM, headers)


def raw_problem(status: int, reason: str, title: str, code: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection: for the server, which answers
    before any WSGI application could (a request line or headers it refuses)."""
    payload = problem_body(status, title, code)
    body = json.dumps(payload).encode()
    request_id = payload.get("request_id")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Content-Type: {PROBLEM}\r\n"
        f"Content-Length: {len(body)}\r\n"
        + (f"X-Request-ID: {request_id}\r\n" if request_id else "")
        + "Connection: close\r\n\r\n"
    )
    return head.encode() + body
