"""The `tagd` command line: each module registers one group of sub-commands."""

import argparse
import sys
from collections.abc import Sequence

from tagd.daemon.cli import barcode, catalog, demo, labels, monitor, reader, run, sim, tag
from tagd.daemon.config.model import ConfigError, ConfigFileMissing
from tagd.protocols.errors import ProtocolError

EX_DATAERR = 65
EX_NOINPUT = 66
EX_CONFIG = 78


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tagd", description="ISO 15693 library RFID station daemon")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for module in (barcode, labels, tag, reader, sim, catalog, run, demo, monitor):
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except ProtocolError as exc:
        print(f"tagd: {exc}", file=sys.stderr)
        return EX_DATAERR
    except ConfigError as exc:
        for line in exc.lines:
            print(f"tagd: {line}", file=sys.stderr)
        return EX_NOINPUT if isinstance(exc, ConfigFileMissing) else EX_CONFIG
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
