"""`tagd barcode ...`: check digits, scans and NW-7 labels for registration numbers, from the shell."""

import argparse
import json
import sys
from pathlib import Path

from tagd.protocols import nw7
from tagd.protocols.errors import ProtocolError

EX_CANTCREAT = 73
LABEL_START, LABEL_STOP = "A", "B"
"""Labels are printed A...B, the start/stop pair the README's scans show, unless NUMBER brings its own."""


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("barcode", help="NW-7 registration numbers: check digits, scans, labels")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    schemes = f"check-digit scheme: {', '.join(nw7.SCHEMES)} (default m10w21)"

    check = commands.add_parser("check-digit", help="print DIGITS with their check digit")
    check.add_argument("digits", help="the data digits; for m16 the whole symbol, e.g. A37859B")
    check.add_argument("--scheme", default=nw7.DEFAULT_SCHEME, help=schemes)
    check.set_defaults(handler=_check_digit)

    parse = commands.add_parser("parse", help="parse a scan and print it as JSON")
    parse.add_argument("raw", help="the scan as the scanner sent it")
    parse.add_argument("--scheme", default=nw7.DEFAULT_SCHEME, help=schemes)
    parse.add_argument("--length", type=int, default=8, help="data digits in a number (default 8)")
    parse.set_defaults(handler=_parse)

    label = commands.add_parser("label", help="write an NW-7 label as SVG")
    label.add_argument("number", help="the registration number, with or without its check digit")
    label.add_argument("--color", default="black", help="bar and text colour: #rrggbb or a CSS name")
    label.add_argument("--scheme", default=nw7.DEFAULT_SCHEME, help=schemes)
    label.add_argument("--length", type=int, default=8, help="data digits in a number (default 8)")
    label.add_argument("-o", "--output", required=True, type=Path, help="the SVG file to write")
    label.set_defaults(handler=_label)


def label_svg(number: nw7.RegistrationNumber, colour: str) -> bytes:
    """The label as SVG: the bars in the branch colour, the item id beneath them for staff."""
    from barcode import get_barcode_class  # noqa: PLC0415 - only labels need python-barcode
    from barcode.writer import SVGWriter  # noqa: PLC0415

    writer = SVGWriter()
    code = get_barcode_class("codabar")(number.symbol, writer=writer)
    svg: bytes = code.render({"foreground": colour, "background": "white"}, text=number.item_id)
    return svg


def _check_digit(args: argparse.Namespace) -> int:
    print(nw7.with_check_digit(nw7.normalise(args.digits), args.scheme))
    return 0


def _parse(args: argparse.Namespace) -> int:
    number = nw7.parse_scan(args.raw, args.scheme, args.length)
    fields = {
        "item_id": number.item_id,
        "number": number.number,
        "check": number.check,
        "scheme": number.scheme.value,
        "start": number.start,
        "stop": number.stop,
    }
    print(json.dumps(fields, ensure_ascii=False))
    return 0


def _label(args: argparse.Namespace) -> int:
    from tagd.daemon.config.sections import label_colour  # noqa: PLC0415 - pydantic, for labels only

    try:
        colour = label_colour(args.color)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    number = nw7.parse_number(args.number, args.scheme, args.length, start=LABEL_START, stop=LABEL_STOP)
    try:
        args.output.write_bytes(label_svg(number, colour))
    except OSError as exc:
        print(f"tagd: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EX_CANTCREAT
    print(args.output)
    return 0
