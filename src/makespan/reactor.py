"""The engine's single wait point: file descriptors, wake-ups from other threads, and signals.

Commands are watched through Linux pidfds, so a finished child wakes the engine directly with
no thread in between; executors that run work on threads `post` their completions, which wakes
the same `select`. Signals (Ctrl-C, SIGTERM) arrive through the same wake-up pipe.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import threading
from collections import deque
from collections.abc import Callable
from types import FrameType

Callback = Callable[[], None]


class Reactor:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._posted: deque[Callback] = deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._closed = False
        self._post_lock = threading.Lock()
        self.signals: deque[int] = deque()

    def watch(self, fd: int, callback: Callback) -> None:
        """Call `callback` (on the engine's thread) whenever `fd` is readable."""
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def unwatch(self, fd: int) -> None:
        self._selector.unregister(fd)

    def post(self, callback: Callback) -> None:
        """Run `callback` on the engine's thread soon. Safe to call from any thread.

        Posts after `close` are dropped: they come from abandoned threads of a finished run.
        """
        with self._post_lock:
            if self._closed:
                return
            self._posted.append(callback)
            with contextlib.suppress(BlockingIOError):  # the pipe is full of wake-ups already
                os.write(self._wake_write, b"\0")

    def wait(self, timeout: float | None) -> None:
        """Block until something happens or `timeout` passes, then run the callbacks due."""
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain()
            else:
                key.data()
        while self._posted:
            self._posted.popleft()()

    def _drain(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def catch_signals(self, signums: tuple[int, ...]) -> Callable[[], None]:
        """Record `signums` in `self.signals` and wake the loop; returns a function to undo it."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.signals.append(signum)

        previous = {s: signal.signal(s, handler) for s in signums}
        old_fd = signal.set_wakeup_fd(self._wake_write)

        def restore() -> None:
            signal.set_wakeup_fd(old_fd)
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def close(self) -> None:
        with self._post_lock:
            self._closed = True
        self._selector.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
