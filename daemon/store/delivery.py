"""Delivery lists (図書原簿): the supplier's CSV of a shipment, read and checked row by row.

The list is checked whole before anything is stored: every bad row is reported with its line and reason,
so one run shows the supplier everything to correct. Suppliers in Japan send UTF-8 (often with a BOM from
Excel) or Shift_JIS/CP932, with English or Japanese headers; both are read. Registration numbers get their
NW-7 check digit (8 digits) or have it verified (9). A set price (セット価格) is divided over the set's
volumes in whole yen, the remainder going to the first or the last volume.
"""

import csv
import io
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from tagd.daemon.store.delivery_columns import COLUMNS, REQUIRED, Column, canonical_header, choose
from tagd.protocols import nw7
from tagd.protocols.spine import Audience, Genre, Origin
from tagd.protocols.tagtypes import (
    Binding,
    Decision,
    InsideCover,
    Item,
    ItemKind,
    MarkScheme,
    required_tag,
)

Remainder = Literal["first", "last"]
MAX_PRICE = 100_000_000
MAX_VOLUMES = 9_999
_MAX_DIGITS = 18
_FIELDS = {"registration_number": "item_id"}
"""Columns stored under another name: the registration number with its check digit is the item_id."""


@dataclass(frozen=True)
class CatalogItem:
    """One item of the catalog: what the encoder needs to choose its tag, and what staff see."""

    item_id: str
    title: str
    author: str | None = None
    publisher: str | None = None
    price: int | None = None
    call_number: str | None = None
    binding: Binding = Binding.UNKNOWN
    inside_cover: InsideCover = InsideCover.UNKNOWN
    kind: ItemKind | None = None
    set_id: str | None = None
    volume: int | None = None
    volumes: int | None = None
    set_price: int | None = None
    audience: Audience | None = None
    """一般書 or 児童書, for spine labels; the remaining two too (seed 004 §4)."""
    origin: Origin | None = None
    genre: Genre | None = None

    def tag_item(self, marks: MarkScheme = MarkScheme.CITY) -> Item:
        """The tag rule's input; without a kind the rule reads it from the call number."""
        return Item(
            kind=self.kind,
            binding=self.binding,
            inside_cover=self.inside_cover,
            call_number=self.call_number,
            marks=marks,
        )


@dataclass(frozen=True)
class Problem:
    """A bad row (or, at line 0, the file): the line as an editor numbers it, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class DeliveryListError(Exception):
    """The list cannot be imported; `problems` lists every bad row, in line order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda problem: problem.line))
        super().__init__("; ".join(str(problem) for problem in self.problems[:3]))


@dataclass(frozen=True)
class DeliveryList:
    """A list that passed every check: its items with their lines, and notes that did not stop it."""

    items: tuple[CatalogItem, ...]
    lines: tuple[int, ...]
    warnings: tuple[Problem, ...]
    ask_librarian: tuple[tuple[int, str], ...]
    encoding: str


class _Encoding(StrEnum):
    UTF8_BOM = "utf-8-sig"
    UTF8 = "utf-8"
    CP932 = "cp932"


@dataclass(frozen=True)
class _Row:
    line: int
    item: CatalogItem


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """The text and the encoding it was read in: UTF-8 (BOM or not), else CP932 (Shift_JIS)."""
    if encoding is not None:
        candidates: Sequence[str] = (encoding,)
    elif data.startswith(b"\xef\xbb\xbf"):
        candidates = (_Encoding.UTF8_BOM,)
    else:
        candidates = (_Encoding.UTF8, _Encoding.CP932)
    for name in candidates:
        try:
            return data.decode(name), str(name)
        except UnicodeDecodeError as exc:
            failure = exc
        except (LookupError, UnicodeError) as exc:  # e.g. --encoding rot13 (no text codec) or punycode
            raise DeliveryListError([Problem(0, f"cannot read the list as {name}: {exc}")]) from None
    tried = " or ".join(candidates)
    byte = f"byte 0x{data[failure.start]:02x} at offset {failure.start}"
    raise DeliveryListError([Problem(0, f"not {tried} text ({byte}): give --encoding")])


def parse_delivery_list(
    data: bytes,
    *,
    scheme: str = nw7.DEFAULT_SCHEME,
    length: int = 8,
    remainder: Remainder = "first",
    encoding: str | None = None,
    marks: MarkScheme = MarkScheme.CITY,
) -> DeliveryList:
    """Every row checked; raises DeliveryListError listing all bad rows, or returns the items."""
    text, used = decode(data, encoding)
    records = _records(text)
    header_line, header = next(records, (1, []))
    columns, problems, warnings = _header(header, header_line)
    if problems:
        raise DeliveryListError(problems)
    rows: list[_Row] = []
    for line, record in records:
        if not any(field.strip() for field in record):
            continue
        row, row_problems = _row(line, record, columns, len(header), scheme=scheme, length=length)
        problems.extend(row_problems)
        if row is not None:
            rows.append(row)
    problems.extend(_duplicates(rows))
    rows, set_problems = _sets(rows, remainder)
    problems.extend(set_problems)
    if problems:
        raise DeliveryListError(problems)
    asks = tuple((row.line, _ask_reason(row.item, marks)) for row in rows)
    return DeliveryList(
        items=tuple(row.item for row in rows),
        lines=tuple(row.line for row in rows),
        warnings=tuple(warnings),
        ask_librarian=tuple((line, reason) for line, reason in asks if reason),
        encoding=used,
    )


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on; a record may span lines inside quotes."""
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DeliveryListError([Problem(start, f"not readable as CSV: {exc}")]) from None
        yield start, record
        start = reader.line_num + 1


def _header(header: list[str], line: int) -> tuple[dict[int, Column], list[Problem], list[Problem]]:
    columns: dict[int, Column] = {}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if not any(name.strip() for name in header):
        return columns, [Problem(line, "no header row: the first row must name the columns")], warnings
    seen: dict[Column, str] = {}
    for index, name in enumerate(header):
        column = canonical_header(name)
        if column is None:
            if name.strip():
                warnings.append(Problem(line, f"column {name.strip()!r} is not one tagd reads: ignored"))
            continue
        if column in seen:
            problems.append(Problem(line, f"columns {seen[column]!r} and {name.strip()!r} are both {column}"))
        seen[column] = name.strip()
        columns[index] = column
    for column in REQUIRED - set(seen):
        names = ", ".join(repr(name) for name in COLUMNS[column][:3])
        problems.append(Problem(line, f"no {column} column (headed e.g. {names})"))
    return columns, problems, warnings


def _row(
    line: int, record: list[str], columns: dict[int, Column], width: int, *, scheme: str, length: int
) -> tuple[_Row | None, list[Problem]]:
    problems: list[Problem] = []
    if any(field.strip() for field in record[width:]):
        problems.append(Problem(line, f"{len(record)} fields, but the header names {width} columns"))
    fields: dict[str, object] = {}
    for index, column in columns.items():
        value = record[index].strip() if index < len(record) else ""
        if not value:
            continue
        try:
            fields[_FIELDS.get(column, column)] = _value(column, value, scheme, length)
        except ValueError as exc:
            problems.append(Problem(line, f"{column}: {exc}"))
    for column in REQUIRED:
        reported = any(problem.message.startswith(column) for problem in problems)
        if _FIELDS.get(column, column) not in fields and not reported:
            problems.append(Problem(line, f"{column}: empty"))
    set_fields = [name for name in ("volume", "volumes", "set_price") if name in fields]
    if set_fields and "set_id" not in fields:
        problems.append(Problem(line, f"{', '.join(set_fields)} given without a set_id"))
    if problems:
        return None, problems
    return _Row(line, CatalogItem(**fields)), []  # type: ignore[arg-type]


def _value(column: Column, value: str, scheme: str, length: int) -> object:
    """One field, checked; raises ValueError with the reason."""
    if column == "registration_number":
        try:
            return nw7.parse_number(value, scheme, length).item_id
        except nw7.BarcodeError as exc:
            raise ValueError(str(exc)) from None
    if column in ("price", "set_price"):
        return _yen(value)
    if column in ("volume", "volumes"):
        return _count(value)
    if column in ("binding", "inside_cover", "kind", "audience", "origin", "genre"):
        return choose(column, value)
    return value


def _yen(value: str) -> int:
    text = unicodedata.normalize("NFKC", value)
    for noise in (",", "¥", "円", "\\", " "):
        text = text.replace(noise, "")
    number = _whole(text)
    if number is None or number > MAX_PRICE:
        raise ValueError(f"{value!r} is not a price in whole yen (e.g. 1980, 1,980 or ¥1,980)")
    return number


def _count(value: str) -> int:
    number = _whole(unicodedata.normalize("NFKC", value))
    if number is None or not 1 <= number <= MAX_VOLUMES:
        raise ValueError(f"{value!r} is not a whole number from 1 to {MAX_VOLUMES}")
    return number


def _whole(text: str) -> int | None:
    """ASCII digits as a number, else None; a long run is None too, as int() refuses over 4300 digits."""
    digits = text.lstrip("0")
    if not text.isascii() or not text.isdigit() or len(digits) > _MAX_DIGITS:
        return None
    return int(digits or "0")


def _duplicates(rows: list[_Row]) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for row in rows:
        if row.item.item_id in first:
            other = first[row.item.item_id]
            problems.append(Problem(row.line, f"{row.item.item_id} is also on line {other}"))
        else:
            first[row.item.item_id] = row.line
    return problems


def _sets(rows: list[_Row], remainder: Remainder) -> tuple[list[_Row], list[Problem]]:
    """Volumes numbered, counts agreed and set prices divided; rows outside sets pass unchanged."""
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        if row.item.set_id is not None:
            groups.setdefault(row.item.set_id, []).append(index)
    problems: list[Problem] = []
    done = list(rows)
    for set_id, members in groups.items():
        updated, set_problems = _one_set(set_id, [rows[index] for index in members], remainder)
        problems.extend(set_problems)
        for index, row in zip(members, updated, strict=True):
            done[index] = row
    return done, problems


def _agreed(set_id: str, rows: list[_Row], field: str) -> tuple[int | None, list[Problem]]:
    given = [(row.line, getattr(row.item, field)) for row in rows if getattr(row.item, field) is not None]
    if not given:
        return None, []
    line, value = given[0]
    problems = [
        Problem(other_line, f"set {set_id!r}: {field} {other} disagrees with {value} on line {line}")
        for other_line, other in given[1:]
        if other != value
    ]
    return value, problems


def _one_set(set_id: str, rows: list[_Row], remainder: Remainder) -> tuple[list[_Row], list[Problem]]:
    volumes, problems = _agreed(set_id, rows, "volumes")
    set_price, price_problems = _agreed(set_id, rows, "set_price")
    problems += price_problems
    numbered = [row.item.volume for row in rows]
    if all(volume is None for volume in numbered):
        numbered = list(range(1, len(rows) + 1))
    elif any(volume is None for volume in numbered):
        problems += [
            Problem(row.line, f"set {set_id!r}: volume missing (other rows of the set give one)")
            for row in rows
            if row.item.volume is None
        ]
        return rows, problems
    seen: dict[int, int] = {}
    for row, volume in zip(rows, numbered, strict=True):
        assert volume is not None
        if volume in seen:
            other = seen[volume]
            problems.append(Problem(row.line, f"set {set_id!r}: volume {volume} is also on line {other}"))
        seen[volume] = row.line
    count = volumes if volumes is not None else max(len(rows), *seen)
    problems += [
        Problem(row.line, f"set {set_id!r}: volume {volume} of {count} volumes")
        for row, volume in zip(rows, numbered, strict=True)
        if volume is not None and volume > count
    ]
    if problems:
        return rows, problems
    updated = []
    takes_remainder = 1 if remainder == "first" else count
    for row, volume in zip(rows, numbered, strict=True):
        assert volume is not None
        item = replace(row.item, volume=volume, volumes=count, set_price=set_price)
        if set_price is not None:
            share = set_price // count + (set_price % count if volume == takes_remainder else 0)
            if row.item.price is not None and row.item.price != share:
                problems.append(
                    Problem(
                        row.line,
                        f"set {set_id!r}: price {row.item.price} disagrees with {share}, volume {volume}'s"
                        f" share of the set price {set_price} over {count} volumes: give one or the other",
                    )
                )
            item = replace(item, price=share)
        updated.append(_Row(row.line, item))
    return updated, problems


def _ask_reason(item: CatalogItem, marks: MarkScheme) -> str:
    """Why the encoder will ask a librarian about this item, or "" when the tag rule settles it."""
    requirement = required_tag(item.tag_item(marks))
    return requirement.reason_text if requirement.decision is Decision.ASK_LIBRARIAN else ""
