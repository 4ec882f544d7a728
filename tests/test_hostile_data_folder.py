"""A data folder in any state another Fude, a crash or a person left it in: recovery pruning deletes only run
folders it read in full or abandoned first saves, and moves everything else aside whole; JSON nested too deeply
is damage like any other (the window still starts); nothing is deleted or written through a symlink; and on
Windows a running window's recovery folder is told from a crashed one's."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import engine.processes
import engine.recovery
from engine.history import INDEX_NAME, HistoryStore
from engine.presets import PresetStore
from engine.recovery import CONTENT, PICTURE, RECORD_KEY, STYLE, RecoveryStore
from engine.settings import PNG_SETTINGS_KEY, RenderSettings, png_text_chunks
from tests.pictures import gradient
from tests.test_recovery import Clock

DEEP = ["[" * 100_000, '{"a":' * 100_000]
OLD = time.time() - 3600  # well past every grace period


@pytest.fixture
def store(tmp_path: Path) -> RecoveryStore:
    return RecoveryStore(tmp_path / "recovery", interval_s=5.0, clock=Clock())


def _saved_folder(store: RecoveryStore, index: int = 3) -> Path:
    """A complete recovery folder, written by this process as a run would."""
    session = store.begin(gradient(40, 30), gradient(20, 20), "cat.png", "wave.jpg")
    assert session.save(np.full((30, 40, 3), index, np.uint8), RenderSettings(), index, 10, force=True)
    return session.folder


def _rewrite_text(path: Path, change: Callable[[dict[str, str]], None]) -> None:
    """Write `path`'s PNG again with its text chunks changed by `change` (as another Fude might have)."""
    with Image.open(path) as im:
        text = dict(im.text)
        pixels = np.asarray(im.convert("RGB"))
    change(text)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    Image.fromarray(pixels).save(path, pnginfo=info)


def _age(folder: Path, when: float = OLD) -> None:
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (when, when), follow_symlinks=False)


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _newer_optimiser(text: dict[str, str]) -> None:
    settings = json.loads(text[PNG_SETTINGS_KEY])
    settings["optimizer"] = "sgd-v9"
    text[PNG_SETTINGS_KEY] = json.dumps(settings)


def _index_as_text(text: dict[str, str]) -> None:
    record = json.loads(text[RECORD_KEY])
    record["index"] = "ten"
    text[RECORD_KEY] = json.dumps(record)


def _record_from_later(text: dict[str, str]) -> None:
    text[RECORD_KEY] = json.dumps({"format": 2, "runs": [{"pid": 1}]})


DAMAGES = {"settings from a newer Fude": _newer_optimiser, "a record field of another type": _index_as_text,
           "a record of another format": _record_from_later}


# ---- 1. pruning never deletes what it could not read --------------------------------------------------------


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_picture_fude_cannot_read_in_full_is_moved_aside_whole_never_deleted(store, damage):
    folder = _saved_folder(store)
    _rewrite_text(folder / PICTURE, damage)
    before = _contents(folder)
    assert store.latest() is None

    store.prune(keep=0)  # young: perhaps another Fude's save under way, so it stays where it is
    assert _contents(folder) == before

    _age(folder)
    store.prune(keep=0)
    assert not folder.exists()
    kept = store.kept / folder.name
    assert _contents(kept) == before  # every file, byte for byte
    assert store.kept.parent == store.root.parent and store.kept != store.root

    store.prune(keep=0)  # not listed as a run folder again, so never pruned later
    store.discard(kept)
    assert store.latest() is None and _contents(kept) == before


def test_a_damaged_picture_is_moved_aside_and_a_name_taken_there_is_not_overwritten(store):
    first = _saved_folder(store)
    (first / PICTURE).write_bytes(b"\x89PNG\r\n\x1a\n and then nothing a PNG has")
    store.kept.mkdir()
    (store.kept / first.name).mkdir()
    (store.kept / first.name / "earlier.txt").write_text("moved aside before")
    before = _contents(first)
    _age(first)
    store.prune(keep=0)
    assert not first.exists()
    assert (store.kept / first.name / "earlier.txt").read_text() == "moved aside before"
    assert _contents(store.kept / f"{first.name}-2") == before


def test_an_abandoned_first_save_is_removed_once_past_the_grace(store):
    store.root.mkdir(parents=True)
    folder = store.root / "20240101-120000-abcd1234"
    folder.mkdir()
    (folder / CONTENT).write_bytes(b"\x89PNG half")
    (folder / ".style.png.k2j4h5_x.part").write_bytes(b"cut short")
    store.prune(keep=0)
    assert folder.exists()  # a first save may be under way
    _age(folder)
    store.prune(keep=0)
    assert not folder.exists() and not store.kept.exists()


def test_a_folder_with_a_file_fude_does_not_know_is_kept(store):
    complete = _saved_folder(store)
    (complete / "notes.txt").write_text("a newer Fude's, or the user's")
    picture_less = store.root / "20240101-120000-zzzz9999"
    picture_less.mkdir()
    (picture_less / CONTENT).write_bytes(b"content")
    (picture_less / "thumbs.db").write_bytes(b"someone else's")
    expected = {complete.name: _contents(complete), picture_less.name: _contents(picture_less)}
    for folder in (complete, picture_less):
        _age(folder)
    store.prune(keep=0)
    assert not complete.exists() and not picture_less.exists()
    assert {name: _contents(store.kept / name) for name in expected} == expected


def test_a_folder_fude_reads_in_full_is_still_pruned_to_keep(store):
    folders = [_saved_folder(store, index) for index in (1, 2)]
    for n, folder in enumerate(folders):
        os.utime(folder / PICTURE, (OLD + n, OLD + n))
    store.prune(keep=1)
    assert not folders[0].exists() and folders[1].exists() and not store.kept.exists()


# ---- 2. JSON nested too deeply is damage, never an exception ---------------------------------------------------


@pytest.mark.parametrize("deep", DEEP, ids=["array", "object"])
@pytest.mark.parametrize("chunk", [RECORD_KEY, PNG_SETTINGS_KEY])
def test_a_deeply_nested_recovery_chunk_is_damage(store, deep, chunk):
    good = _saved_folder(store, index=4)
    os.utime(good / PICTURE, (OLD, OLD))
    bad = _saved_folder(store, index=5)

    def nest(text: dict[str, str]) -> None:
        text[chunk] = deep

    _rewrite_text(bad / PICTURE, nest)
    found = store.latest()
    assert found is not None and found.folder == good  # the damaged one is passed over, the window starts
    _age(bad)
    store.prune(keep=1)
    assert good.exists() and (store.kept / bad.name / PICTURE).is_file()


@pytest.mark.parametrize("deep", DEEP, ids=["array", "object"])
def test_a_deeply_nested_history_index_is_rebuilt(tmp_path, deep):
    history = HistoryStore(tmp_path)
    entry = history.add(gradient(), png_text_chunks(RenderSettings(), "cat.png", "wave.png"), finished=True)
    (tmp_path / INDEX_NAME).write_text(deep)
    assert HistoryStore(tmp_path).entries() == [entry]
    assert json.loads((tmp_path / INDEX_NAME).read_text())["entries"].keys() == {entry.key}


@pytest.mark.parametrize("deep", DEEP, ids=["array", "object"])
@pytest.mark.parametrize("chunk", ["fude:history", PNG_SETTINGS_KEY])
def test_a_deeply_nested_history_record_is_passed_over(tmp_path, deep, chunk):
    history = HistoryStore(tmp_path)
    good = history.add(gradient(), png_text_chunks(RenderSettings(), "cat.png", "wave.png"), finished=True)
    bad = history.add(gradient(20, 10), png_text_chunks(RenderSettings(), "cat.png", "wave.png"), finished=True)

    def nest(text: dict[str, str]) -> None:
        text[chunk] = deep

    _rewrite_text(bad.png, nest)
    entries = HistoryStore(tmp_path).entries()
    if chunk == PNG_SETTINGS_KEY:  # the picture is still shown, without its settings
        assert [(e.key, e.stored) for e in entries] == [(bad.key, None), (good.key, good.stored)]
    else:
        assert entries == [good]


def test_a_history_picture_from_no_time_a_window_can_show_is_passed_over(tmp_path):
    history = HistoryStore(tmp_path)
    good = history.add(gradient(), png_text_chunks(RenderSettings(), "cat.png", "wave.png"), finished=True)
    bad = history.add(gradient(20, 10), {}, finished=True)

    def far_future(text: dict[str, str]) -> None:
        text["fude:history"] = json.dumps({"format": 1, "created": 1e300, "finished": True})

    _rewrite_text(bad.png, far_future)
    (tmp_path / INDEX_NAME).unlink()
    assert HistoryStore(tmp_path).entries() == [good]


@pytest.mark.parametrize("deep", DEEP, ids=["array", "object"])
def test_a_deeply_nested_presets_file_is_a_problem_not_a_crash(tmp_path, deep):
    (tmp_path / "presets.json").write_text(deep)
    presets = PresetStore(tmp_path / "presets.json")
    assert presets.problem and "damaged" in presets.problem
    assert presets.user_presets() == []


@pytest.mark.parametrize("record", [
    {"pid": 2**70}, {"pid": -1}, {"pid": 0}, {"saved_at": 1e300}, {"saved_at": float("nan")}, {"total": 2**64},
], ids=["huge pid", "process group", "pid 0", "far future", "nan", "huge total"])
def test_a_record_with_numbers_fude_never_writes_is_damage(store, record):
    folder = _saved_folder(store)

    def change(text: dict[str, str]) -> None:
        text[RECORD_KEY] = json.dumps({**json.loads(text[RECORD_KEY]), **record})

    _rewrite_text(folder / PICTURE, change)
    assert store.latest() is None  # never offered, and describe() is never asked to show such a time
    _age(folder)
    store.prune(keep=0)
    assert (store.kept / folder.name / PICTURE).is_file()


# ---- 3. nothing is deleted, or written, through a symlink ------------------------------------------------------

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks here")


def _symlink(target: Path, link: Path) -> None:
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except (OSError, NotImplementedError) as exc:  # Windows without the privilege
        pytest.skip(f"cannot make a symlink here: {exc}")


@needs_symlinks
def test_a_symlinked_thumbnails_folder_is_never_cleaned_or_written(tmp_path):
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    for name in ("holiday.jpg", "20200101-000000-000000.jpg", "20200101-000000-000001-2.jpg"):
        (elsewhere / name).write_bytes(b"someone's photo")
        os.utime(elsewhere / name, (OLD, OLD))
    before = _contents(elsewhere)
    history_folder = tmp_path / "history"
    history_folder.mkdir()
    _symlink(elsewhere, history_folder / "thumbnails")

    history = HistoryStore(history_folder)
    first = history.add(gradient(), {}, finished=True)
    second = history.add(gradient(30, 20), {}, finished=False)
    (history_folder / INDEX_NAME).unlink()  # rebuilding the index is when orphan thumbnails are cleaned
    assert HistoryStore(history_folder).entries() == [second, first]
    assert history.thumbnail(first).shape == (30, 40, 3)  # made from the picture, kept in memory only
    history.remove(first)
    history.set_limit(0)
    assert _contents(elsewhere) == before


@needs_symlinks
def test_a_symlinked_history_picture_is_no_entry_and_never_deleted(tmp_path):
    outside = HistoryStore(tmp_path / "outside")
    theirs = outside.add(gradient(), {}, finished=True)
    before = theirs.png.read_bytes()
    history_folder = tmp_path / "history"
    history_folder.mkdir()
    _symlink(theirs.png, history_folder / theirs.png.name)
    history = HistoryStore(history_folder)
    assert history.entries() == []
    history.add(gradient(30, 20), {}, finished=True)
    history.set_limit(0)
    history.remove(theirs)
    assert theirs.png.read_bytes() == before and outside.entries() == [theirs]


@needs_symlinks
def test_a_symlinked_recovery_folder_is_never_read_pruned_or_discarded(tmp_path, store):
    outside = _saved_folder(RecoveryStore(tmp_path / "elsewhere", clock=Clock()))
    before = _contents(outside)
    store.root.mkdir(parents=True)
    link = store.root / outside.name
    _symlink(outside, link)
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    assert store.latest() is None
    store.prune(keep=0)
    store.discard(link)
    assert _contents(outside) == before and link.is_symlink()


@needs_symlinks
def test_a_symlinked_file_in_a_run_folder_is_never_followed(tmp_path, store):
    folder = _saved_folder(store)
    precious = tmp_path / "precious.png"
    precious.write_bytes((folder / CONTENT).read_bytes())
    (folder / CONTENT).unlink()
    _symlink(precious, folder / CONTENT)
    _age(folder)
    assert store.latest() is None  # a content picture this run did not write is not restored
    store.discard(folder)  # Fude's own files go; the link is not Fude's, so it and its folder stay
    assert precious.is_file() and not (folder / PICTURE).exists() and not (folder / STYLE).exists()
    _age(folder)
    store.prune(keep=0)
    assert precious.is_file() and (store.kept / folder.name / CONTENT).is_symlink()


# ---- 4. is the process that wrote a folder still running (Windows too) -----------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)  # reaped: its pid is free
    return child.pid


def test_alive_tells_this_process_from_a_dead_one_and_from_a_later_one_with_its_pid():
    me, started = os.getpid(), engine.processes.process_start(os.getpid())
    assert engine.processes.alive(me, started)
    assert not engine.processes.alive(_dead_pid(), None)
    if started is not None:  # where the start can be read, a reused pid is told apart
        assert not engine.processes.alive(me, str(int(started) + 1))


class FakeKernel32:
    """kernel32's four process calls, over a table pid -> (exit code, creation FILETIME); pids in `denied` are
    someone else's processes."""

    def __init__(self, processes: dict[int, tuple[int, int]], denied: frozenset[int] = frozenset()) -> None:
        self.processes = processes
        self.denied = denied
        self.error = 0
        self.open_handles: set[int] = set()

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:  # noqa: N802 - the Windows name
        assert access == engine.processes.PROCESS_QUERY_LIMITED_INFORMATION and not inherit
        if pid in self.denied or pid not in self.processes:
            self.error = engine.processes.ERROR_ACCESS_DENIED if pid in self.denied else 87  # invalid parameter
            return 0
        handle = 1000 + pid
        self.open_handles.add(handle)
        return handle

    def GetExitCodeProcess(self, handle: int, code: ctypes._Pointer) -> int:  # noqa: N802
        code.contents.value = self.processes[handle - 1000][0]
        return 1

    def GetProcessTimes(self, handle: int, created, exited, kernel, user) -> int:  # noqa: N802
        when = self.processes[handle - 1000][1]
        created.contents.dwLowDateTime, created.contents.dwHighDateTime = when & 0xFFFFFFFF, when >> 32
        return 1

    def CloseHandle(self, handle: int) -> int:  # noqa: N802
        self.open_handles.remove(handle)
        return 1


def test_windows_alive_asks_kernel32_and_compares_the_creation_time():
    start = 133_000_000_000_000_123  # a FILETIME: more than 32 bits
    kernel32 = FakeKernel32({10: (engine.processes.STILL_ACTIVE, start), 11: (0, start)}, denied=frozenset({12}))

    def alive(pid: int, started: str | None) -> bool:
        return engine.processes.windows_alive(pid, started, kernel32, lambda: kernel32.error)

    assert engine.processes.windows_process_start(10, kernel32) == str(start)
    assert alive(10, str(start)) and alive(10, None)
    assert not alive(10, str(start + 1))  # a later process that got the pid
    assert not alive(11, str(start))  # exited
    assert not alive(13, None)  # no such process
    assert alive(12, None)  # someone else's: it exists
    assert kernel32.open_handles == set()


def test_on_windows_the_record_and_the_check_use_kernel32(store, monkeypatch):
    me = os.getpid()
    kernel32 = FakeKernel32({me: (engine.processes.STILL_ACTIVE, 42), 77: (engine.processes.STILL_ACTIVE, 43)})
    monkeypatch.setattr(engine.processes, "WINDOWS", True)
    monkeypatch.setattr(engine.processes, "windows_api", lambda: (kernel32, lambda: kernel32.error))
    assert engine.processes.process_start(me) == "42"
    assert engine.processes.alive(77, "43") and not engine.processes.alive(77, "42")
    folder = _saved_folder(store)
    with Image.open(folder / PICTURE) as im:
        assert json.loads(im.text[RECORD_KEY])["started"] == "42"

    def other_window(text: dict[str, str]) -> None:
        text[RECORD_KEY] = json.dumps({**json.loads(text[RECORD_KEY]), "pid": 77, "started": "43"})

    _rewrite_text(folder / PICTURE, other_window)
    assert store.latest() is None  # another window, still running, owns it
    store.prune(keep=0)
    assert folder.exists()
    kernel32.processes[77] = (1, 43)  # it crashed
    assert store.latest() is not None
