"""How every gateway route is declared and run, in one place.

`@route(...)` registers a Nameko HTTP entrypoint (on the gateway's own server, server.py:
deadlines, bodies read before a worker is taken) and the route's OpenAPI description from the
same marshmallow schemas that validate it, made strict (fields.py). Around each handler it
authenticates the bearer token and checks the caller's role (a public route treats a bad token
as anonymous), validates path, query and body (unknown query parameters 400; text and depth checked
by input.py; 422 with field messages), applies Idempotency-Key to mutating requests, dumps
the answer through the response schema, and turns every error into
`application/problem+json` with a stable `code` (problems.py).
"""

import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps

import jwt
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from werkzeug.wrappers import Request, Response

from contracts.principal import Principal
from contracts.roles import ROLES
from gateway import observe
from gateway.cache import request_key, shared_answers
from gateway.fields import make_strict
from gateway.idempotency import check_key, operation_id, request_fingerprint
from gateway.input import TITLE, check_text, json_text_faults
from gateway.problems import JSON, json_response, problem
from gateway.server import gateway_http as http
from servicekit import logs, metrics, tokens
from servicekit.errors import (
    BadRequest,
    Forbidden,
    InvalidInput,
    NavigatorError,
    NotFound,
    Unauthorized,
    invalid_from_marshmallow,
)
from servicekit.pages import page_schema

log = logging.getLogger(__name__)

API = "/api/v1"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
ANY_ROLE = ROLES


@dataclass
class Call:
    request: Request
    principal: Principal | None
    query: dict
    body: dict | None
    # the operation's identity on an `operation_keyed` route sent with an Idempotency-Key
    operation: str | None = None


@dataclass
class RouteSpec:
    method: str
    path: str
    summary: str
    tags: list[str]
    roles: tuple[str, ...] | None
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: Schema | type[Schema] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""
    # False for answers that must not be stored, e.g. tokens: Idempotency-Key is ignored
    idempotent: bool = True
    # True for GET answers that are the same for every caller: kept a few seconds (cache.py)
    shared: bool = False
    # a hand-written equivalent of `response`'s dump for a hot route (tested equal to it)
    dump: Callable | None = None
    # the client's method name (listGroupLessons); by default the handler's name, camelCased
    operation_id: str = ""
    # other statuses answered with a body of their own (not problem+json): {503: Schema}
    answers: dict | None = None
    # what a success carries when it is not JSON (text/csv, text/html)
    content_type: str = "application/json"
    # True when the service keys the operation by `call.operation` (it answers a repeat with
    # the first outcome itself): a repeat runs again after a 5xx or a crashed gateway, never
    # waits out a claim in progress
    operation_keyed: bool = False


ROUTES: list[RouteSpec] = []


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    code = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields")
    retry_after = fields.Integer()
    enrollment_id = fields.String(
        metadata={"description": "The existing application a 409 `already_applied` names"}
    )
    request_id = fields.String(metadata={"description": "Quote it when reporting a problem"})


class PageQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


_pages: dict[str, type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The one pagination shape of every list: items, total, limit, offset."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    if name not in _pages:  # one schema of a name, for the OpenAPI document's components
        _pages[name] = page_schema(item)
    return _pages[name]


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class VerifiedTokens:
    """The callers of access tokens already verified, until each token's own expiry: a
    parent's portal sends one token with every call for its lifetime (15 min), and checking
    its Ed25519 signature again each time cost about 0.2 ms of the gateway's CPU per request.
    Bounded by entries, the least recently used go first; only a verified token is kept (a
    forged one differs in its signature, so in its key here, and is verified and refused each
    time). An entry answers only while the token is unexpired by the wall clock PyJWT reads,
    and only for the public key it was verified with."""

    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self.entries: OrderedDict[str, tuple[float, str, Principal]] = OrderedDict()
        self.wall = time.time  # PyJWT's clock for `exp` (a test moves it)

    def principal(self, token: str) -> Principal:
        key = tokens.public_key()
        entry = self.entries.get(token)
        if entry is not None:
            expires, verified_with, principal = entry
            if verified_with == key and self.wall() < expires:
                self.entries.move_to_end(token)
                return principal
            del self.entries[token]
        try:
            claims = tokens.verify_access_token(token, key)
            principal = Principal(
                user_id=int(claims["sub"]),
                role=str(claims["role"]),
                organization_id=claims.get("org"),
                municipality_code=claims.get("mun"),
                email_verified=not claims.get("unv", False),
            )
            expires = float(claims["exp"])
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("The token is invalid or expired", code="invalid_token") from exc
        self.entries[token] = (expires, key, principal)
        if len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return principal


verified_tokens = VerifiedTokens()


def _principal(token: str) -> Principal:
    return verified_tokens.principal(token)


def authenticate(request: Request, roles: tuple[str, ...] | None) -> Principal | None:
    """The caller. A route that needs no login (`roles=None`) treats a missing, expired or
    forged token as an anonymous caller: a client that sends its token on every call must
    still reach login, refresh and public reads with an expired one."""
    token = _bearer(request)
    if roles is None:
        if token is None:
            return None
        try:
            return _principal(token)
        except Unauthorized:
            return None
    if token is None:
        raise Unauthorized("A bearer token is required", code="missing_token")
    principal = _principal(token)
    if principal.role not in roles:
        raise Forbidden("Your role may not do this", code="role_forbidden")
    return principal


@cache
def schema_instance(schema: type[Schema]) -> Schema:
    """One instance per schema class: building one deep-copies every field (and a nested
    schema's, at its first use), which cost more than the load or dump itself. Marshmallow
    keeps no per-call state in a schema instance."""
    return schema()


def load_query(schema: type[Schema] | None, request: Request) -> dict:
    """The validated query. A parameter the route does not know is refused (400): it would
    change nothing, yet make a shared answer's key (and a cache miss) of its own."""
    instance = schema_instance(schema) if schema is not None else None
    known = {}
    if instance is not None:
        known = {(f.data_key or name): f for name, f in instance.fields.items() if not f.dump_only}
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise BadRequest(
            "Неизвестные параметры запроса",
            code="unknown_query_parameter",
            fields={name[:100]: ["Неизвестный параметр."] for name in unknown[:20]},
        )
    raw = {}
    for key, field_obj in known.items():
        if key in request.args:
            values = request.args.getlist(key)
            for value in values:
                check_text(key, value)
            raw[key] = values if isinstance(field_obj, fields.List) else values[-1]
    if instance is None:
        return {}
    try:
        return instance.load(raw)
    except ValidationError as err:
        raise invalid_from_marshmallow(err, "Проверьте параметры запроса") from err


def load_body(schema: type[Schema] | None, request: Request) -> dict | None:
    if schema is None:
        return None
    raw = request.get_data(cache=True)
    try:
        # no body at all is an empty object: a schema of optional fields needs none
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise InvalidInput("Тело запроса не JSON", code="malformed_json") from err
    if not isinstance(data, dict):
        raise InvalidInput("Тело запроса должно быть объектом JSON", code="malformed_json")
    # every fault of the body in one answer: bad text and the schema's rules together
    text_faults = json_text_faults(data)
    try:
        loaded = schema_instance(schema).load(data)
    except ValidationError as err:
        error = invalid_from_marshmallow(err, also=text_faults)
        if text_faults:
            error = InvalidInput(error.message, code="invalid_characters", fields=error.fields)
        raise error from err
    if text_faults:
        raise InvalidInput(TITLE, code="invalid_characters", fields=text_faults)
    return loaded


def _dump(spec: RouteSpec, result):
    if spec.response is None or result is None:
        return result
    if spec.dump is not None:
        return spec.dump(result)
    schema = schema_instance(spec.response) if isinstance(spec.response, type) else spec.response
    return schema.dump(result)


def _execute(service, spec: RouteSpec, handler: Callable, call: Call, path_params):
    result = handler(service, call, **path_params)
    if isinstance(result, Response):
        return result.status_code, result
    status = spec.status
    if isinstance(result, tuple):
        status, result = result
    return status, _dump(spec, result)


def _execute_to_bytes(service, spec, handler, call, path_params):
    status, payload = _execute(service, spec, handler, call, path_params)
    return status, json.dumps(payload, ensure_ascii=False).encode()


def _idempotency_scope(principal: Principal | None, fingerprint: str) -> str:
    # Anonymous callers share no scope: theirs is the request itself, so only a client that
    # sends the very same body (password included) with the key gets the first answer back.
    return principal.key if principal else f"anonymous:{fingerprint}"


def _run(service, spec: RouteSpec, handler: Callable, request: Request, path_params) -> Response:
    key = request.headers.get("Idempotency-Key")
    store = getattr(service, "idempotency", None)
    claimed = None
    try:
        principal = authenticate(request, spec.roles)  # once; a cached answer needs it too
        if principal is not None:
            logs.annotate(role=principal.role)
        for name, value in path_params.items():  # the same text rule as query and body
            if isinstance(value, str):
                check_text(name, value)
        # validated before a key is claimed or an answer shared: refused input costs neither
        call = Call(
            request, principal, load_query(spec.query, request), load_body(spec.body, request)
        )
        if key is not None and spec.method in MUTATING and spec.idempotent and store is not None:
            check_key(key)
            fingerprint = request_fingerprint(
                spec.method, request.path, request.get_data(cache=True)
            )
            scope = _idempotency_scope(principal, fingerprint)
            stored = store.claim(
                scope, key, spec.method, request.path, fingerprint,
                take_over=spec.operation_keyed,
            )  # fmt: skip
            if stored is not None:
                metrics.count(metrics.IDEMPOTENT_REPLAYS)
                return json_response(
                    stored.status, stored.body, headers={"Idempotent-Replayed": "true"}
                )
            claimed = scope
            if spec.operation_keyed:
                call.operation = operation_id(scope, key)
        if spec.shared and shared_answers.ttl > 0:
            computed = []

            def compute():
                computed.append(True)
                return _execute_to_bytes(service, spec, handler, call, path_params)

            status, body = shared_answers.fetch(request_key(request.path, call.query), compute)
            # hit: answered from memory (or by waiting for the same search in flight)
            headers = {"X-Cache": "miss" if computed else "hit"}
            payload = None
            response = Response(body, status=status, content_type=JSON, headers=headers)
        else:
            status, payload = _execute(service, spec, handler, call, path_params)
            response = payload if isinstance(payload, Response) else json_response(status, payload)
    except NavigatorError as error:
        status, payload, response = error.status, None, problem(error)
    except Exception:  # noqa: BLE001 - a client never sees a traceback
        log.exception("unhandled error in %s %s", spec.method, spec.path)
        status, payload = 500, None
        response = problem(NavigatorError("Internal error"))
    if claimed is not None:
        if status < 400:
            store.complete(claimed, key, status, payload)
        elif not (spec.operation_keyed and status >= 500):
            store.release(claimed, key)
        # else the outcome is unknown (the operation may have happened): the claim stays, so
        # the key stays bound to this request, and a repeat runs the operation again, which
        # answers it with the first outcome
    return response


def route(
    method: str,
    path: str,
    *,
    summary: str,
    tags: list[str],
    roles: tuple[str, ...] | None = None,
    body=None,
    query=None,
    response=None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    description: str = "",
    idempotent: bool = True,
    shared: bool = False,
    dump: Callable | None = None,
    operation_id: str = "",
    answers: dict | None = None,
    content_type: str = "application/json",
    operation_keyed: bool = False,
):
    """Declare a gateway route. `roles=None` is public; `path` uses werkzeug converters.
    `idempotent=False` ignores Idempotency-Key (the answer holds secrets not to be stored).
    `dump` replaces `response`'s dump on a hot route; `response` still documents it.
    `operation_id` names the route in generated clients (default: the handler's name in
    camelCase); `answers` documents other statuses' bodies; `content_type` a non-JSON success.
    `operation_keyed`: the handler passes `call.operation` to a service that keys the
    operation by it (a repeat after an unknown outcome runs again and gets the first one)."""
    if body is not None:
        make_strict(body, body=True)
    if query is not None:
        make_strict(query, body=False)
    spec = RouteSpec(
        method, path, summary, tags, roles, body, query, response, status, errors, description,
        idempotent=idempotent, shared=shared, dump=dump, operation_id=operation_id,
        answers=answers, content_type=content_type, operation_keyed=operation_keyed,
    )  # fmt: skip
    ROUTES.append(spec)

    matched_path, int_bounds = lenient_ids(path)
    template = observe.route_template(path)

    def decorator(handler):
        if not spec.operation_id:
            head, *rest = handler.__name__.split("_")
            spec.operation_id = head + "".join(word.capitalize() for word in rest)

        @wraps(handler)
        def entrypoint(self, request, **path_params):
            started = time.perf_counter()
            for name, (low, high) in int_bounds.items():
                raw = path_params[name]
                if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
                    response = problem(NotFound("Not found", code="not_found"))
                    return observe.answered(method, template, response, started)
                path_params[name] = int(raw)
            response = _run(self, spec, handler, request, path_params)
            return observe.answered(method, template, response, started)

        return http(method, matched_path)(entrypoint)

    return decorator


_INT_PARAM = re.compile(r"<int\(min=(\d+),\s*max=(\d+)\):(\w+)>")


def lenient_ids(path: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """`<int(min=1,max=N):id>` is matched as any path segment and checked in the entrypoint,
    so a malformed or out-of-range id answers a problem+json 404, not werkzeug's HTML page."""
    bounds = {name: (int(low), int(high)) for low, high, name in _INT_PARAM.findall(path)}
    return _INT_PARAM.sub(r"<\3>", path), bounds
