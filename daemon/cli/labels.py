"""`tagd labels ...`: label sheets for a shipment's delivery list (図書原簿), as PDF.

`barcode`: the NW-7 label of every item in the branch colour (`label_colours`); `spine`: the call-number
labels by a branch's rules (`--rules honkan|bunkan|ueki|tomiai`), the items the list cannot settle listed
for the librarian. The configuration is --config, else /etc/tagd/tagd.toml when it exists, else the
defaults. Exit codes: 65 a bad list or labels that must not be printed, 66 the list cannot be read, 70 no
Japanese font (fonts-noto-cjk), 73 the PDF cannot be written, 78 a bad configuration. The PDF libraries
are imported when a command runs.
"""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tagd.daemon.config.model import DEFAULT_PATH, Config, load_config

if TYPE_CHECKING:
    from tagd.daemon.store.delivery import DeliveryList

EX_DATAERR = 65
EX_NOINPUT = 66
EX_SOFTWARE = 70
EX_CANTCREAT = 73
DEFAULT_SHEET = "a4-24"
DEFAULT_SPINE_SHEET = "a4-spine"


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("labels", help="label sheets (PDF) for a delivery list: barcodes, spines")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    barcode = commands.add_parser("barcode", help="the NW-7 label of every item, in the branch colour")
    _common(barcode, DEFAULT_SHEET)
    barcode.add_argument("--library", help="the branch code whose colour to print (default: the stations')")
    barcode.add_argument(
        "--tint",
        choices=("bars", "band"),
        default="bars",
        help="what the colour tints: the bars (refused if red light cannot read them) or a band",
    )
    barcode.set_defaults(handler=_barcode)

    spine = commands.add_parser("spine", help="the call-number (spine) label of every item, by branch rules")
    _common(spine, DEFAULT_SPINE_SHEET)
    spine.add_argument("--rules", required=True, help="the branch rules: honkan, bunkan, ueki or tomiai")
    spine.set_defaults(handler=_spine)


def _common(parser: argparse.ArgumentParser, sheet: str) -> None:
    parser.add_argument("delivery", type=Path, help="the delivery list (CSV, UTF-8 or Shift_JIS/CP932)")
    parser.add_argument("--sheet", default=sheet, help=f"the label sheet layout (default {sheet})")
    parser.add_argument("--config", type=Path, help=f"the tagd configuration (default {DEFAULT_PATH})")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the PDF file to write")


def _config(args: argparse.Namespace) -> Config | None:
    if args.config is not None:
        return load_config(args.config)
    return load_config(DEFAULT_PATH) if DEFAULT_PATH.is_file() else None


def _delivery(args: argparse.Namespace, config: Config | None) -> "DeliveryList | int":
    """The checked list, or the exit code after every problem is on stderr."""
    from tagd.daemon.store.delivery import DeliveryListError, parse_delivery_list  # noqa: PLC0415

    try:
        data = args.delivery.read_bytes()
    except OSError as exc:
        return _fail(f"{args.delivery}: cannot read: {exc.strerror}", EX_NOINPUT)
    try:
        if config is None:
            return parse_delivery_list(data)
        return parse_delivery_list(
            data,
            scheme=config.barcode.scheme,
            length=config.barcode.length,
            remainder=config.catalog.set_remainder,
        )
    except DeliveryListError as exc:
        for problem in exc.problems:
            where = f"{args.delivery}:{problem.line}" if problem.line else f"{args.delivery}"
            print(f"tagd: {where}: {problem.message}", file=sys.stderr)
        return _fail(f"{args.delivery}: {len(exc.problems)} problem(s); no labels printed", EX_DATAERR)


def _library(args: argparse.Namespace, config: Config | None) -> str:
    if args.library is not None:
        return str(args.library)
    libraries = sorted({station.library for station in config.stations}) if config else []
    if len(libraries) == 1:
        return libraries[0]
    raise argparse.ArgumentTypeError(
        "give --library: " + (f"the stations belong to {', '.join(libraries)}" if libraries else "no config")
    )


def _barcode(args: argparse.Namespace) -> int:
    from tagd.daemon.labels.barcode_sheet import (  # noqa: PLC0415
        LabelError,
        Tint,
        label_number,
        render_barcode_sheet,
    )
    from tagd.daemon.labels.sheets import load_sheets  # noqa: PLC0415

    config = _config(args)
    layout = load_sheets(config.label_sheets if config else None).get(args.sheet)
    try:
        library = _library(args, config)
    except argparse.ArgumentTypeError as exc:
        return _fail(str(exc), EX_DATAERR)
    colour = config.label_colours.get(library) if config else None
    if colour is None:
        print(f"tagd: warning: no label_colours entry for {library!r}: printing black", file=sys.stderr)
        colour = "black"
    delivery = _delivery(args, config)
    if isinstance(delivery, int):
        return delivery
    scheme, length = (config.barcode.scheme, config.barcode.length) if config else ("m10w21", 8)
    numbers = [label_number(item.item_id, scheme, length) for item in delivery.items]
    try:
        pdf = render_barcode_sheet(numbers, layout, library=library, colour=colour, tint=Tint(args.tint))
    except LabelError as exc:
        return _fail(str(exc), EX_DATAERR)
    return _write(args.output, pdf, f"{len(numbers)} labels on {args.sheet}")


def _spine(args: argparse.Namespace) -> int:
    from tagd.daemon.labels.sheets import load_sheets  # noqa: PLC0415
    from tagd.daemon.labels.spine_rules import load_rule_set, spine_input  # noqa: PLC0415
    from tagd.daemon.labels.spine_sheet import FontMissing, render_spine_sheet  # noqa: PLC0415
    from tagd.protocols.spine import SpineLabel, design  # noqa: PLC0415

    config = _config(args)
    layout = load_sheets(config.label_sheets if config else None).get(args.sheet)
    rules = load_rule_set(args.rules, config.spine_rules if config else None)
    delivery = _delivery(args, config)
    if isinstance(delivery, int):
        return delivery
    labels: list[SpineLabel] = [design(spine_input(item), rules) for item in delivery.items]
    try:
        pdf = render_spine_sheet(labels, layout)
    except FontMissing as exc:
        return _fail(str(exc), EX_SOFTWARE)
    pile = [(line, label) for line, label in zip(delivery.lines, labels, strict=True) if label.ask_librarian]
    for line, label in pile:
        print(
            f"tagd: {args.delivery}:{line}: {label.item_id}: ask a librarian: {label.ask_librarian}",
            file=sys.stderr,
        )
    printed = sum(1 for label in labels if label.printed)
    unlabelled = len(labels) - printed - len(pile)
    summary = f"{printed} labels, {len(pile)} for the librarian, {unlabelled} without a label"
    return _write(args.output, pdf, summary)


def _write(path: Path, pdf: bytes, summary: str) -> int:
    try:
        path.write_bytes(pdf)
    except OSError as exc:
        return _fail(f"cannot write {path}: {exc.strerror}", EX_CANTCREAT)
    print(f"{path}: {summary}")
    return 0


def _fail(message: str, code: int) -> int:
    print(f"tagd: {message}", file=sys.stderr)
    return code
