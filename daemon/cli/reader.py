"""`tagd reader inventory|dump URL`: what a technician needs to see of the tags in a reader's field.

Exit codes: 0 done (a tag that could not be read is reported on its line, not as a failure); 64 --tags with a
URL that is not sim:; 65 bad data (a UID, a tag file); 66 a file that cannot be read; 69 the reader is lost or
does not answer; 78 no driver for the URL, or a bad tag-profiles file.
"""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import fields
from pathlib import Path

from tagd.daemon.cli.reader_report import TagReport, eas_state, report
from tagd.daemon.cli.tag import tag_json
from tagd.drivers import DriverError, Reader, UnknownDriver, open_reader
from tagd.drivers.sim.reader import default_world
from tagd.protocols import iso28560
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import format_uid, parse_uid
from tagd.protocols.profiles import ProfileError, ProfileSet, load_profiles, shipped_profiles

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_CONFIG = 78


_Command = Callable[[Reader, argparse.Namespace, ProfileSet], Awaitable[int]]


class _RefusedError(Exception):
    """Stops a command before the reader is touched: the one-line reason and the exit code."""

    def __init__(self, reason: str, code: int) -> None:
        super().__init__(reason)
        self.code = code


def register(groups: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = groups.add_parser("reader", help="list and dump the tags in a reader's field (for technicians)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inventory = commands.add_parser("inventory", help="one line per tag: UID, product, decoded item")
    dump = commands.add_parser("dump", help="all about a tag: system info, blocks, locks, AFI, EAS, data")
    dump.add_argument("--uid", help="only this tag (16 hex digits, E004...); default: every tag in the field")
    for command, handler in ((inventory, _inventory), (dump, _dump)):
        add = command.add_argument
        add("url", metavar="URL", help="sim:NAME, feig:tcp://HOST:PORT, pcsc:NAME")
        add("--json", action="store_true", help="one JSON object per tag and line")
        add("--tags", type=Path, metavar="FILE.json", help="sim: only; load a tag file into the field first")
        add("--profiles", type=Path, metavar="FILE.toml", help="tag profiles (default: the shipped ones)")
        command.set_defaults(handler=handler)


def _inventory(args: argparse.Namespace) -> int:
    return _run(args, _list_tags)


def _dump(args: argparse.Namespace) -> int:
    return _run(args, _dump_tags)


def _run(args: argparse.Namespace, command: _Command) -> int:
    try:
        profiles = _profiles(args.profiles)
        if args.tags is not None:
            _load_tags(args.url, args.tags)
        return asyncio.run(_with_reader(args, profiles, command))
    except _RefusedError as exc:
        print(f"tagd: {exc}", file=sys.stderr)
        return exc.code
    except ProtocolError as exc:
        print(f"tagd: {exc}", file=sys.stderr)
        return EX_DATAERR
    except UnknownDriver as exc:
        print(f"tagd: {exc}", file=sys.stderr)
        return EX_CONFIG
    except DriverError as exc:
        print(f"tagd: {exc}", file=sys.stderr)  # drivers name their URL in the message
        return EX_UNAVAILABLE
    except BrokenPipeError:  # `tagd reader dump ... | head`: the reader of our output has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _profiles(path: Path | None) -> ProfileSet:
    try:
        return shipped_profiles() if path is None else load_profiles(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _RefusedError(f"cannot read {path}: {exc.strerror}", EX_NOINPUT) from exc
    except ProfileError as exc:
        raise _RefusedError(str(exc), EX_CONFIG) from exc


def _load_tags(url: str, path: Path) -> None:
    """Puts a JSON tag file's tags into the sim: field the URL names (a fresh process's world is empty)."""
    scheme, _, rest = url.partition(":")
    if scheme != "sim":
        raise _RefusedError(f"--tags puts tags into a simulated field; {url!r} is not a sim: URL", EX_USAGE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _RefusedError(f"cannot read {path}: {exc.strerror}", EX_NOINPUT) from exc
    try:
        default_world().load_tags(text, rest.partition("?")[0])
    except ValueError as exc:
        raise _RefusedError(f"{path}: {exc}", EX_DATAERR) from exc


async def _with_reader(args: argparse.Namespace, profiles: ProfileSet, command: _Command) -> int:
    reader = await open_reader(args.url)
    try:
        return await command(reader, args, profiles)
    finally:
        await reader.close()


async def _list_tags(reader: Reader, args: argparse.Namespace, profiles: ProfileSet) -> int:
    for tag in await reader.inventory():
        found = await report(reader, tag.uid, profiles)
        if args.json:
            print(json.dumps(_summary_json(found)), flush=True)
        else:
            print(f"{format_uid(found.uid)}  {_product(found):<14}  {_item(found)}", flush=True)
    return 0


async def _dump_tags(reader: Reader, args: argparse.Namespace, profiles: ProfileSet) -> int:
    if args.uid is not None:
        uids, in_field = [parse_uid(args.uid.upper())], None
    else:
        uids = in_field = [tag.uid for tag in await reader.inventory()]
    for uid in uids:
        found = await report(reader, uid, profiles, detailed=True)
        if found.info is None and args.uid is not None:
            raise _RefusedError(f"no system info from {format_uid(uid)}: {found.info_error}", EX_UNAVAILABLE)
        found.eas, found.eas_note = await eas_state(reader, uid, in_field)
        if args.json:
            print(json.dumps(_dump_json(found)), flush=True)
        else:
            print("\n".join(_dump_lines(found)), flush=True)
    return 0


def _product(found: TagReport) -> str:
    if found.profile is None:
        return f"unknown: {found.profile_error}"
    return found.profile.product.value if found.profile.product is not None else found.profile.name


def _item(found: TagReport) -> str:
    item = found.item
    if item is None:
        return str(found.item_error)
    described = f"item {item.item_id}, ISIL {item.isil or 'none'}, part {item.part} of {item.parts}"
    return described if item.model is iso28560.DataModel.ISO28560_3 else f"{described} ({item.model.value})"


def _hex(value: int | None) -> str:
    return "n/a" if value is None else f"0x{value:02X}"


def _dump_lines(found: TagReport) -> list[str]:
    info = found.info
    lines = [f"tag {format_uid(found.uid)}", f"  product       {_product(found)}"]
    if found.profile is not None and found.profile.assumption:
        lines.append(f"  assumption    {found.profile.assumption}")
    lines.append(f"  chip          {found.chip}")
    if info is None:
        lines.append(f"  system info   n/a: {found.info_error}")
    else:
        memory = "n/a" if info.block_count is None else f"{info.block_count} blocks of {info.block_size} B"
        lines += [
            f"  DSFID         {_hex(info.dsfid)}",
            f"  AFI           {_hex(info.afi)}",
            f"  memory        {memory}",
            f"  IC reference  {_hex(info.ic_reference)}",
        ]
    eas = "n/a" if found.eas is None else ("set" if found.eas else "not set")
    lines.append(f"  EAS           {eas}" + (f" ({found.eas_note})" if found.eas_note else ""))
    lines += [f"  note          {note}" for note in found.notes]
    if found.blocks is None:
        lines.append(f"  blocks        n/a: {found.blocks_error}")
    else:
        if found.locks is None:
            lines.append(f"  locks         n/a: {found.locks_error}")
        for number, block in enumerate(found.blocks):
            lock = "" if found.locks is None else ("  locked" if found.locks[number] else "  unlocked")
            lines.append(f"  block {number:3d}     {block.hex().upper()}{lock}")
    lines.append(f"  decoded       {_item(found)}")
    return lines


def _summary_json(found: TagReport) -> dict[str, object]:
    profile = found.profile
    return {
        "uid": format_uid(found.uid),
        "product": None if profile is None or profile.product is None else profile.product.value,
        "profile": None if profile is None else profile.name,
        "profile_error": found.profile_error,
        "item": None if found.item is None else tag_json(found.item),
        "item_error": found.item_error,
    }


def _dump_json(found: TagReport) -> dict[str, object]:
    info = found.info
    document = _summary_json(found)
    document["chip"] = found.chip
    document["system_info"] = (
        None if info is None else {f.name: getattr(info, f.name) for f in fields(info) if f.name != "uid"}
    )
    document["system_info_error"] = found.info_error
    document["blocks"] = None if found.blocks is None else [block.hex().upper() for block in found.blocks]
    document["blocks_error"] = found.blocks_error
    document["locked"] = found.locks
    document["locked_error"] = found.locks_error
    document["eas"] = found.eas
    document["eas_note"] = found.eas_note
    document["notes"] = found.notes
    return document
