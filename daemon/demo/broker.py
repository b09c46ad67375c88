"""An MQTT broker inside the tagd process, on loopback only, for `tagd demo` (no mosquitto to set up).

It is amqtt, which speaks MQTT 3.1.1 only: it refuses an MQTT 5 CONNECT ("unsupported protocol version"),
so whatever connects to it (the demo's stations, `tagd monitor`) must use `PROTOCOL`. QoS 1 with PUBACK,
retained messages and wills work as the contract needs them (tests/integration/test_broker.py), once one
amqtt 0.12 flaw is mended: on CONNECT it sends the new client the retained messages matching every filter
*any* client subscribes to (MQTT 3.1.1 §3.3.1.3 says only the client's own new subscriptions get them),
so a station would find other stations' statuses among its commands.
"""

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Final, Literal

from amqtt.broker import Broker
from amqtt.errors import BrokerError

HOST: Final = "127.0.0.1"
PROTOCOL: Final[Literal["3.1.1"]] = "3.1.1"
"""The MQTT version clients of the embedded broker must speak (config: mqtt.protocol)."""
_LISTENER = "default"
_STOP_TIMEOUT_S = 5.0


class BrokerStartError(Exception):
    """The broker could not listen (the port is taken, say): the message says where and why."""


class _Broker(Broker):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's broker, sending retained messages only for subscriptions the session itself holds."""

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        holders = self._subscriptions.get(subscription[0], [])
        if any(holder is session for holder, _ in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


class EmbeddedBroker:
    """`async with EmbeddedBroker(port) as broker:` listens on 127.0.0.1:`port` (0: any free port).

    Anonymous clients only, no persistence, no $SYS topics: it lives as long as the demo does.
    """

    def __init__(self, port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not 0-65535")
        self._wanted = port
        self._broker: Any = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the broker is not running")
        return self._port

    @property
    def url(self) -> str:
        """The `mqtt.url` a station connects with."""
        return f"mqtt://{HOST}:{self.port}"

    async def start(self) -> "EmbeddedBroker":
        if self._broker is not None:
            raise RuntimeError("the broker is already running")
        broker = _Broker(
            {
                "listeners": {_LISTENER: {"type": "tcp", "bind": f"{HOST}:{self._wanted}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        try:
            await broker.start()
        except BrokerError as exc:
            why = f"{HOST}:{self._wanted}: {exc.__cause__ or exc}"
            raise BrokerStartError(f"the embedded MQTT broker cannot listen on {why}") from exc
        self._broker = broker
        self._port = int(broker._servers[_LISTENER].instance.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Close every session and the listener; bounded, and safe to call twice."""
        broker, self._broker, self._port = self._broker, None, None
        if broker is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_TIMEOUT_S):
                    await broker.shutdown()

    async def __aenter__(self) -> "EmbeddedBroker":
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
