"""Pipeline: items flow through stages; stage 2 starts on the first chunk while stage 1 works on
later ones. The middle stage is I/O-bound, so it runs on threads beside the CPU stages.

    python examples/patterns/pipeline.py
"""

import time

from makespan import Stage, pipeline


def parse(line: str) -> list[int]:
    return [int(x) for x in line.split(",")]


def enrich(values: list[int]) -> list[int]:
    time.sleep(0.01)  # stands for a lookup over the network
    return [*values, sum(values)]


def render(values: list[int]) -> str:
    return " ".join(f"{v:>4}" for v in values)


if __name__ == "__main__":
    lines = [f"{i},{i + 1},{i + 2}" for i in range(200)]
    rows = pipeline(lines, parse, Stage(enrich, kind="io"), render, chunk=10)
    print(*rows[:3], sep="\n")
