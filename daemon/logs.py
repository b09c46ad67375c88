"""Logs with structlog: JSON lines where machines read them, readable coloured lines on a terminal.

Under systemd stderr is the journal: JSON lines there carry a `<N>` syslog priority prefix, which journald
strips and keeps as the PRIORITY field, so `journalctl -p warning` works. Libraries that log through the
standard `logging` module (aiomqtt, amqtt) come out the same way. Secrets never reach the output: values
of secret keys are replaced, the configured secret values are masked wherever they appear, and so are
passwords inside URLs.
"""

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["REDACTED", "Redactor", "configure_logging", "get_logger"]

Format = Literal["auto", "json", "console"]
REDACTED = "[redacted]"
SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "token", "authorization", "api_key", "private_key", "eas_afi_password"}
)
_SECRET_SUFFIXES = ("_password", "_secret", "_token", "_key_password")
_MIN_SECRET = 4
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")
_PRIORITIES = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "warn": 4, "info": 6, "debug": 7}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


class Redactor:
    """A structlog processor: secret keys' values, known secret values and URL passwords become REDACTED."""

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        self._values: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | SecretStr | None) -> None:
        """Masks these values wherever they appear; values shorter than 4 characters are left out."""
        for secret in secrets:
            value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if value is not None and len(value) >= _MIN_SECRET:
                self._values.add(value)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:  # noqa: ARG002
        return {key: self._clean(key, value) for key, value in event_dict.items()}

    def _clean(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and is_secret_key(key) and value not in (None, ""):
            return REDACTED
        return self.scrub(value)

    def scrub(self, value: Any) -> Any:
        """The value with every secret inside it masked; objects become their (masked) text."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, SecretStr):
            return REDACTED
        if isinstance(value, Mapping):
            return {key: self._clean(key, item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub(item) for item in value]
        text = value if isinstance(value, str) else repr(value) if isinstance(value, bytes) else str(value)
        for secret in sorted(self._values, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return _URL_PASSWORD.sub(lambda match: match.group("head") + REDACTED + "@", text)


class _JournalPriority:
    """Prefixes each rendered line with `<N>`, the syslog priority journald reads from a stream."""

    def __init__(self, renderer: Processor) -> None:
        self._renderer = renderer

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        priority = _PRIORITIES.get(str(event_dict.get("level", "info")), 6)
        rendered = self._renderer(logger, method_name, event_dict)
        text = rendered.decode() if isinstance(rendered, bytes | bytearray) else str(rendered)
        return f"<{priority}>{text}"


def _dumps(value: Any, **kwargs: Any) -> str:
    """Japanese titles stay readable in the journal: no \\u escapes."""
    return json.dumps(value, ensure_ascii=False, **kwargs)


def _is_journal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """$JOURNAL_STREAM names the journal's socket as device:inode; it counts only if it is `stream`."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):
        return False


def _renderer(format: Format, stream: TextIO, environ: Mapping[str, str]) -> Processor:
    tty = stream.isatty()
    if format == "console" or (format == "auto" and tty):
        return structlog.dev.ConsoleRenderer(colors=tty)
    renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    return _JournalPriority(renderer) if _is_journal(stream, environ) else renderer


def configure_logging(
    format: Format = "auto",
    level: str = "info",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str | SecretStr | None] = (),
    environ: Mapping[str, str] | None = None,
) -> Redactor:
    """Sets up structlog and the `logging` root for the process; returns the redactor to add secrets to."""
    stream = stream if stream is not None else sys.stderr
    redactor = Redactor(secrets)
    renderer = _renderer(format, stream, os.environ if environ is None else environ)
    number = _LEVELS[level.lower()]
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=not stream.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, stamp],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(number)
    logging.captureWarnings(capture=True)
    return redactor


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    """A logger carrying its module's name (key `module`); it follows later `configure_logging` calls."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(module=name)
    return logger
