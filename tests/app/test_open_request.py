"""What `fude PICTURE ...` asks the window to open, and the message a second `fude` sends the running one, read
as hostile input (app/open_request.py): only plain absolute paths to existing files, in a bounded message."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.open_request import MAX_MESSAGE_BYTES, MAX_PICTURES, OpenRequest, RequestError


def test_the_first_picture_is_the_content_the_others_paintings_or_as_style_says(cat_path: Path, wave_path: Path,
                                                                                 tmp_path: Path, monkeypatch):
    monkeypatch.chdir(cat_path.parent)
    request = OpenRequest.of_pictures([cat_path.name, wave_path.name])
    assert request == OpenRequest(str(cat_path), (str(wave_path),))  # made absolute: the receiver's folder differs
    assert OpenRequest.of_pictures([str(cat_path)], [str(wave_path)]) == request
    assert OpenRequest.of_pictures([], [str(wave_path)]) == OpenRequest(None, (str(wave_path),))
    assert OpenRequest.of_pictures([]).empty
    with pytest.raises(RequestError, match="at most one other picture"):
        OpenRequest.of_pictures([str(cat_path), str(wave_path)], [str(wave_path)])
    with pytest.raises(RequestError, match="no such file"):
        OpenRequest.of_pictures([str(tmp_path / "gone.png")])
    with pytest.raises(RequestError, match="not a file"):
        OpenRequest.of_pictures([str(tmp_path)])


def test_a_message_round_trips(cat_path: Path, wave_path: Path):
    request = OpenRequest(str(cat_path), (str(wave_path), str(cat_path)))
    message = request.encode()
    assert message.endswith(b"\n") and message.count(b"\n") == 1
    assert OpenRequest.decode(message.rstrip(b"\n")) == request
    assert OpenRequest.decode(OpenRequest().encode()) == OpenRequest()


def _message(**record: object) -> bytes:
    return json.dumps({"fude": 1, "content": None, "styles": [], **record}).encode()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_hostile_message_is_refused_whole(cat_path: Path, tmp_path: Path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    good = str(cat_path)
    hostile = {
        b"": "not JSON",
        b"\xff\xfe": "not JSON",
        b"[" * 100_000: "too long",
        b"x" * (MAX_MESSAGE_BYTES + 1): "too long",
        b"[1, 2]": "not a request",
        _message(extra=1): "not a request",
        _message(fude=2): "another version",
        _message(fude=True): "another version",
        _message(content=5): "not a path",
        _message(styles="a.png"): "not a list",
        _message(styles=[good] * (MAX_PICTURES + 1)): "not a list",
        _message(content="relative.png"): "not absolute",
        _message(content=good + "\n<img src=x>"): "control characters",
        _message(content=good + "\0"): "control characters",
        _message(content="/" + "a" * 5000): "too long",
        _message(styles=[good, str(tmp_path / "gone.png")]): "no such file",
        _message(content=str(tmp_path)): "not a file",
        _message(content=str(fifo)): "not a file",
        _message(content="/dev/zero"): "not a file",
    }
    for message, reason in hostile.items():
        with pytest.raises(RequestError, match=reason):
            OpenRequest.decode(message)
