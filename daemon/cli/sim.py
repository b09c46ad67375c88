"""`tagd sim feig`: a FEIG ISC reader emulated over a simulated field, for programs that need real bytes.

The one line on stdout says where to connect, so a script or test can read it: the TCP port (port 0 in
--listen picks a free one) or the pty's path. Then it serves until SIGINT or SIGTERM and exits 0.
Exit codes: 65 a bad tag file, 66 a tag file that cannot be read, 71 the port or pty cannot be opened.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tagd.daemon.signals import stop_on_signals
from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.feig_serve import FeigPtyServer, FeigTcpServer
from tagd.drivers.sim.world import World

EX_DATAERR = 65
EX_NOINPUT = 66
EX_OSERR = 71
DEFAULT_FIELD = "feig"


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("sim", help="simulated hardware that other programs can connect to")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    feig = commands.add_parser(
        "feig", help="a FEIG ISC reader emulator on TCP or a pty; prints the port or the pty path"
    )
    where = feig.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", type=_listen_address, metavar="tcp://HOST:PORT", help="serve on TCP")
    where.add_argument("--pty", action="store_true", help="serve on a new pty, as a USB-serial reader")
    feig.add_argument("--tags", type=Path, metavar="FILE.json", help="a JSON tag file: the tags in the field")
    feig.add_argument(
        "--field", default=DEFAULT_FIELD, metavar="NAME", help="the field's name (default: feig)"
    )
    feig.set_defaults(handler=_feig)


def _listen_address(text: str) -> tuple[str, int]:
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path or parts.query:
        raise argparse.ArgumentTypeError(f"{text!r} is not tcp://HOST:PORT (PORT 0 picks a free one)")
    return parts.hostname, port


def _feig(args: argparse.Namespace) -> int:
    world = World()
    if args.tags is not None:
        try:
            text = args.tags.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"tagd: cannot read {args.tags}: {exc.strerror}", file=sys.stderr)
            return EX_NOINPUT
        try:
            world.load_tags(text, args.field)
        except ValueError as exc:
            print(f"tagd: {args.tags}: {exc}", file=sys.stderr)
            return EX_DATAERR
    return asyncio.run(_serve(world, args))


async def _serve(world: World, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    with stop_on_signals(stop):
        return await _serve_until(stop, world, args)


async def _serve_until(stop: asyncio.Event, world: World, args: argparse.Namespace) -> int:
    emulator = FeigEmulator(world.field(args.field))
    server: FeigTcpServer | FeigPtyServer
    try:
        if args.listen is not None:
            host, port = args.listen
            server = FeigTcpServer(emulator)
            where = str(await server.start(host, port))
            url = f"feig:tcp://{host}:{where}"
        else:
            server = FeigPtyServer(emulator)
            where = await server.replug()
            url = f"feig:serial://{where}"
    except OSError as exc:
        print(f"tagd: cannot serve the FEIG emulator: {exc}", file=sys.stderr)
        return EX_OSERR
    print(where, flush=True)
    count = len(world.tags_in(args.field))
    print(
        f"tagd: FEIG emulator on field {args.field!r} with {count} tag(s): {url}", file=sys.stderr, flush=True
    )
    await stop.wait()
    await server.close()
    return 0
