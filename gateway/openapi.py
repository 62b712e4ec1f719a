"""The OpenAPI 3 document, generated from the routes' marshmallow schemas, and a docs page."""

import html
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.http import MUTATING, ROUTES, ProblemSchema, RouteSpec

_CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
# The project has no licence file yet: the document says so rather than name one.
LICENSE = {"name": "Proprietary: all rights reserved"}
# Relative: the document is served by the gateway (or nginx in front of it) it describes.
SERVERS = [{"url": "/", "description": "The gateway that serves this document"}]
ERROR_TEXT = {
    400: "Malformed request",
    401: "Missing or invalid token",
    403: "Role may not do this",
    404: "Not found (or not yours)",
    409: "Conflicts with the current state",
    422: "Invalid input, with field messages",
    429: "Too many requests",
    500: "Internal error",
    503: "A service behind the gateway is down or slow",
}


def openapi_path(path: str) -> tuple[str, list[dict]]:
    params = []

    def replace(match):
        converter, name = match.group(1) or "string", match.group(2)
        schema = (
            {"type": "integer", "minimum": 1, "maximum": 2147483647}
            if converter == "int"
            else {"type": "string", "maxLength": 100}
        )
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, path), params


def answered_errors(spec: RouteSpec, path_params: list[dict]) -> set[int]:
    """The error statuses a route can answer, from how it is declared (besides 500): not the
    same ten for every route. What the wrapper (http.py) itself answers follows from the
    route's shape; what the domain answers is the route's own `errors`."""
    # every route but the probes waits on a service; every route refuses a query parameter
    # it does not know (http.load_query), malformed JSON or a bad Idempotency-Key with 400
    statuses = {400, 503} | set(spec.errors)
    mutating = spec.method in MUTATING
    if spec.query or spec.body or mutating or path_params:
        # field messages (a path parameter too: control characters, overlong text, as
        # http.py checks every one); a change a rule of the domain refuses
        statuses.add(422)
    if spec.roles:
        statuses |= {401, 403}  # a public route treats a bad token as anonymous
    if path_params or spec.body:
        statuses.add(404)  # the path's or the body's id: missing, or not the caller's
    if mutating:
        statuses.add(409)  # the state forbids it; or its Idempotency-Key is still running
    return statuses


def _operation(spec: RouteSpec, path_params: list[dict]) -> dict:
    parameters = list(path_params)
    if spec.query is not None:
        parameters.append({"in": "query", "schema": spec.query})
    if spec.method in MUTATING and spec.idempotent:
        parameters.append(
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "A repeat with the same key returns the first result",
            }
        )
    problem = {"content": {"application/problem+json": {"schema": "Problem"}}}
    success: dict = {"description": "OK"}
    if spec.content_type != "application/json":
        success["content"] = {spec.content_type: {"schema": {"type": "string"}}}
    elif spec.response is not None:
        success["content"] = {"application/json": {"schema": spec.response}}
    elif spec.status != 204:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses = {str(spec.status): success, "500": {"description": ERROR_TEXT[500], **problem}}
    for status, schema in (spec.answers or {}).items():
        responses[str(status)] = {
            "description": ERROR_TEXT.get(status, "Answer"),
            "content": {"application/json": {"schema": schema}},
        }
    statuses = answered_errors(spec, path_params)
    for status in sorted(statuses):
        if str(status) not in responses:
            responses[str(status)] = {"description": ERROR_TEXT.get(status, "Error"), **problem}
    operation = {
        "summary": spec.summary,
        "tags": spec.tags,
        "parameters": parameters,
        "responses": responses,
        "operationId": spec.operation_id,
        # a public route says so: no token needed (and a bad one is treated as none)
        "security": [{"bearerAuth": []}] if spec.roles else [],
    }
    if spec.description:
        operation["description"] = spec.description
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": spec.body}},
        }
    if spec.roles:
        operation["description"] = (
            operation.get("description", "") + f"\n\nRoles: {', '.join(spec.roles)}."
        ).strip()
    return operation


def build_spec() -> dict:
    spec = APISpec(
        title="Navigator API",
        version="1.0.0",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Regional portal of additional education for children. "
            'Money is a decimal string with two places ("1900.00").',
            "license": LICENSE,
        },
        servers=SERVERS,
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    paths: dict[str, dict] = {}
    for route in ROUTES:
        path, params = openapi_path(route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, params)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def docs_page(document: dict) -> str:
    """A self-contained page (no CDN): every operation with its parameters and schemas."""
    rows = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            params = ", ".join(p.get("name", "query") for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            rows.append(
                f"<tr><td class=m>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}"
                f"<div class=d>{html.escape(op.get('description', ''))}</div></td>"
                f"<td>{html.escape(params)}</td><td>{html.escape(ref)}</td>"
                f"<td>{', '.join(sorted(op['responses']))}</td></tr>"
            )
    schemas = "".join(
        f"<details><summary>{html.escape(name)}</summary><ul>"
        + "".join(
            f"<li><code>{html.escape(f)}</code>: {html.escape(str(s.get('type', s)))}</li>"
            for f, s in schema.get("properties", {}).items()
        )
        + "</ul></details>"
        for name, schema in document.get("components", {}).get("schemas", {}).items()
    )
    table = f"""<h1>Navigator API {html.escape(document["info"]["version"])}</h1>
<p>{html.escape(document["info"].get("description", ""))}
Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>
<table><tr><th>Method</th><th>Path</th><th>What</th><th>Parameters</th><th>Body</th>
<th>Statuses</th></tr>{"".join(rows)}</table><h2>Schemas</h2>{schemas}"""
    # Swagger UI from the portal's build (web/dist/swagger: swagger-ui-dist's files, copied
    # at build, no CDN); its start is a file too, as the CSP allows no inline script. Without
    # JavaScript, or before the portal is built, the table above is the page.
    return f"""<!doctype html><html lang=en><meta charset=utf-8>
<title>Navigator API</title>
<link rel=stylesheet href="/swagger/swagger-ui.css">
<div id=swagger-ui></div>
<noscript>{table}</noscript>
<script src="/swagger/swagger-ui-bundle.js"></script>
<script src="/swagger/init.js"></script>
</html>"""
