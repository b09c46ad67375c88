"""Issue 6 §6, broker security: mosquitto run from the committed config/mosquitto/ files (only the port and
file paths are changed for the test), with certificates made by openssl and users by mosquitto_passwd.

A station may publish only under its own name; only the circulation user may send commands and publish the
holds feed; nobody gets in without TLS and a password; and tagd (`tagd run`) connects with both.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from tagd.daemon.config.model import load_config_data
from tagd.daemon.config.sections import Tls
from tagd.daemon.mqtt.client import AckingClient, PublishRefused, tls_context

from .broker import MOSQUITTO, _die_with_parent, free_port, wait_listening
from .stations import running
from .tls import Certificates, certificates, password_file

CONFIG = Path(__file__).parents[2] / "config" / "mosquitto"
USERS = {"circulation": "circ-pw", "enc1": "enc1-pw", "chk1": "chk1-pw", "visitor": "visitor-pw"}
NOT_AUTHORIZED = 0x87
WAIT_S = 10.0
NO_CONNACK_S = 2.0
ITEM = "123456782"


@dataclass
class SecureBroker:
    port: int
    certs: Certificates

    def context(self) -> ssl.SSLContext:
        return tls_context(Tls(ca_file=self.certs.ca))


def rendered(directory: Path, port: int) -> Path:
    """The committed mosquitto.conf with this test's port and paths (each must be in it), run as root."""
    text = (CONFIG / "mosquitto.conf").read_text()
    for committed, here in {
        "listener 8883\n": f"listener {port} 127.0.0.1\n",
        "/etc/mosquitto/tagd/certs/": f"{directory}/",
        "/etc/mosquitto/tagd/": f"{directory}/",
        "/var/lib/mosquitto/": f"{directory}/",
    }.items():
        assert committed in text, f"config/mosquitto/mosquitto.conf no longer has {committed!r}"
        text = text.replace(committed, here)
    conf = directory / "mosquitto.conf"
    conf.write_text(f"{text}\n# test only: the test's files are root's\nuser root\n")
    return conf


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    certs = certificates(tmp_path)
    password_file(tmp_path / "passwords", USERS)
    (tmp_path / "acl").write_text((CONFIG / "acl").read_text())
    port = free_port()
    conf = rendered(tmp_path, port)
    with (tmp_path / "mosquitto.log").open("ab") as log:
        process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log, preexec_fn=_die_with_parent  # noqa: PLW1509
        )
    try:
        try:
            wait_listening(port, process)
        except OSError:
            pytest.fail(f"mosquitto did not start: {(tmp_path / 'mosquitto.log').read_text()[-2000:]}")
        yield SecureBroker(port, certs)
    finally:
        process.terminate()
        process.wait(timeout=5)


class Client:
    """One user's MQTT 5 connection over TLS, collecting what it receives on its subscriptions."""

    def __init__(self, broker: SecureBroker, user: str, *, will: aiomqtt.Will | None = None) -> None:
        self.mqtt = AckingClient(
            "127.0.0.1", broker.port, identifier=f"test-{user}", username=user, password=USERS[user],
            protocol=aiomqtt.ProtocolVersion.V5, tls_context=broker.context(), will=will,
        )  # fmt: skip
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = asyncio.Condition()

    async def subscribe(self, topic: str) -> int:
        """The SUBACK's reason code: the granted QoS, or a refusal such as 0x87."""
        (code,) = await self.mqtt.subscribe(topic, qos=1)
        return code.value if isinstance(code, ReasonCode) else code

    async def publish(self, topic: str, payload: bytes = b"{}", *, retain: bool = False) -> None:
        """QoS 1; raises PublishRefused with the PUBACK's reason code if the broker refuses it."""
        await self.mqtt.publish_acked(topic, payload, None, retain=retain)

    async def wait_for(self, predicate: Callable[[list[tuple[str, bytes]]], bool]) -> None:
        async with asyncio.timeout(WAIT_S), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.messages))

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.messages]

    async def _read(self) -> None:
        async for message in self.mqtt.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            async with self._arrived:
                self.messages.append((message.topic.value, payload))
                self._arrived.notify_all()


@contextlib.asynccontextmanager
async def connected(broker: SecureBroker, user: str, **kwargs: aiomqtt.Will) -> AsyncIterator[Client]:
    client = Client(broker, user, **kwargs)
    async with client.mqtt:
        reader = asyncio.create_task(client._read())
        try:
            yield client
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader


async def refused(client: Client, topic: str, *, retain: bool = False) -> None:
    with pytest.raises(PublishRefused, match=f"{NOT_AUTHORIZED:#04x}"):
        await client.publish(topic, retain=retain)


async def test_a_station_publishes_only_under_its_own_name(secure_broker: SecureBroker) -> None:
    async with connected(secure_broker, "circulation") as desk, connected(secure_broker, "enc1") as enc1:
        assert await desk.subscribe("tagd/#") == 1
        await enc1.publish("tagd/enc1/status", b'{"state": "online"}', retain=True)
        await enc1.publish("tagd/enc1/events/item.detected")
        await enc1.publish("tagd/enc1/reply/r1")
        await refused(enc1, "tagd/chk1/status", retain=True)
        await refused(enc1, "tagd/chk1/events/item.detected")
        await refused(enc1, "tagd/chk1/reply/r1")
        await refused(enc1, "tagd/enc1/cmd/security")  # not even commands to itself
        await refused(enc1, "tagd/holds/123456782")
        await refused(enc1, "elsewhere/topic")
        await enc1.publish("tagd/enc1/events/marker")  # in order after the refused ones: they came first
        await desk.wait_for(lambda m: ("tagd/enc1/events/marker", b"{}") in m)
    assert desk.topics() == [
        "tagd/enc1/status", "tagd/enc1/events/item.detected", "tagd/enc1/reply/r1", "tagd/enc1/events/marker"
    ]  # fmt: skip


async def test_a_station_hears_only_its_own_commands_and_the_holds_feed(secure_broker: SecureBroker) -> None:
    """mosquitto 2.0 grants any subscription and filters each message by the ACL's read rules."""
    async with (
        connected(secure_broker, "enc1") as enc1,
        connected(secure_broker, "chk1") as chk1,
        connected(secure_broker, "circulation") as desk,
    ):
        await enc1.subscribe("tagd/#")
        await chk1.publish("tagd/chk1/status", b"{}", retain=True)
        await chk1.publish("tagd/chk1/events/item.detected")
        await desk.publish("tagd/chk1/cmd/security")
        await desk.publish(f"tagd/holds/{ITEM}")
        await desk.publish("tagd/enc1/cmd/security")  # in order after the others: they came first
        await enc1.wait_for(lambda m: ("tagd/enc1/cmd/security", b"{}") in m)
    assert enc1.topics() == [f"tagd/holds/{ITEM}", "tagd/enc1/cmd/security"]


async def test_only_the_circulation_user_sends_commands_and_the_holds_feed(
    secure_broker: SecureBroker,
) -> None:
    async with (
        connected(secure_broker, "enc1") as enc1,
        connected(secure_broker, "chk1") as chk1,
        connected(secure_broker, "visitor") as visitor,
        connected(secure_broker, "circulation") as desk,
    ):
        for topic in ("tagd/enc1/cmd/+", "tagd/enc1/sim/+", "tagd/holds/+"):
            await enc1.subscribe(topic)
        for stranger in (chk1, visitor):
            await refused(stranger, "tagd/enc1/cmd/security")
            await refused(stranger, "tagd/enc1/sim/place")
            await refused(stranger, f"tagd/holds/{ITEM}", retain=True)
        await desk.publish(f"tagd/holds/{ITEM}", b'{"holds": []}', retain=True)
        await desk.publish("tagd/enc1/sim/place")
        await desk.publish("tagd/enc1/cmd/security")
        await enc1.wait_for(lambda m: len(m) == 3)
    assert enc1.messages == [
        (f"tagd/holds/{ITEM}", b'{"holds": []}'),
        ("tagd/enc1/sim/place", b"{}"),
        ("tagd/enc1/cmd/security", b"{}"),
    ]


async def test_no_password_no_tls_or_no_trust_gets_nobody_in(secure_broker: SecureBroker) -> None:
    ours, system = secure_broker.context(), ssl.create_default_context()

    def attempt(user: str | None, password: str | None, tls: ssl.SSLContext | None) -> aiomqtt.Client:
        timeout = WAIT_S if tls else NO_CONNACK_S
        return aiomqtt.Client("127.0.0.1", secure_broker.port, username=user, password=password,
                              tls_context=tls, timeout=timeout)  # fmt: skip

    attempts = {
        "wrong password": attempt("enc1", "guess", ours),
        "unknown user": attempt("nobody", "x", ours),
        "no credentials": attempt(None, None, ours),
        "no TLS": attempt("enc1", USERS["enc1"], None),
        "CA not trusted": attempt("enc1", USERS["enc1"], system),
    }
    outcomes = {}
    for name, client in attempts.items():
        with pytest.raises((aiomqtt.MqttError, OSError)) as refusal:
            async with asyncio.timeout(WAIT_S), client:
                pass
        outcomes[name] = f"{type(refusal.value).__name__}: {refusal.value}"
    print("\n" + "\n".join(f"{name}: {why}" for name, why in outcomes.items()))
    for name in ("wrong password", "unknown user", "no credentials"):
        assert outcomes[name] == "MqttConnectError: [code:135] Not authorized"  # CONNACK 0x87
    assert "certificate verify failed" in outcomes["CA not trusted"]
    # mosquitto reads a plain CONNECT as the start of a TLS record and waits for the rest: no CONNACK.
    assert outcomes["no TLS"] == "MqttError: Operation timed out"


async def test_a_will_on_another_stations_status_is_not_published(secure_broker: SecureBroker) -> None:
    """The broker publishes a will on the station's behalf, under the same ACL as its own publishes."""
    forged = aiomqtt.Will("tagd/chk1/status", b'{"state": "offline"}', qos=1, retain=True)
    own = aiomqtt.Will("tagd/enc1/status", b'{"state": "offline"}', qos=1, retain=True)
    async with connected(secure_broker, "circulation") as desk:
        await desk.subscribe("tagd/+/status")
        for will in (forged, own):
            async with connected(secure_broker, "enc1", will=will) as enc1:
                sock = enc1.mqtt._client.socket()
                assert isinstance(sock, socket.socket)
                sock.shutdown(socket.SHUT_RDWR)  # broken without a DISCONNECT: the broker sends the will
        await desk.wait_for(lambda m: len(m) >= 1)
    assert desk.topics() == ["tagd/enc1/status"]


def tagd_config(directory: Path, broker: SecureBroker) -> Path:
    config = directory / "tagd.toml"
    config.write_text(
        f'state_dir = "{directory / "state"}"\n'
        '[[stations]]\nname = "enc1"\nrole = "encoder"\nlibrary = "test"\nisil = "JP-1000001"\n'
        'reader = "sim:enc1"\nscanner = "scanner:sim:enc1"\n'
        f'[mqtt]\nurl = "mqtts://127.0.0.1:{broker.port}"\nusername = "enc1"\n'
        "reconnect_min_seconds = 0.1\nreconnect_max_seconds = 1.0\n"
        f'[mqtt.tls]\nca_file = "{broker.certs.ca}"\n'
    )
    return config


async def test_tagd_run_connects_with_tls_and_a_password(secure_broker: SecureBroker, tmp_path: Path) -> None:
    """`tagd run` as an operator configures it (the password from the environment, not the file): its
    status, events and replies arrive; SIGKILLed, its will says offline."""
    env = {**os.environ, "TAGD_MQTT__PASSWORD": USERS["enc1"]}
    async with connected(secure_broker, "circulation") as desk:
        await desk.subscribe("tagd/#")
        with (tmp_path / "tagd.log").open("wb") as log:
            config = tagd_config(tmp_path, secure_broker)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tagd.daemon", "run", "--config", str(config),
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        try:

            def status(state: str) -> Callable[[list[tuple[str, bytes]]], bool]:
                mine = "tagd/enc1/status"
                return lambda m: any(t == mine and json.loads(p)["state"] == state for t, p in m)

            await desk.wait_for(status("online"))
            await desk.publish("tagd/enc1/sim/scan", b'{"request_id": "s1", "raw": "A100000017B"}')
            await desk.wait_for(lambda m: "tagd/enc1/events/barcode.scanned" in desk.topics())
            os.kill(process.pid, signal.SIGKILL)
            await desk.wait_for(status("offline"))
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            await process.wait()
    scanned = next(json.loads(p) for t, p in desk.messages if t.endswith("/barcode.scanned"))
    assert (scanned["source"], scanned["data"]["item_id"]) == ("tagd/enc1", "100000017")
    assert "tagd/enc1/events/reader.connected" in desk.topics()
    assert "tagd/enc1/reply/s1" in desk.topics()
    assert "enc1-pw" not in (tmp_path / "tagd.log").read_text()


async def test_stations_of_one_process_each_connect_as_their_own_user(
    secure_broker: SecureBroker, tmp_path: Path
) -> None:
    """Two stations in one tagd, each with `mqtt_username`/`mqtt_password`: both are online under the
    per-station ACL, and each one's events arrive (published under its own name, as its own user)."""
    stations = [
        {"name": "enc1", "role": "encoder", "reader": "sim:enc1", "scanner": "scanner:sim:enc1"},
        {"name": "chk1", "role": "checkout", "reader": "sim:chk1", "card_reader": "sim:chk1"},
    ]
    document = {
        "state_dir": str(tmp_path / "state"),
        "stations": [
            {**table, "library": "test", "isil": "JP-1000001", "mqtt_username": table["name"],
             "mqtt_password": USERS[str(table["name"])]}
            for table in stations
        ],
        "mqtt": {
            "url": f"mqtts://127.0.0.1:{secure_broker.port}",
            "tls": {"ca_file": str(secure_broker.certs.ca)},
            "reconnect_min_seconds": 0.1,
            "reconnect_max_seconds": 1.0,
        },
    }  # fmt: skip
    config = load_config_data(document, source="test config", base=tmp_path)
    async with connected(secure_broker, "circulation") as desk:
        await desk.subscribe("tagd/#")
        async with running(config):
            for name in ("enc1", "chk1"):
                connected_topic = f"tagd/{name}/events/reader.connected"
                await desk.wait_for(lambda m, t=connected_topic: t in [topic for topic, _ in m])
            await desk.publish("tagd/chk1/sim/card", b'{"request_id": "c1", "id": "2100012345678"}')
            await desk.wait_for(lambda m: "tagd/chk1/events/patron.card" in [t for t, _ in m])
    statuses = {t: json.loads(p)["state"] for t, p in desk.messages if t.endswith("/status") and p}
    assert statuses == {"tagd/enc1/status": "offline", "tagd/chk1/status": "offline"}
