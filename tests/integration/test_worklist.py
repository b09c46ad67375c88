"""The shipment worklist end to end: scans and cmd/encode over real mosquitto move the items' states in the
station catalog, which `tagd catalog report` then reads (while the daemon runs, as WAL allows)."""

from pathlib import Path

from openpyxl import load_workbook

from tagd.daemon.cli import main
from tagd.daemon.store.catalog import Catalog
from tagd.daemon.store.worklist import State

from .test_encoder import BOTCHAN, CAT, CLOTH, L301, L1000M, Desk
from .test_encoder import desk as desk  # noqa: PLC0414 - the fixture, by its name


async def test_scans_and_commands_move_the_worklist_and_the_report_shows_them(
    desk: Desk, tmp_path: Path, capsys
) -> None:
    first = await desk.place(L301)
    await desk.desk.sim(desk.name, "scan", raw="A100000017B")
    await desk.desk.wait_for("item.encoded")
    assert (await desk.desk.sim(desk.name, "remove", uid=first))["ok"]
    await desk.place(L301)
    request = await desk.desk.cmd(
        desk.name, "encode", item_id=BOTCHAN, kind="book", binding="hardcover", override_tag="L301"
    )
    assert (await desk.desk.wait_reply(request))["ok"]
    await desk.desk.sim(desk.name, "scan", raw=CLOTH)
    await desk.desk.wait_for("item.encode_rejected")

    path = desk.app.config.catalog_path
    with Catalog(path) as catalog:
        rows = {row.item_id: row for row in catalog.report_rows()}
        progress = catalog.progress(1)
    assert (rows[CAT].state, rows[CAT].product) == (State.ENCODED, L301)
    assert rows[BOTCHAN].state is State.OVERRIDDEN
    assert rows[CLOTH].state is State.ASK_LIBRARIAN
    assert (progress.done, progress.ask_librarian, progress.total) == (2, 1, 10)

    out = tmp_path / "report.xlsx"
    assert main(["catalog", "report", "--db", str(path), "--shipment", "1", "-o", str(out)]) == 0
    assert "2 / 10 済, 司書確認待ち 1" in capsys.readouterr().err
    summary = list(load_workbook(out)["集計"].iter_rows(values_only=True))
    assert ("司書指示で済", "overridden", 1) in summary
    assert L1000M not in {row.product for row in rows.values()}
