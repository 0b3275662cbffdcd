"""Running task-file commands as child processes, each in its own session.

    engine --start(job)--> spawner thread: open the log, Popen (new session, output -> log),
                           wait until the child exits (WNOWAIT: not reaped, its pid stays taken)
                             |
                             `-- engine step on this thread (Reactor.run_here): reap with
                                 os.wait4 (exit code, max RSS), kill leftovers, on_done, start
                                 what the scheduler allows (often this thread's next command)

A string `run` goes through `/bin/sh -c`, unless it holds no shell syntax at all, in which case
it is split and executed directly, as make does: that saves a shell per task. Each task leads its
own session and process group, so stopping it reaches its whole tree (`killpg`, plus any
descendant that moved to another group: executors/trees.py), and when a task ends, whatever it
left running in its group is killed: no process started by a run outlives it.

Why threads. `Popen` returns only once the child has called exec, which on a busy machine takes
milliseconds: on the engine's thread every start would wait for that in turn (it was 80 % of a
run of 2,000 `true`s). `Popen` releases the GIL while it waits, so starts on spawner threads
overlap with each other and with the engine (`os.posix_spawn` would not: it holds the GIL). The
thread that started a command then waits for it to exit with `waitid(WNOWAIT)` and takes the
engine's step itself, under the engine's lock (`Reactor.run_here`, as the thread executor does):
it reaps the child, reports the outcome, and the scheduler starts what it now allows; a command
started during that step is handed to this same thread. A chain of short commands so needs no
wake-up of the engine's thread, and no pidfd to open, watch and close. A child is reaped only
under the engine's lock, so a stop can never signal a recycled pid. There is a thread per
running command (idle ones wait for the next); they are a queue and a few lines here rather
than `concurrent.futures`, which imports `logging` (milliseconds of start-up) for futures we
do not need. A stop asked for before its process exists is sent by the spawner as soon as it
does; `close` starts nothing more, waits for the starts under way, then kills and reaps.
"""


from __future__ import annotations

import contextlib
import os
import queue
import re
import resource
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from makespan.executors import Job, OnDone, Outcome
from makespan.executors.trees import signal_tree, tree_rss
from makespan.model import Call, Task
from makespan.reactor import Reactor

_SHELL_SYNTAX = re.compile(r"""[|&;<>()$`\\"'*?\[\]#~=%{}!\n]""")
_WORD = re.compile(r"[^ \t\r\n]+")
_SHELL_ONLY = frozenset({
    "exit", "cd", "export", "unset", "set", "source", ".", "exec", "eval", "alias", "ulimit",
    "umask", "wait", "trap", "read", "return", "shift", "if", "for", "while", "until", "case",
    "readonly", "local", "command", "type", "hash", "getopts",
})
"""Builtins and keywords that only a shell can run (`exit 4` has no program to execute)."""

LineSink = Callable[[str, str], None]
"""Receives (task name, line) in `stream` output mode."""


def argv(run: str | tuple[str, ...] | Call) -> list[str]:
    """The argument vector that runs `run`: direct when no shell is needed."""
    if isinstance(run, Call):
        raise TypeError(f"{run.describe()} is a Python call, not a command")
    if not isinstance(run, str):
        return list(run)
    words = _WORD.findall(run)  # what shlex.split gives when there is no quote or escape
    if _SHELL_SYNTAX.search(run) or (words and words[0] in _SHELL_ONLY):
        return ["/bin/sh", "-c", run]
    return words



class _Stepping(threading.local):
    stepping = False
    """This spawner is running an engine step (so work submitted now may be its next)."""
    next: Callable[[], None] | None = None


class _Spawner:
    """Threads that each start one command and wait for its exit, one more whenever all are busy."""

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pending = 0
        self.mine = _Stepping()

    def submit(self, work: Callable[[], None]) -> None:
        mine = self.mine
        with self._lock:
            self._pending += 1
            if mine.stepping and mine.next is None:
                mine.next = work  # this thread runs it as soon as its step ends: no hand-off
                return
            grow = self._pending > len(self._threads)
        if grow:
            thread = threading.Thread(target=self._serve, name="makespan-spawner", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._work.put(work)

    def close(self) -> None:
        """End the threads once they are idle (one may wait for the engine's lock until then)."""
        for _ in self._threads:
            self._work.put(None)
        self._threads.clear()

    def _serve(self) -> None:
        mine = self.mine
        work = self._work.get()
        while work is not None:
            try:
                work()
            finally:
                with self._lock:
                    self._pending -= 1
            work, mine.next = mine.next, None
            if work is None:
                work = self._work.get()


@dataclass(slots=True)
class _Running:
    log: int = -1
    """Opened by the spawner (-1 until then, or if it could not be)."""
    output: int | None = None
    """The pipe's write end, in `stream` mode, until the child has it."""
    pipe: int | None = None
    starting: bool = False
    """A spawner is starting it (under the executor's lock; `close` waits for the outcome)."""
    process: subprocess.Popen[bytes] | None = None
    """Set by the spawner once the process exists, under the executor's lock."""
    stop_signal: int | None = None
    """A stop asked for before the process existed: the spawner sends it."""
    partial: bytes = b""
    exited: Outcome | None = None


class CommandExecutor:
    """Runs `Task.run` commands; relative `cwd`s are taken from `root`."""

    def __init__(self, reactor: Reactor, root: Path, on_done: OnDone,
                 stream: LineSink | None = None) -> None:
        self._reactor = reactor
        self._root = root
        self._on_done = on_done
        self._stream = stream
        self._running: dict[int, _Running] = {}
        self._base_env = dict(os.environ)
        self._spawner = _Spawner()
        self._settled = threading.Condition()
        """Its lock guards each task's `starting`, `process` and `stop_signal`, and `_closing`."""
        self._closing = False
        self._devnull: int | None = None

    def start(self, job: Job) -> None:
        task = job.task
        command = argv(task.run)
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDONLY)
        running = _Running()
        if self._stream is not None:
            running.pipe, running.output = os.pipe()
            name = task.name
            self._reactor.watch(running.pipe, lambda: self._read(job.id, name))
        self._running[job.id] = running
        cwd, env = self._cwd(task), self._env(task.env)
        self._spawner.submit(lambda: self._spawn(job, running, command, cwd, env))

    def stop(self, task: int, force: bool) -> None:
        running = self._running.get(task)
        if running is None or running.exited is not None:
            return
        sig = signal.SIGKILL if force else signal.SIGTERM
        with self._settled:
            if running.process is None:
                if running.stop_signal != signal.SIGKILL:
                    running.stop_signal = sig
                return
        signal_tree(running.process.pid, sig)

    def rss(self, task: int) -> int | None:
        running = self._running.get(task)
        if running is None or running.exited is not None or running.process is None:
            return None
        return tree_rss(running.process.pid)

    def close(self) -> None:
        """Under the engine's lock: start nothing more, then kill and reap every command."""
        with self._settled:
            self._closing = True
            while any(running.starting for running in self._running.values()):
                self._settled.wait()
        for task in list(self._running):
            self.stop(task, force=True)
        for task in list(self._running):
            running = self._running[task]
            if running.exited is None and running.process is not None:
                _, status = os.waitpid(running.process.pid, 0)
                running.process.returncode = os.waitstatus_to_exitcode(status)
            self._finish(task)
        self._spawner.close()
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None

    # ------------------------------------------------------------------ internals

    def _spawn(self, job: Job, running: _Running, command: list[str], cwd: Path,
               env: Mapping[str, str] | None) -> None:
        """On a spawner thread: start the command, wait for its exit, take the engine's step."""
        with self._settled:
            if self._closing:
                return  # `close` releases what the task holds
            running.starting = True
        process = failure = None
        try:
            running.log = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=self._devnull,
                stdout=running.log if running.output is None else running.output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException as error:
            failure = error
        if running.output is not None:
            os.close(running.output)  # the child has its copy
            running.output = None
        with self._settled:
            running.process = process
            running.starting = False
            sig = running.stop_signal
            self._settled.notify_all()
        if process is None:
            assert failure is not None
            self._reactor.post(lambda: self._not_started(job.id, running, command, failure))
            return
        try:
            if sig is not None:
                signal_tree(process.pid, sig)
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            mine = self._spawner.mine
            mine.stepping = True
            try:
                self._reactor.run_here(lambda: self._exited(job.id))
            finally:
                mine.stepping = False
        except BaseException as error:  # a bug: fail the run on the engine's thread, as before
            bug = error
            self._reactor.post(lambda: _raise(bug))

    def _not_started(self, task: int, running: _Running, command: list[str],
                     error: BaseException) -> None:
        """On the engine's thread: a command that could not start ends with exit code 127."""
        if self._running.get(task) is not running:
            return
        if running.log < 0 or not isinstance(error, OSError):
            self._finish(task)
            raise error  # not the command's fault: as if `start` had raised it
        message = f"cannot start {command[0]!r}: {error.strerror}"
        os.write(running.log, f"makespan: {message}\n".encode())
        self._finish(task)
        self._on_done(task, Outcome(exit_code=127, error=message))

    def _exited(self, task: int) -> None:
        running = self._running.get(task)
        if running is None:
            return
        assert running.process is not None
        pid = running.process.pid
        _, status, usage = os.wait4(pid, 0)
        running.process.returncode = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(ProcessLookupError):  # what the task left in its group
            os.killpg(pid, signal.SIGKILL)
        running.exited = Outcome(exit_code=running.process.returncode,
                                 peak_rss=_peak_rss(usage.ru_maxrss))
        if running.pipe is None:
            self._done(task)

    def _read(self, task: int, name: str) -> None:
        running = self._running[task]
        assert running.pipe is not None
        chunk = os.read(running.pipe, 65536)
        if chunk:
            os.write(running.log, chunk)
            *lines, running.partial = (running.partial + chunk).split(b"\n")
            for line in lines:
                self._emit(name, line)
            return
        if running.partial:
            self._emit(name, running.partial)
        self._reactor.unwatch(running.pipe)
        os.close(running.pipe)
        running.pipe = None
        if running.exited is not None:
            self._done(task)

    def _emit(self, name: str, line: bytes) -> None:
        assert self._stream is not None
        self._stream(name, line.decode(errors="replace"))

    def _done(self, task: int) -> None:
        outcome = self._running[task].exited
        assert outcome is not None
        self._finish(task)
        self._on_done(task, outcome)

    def _finish(self, task: int) -> None:
        running = self._running.pop(task)
        if running.log >= 0:
            os.close(running.log)
        if running.output is not None:  # never started
            os.close(running.output)
        if running.pipe is not None:
            self._reactor.unwatch(running.pipe)
            os.close(running.pipe)

    def _cwd(self, task: Task) -> Path:
        return self._root if task.cwd is None else self._root / task.cwd

    def _env(self, extra: tuple[tuple[str, str], ...]) -> Mapping[str, str] | None:
        if not extra:
            return None
        return {**self._base_env, **dict(extra)}


def _raise(error: BaseException) -> None:
    raise error


def _peak_rss(child_maxrss_kib: int) -> int | None:
    """A reaped child's peak RSS in bytes, or None when its figure says nothing about it.

    Linux keeps a process's high-water mark across exec, and a child's starts at the RSS of the
    process it was forked from, so any figure up to makespan's own peak may be makespan's memory
    rather than the task's: then only the samples taken while it ran count.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return child_maxrss_kib * 1024 if child_maxrss_kib > own else None
