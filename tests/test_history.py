"""The history store: pictures come back newest first with their settings, survive a restart, are pruned oldest
first to the limit (never the newest), and damaged, foreign or half-written files never stop the listing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.errors import ExportError, ImageError
from engine.history import INDEX_NAME, HistoryStore, default_folder
from engine.settings import RenderSettings, png_text_chunks
from tests.pictures import gradient


def noise(seed: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A picture that does not compress, so each one takes about the same room on disk."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def chunks(lam: float = 0.05) -> dict[str, str]:
    return png_text_chunks(RenderSettings(lam=lam, size=96, iterations=10), "cat.png", "wave.png")


def test_entries_come_back_newest_first_with_their_settings(tmp_path):
    store = HistoryStore(tmp_path / "history")
    assert store.entries() == [] and store.total_bytes() == 0  # no folder yet: an empty history, not an error
    first = store.add(noise(1), chunks(0.01), finished=True)
    second = store.add(noise(2), chunks(0.02), finished=False)
    entries = store.entries()
    assert [e.key for e in entries] == [second.key, first.key]
    assert entries == [second, first]
    assert entries[0].created >= entries[1].created
    assert [e.finished for e in entries] == [False, True]
    assert [e.stored.settings.lam for e in entries] == [0.02, 0.01]
    assert entries[1].stored.content_name == "cat.png"
    for entry in entries:
        assert entry.size_bytes == entry.png.stat().st_size + entry.thumbnail.stat().st_size
    assert store.total_bytes() == sum(e.size_bytes for e in entries)


def test_image_round_trips_the_pixels_and_the_thumbnail_is_small(tmp_path):
    store = HistoryStore(tmp_path)
    picture = noise(3, width=128, height=80)
    entry = store.add(picture, chunks(), finished=True)
    assert np.array_equal(store.image(entry), picture)
    thumbnail = store.thumbnail(entry)
    assert thumbnail.shape == (80, 128, 3)  # longest side 128: this one is already small enough

    big = gradient(300, 200)
    entry = store.add(big, chunks(), finished=True)
    assert store.thumbnail(entry).shape == (85, 128, 3)
    expected = np.asarray(Image.fromarray(big).resize((128, 85), Image.Resampling.LANCZOS)).astype(int)
    entry.thumbnail.unlink()  # a lost thumbnail is made again from the picture
    assert np.abs(store.thumbnail(entry).astype(int) - expected).mean() < 1
    assert entry.thumbnail.exists()
    assert np.abs(store.thumbnail(entry).astype(int) - expected).mean() < 4  # read back from its JPEG file
    entry.thumbnail.write_bytes(entry.thumbnail.read_bytes()[:200])  # a damaged one is made again too
    assert np.abs(store.thumbnail(entry).astype(int) - expected).mean() < 1
    assert np.abs(store.thumbnail(entry).astype(int) - expected).mean() < 4


def test_the_history_survives_a_restart(tmp_path):
    store = HistoryStore(tmp_path)
    added = [store.add(noise(i), chunks(0.01 * (i + 1)), finished=i % 2 == 0) for i in range(3)]
    restarted = HistoryStore(tmp_path)
    assert restarted.entries() == added[::-1]
    assert np.array_equal(restarted.image(restarted.entries()[-1]), noise(0))

    (tmp_path / INDEX_NAME).unlink()  # the index is only a shortcut: the PNGs alone say everything
    assert HistoryStore(tmp_path).entries() == added[::-1]
    assert (tmp_path / INDEX_NAME).exists()  # and it is written again


def test_two_windows_sharing_the_history_see_each_others_pictures(tmp_path):
    one, other = HistoryStore(tmp_path), HistoryStore(tmp_path)
    first = one.add(noise(1), chunks(), finished=True)
    second = other.add(noise(2), chunks(), finished=True)
    third = one.add(noise(3), chunks(), finished=False)
    assert one.entries() == other.entries() == [third, second, first]
    other.remove(second)
    assert one.entries() == [third, first]


def test_pruning_removes_the_oldest_first_and_keeps_the_newest(tmp_path):
    store = HistoryStore(tmp_path)
    one = store.add(noise(0), chunks(), finished=True).size_bytes
    store.set_limit(int(one * 2.5))  # room for two pictures of this size
    for seed in range(1, 5):
        store.add(noise(seed), chunks(), finished=True)
    entries = store.entries()
    assert len(entries) == 2
    assert [np.array_equal(store.image(e), noise(s)) for e, s in zip(entries, (4, 3))] == [True, True]
    assert store.total_bytes() <= store.limit_bytes
    assert len(list(tmp_path.glob("*.png"))) == 2 and len(list((tmp_path / "thumbnails").glob("*.jpg"))) == 2

    removed = store.set_limit(0)  # even a limit nothing fits in keeps the newest picture
    assert [e.key for e in removed] == [entries[1].key]
    assert [e.key for e in store.entries()] == [entries[0].key]
    assert store.limit_bytes == 0
    with pytest.raises(ExportError, match="size limit"):
        store.set_limit(-1)


def test_remove_deletes_the_picture_and_its_thumbnail(tmp_path):
    store = HistoryStore(tmp_path)
    keep, gone = store.add(noise(1), chunks(), True), store.add(noise(2), chunks(), True)
    store.remove(gone)
    assert store.entries() == [keep]
    assert not gone.png.exists() and not gone.thumbnail.exists()
    store.remove(gone)  # already gone: nothing to do
    with pytest.raises(ImageError, match="no such file"):
        store.image(gone)


def test_a_damaged_index_is_rebuilt_from_the_pictures(tmp_path):
    store = HistoryStore(tmp_path)
    added = [store.add(noise(i), chunks(), finished=True) for i in range(2)]
    for damage in (b"{not json", b"[1, 2, 3]", b'{"format": 1, "entries": {"x": {"created": "soon"}}}', b"\xff\xfe"):
        (tmp_path / INDEX_NAME).write_bytes(damage)
        assert HistoryStore(tmp_path).entries() == added[::-1]
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    assert sorted(index["entries"]) == sorted(e.key for e in added)

    # an index that lies (a picture it lists is gone, its record of another is stale) is corrected too
    added[0].png.unlink()
    assert HistoryStore(tmp_path).entries() == [added[1]]


def test_damaged_foreign_and_half_written_files_are_passed_over(tmp_path):
    store = HistoryStore(tmp_path)
    good = store.add(noise(1), chunks(), finished=True)
    truncated = store.add(noise(2), chunks(), finished=True)
    data = truncated.png.read_bytes()
    truncated.png.write_bytes(data[: len(data) // 2])
    flipped = store.add(noise(3), chunks(), finished=True)
    data = bytearray(flipped.png.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one damaged byte inside the picture data: its checksum no longer matches
    flipped.png.write_bytes(bytes(data))
    Image.fromarray(gradient()).save(tmp_path / "holiday.png")  # a picture from elsewhere, not from the history
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / ".20240101-000000-000000.png.abc.part").write_bytes(data[:100])  # an add cut short
    Image.fromarray(gradient()).save(tmp_path / "jpeg-named.png", format="JPEG")

    for fresh in (store, HistoryStore(tmp_path)):
        assert fresh.entries() == [good]
    (tmp_path / INDEX_NAME).unlink()
    assert HistoryStore(tmp_path).entries() == [good]
    with pytest.raises(ImageError, match="truncated"):
        store.image(truncated)


def test_a_picture_whose_settings_are_damaged_is_still_shown(tmp_path):
    store = HistoryStore(tmp_path)
    text = chunks()
    text["fude:settings"] = "{broken"
    entry = store.add(noise(1), text, finished=False)
    assert entry.stored is None
    (tmp_path / INDEX_NAME).unlink()
    [again] = HistoryStore(tmp_path).entries()
    assert again.stored is None and again.finished is False
    assert np.array_equal(store.image(again), noise(1))


def test_a_history_that_cannot_be_written_says_where(tmp_path):
    (tmp_path / "taken").write_text("a file where the folder should be")
    store = HistoryStore(tmp_path / "taken")
    with pytest.raises(ExportError, match="taken: the history folder cannot be made"):
        store.add(noise(1), chunks(), finished=True)
    assert store.entries() == []
    with pytest.raises(ExportError, match="H x W x 3 uint8"):
        HistoryStore(tmp_path).add(np.zeros((4, 4), np.uint8), chunks(), finished=True)


def test_the_default_folder_is_in_the_user_data_folder(_isolated_user_data):
    assert default_folder() == _isolated_user_data / "Fude" / "history"
