"""The station pages' HTTP server: aiohttp's AppRunner in tagd's own event loop, one per process.

Routes: `GET /` lists the stations, `GET /stations/{name}` is a station's page, `.../events` its live view
(server-sent events: the whole view on every change; EventSource reconnects by itself), `.../view` the same
view once as JSON, and two actions, `POST .../operator` (sign in at an encoder) and `POST .../overwrite` (the
forced encode that answers "上書きしますか?"). The actions become the same `cmd/operator` and `cmd/encode`
a circulation client sends, through the station's router, so they are validated, replied to and reported
as any command is.

Safety: every asset is in the package (the Content-Security-Policy allows this host only); beyond
loopback a token is required (`?token=` once, then a cookie); a POST must come from a page of this server
(its Origin header is this host).
"""

import asyncio
import contextlib
import hmac
import json
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from aiohttp import web

from tagd.daemon.config.sections import Display
from tagd.daemon.display.page import index_page, station_page
from tagd.daemon.display.view import StationView
from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import Station
from tagd.daemon.store.outbox import Outbox
from tagd.protocols.events import Envelope
from tagd.protocols.tagtypes import TagProduct

__all__ = ["DisplayListenError", "DisplayServer"]

log = get_logger(__name__)

TOKEN_COOKIE = "tagd_display_token"  # noqa: S105 - the cookie's name, not a token
KEEPALIVE_SECONDS = 15.0
STATUS_POLL_SECONDS = 0.25
"""How often the devices, the broker session and the outbox flag are compared for a change."""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DisplayListenError(OSError):
    """The pages cannot listen where `[display] listen` says (the port is taken, the address is not ours)."""


class DisplayServer:
    """Build with the `[display]` settings and the process's stations; `await start()`, `await close()`."""

    def __init__(self, settings: Display, stations: Mapping[str, Station], outbox: Outbox) -> None:
        self.settings = settings
        self.stations = dict(stations)
        self.outbox = outbox
        self.views: dict[str, StationView] = {}
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._poller: asyncio.Task[None] | None = None
        self._streams: set[asyncio.Event] = set()

    def url(self, station: str) -> str:
        return f"{self.base_url}/stations/{station}"

    async def start(self) -> None:
        """Listen; each station's link names its page in the status from now on."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/stations/{name}", self._page)
        app.router.add_get("/stations/{name}/events", self._events)
        app.router.add_get("/stations/{name}/view", self._view)
        app.router.add_post("/stations/{name}/operator", self._operator)
        app.router.add_post("/stations/{name}/overwrite", self._overwrite)
        app.router.add_post("/stations/{name}/override", self._override)
        app.router.add_static("/static/", _static_dir(), append_version=False)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            why = exc.strerror or str(exc)
            raise DisplayListenError(f"display.listen {self.settings.listen}: {why}") from exc
        self._runner = runner
        port = _bound_port(runner) or self.settings.port
        host = self.settings.host
        shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        self.base_url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
        for name, station in self.stations.items():
            view = StationView(station, self.settings.language, self.url(name), self._wake)
            self.views[name] = view
            station.link.set_display_url(self.url(name))
        self.outbox.observe(self._on_event)
        self._poller = asyncio.create_task(self._poll_status(), name="display status")
        log.info("display.listening", url=self.base_url, stations=list(self.stations))

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        for stream in self._streams:
            stream.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- feeding the views ----------------------------------------------------------------------------------

    def _on_event(self, event: Envelope) -> None:
        view = self.views.get(event.station)
        if view is not None:
            view.on_event(event)

    def _wake(self) -> None:
        for stream in self._streams:
            stream.set()

    async def _poll_status(self) -> None:
        """Devices, the broker session and the outbox change without a display state: compare and push."""
        seen: dict[str, Any] = {}
        while True:
            for name, view in self.views.items():
                link = view.station.link
                status = link.status()
                now = (link.connected, status.outbox_full, tuple(sorted(status.readers.items())))
                if seen.get(name) != now:
                    seen[name] = now
                    view.touch()
            await asyncio.sleep(STATUS_POLL_SECONDS)

    # -- safety ----------------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = self.settings.token
        given = request.query.get("token")
        if token is not None:
            secret = token.get_secret_value()
            offered = given or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(offered.encode(), secret.encode()):
                return web.Response(status=401, text="tagd: this page needs the display token (?token=...)\n")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin != f"{request.scheme}://{request.host}":
                log.warning("display.origin_refused", origin=origin, path=request.path)
                return web.json_response({"ok": False, "error": "cross-origin request refused"}, status=403)
        response = await handler(request)
        if token is not None and given is not None:
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    # -- pages -----------------------------------------------------------------------------------------------

    def _station(self, request: web.Request) -> StationView:
        view = self.views.get(request.match_info["name"])
        if view is None:
            raise web.HTTPNotFound(text=f"tagd: no station {request.match_info['name']!r} here\n")
        return view

    async def _index(self, _request: web.Request) -> web.Response:
        stations = [(name, v.station.role.value, v.station.library) for name, v in self.views.items()]
        return web.Response(text=index_page(stations, self.settings.language), content_type="text/html")

    async def _page(self, request: web.Request) -> web.Response:
        view = self._station(request)
        html = station_page(view.station.name, view.station.role.value, view.view(), self.settings.language)
        return web.Response(text=html, content_type="text/html")

    async def _view(self, request: web.Request) -> web.Response:
        return web.json_response(self._station(request).view(), dumps=_dumps)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        view = self._station(request)
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        woken = asyncio.Event()
        self._streams.add(woken)
        sent = -1
        try:
            await response.write(b"retry: 1000\n\n")
            while self._runner is not None:
                if view.version != sent:
                    sent = view.version
                    await response.write(f"data: {_dumps(view.view())}\n\n".encode())
                woken.clear()
                try:
                    await asyncio.wait_for(woken.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(woken)
        return response

    # -- actions ---------------------------------------------------------------------------------------------

    async def _operator(self, request: web.Request) -> web.Response:
        view = self._station(request)
        body = await _json_body(request)
        operator = body.get("operator")
        if operator is not None and (not isinstance(operator, str) or not operator.strip()):
            return web.json_response({"ok": False, "error": "operator: a name or staff code"}, status=400)
        return self._command(view.station, "operator", {"operator": operator})

    async def _overwrite(self, request: web.Request) -> web.Response:
        """The forced encode of the item whose tag carries another item: its fields from the catalog."""
        view = self._station(request)
        body = await _json_body(request)
        return self._encode(view.station, str(body.get("item_id", "")), {"force": True})

    async def _override(self, request: web.Request) -> web.Response:
        """A librarian's decision for an item on the pile: encode it with this tag, recording who decided."""
        view = self._station(request)
        body = await _json_body(request)
        tag, decided_by = body.get("tag"), body.get("decided_by")
        if tag not in {product.value for product in TagProduct}:
            return web.json_response({"ok": False, "error": f"tag: {tag!r} is not a tag product"}, status=400)
        if not isinstance(decided_by, str) or not decided_by.strip():
            return web.json_response({"ok": False, "error": "decided_by: who decided"}, status=400)
        fields = {"override_tag": tag, "override_by": decided_by.strip()}
        return self._encode(view.station, str(body.get("item_id", "")), fields)

    def _encode(self, station: Station, item_id: str, extra: dict[str, Any]) -> web.Response:
        """cmd/encode for a catalog item, with its fields from the catalog and `extra`."""
        found = station.catalog.lookup(item_id)
        if found is None:
            return web.json_response({"ok": False, "error": f"{item_id!r} is not in the catalog"}, status=404)
        item = found.tag_item(station.settings.shelving_marks)
        fields = {
            "item_id": item_id,
            "kind": item.kind,
            "binding": item.binding,
            "inside_cover": item.inside_cover,
            "call_number": item.call_number,
            "title": found.title,
            **extra,
        }
        return self._command(station, "encode", fields)

    def _command(self, station: Station, name: str, fields: dict[str, Any]) -> web.Response:
        request_id = f"page-{uuid.uuid4().hex[:16]}"
        payload = json.dumps({"request_id": request_id, **fields}).encode()
        station.router.dispatch(station.link.topics.command(name), payload)
        log.info("display.command", station=station.name, command=name, request_id=request_id)
        return web.json_response({"ok": True, "request_id": request_id}, status=202)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


async def _json_body(request: web.Request) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        body = await request.json()
        if isinstance(body, dict):
            return body
    raise web.HTTPBadRequest(text="tagd: expected a JSON object\n")


def _static_dir() -> Path:
    return Path(str(files("tagd.daemon.display") / "static"))


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None
