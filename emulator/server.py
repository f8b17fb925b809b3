"""Run any ASGI app as a real uvicorn HTTP server (loopback, background thread).

Used by the facade's ``serve``/``emulator`` commands and by integration tests::

    with ServerThread(create_app()) as base_url:
        httpx.get(f"{base_url}/fhir/r4/metadata")

The listening socket is bound here (port 0 picks a free port), so the real
port is known before uvicorn starts and no race with other processes exists.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from emulator.config import EmulatorConfig


class ServerThread:
    """A uvicorn server in a daemon thread; ``start()`` returns the base URL."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout: float = 10.0,
        **options: Any,
    ) -> None:
        """``options``: further ``uvicorn.Config`` settings (e.g. ``http=`` a protocol class)."""
        self.app = app
        self.options = options
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    def start(self) -> str:
        """Start serving; block until listening; return e.g. ``http://127.0.0.1:54321``."""
        if self._thread is not None:
            return self.base_url
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(2048)
            sock.set_inheritable(True)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
            **self.options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(
                    f"server failed to start on {self.host}:{self.port}"
                ) from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server did not start within {self.start_timeout} s")
            time.sleep(0.005)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}"
        return self.base_url

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as error:
            self._error = error

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, wait for the thread, close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(host: str, port: int, config: EmulatorConfig, *, log_level: str = "info") -> None:
    """Serve the emulator in the foreground until interrupted (``athena-facade emulator``).

    No access log: request lines would carry (synthetic) patient ids, and cost time.
    """
    from emulator.app import create_app

    app = create_app(config)
    uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    ).run()
