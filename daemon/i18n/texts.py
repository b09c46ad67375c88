"""The words of codes that appear inside staff texts: tag products, covers, reasons, notification ways.

`derived(params, _)` adds `<param>_text` for each coded parameter, translated: a template's translation may
use either the code or its words (透明タグ U-TAG-L301 for `product`).
"""

from collections.abc import Callable, Mapping

from tagd.protocols.display import COVER_TEXTS, Param
from tagd.protocols.i18n import N_
from tagd.protocols.payload_types import REJECT_REASON_TEXTS
from tagd.protocols.tagtypes import PLACEMENT_TEXTS, REASON_TEXTS, TagProduct

__all__ = ["CONTENT_TEXTS", "NOTIFY_TEXTS", "PRODUCT_NAMES", "PRODUCT_TEXTS", "derived", "words"]

PRODUCT_NAMES: dict[str, str] = {
    TagProduct.L301: N_("transparent tag"),
    TagProduct.L1000M: N_("white tag"),
}
PRODUCT_TEXTS: dict[str, str] = {
    TagProduct.L301: N_("transparent tag U-TAG-L301"),
    TagProduct.L1000M: N_("white tag U-TAG-L1000M"),
}
NOTIFY_TEXTS: dict[str, str] = {
    "email": N_("by e-mail"),
    "phone": N_("by phone"),
    "none": N_("no notice (watches online)"),
}
CONTENT_TEXTS: dict[str, str] = {
    "item": N_("an item"),
    "blank": N_("a blank tag"),
    "foreign": N_("another library's or model's data"),
    "unreadable": N_("unreadable data"),
}

Translate = Callable[[str], str]


def words(kind: str, code: str, _: Translate) -> str:
    """The translated words of one code of `kind` (product, cover, reason, rule_reason, placement, notify)."""
    table: Mapping[str, str]
    if kind == "product":
        table = PRODUCT_TEXTS
    elif kind == "product_name":
        table = PRODUCT_NAMES
    elif kind == "cover":
        table = COVER_TEXTS
    elif kind == "notify":
        table = NOTIFY_TEXTS
    elif kind == "content":
        table = CONTENT_TEXTS
    elif kind == "reason":
        table = {reason.value: text for reason, text in REJECT_REASON_TEXTS.items()}
    elif kind == "rule_reason":
        table = {reason.value: text for reason, (text, _ja) in REASON_TEXTS.items()}
    elif kind == "placement":
        table = {place.value: text for place, text in PLACEMENT_TEXTS.items()}
    else:
        return code
    text = table.get(code)
    return code if text is None else _(text)


def derived(params: Mapping[str, Param], _: Translate) -> dict[str, str]:
    """`<name>_text` for each coded parameter present."""
    out: dict[str, str] = {}
    for kind in ("product", "cover", "notify", "content", "reason", "rule_reason", "placement"):
        value = params.get(kind)
        if isinstance(value, str):
            out[f"{kind}_text"] = words(kind, value, _)
    product = params.get("product")
    if isinstance(product, str):
        out["product_name"] = words("product_name", product, _)
    return out
