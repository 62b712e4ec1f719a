"""Where a request's body ends (RFC 9112, section 6), read strictly and within bounds.

eventlet reads `Content-Length` with Python's `int()` (so `3_4` is 34 and `+34` is 34),
takes the first of two lengths, calls `x, chunked` chunked while its own reader does not,
and reads a chunk-size line with an unbounded `readline()`: 150 MB of `0` with no line end
was held in memory until the body deadline. Two servers that disagree on where a request
ends desynchronise the connection (request smuggling behind a proxy), so here framing is
accepted only in its one plain form, and every line and byte read is bounded: a request is
refused at the first byte past a limit. Plain Python, no server: `server.py` calls it.
"""

import re

CONTENT_LENGTH = re.compile(rb"[0-9]{1,15}")  # digits only: no sign, underscore or space
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")  # at most 4 GiB-1, far above any body limit
MAX_LINE = 256  # a chunk-size line with its extensions, or one trailer line
MAX_TRAILERS = 4096  # all trailer lines together


class FramingError(Exception):
    """The request's framing is refused: `status` (400 or 413) and a title for the client.
    The connection must be closed after the answer: where the next request starts is unknown."""

    def __init__(self, status: int, title: str, code: str = "bad_request"):
        super().__init__(title)
        self.status, self.title, self.code = status, title, code


def body_framing(
    content_lengths: list[str], transfer_encodings: list[str], version: str
) -> int | str | None:
    """How the body is framed, from every `Content-Length` and `Transfer-Encoding` header
    line as received: its length (int), "chunked", or None (no body). FramingError when the
    framing is ambiguous or not the plain form: one length of digits, or `chunked` alone."""
    if transfer_encodings:
        if content_lengths:
            raise FramingError(400, "Content-Length and Transfer-Encoding are not allowed together")
        if version == "HTTP/1.0":
            raise FramingError(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
        codings = [c.strip().lower() for line in transfer_encodings for c in line.split(",")]
        if codings != ["chunked"]:
            raise FramingError(400, "The only transfer coding accepted is chunked, alone")
        return "chunked"
    if not content_lengths:
        return None
    if len(content_lengths) > 1:
        raise FramingError(400, "A request has at most one Content-Length header")
    value = content_lengths[0].strip(" \t").encode("latin-1", "replace")
    if not CONTENT_LENGTH.fullmatch(value):
        raise FramingError(400, "The Content-Length header is not a valid length")
    return int(value)


def _line(rfile, limit: int, what: str) -> bytes:
    """One CRLF-terminated line, read at most `limit` bytes far."""
    line = rfile.readline(limit + 2)
    if not line:
        raise FramingError(400, "The request body ended early")
    if not line.endswith(b"\r\n"):
        raise FramingError(400, f"The {what} line is too long or not ended by CRLF")
    return line[:-2]


def read_chunked(rfile, max_bytes: int) -> bytes:
    """A chunked body (RFC 9112, 7.1) from `rfile`: refused with 413 as soon as a chunk's
    size would take the body past `max_bytes`, before that chunk is read; refused with 400
    at the first malformed or overlong line. Trailers are read (bounded) and dropped."""
    parts, total = [], 0
    while True:
        size_line = _line(rfile, MAX_LINE, "chunk size")
        digits = size_line.split(b";", 1)[0].rstrip(b" \t")
        if not CHUNK_SIZE.fullmatch(digits):
            raise FramingError(400, "A chunk size is not a hexadecimal number")
        size = int(digits, 16)
        if size == 0:
            break
        total += size
        if total > max_bytes:
            raise FramingError(413, f"The body is larger than {max_bytes} bytes", "body_too_large")
        data = rfile.read(size)
        if len(data) < size:
            raise FramingError(400, "The request body ended early")
        parts.append(data)
        if rfile.read(2) != b"\r\n":
            raise FramingError(400, "A chunk is not followed by CRLF")
    trailers = 0
    while line := _line(rfile, MAX_LINE, "trailer"):
        trailers += len(line) + 2
        if trailers > MAX_TRAILERS:
            raise FramingError(400, "The trailers are too large")
    return b"".join(parts)
