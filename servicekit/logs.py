"""Structured logs: one JSON object per line, with the service, the instance and the request id
of whatever the line is about (`LOG_FORMAT=text` keeps a readable line for local work).

The request id lives in a context variable bound per Nameko worker (`servicekit.telemetry`),
so every line a worker writes carries it without passing it around. Every line also passes
through `redact`, so a password, a token, a SNILS or a document number never reaches a log,
even inside an exception message (a caller may vouch that its message is built only from
values that cannot hold one: the gateway's request line, `log_fields(..., known_safe=True)`).

The structured lines of `log_fields` (one per HTTP request, RPC and event) are the hot path:
with the configured console handler (`LineHandler`, deploy/nameko.yaml) they are built as text
straight from pre-built parts, without a `logging.LogRecord`, and written in batches:
informational lines at most LOG_FLUSH_SECONDS (0.2 s) late, in one write for many lines;
a warning or an error at once, with whatever is waiting before it, so the order holds.
"""

import json
import logging
import os
import re
import socket
import time
from contextvars import ContextVar
from json.encoder import encode_basestring

from servicekit import config

# fields of the worker being run (request_id, role, ...), bound by servicekit.telemetry
_context: ContextVar[dict | None] = ContextVar("navigator_log_context", default=None)

PROCESS = {
    "service": None,  # set when the service's container starts
    "instance": config.env("INSTANCE_NAME", f"{socket.gethostname()}:{os.getpid()}"),
}


def bind(**fields):
    """Attach fields to every line the current worker writes; returns a token for `unbind`."""
    return _context.set({k: v for k, v in fields.items() if v is not None})


def unbind(token) -> None:
    _context.reset(token)


def annotate(**fields) -> None:
    """Add fields to the current worker's context (e.g. the caller's role once known)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def current(name: str):
    fields = _context.get()
    return fields.get(name) if fields else None


def current_request_id() -> str | None:
    return current("request_id")


# What must never be written down, whatever message carries it.
_SECRET_KEYS = (
    r"password|new_password|old_password|current_password|token|access_token|refresh_token|"
    r"authorization|secret|snils|document_number|document_series|passport|"
    r"birth_certificate_number|birth_certificate_series"
)
_KEY_VALUE = re.compile(
    # "password": "x", 'token': 'x', password=x, Authorization: Bearer x
    rf"""(?i)(["']?\b(?:{_SECRET_KEYS})\b["']?\s*[:=]\s*)(?:bearer\s+)?("[^"]*"|'[^']*'|[^\s,;&}}\]]+)"""
)
_KEYWORDS = ("password", "token", "authorization", "secret", "snils", "document", "passport")
_KEYWORDS += ("birth_certificate",)
_BEARER = re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+")
# JSON Web Tokens
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_DIGITS = re.compile(r"\d{3}[- ]?\d{3}")
_NUMBERS = [
    # SNILS with or without separators
    (re.compile(r"\b\d{3}[- ]?\d{3}[- ]?\d{3}[- ]?\d{2}\b"), "[snils]"),
    # birth certificate series-number (e.g. "IV-БА 123456") and passports ("0412 123456")
    (re.compile(r"\b[IVXLCivxlc1]{1,4}-[А-ЯЁA-Z]{2}\s*№?\s*\d{6}\b"), "[document]"),
    (re.compile(r"\b\d{2}\s?\d{2}\s?№?\s?\d{6}\b"), "[document]"),
]


def redact(text: str) -> str:
    # cheap substring checks first: most lines hold none of it, and this runs on every line
    lower = text.lower()
    if any(word in lower for word in _KEYWORDS):
        text = _KEY_VALUE.sub(r"\1[redacted]", text)
    if "bearer" in lower:
        text = _BEARER.sub("Bearer [redacted]", text)
    if "eyJ" in text:
        text = _JWT.sub("[token]", text)
    if _DIGITS.search(text):
        for pattern, replacement in _NUMBERS:
            text = pattern.sub(replacement, text)
    return text


_SECRET_NAME = re.compile(rf"(?i)^(?:{_SECRET_KEYS})$")


def _redact_value(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return redact_fields(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


def redact_fields(fields: dict) -> dict:
    """Structured fields as redact leaves text: a field named as a secret is "[redacted]",
    text is redacted wherever it is (a handler's error such as `Key (snils)=(…)` is text)."""
    return {
        name: "[redacted]" if _SECRET_NAME.match(str(name)) else _redact_value(value)
        for name, value in fields.items()
    }


_clock = ["", -1]  # the text of the last second formatted, and that second


def timestamp(now: float) -> str:
    """`2026-11-29T19:07:04.123Z`; the seconds' text is made once per second."""
    second = int(now)
    if second != _clock[1]:
        _clock[0] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _clock[1] = second
    return f"{_clock[0]}.{int((now - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": PROCESS["service"],
            "instance": PROCESS["instance"],
        }
        context = _context.get()
        if context:
            entry.update(redact_fields(context))
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(redact_fields(fields))
        entry["message"] = redact(record.getMessage())
        if record.exc_info:
            # the stack trace stays here, in the log; clients get a problem+json without it
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


# '"level": "info", "logger": ..., "service": ..., "instance": ..., ' per logger and level
_heads: dict[tuple, str] = {}


def _head(name: str, level: int) -> str:
    key = (name, level, PROCESS["service"], PROCESS["instance"])
    head = _heads.get(key)
    if head is None:
        members = {
            "level": logging.getLevelName(level).lower(),
            "logger": name,
            "service": PROCESS["service"],
            "instance": PROCESS["instance"],
        }
        head = json.dumps(members, ensure_ascii=False)[1:-1] + ", "
        _heads[key] = head
    return head


try:  # CPython's C encoder, made once: json.dumps builds one for every call
    from json.encoder import c_make_encoder

    _encode_members = c_make_encoder(
        None, str, encode_basestring, None, ": ", ", ", False, False, True
    )
except (ImportError, TypeError):  # pragma: no cover - another Python
    _encode_members = None


def json_line(
    name: str, level: int, message: str, fields: dict, now: float, known_safe: bool = False
) -> str:
    """What JsonFormatter writes for a `log_fields` line (a test holds them equal), as text
    put together directly: `fields` without None values, `message` already redacted; the
    fields and the context are redacted here unless `known_safe`."""
    context = _context.get()
    members = {**context, **fields} if context else dict(fields)
    if not known_safe:
        members = redact_fields(members)
    members["message"] = message
    if _encode_members is not None:
        body = "".join(_encode_members(members, 0))
    else:
        body = json.dumps(members, ensure_ascii=False, default=str)
    return f'{{"ts": "{timestamp(now)}", {_head(name, level)}{body[1:]}\n'


def _schedule(seconds: float, function):
    """A call `seconds` from now on eventlet's hub (every Nameko process runs one); None
    outside a monkey-patched process, where lines are written at once."""
    try:
        from eventlet import hubs, patcher
    except ImportError:  # pragma: no cover - eventlet comes with nameko
        return None
    if not patcher.is_monkey_patched("thread"):
        return None
    return hubs.get_hub().schedule_call_global(seconds, function)


class LineHandler(logging.StreamHandler):
    """The console handler of every process (deploy/nameko.yaml): a StreamHandler that also
    takes ready-made lines from `log_fields` and writes them together.

    An informational line waits at most LOG_FLUSH_SECONDS (0 writes each at once) or until
    64 lines wait; a warning or an error goes out at once, after the lines waiting before it,
    and so does any line through the logging machinery (`emit`): the order holds. At exit
    `logging.shutdown` flushes what waits; a hard kill loses at most that much."""

    BATCH = 64

    def __init__(self, stream=None):
        super().__init__(stream)
        self.flush_seconds = float(config.env("LOG_FLUSH_SECONDS", "0.2"))
        self._pending: list[str] = []
        self._timer = None

    def write_line(self, line: str, urgent: bool = False) -> None:
        self._pending.append(line)
        if urgent or self.flush_seconds <= 0 or len(self._pending) >= self.BATCH:
            self.flush()
        elif self._timer is None:
            self._timer = _schedule(self.flush_seconds, self._flush_later)
            if self._timer is None:
                self.flush()

    def _flush_later(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        self.acquire()
        try:
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                try:
                    self.stream.write(text)
                except Exception:  # noqa: BLE001 - as StreamHandler.emit: never raise
                    self.handleError(None)
            if self.stream and hasattr(self.stream, "flush"):
                self.stream.flush()
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:
            self.flush()
        super().emit(record)

    def close(self) -> None:
        self.flush()
        super().close()


def _direct_handler(logger: logging.Logger, level: int) -> LineHandler | None:
    """The LineHandler a `log_fields` line may go to directly: when the logging machinery
    would send it there and nowhere else, through no filter, formatted by JsonFormatter."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1 or root.filters:
        return None
    handler = handlers[0]
    if (
        type(handler) is not LineHandler
        or type(handler.formatter) is not JsonFormatter
        or handler.filters
        or level < handler.level
    ):
        return None
    node = logger
    while node is not root:
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    return handler


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = current_request_id() or (getattr(record, "fields", None) or {}).get(
            "request_id"
        )
        if request_id:
            line = f"{line} [request {request_id}]"
        return redact(line)


def formatter() -> logging.Formatter:
    """The formatter named by LOG_FORMAT (`json`, the default, or `text`); deploy/nameko.yaml
    names this factory, so every service and the gateway log the same way."""
    logging.captureWarnings(True)  # runtime warnings become log lines of the same format
    # no line shows them, and under eventlet the thread name costs a lookup on every record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    return TextFormatter() if config.env("LOG_FORMAT", "json") == "text" else JsonFormatter()


def log_fields(
    logger: logging.Logger, level: int, message: str, known_safe: bool = False, **fields
) -> None:
    """One structured line: `message` for people, `fields` as JSON members for machines.
    `known_safe`: the message is made only of values that cannot hold a secret (method, route
    template, status, duration) and so are the fields, so it skips redaction; otherwise the
    message and every field are redacted (`error='Key (snils)=(…)'` once went out in clear)."""
    if not logger.isEnabledFor(level):
        return
    present = {name: value for name, value in fields.items() if value is not None}
    handler = _direct_handler(logger, level)
    if handler is not None:
        line = json_line(
            logger.name,
            level,
            message if known_safe else redact(message),
            present,
            time.time(),
            known_safe,
        )
        handler.write_line(line, urgent=level >= logging.WARNING)
        return
    # straight to the handlers: Logger.log would walk the stack for a caller nobody reads
    logger.handle(
        logger.makeRecord(logger.name, level, "", 0, message, (), None, extra={"fields": present})
    )
