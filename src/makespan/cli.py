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
from typing import TYPE_CHECKING

from makespan.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, InputError, MakespanError

if TYPE_CHECKING:
    from rich.console import Console

    from makespan.lint import Finding
    from makespan.model import TaskGraph
    from makespan.resources import Resources
    from makespan.taskfile import TaskFile


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
    run.add_argument("--json", action="store_true", help="print the run record as JSON")
    run.set_defaults(handler=_run)
    return parser


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


def _project(file: str | None, workers: int | None = None, tasks: Sequence[str] = ()
             ) -> _Project:
    from makespan import taskfile
    from makespan.resources import detect

    loaded = taskfile.load(file)
    graph = loaded.graph.select(tasks) if tasks else loaded.graph
    settings = loaded.settings
    resources = detect(workers or settings.workers, settings.io_workers, settings.memory)
    return _Project(loaded, graph, resources, graph.estimates(settings.default_estimate))


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(highlight=False, stderr=stderr)


def _plan(args: argparse.Namespace) -> int:
    project = _project(args.file)
    with _about(project):
        return _plan_project(project, args)


def _plan_project(project: _Project, args: argparse.Namespace) -> int:
    from makespan.plan import make_plan
    from makespan.render import print_plan

    plan = make_plan(project.graph, project.resources, project.file.settings.default_estimate,
                     max_workers=args.workers, optimize=args.optimize)
    findings = project.lint()
    if args.json:
        print(json.dumps({**plan.to_json(), "findings": [f.to_json() for f in findings]},
                         indent=2))
    else:
        print_plan(plan, findings, _console())
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
    project = _project(file, args.workers, names)
    with _about(project):
        return _run_project(project, args)


def _run_project(project: _Project, args: argparse.Namespace) -> int:
    from makespan.aftercheck import OutputWatcher
    from makespan.display import Display
    from makespan.engine import RunOptions
    from makespan.executors import OnDone
    from makespan.executors.commands import CommandExecutor
    from makespan.plan import order_for_run
    from makespan.reactor import Reactor
    from makespan.record import RunRecord
    from makespan.render import print_dry_run, print_findings, print_run_summary
    from makespan.resources import machine_memory_reserve
    from makespan.run import run_graph

    graph, resources, durations = project.graph, project.resources, project.durations
    console = _console(stderr=args.json)
    findings = project.lint()
    shown = [f for f in findings if f.level != "note"]
    if shown and not args.quiet:
        print_findings(shown, str(project.file.path), console)
    if _has_errors(findings) and not args.no_lint:
        console.print("makespan: lint found errors; fix them or pass --no-lint to run anyway")
        return EXIT_FAILED
    prediction = order_for_run(graph, resources, durations, args.optimize)
    if args.dry_run:
        print_dry_run(graph, prediction, console)
        return EXIT_OK
    estimates = dict(zip(graph.names(range(len(graph))), durations, strict=True))
    display = Display(console, estimates, prediction.makespan, quiet=args.quiet or args.json,
                      stream=args.output == "stream")
    sink = display.line if args.output == "stream" else None
    root = project.file.root

    def make_executor(reactor: Reactor, on_done: OnDone) -> CommandExecutor:
        return CommandExecutor(reactor, root, on_done, sink)

    options = RunOptions(keep_going=args.keep_going, memory_reserve=machine_memory_reserve())
    info = {"file": str(project.file.path), "findings": [f.to_json() for f in findings]}
    watcher = OutputWatcher(graph, root)

    def listen(record: RunRecord) -> None:
        watcher.attach(record)
        display.attach(record)

    try:
        result = run_graph(graph, resources, durations, prediction, make_executor, root,
                           options, listen=listen, info=info)
    finally:
        display.close()
    if args.json:
        print(json.dumps(result.document, indent=1))
    else:
        print_run_summary(result.document, console)
    return result.exit_code


def _split_targets(targets: list[str]) -> tuple[str | None, list[str]]:
    """`[FILE] [TASK ...]`: the first word is the file when it names one."""
    from pathlib import Path

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
