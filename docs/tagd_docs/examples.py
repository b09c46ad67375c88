"""The examples in docs/events.md: one per event, command, reply and simulator action, as model instances
(so an example that stopped matching its model would fail at import, and in the tests)."""

from datetime import UTC, date, datetime

from tagd.protocols import events as ev
from tagd.protocols.commands import (
    EncodeCommand,
    EncodeReply,
    Hold,
    HoldsFeed,
    OperatorCommand,
    Reply,
    ReplyCode,
    Request,
    SecurityCommand,
    SecurityReply,
    SecurityResult,
    SimCard,
    SimPlace,
    SimPlaceReply,
    SimRemove,
    SimScan,
)
from tagd.protocols.iso28560 import DataModel
from tagd.protocols.tagtypes import (
    Binding,
    InsideCover,
    ItemKind,
    Placement,
    ProtectiveCover,
    Reason,
    TagProduct,
)

ITEM = "123456782"
OTHER_ITEM = "876543217"
UID = "E0040150A1B2C3D4"
L301, L1000M = TagProduct.L301, TagProduct.L1000M
PLACED = datetime(2025, 3, 20, 9, 15, tzinfo=UTC)
READY = datetime(2025, 4, 1, 1, 30, tzinfo=UTC)
"""10:30 in Tokyo: the hold-shelf week runs to 8 April."""

EVENT_EXAMPLES: dict[str, ev.EventData] = {
    example.TYPE: example
    for example in (
        ev.ItemDetected(
            reader="reader",
            uid=UID,
            content=ev.TagContent.ITEM,
            item_id=ITEM,
            product=L301,
            profile="U-TAG-L301",
            isil="JP-1234567",
            secured=True,
        ),
        ev.ItemRemoved(reader="reader", uid=UID, item_id=ITEM),
        ev.ItemEncoded(
            item_id=ITEM,
            uid=UID,
            product=L1000M,
            profile="U-TAG-L1000M",
            data_model=DataModel.ISO28560_3,
            rule_reason=Reason.HARDCOVER,
            placement=Placement.INSIDE_FRONT_COVER,
            cover=ProtectiveCover.SEAL,
            request_id="enc-0001",
            title="はらぺこあおむし",
        ),
        ev.ItemEncodeRejected(
            reason=ev.RejectReason.WRONG_TAG_TYPE,
            detail="this hardcover needs a white U-TAG-L1000M tag",
            item_id=ITEM,
            uid=UID,
            required=L1000M,
            found=L301,
        ),
        ev.BarcodeScanned(scanner="scanner", raw="A123456782B", item_id=ITEM),
        ev.SecurityChanged(
            reader="reader", uid=UID, item_id=ITEM, secured=False, afi=0xC2, eas=False, request_id="co-17"
        ),
        ev.SecurityFailed(
            reader="reader",
            item_id=ITEM,
            uid=None,
            secured=True,
            code=ev.SecurityFailure.NOT_ON_PAD,
            text="the tag is not on the pad",
        ),
        ev.GateAlarm(reader="reader", uid=UID, detected_by=ev.DetectedBy.AFI),
        ev.GateIdentified(
            reader="reader",
            alarm_id="0193a5f2-6c1e-7d3a-9b4f-2e8c1a0d5f67",
            uid=UID,
            item_id=ITEM,
            title="はらぺこあおむし",
        ),
        ev.SetIncomplete(reader="reader", item_id=ITEM, parts=3, present=[1, 3], missing=[2]),
        ev.HoldArrived(
            item_id=ITEM,
            uid=UID,
            hold_id="H-2025-000123",
            patron_ref="p-7f3a9c",
            pickup_library="central",
            notify=ev.Notify.EMAIL,
            hold_type=ev.HoldType.SINGLE,
            memo="今回は携帯に電話してください",
            placed_at=PLACED,
            ready_at=READY,
            hold_until=date(2025, 4, 8),
        ),
        ev.HoldTransit(
            item_id=ITEM,
            uid=UID,
            hold_id="H-2025-000124",
            patron_ref="p-51c0de",
            hold_type=ev.HoldType.SINGLE,
            from_library="central",
            to_library="north",
        ),
        ev.HoldDeferred(
            item_id=ITEM,
            uid=UID,
            hold_id="H-2025-000125",
            patron_ref="p-7f3a9c",
            set_id="S-88",
            position=2,
            waiting_for=[1],
            waiting_items=["100000017"],
        ),
        ev.PatronCard(reader="card_reader", card_id="2100012345678"),
        ev.ReaderConnected(reader="reader", url="feig:tcp://10.0.0.21:10001"),
        ev.ReaderLostEvent(
            reader="reader", url="feig:tcp://10.0.0.21:10001", error="connection reset", retry_in_s=2.0
        ),
        ev.CommandRejected(
            topic="tagd/enc1/cmd/encode", error="payload is not JSON: Expecting value at line 1 column 1"
        ),
        ev.HoldsRejected(
            topic=f"tagd/holds/{ITEM}", error="holds[0].notify: Input should be 'email', 'phone' or 'none'"
        ),
    )
}

COMMAND_EXAMPLES: dict[str, Request] = {
    "encode": EncodeCommand(
        request_id="enc-0001",
        item_id=ITEM,
        kind=ItemKind.BOOK,
        binding=Binding.HARDCOVER,
        inside_cover=InsideCover.UNKNOWN,
        call_number="E エ",
        override_tag=None,
    ),
    "security": SecurityCommand(request_id="co-17", items=[ITEM, "E0040150A1B2C3D5"], secured=False),
    "operator": OperatorCommand(request_id="op-3", operator="suzuki"),
}

REPLY_EXAMPLES: dict[str, list[Reply]] = {
    "operator": [Reply(request_id="op-3", ok=True)],
    "encode": [
        EncodeReply(request_id="enc-0001", ok=True, item_id=ITEM, uid=UID, product=L1000M, already=False),
        EncodeReply(
            request_id="enc-0002",
            ok=False,
            code=ReplyCode.REJECTED,
            reason=ev.RejectReason.ASK_LIBRARIAN,
            item_id=OTHER_ITEM,
            error="binding unknown: ask a librarian which tag this item takes",
        ),
    ],
    "security": [
        SecurityReply(
            request_id="co-17",
            ok=False,
            code=ReplyCode.REJECTED,
            error="1 of 2 items failed",
            results=[
                SecurityResult(item=ITEM, ok=True, uid=UID, item_id=ITEM, secured=False, afi=0xC2),
                SecurityResult(
                    item="E0040150A1B2C3D5",
                    ok=False,
                    code=ev.SecurityFailure.NOT_ON_PAD,
                    error="the tag is not on the pad",
                ),
            ],
        )
    ],
    "invalid": [
        SecurityReply(
            request_id="co-18",
            ok=False,
            code=ReplyCode.INVALID,
            error="items[2]: 'E00X12' is neither a 9-digit item id nor a 16-hex UID",
        )
    ],
}

SIM_EXAMPLES: dict[str, Request] = {
    "place": SimPlace(profile="U-TAG-L301"),
    "remove": SimRemove(uid=UID),
    "scan": SimScan(raw="A123456782B", request_id="scan-1"),
    "card": SimCard(id="2100012345678"),
}

SIM_REPLY_EXAMPLES: dict[str, list[Reply]] = {
    "place": [SimPlaceReply(request_id="sim-1", ok=True, uid=UID, profile="U-TAG-L301")],
}

HOLDS_EXAMPLE = HoldsFeed(
    holds=[
        Hold(
            hold_id="H-2025-000123",
            patron_ref="p-7f3a9c",
            pickup_library="central",
            notify=ev.Notify.EMAIL,
            memo="今回は携帯に電話してください",
            placed_at=PLACED,
            type=ev.HoldType.SINGLE,
        ),
        Hold(
            hold_id="H-2025-000125",
            patron_ref="p-7f3a9c",
            pickup_library="central",
            notify=ev.Notify.NONE,
            placed_at=PLACED,
            type=ev.HoldType.SET,
            set_id="S-88",
            position=2,
        ),
    ]
)
