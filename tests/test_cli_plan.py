"""`makespan plan [FILE] [-j N] [--json]`, run in-process through `makespan.cli.main`."""

import json
import textwrap

import pytest

from makespan.cli import main
from run_helpers import idle_on_purpose_tasks

CONTRACT_KEYS = {
    "tasks", "edges", "work", "span", "critical_path", "stages", "max_speedup", "workers",
    "predicted", "recommended_workers", "findings",
}  # fmt: skip


def write(directory, text, name="makespan.toml"):
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def plan_json(capsys, *args):
    assert main(["plan", *args, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)


CHAIN = """
    [settings]
    workers = 4
    io_workers = 4
    memory = "1GiB"

    [tasks.a]
    run = "x"
    estimate = "2s"

    [tasks.b]
    run = "x"
    estimate = "3s"
    deps = ["a"]

    [tasks.c]
    run = "x"
    estimate = "1s"
    for_each = [1, 2, 3]
    deps = ["a"]

    [tasks.d]
    run = "x"
    estimate = "500ms"
    deps = ["b", "c"]
"""
# a(2) -> b(3) -> d(0.5), and a -> c[1..3](1 each) -> d: work 7.5, span 5.5


@pytest.fixture
def chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write(tmp_path, CHAIN)


# ---------------------------------------------------------------- --json


def test_json_has_every_contract_key(chain, capsys):
    assert plan_json(capsys).keys() >= CONTRACT_KEYS


def test_json_counts_tasks_and_edges_after_for_each(chain, capsys):
    result = plan_json(capsys)
    assert result["tasks"] == 6  # a, b, c[1], c[2], c[3], d
    assert result["edges"] == 1 + 3 + 1 + 3  # a->b, a->c[*], b->d, c[*]->d


def test_json_work_span_and_max_speedup_follow_the_estimates(chain, capsys):
    result = plan_json(capsys)
    assert result["work"] == pytest.approx(2 + 3 + 3 * 1 + 0.5)
    assert result["span"] == pytest.approx(2 + 3 + 0.5)
    assert result["max_speedup"] == pytest.approx(result["work"] / result["span"])


def test_json_critical_path_and_stages_are_task_names(chain, capsys):
    result = plan_json(capsys)
    assert result["critical_path"] == ["a", "b", "d"]
    assert result["stages"] == [["a"], ["b", "c[1]", "c[2]", "c[3]"], ["d"]]


def test_json_workers_come_from_settings_with_memory_in_bytes(chain, capsys):
    assert plan_json(capsys)["workers"] == {"cpu": 4, "io": 4, "memory": 2**30}


def test_json_predicts_one_entry_per_worker_count_up_to_j(chain, capsys):
    predicted = plan_json(capsys, "-j", "3")["predicted"]
    assert [p["workers"] for p in predicted] == [1, 2, 3]
    assert all({"workers", "makespan", "speedup", "efficiency"} <= p.keys() for p in predicted)


def test_json_predicts_up_to_the_configured_workers_without_j(chain, capsys):
    assert [p["workers"] for p in plan_json(capsys)["predicted"]] == [1, 2, 3, 4]


def test_predictions_respect_the_bounds_and_define_speedup_and_efficiency(chain, capsys):
    result = plan_json(capsys, "-j", "5")
    work, span = result["work"], result["span"]
    for p in result["predicted"]:
        workers, makespan = p["workers"], p["makespan"]
        assert max(span, work / workers) - 1e-9 <= makespan <= work / workers + span + 1e-9
        assert p["speedup"] == pytest.approx(work / makespan)
        assert p["efficiency"] == pytest.approx(p["speedup"] / workers)  # CPU tasks only


def test_one_worker_takes_all_the_work(chain, capsys):
    result = plan_json(capsys, "-j", "1")
    assert result["predicted"][0]["makespan"] == pytest.approx(result["work"])


def test_recommended_workers_is_one_of_the_predicted_counts(chain, capsys):
    result = plan_json(capsys, "-j", "6")
    assert result["recommended_workers"] in [p["workers"] for p in result["predicted"]]


def test_findings_is_a_list(chain, capsys):
    assert isinstance(plan_json(capsys)["findings"], list)


def test_unestimated_tasks_take_one_second_and_are_flagged(tmp_path, capsys):
    path = write(tmp_path, '[tasks.a]\nrun = "x"\nestimate = "3s"\n[tasks.b]\nrun = "x"\n')
    result = plan_json(capsys, str(path), "-j", "1")
    assert result["work"] == pytest.approx(3 + 1)
    assert result["unestimated"] == ["b"]


def test_settings_default_estimate_replaces_the_one_second(tmp_path, capsys):
    path = write(tmp_path, '[settings]\ndefault_estimate = "10s"\n[tasks.a]\nrun = "x"\n')
    result = plan_json(capsys, str(path), "-j", "1")
    assert result["work"] == pytest.approx(10)
    assert result["unestimated"] == ["a"]


def test_an_explicit_file_argument_is_used(tmp_path, capsys):
    path = write(tmp_path, '[tasks.only]\nrun = "x"\n', "other.toml")
    assert plan_json(capsys, str(path), "-j", "1")["critical_path"] == ["only"]


def test_pyproject_tool_makespan_is_found_in_the_current_directory(tmp_path, monkeypatch,
                                                                   capsys):
    write(tmp_path, '[project]\nname = "p"\n[tool.makespan.tasks.only]\nrun = "x"\n',
          "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    assert plan_json(capsys, "-j", "1")["critical_path"] == ["only"]


# ---------------------------------------------------------------- human summary


def test_the_summary_shows_totals_critical_path_stages_and_predictions(chain, capsys):
    assert main(["plan", "-j", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 tasks, 8 edges" in out
    assert "max speedup" in out
    lines = out.splitlines()
    chain = lines[lines.index("Critical path") + 1]
    assert [step.split()[0] for step in chain.split("→")] == ["a", "b", "d"]
    assert "Stages" in out
    assert "Predicted" in out
    assert "Recommended: -j" in out


def test_the_plan_says_where_it_holds_a_slot_idle_on_purpose(tmp_path, capsys):
    path = write(tmp_path, idle_on_purpose_tasks(lambda estimate: "x"))
    result = plan_json(capsys, str(path), "-j", "2")
    orders = [(p["workers"], p["makespan"], p["list_schedule"], p["order"])
              for p in result["predicted"]]
    assert orders == [(1, 7.0, 7.0, "priority"), (2, 4.0, 5.0, "strict sequence")]
    assert main(["plan", str(path), "-j", "2"]) == 0
    out = capsys.readouterr().out
    assert "* -j 2: a strict start sequence holds a slot idle on purpose (else 5.0s)" in out


def test_the_summary_warns_about_unestimated_tasks(tmp_path, capsys):
    path = write(tmp_path, '[tasks.a]\nrun = "x"\nestimate = 2\n[tasks.nolen]\nrun = "x"\n')
    assert main(["plan", str(path), "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 tasks have no estimate" in out
    assert "nolen" in out


# ---------------------------------------------------------------- bad input


def plan_fails(capsys, directory, text):
    """Run `plan` on `text`; check exit 2, one stderr line, no stdout, no traceback."""
    write(directory, text)
    code = main(["plan", str(directory / "makespan.toml"), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("makespan: error: ")
    assert sorted(p.name for p in directory.iterdir()) == ["makespan.toml"]
    return captured.err


def test_malformed_toml_names_file_line_and_column(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[tasks.a]\nrun = "x"\nkind = cpu\n')
    assert "makespan.toml" in err
    assert "malformed TOML" in err
    assert "line 3, column" in err


def test_unknown_key_names_file_task_field_and_suggestion(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[tasks.build]\nrun = "x"\nestimat = "1s"\n')
    assert "makespan.toml: task 'build': field 'estimat': " in err
    assert "did you mean 'estimate'?" in err


def test_unknown_dependency_names_the_task_and_suggests(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path,
                     '[tasks.build]\nrun = "x"\n[tasks.test]\nrun = "x"\ndeps = ["biuld"]\n')
    assert "makespan.toml: task 'test': field 'deps': " in err
    assert "'biuld'" in err
    assert "did you mean 'build'?" in err


def test_a_cycle_prints_the_cycle(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, """
        [tasks.a]
        run = "x"
        deps = ["b"]
        [tasks.b]
        run = "x"
        deps = ["c"]
        [tasks.c]
        run = "x"
        deps = ["a"]
    """)
    assert "makespan.toml: task 'a': field 'deps': " in err
    assert "a -> b -> c -> a" in err


def test_a_task_depending_on_itself_is_named(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[tasks.loop]\nrun = "x"\ndeps = ["loop"]\n')
    assert "makespan.toml: task 'loop': field 'deps': " in err


def test_a_duplicate_name_after_for_each_is_named(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[tasks.t]\nrun = "x"\nfor_each = ["a", "b", "a"]\n')
    assert "makespan.toml: task 't[a]': field 'name': duplicate" in err


def test_a_bad_kind_is_named(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[tasks.t]\nrun = "x"\nkind = "gpu"\n')
    assert "makespan.toml: task 't': field 'kind': " in err
    assert "'gpu'" in err


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('estimate = "-5s"', "estimate"),
        ('estimate = "fast"', "estimate"),
        ('timeout = "-1m"', "timeout"),
        ('memory = "-1MB"', "memory"),
        ('memory = "huge"', "memory"),
    ],
)
def test_a_negative_or_unreadable_duration_or_size_is_named(tmp_path, capsys, line, field):
    err = plan_fails(capsys, tmp_path, f'[tasks.t]\nrun = "x"\n{line}\n')
    assert f"makespan.toml: task 't': field '{field}': " in err
    assert line.split('"')[1] in err


def test_an_empty_run_is_named(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[tasks.t]\nrun = ""\n')
    assert "makespan.toml: task 't': field 'run': " in err


def test_a_bad_setting_is_named(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path, '[settings]\nworkers = -2\n[tasks.t]\nrun = "x"\n')
    assert "makespan.toml: field 'settings.workers': " in err


def test_no_task_file_found_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plan"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no task file found" in captured.err
    assert "makespan.toml" in captured.err


def test_a_missing_file_argument_is_exit_2(tmp_path, capsys):
    assert main(["plan", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["plan", "-j", "0"], ["plan", "-j", "many"], ["nosuch"], []])
def test_bad_usage_is_exit_2(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------- budgets and slots


def test_a_multi_slot_task_is_planned_when_the_pool_has_room(tmp_path, capsys):
    path = write(tmp_path, '[settings]\nworkers = 4\n[tasks.t]\nrun = "x"\nslots = 2\n')
    assert plan_json(capsys, str(path))["tasks"] == 1


def test_a_task_over_the_memory_budget_names_the_file(tmp_path, capsys):
    err = plan_fails(capsys, tmp_path,
                     '[settings]\nmemory = "1GB"\n[tasks.t]\nrun = "x"\nmemory = "2GB"\n')
    assert "makespan.toml: task 't': field 'memory': " in err
