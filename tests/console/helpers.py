"""The console over real HTTP in tests and the benchmark: a server thread and signed-in clients."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn

PASSWORDS = {"ana": "ana-pass-1", "rita": "rita-pass-2"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def client(server: Server, user: str | None = "ana", **kwargs) -> httpx.Client:
    """A client signed in with HTTP Basic as ``user`` (None: not signed in)."""
    auth = (user, PASSWORDS[user]) if user else None
    return httpx.Client(base_url=server.url, auth=auth, timeout=60, **kwargs)
