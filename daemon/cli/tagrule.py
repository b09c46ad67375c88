"""`tagd tag rule`: which IC tag an item needs, as JSON; the rule itself is `tagd.protocols.tagtypes`.

Values are checked by `item_from_fields`, not argparse `choices`, so a bad one exits 65 (data), not 2.
"""

import argparse
import json

from tagd.protocols.errors import ProtocolError
from tagd.protocols.tagtypes import (
    Binding,
    InsideCover,
    ItemKind,
    MarkScheme,
    PlacementProblem,
    TagProduct,
    item_from_fields,
    required_tag,
)


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "rule",
        help="which IC tag an item needs (JSON)",
        description="Applies the processing specification's tag rule; unclear cases answer ask_librarian.",
    )
    parser.add_argument("--kind", help=f"{' | '.join(ItemKind)} (may be left to --call-number)")
    parser.add_argument("--binding", help=" | ".join(Binding))
    parser.add_argument("--inside-cover", help=" | ".join(InsideCover))
    parser.add_argument("--call-number", help='e.g. "E ア", "R 913.6 ア"')
    parser.add_argument("--placement-problem", help=" | ".join(PlacementProblem))
    parser.add_argument("--override", metavar="PRODUCT", help=f"librarian says: {' | '.join(TagProduct)}")
    parser.add_argument("--marks", help=f"shelving-mark scheme of the branch: {' | '.join(MarkScheme)}")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.kind is None and args.call_number is None:
        raise ProtocolError("give --kind or --call-number")
    item = item_from_fields(
        kind=args.kind,
        binding=args.binding,
        inside_cover=args.inside_cover,
        call_number=args.call_number,
        placement_problem=args.placement_problem,
        override=args.override,
        marks=args.marks,
    )
    print(json.dumps(required_tag(item).as_dict(), ensure_ascii=False, indent=2))
    return 0
