"""Where a request's body ends, as the second probe found it (issue 24, items 1 and 8): a
chunked body whose chunk-size line never ends held memory until the body deadline, and
lengths Python's int() accepts (`3_4`, `+34`), two lengths, or `x, chunked` desynchronised
the connection. Every request here is refused at once with 400/413 and the connection closed."""

import json
import time
from pathlib import Path

import pytest

from tests.support.raw_http import connect, parse_answer, read_answer

LOGIN = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
BODY = b'{"email": "nobody@navigator.example", "password": "Wrong-pass-1"}'


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _answer(api, request: bytes, timeout: float = 3) -> tuple[int, dict, dict, float]:
    sock = connect(api)
    try:
        started = time.monotonic()
        sock.sendall(request)
        status, headers, body = parse_answer(read_answer(sock, timeout=timeout))
        return status, headers, json.loads(body), time.monotonic() - started
    finally:
        sock.close()


# --- 1. chunked bodies: every line and the total bounded -----------------------------------


def test_a_chunk_size_line_that_never_ends_is_refused_at_once(api):
    # the test system's body deadline is 2 s: the old reader waited for the line end until it
    status, headers, body, seconds = _answer(
        api, LOGIN + b"Transfer-Encoding: chunked\r\n\r\n" + b"0" * 4000
    )
    assert status == 400 and body["code"] == "bad_request", body
    assert headers["connection"] == "close"
    assert seconds < 1.0


def test_endless_chunk_size_lines_on_two_connections_hold_no_memory(api, system):
    pid = system.processes["gateway"].process.pid
    before = _rss_kib(pid)
    sockets = [connect(api) for _ in range(2)]
    sent = 0
    try:
        for sock in sockets:
            sock.sendall(LOGIN + b"Transfer-Encoding: chunked\r\n\r\n")
        block = b"0" * 65536
        for _ in range(320):  # up to 20 MiB on each connection
            for sock in sockets:
                try:
                    sock.sendall(block)
                    sent += len(block)
                except OSError:
                    pass
        grown = _rss_kib(pid) - before
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 8 * 1024, f"the gateway grew by {grown} KiB while {sent} bytes were offered"


def test_chunks_past_the_body_limit_are_refused_before_they_are_read(api):
    # one chunk declared at 16 MiB: refused on its size line, before any of it arrives
    status, _, body, seconds = _answer(
        api, LOGIN + b"Transfer-Encoding: chunked\r\n\r\nFFFFFF\r\n" + b"{" * 100
    )
    assert status == 413 and body["code"] == "body_too_large"
    assert seconds < 1.0
    # and many small chunks together past 1 MiB
    chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"
    status, _, body, _ = _answer(
        api, LOGIN + b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 33, timeout=5
    )
    assert status == 413 and body["code"] == "body_too_large"


def test_an_overlong_trailer_is_refused(api):
    request = LOGIN + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: " + b"a" * 5000
    status, _, body, seconds = _answer(api, request)
    assert status == 400 and body["code"] == "bad_request"
    assert seconds < 1.0


def test_a_well_formed_chunked_body_is_still_read(api):
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (BODY[:10], BODY[10:]))
    request = LOGIN + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-T: 1\r\n\r\n"
    status, _, body, _ = _answer(api, request)
    assert status == 401 and body["code"] == "invalid_credentials", body


# --- 8. HTTP framing as RFC 9112 says ------------------------------------------------------


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 3_4\r\n",  # int() reads 34
        b"Content-Length: +34\r\n",
        b"Content-Length: 0x22\r\n",
        b"Content-Length: 34\r\nContent-Length: 34\r\n",  # two lengths, even equal ones
        b"Content-Length: 34, 34\r\n",
        b"Transfer-Encoding: x, chunked\r\n",  # eventlet does not read this as chunked
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 34\r\n",
    ],
)
def test_ambiguous_framing_is_a_400_that_closes_the_connection(api, framing):
    request = LOGIN + framing + b"\r\n" + b"22\r\n" + BODY[:34] + b"\r\n0\r\n\r\n"
    # and a second request on the same connection that must never be answered
    request += b"GET /api/v1/health HTTP/1.1\r\nHost: gateway\r\n\r\n"
    sock = connect(api)
    try:
        sock.sendall(request)
        raw = read_answer(sock, timeout=3)
    finally:
        sock.close()
    status, headers, body = parse_answer(raw)
    assert status == 400, raw
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "bad_request"
    assert raw.count(b"HTTP/1.1 ") == 1, raw


def test_transfer_encoding_in_an_http_1_0_request_is_refused(api):
    request = (
        LOGIN.replace(b"HTTP/1.1", b"HTTP/1.0") + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    status, _, body, _ = _answer(api, request)
    assert status == 400 and body["code"] == "bad_request"


def test_a_plain_length_is_still_read(api):
    request = LOGIN + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    status, _, body, _ = _answer(api, request)
    assert status == 401 and body["code"] == "invalid_credentials", body
