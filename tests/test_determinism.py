"""The same task file gives the same ids, order and plan under any PYTHONHASHSEED.

As CPython's graphlib tests do, each check runs in fresh interpreters with different hash seeds
and compares their outputs: string hashing (and so set and dict-of-set order) changes between
them, and nothing we print may.
"""

import os
import subprocess
import sys
import textwrap

import pytest

SEEDS = ("0", "1", "97", "4294967295")

# Names that hash differently under each seed, for_each groups, shared locks, both kinds,
# memory estimates and equal-length chains (ties the analysis and the scheduler must break).
TASKS = """
    [settings]
    workers = 3
    io_workers = 5
    memory = "4GiB"
    default_estimate = "2s"

    [tasks.setup]
    run = "true"
    kind = "io"
    estimate = "1s"

    [tasks.compile]
    run = "cc {item}.c"
    for_each = ["zeta", "alpha", "mu", "beta", "omega", "kappa"]
    deps = ["setup"]
    estimate = "3s"
    memory = "1GB"

    [tasks.gen]
    run = "gen {item}"
    for_each = ["x", "y", "z"]
    deps = ["setup"]
    estimate = "3s"
    locks = ["disk"]

    [tasks.docs]
    run = "sphinx"
    deps = ["setup"]
    locks = ["disk"]

    [tasks.test]
    run = "pytest -k {item}"
    for_each = ["alpha", "zeta", "mu"]
    deps = ["compile[{item}]", "gen"]
    estimate = "2s"

    [tasks.upload]
    run = ["upload", "--all"]
    kind = "io"
    deps = ["test", "docs", "compile"]
    estimate = "1s"
"""

INDEX_SCRIPT = """
import json, sys
from makespan.analysis import analyze
from makespan.taskfile import load
loaded = load(sys.argv[1])
graph = loaded.graph
analysis = analyze(graph, graph.estimates(loaded.settings.default_estimate))
print(json.dumps({
    "names": graph.names(range(len(graph))),
    "order": graph.order,
    "preds": graph.preds,
    "succs": graph.succs,
    "groups": list(graph.groups.items()),
    "critical_path": analysis.critical_path,
    "stages": analysis.stages,
}))
"""


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "makespan.toml"
    path.write_text(textwrap.dedent(TASKS))
    return path


def run_with_seed(seed, args, cwd):
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def outputs_per_seed(args, cwd):
    return {seed: run_with_seed(seed, args, cwd) for seed in SEEDS}


def test_the_seeds_really_change_string_hashing(tmp_path):
    hashes = outputs_per_seed(["-c", "print(hash('compile[alpha]'))"], tmp_path)
    assert len(set(hashes.values())) == len(SEEDS)


def test_ids_order_and_analysis_do_not_depend_on_the_hash_seed(task_file):
    outputs = outputs_per_seed(["-c", INDEX_SCRIPT, str(task_file)], task_file.parent)
    assert len(set(outputs.values())) == 1, outputs


def test_plan_json_does_not_depend_on_the_hash_seed(task_file):
    outputs = outputs_per_seed(["-m", "makespan", "plan", str(task_file), "--json"],
                               task_file.parent)
    assert len(set(outputs.values())) == 1, outputs


def test_plan_summary_does_not_depend_on_the_hash_seed(task_file):
    outputs = outputs_per_seed(["-m", "makespan", "plan", str(task_file), "-j", "4"],
                               task_file.parent)
    assert len(set(outputs.values())) == 1, outputs
