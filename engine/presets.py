"""Presets: named starting points for the knobs that shape a picture most (lam, style scale, smoothing), the
built-in ones and the user's own, kept in a small JSON file that is written atomically and, when damaged, moved
aside rather than overwritten."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ExportError, SettingsError
from engine.export import write_atomically
from engine.settings import RenderSettings
from engine.untrusted import MAX_RECORD_FILE_BYTES, load_json, read_file_bytes

FILE_NAME = "presets.json"
FORMAT_KEY = "fude_presets"
FORMAT_VERSION = 1
MAX_NAME_LENGTH = 60


@dataclass(frozen=True)
class Preset:
    """A named set of lam, style scale and total-variation weight; `apply` puts them into settings."""

    name: str
    description: str
    lam: float
    style_scale: float
    tv_weight: float
    builtin: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SettingsError("preset", "a preset needs a name")
        name = " ".join(self.name.split())
        if len(name) > MAX_NAME_LENGTH:
            raise SettingsError(f"preset {name[:MAX_NAME_LENGTH]}...",
                                f"the name is longer than {MAX_NAME_LENGTH} characters")
        object.__setattr__(self, "name", name)
        if not isinstance(self.description, str):
            raise SettingsError(f"preset {name}", f"the description must be text, not {self.description!r}")
        try:
            RenderSettings(lam=self.lam, style_scale=self.style_scale, tv_weight=self.tv_weight)
        except SettingsError as exc:
            raise SettingsError(f"preset {name}", exc.reason) from None

    def apply(self, settings: RenderSettings) -> RenderSettings:
        """`settings` with this preset's lam, style scale and smoothing; everything else kept."""
        return settings.replaced(lam=self.lam, style_scale=self.style_scale, tv_weight=self.tv_weight)

    @classmethod
    def from_settings(cls, name: str, settings: RenderSettings, description: str = "") -> Preset:
        """A user preset holding the knobs of `settings`."""
        return cls(name=name, description=description, lam=settings.lam, style_scale=settings.style_scale,
                   tv_weight=settings.tv_weight)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "lam": self.lam,
                "style_scale": self.style_scale, "tv_weight": self.tv_weight}


_DEFAULTS = RenderSettings()

# Checked by eye on the cat and the Great Wave at 256 px (tests/data): "Ink sketch" keeps the cat's fur, eyes
# and colours whole and draws fine lines of the wave's blue into them (at lam 0.5 those lines all but vanished:
# a photo with a faint wash, so 0.2); "Balanced" is the cat clearly painted in the wave; "Full painting" fills the
# picture with large wave curls and leaves only the cat's eyes and outline.
BUILTIN_PRESETS: tuple[Preset, ...] = (
    Preset("Ink sketch", "Mostly the content, drawn over with the painting's thin strokes.",
           lam=0.2, style_scale=0.5, tv_weight=1.0, builtin=True),
    Preset("Balanced", "The content clearly recognisable, painted in the style (the defaults).",
           lam=_DEFAULTS.lam, style_scale=_DEFAULTS.style_scale, tv_weight=_DEFAULTS.tv_weight, builtin=True),
    Preset("Full painting", "Mostly the painting, with large strokes; only the content's strongest shapes show.",
           lam=0.005, style_scale=1.6, tv_weight=1.0, builtin=True),
)


def default_path() -> Path:
    """Where the user's presets live: the user's data directory for Fude (platformdirs), then presets.json."""
    import platformdirs

    return Path(platformdirs.user_data_dir("Fude", appauthor=False)) / FILE_NAME


def _builtin(name: str) -> Preset | None:
    key = " ".join(name.split()).casefold()
    return next((p for p in BUILTIN_PRESETS if p.name.casefold() == key), None)


class PresetStore:
    """The built-in presets and the user's own, kept in `path`. A file that cannot be read or understood sets
    `problem` (one line for the user) and counts as holding no presets (or only its usable ones); the first
    save then moves it aside to presets.json.damaged rather than overwrite it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.problem: str | None = None
        self._user: list[Preset] = []
        self._damaged = False
        self.reload()

    def reload(self) -> None:
        """Read the file again (another window may have changed it)."""
        self._user, self.problem = self._read()
        self._damaged = self.problem is not None

    def _read(self) -> tuple[list[Preset], str | None]:
        if not os.path.lexists(self.path):
            return [], None
        try:
            # only a regular file, read without blocking and up to a cap: a FIFO or /dev/zero here must not hang
            raw = read_file_bytes(self.path, MAX_RECORD_FILE_BYTES, SettingsError).decode("utf-8")
        except SettingsError as exc:
            return [], f"{self.path}: the presets cannot be read ({exc.reason}); they are left out"
        except UnicodeDecodeError as exc:
            return [], f"{self.path}: the presets cannot be read ({exc}); they are left out"
        try:
            record = load_json(raw)
            if not isinstance(record, dict) or not isinstance(record.get("presets"), list):
                raise ValueError("not a Fude presets file")
        except ValueError as exc:
            return [], f"{self.path}: the presets file is damaged ({exc}); no saved presets are shown"
        presets: list[Preset] = []
        bad = 0
        for entry in record["presets"]:
            try:
                preset = Preset(name=entry["name"], description=entry.get("description", ""), lam=entry["lam"],
                                style_scale=entry["style_scale"], tv_weight=entry["tv_weight"])
            except (TypeError, KeyError, AttributeError, SettingsError):
                bad += 1
                continue
            if _builtin(preset.name) or any(p.name.casefold() == preset.name.casefold() for p in presets):
                bad += 1
                continue
            presets.append(preset)
        if bad:
            return presets, (f"{self.path}: {bad} saved preset{'s are' if bad > 1 else ' is'} damaged and left out")
        return presets, None

    def user_presets(self) -> list[Preset]:
        return list(self._user)

    def all(self) -> list[Preset]:
        """The built-in presets, then the user's."""
        return [*BUILTIN_PRESETS, *self._user]

    def find(self, name: str) -> Preset | None:
        """The preset called `name` (case and extra spaces do not matter), or None."""
        key = " ".join(name.split()).casefold()
        return next((p for p in self.all() if p.name.casefold() == key), None)

    def save(self, preset: Preset) -> None:
        """Add `preset` to the user's presets, replacing one of the same name; a built-in's name is refused.
        Raises SettingsError (a built-in's name) or ExportError (the file cannot be written)."""
        if preset.builtin or _builtin(preset.name):
            raise SettingsError(f"preset {preset.name}", "is the name of a built-in preset; choose another name")
        self._refresh()
        key = preset.name.casefold()
        kept = [p for p in self._user if p.name.casefold() != key]
        self._write([*kept, preset])

    def delete(self, name: str) -> bool:
        """Remove the user's preset called `name`; False when there is none. A built-in is refused."""
        if _builtin(name):
            raise SettingsError(f"preset {name}", "is a built-in preset and cannot be deleted")
        self._refresh()
        key = " ".join(name.split()).casefold()
        kept = [p for p in self._user if p.name.casefold() != key]
        if len(kept) == len(self._user):
            return False
        self._write(kept)
        return True

    def _refresh(self) -> None:
        """Re-read before a change, so another window's presets are kept; a damaged file stays marked."""
        damaged = self._damaged
        self.reload()
        self._damaged = self._damaged or damaged

    def _write(self, presets: list[Preset]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(self.path.parent, f"the folder cannot be made ({exc.strerror or exc})") from None
        if self._damaged and os.path.lexists(self.path):
            self._move_aside()
        data = json.dumps({FORMAT_KEY: FORMAT_VERSION, "presets": [p.to_dict() for p in presets]}, indent=2,
                          ensure_ascii=False)
        write_atomically(self.path, lambda handle: handle.write(data.encode("utf-8")))
        self._user = list(presets)
        self._damaged = False

    def _move_aside(self) -> Path:
        """Rename the damaged file to presets.json.damaged (or .damaged-2, ... when that is taken)."""
        target = self.path.with_name(self.path.name + ".damaged")
        number = 1
        while os.path.lexists(target):
            number += 1
            target = self.path.with_name(f"{self.path.name}.damaged-{number}")
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise ExportError(self.path, f"the damaged presets file cannot be moved aside to {target.name} "
                              f"({exc.strerror or exc}); it is left as it was") from None
        self.problem = f"{self.path}: the damaged presets file was moved aside to {target}"
        return target
