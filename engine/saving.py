"""Save a finished run's picture, the one way every front end does it (render, batch, the queue, Save PNG): the
picture as its run presents it (the content's transparency, Keep colours), the settings it was finished with stored
in it, written atomically, under one collision rule per kind of name: a name the user typed may be replaced; a name
Fude made up never replaces a file (the first free "<stem> 2<suffix>", "<stem> 3<suffix>"... is taken, race-free).

Its own module because engine.export cannot import engine.driver (the driver imports export)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.export import save_png
from engine.settings import png_text_chunks

if TYPE_CHECKING:
    import numpy as np

    from engine.driver import RunRecord


def save_result(path: str | os.PathLike[str], record: RunRecord, image: np.ndarray, *, keep_colours: bool,
                replace: bool) -> Path:
    """Write `image` (H x W x 3, as the run `record` made it) to `path` as a PNG: presented by
    `record.presented(image, keep_colours)` (with the content's colours when `keep_colours`, with the content's
    transparency when it had some), with `record.final_settings` (Keep colours as given) and the record's content
    and style names stored in its text chunks. `replace`: `path` is a name the user typed, and a file there is
    replaced atomically; otherwise it is a name Fude made up, which never replaces a file: the first free name of
    `path`, "<stem> 2<suffix>", "<stem> 3<suffix>"... is written. The path written; an ExportError (a FudeError)
    naming the file and the reason when it cannot be."""
    picture = record.presented(image, keep_colours)
    settings = record.final_settings.replaced(keep_colours=keep_colours)
    text = png_text_chunks(settings, record.content_name, record.style_names)
    return save_png(path, picture, text, replace=replace)
