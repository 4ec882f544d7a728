"""One window per user (app/single_instance.py): a second Fude hands its pictures to the first and exits 0; what
arrives on the socket is checked before it is used; a socket left by a crash is taken over; and pictures that
arrive during a run go to the panes without touching the run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

from app import single_instance
from app.open_request import OpenRequest
from app.single_instance import Answer, InstanceServer, claim, server_name
from app.window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def name(tmp_path: Path) -> str:
    return str(tmp_path / "fude-test.socket")


def _hand_over_from_another_process(name: str, request: OpenRequest) -> subprocess.Popen[str]:
    """A later Fude's hand-over, as it runs: in a process of its own (the server answers on this one's event loop;
    no Qt object of this process is ever made on another thread)."""
    code = ("import sys; from app.open_request import OpenRequest; from app.single_instance import hand_over; "
            "print(hand_over(sys.argv[1], OpenRequest.decode(sys.argv[2].encode())).answer)")
    return subprocess.Popen([sys.executable, "-c", code, name, request.encode().decode().strip()], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)


def _answer(qtbot, process: subprocess.Popen[str]) -> str:
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=20_000)
    out, _ = process.communicate()
    return out.strip()


def test_the_socket_is_the_users_own():
    path = server_name()
    assert path.startswith(os.environ["XDG_RUNTIME_DIR"]) and str(os.getuid()) in Path(path).name


def test_a_request_is_delivered_and_answered(qtbot, name: str, cat_path: Path, wave_path: Path):
    server = InstanceServer(name)
    assert server.listen()
    request = OpenRequest(str(cat_path), (str(wave_path),))
    with qtbot.waitSignal(server.received, timeout=20_000) as received:
        answer = _answer(qtbot, _hand_over_from_another_process(name, request))
    assert received.args == [request] and answer == str(Answer.DELIVERED)
    server.close()


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="the local socket is a Unix socket file here")
def test_a_bad_message_is_refused_and_a_silent_client_dropped(qtbot, name: str, monkeypatch):
    monkeypatch.setattr(single_instance, "CLIENT_MS", 300)
    server = InstanceServer(name)
    assert server.listen()
    refused: list[str] = []
    server.refused.connect(refused.append)
    received: list[object] = []
    server.received.connect(received.append)

    def send(data: bytes) -> bytes:  # plain Python on its thread: no Qt object there
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(name)
            with suppress(BrokenPipeError, ConnectionResetError):  # a refusal may close it before all is sent
                client.sendall(data)
            reply = b""
            while chunk := client.recv(4096):
                reply += chunk
            return reply

    relative = b'{"fude": 1, "content": "relative.png", "styles": []}\n'
    for data, answer in ((relative, b"refused: a path is not absolute"),
                         (b"<b>not json</b>\n", b"refused: the message is not JSON"),
                         (b"x" * 70_000, b"refused: the message is too long"),
                         (b"", b"")):  # says nothing: dropped after CLIENT_MS, nothing delivered
        replies: list[bytes] = []
        thread = threading.Thread(target=lambda data=data, replies=replies: replies.append(send(data)))
        thread.start()
        qtbot.waitUntil(lambda thread=thread: not thread.is_alive(), timeout=8000)
        assert replies and replies[0].startswith(answer), (data[:40], replies)
    assert received == [] and len(refused) == 3
    server.close()


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="a crashed Fude's socket file is a Unix thing")
def test_a_socket_left_by_a_crash_is_taken_over(qtbot, name: str):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(name)  # bound, never listening, then closed without removing its file: as a killed Fude leaves it
    stale.close()
    assert Path(name).exists()
    server = claim(name, OpenRequest())
    assert isinstance(server, InstanceServer) and server.listening
    # the new one answers on the old name
    assert _answer(qtbot, _hand_over_from_another_process(name, OpenRequest())) == str(Answer.DELIVERED)
    server.close()


def test_pictures_that_arrive_during_a_run_go_to_the_panes_and_the_run_goes_on(loaded_window: MainWindow, qtbot,
                                                                              stripes_path: Path, cat_path: Path):
    window = loaded_window
    window.advanced.iterations.setValue(500)
    with qtbot.waitSignal(window.session.runStarted, timeout=60_000):
        window.session.start()
    run = window.session.run
    window.open_pictures(OpenRequest(str(stripes_path), (str(cat_path),)))
    assert window.content_pane.image.name == "stripes.png"
    assert [image.name for image in window.style_pane.images] == ["cat.png"]  # in place of the wave
    assert window.session.running and window.session.run is run and window.session.state.active
    with qtbot.waitSignal(window.session.runEnded, timeout=60_000):
        window.session.stop()


FIRST_INSTANCE = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from app.window import MainWindow, run_window

def windows():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]

def watch():
    shown = windows()
    if not shown:
        return
    if not watch.ready:
        watch.ready = True
        print("ready", flush=True)
    window = shown[0]
    if window.content_pane.image is not None and window.style_pane.images:
        print("content:", window.content_pane.image.name, "styles:", [i.name for i in window.style_pane.images],
              flush=True)
        window.close()

def start():  # once the application exists: a QTimer made before it would never fire
    watch.timer = QTimer()
    watch.timer.timeout.connect(watch)
    watch.timer.start(50)
    QTimer.singleShot(60_000, QApplication.quit)

watch.ready = False
QTimer.singleShot(0, start)
sys.exit(run_window([sys.argv[0]]))
"""


def _first_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """The first line `process` writes, or "" when none came within `timeout_s` (never waits longer)."""
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return lines[0].strip() if lines else ""


def test_a_second_fude_hands_its_pictures_to_the_first_and_exits(tmp_path: Path, cat_path: Path, wave_path: Path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-c", FIRST_INSTANCE], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        if _first_line(first, 60) != "ready":
            first.kill()
            pytest.fail("the first Fude did not open its window: " + first.communicate()[1])
        started = time.monotonic()
        second = subprocess.run([sys.executable, str(ROOT / "main.py"), cat_path.name, "--style", str(wave_path)],
                                cwd=cat_path.parent, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert time.monotonic() - started < 30 and "Traceback" not in second.stderr
        assert "style override" not in second.stderr  # `--style PAINTING` is Fude's, never given to Qt as -style
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0, err
    assert "content: cat.png styles: ['wave.png']" in out
    refused = subprocess.run([sys.executable, str(ROOT / "main.py"), str(tmp_path / "gone.png")], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "gone.png: no such file" in refused.stderr  # before any window or socket
