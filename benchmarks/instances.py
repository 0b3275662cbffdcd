"""Load the scheduling benchmark instances of `/work/shared/benchmarks/` as task graphs.

Three formats, one result: an `Instance` holding a `TaskGraph` of `Task(name, run="true",
estimate=duration, deps=...)`, the durations in graph order, and the known optimum per processor
count where there is one.

* STG (`stg/*/randNNNN.stg`, Kasahara's Standard Task Graph Set, "no communication" variant):
  task 0 and task N+1 are dummy entry and exit nodes of time 0; they are dropped, so every
  graph has exactly N real tasks. Optima come from `stg/optimal_schedule_lengths.csv` (50 and
  100 tasks; only the proven `optimum` column, never `upstream_value`) and
  `stg/stg300_bounds.csv` (300 tasks).
* WfCommons (`wfcommons/<family>/*.json`, WfFormat 1.5): the DAG from
  `workflow.specification.tasks` (`id`, `parents`), durations from
  `workflow.execution.tasks[].runtimeInSeconds`.
* Pegasus DAX 2.1 (`pegasus_dax/*.xml`): `<job id runtime>`, edges from `<child ref>` /
  `<parent ref>`.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from makespan.model import Task, TaskGraph

ROOT = Path("/work/shared/benchmarks")
DAX = "{http://pegasus.isi.edu/schema/DAX}"


@dataclass(frozen=True)
class Instance:
    name: str
    graph: TaskGraph
    durations: tuple[float, ...]
    optimum: dict[int, float] = field(default_factory=dict)
    """Proven optimal makespan per processor count, where one is known."""
    list_baseline: dict[int, float] = field(default_factory=dict)
    """STG only: the upstream table's critical-path list schedule with 200 perturbations."""


def build(tasks: list[tuple[str, float, list[str]]]) -> tuple[TaskGraph, tuple[float, ...]]:
    """A graph of no-op tasks from (name, duration, dependency names)."""
    graph = TaskGraph.build(
        Task(name, run="true", estimate=duration, deps=tuple(deps))
        for name, duration, deps in tasks
    )
    return graph, tuple(duration for _, duration, _ in tasks)


# ---------------------------------------------------------------------------------------- STG


def parse_stg(path: Path) -> tuple[TaskGraph, tuple[float, ...]]:
    """An STG file without its two dummy nodes; task names are the STG ids."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    tokens = " ".join(lines).split()
    n = int(tokens[0])
    values = iter(int(t) for t in tokens[1:])
    tasks: list[tuple[str, float, list[str]]] = []
    for _ in range(n + 2):
        task_id, time, count = next(values), next(values), next(values)
        preds = [next(values) for _ in range(count)]
        if 1 <= task_id <= n:
            deps = [str(p) for p in preds if p != 0]
            tasks.append((str(task_id), float(time), deps))
    return build(tasks)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def stg(sizes: tuple[str, ...] = ("50", "100")) -> Iterator[Instance]:
    """STG graphs of the given sizes with their proven optima (rows without one are skipped)."""
    optimum: dict[str, dict[int, float]] = {}
    baseline: dict[str, dict[int, float]] = {}
    for table in ("optimal_schedule_lengths.csv", "stg300_bounds.csv"):
        for row in _read_csv(ROOT / "stg" / table):
            p = int(row["P"])
            if row["optimum"]:
                optimum.setdefault(row["instance"], {})[p] = float(row["optimum"])
            if row.get("cp_list_schedule"):
                baseline.setdefault(row["instance"], {})[p] = float(row["cp_list_schedule"])
    for size in sizes:
        for path in sorted((ROOT / "stg" / size).glob("*.stg")):
            key = f"{size}/{path.name}"
            graph, durations = parse_stg(path)
            yield Instance(key, graph, durations, optimum.get(key, {}), baseline.get(key, {}))


# ----------------------------------------------------------------------------------- WfCommons


def parse_wfcommons(path: Path) -> tuple[TaskGraph, tuple[float, ...]]:
    workflow = json.loads(path.read_text())["workflow"]
    runtime = {t["id"]: float(t["runtimeInSeconds"]) for t in workflow["execution"]["tasks"]}
    return build([
        (t["id"], runtime[t["id"]], list(t["parents"]))
        for t in workflow["specification"]["tasks"]
    ])


def wfcommons() -> Iterator[Instance]:
    for path in sorted((ROOT / "wfcommons").glob("*/*.json")):
        graph, durations = parse_wfcommons(path)
        yield Instance(f"{path.parent.name}/{path.stem}", graph, durations)


# ------------------------------------------------------------------------------------- Pegasus


def parse_dax(path: Path) -> tuple[TaskGraph, tuple[float, ...]]:
    root = ET.parse(path).getroot()
    parents: dict[str, list[str]] = {}
    for child in root.iter(f"{DAX}child"):
        parents.setdefault(child.attrib["ref"], []).extend(
            p.attrib["ref"] for p in child.iter(f"{DAX}parent")
        )
    return build([
        (job.attrib["id"], float(job.attrib["runtime"]), parents.get(job.attrib["id"], []))
        for job in root.iter(f"{DAX}job")
    ])


def pegasus() -> Iterator[Instance]:
    for path in sorted((ROOT / "pegasus_dax").glob("*.xml")):
        graph, durations = parse_dax(path)
        yield Instance(path.stem, graph, durations)
