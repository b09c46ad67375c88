"""Patron cards: nfcpy readers (`nfc:usb[:VID:PID]`, `nfc:tty:PORT:DRIVER`, `nfc:udp:HOST:PORT`) and the
simulator's (`sim:NAME`).

A card is reported once per presentation: FeliCa as its IDm (8 bytes), Type 2 and Type 4 cards as their UID,
in upper-case hex. nfcpy is blocking, so it polls in a worker thread; nfcpy calls our `terminate` between
polls, which paces the polling and lets close() stop it. nfcpy has no ISO 15693, so it never reads books.
"""

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from tagd.drivers.base import CardRead, DriverUrlError, ReaderLost
from tagd.drivers.read_queue import ReadQueue

NFC_PREFIX = "nfc:"
SIM_PREFIX = "sim:"
NFCPY_DEVICES = ("usb", "tty", "com", "udp")
"""The device kinds nfcpy's ContactlessFrontend.open takes; the rest of the URL is nfcpy's own path."""
TECHNOLOGIES = {"Type1Tag": "type1", "Type2Tag": "type2", "Type3Tag": "felica", "Type4Tag": "type4"}
TARGETS = ("212F", "106A", "106B")
"""FeliCa first (Japanese library cards are FeliCa), then ISO 14443 A and B."""
POLL_PAUSE = 0.1
CLOSE_TIMEOUT = 10.0
"""nfcpy checks `terminate` only between polls; over UDP a poll with nobody answering waits 1 s per target."""
_log = logging.getLogger(__name__)


class CardReaderUrlError(DriverUrlError):
    """A card reader URL this module cannot use; the message says what is wrong with it."""


def nfcpy_path(url: str) -> str:
    """nfcpy's device path: `nfc:usb:054c:06c3` -> `usb:054c:06c3`."""
    path = url.removeprefix(NFC_PREFIX)
    if not url.startswith(NFC_PREFIX) or path.partition(":")[0] not in NFCPY_DEVICES:
        raise CardReaderUrlError(
            f"{url!r} is not an nfcpy URL: nfc:usb, nfc:usb:VID:PID, nfc:tty:PORT:DRIVER or nfc:udp:HOST:PORT"
        )
    return path


def card_read(tag: Any) -> CardRead:
    """What an activated nfcpy tag says about the card: its type and identifier (IDm or UID)."""
    return CardRead(TECHNOLOGIES.get(tag.TYPE, str(tag.TYPE).lower()), bytes(tag.identifier).hex().upper())


class NfcCardReader:
    """An nfcpy contactless frontend polling for patron cards in a worker thread."""

    def __init__(self, url: str, frontend: Any) -> None:
        self.url = url
        self._frontend = frontend
        self._reads: ReadQueue[CardRead] = ReadQueue(url)
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"nfcpy {url}", daemon=True)
        self._thread.start()

    def __aiter__(self) -> "NfcCardReader":
        return self

    async def __anext__(self) -> CardRead:
        return await self._reads.next()

    async def close(self) -> None:
        """Stops polling and releases the device; waits for nfcpy to notice (see CLOSE_TIMEOUT)."""
        self._stop.set()
        self._reads.end()
        await asyncio.to_thread(self._thread.join, CLOSE_TIMEOUT)
        if self._thread.is_alive():
            _log.warning("%s: nfcpy did not stop within %.0f s", self.url, CLOSE_TIMEOUT)

    # -- the worker thread ----------------------------------------------------------------------------

    def _poll(self) -> None:
        options = {
            "targets": list(TARGETS),
            "iterations": 1,
            "on-connect": self._on_connect,
            "beep-on-connect": False,
        }
        try:
            while not self._stop.is_set():
                # True: a card came and went; None: terminated; False: nfcpy lost the device.
                if self._frontend.connect(rdwr=options, terminate=self._paused_or_stopped) is False:
                    if not self._stop.is_set():
                        lost = ReaderLost(f"{self.url}: the NFC reader stopped answering")
                        self._hand(self._reads.fail, lost)
                    return
        except Exception as exc:  # nfcpy's errors are many and untyped; each means the device is unusable
            _log.exception("%s: nfcpy failed", self.url)
            self._hand(self._reads.fail, ReaderLost(f"{self.url}: {exc or type(exc).__name__}"))
        finally:
            self._frontend.close()

    def _on_connect(self, tag: Any) -> bool:
        """Reports the card; True makes nfcpy wait until it leaves, so a card lying there is read once."""
        self._hand(self._reads.put, card_read(tag))
        return True

    def _paused_or_stopped(self) -> bool:
        """nfcpy's `terminate`, asked between polls: wait a little (pacing), or stop at once when closed."""
        return self._stop.wait(POLL_PAUSE)

    def _hand(self, call: Callable[[Any], None], value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(call, value)
        except RuntimeError:  # the event loop is gone: nobody is left to tell
            _log.debug("%s: %r after the event loop closed", self.url, value)


async def open_nfc_card_reader(url: str) -> NfcCardReader:
    """`nfc:usb`, `nfc:usb:VID:PID`, `nfc:tty:PORT:DRIVER`, `nfc:udp:HOST:PORT`; no device is ReaderLost."""
    path = nfcpy_path(url)
    import nfc  # noqa: PLC0415 - nfcpy is the optional `nfc` extra; the sim card reader does without it

    try:
        frontend = await asyncio.to_thread(nfc.ContactlessFrontend, path)
    except (OSError, ValueError) as exc:
        raise ReaderLost(f"{url}: no NFC reader at {path!r}: {exc}") from exc
    return NfcCardReader(url, frontend)


class SimCardReader:
    """The simulator's card reader: `present(technology, identifier)` is a card laid on it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = f"{SIM_PREFIX}{name}"
        self._reads: ReadQueue[CardRead] = ReadQueue(self.url)

    @property
    def closed(self) -> bool:
        return self._reads.ended

    def present(self, technology: str, identifier: str) -> CardRead:
        """A card (technology felica, type1, type2 or type4; identifier in hex); ValueError if malformed."""
        if technology not in TECHNOLOGIES.values():
            known = ", ".join(TECHNOLOGIES.values())
            raise ValueError(f"card technology {technology!r} is not one of {known}")
        try:
            raw = bytes.fromhex(identifier)
        except ValueError:
            raise ValueError(f"card identifier {identifier!r} is not hex") from None
        if not raw:
            raise ValueError("a card identifier is at least one byte")
        read = CardRead(technology, raw.hex().upper())
        self._reads.put(read)
        return read

    def unplug(self) -> None:
        """Fault injection: the consumer gets ReaderLost, as when a USB reader is pulled out."""
        self._reads.fail(ReaderLost(f"{self.url}: unplugged"))

    def __aiter__(self) -> "SimCardReader":
        return self

    async def __anext__(self) -> CardRead:
        return await self._reads.next()

    async def close(self) -> None:
        self._reads.end()


_sim_card_readers: dict[str, SimCardReader] = {}


def sim_card_reader(name: str) -> SimCardReader:
    """The simulated card reader NAME of this process, created on demand and again after it was closed."""
    reader = _sim_card_readers.get(name)
    if reader is None or reader.closed:
        reader = _sim_card_readers[name] = SimCardReader(name)
    return reader


async def open_sim_card_reader(url: str) -> SimCardReader:
    """`sim:NAME`."""
    if not url.startswith(SIM_PREFIX):
        raise CardReaderUrlError(f"{url!r} is not a simulated card reader URL ({SIM_PREFIX}NAME)")
    return sim_card_reader(url.removeprefix(SIM_PREFIX))
