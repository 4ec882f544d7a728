"""The work folder of one clip's render, beside its output (`OUT.parts/`), which makes the render resumable: a
manifest saying which render it holds (the clip's identity, the style pictures, the settings, the flow method) and
the finished frames as PNG files, each written atomically as it finishes. The same render goes on from the last
finished frame; another render's frames are never mixed in (one line says what differs)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import ExportError, VideoError
from engine.export import save_png, write_atomically
from engine.settings import RenderSettings, describe_changes
from engine.untrusted import load_json, open_regular_file

PARTS_SUFFIX = ".parts"
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
IDENTITY_HEAD_BYTES = 1 << 20  # a clip is known by its size and hashes of its first and last MiB
FRAME_DIGITS = 7
MAX_MANIFEST_BYTES = 1 << 20
# the settings that do not change a frame (the device and precision give the same picture, as in a batch)
_NOT_IN_IDENTITY = ("device", "precision")


def work_folder_for(output: str | os.PathLike[str]) -> Path:
    """Where the frames of the render to `output` are kept: `output` with .parts added, in the same folder."""
    p = Path(output)
    return p.with_name(p.name + PARTS_SUFFIX)


def clip_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What tells a clip apart by what it holds: its size and hashes of its first and last MiB (not its name or
    time, so that a copy of it, or the clip moved elsewhere, is the same clip). A VideoError when it is not a
    regular file that can be read."""
    with open_regular_file(path, limit=1 << 62, error=VideoError) as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(IDENTITY_HEAD_BYTES)
        handle.seek(max(0, size - IDENTITY_HEAD_BYTES))
        tail = handle.read(IDENTITY_HEAD_BYTES)
    return {"bytes": size, "head_sha256": hashlib.sha256(head).hexdigest(),
            "tail_sha256": hashlib.sha256(tail).hexdigest()}


def picture_hash(image: np.ndarray) -> str:
    """A short hash of a picture's pixels and shape (a style picture's identity)."""
    digest = hashlib.sha256(repr(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:16]


def render_identity(clip: dict[str, Any], styles: Sequence[np.ndarray], settings: RenderSettings,
                    video: dict[str, Any], flow: str, size: tuple[int, int], fps: str) -> dict[str, Any]:
    """Everything that decides a clip's frames, as stored in the manifest and compared on a re-run."""
    kept = {k: v for k, v in settings.to_dict().items() if k not in _NOT_IN_IDENTITY}
    return {"clip": clip, "styles": [picture_hash(style) for style in styles], "settings": kept, "video": video,
            "flow": flow, "size": list(size), "fps": fps}


def describe_difference(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What differs between two render identities, as a short phrase."""
    said: list[str] = []
    if before.get("clip") != after.get("clip"):
        said.append("another clip, or the clip has changed since")
    if before.get("styles") != after.get("styles"):
        said.append("other style pictures")
    if before.get("settings") != after.get("settings"):
        try:
            old = RenderSettings.from_dict(dict(before.get("settings") or {}))
            changes = describe_changes(old, RenderSettings.from_dict(dict(after.get("settings") or {})))
        except Exception:  # noqa: BLE001 - a manifest written by another version: say only that they differ
            changes = []
        said.append(", ".join(changes) if changes else "other settings")
    old_video, new_video = dict(before.get("video") or {}), dict(after.get("video") or {})
    for key in sorted(set(old_video) | set(new_video)):
        if old_video.get(key) != new_video.get(key):
            said.append(f"{key} {_shown(old_video.get(key))} → {_shown(new_video.get(key))}")
    for key, what in (("flow", "another optical flow"), ("size", "another frame size"), ("fps", "another frame rate")):
        if before.get(key) != after.get(key) and not said:
            said.append(what)
    return "; ".join(said) or "another Fude version"


def _shown(value: Any) -> str:
    return "the clip's" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Manifest:
    """What a work folder holds: the identity of its render, and once the clip was decoded to its end, how many
    frames it has and why decoding stopped early (None: the clip ended)."""

    identity: dict[str, Any]
    frames: int | None = None
    problem: str | None = None

    def to_json(self) -> bytes:
        record = {"fude_video": MANIFEST_VERSION, "identity": self.identity, "frames": self.frames,
                  "problem": self.problem}
        return json.dumps(record, indent=1, sort_keys=True).encode()


class ClipFolder:
    """The work folder of the render to `output` (beside it, unless `path` gives another): frames/0000001.png...
    (the run's own pictures, which the next frame goes on from) and, with Keep colours, shown/0000001.png... (as
    they are shown and encoded)."""

    def __init__(self, output: str | os.PathLike[str], keep_colours: bool = False,
                 path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else work_folder_for(output)
        self.keep_colours = keep_colours
        self.frames_dir = self.path / "frames"
        self.shown_dir = self.path / "shown"
        self.manifest: Manifest | None = None

    def check(self, identity: dict[str, Any]) -> Manifest | None:
        """The manifest of the render `identity` when the folder holds it, None when there is no folder yet (or no
        frames in it); a VideoError naming the folder when it holds another render (saying what differs), frames
        without a manifest, or cannot be read. Reads only."""
        if not (self.path.exists() or self.path.is_symlink()):
            return None
        if not self.path.is_dir() or self.path.is_symlink():
            raise VideoError(self.path, "is in the way of the clip's work folder (it is not a folder); move it")
        manifest_path = self.path / MANIFEST_NAME
        if manifest_path.exists():
            stored = self._read_manifest(manifest_path)
            if stored.identity != identity:
                raise VideoError(self.path, "holds the frames of another render ("
                                 + describe_difference(stored.identity, identity)
                                 + "); render with the same settings to go on, or delete the folder (or write "
                                 "to another file) to start afresh")
            return stored
        if self.frames_dir.is_dir() and any(self.frames_dir.iterdir()):
            raise VideoError(self.path, "holds frames but no manifest saying how they were made; delete the "
                             "folder (or write to another file) to start afresh")
        return None

    def open(self, identity: dict[str, Any]) -> Manifest:
        """Make the folder with a manifest for `identity`, or take up the one there when it holds this render.
        A VideoError naming the folder when it holds another render (saying what differs) or cannot be read;
        an ExportError when it cannot be made."""
        stored = self.check(identity)
        if stored is not None:
            self.manifest = stored
            return stored
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
            if self.keep_colours:
                self.shown_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise ExportError(self.path, f"cannot be made ({exc.strerror or exc})") from None
        self.manifest = Manifest(identity)
        self._write_manifest()
        return self.manifest

    def _read_manifest(self, path: Path) -> Manifest:
        try:
            with open_regular_file(path, MAX_MANIFEST_BYTES, VideoError) as handle:
                record = load_json(handle.read())
            if not isinstance(record, dict) or record.get("fude_video") != MANIFEST_VERSION:
                raise ValueError("not a manifest this Fude writes")
            frames, problem = record.get("frames"), record.get("problem")
            if not isinstance(record.get("identity"), dict) or not (frames is None or isinstance(frames, int)):
                raise ValueError("its fields are damaged")
            return Manifest(record["identity"], frames, problem if isinstance(problem, str) else None)
        except (OSError, ValueError) as exc:
            raise VideoError(self.path, f"has a manifest that cannot be read ({exc}); delete the folder to start "
                             "afresh") from None

    def _write_manifest(self) -> None:
        assert self.manifest is not None
        data = self.manifest.to_json()
        write_atomically(self.path / MANIFEST_NAME, lambda handle: handle.write(data))

    def frame_path(self, index: int) -> Path:
        return self.frames_dir / f"{index:0{FRAME_DIGITS}d}.png"

    def shown_path(self, index: int) -> Path:
        return self.shown_dir / f"{index:0{FRAME_DIGITS}d}.png"

    def _complete(self, index: int) -> bool:
        return self.frame_path(index).is_file() and (not self.keep_colours or self.shown_path(index).is_file())

    def finished(self) -> int:
        """How many frames are finished, counting from the first without a gap."""
        count = 0
        while self._complete(count + 1):
            count += 1
        return count

    def write_frame(self, index: int, image: np.ndarray, shown: np.ndarray | None = None) -> None:
        """Keep frame `index` (the run's picture, and with Keep colours the one shown); each file appears whole
        or not at all, the frame itself last, so a frame counts as finished only once both are there."""
        if self.keep_colours:
            if shown is None:
                raise ValueError("with Keep colours, a frame is kept with its picture as shown")
            save_png(self.shown_path(index), shown)
        save_png(self.frame_path(index), image)

    def read_frame(self, index: int) -> np.ndarray:
        """A finished frame's picture (H x W x 3 uint8), or a VideoError when it cannot be read."""
        path = self.frame_path(index)
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise VideoError(path, f"a finished frame cannot be read ({exc}); delete it to render it again") from None

    def finish(self, frames: int, problem: str | None) -> None:
        """The clip was decoded to its end: it has `frames` frames (`problem`: why decoding stopped early)."""
        assert self.manifest is not None
        self.manifest = Manifest(self.manifest.identity, frames, problem)
        self._write_manifest()

    def encoded_frames(self, count: int) -> list[Path]:
        """The files of frames 1..count as they are encoded (shown, with Keep colours)."""
        path = self.shown_path if self.keep_colours else self.frame_path
        return [path(index) for index in range(1, count + 1)]

    def remove(self) -> None:
        """Delete the work folder (after the clip is written, when asked to)."""
        shutil.rmtree(self.path, ignore_errors=True)


def move_work_folder(source: Path, target: Path) -> bool:
    """Move the work folder `source` whole to `target` (e.g. from the queue's store to beside the output, where a
    later render of the same clip goes on from it): renamed on one disk, else copied to a temporary folder beside
    `target`, renamed into place and only then removed from `source`. Never over anything at `target`; False (and
    `source` as it was) when it cannot be moved."""
    if not source.is_dir() or source.is_symlink() or target.exists() or target.is_symlink():
        return False
    try:
        os.rename(source, target)
        return True
    except OSError:
        pass
    staging = target.with_name(f".{target.name}.moving-{os.getpid()}")
    try:
        shutil.copytree(source, staging, symlinks=True)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        return False
    shutil.rmtree(source, ignore_errors=True)
    return True
