"""The `makespan` command: a thin edge over the library.

Each subcommand parses its arguments, calls the library and prints. Errors raised on purpose
carry their exit code (`makespan.errors`); none of them reaches the user as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from makespan.errors import EXIT_BAD_INPUT, EXIT_OK, MakespanError


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
    run.add_argument("--json", action="store_true", help="print the run record as JSON")
    run.set_defaults(handler=_run)
    return parser


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


def _plan(args: argparse.Namespace) -> int:
    from makespan import taskfile
    from makespan.plan import make_plan
    from makespan.resources import detect

    loaded = taskfile.load(args.file)
    settings = loaded.settings
    resources = detect(settings.workers, settings.io_workers, settings.memory)
    plan = make_plan(loaded.graph, resources, settings.default_estimate,
                     max_workers=args.workers, optimize=args.optimize)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
    else:
        from rich.console import Console

        from makespan.render import print_plan

        print_plan(plan, Console(highlight=False))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from makespan import taskfile
    from makespan.display import Display
    from makespan.engine import RunOptions
    from makespan.executors import OnDone
    from makespan.executors.commands import CommandExecutor
    from makespan.plan import order_for_run
    from makespan.reactor import Reactor
    from makespan.render import print_dry_run, print_run_summary
    from makespan.resources import detect, machine_memory_reserve
    from makespan.run import run_graph

    file, names = _split_targets(args.targets)
    loaded = taskfile.load(file)
    graph = loaded.graph.select(names) if names else loaded.graph
    settings = loaded.settings
    resources = detect(args.workers or settings.workers, settings.io_workers, settings.memory)
    durations = graph.estimates(settings.default_estimate)
    console = Console(highlight=False, stderr=args.json)
    prediction = order_for_run(graph, resources, durations, args.optimize)
    if args.dry_run:
        print_dry_run(graph, prediction, console)
        return EXIT_OK
    estimates = dict(zip(graph.names(range(len(graph))), durations, strict=True))
    display = Display(console, estimates, prediction.makespan, quiet=args.quiet or args.json,
                      stream=args.output == "stream")
    sink = display.line if args.output == "stream" else None

    def make_executor(reactor: Reactor, on_done: OnDone) -> CommandExecutor:
        return CommandExecutor(reactor, loaded.root, on_done, sink)

    options = RunOptions(keep_going=args.keep_going, memory_reserve=machine_memory_reserve())
    try:
        result = run_graph(graph, resources, durations, prediction, make_executor, loaded.root,
                           options, listen=display.attach, info={"file": str(loaded.path)})
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
