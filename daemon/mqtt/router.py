"""Incoming MQTT messages to typed handlers: `cmd/{name}`, `sim/{name}` and the holds feed.

Every message is either handled or answered: a bad payload, an unknown command, a busy station or a
handler that raised gets an error reply on `reply/{request_id}` when the payload carries a request_id,
and a `command.rejected` / `holds.rejected` event when it does not; each is logged. Nothing a broker
delivers can stop the router.

Commands run concurrently (an encode may wait for a tag while a security command is served). Simulator
control and the holds feed are handled one at a time in arrival order, because order is their meaning
(place, then remove); their handlers must be quick.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import structlog

from tagd.daemon.store.outbox import OutboxFull
from tagd.protocols import nw7
from tagd.protocols.commands import (
    COMMANDS,
    SIM_COMMANDS,
    Command,
    HoldsFeed,
    PayloadError,
    Reply,
    ReplyCode,
    Request,
    SimCommand,
    checked_item_id,
    decode_object,
    parse_holds,
    parse_payload,
    request_id_at_head,
    request_id_of,
)
from tagd.protocols.events import CommandRejected, EventData, HoldsRejected

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=Command)
S = TypeVar("S", bound=SimCommand)
HoldsHandler = Callable[[str, HoldsFeed | None], Awaitable[None]]
_TEXT_MAX = 500


class Sink(Protocol):
    """Where the router's answers go: the station's MQTT link."""

    async def reply(self, request_id: str, reply: Reply) -> None: ...

    async def report(self, data: EventData) -> None: ...


@dataclass(frozen=True)
class Topics:
    """The topics of one station under a prefix (default "tagd"), as the contract names them."""

    prefix: str
    station: str

    @property
    def status(self) -> str:
        return f"{self.prefix}/{self.station}/status"

    @property
    def display(self) -> str:
        return f"{self.prefix}/{self.station}/display"

    def command(self, name: str) -> str:
        return f"{self.prefix}/{self.station}/cmd/{name}"

    def event(self, kind: str) -> str:
        return f"{self.prefix}/{self.station}/events/{kind}"

    def reply(self, request_id: str) -> str:
        return f"{self.prefix}/{self.station}/reply/{request_id}"

    def subscriptions(self, *, holds: bool) -> list[str]:
        mine = [f"{self.prefix}/{self.station}/cmd/+", f"{self.prefix}/{self.station}/sim/+"]
        return [*mine, f"{self.prefix}/holds/+"] if holds else mine

    def classify(self, topic: str) -> tuple[Literal["cmd", "sim", "holds"], str] | None:
        """("cmd", name), ("sim", name) or ("holds", item_id) for a topic this station subscribes to."""
        mine = f"{self.prefix}/{self.station}/"
        for kind in ("cmd", "sim"):
            if topic.startswith(f"{mine}{kind}/"):
                return ("cmd" if kind == "cmd" else "sim"), topic.removeprefix(f"{mine}{kind}/")
        if topic.startswith(f"{self.prefix}/holds/"):
            return "holds", topic.removeprefix(f"{self.prefix}/holds/")
        return None


@dataclass(frozen=True)
class _Route:
    model: type[Request]
    handler: Callable[[Any], Awaitable[Reply | None]]


class Router:
    """Register handlers before the link runs: `command(EncodeCommand, handle_encode)`, and so on.

    `scheme` is the installation's NW-7 check-digit scheme: item ids in commands are checked with it.
    """

    def __init__(
        self,
        sink: Sink,
        topics: Topics,
        *,
        scheme: str | None = nw7.DEFAULT_SCHEME,
        max_commands: int = 32,
        max_queued: int = 1000,
    ) -> None:
        self._sink, self._topics, self._scheme = sink, topics, scheme
        self._commands: dict[str, _Route] = {}
        self._sims: dict[str, _Route] = {}
        self._holds: HoldsHandler | None = None
        self._max_commands = max_commands
        self._running: set[asyncio.Task[None]] = set()
        self._ordered: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue(max_queued)
        self._worker: asyncio.Task[None] | None = None

    def command(self, model: type[C], handler: Callable[[C], Awaitable[Reply]]) -> None:
        self._commands[model.NAME] = _Route(model, handler)

    def sim(self, model: type[S], handler: Callable[[S], Awaitable[Reply | None]]) -> None:
        self._sims[model.NAME] = _Route(model, handler)

    def holds(self, handler: HoldsHandler) -> None:
        """Subscribe this station to the holds feed (retained: every held item arrives on connect)."""
        self._holds = handler

    @property
    def running(self) -> int:
        """Commands being handled now (each holds one of `max_commands` slots until its reply is queued)."""
        return len(self._running)

    @property
    def wants_holds(self) -> bool:
        return self._holds is not None

    def start(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work_in_order())

    async def close(self) -> None:
        tasks = [*self._running, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def dispatch(self, topic: str, payload: bytes) -> None:
        """Take one message; never raises. Work is started or queued, never awaited here."""
        route = self._topics.classify(topic)
        if route is None:
            log.warning("mqtt.unexpected_topic", topic=topic)
            return
        kind, name = route
        if kind == "holds":
            self._enqueue(topic, b"", lambda: self._feed(topic, name, payload))
        elif kind == "sim":
            self._request(topic, self._sims.get(name), payload, ordered=True)
        else:
            self._request(topic, self._commands.get(name), payload, ordered=False)

    def _request(self, topic: str, route: _Route | None, payload: bytes, *, ordered: bool) -> None:
        if route is None:
            self._refuse(topic, payload, self._no_route(topic, ordered=ordered))
        elif ordered:
            self._enqueue(topic, payload, lambda: self._handle(topic, route, payload))
        elif len(self._running) >= self._max_commands:
            busy = f"{len(self._running)} commands are running; try again"
            self._refuse(topic, payload, (ReplyCode.BUSY, busy))
        else:
            self._spawn(self._handle(topic, route, payload))

    def _no_route(self, topic: str, *, ordered: bool) -> tuple[ReplyCode, str]:
        name = topic.rsplit("/", 1)[-1]
        if ordered and not self._sims:
            return ReplyCode.NOT_SIMULATED, f"station {self._topics.station} has no simulated hardware"
        known = ", ".join(sorted(self._sims if ordered else self._commands)) or "none"
        return ReplyCode.UNKNOWN_COMMAND, f"unknown {'sim' if ordered else 'cmd'} {name!r}; known: {known}"

    def _enqueue(self, topic: str, payload: bytes, work: Callable[[], Awaitable[None]]) -> None:
        try:
            self._ordered.put_nowait(work)
        except asyncio.QueueFull:
            self._refuse(topic, payload, (ReplyCode.BUSY, f"{self._ordered.qsize()} messages are queued"))

    async def _work_in_order(self) -> None:
        while True:
            work = await self._ordered.get()
            await work()

    async def _handle(self, topic: str, route: _Route, payload: bytes) -> None:
        try:
            request = parse_payload(route.model, payload, scheme=self._scheme)
        except PayloadError as exc:
            await self._fail(topic, exc.request_id, ReplyCode.INVALID, str(exc))
            return
        try:
            reply = await route.handler(request)
        except OutboxFull as exc:
            await self._fail(topic, request.reply_to, ReplyCode.OUTBOX_FULL, str(exc))
            return
        except Exception as exc:
            log.exception("mqtt.handler_failed", topic=topic)
            error = f"{type(exc).__name__}: {exc}"
            await self._fail(topic, request.reply_to, ReplyCode.INTERNAL_ERROR, error)
            return
        if request.reply_to is not None:
            await self._sink.reply(request.reply_to, reply or Reply(ok=True))

    async def _feed(self, topic: str, item_id: str, payload: bytes) -> None:
        assert self._holds is not None
        try:
            checked = checked_item_id(item_id, self._scheme, " in the topic")
            await self._holds(checked, parse_holds(payload, scheme=self._scheme))
        except Exception as exc:
            if not isinstance(exc, PayloadError):
                log.exception("mqtt.handler_failed", topic=topic)
            log.warning("mqtt.holds_rejected", topic=topic, error=str(exc))
            await self._sink.report(HoldsRejected(topic=topic[:_TEXT_MAX], error=_text(exc)))

    def _refuse(self, topic: str, payload: bytes, why: tuple[ReplyCode, str]) -> None:
        """Answer without handling: to the payload's request_id when it has a usable one."""
        self._spawn(self._fail(topic, _request_id(payload), *why))

    async def _fail(self, topic: str, request_id: str | None, code: ReplyCode, error: str) -> None:
        log.warning("mqtt.command_rejected", topic=topic, request_id=request_id, code=code, error=error)
        if request_id is not None:
            reply = _reply_model(topic)(ok=False, code=code, error=_text(error))
            await self._sink.reply(request_id, reply)
        else:
            await self._sink.report(CommandRejected(topic=topic[:_TEXT_MAX], error=_text(error)))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)


def _reply_model(topic: str) -> type[Reply]:
    """The reply model of the command or sim/ action the topic names, known here or not, so that an error
    reply has the same shape as a success (a SecurityReply's `results` is always there)."""
    kind, _, name = topic.rpartition("/")
    known: dict[str, type[Command]] | dict[str, type[SimCommand]] = (
        SIM_COMMANDS if kind.endswith("/sim") else COMMANDS
    )
    found = known.get(name)
    return Reply if found is None else found.REPLY


def _request_id(payload: bytes) -> str | None:
    try:
        return request_id_of(decode_object(payload))
    except PayloadError:
        return request_id_at_head(payload)


def _text(error: object) -> str:
    text = str(error)
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 3] + "..."
