"""`resources.detect`: the budgets of every front end (`Graph.run`, the patterns, the Executor,
the CLI) pass through it, so a pool below one slot or a negative memory budget is refused there,
once, naming the setting, before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from makespan import Graph, InputError
from makespan.resources import IO_PER_CORE, Resources, detect


@pytest.mark.parametrize(("settings", "field", "message"), [
    ({"workers": 0}, "workers", "must be at least 1, got 0"),
    ({"workers": -1}, "workers", "must be at least 1, got -1"),
    ({"workers": 2.5}, "workers", "expected a whole number, got 2.5"),
    ({"workers": True}, "workers", "expected a whole number, got True"),
    ({"io_workers": 0}, "io_workers", "must be at least 1, got 0"),
    ({"io_workers": "4"}, "io_workers", "expected a whole number, got '4'"),
    ({"memory": -1}, "memory", "must be at least 0, got -1"),
])
def test_detect_refuses_a_bad_setting_by_name(settings: dict[str, Any], field: str,
                                              message: str) -> None:
    with pytest.raises(InputError) as caught:
        detect(**settings)
    assert (caught.value.field, caught.value.message) == (field, message)
    assert str(caught.value) == f"field '{field}': {message}"


def test_detect_keeps_what_is_given_and_fills_in_the_rest() -> None:
    assert detect(1, 1, 0) == Resources(cpu=1, io=1, memory=0)
    filled = detect(workers=2)
    assert (filled.cpu, filled.io) == (2, 2 * IO_PER_CORE)
    assert filled.memory >= 0


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_graph_run_refuses_a_pool_below_one_before_any_task_runs(backend: str,
                                                                  tmp_path: Path) -> None:
    """On Dask too: refused before a cluster is started for the run."""
    ran: list[int] = []
    graph = Graph()
    graph.add(ran.append, 1, kind="io")
    with pytest.raises(InputError) as caught:
        graph.run(workers=0, root=tmp_path, backend=backend)
    assert str(caught.value) == "field 'workers': must be at least 1, got 0"  # not 'slots'
    assert ran == []
    assert not (tmp_path / ".makespan").exists()
