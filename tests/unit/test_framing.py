"""Where a request's body ends (gateway/framing.py, issue 24 items 1 and 8), without a server."""

import io

import pytest

from gateway.framing import MAX_LINE, FramingError, body_framing, read_chunked


@pytest.mark.parametrize(
    "lengths, encodings, version",
    [
        (["3_4"], [], "HTTP/1.1"),
        (["+34"], [], "HTTP/1.1"),
        (["-1"], [], "HTTP/1.1"),
        ([" "], [], "HTTP/1.1"),
        (["３４"], [], "HTTP/1.1"),  # digits of another script: int() reads 34
        (["34", "34"], [], "HTTP/1.1"),
        (["34,34"], [], "HTTP/1.1"),
        ([], ["x, chunked"], "HTTP/1.1"),
        ([], ["chunked", "chunked"], "HTTP/1.1"),
        ([], ["gzip"], "HTTP/1.1"),
        ([], ["chunked"], "HTTP/1.0"),
        (["34"], ["chunked"], "HTTP/1.1"),
    ],
)
def test_ambiguous_framing_is_refused(lengths, encodings, version):
    with pytest.raises(FramingError) as refused:
        body_framing(lengths, encodings, version)
    assert refused.value.status == 400


def test_plain_framing_is_read():
    assert body_framing(["34"], [], "HTTP/1.1") == 34
    assert body_framing(["0"], [], "HTTP/1.0") == 0
    assert body_framing([], [" Chunked"], "HTTP/1.1") == "chunked"
    assert body_framing([], [], "HTTP/1.1") is None


def test_a_chunked_body_with_extensions_and_trailers_is_read():
    raw = b"4;name=v\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\n\r\nNEXT"
    stream = io.BytesIO(raw)
    assert read_chunked(stream, 100) == b"Wikipedia"
    assert stream.read() == b"NEXT"  # the next request starts where this one ended


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"0" * (MAX_LINE + 10), 400),  # a size line that does not end
        (b"0" * 10_000_000, 400),
        (b"z\r\n", 400),
        (b"-1\r\n", 400),
        (b"0x10\r\n", 400),
        (b"4\r\nWikiXX0\r\n\r\n", 400),  # a chunk not followed by CRLF
        (b"4\r\nWi", 400),  # ended early
        (b"65\r\n" + b"a" * 101 + b"\r\n0\r\n\r\n", 413),  # 101 bytes past a limit of 100
        (b"40\r\n" + b"a" * 64 + b"\r\n40\r\n", 413),  # refused on the second size line
        (b"0\r\n" + b"X: a\r\n" * 1000, 400),  # trailers without end
    ],
)
def test_a_bad_or_oversized_chunked_body_is_refused(raw, status):
    with pytest.raises(FramingError) as refused:
        read_chunked(io.BytesIO(raw), 100)
    assert refused.value.status == status


def test_a_long_size_line_is_never_read_whole():
    class Counting(io.BytesIO):
        def readline(self, size=-1):
            assert 0 < size <= MAX_LINE + 2, "every line read is bounded"
            return super().readline(size)

    with pytest.raises(FramingError):
        read_chunked(Counting(b"0" * 10_000_000), 1 << 20)
