"""The catalog's torn tags (the encoder's own unfinished writes): kept across a reopen, cleared when the tag
is finished, and bounded, the oldest forgotten first."""

from pathlib import Path

from tagd.daemon.store.catalog import TORN_MAX, Catalog

UID = 0xE004_0150_1234_5678


def test_a_torn_tag_is_kept_across_a_reopen_until_it_is_cleared(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    with Catalog(path) as catalog:
        assert catalog.torn_item(UID) is None
        catalog.mark_torn(UID, "100000017")
        catalog.mark_torn(UID, "100000025")  # torn again, for another item: the latest counts
    with Catalog(path) as catalog:
        assert catalog.torn_item(UID) == "100000025"
        assert catalog.torn_item(UID + 1) is None
        catalog.clear_torn(UID)
        assert catalog.torn_item(UID) is None


def test_the_oldest_torn_tags_are_forgotten_beyond_the_bound(tmp_path: Path) -> None:
    extra = 7
    with Catalog(tmp_path / "catalog.sqlite3") as catalog:
        for n in range(TORN_MAX + extra):
            catalog.mark_torn(UID + n, f"item {n}")
        kept = [n for n in range(TORN_MAX + extra) if catalog.torn_item(UID + n) is not None]
    assert kept == list(range(extra, TORN_MAX + extra))
