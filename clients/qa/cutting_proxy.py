"""A TCP proxy on loopback that cuts every connection through it on demand: lost calls, for resumable streams' tests
and the soak."""

import asyncio
import contextlib
import threading
from collections.abc import Iterator

BUFFER_BYTES = 65536


class CuttingProxy:
    """Forwards 127.0.0.1:port to target (host:port); cut() resets every open connection."""

    def __init__(self, target: str):
        self.host, _, port = target.rpartition(":")
        self.target_port = int(port)
        self.links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()  # (client side, server side)
        self.connections: set[asyncio.Task] = set()
        self.closing = asyncio.Event()
        self.cuts = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cut(self, silent: bool = False) -> int:
        """Resets every connection now open; how many there were. silent: only the client's side, as a network
        that dies without a word would: the server's side stays open, its data goes nowhere, until close()."""
        links = list(self.links)
        for client_side, server_side in links:
            client_side.transport.abort()
            if not silent:
                server_side.transport.abort()
        self.links.clear()
        self.cuts += bool(links)
        return len(links)

    async def close(self) -> None:
        self.server.close()
        self.closing.set()
        self.cut()
        await asyncio.gather(*self.connections, return_exceptions=True)
        await self.server.wait_closed()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(asyncio.current_task())
        asyncio.current_task().add_done_callback(self.connections.discard)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host.strip("[]"), self.target_port)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self.links.add(link)
        pipes = [asyncio.ensure_future(_pipe(reader, up_writer)), asyncio.ensure_future(_pipe(up_reader, writer))]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            if link not in self.links and not up_writer.transport.is_closing():
                await self.closing.wait()  # silently cut: the server's side stays open
        finally:
            self.links.discard(link)
            writer.transport.abort()
            up_writer.transport.abort()
            await asyncio.gather(*pipes, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies until either side ends; what arrives for a side that was cut goes nowhere."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(BUFFER_BYTES):
            if not writer.transport.is_closing():
                writer.write(data)
                await writer.drain()


@contextlib.contextmanager
def cutting_proxy(target: str) -> Iterator[tuple[CuttingProxy, "callable"]]:
    """A CuttingProxy on an event loop of its own thread, for code without one: (proxy, cut) where cut() is
    thread-safe and returns the number of connections it cut."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cutting-proxy", daemon=True)
    thread.start()
    proxy = CuttingProxy(target)
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)

    async def cut(silent: bool) -> int:
        return proxy.cut(silent)

    try:
        yield proxy, lambda silent=False: asyncio.run_coroutine_threadsafe(cut(silent), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
