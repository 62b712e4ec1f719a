"""Request ids, log lines and the metrics layout, without servers."""

import json
import logging
from pathlib import Path

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.observe import request_id_of, route_template
from servicekit import logs
from servicekit.metrics import procfile_ports


def request(remote: str, request_id: str | None = None) -> Request:
    headers = {"X-Request-ID": request_id} if request_id else {}
    return Request(
        EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": remote}).get_environ()
    )


def test_request_id_from_a_trusted_proxy_is_kept(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5, 10.0.0.6")
    assert request_id_of(request("10.0.0.6", "lb-7f3a")) == "lb-7f3a"


def test_request_id_from_anyone_else_is_replaced(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5")
    made = request_id_of(request("203.0.113.9", "chosen-by-client"))
    assert made != "chosen-by-client" and len(made) == 32


def test_malformed_request_id_even_from_a_proxy_is_replaced(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.5")
    assert request_id_of(request("10.0.0.5", 'x" {"level": "forged"}')) != 'x" {"level": "forged"}'


def test_route_template_is_a_bounded_label():
    assert (
        route_template("/api/v1/children/<int(min=1,max=2147483647):child_id>/verify")
        == "/api/v1/children/{child_id}/verify"
    )


def test_secrets_are_redacted_whatever_carries_them():
    line = logs.redact(
        'login {"email": "a@b.ru", "password": "S3cret-pass"} token=abc.def '
        "Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIxIn0.sig snils 112-233-445 95 "
        "11223344595 certificate IV-БА 654321 {'birth_certificate_number': '654321'}"
    )
    for secret in ("S3cret-pass", "abc.def", "eyJ", "112-233-445 95", "11223344595", "654321"):
        assert secret not in line
    assert "a@b.ru" in line  # not a secret: the line stays useful


def test_json_line_carries_service_instance_request_id_and_fields():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "rpc %s", ("ping",), None)
    record.fields = {"kind": "rpc", "duration_ms": 1.5}
    token = logs.bind(request_id="req-1")
    try:
        line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.unbind(token)
    assert line["request_id"] == "req-1" and line["kind"] == "rpc"
    assert line["message"] == "rpc ping" and line["instance"]
    assert "service" in line


def test_text_format_keeps_a_readable_line(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "text")
    formatter = logs.formatter()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello", (), None)
    assert formatter.format(record).endswith("WARNING x: hello")


def test_make_run_metrics_ports_follow_honcho(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("accounts: a\ncatalog: c\ngateway: g\n")
    assert procfile_ports(procfile, 9100, "catalog=2") == [
        ("accounts.1", 9100),
        ("catalog.1", 9200),
        ("catalog.2", 9201),
        ("gateway.1", 9300),
    ]
