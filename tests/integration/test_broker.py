"""The embedded broker (amqtt) does what tagd needs of a broker: QoS 1 PUBACKs, retained messages, wills.

Clients are aiomqtt 2.x speaking MQTT 3.1.1, as the demo's stations do; MQTT 5 is refused at CONNECT.
"""

import asyncio
import socket

import aiomqtt
import pytest

from tagd.daemon.demo.broker import BrokerStartError, EmbeddedBroker
from tagd.daemon.mqtt.client import AckingClient

V311 = aiomqtt.ProtocolVersion.V311
TIMEOUT_S = 10.0


def client(port: int, name: str, will: aiomqtt.Will | None = None) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", port, identifier=name, protocol=V311, will=will)


async def first(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            return message
    raise AssertionError("the message stream ended")


async def test_listens_on_loopback_on_a_free_port_and_stops() -> None:
    async with EmbeddedBroker() as broker:
        port = broker.port
        assert broker.url == f"mqtt://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


async def test_a_taken_port_is_a_clear_error() -> None:
    async with EmbeddedBroker() as broker:
        with pytest.raises(BrokerStartError, match=f"127.0.0.1:{broker.port}"):
            await EmbeddedBroker(broker.port).start()


async def test_qos1_publish_is_acknowledged_and_delivered() -> None:
    async with EmbeddedBroker() as broker, client(broker.port, "sub") as sub:
        await sub.subscribe("tagd/+/events/#", qos=1)
        async with AckingClient("127.0.0.1", broker.port, identifier="pub", protocol=V311) as pub:
            async with asyncio.timeout(TIMEOUT_S):
                for n in range(50):
                    await pub.publish_acked("tagd/s1/events/item.detected", str(n).encode(), None)
        got = []
        async with asyncio.timeout(TIMEOUT_S):
            async for message in sub.messages:
                got.append(message.payload)
                if len(got) == 50:
                    break
        assert got == [str(n).encode() for n in range(50)]


async def test_retained_status_reaches_a_later_subscriber_and_is_cleared() -> None:
    async with EmbeddedBroker() as broker:
        async with client(broker.port, "station") as station:
            await station.publish("tagd/s1/status", b'{"state":"online"}', qos=1, retain=True)
        async with client(broker.port, "late") as late:
            await late.subscribe("tagd/+/status", qos=1)
            message = await first(late)
            assert (message.topic.value, message.payload, message.retain) == (
                "tagd/s1/status",
                b'{"state":"online"}',
                True,
            )
        async with client(broker.port, "station") as station:
            await station.publish("tagd/s1/status", b"", qos=1, retain=True)
        async with client(broker.port, "later") as later:
            await later.subscribe("tagd/+/status", qos=1)
            await later.subscribe("probe", qos=1)
            await later.publish("probe", b"x", qos=1)
            message = await first(later)
            assert message.topic.value == "probe", "a cleared retained status must not be delivered"


def connect_and_die(port: int, *, client_id: str, will_topic: str, will: bytes) -> None:
    """An MQTT 3.1.1 CONNECT with a retained QoS 1 will over a bare socket, then a close without DISCONNECT:
    what the broker sees when a station's process is killed (the will must fire)."""

    def field(data: bytes) -> bytes:
        return len(data).to_bytes(2, "big") + data

    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    body = field(b"MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big")
    body += field(client_id.encode()) + field(will_topic.encode()) + field(will)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        assert sock.recv(4) == b"\x20\x02\x00\x00", "CONNACK: accepted"


async def test_a_client_gets_retained_messages_of_its_own_subscriptions_only() -> None:
    """amqtt 0.12 sends a connecting client the retained messages of every filter any client subscribes to;
    EmbeddedBroker must not: a station would receive other stations' statuses on its command stream."""
    async with EmbeddedBroker() as broker, client(broker.port, "watcher") as watcher:
        await watcher.subscribe("tagd/+/status", qos=1)
        async with client(broker.port, "station") as station:
            await station.publish("tagd/s1/status", b"online", qos=1, retain=True)
        assert (await first(watcher)).payload == b"online"
        async with client(broker.port, "other") as other:
            await other.subscribe("probe", qos=1)
            await other.publish("probe", b"x", qos=1)
            assert (await first(other)).topic.value == "probe"
            await other.subscribe("tagd/+/status", qos=1)
            message = await first(other)
            assert (message.topic.value, message.retain) == ("tagd/s1/status", True)


async def test_the_will_is_published_and_retained_when_a_station_drops() -> None:
    async with EmbeddedBroker() as broker:
        async with client(broker.port, "watcher") as watcher:
            await watcher.subscribe("tagd/+/status", qos=1)
            await asyncio.to_thread(
                connect_and_die, broker.port, client_id="dies", will_topic="tagd/s1/status", will=b"offline"
            )
            assert (await first(watcher)).payload == b"offline"
        async with client(broker.port, "late") as late:
            await late.subscribe("tagd/+/status", qos=1)
            message = await first(late)
            assert (message.topic.value, message.payload, message.retain) == (
                "tagd/s1/status",
                b"offline",
                True,
            )


async def test_mqtt5_is_refused_at_connect() -> None:
    async with EmbeddedBroker() as broker:
        with pytest.raises(aiomqtt.MqttCodeError, match=r"[Uu]nsupported protocol"):
            async with aiomqtt.Client("127.0.0.1", broker.port, protocol=aiomqtt.ProtocolVersion.V5):
                pass
