"""The engine's single wait point: file descriptors, wake-ups from other threads, and signals.

Executors that run work on threads `post` their completions (the command executor's spawner
threads post a command's exit, the engine's thread then reaps it), which wakes the `select`;
file descriptors it `watch`es (a command's output pipe in `stream` mode) wake the same
`select`. Signals (Ctrl-C, SIGTERM) arrive through the same wake-up pipe. One wake-up byte is
written per batch of posts, not per post: the loop runs every callback posted before it looks.

Engine steps. Whatever touches the engine's state (the scheduler, the running tasks, the
record) runs under `lock`: the engine's thread holds it except while it waits in `select`. A
worker thread that finishes a task takes the lock, if it is free, and runs the engine's step
itself (`run_here`): report the completion and start what the scheduler now allows, without
waking the engine's thread; if the lock is taken, it posts the step instead of waiting. The
scheduler stays the only one deciding order and admission; the lock only lets another thread
drive it, one step at a time. The engine's thread is woken only when the step leaves it
something to decide (the run ended, a failure, a new deadline).
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
        self._woken = False
        """A wake-up byte is in the pipe and the loop has not looked at the posts since."""
        self.signals: deque[int] = deque()
        self.lock = threading.Lock()
        """Held by whoever runs an engine step: the loop between waits, or `run_here`."""
        self.after_step: Callback | None = None
        """The engine's part of a step taken on another thread (start what is ready)."""
        self._crashed: BaseException | None = None

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
            self._wake()

    def wake(self) -> None:
        """Make the loop look again (from any thread)."""
        with self._post_lock:
            if not self._closed:
                self._wake()

    def _wake(self) -> None:
        if not self._woken:
            self._woken = True
            with contextlib.suppress(BlockingIOError):  # the pipe is full of wake-ups already
                os.write(self._wake_write, b"\0")

    def run_here(self, callback: Callback) -> None:
        """Run `callback` on this thread as an engine step: under `lock`, after every callback
        posted before it, then the engine's `after_step`. Dropped after `close`.

        If another thread holds the lock, `callback` is posted to the loop instead of waited
        for: a thread blocked on the lock waits for it and then for the interpreter's lock,
        which on a busy host took 250 µs on average, against some 10 µs for the step itself;
        the loop runs it as soon as the holder lets go, and this thread goes back to work."""
        if not self.lock.acquire(blocking=False):
            self.post(callback)
            return
        try:
            if self._closed:
                return
            posted = self._posted
            while posted:
                posted.popleft()()
            callback()
            if self.after_step is not None:
                self.after_step()
        except BaseException as error:  # a bug: the loop raises it, as if it had failed there
            self._crashed = error
            self.wake()
        finally:
            self.lock.release()

    def wait(self, timeout: float | None) -> None:
        """Block until something happens or `timeout` passes, then run the callbacks due.

        The caller holds `lock`; it is released while blocked, so other threads may take steps.
        """
        self.lock.release()
        try:
            ready = self._selector.select(timeout)
        finally:
            self.lock.acquire()
        if self._crashed is not None:
            raise self._crashed
        for key, _ in ready:
            if key.data is None:
                self._drain()
            else:
                key.data()
        posted = self._posted
        while posted:
            posted.popleft()()

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while len(os.read(self._wake_read, 4096)) == 4096:  # a short read emptied it
                pass
        # Only now: a byte written between a reset and the read would be read here, leaving
        # `_woken` set with an empty pipe, and every later post would be lost. A post or a wake
        # that comes before the reset is seen anyway: the caller runs the posts next, and the
        # loop looks again after `wait` returns.
        with self._post_lock:
            self._woken = False

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
