"""A minimal HTTP/1.1 keep-alive server on 127.0.0.1 for the benchmarks, run as a subprocess.

Every request gets a small JSON reply with a Date header and has its arrival time recorded (on
this process's monotonic clock). `GET /arrivals` returns those times; it and `GET /warmup` are
not counted. Run with
`python -m bench._loopback`; it prints its port on the first line of stdout.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from email.utils import formatdate

_BODY = b'{"ok":true}'
arrivals: list[float] = []


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self._buffer = rest[length:]
            self._reply(head.split(b" ", 2)[1])

    def _reply(self, path: bytes) -> None:
        if path == b"/arrivals":
            body = json.dumps(arrivals).encode()
        elif path == b"/warmup":
            body = _BODY
        else:
            arrivals.append(time.monotonic())
            body = _BODY
        self._transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: "
            + formatdate(usegmt=True).encode()
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


async def _serve() -> None:
    server = await asyncio.get_running_loop().create_server(_Http, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class LoopbackServer:
    """Starts the server in a subprocess; `base_url` points at it until `stop()`."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench._loopback"], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.base_url = f"http://127.0.0.1:{int(self._process.stdout.readline())}"

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)


if __name__ == "__main__":
    asyncio.run(_serve())
