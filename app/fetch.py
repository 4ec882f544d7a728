"""Fetch a picture dropped as an http(s) URL, asynchronously (QNetworkAccessManager, so the GUI never waits),
with a time limit and a size limit, and a message that says plainly what went wrong (offline, 404, too big)."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, QUrl, Signal
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest

FETCH_TIMEOUT_S = 15.0
FETCH_MAX_BYTES = 50 * 1024 * 1024

_NETWORK_DOWN = (
    QNetworkReply.NetworkError.HostNotFoundError,
    QNetworkReply.NetworkError.TemporaryNetworkFailureError,
    QNetworkReply.NetworkError.NetworkSessionFailedError,
    QNetworkReply.NetworkError.UnknownNetworkError,
)
_CONNECTION = (
    QNetworkReply.NetworkError.ConnectionRefusedError,
    QNetworkReply.NetworkError.RemoteHostClosedError,
    QNetworkReply.NetworkError.ProxyConnectionRefusedError,
)


def is_web_url(url: QUrl) -> bool:
    return url.isValid() and url.scheme().lower() in ("http", "https") and bool(url.host())


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"


class Fetcher(QObject):
    """One download at a time. Emits `fetched(data, url)` or `failed(url, reason)`; `reason` is a sentence."""

    fetched = Signal(bytes, str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, timeout_s: float = FETCH_TIMEOUT_S,
                 max_bytes: int = FETCH_MAX_BYTES) -> None:
        super().__init__(parent)
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._manager = QNetworkAccessManager(self)
        self._reply: QNetworkReply | None = None
        self._abort_reason = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)

    @property
    def busy(self) -> bool:
        return self._reply is not None

    def fetch(self, url: QUrl) -> None:
        self.cancel()
        request = QNetworkRequest(url)
        request.setAttribute(QNetworkRequest.Attribute.RedirectPolicyAttribute,
                             QNetworkRequest.RedirectPolicy.NoLessSafeRedirectPolicy)
        request.setHeader(QNetworkRequest.KnownHeaders.UserAgentHeader, "Fude (neural style transfer)")
        self._abort_reason = ""
        reply = self._manager.get(request)
        self._reply = reply
        reply.downloadProgress.connect(self._on_progress)
        reply.finished.connect(self._on_finished)
        self._timer.start(round(self.timeout_s * 1000))

    def cancel(self) -> None:
        reply, self._reply = self._reply, None
        self._timer.stop()
        if reply is not None:
            reply.finished.disconnect(self._on_finished)
            reply.abort()
            reply.deleteLater()

    def _on_timeout(self) -> None:
        self._abort(f"timed out after {self.timeout_s:g} s")

    def _abort(self, reason: str) -> None:
        if self._reply is not None:
            self._abort_reason = reason
            self._reply.abort()  # finished follows, carrying OperationCanceledError

    def _on_progress(self, received: int, total: int) -> None:
        if max(received, total) > self.max_bytes:
            size = _megabytes(total) if total > 0 else f"more than {_megabytes(self.max_bytes)}"
            self._abort(f"is too large ({size}; the limit is {_megabytes(self.max_bytes)})")

    def _on_finished(self) -> None:
        reply, self._reply = self._reply, None
        self._timer.stop()
        if reply is None:
            return
        url = reply.url().toString()
        try:
            error = reply.error()
            status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
            if self._abort_reason:
                self.failed.emit(url, self._abort_reason)
            elif error == QNetworkReply.NetworkError.NoError:
                data = bytes(reply.readAll().data())
                if len(data) > self.max_bytes:
                    self.failed.emit(url, f"is too large (the limit is {_megabytes(self.max_bytes)})")
                else:
                    self.fetched.emit(data, url)
            elif status:
                reason = reply.attribute(QNetworkRequest.Attribute.HttpReasonPhraseAttribute) or ""
                self.failed.emit(url, f"the server answered {status} {reason}".rstrip())
            elif error in _NETWORK_DOWN:
                self.failed.emit(url, f"cannot be fetched: no network connection, or the host "
                                      f"{reply.url().host()} cannot be found")
            elif error in _CONNECTION:
                self.failed.emit(url, f"cannot be fetched: the server {reply.url().host()} refused or dropped "
                                      "the connection")
            elif error == QNetworkReply.NetworkError.TimeoutError:
                self.failed.emit(url, f"timed out after {self.timeout_s:g} s")
            else:
                self.failed.emit(url, f"cannot be fetched ({reply.errorString()})")
        finally:
            reply.deleteLater()
