"""The whole service (as `make run` wires it) served by uvicorn on a free loopback port, in a
thread with its own event loop, for tests that need a real socket (the browser tests).

`call(fn)` runs a coroutine function on the server's loop (seeding data, reading the journal)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from adapters.db import migrate
from orchestrator import bootstrap
from orchestrator.settings import load_settings

T = TypeVar("T")


class LiveServer:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self._tmp = tmp
        self._env = env
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._server: uvicorn.Server | None = None
        self.container: bootstrap.Container | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(120):
            raise RuntimeError("the live server did not start within 120 s")
        if self._failed is not None:
            raise RuntimeError("the live server failed to start") from self._failed

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported to start() / stop()
            self._failed = e
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        container = bootstrap.build(load_settings(Path("config/orchestrator.yaml")))
        self.container = container
        await migrate.upgrade(container.db)
        async with bootstrap.running(container):
            assert container.scheduler is not None
            await container.scheduler.wait_idle()  # the start-up reconciliation
            app = bootstrap.build_api(container)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))  # a free port chosen by the kernel
            self.port = sock.getsockname()[1]
            config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
            server = uvicorn.Server(config)
            self._server = server
            # serve() split in its steps, so "ready" is signalled right after the socket listens.
            config.load()
            server.lifespan = config.lifespan_class(config)
            await server.startup(sockets=[sock])
            self._ready.set()
            await server.main_loop()
            await server.shutdown(sockets=[sock])
            sock.close()

    def call(self, fn: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(_as_coro(fn), self._loop).result(timeout)

    def stop(self) -> None:
        if self._server is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(60)


async def _as_coro(fn: Callable[[], Awaitable[Any]]) -> Any:
    return await fn()


@contextmanager
def live_server(tmp: Path, **settings_env: str) -> Iterator[LiveServer]:
    env = {
        "ORCH_DATABASE__URL": f"sqlite+aiosqlite:///{tmp / 'live.db'}",
        "ORCH_SECURITY__SANDBOX_KEY_FILE": str(tmp / "key"),
        **settings_env,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server = LiveServer(tmp, env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
