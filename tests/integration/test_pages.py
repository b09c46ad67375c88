"""The station pages in Debian's chromium: the stations are driven only through the documented sim/ (and
holds) topics, and the tests read what staff at the desk would read, in Japanese. Screenshots of each step
are saved under build/pages/ for review (1024x600, the kiosk screen; one at 1920x1080)."""

import asyncio
import base64
import json
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tagd.daemon.app import App
from tagd.drivers.sim.reader import default_world
from tagd.protocols.display import DisplayCode, DisplayMessage

from .broker import Broker
from .browser import SCREENSHOTS, WAIT_S, act, chromium, screenshot, wait_gone, wait_text
from .pads import memory
from .stations import LIBRARY, Circulation, running, sim_station, station_config

CONFIG_DIR = Path(__file__).parents[2] / "config"
CAT = "100000017"  # 吾輩は猫である: softcover, the transparent tag
KAMISHIBAI = "100000041"  # てぶくろを買いに: a kamishibai, the white tag
CLOTH = "100000058"  # ぬのえほん どうぶつ: ask a librarian
OTHER = "100000025"  # 坊っちゃん


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Branch:
    app: App
    desk: Circulation
    base: str
    names: dict[str, str]

    def url(self, role: str) -> str:
        return f"{self.base}/stations/{self.names[role]}"

    async def scan(self, role: str, item_id: str) -> None:
        assert (await self.desk.sim(self.names[role], "scan", raw=f"A{item_id}A"))["ok"]

    async def place(self, role: str, **fields: Any) -> str:
        reply = await self.desk.sim(self.names[role], "place", **fields)
        assert reply["ok"], reply
        return str(reply["uid"])

    async def remove(self, role: str, uid: str) -> None:
        assert (await self.desk.sim(self.names[role], "remove", uid=uid))["ok"]

    async def encoded(self, item_id: str, profile: str = "U-TAG-L301") -> str:
        """An item encoded at the encoder (scan, new tag, item.encoded), its tag taken off the pad."""
        mark = self.desk.mark()
        await self.scan("encoder", item_id)
        uid = await self.place("encoder", profile=profile)
        await self.desk.wait_for("item.encoded", lambda e: e.data.item_id == item_id, after=mark)
        await self.remove("encoder", uid)
        return uid


@asynccontextmanager
async def branch(tmp_path: Path, broker: Broker, **display: Any) -> AsyncIterator[Branch]:
    roles = ("encoder", "checkout", "gate", "checkin")
    tables = [sim_station(role) for role in roles]
    port = _free_port()
    config = station_config(
        tmp_path,
        broker.port,
        tables,
        catalog={"load": str(CONFIG_DIR / "demo-delivery.csv")},
        encoder={"tag_return_seconds": 5.0, "poll_seconds": 0.02, "retry_delay_seconds": 0.01},
        checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02},
        gate={"poll_seconds": 0.02},
        checkin={"poll_seconds": 0.02},
        devices={"probe_seconds": 0.1, "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.2},
        display={"listen": f"127.0.0.1:{port}", **display},
    )
    names = {role: str(table["name"]) for role, table in zip(roles, tables, strict=True)}
    async with Circulation(broker.port) as desk, running(config) as app:
        yield Branch(app, desk, f"http://127.0.0.1:{port}", names)


async def open_page(driver: WebDriver, url: str) -> None:
    """The page, once its live feed is connected (it draws the first view before that)."""
    await act(lambda: driver.get(url))
    connected = "return document.body.dataset.connected === '1'"
    await act(lambda: WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(connected)))


async def test_the_encoder_page_shows_the_scan_the_tag_to_take_and_the_write(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        await open_page(browser, library.url("encoder"))
        await library.scan("encoder", CAT)
        await wait_text(browser, "item-id", CAT)
        await wait_text(browser, "item-title", "吾輩は猫である")
        await wait_text(browser, "tag-words", "透明タグ U-TAG-L301")
        await wait_text(browser, "state-text", "パッドに置いてください")
        await wait_text(browser, "steps", "▶ タグ待ち")
        await screenshot(browser, "encoder-scanned")
        uid = await library.place("encoder", profile="U-TAG-L301")
        written = await wait_text(browser, "state-text", f"{CAT} を書き込みました")
        assert uid in written
        await wait_text(browser, "state-text", "保護フィルムを貼ってください")
        await wait_text(browser, "steps", "✔ 完了")
        await wait_text(browser, "recent", "書き込みました")
        assert "level-success" in browser.execute_script("return document.body.className")
        await screenshot(browser, "encoder-written")


async def test_ask_a_librarian_is_a_full_width_notice_with_the_specifications_words(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        await open_page(browser, library.url("encoder"))
        await library.scan("encoder", CLOTH)
        notice = await wait_text(browser, "ask-librarian", "市立図書館員に相談")
        assert "ぬのえほん どうぶつ" in notice
        assert "布の本" in notice  # the reason, in Japanese
        assert "市立図書館員に相談し、その指示に従うこと" in notice  # rule_ja: the specification's own words
        width = browser.execute_script(
            "return [document.getElementById('ask-librarian').offsetWidth, window.innerWidth]"
        )
        assert width[0] >= 0.9 * width[1]
        await screenshot(browser, "encoder-ask-librarian")


async def test_the_overwrite_question_is_answered_with_the_button_by_the_signed_in_operator(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        await open_page(browser, library.url("encoder"))
        field = await act(lambda: browser.find_element("id", "operator-name"))
        await act(lambda: field.send_keys("suzuki"))
        await act(lambda: browser.find_element("id", "sign-in").click())
        await wait_text(browser, "operator-now", "suzuki")

        mark = library.desk.mark()
        await library.scan("encoder", CAT)
        uid = await library.place("encoder", profile="U-TAG-L301", memory_hex=memory(OTHER))
        rejected = await library.desk.wait_for("item.encode_rejected", after=mark)
        assert (rejected.data.reason, rejected.data.operator) == ("tag_in_use", "suzuki")
        question = await wait_text(browser, "overwrite", "上書きしますか?")
        assert OTHER in question
        await screenshot(browser, "encoder-overwrite-question")
        await act(lambda: browser.find_element("id", "overwrite-button").click())
        encoded = await library.desk.wait_for("item.encoded", lambda e: e.data.item_id == CAT, after=mark)
        assert (encoded.data.uid, encoded.data.forced, encoded.data.operator) == (uid, True, "suzuki")
        assert str(encoded.data.request_id).startswith("page-")  # the button sent cmd/encode with force
        await wait_text(browser, "state-text", f"{CAT} を書き込みました")
        await wait_gone(browser, "overwrite")
        await wait_text(browser, "counts", "suzuki")
        await screenshot(browser, "encoder-overwritten")


async def test_the_librarians_pile_and_an_override_with_who_decided(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    """Issue 15 §1: the shipment's progress and the librarian's pile on the encoder page; a librarian's
    decision (which tag, who decided) goes to the tag rule as override_tag and is recorded."""
    async with branch(tmp_path, broker) as library:
        await open_page(browser, library.url("encoder"))
        progress = await wait_text(browser, "progress", "済")
        assert "demo-delivery.csv" in progress
        assert "司書確認待ち 0" in progress
        mark = library.desk.mark()
        await library.scan("encoder", CLOTH)
        await library.desk.wait_for("item.encode_rejected", lambda e: e.data.item_id == CLOTH, after=mark)
        await wait_text(browser, "progress", "司書確認待ち 1")
        pile = await wait_text(browser, "pile-items", CLOTH)
        assert "ぬのえほん どうぶつ" in pile
        assert "布の本" in pile  # the rule's reason, in the page's language
        white = f"#pile-items li[data-item='{CLOTH}'] button.override-white"
        click = "document.querySelector(arguments[0]).click()"  # find and click at once: pushes redraw it
        await act(lambda: browser.execute_script(click, white))
        await wait_text(browser, "pile-note", "判断した人")  # no decision without who decided
        await act(lambda: browser.find_element("id", "decided-by").send_keys("tanaka"))
        await act(lambda: browser.execute_script(click, white))
        await wait_text(browser, "pile-note", "タグをパッドに置いてください")
        await screenshot(browser, "encoder-librarian-pile")
        await library.place("encoder", profile="U-TAG-L1000M")
        encoded = await library.desk.wait_for("item.encoded", lambda e: e.data.item_id == CLOTH, after=mark)
        assert (encoded.data.product, encoded.data.rule_reason, encoded.data.override_by) == (
            "U-TAG-L1000M",
            "librarian_override",
            "tanaka",
        )
        await wait_text(browser, "progress", "司書確認待ち 0")
        row = next(r for r in library.app.catalog.report_rows() if r.item_id == CLOTH)  # type: ignore[union-attr]
        assert (row.state, row.reason) == ("overridden", "decided by tanaka")


async def test_a_gate_alarm_fills_the_screen_with_the_title(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        uid = await library.encoded(KAMISHIBAI, "U-TAG-L1000M")  # secured, never checked out
        await open_page(browser, library.url("gate"))
        await library.place("gate", uid=uid)
        await wait_text(browser, "alarm", "警報")
        await wait_text(browser, "alarm-title", "てぶくろを買いに")
        await wait_text(browser, "alarm-item", KAMISHIBAI)
        size = browser.execute_script(
            "const r = document.getElementById('alarm').getBoundingClientRect();"
            "return [r.width, r.height, window.innerWidth, window.innerHeight]"
        )
        assert (size[0], size[1]) == (size[2], size[3])  # the whole screen
        await wait_text(browser, "alarms", KAMISHIBAI)
        await screenshot(browser, "gate-alarm")


async def test_a_check_in_to_the_hold_shelf_and_the_hold_slips_print_layout(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        uid = await library.encoded(CAT)
        hold = {
            "hold_id": "H-77",
            "patron_ref": "p-0042",
            "pickup_library": LIBRARY,
            "notify": "phone",
            "memo": "今回は携帯に電話してください",
            "placed_at": "2026-11-21T10:00:00+09:00",
            "type": "single",
        }
        await library.desk.publish(f"tagd/holds/{CAT}", {"holds": [hold]}, retain=True)
        await open_page(browser, library.url("checkin"))
        mark = library.desk.mark()
        await library.place("checkin", uid=uid)
        arrived = await library.desk.wait_for("hold.arrived", after=mark)
        results = await wait_text(browser, "results", "予約棚へ")
        until = arrived.data.hold_until.isoformat()
        for words in ("吾輩は猫である", "今回は携帯に電話してください", "電話で連絡", until):
            assert words in results
        await screenshot(browser, "checkin-hold-shelf")

        await act(lambda: browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"}))
        try:
            layout = browser.execute_script(
                "const s = document.getElementById('hold-slip'); const r = s.getBoundingClientRect();"
                "const results = getComputedStyle(document.getElementById('results')).visibility;"
                "return {width: r.width, visible: getComputedStyle(s).visibility, results, text: s.innerText}"
            )
            await screenshot(browser, "checkin-hold-slip-print")
        finally:
            await act(lambda: browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""}))
        assert (layout["visible"], layout["results"]) == ("visible", "hidden")  # only the slip prints
        assert layout["width"] <= 80 / 25.4 * 96  # at most 80 mm of paper
        for words in (CAT, "吾輩は猫である", "p-0042", LIBRARY, arrived.data.hold_until.isoformat()):
            assert words in layout["text"]
        assert "今回は" not in layout["text"]  # the slip carries no memo, and no patron name exists
        pdf = await act(lambda: browser.execute_cdp_cmd("Page.printToPDF", {"paperWidth": 80 / 25.4}))
        slip = SCREENSHOTS / "hold-slip.pdf"
        await asyncio.to_thread(slip.write_bytes, base64.b64decode(pdf["data"]))
        text = await asyncio.to_thread(
            lambda: subprocess.run(["pdftotext", str(slip), "-"], capture_output=True, text=True, check=True)
        )
        assert "p-0042" in text.stdout


async def test_a_lost_reader_shows_a_red_banner_until_it_is_back(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        await open_page(browser, library.url("checkin"))
        field = default_world().field(library.names["checkin"])
        field.unplugged = True
        try:
            banner = await wait_text(browser, "lost-device", "ICリーダー")
            assert "つながっていません" in banner
            colour = browser.execute_script(
                "return getComputedStyle(document.getElementById('lost-device')).backgroundColor"
            )
            assert colour == "rgb(192, 0, 24)"
            await screenshot(browser, "checkin-reader-lost")
        finally:
            field.unplugged = False
        await wait_gone(browser, "lost-device")


async def test_a_page_that_lost_tagd_says_so_and_comes_back(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        url = library.url("encoder")
        await open_page(browser, url)
        await wait_gone(browser, "lost-tagd")
    # tagd has stopped: the page stays, and says so
    banner = await wait_text(browser, "lost-tagd", "tagd との接続が切れました")
    assert banner
    await screenshot(browser, "encoder-lost-tagd")


async def test_every_asset_comes_from_tagd_and_actions_need_this_origin(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        await act(lambda: browser.get(library.base + "/"))
        names = await act(lambda: browser.find_element("tag name", "body").text)
        for name in library.names.values():
            assert name in names
        await open_page(browser, library.url("checkout"))
        resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources
        assert all(str(url).startswith(library.base + "/") for url in resources), resources

        def post(origin: str | None) -> int:
            request = urllib.request.Request(
                library.url("encoder") + "/operator",
                data=json.dumps({"operator": "x"}).encode(),
                headers={"Content-Type": "application/json", **({"Origin": origin} if origin else {})},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert await asyncio.to_thread(post, "http://evil.example") == 403
        assert await asyncio.to_thread(post, None) == 403
        assert await asyncio.to_thread(post, library.base) == 202


async def test_a_token_is_required_when_configured(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker, token="s3cret-display-token") as library:
        await act(lambda: browser.get(library.url("gate")))
        assert "display token" in await act(lambda: browser.find_element("tag name", "body").text)
        await act(lambda: browser.get(library.url("gate") + "?token=s3cret-display-token"))
        await wait_text(browser, "state-text", "")
        await act(lambda: browser.get(library.url("gate")))  # the cookie carries it from now on
        await wait_text(browser, "state-text", "")


async def test_the_status_names_the_page(tmp_path: Path, broker: Broker) -> None:
    async with branch(tmp_path, broker) as library:
        name = library.names["gate"]
        status = await library.desk.wait_status(name, lambda s: s.get("display") is not None)
        assert status["display"] == library.url("gate")


async def test_the_checkout_page_at_1920_by_1080(tmp_path: Path, broker: Broker) -> None:
    async with branch(tmp_path, broker) as library:
        cat = await library.encoded(CAT)
        with chromium(1920, 1080) as wide:
            await open_page(wide, library.url("checkout"))
            await library.place("checkout", uid=cat)
            await wait_text(wide, "pad", "吾輩は猫である")
            await wait_text(wide, "pad", "セキュリティ設定済み")
            await screenshot(wide, "checkout-1920")


async def test_the_desk_state_is_published_retained_on_the_display_topic(
    tmp_path: Path, broker: Broker
) -> None:
    async with branch(tmp_path, broker, language="ja") as library:
        name = library.names["encoder"]
        await library.scan("encoder", CAT)
        topic = f"tagd/{name}/display"

        async def first(*, retained: bool) -> DisplayMessage:
            """The first put_tag state on the topic; a late subscriber gets it at once, retained."""
            async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                await client.subscribe(topic, qos=1)
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    shown = DisplayMessage.model_validate_json(message.payload)
                    if retained:
                        assert message.retain
                        return shown
                    if shown.code is DisplayCode.PUT_TAG:
                        return shown
            raise AssertionError("the subscription ended")

        await asyncio.wait_for(first(retained=False), WAIT_S)  # published (live or retained)
        shown = await asyncio.wait_for(first(retained=True), WAIT_S)
        assert shown.code is DisplayCode.PUT_TAG
        assert (shown.level, shown.language, shown.params["item_id"]) == ("info", "ja", CAT)
        assert shown.params["product"] == "U-TAG-L301"
        assert "透明タグ U-TAG-L301" in shown.text


async def test_a_lost_broker_shows_a_banner(tmp_path: Path, broker: Broker, browser: WebDriver) -> None:
    async with branch(tmp_path, broker) as library:
        await open_page(browser, library.url("gate"))
        await wait_gone(browser, "lost-broker")
        broker.stop()
        banner = await wait_text(browser, "lost-broker", "MQTTブローカ")
        assert "送信待ち" in banner
        await screenshot(browser, "gate-broker-lost")


async def test_a_check_in_for_another_library_says_transit_with_the_pickup_library(
    tmp_path: Path, broker: Broker, browser: WebDriver
) -> None:
    async with branch(tmp_path, broker) as library:
        uid = await library.encoded(OTHER, "U-TAG-L1000M")
        hold = {
            "hold_id": "H-78",
            "patron_ref": "p-0043",
            "pickup_library": "north",
            "notify": "email",
            "placed_at": "2026-11-21T10:00:00+09:00",
            "type": "single",
        }
        await library.desk.publish(f"tagd/holds/{OTHER}", {"holds": [hold]}, retain=True)
        await open_page(browser, library.url("checkin"))
        await library.place("checkin", uid=uid)
        results = await wait_text(browser, "results", "回送")
        assert "受取館: north" in results
        assert "坊っちゃん" in results
        await wait_gone(browser, "hold-slip")  # a slip is for the hold shelf only
        await screenshot(browser, "checkin-transit")
