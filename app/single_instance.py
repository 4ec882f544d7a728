"""One window per user: the first Fude listens on a local socket of its user's own (in the user's runtime folder,
which only they can enter, with the socket itself made for the user only); a later `fude` hands its pictures to
it over that socket and exits, and the first raises its window and puts the pictures in its panes. A socket left
by a crash (nobody answers on it) is removed and taken over. What arrives is read as hostile input
(app/open_request.py), bounded in size and time."""

from __future__ import annotations

import getpass
import os
import re
import time
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import QByteArray, QObject, QStandardPaths, QTimer, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from app.open_request import MAX_MESSAGE_BYTES, OpenRequest, RequestError

CONNECT_MS = 1000
ANSWER_MS = 10_000  # the running window answers at once unless its GUI thread is busy for a moment
CLIENT_MS = 5000  # a client that has not sent its whole message by then is dropped
WAIT_SLICE_MS = 20
ACCEPTED = b"ok\n"
REFUSED = b"refused: "
MAX_SOCKET_PATH = 100  # a Unix socket's path is at most 104 (macOS) or 108 (Linux) bytes


def server_name() -> str:
    """This user's socket: on Unix a path in the user's runtime folder (XDG_RUNTIME_DIR, which is theirs alone),
    naming the user id too; on Windows a pipe named after the user. Two users never share one."""
    if os.name == "nt":
        user = re.sub(r"[^A-Za-z0-9_.-]", "_", getpass.getuser())
        return f"fude-{user}"
    name = f"fude-{os.getuid()}.socket"
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)
    path = os.path.join(folder, name) if folder else ""
    # too long for a socket address: a bare name, which Qt puts in the temporary folder
    return path if path and len(os.fsencode(path)) <= MAX_SOCKET_PATH else name


class Answer(StrEnum):
    """What became of handing a request to a running Fude."""

    NO_SERVER = "no server"  # nobody listens (or only a socket left by a crash)
    DELIVERED = "delivered"
    REFUSED = "refused"
    NO_ANSWER = "no answer"  # connected, but the running Fude did not answer in time


@dataclass(frozen=True)
class HandOver:
    answer: Answer
    reason: str = ""


def hand_over(name: str, request: OpenRequest, answer_ms: int = ANSWER_MS) -> HandOver:
    """Send `request` to the Fude listening on `name` and wait for its answer (blocking: called before this
    process has a window)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return HandOver(Answer.NO_SERVER, socket.errorString())
    socket.write(QByteArray(request.encode()))
    socket.flush()
    reply = b""
    deadline = time.monotonic() + answer_ms / 1000
    # in short waits: a blocking wait holds Python's lock, and the answer may come from a thread of this process
    while b"\n" not in reply and len(reply) < 4096 and time.monotonic() < deadline:
        socket.waitForReadyRead(WAIT_SLICE_MS)
        reply += bytes(socket.readAll().data())  # also what came just before the other end closed
        if socket.state() == QLocalSocket.LocalSocketState.UnconnectedState and socket.bytesAvailable() == 0:
            break
    socket.abort()
    if reply.startswith(ACCEPTED):
        return HandOver(Answer.DELIVERED)
    if reply.startswith(REFUSED):
        line = reply[len(REFUSED):].split(b"\n", 1)[0]
        return HandOver(Answer.REFUSED, line.decode("utf-8", "replace")[:500])
    return HandOver(Answer.NO_ANSWER, "the running Fude did not answer")


class _Client(QObject):
    """One connection to the server: reads one message (a line) within the size and time bounds, answers it and
    hands the request on."""

    def __init__(self, socket: QLocalSocket, server: InstanceServer) -> None:
        super().__init__(server)
        self._socket = socket
        self._server = server
        self._buffer = b""
        self._done = False
        socket.setParent(self)
        socket.readyRead.connect(self._on_ready_read)
        socket.disconnected.connect(self._finish)
        QTimer.singleShot(CLIENT_MS, self, self._finish)
        self._on_ready_read()  # it may have written before we connected

    @Slot()
    def _on_ready_read(self) -> None:
        if self._done:
            return
        self._buffer += bytes(self._socket.read(MAX_MESSAGE_BYTES + 1 - len(self._buffer)).data())
        if b"\n" in self._buffer:
            self._answer(self._buffer.split(b"\n", 1)[0])
        elif len(self._buffer) > MAX_MESSAGE_BYTES:
            self._answer(self._buffer)  # refused as too long

    def _answer(self, message: bytes) -> None:
        self._done = True
        try:
            request = OpenRequest.decode(message)
        except RequestError as exc:
            self._socket.write(QByteArray(REFUSED + str(exc).encode("utf-8", "replace")[:500] + b"\n"))
            self._socket.flush()
            self._server.refused.emit(str(exc))
            self._finish()
            return
        self._socket.write(QByteArray(ACCEPTED))
        self._socket.flush()
        self._finish()
        self._server.received.emit(request)

    @Slot()
    def _finish(self) -> None:
        self._done = True
        if self._socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
            self._socket.disconnectFromServer()
        self.deleteLater()


class InstanceServer(QObject):
    """Listens on `name` for later instances' requests; `received` carries each valid one (OpenRequest),
    `refused` says why one was not."""

    received = Signal(object)
    refused = Signal(str)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)

    @property
    def listening(self) -> bool:
        return self._server.isListening()

    def listen(self) -> bool:
        return self._server.listen(self.name)

    def close(self) -> None:
        self._server.close()

    @Slot()
    def _on_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            if socket is not None:
                _Client(socket, self)


def claim(name: str, request: OpenRequest, parent: QObject | None = None) -> InstanceServer | HandOver:
    """Become the one Fude of this user, or hand `request` to the one there is: an InstanceServer listening on
    `name` (a socket left by a crash is removed first), or what the running Fude answered."""
    answer = hand_over(name, request)
    if answer.answer is not Answer.NO_SERVER:
        return answer
    server = InstanceServer(name, parent)
    if server.listen():
        return server
    # The name is taken: by a Fude that started this very moment (ask it again), or by a crashed one's socket
    answer = hand_over(name, request)
    if answer.answer is not Answer.NO_SERVER:
        server.deleteLater()
        return answer
    QLocalServer.removeServer(name)
    server.listen()  # if even this fails, this window runs on its own
    return server
