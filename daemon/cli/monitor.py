"""`tagd monitor [--mqtt-url URL] [--prefix P] [--json] [--lang ja|en]`: follow every station's status and
events.

The feed is for people (colour on a terminal); --json prints each message as one JSON line for scripts.
Credentials: --username, and the password from $TAGD_MQTT__PASSWORD (as for the daemon), never on the
command line. Runs until Ctrl-C or SIGTERM, then exits 0; a bad URL or prefix exits 78.
"""

import argparse
import asyncio
import contextlib
import functools
import os
from typing import TYPE_CHECKING

from tagd.daemon.signals import stop_on_signals

if TYPE_CHECKING:
    from tagd.daemon.monitor.follow import Connection
    from tagd.daemon.monitor.render import EventPrinter

DEFAULT_URL = "mqtt://127.0.0.1:1883"
PASSWORD_VARIABLE = "TAGD_MQTT__PASSWORD"  # noqa: S105 - the variable's name, not a password


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("monitor", help="follow the stations' status and events as a live feed")
    add = parser.add_argument
    add("--mqtt-url", metavar="URL", default=DEFAULT_URL, help=f"the broker (default {DEFAULT_URL})")
    add("--prefix", default="tagd", help="the topic prefix (default tagd)")
    add("--json", action="store_true", help="one JSON line per message: topic, retain, payload")
    add("--username", help=f"MQTT user name; the password is read from ${PASSWORD_VARIABLE}")
    add("--lang", choices=("ja", "en"), default="ja", help="the feed's language (default ja)")
    parser.set_defaults(handler=_monitor)


def _monitor(args: argparse.Namespace) -> int:
    # MQTT and rich load only for `monitor`: other commands start without them.
    from rich.console import Console  # noqa: PLC0415

    from tagd.daemon.monitor.follow import Connection  # noqa: PLC0415
    from tagd.daemon.monitor.render import EventPrinter, use_language  # noqa: PLC0415

    use_language(args.lang)

    connection = Connection.from_url(
        args.mqtt_url, prefix=args.prefix, username=args.username, password=os.environ.get(PASSWORD_VARIABLE)
    )
    # With --json, stdout carries only JSON: notices about the connection go to stderr.
    console = Console(stderr=True, highlight=False, soft_wrap=True) if args.json else None
    asyncio.run(_until_stopped(connection, EventPrinter(console), json_lines=args.json))
    return 0


async def _until_stopped(connection: "Connection", printer: "EventPrinter", *, json_lines: bool) -> None:
    from tagd.daemon.monitor.follow import run_monitor  # noqa: PLC0415

    stop = asyncio.Event()
    write = functools.partial(print, flush=True)
    with stop_on_signals(stop):
        monitor = asyncio.create_task(
            run_monitor(connection, json_lines=json_lines, printer=printer, write=write)
        )
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([monitor, waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
