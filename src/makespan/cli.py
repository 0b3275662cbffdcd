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
