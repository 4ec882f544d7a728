"""The pictures a user asks the window to open (`fude CONTENT [PAINTING ...]`, a second `fude` handing its pictures
to the running window, a file manager's "Open with" on macOS): an OpenRequest, and the message one instance sends
another, read back as hostile input: a bounded JSON object of plain absolute paths to existing regular files,
nothing else. Needs no Qt."""

from __future__ import annotations

import json
import os
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from engine.untrusted import load_json

PROTOCOL = 1
MAX_MESSAGE_BYTES = 64 * 1024  # a message is a few paths: far below this
MAX_PATH_CHARS = 4096  # PATH_MAX on Linux
MAX_PICTURES = 16  # the panes take one content and four paintings; more is refused before any file is touched


class RequestError(ValueError):
    """A request or message that cannot be used; str() says why."""


@dataclass(frozen=True)
class OpenRequest:
    """Open `content` in the Content pane and `styles` in the Style pane (absolute paths); empty: only show the
    window."""

    content: str | None = None
    styles: tuple[str, ...] = ()

    @classmethod
    def of_pictures(cls, pictures: Sequence[str], styles: Sequence[str] = ()) -> OpenRequest:
        """What `fude PICTURE ... [--style PAINTING ...]` asks for: without --style the first picture is the
        content and the others the paintings; with it, the paintings are those given with --style and at most
        one bare picture (the content). Paths are made absolute; each must be an existing file."""
        if styles and len(pictures) > 1:
            raise RequestError("with --style, give at most one other picture (the content); the paintings are "
                               "each given with --style")
        pictures = list(pictures)
        content = pictures.pop(0) if pictures else None
        paintings = list(styles) if styles else pictures
        request = cls(None if content is None else os.path.abspath(content),
                      tuple(os.path.abspath(path) for path in paintings))
        request.check()
        return request

    @property
    def paths(self) -> tuple[str, ...]:
        return ((self.content,) if self.content is not None else ()) + self.styles

    @property
    def empty(self) -> bool:
        return not self.paths

    def check(self) -> None:
        """RequestError unless every path is a plain absolute path to an existing regular file (a symlink to one
        is followed), and there are not too many."""
        if len(self.paths) > MAX_PICTURES:
            raise RequestError(f"too many pictures ({len(self.paths)}; at most {MAX_PICTURES})")
        for path in self.paths:
            check_path(path)

    def encode(self) -> bytes:
        """The message that hands this request to another instance: one line of JSON."""
        record = {"fude": PROTOCOL, "content": self.content, "styles": list(self.styles)}
        return json.dumps(record, ensure_ascii=True).encode("ascii") + b"\n"

    @classmethod
    def decode(cls, message: bytes) -> OpenRequest:
        """The request in a message from another instance; RequestError unless it is exactly what `encode`
        writes, of a size and with paths that `check` accepts."""
        if len(message) > MAX_MESSAGE_BYTES:
            raise RequestError(f"the message is too long (more than {MAX_MESSAGE_BYTES} bytes)")
        try:
            record = load_json(message.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise RequestError("the message is not JSON") from None
        if not isinstance(record, dict) or set(record) != {"fude", "content", "styles"}:
            raise RequestError("the message is not a request to open pictures")
        if record["fude"] != PROTOCOL or isinstance(record["fude"], bool):
            raise RequestError(f"the message is of another version of Fude ({record['fude']!r:.20})")
        content, styles = record["content"], record["styles"]
        if not (content is None or isinstance(content, str)):
            raise RequestError("the content picture is not a path")
        if not isinstance(styles, list) or len(styles) > MAX_PICTURES or not all(isinstance(s, str) for s in styles):
            raise RequestError("the paintings are not a list of paths")
        request = cls(content, tuple(styles))
        request.check()
        return request


def check_path(path: str) -> None:
    """RequestError unless `path` is a plain absolute path (no control characters, not too long) to an existing
    regular file."""
    if not path or len(path) > MAX_PATH_CHARS:
        raise RequestError("a path is empty or too long")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in path):
        raise RequestError("a path holds control characters")
    if not os.path.isabs(path):
        raise RequestError("a path is not absolute")
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        raise RequestError(f"{path}: no such file") from None
    if not stat.S_ISREG(status.st_mode):
        raise RequestError(f"{path}: is not a file")
