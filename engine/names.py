"""Names shown to a person (a picture's file name, a link, a name stored in a PNG or a recovery copy): one line,
no control characters, and bounded, however long or strange the name that arrived."""

from __future__ import annotations

import re
import unicodedata

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
