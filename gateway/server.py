"""The gateway's HTTP server: nameko's eventlet WSGI server with deadlines and one error format.

A connection is a cheap green thread; a *worker* (GATEWAY_WORKERS of them, `WorkerPool`) is
what runs a route. Nameko's server hands a request to a worker as soon as its headers are
parsed, and the worker then reads the body from the socket: as many clients as workers,
sending a body slowly, held every worker, and `/healthz` stopped answering. Here the
connection's own green thread reads the request line, the headers and the whole body, each
under a deadline, before a worker is taken; a client too slow for the deadline gets 408 and
is disconnected. A body larger than HTTP_MAX_BODY_BYTES is refused with 413 before it is
read. Where the body ends is read strictly (RFC 9112, gateway/framing.py): one length of
digits or `chunked` alone, else 400; a chunked body is read here, every line bounded, never
by eventlet's reader (its chunk-size `readline()` had no bound).

The server answers some requests itself, before any WSGI application runs (request line too
long, header line too long, malformed request): those answers are problem+json too, and so
are werkzeug's routing errors (unknown path 404, method not allowed 405). Every one of them,
as every route's answer, carries a request id (`X-Request-ID`, `request_id` in the body) and
writes its request line and metrics (gateway/observe.py).

In production a buffering reverse proxy (nginx, deploy/nginx/) stands in front as well and
only forwards whole requests; these deadlines are what protects the gateway when it does not.
"""

import io
import logging
import time
from functools import partial
from http import HTTPStatus

import eventlet
from eventlet import wsgi
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import Map
from werkzeug.wrappers import Request

from gateway import framing, observe
from gateway.problems import from_http_exception, json_response, problem_body, raw_problem
from gateway.web import portal
from servicekit import config, logs

log = logging.getLogger(__name__)


def _seconds(name: str, default: str) -> float:
    return float(config.env(name, default))


# the request line and headers must arrive within this many seconds of the connection being
# ready for a request (an idle keep-alive connection is closed after it, without an answer)
HEADER_TIMEOUT = _seconds("HTTP_HEADER_TIMEOUT", "10")
BODY_TIMEOUT = _seconds("HTTP_BODY_TIMEOUT", "10")  # the whole body, from the end of headers
SEND_TIMEOUT = _seconds("HTTP_SEND_TIMEOUT", "30")  # each write of the answer
MAX_BODY_BYTES = int(config.env("HTTP_MAX_BODY_BYTES", str(1 << 20)))
MAX_URL_BYTES = 8192  # the request line, as eventlet's default


class _HeadersTimedOut(Exception):
    pass


class DeadlineProtocol(HttpOnlyProtocol):
    """eventlet's HTTP/1.1 protocol with a deadline on the request line and headers, and
    problem+json for what it refuses on its own."""

    def handle_one_request(self):
        self.raw_requestline = b""
        self._framing = None
        self._started = time.perf_counter()
        deadline = eventlet.Timeout(HEADER_TIMEOUT, _HeadersTimedOut)
        self._header_deadline = deadline
        try:
            super().handle_one_request()
        except _HeadersTimedOut:
            self.close_connection = 1
            if self.raw_requestline:  # a request had started: tell the client why it ends
                self._write_problem(408, "The request headers did not arrive in time")
        finally:
            deadline.cancel()

    def get_environ(self):
        self._header_deadline.cancel()  # headers are in; the body has a deadline of its own
        environ = super().get_environ()
        environ["navigator.close_connection"] = partial(setattr, self, "close_connection", 1)
        environ["navigator.framing"] = self._framing
        return environ

    def _write_problem(self, status: int, title: str, code: str | None = None) -> None:
        """A whole answer, under a request id of its own (no proxy's id: its headers were
        not read), with the request's line and metrics as any answer has."""
        reason = HTTPStatus(status).phrase
        code = code or reason.lower().replace(" ", "_").replace("-", "_")
        token = logs.bind(request_id=observe.new_request_id())
        try:
            try:
                self.wfile.write(raw_problem(status, reason, title, code))
                self.wfile.flush()
            except OSError:
                pass
            method = (self.raw_requestline or b"").split(b" ", 1)[0].decode("latin1")
            seconds = time.perf_counter() - self._started
            observe.record(observe.method_label(method), observe.UNMATCHED, status, seconds)
        finally:
            logs.unbind(token)

    # eventlet and http.server answer these with an empty body or an HTML page
    def send_error(self, code, message=None, explain=None):
        status = int(code)
        self.close_connection = 1
        self._write_problem(status, message or HTTPStatus(status).phrase)

    def _read_request_line(self):
        line = super()._read_request_line()
        self._started = time.perf_counter()  # a keep-alive connection's wait is not counted
        if len(line) >= self.server.url_length_limit:  # eventlet would write its bare 414
            self.raw_requestline = line  # for the method of the request's line
            self._write_problem(414, "The request line (URL) is too long", "uri_too_long")
            self.close_connection = 1
            return ""
        return line

    def parse_request(self):
        try:
            parsed = super().parse_request()
        except (wsgi.HeaderLineTooLong, wsgi.HeadersTooLarge):
            self._write_problem(431, "Request headers are too large", "headers_too_large")
            self.close_connection = 1
            return False
        if parsed:  # where the body ends, before eventlet reads it its own lenient way
            try:
                self._framing = framing.body_framing(
                    self.headers.get_all("content-length") or [],
                    self.headers.get_all("transfer-encoding") or [],
                    self.request_version,
                )
            except framing.FramingError as refused:
                return self._refuse(refused.title)
        return parsed

    def _refuse(self, title: str) -> bool:
        self._write_problem(400, title, "bad_request")
        self.close_connection = 1
        return False


class _RefusedBody(Exception):
    def __init__(self, status: int, title: str, code: str):
        super().__init__(title)
        self.status, self.title, self.code = status, title, code


def _too_large() -> _RefusedBody:
    return _RefusedBody(413, f"The body is larger than {MAX_BODY_BYTES} bytes", "body_too_large")


def _framing_of(environ) -> int | str | None:
    """The framing DeadlineProtocol checked; from the WSGI variables under another server."""
    if "navigator.framing" in environ:
        return environ["navigator.framing"]
    encoding = environ.get("HTTP_TRANSFER_ENCODING")
    length = environ.get("CONTENT_LENGTH") or None
    return framing.body_framing(
        [length] if length else [], [encoding] if encoding else [], "HTTP/1.1"
    )


def _read_chunked(stream) -> bytes:
    """A chunked body from the connection itself, every line bounded (gateway/framing.py);
    eventlet's reader (an unbounded readline per chunk size) is never used."""
    rfile = getattr(stream, "rfile", None)
    if rfile is None:  # not eventlet's input (a test client): the body is already whole
        data = stream.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            raise _too_large()
        return data
    if stream.should_send_hundred_continue:
        stream.send_hundred_continue_response()
        stream.is_hundred_continue_response_sent = True
    data = framing.read_chunked(rfile, MAX_BODY_BYTES)
    stream.chunk_length = 0  # read to its end: eventlet has nothing left to discard
    return data


def read_body(environ) -> bytes:
    """The whole request body within BODY_TIMEOUT and MAX_BODY_BYTES, else _RefusedBody."""
    try:
        length = _framing_of(environ)
    except framing.FramingError as refused:
        raise _RefusedBody(refused.status, refused.title, refused.code) from None
    if not length:
        return b""
    if length != "chunked" and length > MAX_BODY_BYTES:
        raise _too_large()
    stream = environ["wsgi.input"]
    try:
        with eventlet.Timeout(BODY_TIMEOUT):
            data = _read_chunked(stream) if length == "chunked" else stream.read(length)
    except eventlet.Timeout:
        raise _RefusedBody(
            408, "The request body did not arrive in time", "request_timeout"
        ) from None
    except framing.FramingError as refused:
        raise _RefusedBody(refused.status, refused.title, refused.code) from None
    except (OSError, ValueError) as exc:
        raise _RefusedBody(400, "The request body could not be read", "bad_request") from exc
    if length != "chunked" and len(data) < length:  # the client closed the connection early
        raise _RefusedBody(400, "The request body ended early", "bad_request")
    return data


def _refusal(refused: _RefusedBody):
    payload = problem_body(refused.status, refused.title, refused.code)
    return json_response(refused.status, payload, "application/problem+json")


def _route_of(adapter) -> str:
    """The route template a request's path belongs to whatever its method, else UNMATCHED."""
    try:
        rule, _ = adapter.match(return_rule=True)
    except MethodNotAllowed as exc:
        try:
            rule, _ = adapter.match(method=(exc.valid_methods or ["GET"])[0], return_rule=True)
        except HTTPException:
            return observe.UNMATCHED
    except HTTPException:
        return observe.UNMATCHED
    return observe.route_template(rule.rule)


class GatewayWsgiApp(WsgiApp):
    """Reads the body before a worker is taken, and answers routing errors as problem+json."""

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            body = read_body(environ)
        except _RefusedBody as refused:
            environ.get("navigator.close_connection", lambda: None)()
            route = _route_of(self.url_map.bind_to_environ(environ))
            request = Request(environ, shallow=True)
            response = observe.answered_without_route(
                request, route, partial(_refusal, refused), started
            )
            return response(environ, start_response)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
        except HTTPException as exc:
            response = observe.answered_without_route(
                request, _route_of(adapter), partial(from_http_exception, exc), started
            )
            return response(environ, start_response)
        request.path_values = values
        response = provider.handle_request(request)
        return response(environ, start_response)


class GatewayWebServer(WebServer):
    def get_wsgi_app(self):
        return portal(GatewayWsgiApp(self))  # the parents' portal beside /api (gateway/web.py)

    def get_wsgi_server(self, sock, wsgi_app, protocol=DeadlineProtocol, debug=False):
        return wsgi.Server(
            sock,
            sock.getsockname(),
            wsgi_app,
            protocol=protocol,
            debug=debug,
            log=logging.getLogger("nameko.web.server"),
            socket_timeout=SEND_TIMEOUT or None,
            url_length_limit=MAX_URL_BYTES,
        )

    def run(self):
        # Nameko starts all extensions at once: a request accepted before the RPC reply
        # listener consumes its queue crashed the gateway ("lost replies") under load.
        # Connections wait in the listen backlog meanwhile.
        for extension in self.container.extensions:
            consumer = getattr(extension, "consumer", None)
            if hasattr(consumer, "wait_until_consumer_ready"):
                consumer.wait_until_consumer_ready()
        # out of file descriptors (EMFILE) must not end the accept loop for good
        while self._is_accepting:
            try:
                sock, addr = self._sock.accept()
            except OSError as exc:
                log.warning("accept failed: %s", exc)
                eventlet.sleep(0.1)
                continue
            sock.settimeout(self._serv.socket_timeout)
            self.container.spawn_managed_thread(partial(self.process_request, sock, addr))


class GatewayHttp(HttpRequestHandler):
    """nameko's `http` entrypoint on the gateway's server (shared by every route)."""

    server = GatewayWebServer()

    def setup(self):
        super().setup()
        # An entrypoint is called with the request and its rule's path values, nothing else:
        # what nameko checks on every request (inspect.getcallargs, 3 % of the gateway's CPU
        # on a ping) is checked once here, with the rule's own names.
        rule = self.get_url_rule()
        Map([rule])  # binding the rule compiles it and finds its path values' names
        super().check_signature((None,), dict.fromkeys(rule.arguments, ""))

    def check_signature(self, args, kwargs):
        pass  # checked once in setup: a request brings only its rule's path values


gateway_http = GatewayHttp.decorator


class WorkerPool(DependencyProvider):
    """How many routes the process runs at once, instead of nameko's `max_workers`
    (MAX_WORKERS, which also sizes a service's database pool and prefetch).

    A gateway worker spends nearly all its time waiting for a reply, on no connection of its
    own: its pool bounds requests in flight, not work. With the services' twenty, only twenty
    requests were ever in the RPC pipeline: the gateway slept between replies while fifty
    clients waited in its pool, and the two cores stood a third idle under `/api/v1/ping`
    (docs/catalog.md, "Fourth round"). What protects a service is its own workers and
    prefetch; this bound only keeps a flood of connections from holding unbounded memory."""

    def __init__(self, size: int):
        self.size = size

    def setup(self):
        # before any worker runs (setup precedes the entrypoints starting); nameko reads one
        # max_workers for every container of the process, with no setting per container
        self.container.max_workers = self.size
        self.container._worker_pool.resize(self.size)
