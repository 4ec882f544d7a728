"""The queue kept on disk (engine/queue_store.py): waiting jobs come back with their pictures, names, settings and
order; what is found there is read as hostile input: a damaged job folder is moved aside whole (never deleted),
settings go through the PNG settings' checks, names are cleaned, a file a record names is never a path, a
symlink is never followed, another (newer) Fude's queue is left exactly as it is, and a job another running Fude
keeps is not offered. A video job is kept whole (its own copy of the clip, its frames, the video's name only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from engine.errors import FudeError
from engine.queue_store import CONTENT, ORDER, OWNER, RECORD_KEY, ClipToKeep, QueueStore
from engine.regions import Regions
from engine.settings import PNG_SETTINGS_KEY, RenderSettings
from engine.video_settings import VideoSettings
from tests.pictures import gradient


@pytest.fixture
def store(tmp_path: Path) -> QueueStore:
    return QueueStore(tmp_path / "data" / "queue", kept=tmp_path / "data" / "recovery-kept")


def _add(store: QueueStore, lam: float = 0.1, styles: int = 1, **settings: object) -> str:
    return store.add(gradient(40, 30), "cat.png", [gradient(20 + n, 20) for n in range(styles)],
                     [f"wave {n}.jpg" for n in range(styles)], RenderSettings(lam=lam, size=96, **settings))


def _rewrite_text(path: Path, change) -> None:
    """Write the PNG at `path` again with its text chunks changed by `change(dict) -> dict`."""
    with Image.open(path) as image:
        image.load()
        text = dict(image.text)
        pixels = image.copy()
    info = PngImagePlugin.PngInfo()
    for key, value in change(text).items():
        info.add_itxt(key, value)
    pixels.save(path, pnginfo=info)


def _everything(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_jobs_come_back_in_their_order_with_everything(store):
    alpha = np.full((30, 40), 255, np.uint8)
    alpha[:10] = 0
    regions = Regions.everywhere(2, 40, 30)
    first = store.add(gradient(40, 30), "cat.png", [gradient(20, 20), gradient(24, 18)], ["wave.jpg", "ink.png"],
                      RenderSettings(lam=0.3, size=96, iterations=12, style_weights=(0.25, 0.75), keep_colours=True,
                                     regions=regions), content_alpha=alpha)
    second = _add(store, 0.2)
    third = _add(store, 0.4)
    store.set_order([third, first, second])
    found = QueueStore(store.root, kept=store.kept).load()  # the next start
    assert [job.key for job in found.jobs] == [third, first, second]
    assert found.problems == () and found.moved_aside == ()
    job = found.jobs[1]
    assert job.content_name == "cat.png" and job.style_names == ("wave.jpg", "ink.png")
    assert np.array_equal(job.content, gradient(40, 30)) and np.array_equal(job.content_alpha, alpha)
    assert [s.shape for s in job.styles] == [(20, 20, 3), (18, 24, 3)]
    assert np.array_equal(job.styles[1], gradient(24, 18))
    assert job.settings == RenderSettings(lam=0.3, size=96, iterations=12, style_weights=(0.25, 0.75),
                                          keep_colours=True, regions=regions)
    assert found.jobs[0].content_alpha is None and found.jobs[0].settings.lam == 0.4


def test_removed_jobs_leave_nothing_and_unlisted_folders_follow_in_the_order_they_were_added(store):
    first, second, third = (_add(store, lam) for lam in (0.1, 0.2, 0.3))
    store.set_order([second])  # (the order file lost the others: they still come back, by age)
    store.remove(second)
    assert not (store.root / second).exists()
    assert [job.key for job in store.load().jobs] == [first, third]
    store.remove(first)
    store.remove(third)
    store.set_order([])
    assert sorted(os.listdir(store.root)) == [ORDER] and store.load().jobs == ()


def test_a_damaged_job_folder_is_moved_aside_whole_never_deleted(store):
    good, broken = _add(store, 0.1), _add(store, 0.2)
    (store.root / broken / CONTENT).write_bytes(b"\x89PNG\r\n\x1a\n and then nothing")
    before = _everything(store.root / broken)
    found = store.load()
    assert [job.key for job in found.jobs] == [good]
    assert found.moved_aside == (store.kept / f"queue-{broken}",)
    assert _everything(found.moved_aside[0]) == before  # whole, byte for byte
    assert not (store.root / broken).exists()
    assert len(found.problems) == 1 and broken in found.problems[0] and "moved aside" in found.problems[0]
    assert "\n" not in found.problems[0]
    # a second damaged folder of the same name does not go over the first one set aside
    (store.root / broken).mkdir()
    (store.root / broken / CONTENT).write_bytes(b"damaged again")
    os.utime(store.root / broken, (0, 0))
    assert store.load().moved_aside == (store.kept / f"queue-{broken}-2",)
    assert (store.kept / f"queue-{broken}" / CONTENT).read_bytes() == before[CONTENT]


@pytest.mark.parametrize("damage", [
    pytest.param(lambda text: {**text, PNG_SETTINGS_KEY: json.dumps({"lam": -5, "size": 96})}, id="lam-out-of-range"),
    pytest.param(lambda text: {**text, PNG_SETTINGS_KEY: "[" * 100_000}, id="deeply-nested-settings"),
    pytest.param(lambda text: {**text, RECORD_KEY: json.dumps({"format": 1, "added_at": 5.0,
                                                               "style_files": ["../../../etc/passwd"]})},
                 id="a-path-for-a-style"),
    pytest.param(lambda text: {**text, RECORD_KEY: json.dumps({"format": 1, "added_at": 5.0,
                                                               "style_files": ["style_2.png"]})},
                 id="a-style-file-that-is-not-there"),
    pytest.param(lambda text: {**text, RECORD_KEY: json.dumps({"format": 1, "added_at": 1e300,
                                                               "style_files": ["style.png"]})}, id="no-time"),
    pytest.param(lambda text: {k: v for k, v in text.items() if k != RECORD_KEY}, id="no-record"),
    pytest.param(lambda text: {**text, RECORD_KEY: "{not json"}, id="damaged-record"),
    pytest.param(lambda text: {**text, PNG_SETTINGS_KEY: json.dumps(
        {**json.loads(text[PNG_SETTINGS_KEY]), "regions": Regions.everywhere(3, 4, 4).to_dict()})},
        id="regions-for-other-paintings"),
])
def test_hostile_job_records_are_moved_aside_not_read(store, damage):
    key = _add(store)
    _rewrite_text(store.root / key / CONTENT, damage)
    found = store.load()
    assert found.jobs == () and found.moved_aside == (store.kept / f"queue-{key}",)
    assert len(found.problems) == 1 and "\n" not in found.problems[0]


def test_names_are_cleaned_and_a_weights_file_is_never_named(store):
    key = store.add(gradient(40, 30), "cat\x1b[31m\n.png", [gradient(20, 20)], ["wave\u202egnp.exe"],
                    RenderSettings(size=96))
    _rewrite_text(store.root / key / CONTENT, lambda text: {**text, PNG_SETTINGS_KEY: json.dumps(
        {**json.loads(text[PNG_SETTINGS_KEY]), "weights": "/home/someone/evil.pth"})})
    job = store.load().jobs[0]
    assert job.content_name == "cat [31m .png" and job.style_names == ("wavegnp.exe",)
    assert job.settings.weights == RenderSettings().weights  # a file never chooses what is opened


def test_symlinks_are_never_followed(store, tmp_path):
    key = _add(store)
    outside = tmp_path / "outside.png"
    Image.fromarray(gradient(20, 20)).save(outside)
    (store.root / key / "style.png").unlink()
    (store.root / key / "style.png").symlink_to(outside)
    linked = store.root / "20260101-000000-linked"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    found = store.load()
    assert found.jobs == () and found.moved_aside == (store.kept / f"queue-{key}",)
    assert outside.exists() and (store.kept / f"queue-{key}" / "style.png").is_symlink()
    assert linked.is_symlink() and (tmp_path / "elsewhere").is_dir()  # a linked folder is passed over
    store.remove("20260101-000000-linked")
    assert linked.is_symlink()
    store.remove("../../outside.png")  # a key is a name Fude gives, never a path
    assert outside.exists()


def test_a_damaged_order_is_moved_aside_and_the_jobs_still_come_back(store):
    first, second = _add(store, 0.1), _add(store, 0.2)
    (store.root / ORDER).write_text('{"format": 1, "jobs": "../../elsewhere"}')
    found = store.load()
    assert [job.key for job in found.jobs] == [first, second]
    assert found.moved_aside == (store.kept / f"queue-{ORDER}",)
    assert (store.kept / f"queue-{ORDER}").read_text() == '{"format": 1, "jobs": "../../elsewhere"}'


def test_a_newer_fude_s_queue_is_left_exactly_as_it_is(store):
    _add(store, 0.1)
    (store.root / ORDER).write_text(json.dumps({"format": 99, "jobs": [], "something": "new"}))
    before = _everything(store.root)
    found = store.load()
    assert found.jobs == () and found.moved_aside == () and "newer version of Fude" in found.problems[0]
    assert not store.writable
    store.set_order([])
    with pytest.raises(FudeError, match="another version of Fude"):
        _add(store, 0.2)
    assert _everything(store.root) == before and not store.kept.exists()


def test_a_newer_fude_s_job_is_left_where_it_is(store):
    ours, theirs = _add(store, 0.1), _add(store, 0.2)
    _rewrite_text(store.root / theirs / CONTENT, lambda text: {**text, RECORD_KEY: json.dumps({"format": 7})})
    before = _everything(store.root / theirs)
    found = store.load()
    assert [job.key for job in found.jobs] == [ours] and found.moved_aside == ()
    assert _everything(store.root / theirs) == before and "newer version" in found.problems[0]


def test_an_abandoned_add_is_removed_and_a_young_one_left(store):
    key = _add(store)
    (store.root / key / CONTENT).unlink()  # a crash before the job's last file
    assert store.load().jobs == () and (store.root / key).exists()  # perhaps an add under way: left
    os.utime(store.root / key, (0, 0))
    assert store.load().jobs == () and not (store.root / key).exists()
    stranger = _add(store)
    (store.root / stranger / CONTENT).unlink()
    (store.root / stranger / "notes.txt").write_text("someone's")
    os.utime(store.root / stranger, (0, 0))
    found = store.load()
    assert found.moved_aside == (store.kept / f"queue-{stranger}",)
    assert (store.kept / f"queue-{stranger}" / "notes.txt").read_text() == "someone's"


def test_a_job_another_running_fude_keeps_is_not_offered(store):
    key = _add(store)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import engine.processes

        started = engine.processes.process_start(sleeper.pid)
        (store.root / key / OWNER).write_text(json.dumps({"pid": sleeper.pid, "started": started}))
        assert store.load().jobs == () and (store.root / key).exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert [job.key for job in store.load().jobs] == [key]  # its keeper is gone: offered


def test_a_queue_folder_that_cannot_be_written_raises_one_clear_error(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    store = QueueStore(blocker / "queue")
    with pytest.raises(FudeError) as raised:
        _add(store)
    assert "queue" in str(raised.value) and "\n" not in str(raised.value)
    assert store.load().jobs == ()


VIDEO = VideoSettings(steadiness=2.5, start=0.5)


def _add_video(store: QueueStore, tmp_path: Path, output: str = "holiday_in_wave.mp4") -> tuple[str, Path]:
    clip = tmp_path / "holiday.MP4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    key = store.add(gradient(48, 32), "holiday.MP4", [gradient(20, 20)], ["wave.jpg"], RenderSettings(size=48),
                    clip=ClipToKeep(clip, output, VIDEO))
    return key, clip


def _rewrite_clip_record(path: Path, change) -> None:
    def rewrite(text: dict) -> dict:
        record = json.loads(text[RECORD_KEY])
        record["clip"] = change(record["clip"])
        return {**text, RECORD_KEY: json.dumps(record)}

    _rewrite_text(path, rewrite)


def test_a_video_job_is_kept_whole_and_comes_back_naming_no_path_outside_its_folder(store, tmp_path):
    key, clip = _add_video(store, tmp_path)
    kept = store.clip_of(key, clip, "holiday_in_wave.mp4", VIDEO)
    assert kept.file == store.root / key / "clip.mp4" and kept.file.read_bytes() == clip.read_bytes()
    assert kept.work_folder == store.root / key / "parts"
    (kept.work_folder / "frames").mkdir(parents=True)  # a frame the job finished before the window closed
    (kept.work_folder / "frames" / "0000001.png").write_bytes(b"frame")
    (kept.work_folder / "manifest.json").write_bytes(b"{}")
    clip.unlink()  # the user's clip may go away: the copy is the store's own
    job = store.load().jobs[0]
    assert job.clip == kept and job.clip.video == VIDEO and job.content.shape == (32, 48, 3)
    store.remove(key)
    assert not (store.root / key).exists()  # its frames and its copy of the clip went with it


def test_a_clip_is_copied_where_it_cannot_be_linked_and_refused_when_the_disk_is_too_full(store, tmp_path,
                                                                                          monkeypatch):
    def no_links(source, target):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    key, clip = _add_video(store, tmp_path)
    copy = store.root / key / "clip.mp4"
    assert copy.read_bytes() == clip.read_bytes() and os.stat(copy).st_ino != os.stat(clip).st_ino
    monkeypatch.setattr("shutil.disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    with pytest.raises(FudeError) as refused:
        _add_video(store, tmp_path)
    assert "holiday.MP4" in str(refused.value) and "cannot be kept in the queue" in str(refused.value)
    assert [job.key for job in store.load().jobs] == [key]  # nothing half-kept is offered


def test_the_video_s_name_read_back_is_a_plain_file_name(store, tmp_path):
    key, _ = _add_video(store, tmp_path)
    _rewrite_clip_record(store.root / key / CONTENT, lambda clip: {**clip, "output_name": "../../../.bashrc"})
    job = store.load().jobs[0]
    assert job.clip is not None and job.clip.output_name == "_bashrc.mp4"


@pytest.mark.parametrize("change", [
    pytest.param(lambda clip: {**clip, "file": "../../../../etc/passwd"}, id="a-path-for-the-clip"),
    pytest.param(lambda clip: {**clip, "file": "clip.mov"}, id="a-clip-that-is-not-there"),
    pytest.param(lambda clip: {**clip, "video": {"steadiness": 1e9}}, id="steadiness-out-of-range"),
    pytest.param(lambda clip: {**clip, "video": {"steadiness": 1, "work_folder": "/tmp"}}, id="unknown-setting"),
    pytest.param(lambda clip: {**clip, "where": "/home/someone/out.mp4"}, id="an-output-path"),
    pytest.param(lambda clip: "clip.mp4", id="not-a-record"),
])
def test_hostile_clip_records_are_moved_aside_not_read(store, tmp_path, change):
    key, _ = _add_video(store, tmp_path)
    _rewrite_clip_record(store.root / key / CONTENT, change)
    found = store.load()
    assert found.jobs == () and found.moved_aside == (store.kept / f"queue-{key}",)
    assert len(found.problems) == 1 and "\n" not in found.problems[0]


def test_removing_a_video_job_deletes_only_fude_s_own_files(store, tmp_path):
    key, _ = _add_video(store, tmp_path)
    parts = store.root / key / "parts"
    (parts / "frames").mkdir(parents=True)
    (parts / "frames" / "0000001.png").write_bytes(b"frame")
    (parts / "notes.txt").write_text("mine")
    store.remove(key)
    assert sorted(p.name for p in (store.root / key).rglob("*")) == ["notes.txt", "parts"]
