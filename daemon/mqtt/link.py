"""One station's MQTT connection: its retained status and will, its outbox publisher, its commands.

One connection per station, because the contract makes `offline` the will of `tagd/{station}/status`
and a connection carries a single will: a process running four stations holds four connections, and a
station whose process dies shows offline on its own topic.

Events reach the broker only from the outbox, in order, at QoS 1, with up to `inflight` publishes
awaiting PUBACK; each is deleted only after its PUBACK. After any disconnection the link reconnects with
capped, jittered backoff and replays every unacknowledged event, with its original id. The broker may so
see an event twice (at least once delivery): consumers de-duplicate on the event id.

A broker that crashes may already have acknowledged an event it had not yet passed on: PUBACK means the
broker has it, not that a subscriber does. So the link also re-sends, after a reconnection, the events
acknowledged in the last `replay_window_seconds` before the connection broke (kept in memory only).
"""

import asyncio
import time
from collections import deque
from collections.abc import Coroutine, Mapping
from typing import Any

import aiomqtt
import structlog

from tagd.daemon.config.sections import Mqtt
from tagd.daemon.mqtt.client import (
    CLOUDEVENTS_JSON,
    AckingClient,
    make_client,
    publish_properties,
    will_properties,
)
from tagd.daemon.mqtt.router import Router, Topics
from tagd.daemon.retry import Backoff
from tagd.daemon.store.outbox import OutboxError, Reporter, StoredEvent
from tagd.protocols import nw7
from tagd.protocols.commands import Reply
from tagd.protocols.display import DisplayMessage
from tagd.protocols.events import Envelope, EventData, ReaderState, ReaderStatus, Role, Status

log = structlog.get_logger(__name__)

RECENT_MAX = 10_000
"""At most this many acknowledged events are kept for the replay window."""
MAX_PENDING_REPLIES = 10_000
"""Replies waiting for the broker at most; beyond, the oldest is given up (and logged as mqtt.reply_lost)."""
OFFLINE_WAIT_S = 2.0
"""How long a clean shutdown waits to publish `offline` before disconnecting anyway."""
STATUS_DEPTH_SECONDS = 1.0
"""A changed outbox depth is republished at most this often; readers and the full flag change it at once."""


class MqttLink:
    """Give each station its link; register the station's handlers on `router`, then `await run()`."""

    def __init__(
        self, settings: Mqtt, reporter: Reporter, *, role: Role, scheme: str | None = nw7.DEFAULT_SCHEME
    ) -> None:
        self.settings = settings
        self.reporter = reporter
        self.role = role
        self.topics = Topics(settings.topic_prefix, reporter.station)
        self.router = Router(self, self.topics, scheme=scheme)
        self.connections = 0
        """Sessions established so far (reconnections are connections - 1)."""
        self._readers: dict[str, ReaderStatus] = {}
        self._status_changed = asyncio.Event()
        self.display_url: str | None = None
        """The station's page (daemon/display), named in the status once the page server listens."""
        self.display: DisplayMessage | None = None
        """What the desk shows now, published retained on `{station}/display`."""
        self._display_changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._client: AckingClient | None = None
        self._recent: deque[tuple[float, StoredEvent]] = deque(maxlen=RECENT_MAX)
        self._unacked: list[int] = []
        """Seqs the broker acknowledged that the outbox could not delete yet (a full disk)."""
        self._broke_at = 0.0
        self._event_properties = publish_properties(settings, CLOUDEVENTS_JSON)
        self._json_properties = publish_properties(settings, "application/json")
        self._replies: dict[str, bytes] = {}
        """Replies by request_id, oldest first, until the broker has acknowledged them."""
        self._reply_added = asyncio.Event()
        self._will_properties = will_properties(settings, "application/json")
        reporter.outbox.watch(self._status_changed.set)

    @property
    def station(self) -> str:
        return self.reporter.station

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def emit(self, data: EventData) -> Envelope:
        """Store the event durably (the publisher takes it from there). Raises OutboxFull: refuse the work."""
        return await self.reporter.emit(data)

    def set_readers(self, readers: Mapping[str, ReaderStatus]) -> None:
        """The station's readers as the status shows them; republished at once when they change."""
        if dict(readers) != self._readers:
            self._readers = dict(readers)
            self._status_changed.set()

    def show(self, message: DisplayMessage) -> None:
        """The desk's current state: published retained (the latest only) while connected."""
        self.display = message
        self._display_changed.set()

    def set_display_url(self, url: str | None) -> None:
        if url != self.display_url:
            self.display_url = url
            self._status_changed.set()

    def status(self, state: str = "online") -> Status:
        """The status payload; `offline` (the will, and a clean stop) lists the same devices, each unknown."""
        outbox = self.reporter.outbox
        readers = self._readers
        if state == "offline":
            unknown = ReaderState.UNKNOWN
            readers = {name: ReaderStatus(url=r.url, state=unknown) for name, r in readers.items()}
        return Status.model_validate(
            {
                "state": state,
                "role": self.role,
                "library": self.reporter.library,
                "readers": readers,
                "outbox_depth": outbox.depth,
                "outbox_full": outbox.full,
                "display": self.display_url,
            }
        )

    async def run(self) -> None:
        """Connect, serve and reconnect until cancelled; on cancel, publish `offline` and disconnect."""
        backoff = Backoff(self.settings.reconnect_min_seconds, self.settings.reconnect_max_seconds)
        self.router.start()
        try:
            while True:
                try:
                    await self._session(backoff)
                except (aiomqtt.MqttError, OSError, OutboxError) as exc:
                    log.warning("mqtt.disconnected", station=self.station, error=str(exc) or repr(exc))
                _still_wanted()
                delay = backoff.next()
                log.info("mqtt.reconnecting", station=self.station, in_s=round(delay, 2))
                await asyncio.sleep(delay)
        finally:
            await self.router.close()
            if self._replies:
                log.error("mqtt.replies_not_sent", station=self.station, replies=list(self._replies)[:20])

    async def reply(self, request_id: str, reply: Reply) -> None:
        """Queue a reply (QoS 1, not retained) and return at once: a command's slot is not held while it is
        delivered. It is published in this session or, if the connection breaks before the broker has it,
        in the next one: a reply is not lost once its command ran (only if MAX_PENDING_REPLIES wait)."""
        body = reply.model_copy(update={"request_id": request_id}).to_json()
        self._replies.pop(request_id, None)
        self._replies[request_id] = body
        while len(self._replies) > MAX_PENDING_REPLIES:
            lost = next(iter(self._replies))
            del self._replies[lost]
            log.error("mqtt.reply_lost", station=self.station, request_id=lost, error="too many replies wait")
        self._reply_added.set()

    @property
    def pending_replies(self) -> int:
        """Replies not yet acknowledged by the broker."""
        return len(self._replies)

    async def report(self, data: EventData) -> None:
        """Emit an event the link itself raises (a rejected command); if it cannot be stored, log it."""
        try:
            await self.emit(data)
        except OutboxError as exc:
            error = str(exc)
        else:
            return
        log.error("event.not_stored", station=self.station, event_type=data.TYPE, error=error, data=data)

    async def _session(self, backoff: Backoff) -> None:
        offline = self.status("offline").to_json()
        will = aiomqtt.Will(self.topics.status, offline, qos=1, retain=True, properties=self._will_properties)
        client_id = f"{self.settings.client_prefix}-{self.station}"
        client = make_client(self.settings, client_id=client_id, will=will)
        client.pending_calls_threshold = 2 * self.settings.inflight + 10
        subscriptions = [(topic, 1) for topic in self.topics.subscriptions(holds=self.router.wants_holds)]
        async with client:
            self.connections += 1
            backoff.reset()
            log.info("mqtt.connected", station=self.station, host=self.settings.host, port=self.settings.port)
            crew = _Crew()
            try:
                await client.subscribe(subscriptions)
                _still_wanted()
                self._client = client
                self._connected.set()
                crew.spawn(self._receive(client))
                crew.spawn(self._publish_status(client))
                crew.spawn(self._publish_display(client))
                crew.spawn(self._drain(client, crew))
                crew.spawn(self._publish_replies(client, crew))
                await crew.first_failure()
            except asyncio.CancelledError:
                await crew.close()
                await self._say_offline(client)
                raise
            finally:
                await crew.close()
                self._broke_at = time.monotonic()
                self._connected.clear()
                self._client = None

    async def _receive(self, client: AckingClient) -> None:
        """Ends with MqttError when the connection drops, which ends the session's other tasks."""
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
            self.router.dispatch(message.topic.value, bytes(payload))

    async def _publish_status(self, client: AckingClient) -> None:
        """The retained `online` status: at once, whenever readers or the outbox's full flag change, and
        when the outbox depth has moved (at most once per STATUS_DEPTH_SECONDS, so a burst of events costs
        one status, not one each)."""
        while True:
            self._status_changed.clear()
            status = self.status()
            body = status.to_json()
            await client.publish_acked(self.topics.status, body, self._json_properties, retain=True)
            await self._status_due(status.outbox_depth)

    async def _publish_display(self, client: AckingClient) -> None:
        """The retained display: the current one at once, then each change (a burst publishes the last)."""
        while True:
            self._display_changed.clear()
            if self.display is not None:
                body = self.display.to_json()
                await client.publish_acked(self.topics.display, body, self._json_properties, retain=True)
            await self._display_changed.wait()

    async def _status_due(self, published_depth: int) -> None:
        """Until the status is stale: a change flagged, or the depth differs from the one published."""
        while True:
            try:
                await asyncio.wait_for(self._status_changed.wait(), STATUS_DEPTH_SECONDS)
            except TimeoutError:
                if self.reporter.outbox.depth != published_depth:
                    return
            else:
                return

    async def _drain(self, client: AckingClient, crew: "_Crew") -> None:
        """Publish stored events oldest first, up to `inflight` at a time; replay starts from the oldest."""
        outbox = self.reporter.outbox
        stored = outbox.signal(self.station)
        window = asyncio.Semaphore(self.settings.inflight)
        for event in self._replay_window():
            await window.acquire()
            crew.spawn(self._send(client, event, window, stored=False))
        cursor = 0
        while True:
            stored.clear()
            batch = await outbox.pending(self.station, after=cursor, limit=self.settings.inflight)
            if not batch:
                await stored.wait()
                continue
            for event in batch:
                await window.acquire()
                crew.spawn(self._send(client, event, window, stored=True))
            cursor = batch[-1].seq

    async def _publish_replies(self, client: AckingClient, crew: "_Crew") -> None:
        """Every waiting reply, oldest first, up to `inflight` at a time; one not acknowledged when the
        session ends stays waiting for the next."""
        window = asyncio.Semaphore(self.settings.inflight)
        sent: dict[str, bytes] = {}
        while True:
            self._reply_added.clear()
            for request_id, body in list(self._replies.items()):
                if sent.get(request_id) is body:
                    continue
                await window.acquire()
                sent[request_id] = body
                crew.spawn(self._send_reply(client, request_id, body, window, sent))
            await self._reply_added.wait()

    async def _send_reply(
        self,
        client: AckingClient,
        request_id: str,
        body: bytes,
        window: asyncio.Semaphore,
        sent: dict[str, bytes],
    ) -> None:
        try:
            await client.publish_acked(self.topics.reply(request_id), body, self._json_properties)
        finally:
            window.release()
        if self._replies.get(request_id) is body:
            del self._replies[request_id]
        if sent.get(request_id) is body:
            del sent[request_id]

    def _replay_window(self) -> list[StoredEvent]:
        """Events the broker acknowledged shortly before the connection broke, which a crash may have lost."""
        since = self._broke_at - self.settings.replay_window_seconds
        replay = [event for acked_at, event in self._recent if acked_at >= since]
        self._recent.clear()
        return replay

    async def _send(
        self, client: AckingClient, event: StoredEvent, window: asyncio.Semaphore, *, stored: bool
    ) -> None:
        try:
            await client.publish_acked(self.topics.event(event.kind), event.payload, self._event_properties)
        finally:
            window.release()
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - self.settings.replay_window_seconds:
            self._recent.popleft()
        self._recent.append((now, event))
        if stored:
            await self._ack(event.seq)

    async def _ack(self, seq: int) -> None:
        """Delete an event the broker has. An ack the outbox cannot write (a full disk) is kept and retried
        with the next one: the session goes on, and at worst the event is sent again after a restart."""
        seqs = [*self._unacked, seq]
        try:
            await self.reporter.outbox.ack(seqs)
        except OutboxError as exc:
            self._unacked = seqs
            log.warning("mqtt.ack_deferred", station=self.station, events=len(seqs), error=str(exc))
        else:
            self._unacked = []

    async def _say_offline(self, client: AckingClient) -> None:
        """A clean disconnect does not fire the will, so a stopping station says `offline` itself."""
        try:
            async with asyncio.timeout(OFFLINE_WAIT_S):
                offline = self.status("offline").to_json()
                await client.publish_acked(self.topics.status, offline, self._json_properties, retain=True)
        except (TimeoutError, aiomqtt.MqttError) as exc:
            log.warning("mqtt.offline_not_published", station=self.station, error=str(exc) or repr(exc))


def _still_wanted() -> None:
    """aiomqtt's connect and subscribe use asyncio.wait_for, which in Python 3.11 can swallow a
    cancellation; a link asked to stop must not go round again."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Crew:
    """The tasks of one session; the first to fail ends the session. (Not asyncio.TaskGroup: in Python
    3.11 a child failing while the group exits leaves the parent task marked as cancelled for good.)"""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def first_failure(self) -> None:
        """Raise what ended the session: the first exception of any of its tasks."""
        await asyncio.shield(self._failed)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._failed.done():
            self._failed.exception()  # retrieved: the session has raised or is being cancelled anyway

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._failed.done():
            return
        failure = task.exception()
        if failure is not None:
            self._failed.set_exception(failure)
