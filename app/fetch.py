"""Fetch a picture dropped as an http(s) URL, asynchronously (QNetworkAccessManager, so the GUI never waits),
with a time limit and a size limit counted as the bytes arrive, and a message that says plainly what went wrong
(offline, 404, too big, a redirect Fude does not follow). A link that was dropped (a web page can make a person
drag anything) never reaches this machine or its local network: loopback, private and other non-public
addresses are refused, at the first request and at every redirect; a link the user pasted may go there."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from PySide6.QtCore import SLOT, QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtNetwork import QHostAddress, QHostInfo, QNetworkAccessManager, QNetworkReply, QNetworkRequest

from engine.untrusted import format_bytes

FETCH_TIMEOUT_S = 15.0
FETCH_MAX_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 5
READ_AHEAD_BYTES = 256 * 1024

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
# Errors that mean the server answered with an HTTP status (4xx, 5xx): only then is the status the reason (a
# redirect Qt would not follow also carries a status, 302, that says nothing of what went wrong).
_HTTP_ANSWERS = (*range(QNetworkReply.NetworkError.ContentAccessDenied.value,
                        QNetworkReply.NetworkError.UnknownContentError.value + 1),
                 *range(QNetworkReply.NetworkError.InternalServerError.value,
                        QNetworkReply.NetworkError.UnknownServerError.value + 1))


def is_web_url(url: QUrl) -> bool:
    return url.isValid() and url.scheme().lower() in ("http", "https") and bool(url.host())


def is_public_address(address: str) -> bool:
    """Whether an IP address is on the public internet: not loopback, private, link-local, shared (carrier NAT),
    multicast, reserved or unspecified (an IPv4 address written as IPv6 is judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") names no other host
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
        self._url = QUrl()
        self._allow_local = False
        self._lookup = -1  # the host lookup under way (QHostInfo's id), -1 when none
        self._pending: tuple[QUrl, Callable[[], None]] = (QUrl(), lambda: None)  # what the lookup is for
        self._data = bytearray()
        self._abort_reason = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)

    @property
    def busy(self) -> bool:
        return self._reply is not None or self._lookup != -1

    def fetch(self, url: QUrl, allow_local: bool = False) -> None:
        """Download `url`; `allow_local` lets it (and its redirects) reach loopback and private addresses, for an
        address the user typed or pasted themselves."""
        self.cancel()
        self._url = QUrl(url)
        self._allow_local = allow_local
        self._abort_reason = ""
        self._data = bytearray()
        self._timer.start(round(self.timeout_s * 1000))
        self._check_host(self._url, self._start)

    def cancel(self) -> None:
        reply, self._reply = self._reply, None
        self._timer.stop()
        self._end_lookup()
        if reply is not None:
            reply.finished.disconnect(self._on_finished)
            reply.abort()
            reply.deleteLater()

    # ---- the host's address: looked up before each request and each redirect ----

    def _check_host(self, url: QUrl, then: Callable[[], None]) -> None:
        """Call `then` once `url`'s host is known to be allowed; otherwise fail with the reason."""
        if self._allow_local:
            then()
            return
        host = url.host()
        if not QHostAddress(host).isNull():
            self._judge_addresses(url, [host], then)  # a literal address: nothing to look up
            return
        self._pending = (url, then)
        # The stub types `member` as bytes, but PySide6 6.12 refuses bytes here (ValueError) and takes SLOT()'s str;
        # the functor overload would not return the lookup id that _on_lookup and _end_lookup need.
        self._lookup = QHostInfo.lookupHost(host, self, SLOT("_on_lookup(QHostInfo)"))  # type: ignore[call-overload]

    @Slot(QHostInfo)
    def _on_lookup(self, info: QHostInfo) -> None:
        if info.lookupId() != self._lookup:
            return  # cancelled, or an answer for an earlier fetch
        self._lookup = -1
        url, then = self._pending
        if info.error() != QHostInfo.HostInfoError.NoError:
            self._fail(url, f"cannot be fetched: no network connection, or the host {url.host()} cannot be found")
            return
        self._judge_addresses(url, [a.toString() for a in info.addresses()], then)

    def _judge_addresses(self, url: QUrl, addresses: list[str], then: Callable[[], None]) -> None:
        if not addresses or not all(is_public_address(a) for a in addresses):
            self._fail(url, f"is on this computer or its local network ({url.host()}); a dropped link may only "
                            "reach the internet. Paste the address (Ctrl+V) to fetch it from there")
            return
        then()

    def _end_lookup(self) -> None:
        if self._lookup != -1:
            QHostInfo.abortHostLookup(self._lookup)
            self._lookup = -1

    # ---- the request ----

    def _start(self) -> None:
        request = QNetworkRequest(self._url)
        # Every redirect is checked here (scheme and address) before it is followed.
        request.setAttribute(QNetworkRequest.Attribute.RedirectPolicyAttribute,
                             QNetworkRequest.RedirectPolicy.UserVerifiedRedirectPolicy)
        request.setMaximumRedirectsAllowed(MAX_REDIRECTS)
        request.setHeader(QNetworkRequest.KnownHeaders.UserAgentHeader, "Fude (neural style transfer)")
        reply = self._manager.get(request)
        # Qt's network thread reads no further ahead than this, so the size limit stops the download itself
        # rather than a buffer filling behind it.
        reply.setReadBufferSize(READ_AHEAD_BYTES)
        self._reply = reply
        reply.metaDataChanged.connect(self._on_headers)
        reply.readyRead.connect(self._on_ready_read)
        reply.redirected.connect(self._on_redirected)
        reply.finished.connect(self._on_finished)

    def _on_headers(self) -> None:
        reply = self._reply
        if reply is None:
            return
        length = reply.header(QNetworkRequest.KnownHeaders.ContentLengthHeader)
        if isinstance(length, int) and length > self.max_bytes:
            self._abort(f"is too large ({format_bytes(length)}; the limit is {format_bytes(self.max_bytes)})")

    def _on_ready_read(self) -> None:
        """Take the bytes as they arrive, so the size limit holds exactly whatever the server says."""
        reply = self._reply
        if reply is None:
            return
        self._data += reply.readAll().data()
        if len(self._data) > self.max_bytes:
            self._data = bytearray()
            self._abort(f"is too large (over the limit of {format_bytes(self.max_bytes)})")

    def _on_redirected(self, target: QUrl) -> None:
        reply = self._reply
        if reply is None:
            return
        if not is_web_url(target):
            self._abort(f"the server redirected it to {target.toString()}, which is not an http(s) address; "
                        "Fude does not follow it")
            return
        self._check_host(target, lambda: reply.redirectAllowed.emit() if reply is self._reply else None)

    def _on_timeout(self) -> None:
        if self._lookup != -1:
            self._end_lookup()
            self._fail(self._url, f"timed out after {self.timeout_s:g} s")
        else:
            self._abort(f"timed out after {self.timeout_s:g} s")

    def _abort(self, reason: str) -> None:
        if self._reply is not None:
            self._abort_reason = reason
            self._reply.abort()  # finished follows, carrying OperationCanceledError
        else:
            self._fail(self._url, reason)

    def _fail(self, url: QUrl, reason: str) -> None:
        """End the fetch (no request is left running) with `reason`."""
        self.cancel()
        self.failed.emit(url.toString(), reason)

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
                self._data += reply.readAll().data()
                if len(self._data) > self.max_bytes:
                    self.failed.emit(url, f"is too large (the limit is {format_bytes(self.max_bytes)})")
                else:
                    self.fetched.emit(bytes(self._data), url)
            elif isinstance(status, int) and 300 <= status < 400:
                # a redirect Qt itself would not take (to another scheme, such as file:): say where it led
                target = reply.header(QNetworkRequest.KnownHeaders.LocationHeader)
                where = target.toString() if isinstance(target, QUrl) else "an address it did not give"
                self.failed.emit(url, f"the server redirected it to {where}, which is not an http(s) address; "
                                      "Fude does not follow it")
            elif error.value in _HTTP_ANSWERS and status:
                reason = reply.attribute(QNetworkRequest.Attribute.HttpReasonPhraseAttribute) or ""
                self.failed.emit(url, f"the server answered {status} {reason}".rstrip())
            elif error == QNetworkReply.NetworkError.TooManyRedirectsError:
                self.failed.emit(url, f"the server redirected it more than {MAX_REDIRECTS} times")
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
            self._data = bytearray()
            reply.deleteLater()
