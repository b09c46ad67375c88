"""`tagd tag ...`: encode and decode ISO 28560 tag data; `tag rule` comes from tagrule."""

import argparse
import json
from dataclasses import fields

from tagd.daemon.cli import tagrule
from tagd.protocols import iso28560
from tagd.protocols.errors import ProtocolError

_MODELS = [model.value for model in iso28560.DataModel]


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("tag", help="ISO 28560 tag data and the tag rule")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    encode = commands.add_parser("encode", help="encode an item's tag data; prints hex")
    encode.add_argument("--item", required=True, help="primary item identifier (registration number)")
    encode.add_argument("--isil", required=True, help="owner library ISIL, e.g. JP-1004314")
    encode.add_argument("--parts", type=int, default=1, help="parts in the item (default 1)")
    encode.add_argument("--part", type=int, default=1, help="this part's ordinal number (default 1)")
    encode.add_argument("--usage", type=int, help="type of usage (ISO 28560-3 default: 1, for circulation)")
    encode.add_argument("--model", choices=_MODELS, default=iso28560.DataModel.ISO28560_3.value)
    encode.set_defaults(handler=_encode)

    decode = commands.add_parser("decode", help="decode tag data given in hex; prints JSON")
    decode.add_argument("hex", help="tag memory from block 0, in hex")
    decode.add_argument("--model", choices=_MODELS, help="skip detection and decode as this model")
    decode.set_defaults(handler=_decode)

    tagrule.register(commands)


def _encode(args: argparse.Namespace) -> int:
    model = iso28560.DataModel(args.model)
    usage = 1 if args.usage is None and model is iso28560.DataModel.ISO28560_3 else args.usage
    tag = iso28560.TagData(model, args.item, args.isil, usage, parts=args.parts, part=args.part)
    print(iso28560.encode(tag).hex())
    return 0


def _decode(args: argparse.Namespace) -> int:
    try:
        data = bytes.fromhex(args.hex)
    except ValueError:
        raise ProtocolError(f"not a hex string: {args.hex!r}") from None
    tag = iso28560.decode(data, None if args.model is None else iso28560.DataModel(args.model))
    print(json.dumps(tag_json(tag)))
    return 0


def tag_json(tag: iso28560.TagData) -> dict[str, object]:
    document: dict[str, object] = {field.name: getattr(tag, field.name) for field in fields(tag)}
    document["model"] = tag.model.value
    document["extensions"] = [{"key": block.key, "raw": block.raw.hex()} for block in tag.extensions]
    return document
