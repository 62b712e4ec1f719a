"""Structured logs: one JSON object per line, with the service, the instance and the request id
of whatever the line is about (`LOG_FORMAT=text` keeps a readable line for local work).

The request id lives in a context variable bound per Nameko worker (`servicekit.telemetry`),
so every line a worker writes carries it without passing it around. Every line also passes
through `redact`, so a password, a token, a SNILS or a document number never reaches a log,
even inside an exception message.
"""

import json
import logging
import os
import re
import socket
import time
from contextvars import ContextVar

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "service": PROCESS["service"],
            "instance": PROCESS["instance"],
        }
        context = _context.get()
        if context:
            entry.update(context)
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        entry["message"] = redact(record.getMessage())
        if record.exc_info:
            # the stack trace stays here, in the log; clients get a problem+json without it
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


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


def log_fields(logger: logging.Logger, level: int, message: str, **fields) -> None:
    """One structured line: `message` for people, `fields` as JSON members for machines."""
    if logger.isEnabledFor(level):
        present = {name: value for name, value in fields.items() if value is not None}
        # straight to the handlers: Logger.log would walk the stack for a caller nobody reads
        logger.handle(
            logger.makeRecord(
                logger.name, level, "", 0, message, (), None, extra={"fields": present}
            )
        )
