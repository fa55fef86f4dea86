"""The one background event loop every connection lives on, and the bridges to it.

behave runs an event loop only while an async step executes; a client on that loop would stop
reading between steps. Connections live on a loop in a daemon thread instead, so a reader is always
awaiting its socket; steps await through ``on_background`` and hooks block in ``run_blocking``.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading



class _LoopThread:
    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def loop(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None or cls._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="chat-suite-sockets", daemon=True).start()
                cls._loop = loop
            return cls._loop


async def on_background(coro):
    """Run a coroutine on the socket loop and await its result from whichever loop calls (on the socket
    loop itself, at once: a load run's thousand conversations make no hops)."""
    loop = _LoopThread.loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def run_blocking(coro, timeout: float, what: str = "the call"):
    """Run a coroutine on the socket loop and wait for it from a thread that is not on it (hooks, Locust's
    users). Raises TimeoutError after `timeout` s; the coroutine is cancelled whenever the wait ends early."""
    future = asyncio.run_coroutine_threadsafe(coro, _LoopThread.loop())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"{what} took longer than {timeout:g} s") from None
    except BaseException:
        future.cancel()   # the waiter was stopped (e.g. Locust ends its users): stop the work too
        raise


