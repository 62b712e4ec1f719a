"""The portal's build and its API client (web/), and how the gateway serves them (gateway/web.py).

The client's types are generated from the gateway's OpenAPI document (make web-client): a
route changed without regenerating them fails here, before a parent meets it."""

import io
import json
import subprocess
from pathlib import Path

import pytest

import gateway.service  # noqa: F401 - the routes register themselves on import
from gateway import web
from gateway.openapi import build_spec, docs_page

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
GENERATOR = WEB / "node_modules" / ".bin" / "openapi-typescript"


def test_the_committed_openapi_document_is_the_gateways():
    committed = json.loads((WEB / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(build_spec())), (
        "web/openapi.json differs from the gateway's routes: run `make web-client`"
    )


def test_the_committed_client_types_are_generated_from_the_document(tmp_path):
    assert GENERATOR.exists(), "web/node_modules is missing: run `make install`"
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(GENERATOR), str(WEB / "openapi.json"), "-o", str(out)],
        cwd=WEB, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert out.read_text() == (WEB / "src" / "api" / "schema.d.ts").read_text(), (
        "web/src/api/schema.d.ts differs from the document: run `make web-client`"
    )


@pytest.fixture
def dist(tmp_path, monkeypatch):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("no")
    monkeypatch.setattr(web, "DIST", tmp_path)
    return tmp_path


def call(app, path, method="GET"):
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO()},
                        start_response))  # fmt: skip
    return seen["status"], seen["headers"], body


def api_app(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "application/problem+json")])
    return [b'{"code": "not_found"}']


def test_client_routes_get_the_page_and_files_their_own_type(dist):
    app = web.portal(api_app)
    for path in ("/", "/programs/7", "/children/new"):
        status, headers, body = call(app, path)
        assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
        assert b"id=root" in body and headers["Cache-Control"] == "no-cache"
    status, headers, body = call(app, "/assets/index-abc.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in headers["Cache-Control"]


def test_every_answer_has_the_security_headers_and_no_inline_script_is_allowed(dist):
    _, headers, _ = call(web.portal(api_app), "/")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_the_api_and_other_methods_are_not_the_portals(dist):
    app = web.portal(api_app)
    for path, method in [("/api/v1/nope", "GET"), ("/healthz", "GET"), ("/metrics", "GET"),
                         ("/programs/7", "POST")]:  # fmt: skip
        status, headers, _ = call(app, path, method)
        assert (status, headers["Content-Type"]) == (404, "application/problem+json")


def test_a_missing_asset_is_404_and_nothing_outside_dist_is_served(dist):
    app = web.portal(api_app)
    assert call(app, "/assets/gone.js")[0] == 404
    assert call(app, "/../secret.txt")[0] == 404
    assert call(app, "/assets/../../secret.txt")[0] == 404


def test_without_a_build_everything_goes_to_the_gateway(tmp_path, monkeypatch):
    monkeypatch.setattr(web, "DIST", tmp_path / "absent")
    assert call(web.portal(api_app), "/")[0] == 404


def test_the_docs_page_is_swagger_ui_from_the_build_with_a_table_without_javascript():
    page = docs_page(build_spec())
    assert '<script src="/swagger/swagger-ui-bundle.js">' in page
    assert "<script>" not in page  # the start is /swagger/init.js: the CSP allows no inline
    assert "cdn" not in page.lower() and "https://" not in page
    assert "/api/v1/health" in page.split("<noscript>")[1]


@pytest.mark.skipif(not (WEB / "dist" / "index.html").exists(), reason="web/dist not built")
def test_the_build_vendors_swagger_ui_and_has_no_inline_script():
    assert (WEB / "dist" / "swagger" / "swagger-ui-bundle.js").stat().st_size > 100_000
    assert (WEB / "dist" / "swagger" / "init.js").exists()
    index = (WEB / "dist" / "index.html").read_text()
    assert "<script>" not in index and '<script type="module" crossorigin src=' in index
