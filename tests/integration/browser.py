"""Debian's chromium, driven by selenium through Debian's chromedriver: nothing is downloaded.

Selenium Manager is turned off (SE_MANAGER_PATH is not consulted when the Service names the driver, and
SE_OFFLINE keeps it from reaching out). Selenium calls block, so the async tests run them in a thread
(`act`) while tagd's loop keeps serving the page. Screenshots go to build/pages/ for review.
"""

import asyncio
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "pages"
WAIT_S = 10.0
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
)

T = TypeVar("T")


@contextmanager
def chromium(width: int = 1024, height: int = 600) -> Iterator[WebDriver]:
    """A headless chromium with a fresh profile, its viewport `width` x `height`."""
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="tagd-chromium-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            yield driver
        finally:
            driver.quit()


async def act(call: Callable[[], T]) -> T:
    """A blocking selenium call, off the event loop."""
    return await asyncio.to_thread(call)


async def wait_text(driver: WebDriver, element_id: str, wanted: str, within: float = WAIT_S) -> str:
    """The text of #element_id once it contains `wanted` (the page is drawn by its script)."""

    def text() -> str | None:
        found = driver.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.innerText : null;", element_id
        )
        return found if isinstance(found, str) and wanted in found else None

    try:
        return await act(lambda: WebDriverWait(driver, within, poll_frequency=0.05).until(lambda _d: text()))
    except TimeoutException:
        body = driver.execute_script("return document.body.innerText")
        raise AssertionError(f"#{element_id} never showed {wanted!r}; the page shows:\n{body}") from None


async def wait_gone(driver: WebDriver, element_id: str, within: float = WAIT_S) -> None:
    script = "return document.getElementById(arguments[0]) === null"
    try:
        await act(lambda: WebDriverWait(driver, within, poll_frequency=0.05).until(
            lambda d: d.execute_script(script, element_id)
        ))
    except TimeoutException:
        raise AssertionError(f"#{element_id} is still shown") from None


async def screenshot(driver: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await act(lambda: driver.save_screenshot(str(path)))
    return path
