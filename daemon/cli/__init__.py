"""The `tagd` command line: each module registers one group of sub-commands.

Scripts call codec commands (`tagd barcode check-digit`, `tagd tag encode`) once per book, so a command
imports only what it needs: when the first argument names a group, only that group's module is imported
and registered (argparse never shows the other groups then), and the modules import their heavy parts
(pydantic-settings, the catalog, the drivers, structlog) inside the handlers that use them. Anything else
(`tagd --help`, a mistyped group) registers every group, so its output lists them all.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

from tagd.protocols.errors import ProtocolError

EX_DATAERR = 65
EX_NOINPUT = 66
EX_CONFIG = 78
GROUPS = ("barcode", "labels", "tag", "reader", "sim", "catalog", "run", "demo", "monitor")
"""The groups of sub-commands, in the order `tagd --help` lists them; each is a module of this package."""
CONFIG_ERRORS = "tagd.daemon.config.errors"


def build_parser(group: str | None = None) -> argparse.ArgumentParser:
    """The parser of every group, or of `group` alone (then only its module is imported)."""
    parser = argparse.ArgumentParser(prog="tagd", description="ISO 15693 library RFID station daemon")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for name in GROUPS if group is None else (group,):
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    group = arguments[0] if arguments and arguments[0] in GROUPS else None
    args = build_parser(group).parse_args(arguments)
    try:
        code: int = args.handler(args)
    except ProtocolError as exc:
        print(f"tagd: {exc}", file=sys.stderr)
        return EX_DATAERR
    except Exception as exc:
        if not _is_config_error(exc):
            raise
        for line in exc.lines:  # type: ignore[attr-defined]  # a ConfigError, checked above
            print(f"tagd: {line}", file=sys.stderr)
        return EX_NOINPUT if _is_config_error(exc, missing=True) else EX_CONFIG
    return code


def _is_config_error(exc: Exception, *, missing: bool = False) -> bool:
    """A ConfigError (ConfigFileMissing with `missing`), without importing the configuration
    (pydantic-settings) for commands that have none: only a command that imported it can have raised one."""
    errors = sys.modules.get(CONFIG_ERRORS)
    kind = None if errors is None else (errors.ConfigFileMissing if missing else errors.ConfigError)
    return kind is not None and isinstance(exc, kind)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
