"""A CPU worker process: run the tasks the engine sends, one at a time, until the pipe closes.

Started by `processes.ProcessExecutor` as `python .../executors/_worker.py FD` (by path, not
with -m, so that `makespan` is not imported): it imports only the standard library, which
keeps a worker's start-up short and its resident memory (the guide's "Base") small. Whatever a
task's function needs is imported when its pickle is loaded; `cloudpickle` only when a function
travelled by value.

    engine                                        worker (this file)
    ------                                        ------------------
    sys.path                      --frame-->      sys.path[:] = ...
                                  <--frame--      ("ready", resident bytes)
    (name, fn, args, kwargs, log) --frame-->      fn(*args, **kwargs), output to log
                                  <--frame--      ("ok", value) | ("error", failure)

A frame is the `multiprocessing.connection.Connection` format: a 4-byte big-endian length (-1
then an 8-byte length for large frames), then the bytes. A failure is (type name, message,
traceback text, the exception pickled or None). While a task runs, MAKESPAN_WORKER holds its
name, so a nested use of the API inside it can refuse with that name. On EOF the worker leaves
with os._exit, as multiprocessing's workers do: there is nothing to clean up.

The engine starts a worker in a session of its own, so a terminal's Ctrl-C does not reach it (the
engine stops the tasks itself): SIGINT keeps its default here, which the processes a task starts
inherit, rather than being ignored by all of them.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys

TYPE_CHECKING = False  # typing is not imported at run time: it would cost start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

WORKER_ENV = "MAKESPAN_WORKER"
"""In a worker: its pid, then the name of the task it runs, if it runs one. The pid tells a
worker from a program its task starts, which inherits the variable (and may use makespan)."""


def _mark(task: str = "") -> None:
    os.environ[WORKER_ENV] = f"{os.getpid()} {task}"


def worker_task() -> tuple[bool, str | None]:
    """Whether this process is a worker, and the task it runs (None between tasks)."""
    pid, _, task = os.environ.get(WORKER_ENV, "").partition(" ")
    if pid != str(os.getpid()):
        return False, None
    return True, task or None


def message_of(error: BaseException) -> str:
    """`str(error)`, or what can be said when its `__str__` itself raises."""
    try:
        return str(error)
    except Exception as broken:
        return f"(its message could not be made: {type(broken).__name__}: {broken})"


def _read(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> bytes:
    (size,) = struct.unpack("!i", _read(fd, 4))
    if size == -1:
        (size,) = struct.unpack("!Q", _read(fd, 8))
    return _read(fd, size)


def send(fd: int, data: bytes) -> None:
    n = len(data)
    header = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
    view = memoryview(header + data if n < 65536 else header)
    while view:
        view = view[os.write(fd, view):]
    if n >= 65536:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def resident() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def dumps(value: object) -> bytes:
    """Plain pickle first (fast); cloudpickle for what only it can ship."""
    try:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:
        import cloudpickle

        return bytes(cloudpickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def failure(error: BaseException) -> tuple[str, str, str, bytes | None]:
    import traceback

    try:
        original: bytes | None = dumps(error)
    except Exception:
        original = None
    return (type(error).__qualname__, message_of(error), traceback.format_exc(), original)


def run(name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
        log: str) -> bytes:
    _mark(name)
    sys.stdout.flush()
    sys.stderr.flush()
    saved: list[int] = []
    try:  # the task's output goes to its log (if the log cannot be opened, where it was going)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        pass
    else:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
    try:
        reply: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException as error:  # the task's failure is data for the engine
        reply = ("error", failure(error))
    finally:
        _mark()
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, old in zip((1, 2), saved, strict=False):
            os.dup2(old, fd)
            os.close(old)
    try:
        return dumps(reply)
    except Exception as error:
        if reply[0] == "error":
            kind, message, text, _ = reply[1]
            return dumps(("error", (kind, message, text, None)))
        why = TypeError(f"the result of '{name}' cannot be sent back from the worker: {error}")
        return dumps(("error", (type(why).__qualname__, str(why), "", None)))


def serve(fd: int) -> None:
    _mark()
    try:
        sys.path[:] = pickle.loads(receive(fd))
        send(fd, pickle.dumps(("ready", resident())))
        while True:
            message = receive(fd)
            try:
                task = pickle.loads(message)
            except BaseException as error:  # a function or argument that cannot be loaded here
                send(fd, dumps(("error", failure(error))))
                continue
            send(fd, run(*task))
    except (EOFError, OSError):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
