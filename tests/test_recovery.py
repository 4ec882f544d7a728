"""The recovery folder: a run's picture, settings, content and style are kept at most every few seconds, each
write atomic; the latest unfinished picture is found after a crash (not one a running Fude still owns); finished
or discarded runs leave nothing behind; and a copy that cannot be written never stops a run. Plus a real kill:
the command line killed mid-run leaves a picture the next launch can restore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.processes
import engine.recovery
from engine.recovery import PICTURE, RecoveryStore
from engine.settings import RenderSettings
from tests.pictures import gradient

ROOT = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> RecoveryStore:
    return RecoveryStore(tmp_path / "recovery", interval_s=5.0, clock=clock)


def _session(store: RecoveryStore):
    return store.begin(gradient(40, 30), gradient(20, 20), "cat.png", "wave.jpg")


def test_saves_at_most_every_few_seconds_and_restores_everything(store, clock):
    session = _session(store)
    settings = RenderSettings(lam=0.3, size=96, iterations=200, seed=5)
    picture = np.full((30, 40, 3), 77, np.uint8)
    assert not session.due() and not session.save(picture, settings, 1, 200)  # a quick run writes nothing
    assert store.latest() is None and not store.root.exists()
    clock.now += 5.0
    assert session.due() and session.save(picture, settings, 10, 200)
    clock.now += 1.0
    assert not session.save(np.zeros_like(picture), settings, 11, 200)  # too soon
    found = store.latest()
    assert found is not None and found.folder == session.folder
    assert np.array_equal(found.image, picture)
    assert np.array_equal(found.content, gradient(40, 30)) and np.array_equal(found.style, gradient(20, 20))
    assert (found.content_name, found.style_name) == ("cat.png", "wave.jpg")
    assert found.settings == settings and (found.index, found.total) == (10, 200)
    assert "cat.png in the style of wave.jpg, iteration 10 of 200" in found.describe()
    clock.now += 5.0
    assert session.save(picture + 1, settings.replaced(lam=0.2), 20, 200)
    found = store.latest()
    assert found.index == 20 and found.settings.lam == 0.2 and np.array_equal(found.image, picture + 1)
    assert session.save(picture, settings, 21, 200, force=True)  # forced: at a stop or a failure


def test_a_transparent_content_comes_back_with_its_alpha(store, clock, cat):
    from engine.transparency import split_alpha
    from tests.pictures import cut_out

    content, alpha = split_alpha(cut_out(cat))
    session = store.begin(content, gradient(20, 20), "cut.png", "wave.jpg", content_alpha=alpha)
    picture = np.full((30, 40, 3), 77, np.uint8)
    assert session.save(picture, RenderSettings(), 5, 10, force=True)
    found = store.latest()
    assert found is not None and found.content_alpha is not None
    assert np.array_equal(found.content, content) and np.array_equal(found.content_alpha, alpha)  # exactly
    assert _session(store).save(picture, RenderSettings(), 1, 10, force=True)
    assert store.latest().content_alpha is None  # an opaque content has none


def test_discard_removes_the_copy_and_stops_saving(store, clock):
    session = _session(store)
    clock.now += 5
    session.save(gradient(), RenderSettings(), 3, 10)
    folder = session.folder
    assert folder.is_dir()
    session.discard()
    assert not folder.exists() and store.latest() is None
    clock.now += 5
    assert not session.save(gradient(), RenderSettings(), 4, 10)
    assert not folder.exists() and list(store.root.iterdir()) == []


def test_a_failed_write_keeps_the_previous_copy_and_does_not_raise(store, clock, monkeypatch):
    session = _session(store)
    clock.now += 5
    assert session.save(np.full((30, 40, 3), 9, np.uint8), RenderSettings(), 3, 10)
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    clock.now += 5
    assert not session.save(np.full((30, 40, 3), 200, np.uint8), RenderSettings(), 4, 10)
    assert "disk is full" in session.last_error
    monkeypatch.setattr(os, "fsync", real_fsync)
    found = store.latest()
    assert found.index == 3 and int(found.image[0, 0, 0]) == 9  # the earlier copy, whole
    assert sorted(p.name for p in session.folder.iterdir()) == ["content.png", "picture.png", "style.png"]


def test_an_unwritable_recovery_folder_only_sets_last_error(tmp_path, clock):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    session = _session(RecoveryStore(blocker / "recovery", clock=clock))
    clock.now += 5
    assert not session.save(gradient(), RenderSettings(), 1, 2)
    assert session.last_error


def test_a_live_owner_is_not_offered_a_dead_one_is(store, clock):
    session = _session(store)
    clock.now += 5
    session.save(gradient(), RenderSettings(), 3, 10)
    with Image.open(session.folder / PICTURE) as im:
        assert f'"pid": {os.getpid()}' in im.text[engine.recovery.RECORD_KEY]
    # rewrite the record as if another process had written it
    parent = os.getppid()
    _rewrite_owner(session.folder / PICTURE, parent, engine.processes.process_start(parent))
    assert store.latest() is None  # another Fude, still running, owns it
    _rewrite_owner(session.folder / PICTURE, 2**22 + 12345, None)  # no such process: it crashed
    assert store.latest() is not None


def _rewrite_owner(path: Path, pid: int, started: str | None) -> None:
    import json

    from PIL import Image, PngImagePlugin

    with Image.open(path) as im:
        text = dict(im.text)
        pixels = np.asarray(im.convert("RGB"))
    record = json.loads(text[engine.recovery.RECORD_KEY])
    record.update(pid=pid, started=started)
    text[engine.recovery.RECORD_KEY] = json.dumps(record)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    Image.fromarray(pixels).save(path, pnginfo=info)


def test_incomplete_and_damaged_folders_are_skipped_and_old_ones_pruned(store, clock, tmp_path):
    store.root.mkdir(parents=True)
    (store.root / "half-written").mkdir()
    (store.root / "half-written" / "content.png").write_bytes(b"\x89PNG")
    (store.root / "damaged").mkdir()
    (store.root / "damaged" / PICTURE).write_bytes(b"not a png")
    assert store.latest() is None
    sessions = []
    for n in range(5):
        session = _session(store)
        clock.now += 5
        session.save(np.full((30, 40, 3), n, np.uint8), RenderSettings(), n + 1, 10)
        os.utime(session.folder / PICTURE, (time.time() + n, time.time() + n))  # saved one after the other
        sessions.append(session)
    assert store.latest().index == 5
    folders = {p.name for p in store.root.iterdir()}
    assert len([s for s in sessions if s.folder.name in folders]) == store.keep
    assert "half-written" in folders  # younger than a minute: perhaps another window's first save
    store.discard(store.latest())
    assert store.latest().index == 4


def test_adopting_a_restored_copy_makes_it_this_process_s(store, clock):
    session = _session(store)
    clock.now += 5
    session.save(gradient(), RenderSettings(), 3, 10)
    found = store.latest()
    adopted = store.adopt(found)
    assert adopted.folder == found.folder and store.latest().index == 3
    adopted.discard()
    assert store.latest() is None


def test_default_folder_is_the_user_data_directory_here_a_test_one(_isolated_user_data):
    assert RecoveryStore().root == _isolated_user_data / "Fude" / "recovery"


@pytest.mark.slow
def test_a_killed_render_leaves_a_picture_to_restore(cat_path, wave_path, tmp_path, _isolated_user_data):
    """The command line, killed with SIGKILL part-way, leaves its picture in the user's (here: the test's) data
    directory; the store finds it, with the settings and both pictures."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(_isolated_user_data)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "render", str(cat_path), str(wave_path), "-o", str(tmp_path / "o.png"),
         "--size", "64", "--iterations", "100000", "--lam", "0.2", "--device", "cpu", "-q"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = RecoveryStore(_isolated_user_data / "Fude" / "recovery")
    try:
        deadline = time.monotonic() + 300
        while not list(store.root.glob(f"*/{PICTURE}")):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no recovery copy was written"
            time.sleep(0.2)
        assert store.latest() is None  # its writer is still running: not offered
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        process.stderr.close()
    found = store.latest()
    assert found is not None and 0 < found.index < found.total == 100000
    assert found.settings.lam == 0.2 and found.settings.size == 64
    assert (found.content_name, found.style_name) == ("cat.png", "wave.png")
    assert max(found.image.shape[:2]) == 64 and found.image.std() > 5
    assert not (tmp_path / "o.png").exists()  # the picture would have been lost without the copy
