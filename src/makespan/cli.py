"""The `makespan` command: a thin edge over the library.

Each subcommand parses its arguments, calls the library and prints. Errors raised on purpose
carry their exit code (`makespan.errors`); none of them reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from makespan.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, InputError, MakespanError
from makespan.history import DATABASE
from makespan.record import LAST_RUN

if TYPE_CHECKING:
    from rich.console import Console

    from makespan.history import Estimates
    from makespan.lint import Finding
    from makespan.model import TaskGraph
    from makespan.resources import Resources
    from makespan.run import RunResult
    from makespan.taskfile import TaskFile

BENCH_SVG = Path(".makespan") / "bench.svg"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="makespan",
        description="Plan, lint, run and measure parallel work.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="analyse the graph and predict its makespan")
    plan.add_argument("file", nargs="?", help="task file (default: makespan.toml, pyproject.toml)")
    plan.add_argument("-j", "--workers", type=_positive, help="predict for 1..N CPU workers")
    plan.add_argument("--optimize", type=_seconds, default=1.0, metavar="SECONDS",
                      help="time budget for searching a better order (0: off; default 1)")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    _add_no_history(plan)
    plan.set_defaults(handler=_plan)

    lint = commands.add_parser("lint", help="find parallelization anti-patterns")
    lint.add_argument("file", nargs="?", help="task file (default: makespan.toml, pyproject.toml)")
    lint.add_argument("-j", "--workers", type=_positive, help="CPU slots to check against")
    _add_code_filters(lint)
    lint.add_argument("--json", action="store_true", help="print the findings as JSON")
    lint.set_defaults(handler=_lint)

    run = commands.add_parser("run", help="run the graph, critical path first")
    run.add_argument("targets", nargs="*", metavar="[FILE] [TASK ...]",
                     help="task file, then the tasks to run (with what they need)")
    run.add_argument("-j", "--workers", type=_positive, help="CPU slots (default: settings)")
    run.add_argument("-k", "--keep-going", action="store_true",
                     help="after a failure, run everything that does not depend on it")
    run.add_argument("--output", choices=("grouped", "stream"), default="grouped",
                     help="print each task's output as one block (default) or line by line")
    run.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary")
    run.add_argument("--dry-run", action="store_true",
                     help="print the order and predicted start times; run nothing")
    run.add_argument("--optimize", type=_seconds, default=1.0, metavar="SECONDS",
                     help="time budget for searching a better order (0: off; default 1)")
    run.add_argument("--no-lint", action="store_true", help="run even if lint finds errors")
    run.add_argument("--backend", choices=("local", "dask"), default="local",
                     help="where tasks run: this machine, or a Dask cluster")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler address (default: start a LocalCluster)")
    run.add_argument("--json", action="store_true", help="print the run record as JSON")
    run.add_argument("--report", metavar="FILE.html", help="write the HTML report at the end")
    _add_no_history(run)
    run.set_defaults(handler=_run)

    report = commands.add_parser("report", help="summary, HTML timeline or trace of a run")
    report.add_argument("record", nargs="?", default=str(LAST_RUN),
                        help=f"run record (default: {LAST_RUN})")
    report.add_argument("--json", action="store_true", help="print the record as JSON")
    report.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    report.add_argument("--trace", metavar="FILE",
                        help="write Chrome trace-event JSON (Perfetto, chrome://tracing)")
    report.add_argument("--speedup", metavar="SVG",
                        help="show this speedup curve (from makespan bench) in the HTML report")
    report.set_defaults(handler=_report)

    history = commands.add_parser("history", help="what past runs taught about each task")
    history.add_argument("task", nargs="?", help="list this task's past runs")
    history.add_argument("--db", default=str(DATABASE),
                         help=f"history database (default: {DATABASE})")
    history.set_defaults(handler=_history)

    bench = commands.add_parser("bench", help="measure the speedup at several worker counts")
    bench.add_argument("file", nargs="?", help="task file (default: makespan.toml, pyproject.toml)")
    bench.add_argument("-j", "--workers", type=_counts, default=(1, 2, 4), metavar="N,N,...",
                       help="worker counts to measure (default: 1,2,4)")
    bench.add_argument("--repeat", type=_positive, default=1,
                       help="runs per worker count; the median wall time counts (default: 1)")
    bench.add_argument("--svg", default=str(BENCH_SVG),
                       help=f"where to write the speedup curve (default: {BENCH_SVG})")
    bench.add_argument("--optimize", type=_seconds, default=1.0, metavar="SECONDS",
                       help="time budget for searching a better order (0: off; default 1)")
    bench.add_argument("--json", action="store_true", help="print the measurements as JSON")
    _add_no_history(bench)
    bench.set_defaults(handler=_bench)
    return parser


def _add_no_history(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-history", dest="history", action="store_false",
                        help="ignore (and do not add to) the learned estimates of past runs")


def _add_code_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select", type=_codes, default=(), metavar="CODES",
                        help="only these codes or prefixes, comma-separated (e.g. MS1,MS201)")
    parser.add_argument("--ignore", type=_codes, default=(), metavar="CODES",
                        help="skip these codes or prefixes, comma-separated")


def _codes(text: str) -> tuple[str, ...]:
    from makespan.codes import CODES

    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    for code in codes:
        if not any(known.startswith(code) for known in CODES):
            raise argparse.ArgumentTypeError(f"unknown lint code {code!r} (see docs/lint.md)")
    return codes


def _counts(text: str) -> tuple[int, ...]:
    return tuple(_positive(part) for part in text.split(","))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class _Project:
    """A loaded task file with the budgets and estimates every command starts from."""

    file: TaskFile
    graph: TaskGraph
    resources: Resources
    durations: list[float]
    estimates: Estimates

    def lint(self, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[Finding]:
        from makespan.lint import lint, machine_context

        settings = self.file.settings
        context = machine_context(self.graph, self.durations, self.resources,
                                  settings.memory is not None, settings.io_workers is not None)
        return lint(context, select, ignore)


@contextmanager
def _about(project: _Project) -> Iterator[None]:
    """Attribute errors found after loading (budgets, planning) to the task file."""
    try:
        yield
    except InputError as error:
        if error.file is not None:
            raise
        raise error.located(str(project.file.path)) from None


def _project(file: str | None, workers: int | None = None, tasks: Sequence[str] = (),
             history: bool = True) -> _Project:
    """The task file with its budgets, and learned estimates in place of its own (`history`)."""
    from makespan import taskfile
    from makespan.history import load_estimates
    from makespan.resources import detect

    loaded = taskfile.load(file)
    graph = loaded.graph.select(tasks) if tasks else loaded.graph
    settings = loaded.settings
    resources = detect(workers or settings.workers, settings.io_workers, settings.memory)
    estimates = load_estimates(graph, settings.default_estimate, loaded.root, resources.memory,
                               history)
    _warn(estimates.warning)
    return _Project(loaded, estimates.graph, resources, list(estimates.durations), estimates)


def _warn(warning: str | None) -> None:
    if warning:
        print(f"makespan: warning: {warning}", file=sys.stderr)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(highlight=False, stderr=stderr)


def _plan(args: argparse.Namespace) -> int:
    project = _project(args.file, history=args.history)
    with _about(project):
        return _plan_project(project, args)


def _plan_project(project: _Project, args: argparse.Namespace) -> int:
    from makespan.plan import make_plan
    from makespan.render import print_plan

    plan = make_plan(project.graph, project.resources, project.file.settings.default_estimate,
                     max_workers=args.workers, optimize=args.optimize)
    findings = project.lint()
    if args.json:
        print(json.dumps({**plan.to_json(), "estimates": project.estimates.to_json(),
                          "findings": [f.to_json() for f in findings]}, indent=2))
    else:
        print_plan(plan, findings, _console(), project.estimates)
    return EXIT_OK


def _lint(args: argparse.Namespace) -> int:
    from makespan.render import print_findings

    project = _project(args.file, args.workers)
    with _about(project):
        findings = project.lint(args.select, args.ignore)
    if args.json:
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        print_findings(findings, str(project.file.path), _console())
    return EXIT_FAILED if _has_errors(findings) else EXIT_OK


def _has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def _run(args: argparse.Namespace) -> int:
    file, names = _split_targets(args.targets)
    project = _project(file, args.workers, names, args.history)
    from makespan.run import frozen_heap

    with _about(project), frozen_heap():
        return _run_project(project, args)


def _run_project(project: _Project, args: argparse.Namespace) -> int:
    from makespan.plan import order_for_run
    from makespan.render import print_dry_run, print_findings

    console = _console(stderr=args.json)
    findings = project.lint()
    shown = [f for f in findings if f.level != "note"]
    if shown and not args.quiet:
        print_findings(shown, str(project.file.path), console)
    if _has_errors(findings) and not args.no_lint:
        console.print("makespan: lint found errors; fix them or pass --no-lint to run anyway")
        return EXIT_FAILED
    if args.dry_run:
        prediction = order_for_run(project.graph, project.resources, project.durations,
                                   args.optimize)
        print_dry_run(project.graph, prediction, console)
        return EXIT_OK
    info = {"file": str(project.file.path), "findings": [f.to_json() for f in findings],
            "estimates": project.estimates.counts()}
    if args.backend == "dask":
        from makespan.executors.dask import cluster_resources, session

        with session(None, args.scheduler, args.workers) as client:
            resources = cluster_resources(client, project.graph, args.workers,
                                          project.file.settings.memory)
            info.update(backend="dask", scheduler=str(client.scheduler.address))
            return _execute(project, args, console, resources, info, client)
    return _execute(project, args, console, project.resources, info, None)


def _execute(project: _Project, args: argparse.Namespace, console: Console,
             resources: Resources, info: dict[str, Any], client: Any) -> int:
    """Run the project's graph with a live display and print the summary."""
    from makespan.aftercheck import OutputWatcher
    from makespan.display import Display
    from makespan.engine import RunOptions
    from makespan.executors import Executor, OnDone
    from makespan.executors.commands import CommandExecutor
    from makespan.plan import order_for_run
    from makespan.reactor import Reactor
    from makespan.record import RunRecord
    from makespan.render import print_run_summary
    from makespan.resources import machine_memory_reserve
    from makespan.run import run_graph

    graph, durations, root = project.graph, project.durations, project.file.root
    prediction = order_for_run(graph, resources, durations, args.optimize)
    estimates = dict(zip(graph.names(range(len(graph))), durations, strict=True))
    display = Display(console, estimates, prediction.makespan, quiet=args.quiet or args.json,
                      stream=args.output == "stream")
    sink = display.line if args.output == "stream" else None

    def make_executor(reactor: Reactor, on_done: OnDone) -> Executor:
        if client is not None:
            from makespan.executors.dask import DaskExecutor

            return DaskExecutor(reactor, on_done, client, str(root), prediction.position,
                                graph, resources)
        return CommandExecutor(reactor, root, on_done, sink)

    options = RunOptions(keep_going=args.keep_going,
                         memory_reserve=0 if client is not None else machine_memory_reserve())
    watcher = OutputWatcher(graph, root)

    def listen(record: RunRecord) -> None:
        watcher.attach(record)
        display.attach(record)

    try:
        result = run_graph(graph, resources, durations, prediction, make_executor, root,
                           options, listen=listen, info=info)
    finally:
        display.close()
    if args.history:
        _remember(graph, result.document, root)
    if args.json:
        print(json.dumps(result.document, indent=1))
    else:
        print_run_summary(result.document, console)
    if args.report:
        _write_html(args.report, result.document, None)
    return result.exit_code


def _remember(graph: TaskGraph, document: dict[str, Any], root: Path) -> None:
    """Add a finished run to the history (after its record is written: never at its cost)."""
    from makespan.history import remember

    _warn(remember(graph, document, root))


def _write_html(file: str, document: dict[str, Any], speedup: str | None) -> None:
    from makespan.report_html import render

    speedup_svg = _read_text(speedup) if speedup else None
    _write_text(file, render(document, speedup_svg))


def _read_text(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {file}: {error}") from None


def _write_text(file: str, text: str) -> None:
    try:
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        Path(file).write_text(text, encoding="utf-8")
    except OSError as error:
        raise MakespanError(f"cannot write {file}: {error.strerror}") from None
    print(f"makespan: wrote {file}", file=sys.stderr)


def _report(args: argparse.Namespace) -> int:
    from makespan.record import read_record
    from makespan.render import print_run_summary
    from makespan.trace import trace

    try:
        document = read_record(Path(args.record))
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read the run record {args.record}: {error} "
                         "(`makespan run` writes one)") from None
    if args.json:
        print(json.dumps(document, indent=1))
    else:
        print_run_summary(document, _console())
    if args.html:
        _write_html(args.html, document, args.speedup)
    if args.trace:
        _write_text(args.trace, json.dumps(trace(document), separators=(",", ":")))
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from makespan.history import History
    from makespan.render import print_history, print_task_history

    path = Path(args.db)
    if not path.exists():
        print(f"No history yet ({path}): every `makespan run` adds to it.")
        return EXIT_OK
    with History.open(path) as history:
        if args.task:
            print_task_history(args.task, history.results(args.task), _console())
        else:
            print_history(history.summaries(), _console())
    return EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    project = _project(args.file, history=args.history)
    with _about(project):
        return _bench_project(project, args)


def _bench_project(project: _Project, args: argparse.Namespace) -> int:
    from makespan.bench import bench, speedup_svg
    from makespan.render import print_bench
    from makespan.resources import detect

    def resources(workers: int) -> Resources:
        return detect(workers, project.file.settings.io_workers, project.resources.memory)

    def after_run(graph: TaskGraph, result: RunResult) -> None:
        if args.history:
            _remember(graph, result.document, project.file.root)

    result = bench(project.graph, project.durations, resources, args.workers, args.repeat,
                   project.file.root, args.optimize, after_run)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print_bench(result, _console())
    _write_text(args.svg, speedup_svg(result))
    return EXIT_OK


def _split_targets(targets: list[str]) -> tuple[str | None, list[str]]:
    """`[FILE] [TASK ...]`: the first word is the file when it names one."""
    if targets and (targets[0].endswith(".toml") or Path(targets[0]).is_file()
                    or Path(targets[0]).is_dir()):
        return targets[0], targets[1:]
    return None, targets


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `makespan` console script; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_BAD_INPUT
    try:
        code: int = args.handler(args)
    except MakespanError as error:
        print(f"makespan: error: {error}", file=sys.stderr)
        return error.exit_code
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
