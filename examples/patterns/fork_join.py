"""Fork-join: run independent subtasks (here, test suites) at once, then merge their results.

    python examples/patterns/fork_join.py
"""

import time

from makespan import fork_join


def run_suite(name: str, seconds: float) -> tuple[str, int]:
    time.sleep(seconds)  # stands for running the suite
    return name, 0


def report(results: list[tuple[str, int]]) -> str:
    failed = [name for name, code in results if code]
    return f"{len(results)} suites, {len(failed)} failed"


if __name__ == "__main__":
    suites = [(run_suite, "unit", 0.3), (run_suite, "integration", 0.6), (run_suite, "e2e", 0.4)]
    print(fork_join(suites, report, kind="io"))
