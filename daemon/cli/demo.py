"""`tagd demo [--port N] [--speed X] [--once] [--display-listen HOST:PORT|off] [--lang ja|en]`: the demo
branch, its scripted day, the live feed and the station pages.

Exit codes: 0 after the day (--once) or Ctrl-C; 69 the embedded broker cannot listen (the port is taken);
70 a step of the day did not produce its events (the message says which); 78 a bad demo configuration.
"""

import argparse
import asyncio
import sys

EX_UNAVAILABLE = 69
EX_SOFTWARE = 70


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser(
        "demo", help="a branch on simulated hardware, an embedded broker, a scripted day and the live feed"
    )
    add = parser.add_argument
    add("--port", type=_port, default=0, help="the embedded broker's port on 127.0.0.1 (default: a free one)")
    add("--speed", type=_speed, default=1.0, help="narration pace: 2 twice as fast, 0 no pauses (default 1)")
    add("--once", action="store_true", help="exit after the scripted day instead of running until Ctrl-C")
    add(
        "--display-listen",
        metavar="HOST:PORT|off",
        default="127.0.0.1:8080",
        help="where the station pages listen (default 127.0.0.1:8080; a taken port falls back to a free one)",
    )
    add("--lang", choices=("ja", "en"), default="ja", help="the language of the pages (default ja)")
    parser.set_defaults(handler=_demo)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port 0-65535")
    return port


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not 0 <= speed < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed >= 0")
    return speed


def _demo(args: argparse.Namespace) -> int:
    # The daemon and the broker load only for `demo`: other commands start without them.
    from tagd.daemon.demo.broker import BrokerStartError  # noqa: PLC0415
    from tagd.daemon.demo.runner import DemoOptions, DemoStepError, run_demo  # noqa: PLC0415

    try:
        options = DemoOptions(
            port=args.port,
            speed=args.speed,
            once=args.once,
            display_listen=args.display_listen,
            language=args.lang,
        )
        asyncio.run(run_demo(options))
    except BrokerStartError as exc:
        print(f"tagd: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    except DemoStepError as exc:
        print(f"tagd: the demo went wrong: {exc}", file=sys.stderr)
        return EX_SOFTWARE
    return 0
