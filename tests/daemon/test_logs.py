"""Logs: JSON lines off a terminal, coloured lines on one (a real pty), and no secret ever written."""

import io
import json
import logging
import os
import string
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from tagd.daemon.logs import REDACTED, Redactor, configure_logging, get_logger

ANSI = "\x1b["


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging sets process-wide state; every test leaves it as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_when_not_on_a_terminal():
    stream = io.StringIO()
    configure_logging("auto", "info", stream=stream)
    log = get_logger("tagd.daemon.test")
    log.info("tag written", uid="E004010012345678", item_id="100000017")
    log.debug("not shown at info")
    log.error("reader lost", reader="sim:x")
    first, second = lines(stream)
    assert first["event"] == "tag written"
    assert (first["level"], first["uid"], first["module"]) == ("info", "E004010012345678", "tagd.daemon.test")
    assert str(first["timestamp"]).endswith("Z")
    assert (second["event"], second["level"]) == ("reader lost", "error")


def test_coloured_readable_lines_on_a_terminal():
    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8", closefd=True) as terminal:
        configure_logging("auto", "info", stream=terminal)
        get_logger("tagd.daemon.test").warning("outbox nearly full", events=9_000)
        terminal.flush()
        output = os.read(master, 65536).decode()
    os.close(master)
    assert ANSI in output, "colour on a terminal"
    assert "outbox nearly full" in output
    assert "events" in output
    assert "9000" in output
    assert not output.lstrip().startswith("{")


def test_console_format_off_a_terminal_has_no_colour():
    stream = io.StringIO()
    configure_logging("console", "debug", stream=stream)
    get_logger("x").debug("hello", station="demo-gate")
    output = stream.getvalue()
    assert "hello" in output
    assert "station=demo-gate" in output
    assert ANSI not in output


def test_the_journal_gets_a_priority_prefix(tmp_path):
    with (tmp_path / "journal").open("w+", encoding="utf-8") as stream:
        status = os.fstat(stream.fileno())
        environ = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        configure_logging("auto", "info", stream=stream, environ=environ)
        log = get_logger("x")
        log.info("ready")
        log.error("broker refused")
        stream.seek(0)
        written = stream.read().splitlines()
    assert written[0].startswith('<6>{"')
    assert written[1].startswith('<3>{"')
    assert json.loads(written[1][3:])["event"] == "broker refused"


def test_another_journal_stream_is_not_ours(tmp_path):
    stream = io.StringIO()
    configure_logging("auto", "info", stream=stream, environ={"JOURNAL_STREAM": "1:2"})
    get_logger("x").info("plain")
    assert stream.getvalue().startswith("{")


def test_standard_logging_comes_out_the_same_way():
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream, secrets=["s3cret-pass"])
    logging.getLogger("aiomqtt").warning("connecting with password %s to %s", "s3cret-pass", "mqtt://u:pw@host")
    (record,) = lines(stream)
    assert (record["logger"], record["level"]) == ("aiomqtt", "warning")
    assert "s3cret-pass" not in stream.getvalue()
    assert record["event"] == f"connecting with password {REDACTED} to mqtt://u:{REDACTED}@host"


def test_secrets_are_redacted_by_key_value_and_url():
    stream = io.StringIO()
    redactor = configure_logging("json", "info", stream=stream, secrets=[SecretStr("mqtt-pass-1234"), None])
    redactor.add("0A1B2C3D")
    log = get_logger("x")
    log.info(
        "connecting",
        password="mqtt-pass-1234",
        mqtt={"url": "mqtts://stations:mqtt-pass-1234@broker:8883", "username": "stations"},
        eas_afi_password=SecretStr("0A1B2C3D"),
        note="password is 0A1B2C3D",
        attempts=[1, "mqtt-pass-1234"],
        api_token="abc",
    )
    try:
        int("bad password mqtt-pass-1234")
    except ValueError:
        log.exception("failed")
    output = stream.getvalue()
    assert "mqtt-pass-1234" not in output
    assert "0A1B2C3D" not in output
    first, second = lines(stream)
    assert first["password"] == REDACTED
    assert first["eas_afi_password"] == REDACTED
    assert first["api_token"] == REDACTED
    assert first["mqtt"] == {"url": f"mqtts://stations:{REDACTED}@broker:8883", "username": "stations"}
    assert first["attempts"] == [1, REDACTED]
    assert "invalid literal for int() with base 10: 'bad password [redacted]'" in str(second["exception"])


def test_short_values_are_not_taken_for_secrets():
    redactor = Redactor(["abc", ""])
    assert redactor.scrub("abc is fine") == "abc is fine"


SECRETS = st.text(alphabet=string.ascii_letters + string.digits + "!#%&*+-=?^_~", min_size=12, max_size=24)


@given(secret=SECRETS, prefix=st.text(max_size=10), key=st.sampled_from(["detail", "url", "password", "pin"]))
def test_a_configured_secret_never_reaches_the_output(secret, prefix, key):
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream, secrets=[secret])
    get_logger("x").warning(prefix + secret, **{key: f"{prefix}{secret}", "nested": {"list": [secret]}})
    logging.getLogger("lib").error("%s%s", prefix, secret)
    assert secret not in stream.getvalue()
    structlog.reset_defaults()
