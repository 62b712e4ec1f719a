"""The parents' portal (web/, a single-page application) from the gateway's own address.

In development `make run` builds web/ into web/dist and the gateway serves it beside
/api/v1, so the portal and the API share one origin (no CORS, one URL). In production nginx
serves web/dist itself (deploy/nginx/) and only /api/ reaches the gateway; this is then unused.

A WSGI middleware in front of the gateway's application: a GET or HEAD for a path outside
/api/, /healthz and /metrics is a file of web/dist when one exists, else index.html (the
application's own routes, e.g. /programs/7, are paths of the client). It runs on the
connection's green thread: reading a small file takes no route worker. Every answer carries
the security headers below; the portal's CSP allows no inline script.
"""

import mimetypes
from pathlib import Path

from werkzeug.exceptions import HTTPException, NotFound

from servicekit import config

ROOT = Path(__file__).resolve().parents[1]
DIST = Path(config.env("WEB_DIST", str(ROOT / "web" / "dist")))
NOT_PORTAL = ("/api/", "/healthz", "/metrics")

# No inline script anywhere; React sets styles through the DOM, which style-src allows.
PORTAL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI renders with inline style attributes and data: images; still no inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def security_headers(csp: str = PORTAL_CSP) -> list[tuple[str, str]]:
    return [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
    ]


def _file_for(path: str) -> Path | None:
    """The file of web/dist a path names (never outside it), index.html for a client route,
    None when the portal is not built."""
    index = DIST / "index.html"
    if not index.is_file():
        return None
    relative = path.lstrip("/")
    if relative:
        candidate = (DIST / relative).resolve()
        if candidate.is_file() and DIST.resolve() in candidate.parents:
            return candidate
        if "." in relative.rsplit("/", 1)[-1]:  # a missing asset is a 404, not the page
            return DIST / "__missing__"
    return index


def _answer(file: Path, method: str, start_response):
    if not file.is_file():
        body = b"Not found"
        start_response(
            "404 Not Found",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
            + security_headers(),
        )
        return [b"" if method == "HEAD" else body]
    data = file.read_bytes()
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    # hashed bundles (assets/) never change; the page itself is always asked again
    cache = "public, max-age=31536000, immutable" if file.parent.name == "assets" else "no-cache"
    start_response(
        "200 OK",
        [("Content-Type", kind), ("Content-Length", str(len(data))), ("Cache-Control", cache)]
        + security_headers(),
    )
    return [b"" if method == "HEAD" else data]


def portal(app):
    """Wraps the gateway's WSGI application: the portal's files, everything else to `app`.
    A path one of the gateway's own routes answers stays the gateway's, wherever it is."""

    url_map = getattr(app, "url_map", None)  # a bare WSGI callable has no routes of its own

    def gateway_route(environ) -> bool:
        if url_map is None:
            return False
        try:
            url_map.bind_to_environ(environ).match()
        except NotFound:
            return False
        except HTTPException:  # the route exists, for another method: the gateway's 405
            return True
        return True

    def serve(environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        if (
            method in ("GET", "HEAD")
            and not path.startswith(NOT_PORTAL)
            and not gateway_route(environ)
        ):
            file = _file_for(path)
            if file is not None:
                return _answer(file, method, start_response)
        return app(environ, start_response)

    return serve
