"""Running task-file commands as child processes, each in its own session.

    engine --start(job)--> Popen (new session, output -> log file) --pidfd--> Reactor
    engine <--on_done(task, Outcome)-- reap: os.wait4 (exit code, max RSS), kill leftovers

A string `run` goes through `/bin/sh -c`, unless it holds no shell syntax at all, in which case
it is split and executed directly, as make does: that saves a shell per task. Each task leads its
own session and process group, so stopping it reaches its whole tree (`killpg`, plus any
descendant found by psutil that moved to another group), and when a task ends, whatever it
left running in its group is killed: no process started by a run outlives it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from makespan.executors import Job, OnDone, Outcome
from makespan.model import Call, Task
from makespan.reactor import Reactor

_SHELL_SYNTAX = re.compile(r"""[|&;<>()$`\\"'*?\[\]#~=%{}!\n]""")

LineSink = Callable[[str, str], None]
"""Receives (task name, line) in `stream` output mode."""


def argv(run: str | tuple[str, ...] | Call) -> list[str]:
    """The argument vector that runs `run`: direct when no shell is needed."""
    if isinstance(run, Call):
        raise TypeError(f"{run.describe()} is a Python call, not a command")
    if not isinstance(run, str):
        return list(run)
    if _SHELL_SYNTAX.search(run):
        return ["/bin/sh", "-c", run]
    return shlex.split(run)


@dataclass(slots=True)
class _Running:
    process: subprocess.Popen[bytes]
    pidfd: int
    log: int
    handle: psutil.Process | None = None
    pipe: int | None = None
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

    def start(self, job: Job) -> None:
        task = job.task
        log = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        output: int = log
        pipe_read = None
        if self._stream is not None:
            pipe_read, output = os.pipe()
        try:
            process = subprocess.Popen(
                argv(task.run),
                cwd=self._cwd(task),
                env=self._env(task.env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            message = f"cannot start {argv(task.run)[0]!r}: {error.strerror}"
            os.write(log, f"makespan: {message}\n".encode())
            os.close(log)
            if pipe_read is not None:
                os.close(pipe_read)
                os.close(output)
            self._on_done(job.id, Outcome(exit_code=127, error=message))
            return
        running = _Running(process, os.pidfd_open(process.pid), log)
        self._running[job.id] = running
        self._reactor.watch(running.pidfd, lambda: self._exited(job.id))
        if pipe_read is not None:
            os.close(output)
            running.pipe = pipe_read
            self._reactor.watch(pipe_read, lambda: self._read(job.id, task.name))

    def stop(self, task: int, force: bool) -> None:
        running = self._running.get(task)
        if running is None or running.exited is not None:
            return
        sig = signal.SIGKILL if force else signal.SIGTERM
        pid = running.process.pid
        strays = _descendants(pid)  # listed first: once the group is signalled, the tree unravels
        with contextlib.suppress(ProcessLookupError):  # the whole group at once, leader included,
            os.killpg(pid, sig)  # so the leader cannot see its children die and exit 0 first
        for child in strays:  # descendants that moved to another group or session
            _signal(child.pid, sig)

    def rss(self, task: int) -> int | None:
        running = self._running.get(task)
        if running is None or running.exited is not None:
            return None
        try:
            if running.handle is None:
                running.handle = psutil.Process(running.process.pid)
            procs = [running.handle, *running.handle.children(recursive=True)]
        except psutil.Error:
            return None
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def close(self) -> None:
        for task in list(self._running):
            self.stop(task, force=True)
        for task in list(self._running):
            running = self._running[task]
            if running.exited is None:
                os.waitpid(running.process.pid, 0)
            self._finish(task)

    # ------------------------------------------------------------------ internals

    def _exited(self, task: int) -> None:
        running = self._running[task]
        pid = running.process.pid
        _, status, usage = os.wait4(pid, 0)
        running.process.returncode = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(ProcessLookupError):  # what the task left in its group
            os.killpg(pid, signal.SIGKILL)
        running.exited = Outcome(exit_code=running.process.returncode,
                                 peak_rss=usage.ru_maxrss * 1024)
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
        self._reactor.unwatch(running.pidfd)
        os.close(running.pidfd)
        os.close(running.log)
        if running.pipe is not None:
            self._reactor.unwatch(running.pipe)
            os.close(running.pipe)

    def _cwd(self, task: Task) -> Path:
        return self._root if task.cwd is None else self._root / task.cwd

    def _env(self, extra: tuple[tuple[str, str], ...]) -> Mapping[str, str] | None:
        if not extra:
            return None
        return {**self._base_env, **dict(extra)}


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
