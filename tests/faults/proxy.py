"""A small threaded TCP proxy for fault injection: forwards 127.0.0.1:<port> to an upstream
server and can be *cut* (every live connection closed, new ones refused) and *restored*.

`cut_after_reply_bytes(n)` arms a cut that fires once the upstream has sent n more bytes back,
i.e. in the middle of a conversation the server has already started answering.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self._armed_at: int | None = None  # reply bytes still to pass before an armed cut
        self.reply_bytes = 0  # upstream -> client bytes since the last arm

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def close(self) -> None:
        self._closed = True
        self.cut()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def cut(self) -> None:
        """Close every live connection and the listening socket: new connections are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
            self._armed_at = None
            self.cuts += 1
        if listener is not None:
            _close(listener)
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._listener is None and not self._closed:
            self._listen()

    def cut_after_reply_bytes(self, n: int) -> None:
        with self._lock:
            self.reply_bytes = 0
            self._armed_at = n

    # --- plumbing ----------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed by cut()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    continue
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, is_reply: bool) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if is_reply and self._count_reply(len(data)):
                    self.cut()
                    return
        except OSError:
            pass
        _close(source)
        _close(target)

    def _count_reply(self, n: int) -> bool:
        with self._lock:
            if self._armed_at is None:
                return False
            self.reply_bytes += n
            return self.reply_bytes >= self._armed_at


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
