"""The HTML of the pages: a skeleton with the words staff read (gettext), the first view, and the shipped
script and stylesheet (static/), which draw each view the server pushes."""

import json
from html import escape
from typing import Any

from tagd.daemon.i18n import gettext_for
from tagd.protocols.i18n import N_, Language

__all__ = ["TEXTS", "index_page", "station_page"]

TEXTS: dict[str, str] = {
    "title": N_("tagd station"),
    "stations": N_("Stations"),
    "encoder": N_("processing desk"),
    "checkout": N_("self-checkout"),
    "gate": N_("security gate"),
    "checkin": N_("check-in"),
    "library": N_("library"),
    "lost_tagd": N_("Lost the connection to tagd: reconnecting…"),
    "lost_device": N_("Not connected: {devices}. Call for help if it does not come back."),
    "lost_broker": N_("The circulation system (MQTT broker) is not reachable: events wait in the outbox."),
    "outbox_full": N_("The outbox is full: this station takes no new work. Call for help."),
    "item": N_("Item"),
    "item_id": N_("registration number"),
    "tag": N_("Tag to take"),
    "placement": N_("Where it goes"),
    "cover": N_("Then"),
    "steps": N_("Steps"),
    "step_wait": N_("waiting for the tag"),
    "step_write": N_("writing"),
    "step_verify": N_("verifying"),
    "step_done": N_("done"),
    "ask_librarian": N_("Ask a city librarian"),
    "rule": N_("The specification says"),
    "overwrite": N_("Overwrite?"),
    "overwrite_yes": N_("Overwrite this tag"),
    "overwrite_sent": N_("Overwrite sent: put the tag back on the pad"),
    "recent": N_("Last items"),
    "operator": N_("Operator"),
    "sign_in": N_("Sign in"),
    "sign_out": N_("Sign out"),
    "operator_name": N_("name or staff code"),
    "today": N_("Today per operator"),
    "nobody": N_("nobody signed in"),
    "pad": N_("On the pad"),
    "secured": N_("secured"),
    "not_secured": N_("not secured (on loan)"),
    "unknown": N_("unknown"),
    "incomplete": N_("{present} of a {parts}-part set"),
    "card": N_("Patron card"),
    "alarm": N_("ALARM"),
    "alarms": N_("Last alarms"),
    "results": N_("Returns"),
    "to_shelf": N_("to the shelf"),
    "to_hold_shelf": N_("to the hold shelf"),
    "transit": N_("transit"),
    "deferred": N_("keep back (set hold)"),
    "shelf_until": N_("on the hold shelf until"),
    "notify": N_("notice"),
    "memo": N_("memo"),
    "pickup": N_("pickup library"),
    "patron": N_("patron"),
    "hold": N_("hold"),
    "print_slip": N_("Print hold slip"),
    "slip_title": N_("Hold slip"),
    "mute": N_("Sound off"),
    "unmute": N_("Sound on"),
    "waiting": N_("waiting"),
    "progress": N_("Shipment {file}: {done} / {total} done, {pile} waiting for a librarian"),
    "pile": N_("Waiting for a librarian"),
    "decided_by": N_("decided by (librarian's name or staff code)"),
    "decided_by_needed": N_("Enter who decided first"),
    "override_clear": N_("Clear tag (U-TAG-L301)"),
    "override_white": N_("White tag (U-TAG-L1000M)"),
    "override_sent": N_("Sent: put a tag on the pad"),
}
"""Every word of the pages (the script reads them from the page: nothing is hard-coded in it)."""


def _texts(language: Language) -> dict[str, str]:
    _ = gettext_for(language)
    return {key: _(text) for key, text in TEXTS.items()}


def _head(title: str, language: Language) -> str:
    return (
        f'<!doctype html>\n<html lang="{language}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="icon" href="data:,">\n<link rel="stylesheet" href="/static/station.css">\n</head>\n'
    )


def index_page(stations: list[tuple[str, str, str]], language: Language) -> str:
    texts = _texts(language)
    rows = "\n".join(
        f'<li><a href="/stations/{escape(name)}"><span class="name">{escape(name)}</span>'
        f' <span class="role">{escape(texts.get(role, role))}</span>'
        f' <span class="library">{escape(texts["library"])}: {escape(library)}</span></a></li>'
        for name, role, library in stations
    )
    return (
        _head(texts["stations"], language)
        + f'<body class="index">\n<h1>{escape(texts["stations"])}</h1>\n'
        + f'<ul class="stations">\n{rows}\n</ul>\n</body>\n</html>\n'
    )


def station_page(name: str, role: str, view: dict[str, Any], language: Language) -> str:
    """The page of one station: the script fills it from the first view, then from each pushed one."""
    texts = _texts(language)
    data = json.dumps({"texts": texts, "view": view}, ensure_ascii=False).replace("</", "<\\/")
    return (
        _head(f"{name}: {texts.get(role, role)}", language)
        + f'<body class="station role-{escape(role)} level-{escape(view["display"]["level"])}">\n'
        f'<script id="tagd-data" type="application/json">{data}</script>\n'
        '<main id="app"></main>\n'
        '<script src="/static/station.js"></script>\n'
        "</body>\n</html>\n"
    )
