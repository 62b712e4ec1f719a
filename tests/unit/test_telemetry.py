"""Request ids, log lines and the metrics layout, without servers."""

import io
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


def console(monkeypatch, flush_seconds: str = "0.2") -> tuple[logs.LineHandler, io.StringIO]:
    """The root logger as deploy/nameko.yaml sets it up, writing into a string."""
    monkeypatch.setenv("LOG_FLUSH_SECONDS", flush_seconds)
    stream = io.StringIO()
    handler = logs.LineHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    monkeypatch.setattr(logging.root, "handlers", [handler])
    monkeypatch.setattr(logging.root, "level", logging.INFO)
    # a level set by attribute leaves each logger's memory of isEnabledFor as it was: a test
    # of this process that logged while the root said WARNING left INFO "disabled" there
    logging.root.manager._clear_cache()
    return handler, stream


def test_a_direct_line_is_what_the_formatter_writes(monkeypatch):
    handler, stream = console(monkeypatch, "0")
    monkeypatch.setitem(logs.PROCESS, "service", "gateway")
    fields = {"kind": "http", "method": "GET", "route": "/x/{id}", "status": 201}
    fields |= {"duration_ms": 1.25, "role": "parent", "note": '«кавычки» "q"\n', "n": [1]}
    token = logs.bind(request_id="req-2", role="anonymous")
    try:
        logs.log_fields(logging.getLogger("navigator.http"), logging.INFO, "GET 201", **fields)
        handler.flush()
        record = logging.LogRecord("navigator.http", logging.INFO, "", 0, "GET 201", (), None)
        record.fields = fields
        expected = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.unbind(token)
    written = stream.getvalue()
    assert written.endswith("\n") and written.count("\n") == 1
    line = json.loads(written)
    assert list(line) == list(expected)  # the same members in the same order
    assert {**line, "ts": None} == {**expected, "ts": None}
    assert line["role"] == "parent"  # a field overrides the worker's context, as before
    assert line["ts"][:16] == expected["ts"][:16] and line["ts"].endswith("Z")


def test_direct_lines_are_still_redacted_unless_vouched_for(monkeypatch):
    handler, stream = console(monkeypatch, "0")
    log = logging.getLogger("navigator.telemetry")
    logs.log_fields(log, logging.INFO, 'login {"password": "S3cret-pass"} snils 11223344595')
    logs.log_fields(log, logging.INFO, "GET /api/v1/x 200 in 1.0 ms", known_safe=True)
    text = stream.getvalue()
    assert "S3cret-pass" not in text and "11223344595" not in text
    assert "GET /api/v1/x 200 in 1.0 ms" in text


def test_request_lines_wait_briefly_and_a_warning_takes_them_out_in_order(monkeypatch):
    import eventlet

    handler, stream = console(monkeypatch, "0.2")
    log = logging.getLogger("navigator.http")
    logs.log_fields(log, logging.INFO, "first")
    logs.log_fields(log, logging.INFO, "second")
    assert stream.getvalue() == ""  # batched
    logs.log_fields(log, logging.WARNING, "third")  # a warning goes out at once, after them
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "first",
        "second",
        "third",
    ]
    logs.log_fields(log, logging.INFO, "fourth")
    log.info("fifth, through the logging machinery")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()][3:] == [
        "fourth",
        "fifth, through the logging machinery",
    ]
    logs.log_fields(log, logging.INFO, "sixth")
    eventlet.sleep(0.4)  # at most LOG_FLUSH_SECONDS late
    assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "sixth"


def test_another_handler_on_the_way_gets_its_records(monkeypatch):
    handler, stream = console(monkeypatch, "0")
    log = logging.getLogger("navigator.telemetry")
    captured = io.StringIO()
    capture = logging.StreamHandler(captured)
    capture.setFormatter(logs.JsonFormatter())
    log.addHandler(capture)
    try:
        logs.log_fields(log, logging.INFO, "rpc ping ok", kind="rpc")
    finally:
        log.removeHandler(capture)
    assert json.loads(captured.getvalue())["kind"] == "rpc"
    assert json.loads(stream.getvalue())["kind"] == "rpc"


def test_structured_fields_are_redacted_as_the_message_is(monkeypatch):
    """Issue 24: `log_fields(..., error='Key (snils)=(…)')` wrote the SNILS in clear, and a
    failed handler's error goes out as a field."""
    handler, stream = console(monkeypatch, "0")
    log = logging.getLogger("navigator.telemetry")
    error = (
        'duplicate key: Key (snils)=(112-233-445 95) already exists; {"password": "S3cret-pass"}'
    )
    logs.log_fields(log, logging.ERROR, "event parked", error=error, password="S3cret-pass",
                    nested={"why": ["snils 11223344595"]}, attempts=3)  # fmt: skip
    handler.flush()
    line = json.loads(stream.getvalue())
    written = json.dumps(line, ensure_ascii=False)
    for secret in ("112-233-445 95", "11223344595", "S3cret-pass"):
        assert secret not in written, written
    assert line["attempts"] == 3 and line["password"] == "[redacted]"
    # through the logging machinery too (another handler than the console's)
    record = logging.LogRecord("navigator.telemetry", logging.ERROR, "", 0, "parked", (), None)
    record.fields = {"error": error}
    assert "112-233-445 95" not in logs.JsonFormatter().format(record)
