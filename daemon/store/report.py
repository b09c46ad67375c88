"""The shipment report: one row per item (what was done, by whom, when, or why not), and a summary.

CSV is UTF-8 with a BOM, so that Excel in Japan opens it as UTF-8 rather than Shift_JIS. XLSX (openpyxl,
imported when written) has the items on one sheet and the summary on another: counts per state, and per
operator per day (the library's time zone, [holds] timezone). Headers and state names are the staff's words
in Japanese, with the machine code of the state beside them.
"""

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from tagd.daemon.store.worklist import ReportRow, State

__all__ = ["HEADERS", "STATE_NAMES", "Summary", "summarise", "write_csv", "write_xlsx"]

HEADERS = (
    "登録番号",
    "書名",
    "請求記号",
    "状態",
    "状態コード",
    "タグUID",
    "タグ種別",
    "作業者",
    "日時",
    "理由",
    "納品ID",
)
STATE_NAMES = {
    State.PENDING: "未処理",
    State.ENCODED: "済",
    State.REJECTED: "エラー",
    State.ASK_LIBRARIAN: "司書確認待ち",
    State.OVERRIDDEN: "司書指示で済",
}
NO_OPERATOR = "(未設定)"
"""Outcomes recorded before the desk named its operator."""


@dataclass(frozen=True)
class Summary:
    states: dict[State, int]
    per_operator_day: dict[tuple[str, str], int]
    """(operator, local date) -> items encoded (or overridden) that day."""


def _local(stamp: str | None, zone: ZoneInfo) -> datetime | None:
    return None if stamp is None else datetime.fromisoformat(stamp).astimezone(zone)


def _cells(row: ReportRow, zone: ZoneInfo) -> list[str | int]:
    local = _local(row.at, zone)
    return [
        row.item_id,
        row.title or "",
        row.call_number or "",
        STATE_NAMES[row.state],
        row.state.value,
        row.uid or "",
        row.product or "",
        row.operator or "",
        local.strftime("%Y-%m-%d %H:%M:%S") if local else "",
        row.reason or "",
        row.shipment_id if row.shipment_id is not None else "",
    ]


def summarise(rows: Sequence[ReportRow], zone: ZoneInfo) -> Summary:
    states = Counter(row.state for row in rows)
    days: Counter[tuple[str, str]] = Counter()
    for row in rows:
        local = _local(row.at, zone)
        if row.state in (State.ENCODED, State.OVERRIDDEN) and local is not None:
            days[(row.operator or NO_OPERATOR, local.date().isoformat())] += 1
    return Summary(
        states={state: states.get(state, 0) for state in State},
        per_operator_day=dict(sorted(days.items())),
    )


def write_csv(rows: Sequence[ReportRow], stream: IO[str], zone: ZoneInfo) -> None:
    """The items as CSV; `stream` is text opened with newline="" (the BOM is written here)."""
    stream.write("\ufeff")
    writer = csv.writer(stream)
    writer.writerow(HEADERS)
    writer.writerows(_cells(row, zone) for row in rows)


def write_xlsx(rows: Sequence[ReportRow], path: Path | IO[bytes], zone: ZoneInfo, *, title: str) -> None:
    """Sheet 明細 (items) and sheet 集計 (counts per state, per operator per day)."""
    from openpyxl import Workbook  # noqa: PLC0415 - a heavy import, for this command only

    book = Workbook()
    items = book.active
    items.title = "明細"
    items.append(HEADERS)
    for row in rows:
        items.append(_cells(row, zone))
    items.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJK", (12, 30, 14, 12, 14, 18, 14, 12, 20, 40, 8), strict=True):
        items.column_dimensions[column].width = width
    summary = summarise(rows, zone)
    sheet = book.create_sheet("集計")
    sheet.append([title])
    sheet.append([])
    sheet.append(["状態", "状態コード", "件数"])
    for state, count in summary.states.items():
        sheet.append([STATE_NAMES[state], state.value, count])
    sheet.append(["合計", "total", len(rows)])
    sheet.append([])
    sheet.append(["作業者", "日付", "済 件数"])
    for (operator, day), count in summary.per_operator_day.items():
        sheet.append([operator, day, count])
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 14
    book.save(path)
