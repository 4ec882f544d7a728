"""engine.saving.save_result, the one way a finished run becomes a file: the picture as its run presents it (Keep
colours, the content's transparency), the settings it was finished with, an atomic write; a typed name may be
replaced, a name Fude made up never replaces a file, not even one that appears while it is written."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import engine.export
from engine.driver import RenderJob, RunRecord
from engine.errors import ExportError
from engine.export import TEMP_PREFIX, read_png_render
from engine.images import load_rgba
from engine.saving import save_result
from engine.settings import RenderSettings


def _record(alpha: bool = False, lam: float = 0.05) -> RunRecord:
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    cut = np.full((12, 16), 255, np.uint8)
    cut[:, :4] = 0
    job = RenderJob(content, (content,), RenderSettings(size=32, iterations=3, lam=lam), "cat.png", ("wave.png",),
                    content_alpha=cut if alpha else None)
    return RunRecord(job, max_frames=0)


def _picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (12, 16, 3), dtype=np.uint8)


def test_it_stores_the_settings_the_picture_was_finished_with_and_presents_it(tmp_path):
    record = _record(alpha=True)
    record.set_lam(0.3)  # moved mid-run: the picture was finished with 0.3
    image = _picture(1)
    path = save_result(tmp_path / "out.png", record, image, keep_colours=True, replace=True)
    assert path == tmp_path / "out.png"
    stored = read_png_render(path)
    assert stored is not None
    assert stored.settings == record.final_settings.replaced(keep_colours=True)
    assert stored.settings.lam == 0.3 and stored.settings.keep_colours
    assert (stored.content_name, stored.style_names) == ("cat.png", ("wave.png",))
    saved = load_rgba(path)
    assert np.array_equal(saved, record.presented(image, keep_colours=True))  # the content's colours and alpha
    assert saved.shape == (12, 16, 4) and (saved[:, :4, 3] == 0).all()


def test_a_typed_name_is_replaced_keeping_its_permissions(tmp_path):
    target = tmp_path / "mine.png"
    target.write_bytes(b"an older picture")
    target.chmod(0o640)
    written = save_result(target, _record(), _picture(2), keep_colours=False, replace=True)
    assert written == target and read_png_render(target) is not None
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png"]  # no temporary file left behind


def test_a_made_up_name_never_replaces_a_file(tmp_path):
    target = tmp_path / "cat_in_wave.png"
    target.write_bytes(b"keep me")
    (tmp_path / "cat_in_wave 2.png").mkdir()  # a folder takes a name too
    first = save_result(target, _record(), _picture(3), keep_colours=False, replace=False)
    second = save_result(target, _record(), _picture(4), keep_colours=False, replace=False)
    assert (first.name, second.name) == ("cat_in_wave 3.png", "cat_in_wave 4.png")
    assert target.read_bytes() == b"keep me"
    assert np.array_equal(load_rgba(first), _picture(3)) and np.array_equal(load_rgba(second), _picture(4))
    free = save_result(tmp_path / "other.png", _record(), _picture(5), keep_colours=False, replace=False)
    assert free == tmp_path / "other.png"  # a free name is used as it is
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_a_file_that_appears_while_it_is_written_is_not_replaced(tmp_path, monkeypatch):
    """Between finding a name free and publishing the file, another program writes a file of that name: it is
    kept, and the picture goes to the next free name."""
    target = tmp_path / "cat_in_wave.png"
    real_link = os.link

    def link_after_another_writer(src, dst, *args, **kwargs):
        if Path(dst) == target and not target.exists():
            target.write_bytes(b"written by someone else meanwhile")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", link_after_another_writer)
    written = save_result(target, _record(), _picture(6), keep_colours=False, replace=False)
    assert written == tmp_path / "cat_in_wave 2.png"
    assert target.read_bytes() == b"written by someone else meanwhile"
    assert np.array_equal(load_rgba(written), _picture(6))


def test_many_writers_of_one_made_up_name_each_get_their_own_file(tmp_path):
    target = tmp_path / "cat_in_wave.png"
    written: dict[int, Path] = {}
    barrier = threading.Barrier(8)

    def save(k: int) -> None:
        barrier.wait()
        written[k] = save_result(target, _record(), _picture(10 + k), keep_colours=False, replace=False)

    threads = [threading.Thread(target=save, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(written.values())) == 8  # no two writers published to one name
    for k, path in written.items():
        assert np.array_equal(load_rgba(path), _picture(10 + k))  # each file is its writer's picture, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cat_in_wave.png"]
                                                                + [f"cat_in_wave {n}.png" for n in range(2, 9)])


def test_without_hard_links_the_name_is_reserved_exclusively(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # as on FAT or some network shares
    target = tmp_path / "cat_in_wave.png"
    target.write_bytes(b"keep me")
    written = save_result(target, _record(), _picture(7), keep_colours=False, replace=False)
    assert written == tmp_path / "cat_in_wave 2.png" and target.read_bytes() == b"keep me"
    assert np.array_equal(load_rgba(written), _picture(7))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat_in_wave 2.png", "cat_in_wave.png"]


def test_a_file_that_cannot_be_written_is_an_error_naming_it(tmp_path, monkeypatch):
    missing = tmp_path / "no such folder" / "out.png"
    for replace in (True, False):
        with pytest.raises(ExportError, match="does not exist") as caught:
            save_result(missing, _record(), _picture(8), keep_colours=False, replace=replace)
        assert str(missing) in str(caught.value)
    monkeypatch.setattr(engine.export, "MAX_NAME_NUMBER", 3)
    target = tmp_path / "full.png"
    for name in ("full.png", "full 2.png", "full 3.png"):
        (tmp_path / name).write_bytes(b"taken")
    with pytest.raises(ExportError, match="taken") as caught:
        save_result(target, _record(), _picture(9), keep_colours=False, replace=False)
    assert str(target) in str(caught.value)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]  # the temporary file is gone
    assert all((tmp_path / name).read_bytes() == b"taken" for name in ("full.png", "full 2.png", "full 3.png"))
