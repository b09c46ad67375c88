"""`tagd run --config FILE [--mqtt-url URL] [--display-listen HOST:PORT|off]`: the daemon, as systemd starts
it.

A configuration that cannot be used prints one line per problem on stderr (each led by where the value
came from: the file, an environment variable, --mqtt-url or --display-listen) and exits 78 before anything
starts; a missing configuration file exits 66, as does a delivery list (catalog.load) that cannot be read;
one with bad rows exits 65; station pages that cannot listen (the port is taken) 69; an outbox, catalog or
holds database that cannot be opened 73, once tried again for `state_wait_seconds`. Otherwise it runs until
SIGTERM or SIGINT and exits 0 after a clean shutdown. docs/operations.md lists every exit code.
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path

from tagd.daemon.config.model import DEFAULT_PATH, Config, ConfigError, ConfigFileMissing, load_config
from tagd.daemon.holds.ledger import LedgerError
from tagd.daemon.store.catalog import CatalogError
from tagd.daemon.store.delivery import DeliveryListError
from tagd.daemon.store.outbox import OutboxError

EX_OK = 0
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_CANTCREAT = 73
EX_CONFIG = 78
STATE_RETRY_FIRST_S = 0.5
STATE_RETRY_MAX_S = 10.0
"""A state database that cannot be opened is tried again (state_wait_seconds), so a full disk or a volume
mounted late is not a restart every 2 s under systemd."""


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("run", help="run the stations of a configuration until SIGTERM")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_PATH, help=f"the tagd configuration (default {DEFAULT_PATH})"
    )
    parser.add_argument(
        "--mqtt-url", metavar="URL", help="the broker, instead of the configuration's mqtt.url"
    )
    parser.add_argument(
        "--display-listen",
        metavar="HOST:PORT|off",
        help="where the station pages listen, instead of the configuration's display.listen",
    )
    parser.set_defaults(handler=_run)


def load(path: Path, mqtt_url: str | None, display_listen: str | None = None) -> Config:
    """The configuration with the command line's overrides on top."""
    overrides: dict[str, dict[str, str]] = {}
    if mqtt_url is not None:
        overrides["mqtt"] = {"url": mqtt_url}
    if display_listen is not None:
        overrides["display"] = {"listen": display_listen}
    sources = {"mqtt": "--mqtt-url", "display": "--display-listen"}
    return load_config(path, overrides or None, overrides_from=sources)


def _run(args: argparse.Namespace) -> int:
    from tagd.daemon.app import run_app  # noqa: PLC0415 - the daemon's imports are for `run` alone
    from tagd.daemon.display.server import DisplayListenError  # noqa: PLC0415 - with aiohttp, for `run` alone

    try:
        config = load(args.config, args.mqtt_url, args.display_listen)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"tagd: {line}", file=sys.stderr)
        return EX_NOINPUT if isinstance(exc, ConfigFileMissing) else EX_CONFIG
    deadline = time.monotonic() + config.state_wait_seconds
    delay = STATE_RETRY_FIRST_S
    while True:
        try:
            asyncio.run(run_app(config))
        except DeliveryListError as exc:
            for problem in exc.problems:
                print(f"tagd: {config.catalog.load}: {problem}", file=sys.stderr)
            return EX_DATAERR
        except DisplayListenError as exc:
            print(f"tagd: {exc}", file=sys.stderr)
            return EX_UNAVAILABLE
        except OSError as exc:
            print(f"tagd: {exc}", file=sys.stderr)
            return EX_NOINPUT
        except (OutboxError, CatalogError, LedgerError) as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"tagd: {exc}", file=sys.stderr)
                return EX_CANTCREAT
            wait = min(delay, left)
            print(f"tagd: {exc}; trying again in {wait:.1f} s", file=sys.stderr, flush=True)
            time.sleep(wait)
            delay = min(2 * delay, STATE_RETRY_MAX_S)
        else:
            return EX_OK
