"""systemd notify: real AF_UNIX datagram sockets stand in for systemd's, and receive what tagd sends."""

import asyncio
import io
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator

import pytest
import structlog

from tagd.daemon.logs import configure_logging
from tagd.daemon.notify import Notifier

TIMEOUT = 5.0


@pytest.fixture
def receiver(tmp_path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where $NOTIFY_SOCKET will point, as systemd's is."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(TIMEOUT)
    yield sock, path
    sock.close()


def test_ready_status_and_stopping_arrive_as_datagrams(receiver):
    sock, path = receiver
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("4 stations running")
    assert sock.recv(4096) == b"READY=1\nSTATUS=4 stations running"
    assert notifier.status("outbox full:\n1000 events waiting")
    assert sock.recv(4096) == b"STATUS=outbox full: 1000 events waiting"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_an_abstract_socket_is_named_with_a_leading_at():
    name = f"tagd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(TIMEOUT)
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"
        notifier.close()
    finally:
        sock.close()


def test_outside_systemd_every_call_is_a_no_op():
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert notifier.keepalive_interval is None
    assert not notifier.ready("x")
    assert not notifier.watchdog()


def test_a_vanished_socket_is_reported_not_raised(tmp_path):
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", stream=stream)
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone")})
        assert not notifier.ready()
        assert not notifier.watchdog()
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["event"] == "cannot notify systemd", "logged once, not at every ping"
    assert record["socket"] == str(tmp_path / "gone")


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_keepalive_interval_is_half_the_watchdog_period_for_this_process(environ, interval):
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": "/run/nothing"} | environ)
    assert notifier.keepalive_interval == interval


async def test_keep_alive_pings_at_half_the_watchdog_period(receiver):
    sock, path = receiver
    sock.setblocking(False)
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"})
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(notifier.keep_alive())
    try:
        started = loop.time()
        for _ in range(3):
            assert await asyncio.wait_for(loop.sock_recv(sock, 4096), TIMEOUT) == b"WATCHDOG=1"
        assert loop.time() - started >= 2 * 0.01, "three pings span at least two intervals of 10 ms"
    finally:
        task.cancel()
        notifier.close()


async def test_keep_alive_stops_pinging_while_unhealthy(receiver):
    sock, path = receiver
    sock.setblocking(False)
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000"})
    asked = asyncio.Event()
    calls = 0

    def unhealthy() -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            asked.set()
        return False

    task = asyncio.create_task(notifier.keep_alive(unhealthy))
    try:
        await asyncio.wait_for(asked.wait(), TIMEOUT)
        with pytest.raises(BlockingIOError):
            sock.recv(4096)
    finally:
        task.cancel()
        notifier.close()


async def test_keep_alive_returns_at_once_without_a_watchdog():
    await asyncio.wait_for(Notifier.from_environ({"NOTIFY_SOCKET": "/run/x"}).keep_alive(), TIMEOUT)
    await asyncio.wait_for(Notifier.from_environ({"WATCHDOG_USEC": "1000"}).keep_alive(), TIMEOUT)
