"""Show text that a person or a file supplied (picture names, links, preset names, messages that quote them) as
plain text. Qt renders label, tooltip and message-box text that looks like HTML as rich text, and rich text
loads the images it names from local paths: a picture named `<img src="/some/fifo">` would hang the window."""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from engine.names import clean_name

# A message that quotes a name cannot grow past this (a name is cleaned to 200 characters, but an error may
# quote one inside a longer sentence): a label's layout time grows with its text.
MAX_SHOWN_CHARS = 2000


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows its text as it is, never as rich text."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def bounded(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text` cut to at most `limit` characters per line, each line cleaned as a name is (no control characters);
    line breaks are kept."""
    return "\n".join(clean_name(line, limit) for line in text.split("\n")[:20])


def breakable(text: str, every: int = 30) -> str:
    """`text` with a zero-width space in each run of `every` characters without a space, so a word-wrapped
    label can break a long name or path instead of growing the window past the screen."""
    return re.sub(rf"\S{{{every}}}(?=\S)", lambda m: m.group(0) + "\u200b", text)


def literal(text: str) -> str:
    """`text` for a place where Qt guesses the format (a tooltip, a message box): text that could pass for HTML
    is escaped and marked as rich text, in which it can then only be characters."""
    text = bounded(text)
    if "<" not in text and "&" not in text:
        return text
    return "<qt>" + html.escape(text).replace("\n", "<br>") + "</qt>"


def ask_yes_no(parent: QWidget, title: str, text: str) -> bool:
    """A Yes/No question that shows `text` literally; True for Yes."""
    answer = QMessageBox.question(parent, title, literal(text))
    return answer == QMessageBox.StandardButton.Yes
