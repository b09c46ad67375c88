"""`tagd catalog ...`: load a delivery list (図書原簿) into the station catalog, look items up, list the
shipments and write the tagging report (CSV with a BOM, or XLSX with a summary sheet).

The database is --db, or the catalog of --config (default /etc/tagd/tagd.toml), whose barcode scheme and
set-price rule the import follows. Exit codes: 1 the item is not in the catalog; 65 a bad list (every bad
row on stderr, nothing imported) or a looked-up number that is not one (a wrong check digit); 66 the list
or the configuration file cannot be read; 73 the catalog cannot be opened; 78 a bad configuration.
"""

import argparse
import codecs
import json
import sys
from dataclasses import asdict
from pathlib import Path
from zoneinfo import ZoneInfo

from tagd.daemon.config.model import DEFAULT_PATH, Config, ConfigError, ConfigFileMissing, load_config
from tagd.daemon.i18n import DEFAULT_LANGUAGE, Language, gettext_for
from tagd.daemon.store.catalog import Catalog, CatalogError, ImportResult, import_file
from tagd.daemon.store.delivery import DeliveryListError
from tagd.daemon.store.worklist import Progress
from tagd.protocols import nw7
from tagd.protocols.i18n import N_

EX_DATAERR = 65
EX_NOINPUT = 66
EX_CANTCREAT = 73
EX_CONFIG = 78
NOT_FOUND = 1
_SHOWN_LINES = 10


PROGRESS = N_("{done} / {total} done, {pile} waiting for a librarian")
"""A shipment's progress, as the report and the shipments listing print it."""


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("catalog", help="the station catalog: delivery lists (図書原簿) and look-ups")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser("import", help="load a delivery list CSV; any bad row and nothing is imported")
    load.add_argument("file", type=Path, help="the delivery list (CSV, UTF-8 or Shift_JIS/CP932)")
    load.add_argument("--encoding", type=_codec, help="the file's encoding, when detection gets it wrong")
    load.add_argument("--update", action="store_true", help="replace items already in the catalog")
    _where(load)
    load.set_defaults(handler=_import)

    show = commands.add_parser("lookup", help="print an item of the catalog as JSON (exit 1: not there)")
    show.add_argument("item_id", help="the registration number with its check digit")
    _where(show)
    show.set_defaults(handler=_lookup)

    report = commands.add_parser("report", help="the tagging report: one row per item, and a summary (XLSX)")
    report.add_argument("--shipment", type=int, help="one shipment (default: every item); see `shipments`")
    report.add_argument("--format", choices=("csv", "xlsx"), help="default: from -o's suffix, else csv")
    report.add_argument("-o", "--output", type=Path, help="the file to write (default: standard output)")
    report.add_argument(
        "--lang", choices=("ja", "en"), help="headers and states in this language (default: [display])"
    )
    _where(report)
    report.set_defaults(handler=_report_command)

    listed = commands.add_parser("shipments", help="the imported delivery lists and their progress")
    _where(listed)
    listed.set_defaults(handler=_shipments)


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help=f"the tagd configuration (default {DEFAULT_PATH})")
    parser.add_argument("--db", type=Path, help="the catalog database, instead of the configuration's")


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {name!r} (e.g. utf-8, cp932)") from None


def _config(args: argparse.Namespace) -> Config | None:
    """The configuration, unless --db alone says where the catalog is (then the defaults apply)."""
    if args.db is not None and args.config is None:
        return None
    return load_config(args.config or DEFAULT_PATH)


def _database(args: argparse.Namespace, config: Config | None) -> Path:
    if args.db is not None:
        return Path(args.db)
    assert config is not None, "_config reads a configuration whenever --db is not given"
    return config.catalog_path


def _import(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        with Catalog(_database(args, config)) as catalog:
            result = import_file(
                catalog,
                args.file,
                update=args.update,
                encoding=args.encoding,
                scheme=config.barcode.scheme if config else nw7.DEFAULT_SCHEME,
                length=config.barcode.length if config else 8,
                remainder=config.catalog.set_remainder if config else "first",
            )
            total = len(catalog)
    except ConfigError as exc:
        return _fail(str(exc), EX_NOINPUT if isinstance(exc, ConfigFileMissing) else EX_CONFIG)
    except CatalogError as exc:
        return _fail(str(exc), EX_CANTCREAT)
    except OSError as exc:
        return _fail(f"{args.file}: cannot read: {exc.strerror}", EX_NOINPUT)
    except DeliveryListError as exc:
        for problem in exc.problems:
            where = f"{args.file}:{problem.line}" if problem.line else f"{args.file}"
            print(f"tagd: {where}: {problem.message}", file=sys.stderr)
        return _fail(f"{args.file}: {len(exc.problems)} problem(s); nothing imported", EX_DATAERR)
    _report(args.file, result, total)
    return 0


def _report(path: Path, result: ImportResult, total: int) -> None:
    for warning in result.warnings:
        print(f"tagd: {path}:{warning.line}: warning: {warning.message}", file=sys.stderr)
    reasons: dict[str, list[int]] = {}
    for line, reason in result.ask_librarian:
        reasons.setdefault(reason, []).append(line)
    for reason, lines in sorted(reasons.items()):
        shown = ", ".join(map(str, lines[:_SHOWN_LINES])) + (", ..." if len(lines) > _SHOWN_LINES else "")
        print(
            f"tagd: {path}: {len(lines)} item(s) will need a librarian at the desk: {reason} (lines {shown})",
            file=sys.stderr,
        )
    counts = f"{result.added} added, {result.replaced} replaced ({result.encoding})"
    later = f"tagd catalog report --shipment {result.shipment}"
    print(f"tagd: {path}: shipment {result.shipment} ({later})", file=sys.stderr)
    print(f"{path}: {counts}; {total} in the catalog")


def _lookup(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        scheme, length = (config.barcode.scheme, config.barcode.length) if config else (nw7.DEFAULT_SCHEME, 8)
        item_id = nw7.parse_scan(args.item_id, scheme, length).item_id
        with Catalog(_database(args, config)) as catalog:
            item = catalog.lookup(item_id)
    except ConfigError as exc:
        return _fail(str(exc), EX_NOINPUT if isinstance(exc, ConfigFileMissing) else EX_CONFIG)
    except nw7.BarcodeError as exc:  # a wrong check digit is named as such, not "not in the catalog"
        return _fail(f"{args.item_id} is not a registration number: {exc}", EX_DATAERR)
    except CatalogError as exc:
        return _fail(str(exc), EX_CANTCREAT)
    if item is None:
        return _fail(f"{item_id} is not in the catalog", NOT_FOUND)
    print(json.dumps(asdict(item), ensure_ascii=False))
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from tagd.daemon.store.report import write_csv, write_xlsx  # noqa: PLC0415

    fmt = args.format or (
        "xlsx" if args.output is not None and args.output.suffix.lower() == ".xlsx" else "csv"
    )
    try:
        config = _config(args)
        with Catalog(_database(args, config)) as catalog:
            if args.shipment is not None and args.shipment not in {s.id for s in catalog.shipments()}:
                return _fail(f"no shipment {args.shipment} in the catalog (see `tagd catalog shipments`)", 1)
            rows = catalog.report_rows(args.shipment)
            progress = catalog.progress(args.shipment)
    except ConfigError as exc:
        return _fail(str(exc), EX_CONFIG)
    except CatalogError as exc:
        return _fail(str(exc), EX_CANTCREAT)
    zone = config.holds.zone if config is not None else ZoneInfo("Asia/Tokyo")
    language: Language = args.lang or (config.display.language if config is not None else DEFAULT_LANGUAGE)
    what = f"shipment {args.shipment}" if args.shipment is not None else "every shipment"
    try:
        if fmt == "xlsx":
            target = args.output if args.output is not None else sys.stdout.buffer
            write_xlsx(rows, target, zone, title=f"tagd: {what}", language=language)
        elif args.output is None:
            write_csv(rows, sys.stdout, zone, language)
        else:
            with args.output.open("w", encoding="utf-8", newline="") as stream:
                write_csv(rows, stream, zone, language)
    except OSError as exc:
        return _fail(f"cannot write {args.output}: {exc.strerror}", EX_CANTCREAT)
    print(f"tagd: {what}: {_progress(progress, language)}", file=sys.stderr)
    return 0


def _progress(progress: Progress, language: Language) -> str:
    """"128 / 300 済、司書確認待ち 3" in the staff's language."""
    line = gettext_for(language)(PROGRESS)
    return line.format(done=progress.done, total=progress.total, pile=progress.ask_librarian)


def _shipments(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        with Catalog(_database(args, config)) as catalog:
            for shipment in catalog.shipments():
                progress = catalog.progress(shipment.id)
                language = config.display.language if config is not None else DEFAULT_LANGUAGE
                print(
                    f"{shipment.id}\t{shipment.file_name}\t{shipment.imported_at}\t"
                    f"{_progress(progress, language)}"
                )
    except ConfigError as exc:
        return _fail(str(exc), EX_CONFIG)
    except CatalogError as exc:
        return _fail(str(exc), EX_CANTCREAT)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"tagd: {message}", file=sys.stderr)
    return code
