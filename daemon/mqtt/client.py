"""The aiomqtt client tagd connects with, from the `[mqtt]` config section: MQTT 5 or 3.1.1, TLS, a will.

`AckingClient.publish_acked` exists because aiomqtt's `publish` returns on PUBACK but drops the PUBACK's
reason code: an MQTT 5 broker refuses a publish it may not accept (e.g. an ACL denial, 0x87) with a
PUBACK all the same, and deleting such an event from the outbox would lose it without a word. It also
avoids `asyncio.wait_for`, which in Python 3.11 can swallow a cancellation that races with the result
and so leave a cancelled task waiting for ever; callers bound it with `asyncio.timeout` instead.
"""

import asyncio
import socket
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tagd.daemon.config.sections import Mqtt, Tls

KEEPALIVE_MAX = 3600
"""Seconds; a longer keepalive in config is used as this (a dead broker shows within the hour at worst)."""
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
"""The MQTT 5 Content Type of a structured-mode CloudEvent (CloudEvents MQTT binding §3.2.1)."""


NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
"""Small MQTT packets go out at once: with Nagle's algorithm a publish that follows a PUBACK waits for the
broker's delayed TCP ACK, 40 ms on Linux (bench/bench_encoding.py, docs/performance.md)."""


def tls_context(tls: Tls) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    return context


def publish_properties(settings: Mqtt, content_type: str) -> Properties | None:
    if settings.protocol != "5":
        return None
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = content_type
    return properties


def will_properties(settings: Mqtt, content_type: str) -> Properties | None:
    """The will's properties (MQTT 5): its content type, as every other status publish has."""
    if settings.protocol != "5":
        return None
    properties = Properties(PacketTypes.WILLMESSAGE)  # type: ignore[no-untyped-call]
    properties.ContentType = content_type
    return properties


ACK_TIMEOUT_S = 10.0
"""A broker answers a QoS 1 publish in milliseconds; no answer for this long is a dead connection."""


class PublishRefused(aiomqtt.MqttError):
    """The broker answered a publish with a failure reason code (MQTT 5): the event stays stored."""


class AckingClient(aiomqtt.Client):
    """aiomqtt's client, plus a QoS 1 publish that returns the PUBACK reason code (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}

    async def publish_acked(
        self, topic: str, payload: bytes, properties: Properties | None, *, retain: bool = False
    ) -> None:
        """Publish at QoS 1 and return once the broker has acknowledged it; raise PublishRefused if the
        broker refused it. Publishes start in call order, so several may be in flight in order.

        A PUBACK that does not come within ACK_TIMEOUT_S means a dead (half-open) connection: MqttError,
        which ends the session; so does a disconnection while waiting."""
        info = self._client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, f"could not publish to {topic}")
        acked: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
        self._acks[info.mid] = acked
        try:
            async with asyncio.timeout(ACK_TIMEOUT_S):
                code = await acked
        except TimeoutError:
            raise aiomqtt.MqttError(f"no PUBACK within {ACK_TIMEOUT_S:g} s: the connection is dead") from None
        finally:
            self._acks.pop(info.mid, None)
        if code.is_failure:
            raise PublishRefused(f"the broker refused a publish to {topic}: {code} ({code.value:#04x})")

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            lost = self._disconnected
            if lost.done() and not lost.cancelled():
                lost.exception()  # the session has already reported why it ended; no "never retrieved" noise

    def _on_disconnect(self, client: paho.Client, userdata: Any, *args: Any, **kwargs: Any) -> None:
        """Every waiter learns at once that its PUBACK will not come; a connection closed before the
        broker's CONNACK fails the connect now, not after the connect timeout (aiomqtt waits it out)."""
        lost = aiomqtt.MqttError("the connection was lost")
        for acked in self._acks.values():
            if not acked.done():
                acked.set_exception(lost)
        if not self._connected.done():
            closed = aiomqtt.MqttError("the connection closed before the broker answered")
            self._connected.set_exception(closed)
            self._connected.exception()  # retrieved: a connect in progress still raises it
        super()._on_disconnect(client, userdata, *args, **kwargs)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason_code: ReasonCode, properties: Properties
    ) -> None:
        acked = self._acks.pop(mid, None)
        if acked is not None and not acked.done():
            acked.set_result(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)


def make_client(settings: Mqtt, *, client_id: str, will: aiomqtt.Will) -> AckingClient:
    """A fresh client for one connection: a clean session, as the outbox (not the broker) keeps state."""
    v5 = settings.protocol == "5"
    return AckingClient(
        settings.host,
        settings.port,
        identifier=client_id,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        will=will,
        clean_session=None if v5 else True,
        clean_start=True if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
        keepalive=min(settings.keepalive, KEEPALIVE_MAX),
        timeout=settings.connect_timeout_seconds,
        max_inflight_messages=settings.inflight,
        tls_context=tls_context(settings.tls) if settings.secure else None,
        socket_options=(NO_DELAY,),
    )
