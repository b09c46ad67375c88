"""The shipment report: one row per item (what was done, by whom, when, or why not), and a summary.

CSV is UTF-8 with a BOM, so that Excel in Japan opens it as UTF-8 rather than Shift_JIS. XLSX (openpyxl,
imported when written) has the items on one sheet and the summary on another: counts per state, and per
operator per day (the library's time zone, [holds] timezone). Headers and state names are the staff's words,
through the gettext catalogs (Japanese by default, English available), with the state's code beside them.
"""

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from tagd.daemon.i18n import DEFAULT_LANGUAGE, Language, gettext_for
from tagd.daemon.store.worklist import ReportRow, State
from tagd.protocols.i18n import N_

__all__ = [
    "HEADERS",
    "HEADER_TEXTS",
    "STATE_TEXTS",
    "Summary",
    "headers",
    "summarise",
    "write_csv",
    "write_xlsx",
]

Translate = Callable[[str], str]

HEADER_TEXTS = (
    N_("registration number"),
    N_("title"),
    N_("call number"),
    N_("state"),
    N_("state code"),
    N_("tag UID"),
    N_("tag product"),
    N_("operator"),
    N_("time"),
    N_("reason"),
    N_("shipment ID"),
)
STATE_TEXTS = {
    State.PENDING: N_("not yet"),
    State.ENCODED: N_("encoded"),
    State.REJECTED: N_("error"),
    State.ASK_LIBRARIAN: N_("waiting for a librarian"),
    State.OVERRIDDEN: N_("done as a librarian decided"),
}
NO_OPERATOR = N_("(not set)")
"""Outcomes recorded before the desk named its operator."""
_ITEMS, _SUMMARY = N_("items"), N_("summary")


def headers(language: Language = DEFAULT_LANGUAGE) -> tuple[str, ...]:
    """The report's column headers in `language`."""
    _ = gettext_for(language)
    return tuple(_(text) for text in HEADER_TEXTS)


HEADERS = headers()
"""The headers in Japanese, the default."""


@dataclass(frozen=True)
class Summary:
    states: dict[State, int]
    per_operator_day: dict[tuple[str, str], int]
    """(operator, local date) -> items encoded (or overridden) that day."""


def _local(stamp: str | None, zone: ZoneInfo) -> datetime | None:
    return None if stamp is None else datetime.fromisoformat(stamp).astimezone(zone)


def _cells(row: ReportRow, zone: ZoneInfo, _: Translate) -> list[str | int]:
    local = _local(row.at, zone)
    return [
        row.item_id,
        row.title or "",
        row.call_number or "",
        _(STATE_TEXTS[row.state]),
        row.state.value,
        row.uid or "",
        row.product or "",
        row.operator or "",
        local.strftime("%Y-%m-%d %H:%M:%S") if local else "",
        row.reason or "",
        row.shipment_id if row.shipment_id is not None else "",
    ]


def summarise(rows: Sequence[ReportRow], zone: ZoneInfo, language: Language = DEFAULT_LANGUAGE) -> Summary:
    no_operator = gettext_for(language)(NO_OPERATOR)
    states = Counter(row.state for row in rows)
    days: Counter[tuple[str, str]] = Counter()
    for row in rows:
        local = _local(row.at, zone)
        if row.state in (State.ENCODED, State.OVERRIDDEN) and local is not None:
            days[(row.operator or no_operator, local.date().isoformat())] += 1
    return Summary(
        states={state: states.get(state, 0) for state in State},
        per_operator_day=dict(sorted(days.items())),
    )


def write_csv(
    rows: Sequence[ReportRow], stream: IO[str], zone: ZoneInfo, language: Language = DEFAULT_LANGUAGE
) -> None:
    """The items as CSV; `stream` is text opened with newline="" (the BOM is written here)."""
    _ = gettext_for(language)
    stream.write("\ufeff")
    writer = csv.writer(stream)
    writer.writerow(headers(language))
    writer.writerows(_cells(row, zone, _) for row in rows)


def write_xlsx(
    rows: Sequence[ReportRow],
    path: Path | IO[bytes],
    zone: ZoneInfo,
    *,
    title: str,
    language: Language = DEFAULT_LANGUAGE,
) -> None:
    """Sheet 明細 (items) and sheet 集計 (counts per state, per operator per day), in `language`."""
    from openpyxl import Workbook  # noqa: PLC0415 - a heavy import, for this command only

    book = Workbook()
    items = book.active
    _ = gettext_for(language)
    items.title = _(_ITEMS)
    items.append(headers(language))
    for row in rows:
        items.append(_cells(row, zone, _))
    items.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJK", (12, 30, 14, 12, 14, 18, 14, 12, 20, 40, 8), strict=True):
        items.column_dimensions[column].width = width
    summary = summarise(rows, zone, language)
    sheet = book.create_sheet(_(_SUMMARY))
    sheet.append([title])
    sheet.append([])
    sheet.append([_(N_("state")), _(N_("state code")), _(N_("count"))])
    for state, count in summary.states.items():
        sheet.append([_(STATE_TEXTS[state]), state.value, count])
    sheet.append([_(N_("total")), "total", len(rows)])
    sheet.append([])
    sheet.append([_(N_("operator")), _(N_("date")), _(N_("done (count)"))])
    for (operator, day), count in summary.per_operator_day.items():
        sheet.append([operator, day, count])
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 14
    book.save(path)
