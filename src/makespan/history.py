"""Learned estimates: what each task took in past runs, kept in `.makespan/history.sqlite`.

Every run adds one row per task that started: its duration, peak memory and outcome, keyed by
the task's name and a hash of what it runs (command, working directory, environment), so a
changed command starts with no history. The next `plan` or `run` then uses, per task, the
median of its last `RECENT` successful durations (one slow or fast run moves it little) and the
largest of their peak memories (a budget must cover the worst case) in place of the task file's
estimates.

The database is the standard library's `sqlite3` in WAL mode with a busy timeout, so two runs
that finish at once both get their rows in; each key keeps its last `KEEP` rows. History is an
aid, never a requirement: a locked or corrupt database becomes a warning and a run without it
(`HistoryError` is caught at the edge), and it is written only after the run record is safe.
"""

from __future__ import annotations

import hashlib
import sqlite3
import statistics
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

from makespan.errors import MakespanError
from makespan.model import Call, Task, TaskGraph

DATABASE = Path(".makespan") / "history.sqlite"
RECENT = 10
"""How many recent successful runs of a task its learned estimates come from."""
KEEP = 2 * RECENT
"""Rows kept per task and command at least; a task's older rows are deleted once every `KEEP`
runs (a different share of the tasks each run), so it never has more than 2 x `KEEP` - 1."""
BUSY_TIMEOUT = 5.0
"""Seconds to wait for another run's write to finish before giving up with a warning."""

Source = Literal["history", "file", "default"]

SCHEMA_VERSION = 1
_SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    command TEXT NOT NULL,
    run_id TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    duration REAL NOT NULL,
    peak_rss INTEGER,
    attempts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_task ON results (name, command, id);
CREATE TABLE IF NOT EXISTS runs (number INTEGER PRIMARY KEY, run_id TEXT NOT NULL);
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""
"""Created under the write lock (`BEGIN IMMEDIATE` waits for it), so that two runs creating the
database at once take turns rather than one failing at once."""


class HistoryError(MakespanError):
    """The history database cannot be used (locked, corrupt, unwritable)."""


@dataclass(frozen=True, slots=True)
class Learned:
    """What the recent successful runs of one task say about its next one."""

    runs: int
    duration: float
    peak_rss: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    """One task and command as `makespan history` lists it."""

    name: str
    command: str
    runs: int
    ok: int
    learned: Learned | None
    last_status: str
    last_at: float


class Result(NamedTuple):
    """One past run of one task (its fields in the order of the table's columns)."""

    name: str
    command: str
    run_id: str
    at: float
    status: str
    duration: float
    peak_rss: int | None
    attempts: int


def command_key(task: Task) -> str:
    """A hash of what the task runs and where: change any of it and its history starts over.

    A Python callable counts by its name and compiled code (its repr holds a memory address,
    different in every process; its arguments may be large data).
    """
    run = task.run
    what: object = run
    if isinstance(run, Call):
        code = getattr(run.fn, "__code__", None)
        what = (run.describe(), code.co_code if code is not None else b"")
    text = repr((what, task.cwd, task.env))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _prepare(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    # With WAL this cannot corrupt the file; a power cut may lose the last run's rows.
    connection.execute("PRAGMA synchronous=NORMAL")
    [version] = connection.execute("PRAGMA user_version").fetchone()
    if version != SCHEMA_VERSION:
        connection.executescript(_SCHEMA)


def _while_locked(step: Callable[[], None]) -> None:
    """Run `step`, again while another process holds the lock, for up to BUSY_TIMEOUT.

    Switching a new file to WAL needs an exclusive lock, and sqlite reports a busy database
    for it at once rather than through the busy timeout; two runs creating the history at the
    same moment meet exactly there.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class History:
    """An open history database; `History.open` turns sqlite3's errors into `HistoryError`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[History]:
        """Open (creating if needed) the database at `path`, in WAL mode."""
        with _errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
            with closing(connection):
                _while_locked(lambda: _prepare(connection))
                yield cls(connection)

    def add(self, run_id: str, results: Sequence[Result]) -> None:
        """Store one run's `results` in one transaction, pruning this run's share of tasks.

        Pruning every task on every run would cost as much as the insert itself; a task's
        turn comes when its key's checksum matches the run's number modulo `KEEP`.
        """
        self._db.execute("BEGIN IMMEDIATE")
        try:
            [number] = self._db.execute("INSERT INTO runs (run_id) VALUES (?) RETURNING number",
                                        (run_id,)).fetchone()
            self._db.executemany(
                "INSERT INTO results (name, command, run_id, at, status, duration, peak_rss, "
                "attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", results)
            turn = {(r.name, r.command) for r in results
                    if zlib.crc32(f"{r.name}\0{r.command}".encode()) % KEEP == number % KEEP}
            self._db.executemany(
                "DELETE FROM results WHERE name = ?1 AND command = ?2 AND id <= ("
                "SELECT id FROM results WHERE name = ?1 AND command = ?2 "
                "ORDER BY id DESC LIMIT 1 OFFSET ?3)",
                [(name, command, KEEP) for name, command in sorted(turn)])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def learned(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Learned]:
        """The learned estimates of each (name, command) key that has a successful run."""
        found: dict[tuple[str, str], Learned] = {}
        for name, command in keys:
            rows = self._db.execute(
                "SELECT duration, peak_rss FROM results WHERE name = ? AND command = ? "
                "AND status = 'ok' ORDER BY id DESC LIMIT ?", (name, command, RECENT),
            ).fetchall()
            if rows:
                found[name, command] = _learn(rows)
        return found

    def summaries(self) -> list[Summary]:
        """Every task and command with history, by name, the most recent command first."""
        keys = self._db.execute(
            "SELECT name, command, COUNT(*), SUM(status = 'ok'), MAX(id) FROM results "
            "GROUP BY name, command ORDER BY name, MAX(id) DESC").fetchall()
        learned = self.learned([(name, command) for name, command, *_ in keys])
        out = []
        for name, command, runs, ok, last_id in keys:
            status, at = self._db.execute(
                "SELECT status, at FROM results WHERE id = ?", (last_id,)).fetchone()
            out.append(Summary(name, command, runs, ok, learned.get((name, command)), status,
                               at))
        return out

    def results(self, name: str) -> list[Result]:
        """Every stored run of the task `name`, newest first."""
        rows = self._db.execute(
            "SELECT name, command, run_id, at, status, duration, peak_rss, attempts "
            "FROM results WHERE name = ? ORDER BY id DESC", (name,)).fetchall()
        return [Result(*row) for row in rows]


def _learn(rows: Sequence[tuple[float, int | None]]) -> Learned:
    peaks = [peak for _, peak in rows if peak is not None]
    return Learned(len(rows), statistics.median(d for d, _ in rows), max(peaks, default=None))


@contextmanager
def _errors(path: Path) -> Iterator[None]:
    """sqlite3 and file errors as a `HistoryError` that says what to do about them."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise HistoryError(f"history database {path} is locked by another process "
                               f"({error})") from None
        raise HistoryError(f"history database {path} cannot be used ({error}): "
                           "delete it to start a new history") from None
    except (sqlite3.Error, OSError) as error:
        raise HistoryError(f"history database {path} cannot be used ({error}): "
                           "delete it to start a new history") from None


# ---------------------------------------------------------------- estimates


@dataclass(frozen=True, slots=True)
class Estimates:
    """The graph with the estimates a plan or run uses, and where each one came from.

    `graph` is the task file's graph with learned durations and peak memories in place of
    the file's; its structure is unchanged, so everything downstream reads it as before.
    """

    graph: TaskGraph
    durations: tuple[float, ...]
    duration_source: tuple[Source, ...]
    memory_source: tuple[Source | None, ...]
    """None: the task has no memory estimate at all."""
    warning: str | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        """How many duration and memory estimates came from each source."""
        out: dict[str, dict[str, int]] = {"duration": {}, "memory": {}}
        for what, sources in (("duration", self.duration_source),
                              ("memory", self.memory_source)):
            for source in sources:
                if source is not None:
                    out[what][source] = out[what].get(source, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        tasks = self.graph.tasks
        return {
            "counts": self.counts(),
            "tasks": {
                task.name: {"duration": duration, "duration_source": d_source,
                            "memory": task.memory, "memory_source": m_source}
                for task, duration, d_source, m_source in zip(
                    tasks, self.durations, self.duration_source, self.memory_source,
                    strict=True)
            },
        }


def choose(graph: TaskGraph, default: float, learned: Mapping[tuple[str, str], Learned],
           memory_budget: int, warning: str | None = None) -> Estimates:
    """Learned estimates where a task has history, else the file's, else the default.

    A learned peak memory above `memory_budget` is capped at it: the task ran before, so it
    must not be refused now; at the cap it simply runs with nothing else admitted beside it.
    """
    tasks: list[Task] = []
    d_sources: list[Source] = []
    m_sources: list[Source | None] = []
    for task in graph.tasks:
        seen = learned.get((task.name, command_key(task)))
        m_source: Source | None = None if task.memory is None else "file"
        if seen is None:
            d_sources.append("default" if task.estimate is None else "file")
            tasks.append(task)
        else:
            d_sources.append("history")
            memory = task.memory
            if seen.peak_rss is not None:
                memory, m_source = min(seen.peak_rss, memory_budget), "history"
            tasks.append(replace(task, estimate=seen.duration, memory=memory))
        m_sources.append(m_source)
    learned_graph = replace(graph, tasks=tuple(tasks)) if learned else graph
    return Estimates(learned_graph, tuple(learned_graph.estimates(default)), tuple(d_sources),
                     tuple(m_sources), warning)


def load_estimates(graph: TaskGraph, default: float, root: Path, memory_budget: int,
                   use: bool = True) -> Estimates:
    """`choose` with what the database under `root` knows (nothing when `use` is False).

    A database that cannot be read gives the file's estimates and a warning, never an error.
    """
    path = root / DATABASE
    learned: dict[tuple[str, str], Learned] = {}
    warning = None
    if use and path.exists():
        try:
            with History.open(path) as history:
                learned = history.learned([(t.name, command_key(t)) for t in graph.tasks])
        except HistoryError as error:
            warning = f"{error}; using the task file's estimates"
    return choose(graph, default, learned, memory_budget, warning)


def remember(graph: TaskGraph, document: Mapping[str, Any], root: Path) -> str | None:
    """Add a finished run's tasks (from its record) to the history; a warning if it cannot."""
    at = time.time()
    rows = {row["name"]: row for row in document["tasks"]}
    results = []
    for task in graph.tasks:
        row = rows.get(task.name)
        if row is None or row["start"] is None or row["end"] is None:
            continue
        results.append(Result(task.name, command_key(task), document["id"], at, row["status"],
                              row["end"] - row["start"], row["peak_rss"], row["attempts"]))
    try:
        with History.open(root / DATABASE) as history:
            history.add(document["id"], results)
    except HistoryError as error:
        return f"{error}; this run was not added to the history"
    return None
