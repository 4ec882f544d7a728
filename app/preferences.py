"""Preferences: what the window remembers between launches (QSettings), read back through the same checks as
any other hostile input. Every key lives here; a value that is missing, damaged or out of range reads as the
default."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

from engine.errors import FudeError
from engine.export import AnimationOptions
from engine.history import DEFAULT_LIMIT_BYTES
from engine.settings import RenderSettings, settings_from_record
from engine.untrusted import load_json
from engine.video_settings import VideoSettings

KEY_GEOMETRY = "window/geometry"
KEY_FOLDER = "paths/lastFolder"
KEY_SETTINGS = "render/settings"
KEY_PRESET = "render/preset"
KEY_STEADINESS = "render/steadiness"
KEY_HISTORY_LIMIT = "history/limitMB"
KEY_EXPORT_FORMAT = "export/format"
KEY_EXPORT_FRAMES = "export/frames"
KEY_EXPORT_FRAME_MS = "export/frameMs"
KEY_EXPORT_HOLD_MS = "export/holdMs"
KEY_EXPORT_SIDE = "export/longestSide"
KEY_QUEUE_FOLDER = "queue/folder"
KEY_SET_ASIDE_SEEN = "dataFolder/setAsideSeen"
KEY_DESKTOP_ENTRY_OFFERED = "desktop/entryOffered"
MAX_SEEN_NAMES = 1000
MB = 2**20
HISTORY_LIMIT_MAX_MB = 1_000_000


class Preferences(QObject):
    """The remembered values of one window, in `store` (the user's QSettings unless one is given)."""

    folderChanged = Signal(str)  # the folder the next open or save dialog starts in

    def __init__(self, store: QSettings | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store if store is not None else QSettings()

    def sync(self) -> None:
        self.store.sync()

    # ---- the render settings ----

    def settings(self) -> RenderSettings:
        """The settings in use when the window last started a run or closed (the defaults when unreadable)."""
        raw = self.store.value(KEY_SETTINGS)
        if isinstance(raw, str) and raw:
            try:
                record = load_json(raw)
                if isinstance(record, dict):
                    return settings_from_record(record)[0]
            except (ValueError, FudeError):
                pass  # unreadable, damaged or outdated: start from the defaults
        return RenderSettings()

    def set_settings(self, settings: RenderSettings) -> None:
        """Remember `settings`, without regions: they were painted on a content picture the next window may not
        have (a result PNG keeps them with the picture)."""
        self.store.setValue(KEY_SETTINGS, json.dumps(settings.replaced(regions=None).to_dict()))

    def video(self) -> VideoSettings:
        """The video settings in use when the window last started a run or closed: the steadiness (a clip's frame
        rate and part are the clip's own). The defaults when unreadable or out of range."""
        raw = self.store.value(KEY_STEADINESS)
        try:
            return VideoSettings(steadiness=float(raw)) if isinstance(raw, (str, int, float)) else VideoSettings()
        except (ValueError, FudeError):
            return VideoSettings()

    def set_video(self, video: VideoSettings) -> None:
        """Remember `video`'s steadiness."""
        self.store.setValue(KEY_STEADINESS, repr(video.steadiness))

    # ---- the window ----

    def geometry(self) -> QByteArray | None:
        geometry = self.store.value(KEY_GEOMETRY)
        return geometry if isinstance(geometry, QByteArray) and not geometry.isEmpty() else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self.store.setValue(KEY_GEOMETRY, geometry)

    def last_folder(self) -> str:
        """The folder last opened from or saved to, while it exists; the home folder otherwise."""
        folder = str(self.store.value(KEY_FOLDER, "") or "")
        return folder if folder and os.path.isdir(folder) else str(Path.home())

    def set_last_folder(self, folder: str) -> None:
        self.store.setValue(KEY_FOLDER, folder)
        self.folderChanged.emit(folder)

    def preset_name(self) -> str:
        return str(self.store.value(KEY_PRESET, "") or "")

    def set_preset_name(self, name: str) -> None:
        self.store.setValue(KEY_PRESET, name)

    def queue_folder(self) -> str:
        """The folder the queue last wrote its pictures to, while it exists; "" otherwise."""
        folder = str(self.store.value(KEY_QUEUE_FOLDER, "") or "")
        return folder if folder and os.path.isdir(folder) else ""

    def set_queue_folder(self, folder: str) -> None:
        self.store.setValue(KEY_QUEUE_FOLDER, folder)

    # ---- the applications menu ----

    def desktop_entry_offered(self) -> bool:
        """Whether the window has offered to add Fude to the applications menu (it does so once)."""
        value = self.store.value(KEY_DESKTOP_ENTRY_OFFERED, False)
        return value is True or (isinstance(value, str) and value.lower() == "true")

    def set_desktop_entry_offered(self, offered: bool) -> None:
        self.store.setValue(KEY_DESKTOP_ENTRY_OFFERED, offered)

    # ---- what was set aside in the data folder ----

    def set_aside_seen(self) -> frozenset[str]:
        """The names in the folder of set-aside files that the window has already told the user about."""
        raw = self.store.value(KEY_SET_ASIDE_SEEN)
        try:
            names = load_json(raw) if isinstance(raw, str) and raw else []
        except ValueError:
            return frozenset()
        if not isinstance(names, list):
            return frozenset()
        return frozenset(name for name in names[:MAX_SEEN_NAMES] if isinstance(name, str))

    def set_set_aside_seen(self, names: frozenset[str] | set[str]) -> None:
        self.store.setValue(KEY_SET_ASIDE_SEEN, json.dumps(sorted(names)[:MAX_SEEN_NAMES]))

    # ---- the history ----

    def _whole(self, key: str, default: int) -> int:
        """The whole number stored under `key`; ValueError when what is there is not one."""
        value = self.store.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{key} holds {type(value).__name__}")
        return int(value)

    def history_limit_mb(self) -> int:
        default = DEFAULT_LIMIT_BYTES // MB
        try:
            limit = self._whole(KEY_HISTORY_LIMIT, default)
        except ValueError:
            return default
        return limit if 0 < limit <= HISTORY_LIMIT_MAX_MB else default

    def set_history_limit_mb(self, megabytes: int) -> None:
        self.store.setValue(KEY_HISTORY_LIMIT, megabytes)

    # ---- Save evolution ----

    def export_choices(self) -> tuple[str, AnimationOptions]:
        """The format and options last used in the Save evolution dialog (defaults when none or unreadable)."""
        try:
            fmt = str(self.store.value(KEY_EXPORT_FORMAT, "gif"))
            options = AnimationOptions(
                frame_count=self._whole(KEY_EXPORT_FRAMES, AnimationOptions.frame_count),
                frame_ms=self._whole(KEY_EXPORT_FRAME_MS, AnimationOptions.frame_ms),
                last_frame_ms=self._whole(KEY_EXPORT_HOLD_MS, AnimationOptions.last_frame_ms),
                longest_side=self._whole(KEY_EXPORT_SIDE, 0) or None)
        except (ValueError, FudeError):
            return "gif", AnimationOptions()
        return fmt, options

    def set_export_choices(self, fmt: str, options: AnimationOptions) -> None:
        for key, value in ((KEY_EXPORT_FORMAT, fmt), (KEY_EXPORT_FRAMES, options.frame_count),
                           (KEY_EXPORT_FRAME_MS, options.frame_ms), (KEY_EXPORT_HOLD_MS, options.last_frame_ms),
                           (KEY_EXPORT_SIDE, options.longest_side or 0)):
            self.store.setValue(key, value)
