"""Names shown to a person (a picture's file name, a link, a name stored in a PNG or a recovery copy): one line,
no control characters, and bounded, however long or strange the name that arrived; and the one safe file name
suggested for a render's picture."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# Longer than any file name a file system allows (255 bytes), short enough for a label, a message and a tooltip.
MAX_NAME_CHARS = 200
ELLIPSIS = "…"
# Bidirectional overrides and isolates can make a name read as another ("gnp.exe" shown as "exe.png").
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_name(name: object, limit: int = MAX_NAME_CHARS) -> str:
    """`name` as one line of at most `limit` characters: control characters become spaces, runs of white space
    one space, bidirectional controls are dropped, and a longer name keeps its start and end around an ellipsis
    (the end holds the suffix a person looks for)."""
    text = name if isinstance(name, str) else str(name)
    if len(text) > 64 * limit:  # far too long to be worth cleaning whole: only its ends are ever shown
        text = text[: 32 * limit] + ELLIPSIS + text[-32 * limit:]
    text = _BIDI_CONTROLS.sub("", text)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    tail = limit - 1 - head
    return text[:head] + ELLIPSIS + text[-tail:]


# A file name may hold 255 bytes; the stem leaves room for what callers add after it (a date, a suffix) and keeps
# a name with many styles readable.
MAX_STEM_BYTES = 120
FALLBACK_STEM = "fude"
# The suffixes of the pictures Fude reads (engine.untrusted.RASTER_FORMATS): the one part of a name cut from it.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def render_file_stem(content_name: str, style_names: str | Sequence[str]) -> str:
    """The file name (without suffix) suggested for a render: "<content stem>_in_<style stems joined by _and_>",
    made safe for any file system: every character other than a letter, a digit, "-", "_" or "." becomes "_", it
    never starts with "." (a hidden file), and it is at most MAX_STEM_BYTES bytes in UTF-8 (a longer one keeps
    its start). Names may be paths: only their last part counts, and only a picture's suffix (PICTURE_SUFFIXES)
    is cut from it, once: "photo.v2.jpg" gives "photo.v2", and "photo.v2" stays whole. With no `style_names`, the
    content's stem alone. "fude" when there is no content name."""
    styles = [style_names] if isinstance(style_names, str) else list(style_names)
    content = _stem(content_name)
    if not content:
        return FALLBACK_STEM
    stem = f"{content}_in_{'_and_'.join(_stem(name) or 'style' for name in styles)}" if styles else content
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    safe = "_" + safe[1:] if safe.startswith(".") else safe
    while len(safe.encode("utf-8")) > MAX_STEM_BYTES:
        safe = safe[:-1]
    return safe.rstrip(".") or FALLBACK_STEM  # Windows drops a trailing dot, which would change the name


def _stem(name: str) -> str:
    """The last part of a name or path (either kind of slash separates parts), without its suffix when that is a
    picture's: any other dot is part of the name."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, suffix = last.rpartition(".")
    return stem if stem and dot and f".{suffix.lower()}" in PICTURE_SUFFIXES else last
