"""Following tagd from any broker: status and events, as the feed or as JSON lines (`tagd monitor`).

The monitor only subscribes, so it speaks MQTT 3.1.1, which every broker accepts (the embedded demo broker
speaks nothing else). It keeps following through broker restarts: a lost connection is said on the feed and
retried with capped backoff; retained statuses arrive again on each connection, so the feed shows every
station's state after a reconnect.
"""

import asyncio
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiomqtt
from pydantic import ValidationError

from tagd.daemon.config.errors import ConfigError
from tagd.daemon.config.sections import Mqtt
from tagd.daemon.monitor.render import EventPrinter, entry_for_message, message_json
from tagd.daemon.retry import Backoff

__all__ = ["Connection", "MessageHandler", "Received", "feed_topics", "follow", "run_monitor"]


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


MessageHandler = Callable[[Received], None]
"""Called with each message in arrival order; it must not block."""
KEEPALIVE_S = 30
RETRY_MIN_S, RETRY_MAX_S = 0.5, 10.0


@dataclass(frozen=True)
class Connection:
    """Where the broker is (from an mqtt:// or mqtts:// URL), the credentials, and tagd's topic prefix."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    prefix: str = "tagd"

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "tagd", username: str | None = None, password: str | None = None
    ) -> "Connection":
        """Raises ConfigError (exit 78 on the command line) for what tagd's own config would refuse."""
        try:
            mqtt = Mqtt(url=url, topic_prefix=prefix)
        except ValidationError as exc:
            error = exc.errors()[0]
            option = "--prefix" if error["loc"] == ("topic_prefix",) else "--mqtt-url"
            raise ConfigError(f"{option}: {error['msg'].removeprefix('Value error, ')}") from None
        return cls(mqtt.host, mqtt.port, mqtt.secure, username, password, prefix)

    def client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=True,
            keepalive=KEEPALIVE_S,
            username=self.username,
            password=self.password,
            tls_context=ssl.create_default_context() if self.tls else None,
        )


def feed_topics(prefix: str) -> list[str]:
    """What the feed shows: every station's retained status and all its events."""
    return [f"{prefix}/+/status", f"{prefix}/+/events/#"]


async def follow(
    connection: Connection,
    topics: Sequence[str],
    handle: MessageHandler,
    *,
    subscribed: asyncio.Event | None = None,
    notice: Callable[[str], None] | None = None,
) -> None:
    """Until cancelled: connect, subscribe to `topics` at QoS 1 (then set `subscribed`), hand every message
    to `handle`; after a lost connection `notice` is told why and when the next attempt is."""
    backoff = Backoff(RETRY_MIN_S, RETRY_MAX_S)
    while True:
        try:
            async with connection.client() as client:
                for topic in topics:
                    await client.subscribe(topic, qos=1)
                backoff.reset()
                if subscribed is not None:
                    subscribed.set()
                async for message in client.messages:
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    handle(Received(message.topic.value, payload, message.retain))
        except aiomqtt.MqttError as exc:
            delay = backoff.next()
            if notice is not None:
                where = f"{connection.host}:{connection.port}"
                notice(f"no connection to the broker at {where} ({exc}); retrying in {delay:.1f} s")
            await asyncio.sleep(delay)


async def run_monitor(
    connection: Connection,
    *,
    json_lines: bool = False,
    printer: EventPrinter | None = None,
    write: Callable[[str], None] = print,
    subscribed: asyncio.Event | None = None,
) -> None:
    """`tagd monitor`, until cancelled: the feed on `printer`, or one JSON line per message via `write`."""
    printer = printer or EventPrinter()

    def show(message: Received) -> None:
        if json_lines:
            write(message_json(message.topic, message.payload, retain=message.retain))
            return
        entry = entry_for_message(message.topic, message.payload, prefix=connection.prefix)
        if entry is not None:
            printer.show(entry)

    def notice(text: str) -> None:
        printer.say(text, style="yellow")

    await follow(connection, feed_topics(connection.prefix), show, subscribed=subscribed, notice=notice)
