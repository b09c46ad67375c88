"""`tagd run` as the operator and the judge start it: a subprocess on config/demo.toml against a real
mosquitto, found by its retained status, driven through sim/ topics, stopped with SIGTERM."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .broker import Broker
from .stations import Circulation

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "config" / "demo.toml"
DEMO_STATIONS = {
    "demo-encoder": "encoder",
    "demo-checkout": "checkout",
    "demo-gate": "gate",
    "demo-checkin": "checkin",
}
START_S = 15.0
STOP_S = 15.0


def tagd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tagd.daemon", *args]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """A real AF_UNIX datagram socket standing in for systemd's $NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
def daemon(tmp_path: Path, broker: Broker, notify_socket: socket.socket) -> Iterator[subprocess.Popen[bytes]]:
    """`tagd run` on the demo configuration as systemd starts it (notify socket, a 1 s watchdog); its state
    (outbox, catalog) in tmp_path, its log in a file."""
    env = {**os.environ, "TAGD_STATE_DIR": str(tmp_path / "state")}
    env.update(NOTIFY_SOCKET=notify_socket.getsockname(), WATCHDOG_USEC="1000000")
    env.pop("WATCHDOG_PID", None)
    with (tmp_path / "tagd.log").open("wb") as log:
        process = subprocess.Popen(
            tagd("run", "--config", str(DEMO), "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_S)


async def datagrams(sock: socket.socket, until: bytes) -> list[bytes]:
    """What tagd told systemd, up to and including the datagram holding `until`."""
    loop = asyncio.get_running_loop()
    received: list[bytes] = []
    async with asyncio.timeout(START_S):
        while not received or until not in received[-1]:
            received.append(await loop.sock_recv(sock, 4096))
    return received


async def test_tagd_run_serves_the_demo_stations_and_stops_cleanly_on_sigterm(
    daemon: subprocess.Popen[bytes], broker: Broker, tmp_path: Path, notify_socket: socket.socket
) -> None:
    started = await datagrams(notify_socket, b"READY=1")
    assert b"STATUS=4 stations" in started[-1]
    assert b"WATCHDOG=1" in b"".join(await datagrams(notify_socket, b"WATCHDOG=1"))
    async with Circulation(broker.port) as desk:
        for name, role in DEMO_STATIONS.items():
            status = await desk.wait_status(name, lambda s: s["state"] == "online", START_S)
            assert (status["role"], status["library"]) == (role, "demo")
        await desk.wait_status(
            "demo-encoder", lambda s: s["readers"].get("reader", {}).get("state") == "connected", START_S
        )
        placed = await desk.sim("demo-encoder", "place", profile="U-TAG-L301")
        await desk.sim("demo-encoder", "scan", raw="A100000017B")
        encoded = await desk.wait_for("item.encoded", within=START_S)
        assert (encoded.data.item_id, encoded.data.uid, encoded.source) == (
            "100000017",
            placed["uid"],
            "tagd/demo-encoder",
        )

        daemon.send_signal(signal.SIGTERM)
        stopping = await datagrams(notify_socket, b"STOPPING=1")
        code = await asyncio.to_thread(daemon.wait, STOP_S)
        assert code == 0, (tmp_path / "tagd.log").read_text()[-3000:]
        assert b"STATUS=stopping" in stopping[-1]
        for name in DEMO_STATIONS:
            await desk.wait_status(name, lambda s: s["state"] == "offline")


def test_a_bad_config_exits_78_with_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[stations]]\nname = "x"\nrole = "encodr"\nlibrary = "l"\nisil = "JP-1"\nreader = "sim:x"\n'
        "[mqtt]\nurll = 'mqtt://127.0.0.1:1'\n",
        encoding="utf-8",
    )
    result = subprocess.run(tagd("run", "--config", str(bad)), capture_output=True, timeout=30, check=False)
    assert result.returncode == 78
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 2, lines
    assert any("stations[0].role" in line and "encodr" in line for line in lines)
    assert any("mqtt.urll" in line for line in lines)


def test_a_missing_config_exits_66_and_a_bad_mqtt_url_78_naming_where_it_came_from(tmp_path: Path) -> None:
    missing = subprocess.run(
        tagd("run", "--config", str(tmp_path / "none.toml")), capture_output=True, timeout=30, check=False
    )
    assert (missing.returncode, len(missing.stderr.splitlines())) == (66, 1)
    assert b"none.toml: no such file" in missing.stderr
    url = subprocess.run(
        tagd("run", "--config", str(DEMO), "--mqtt-url", "http://x"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert url.returncode == 78
    assert url.stderr.decode().startswith("tagd: --mqtt-url: mqtt.url: "), url.stderr
    assert str(DEMO).encode() not in url.stderr


def test_a_bad_environment_value_is_reported_as_from_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "TAGD_MQTT__KEEPALIVE": "abc"}
    result = subprocess.run(
        tagd("run", "--config", str(DEMO)), capture_output=True, timeout=30, check=False, env=env
    )
    assert result.returncode == 78
    lines = result.stderr.decode().splitlines()
    where = "environment variable TAGD_MQTT__KEEPALIVE"
    assert lines == [f"tagd: {where}: mqtt.keepalive: expected a whole number, got 'abc'"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("state_dir = 1" + "0" * 5000 + "\n", "not usable TOML: Exceeds the limit"),
        ("x = " + "[" * 50_000 + "]" * 50_000 + "\n", "nested too deeply"),
    ],
)
def test_a_hostile_config_file_exits_78_with_one_line(tmp_path: Path, text: str, says: str) -> None:
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(text, encoding="utf-8")
    command = tagd("run", "--config", str(hostile))
    result = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert result.returncode == 78
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines[:5]
    assert says in lines[0]


def test_a_damaged_holds_ledger_exits_73_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "holds.sqlite3").write_bytes(b"this is not an SQLite database " * 200)
    result = subprocess.run(
        tagd("run", "--config", str(DEMO), "--mqtt-url", "mqtt://127.0.0.1:1"),
        capture_output=True,
        timeout=30,
        check=False,
        env={**os.environ, "TAGD_STATE_DIR": str(state), "TAGD_STATE_WAIT_SECONDS": "0"},
    )
    assert result.returncode == 73, result.stderr.decode()[-2000:]
    (line,) = result.stderr.decode().splitlines()[-1:]
    assert line.startswith("tagd: holds ledger "), line
    assert "holds.sqlite3" in line, line


async def test_a_state_database_that_cannot_be_opened_is_tried_again_until_it_can(
    tmp_path: Path, broker: Broker, notify_socket: socket.socket
) -> None:
    """Not an exit 73 and a systemd restart every 2 s: tagd tries again (state_wait_seconds), and starts as
    soon as the database can be opened (here: the damaged ledger is taken away)."""
    state = tmp_path / "state"
    state.mkdir()
    ledger = state / "holds.sqlite3"
    ledger.write_bytes(b"this is not an SQLite database " * 200)
    env = {**os.environ, "TAGD_STATE_DIR": str(state), "TAGD_STATE_WAIT_SECONDS": "60"}
    env.update(NOTIFY_SOCKET=notify_socket.getsockname())
    process = await asyncio.create_subprocess_exec(
        *tagd("run", "--config", str(DEMO), "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}"),
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(START_S):
            while b"trying again in" not in (line := await process.stderr.readline()):
                assert line, "tagd ended without trying again"
        assert process.returncode is None
        drain = asyncio.create_task(process.stderr.read())  # the log, so that the pipe never fills
        ledger.unlink()
        await datagrams(notify_socket, b"READY=1")
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_S):
            assert await process.wait() == 0
        await drain
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
