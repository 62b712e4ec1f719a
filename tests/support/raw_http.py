"""HTTP on a bare socket, for what `requests` will not send (slow or malformed requests) and
for reading the server's answer exactly as written."""

import socket
from urllib.parse import urlparse


def connect(api: str) -> socket.socket:
    url = urlparse(api)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def read_answer(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server writes until it closes, or until `timeout` passes in silence."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def parse_answer(raw: bytes) -> tuple[int, dict, bytes]:
    """Status, headers (lower-case names) and body of a raw HTTP answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body
