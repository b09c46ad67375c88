"""The holds feed and the hold trap of check-in: `trap` (HoldDesk: decides and reports hold.arrived,
hold.transit, hold.deferred), `ledger` (the feed and every report, in SQLite) and `handover` (what a check-in
station hands the trap). The rules themselves are sans-IO, in tagd.protocols.holds."""
