"""Exceptions that carry their own exit code, so the CLI edge never has to guess one.

Bad input is reported once, with the file, the task and the field it concerns, and never as a
traceback: `InputError` holds those parts and renders them as one line.
"""

from __future__ import annotations

import difflib
import pickle
from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class MakespanError(Exception):
    """Base of every error makespan raises on purpose."""

    exit_code = EXIT_FAILED


class InputError(MakespanError):
    """The task file, a graph built through the API, or a command line is invalid.

    Nothing runs after one of these: they are raised while the graph is built and validated.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        task: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.task = task
        self.field = field
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.task:
            where.append(f"task '{self.task}'")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{': '.join(where)}: {self.message}" if where else self.message

    def located(self, file: str) -> InputError:
        """The same error, attributed to `file` (for a graph built in memory from a file)."""
        return InputError(self.message, file=file, task=self.task, field=self.field)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class TaskFailed(MakespanError):
    """A Python task raised: the original exception's type, message and worker traceback.

    `original` is the exception itself when it could be brought back from the worker.
    """

    def __init__(self, task: str, kind: str, message: str, traceback: str,
                 original: BaseException | None = None) -> None:
        self.task = task
        self.kind = kind
        self.message = message
        self.traceback = traceback
        self.original = original
        super().__init__(f"task '{task}' failed: {kind}: {message}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str, str, BaseException | None]]:
        """A TaskFailed always travels (to another process, say); its `original` only if it
        does too: its class importable there, its state picklable, its arguments enough to
        make it again. Otherwise it arrives without one, as a failure from a worker may."""
        return (TaskFailed, (self.task, self.kind, self.message, self.traceback,
                             _if_it_travels(self.original)))

    def __str__(self) -> str:
        if not self.traceback:
            return str(self.args[0])
        return f"{self.args[0]}\n\nTraceback in the worker:\n{self.traceback.rstrip()}"


def _if_it_travels(error: BaseException | None) -> BaseException | None:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return None
    return error
