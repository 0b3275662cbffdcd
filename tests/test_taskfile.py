"""Reading task files: every key, for_each, settings, pyproject.toml, and bad input."""

import textwrap

import pytest

from makespan.errors import InputError
from makespan.model import Task
from makespan.taskfile import Settings, find_task_file, load


def write(directory, text, name="makespan.toml"):
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def load_text(directory, text, name="makespan.toml"):
    return load(write(directory, text, name))


def task(loaded, name):
    return loaded.graph.tasks[loaded.graph.index[name]]


def load_error(directory, text, name="makespan.toml"):
    with pytest.raises(InputError) as caught:
        load_text(directory, text, name)
    return caught.value


# ---------------------------------------------------------------- every key


def test_every_task_key_is_parsed_into_its_type(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.build]
        run = "make"

        [tasks.test]
        run = "pytest tests/unit"
        deps = ["build"]
        kind = "io"
        slots = 2
        memory = "300MB"
        estimate = "1m30s"
        inputs = ["src/**/*.py"]
        outputs = ["build/unit.xml"]
        locks = ["db"]
        timeout = "10m"
        retries = 3
        cwd = "sub"
        env = { MODE = "fast", LEVEL = 2 }
        ignore = ["MS101"]
    """)
    assert task(loaded, "test") == Task(
        name="test",
        run="pytest tests/unit",
        deps=("build",),
        kind="io",
        slots=2,
        memory=300 * 10**6,
        estimate=90.0,
        inputs=("src/**/*.py",),
        outputs=("build/unit.xml",),
        locks=("db",),
        timeout=600.0,
        retries=3,
        cwd="sub",
        env=(("MODE", "fast"), ("LEVEL", "2")),
        ignore=("MS101",),
    )


def test_only_run_is_required_and_the_rest_has_defaults(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.a]
        run = "echo"
    """)
    assert task(loaded, "a") == Task(name="a", run="echo")
    assert loaded.settings == Settings()


def test_a_run_string_is_kept_as_one_shell_command(tmp_path):
    loaded = load_text(tmp_path, '[tasks.a]\nrun = "echo a && echo b"\n')
    assert task(loaded, "a").run == "echo a && echo b"


def test_a_run_array_is_kept_as_an_argument_vector(tmp_path):
    loaded = load_text(tmp_path, '[tasks.a]\nrun = ["python", "-c", "print(1)"]\n')
    assert task(loaded, "a").run == ("python", "-c", "print(1)")


@pytest.mark.parametrize(
    ("written", "seconds"),
    [('"250ms"', 0.25), ('"45s"', 45), ('"1m30s"', 90), ('"2h"', 7200), ("12", 12), ("0.5", 0.5)],
)
def test_estimates_accept_units_and_plain_seconds(tmp_path, written, seconds):
    loaded = load_text(tmp_path, f'[tasks.a]\nrun = "x"\nestimate = {written}\n')
    assert task(loaded, "a").estimate == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("written", "size"), [('"300MB"', 300 * 10**6), ('"2GiB"', 2 * 2**30), ("4096", 4096)]
)
def test_memory_accepts_units_and_plain_bytes(tmp_path, written, size):
    loaded = load_text(tmp_path, f'[tasks.a]\nrun = "x"\nmemory = {written}\n')
    assert task(loaded, "a").memory == size


def test_tasks_get_ids_in_file_order(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.zeta]
        run = "z"
        [tasks.alpha]
        run = "a"
        deps = ["zeta"]
        [tasks.mid]
        run = "m"
    """)
    assert loaded.graph.names(range(3)) == ["zeta", "alpha", "mid"]


# ---------------------------------------------------------------- settings


def test_settings_are_parsed(tmp_path):
    loaded = load_text(tmp_path, """
        [settings]
        workers = 4
        io_workers = 12
        memory = "16GiB"
        default_estimate = "2s"

        [tasks.a]
        run = "x"
    """)
    assert loaded.settings == Settings(
        workers=4, io_workers=12, memory=16 * 2**30, default_estimate=2.0
    )


def test_the_default_estimate_is_one_second_unless_set(tmp_path):
    loaded = load_text(tmp_path, '[tasks.a]\nrun = "x"\n')
    assert loaded.settings.default_estimate == 1.0


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("workers = 0", "settings.workers", "at least 1"),
        ("io_workers = 1.5", "settings.io_workers", "whole number"),
        ('memory = "lots"', "settings.memory", "as a size"),
        ('default_estimate = "-1s"', "settings.default_estimate", ">= 0"),
        ("wrkers = 2", "settings.wrkers", "did you mean 'workers'?"),
    ],
)
def test_bad_settings_are_named(tmp_path, line, field, message):
    error = load_error(tmp_path, f'[settings]\n{line}\n[tasks.a]\nrun = "x"\n')
    assert error.field == field
    assert error.task is None
    assert message in error.message


# ---------------------------------------------------------------- for_each


def test_for_each_makes_one_task_per_item_named_after_it(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.lint]
        run = "ruff check {item}"
        for_each = ["src", "tests", 3]
    """)
    assert loaded.graph.names(range(3)) == ["lint[src]", "lint[tests]", "lint[3]"]
    assert [t.run for t in loaded.graph.tasks] == [
        "ruff check src", "ruff check tests", "ruff check 3"
    ]
    assert all(t.group == "lint" for t in loaded.graph.tasks)


def test_for_each_substitutes_item_in_run_cwd_inputs_outputs_and_deps(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.fetch]
        run = "get {item}"
        for_each = ["core"]

        [tasks.build]
        run = ["make", "-C", "{item}"]
        for_each = ["core"]
        deps = ["fetch[{item}]"]
        cwd = "mods/{item}"
        inputs = ["{item}/**/*.c"]
        outputs = ["out/{item}.so"]
    """)
    built = task(loaded, "build[core]")
    assert built.run == ("make", "-C", "core")
    assert built.deps == ("fetch[core]",)
    assert built.cwd == "mods/core"
    assert built.inputs == ("core/**/*.c",)
    assert built.outputs == ("out/core.so",)
    assert loaded.graph.preds[loaded.graph.index["build[core]"]] == (
        loaded.graph.index["fetch[core]"],
    )


def test_for_each_copies_the_other_keys_to_every_expansion(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.shard]
        run = "pytest --shard {item}"
        for_each = [1, 2]
        kind = "io"
        estimate = "3s"
        memory = "1GB"
        locks = ["db"]
        env = { SHARD = "all" }
    """)
    for shard in loaded.graph.tasks:
        assert (shard.kind, shard.estimate, shard.memory) == ("io", 3.0, 10**9)
        assert (shard.locks, shard.env) == (("db",), (("SHARD", "all"),))


def test_a_dependency_on_a_for_each_name_means_all_its_expansions(tmp_path):
    loaded = load_text(tmp_path, """
        [tasks.build]
        run = "make {item}"
        for_each = ["a", "b", "c"]

        [tasks.test]
        run = "pytest"
        deps = ["build"]
    """)
    graph = loaded.graph
    assert graph.names(graph.preds[graph.index["test"]]) == ["build[a]", "build[b]", "build[c]"]


# ---------------------------------------------------------------- pyproject.toml and FILE


PYPROJECT = """
    [project]
    name = "demo"

    [tool.makespan.settings]
    workers = 3

    [tool.makespan.tasks.build]
    run = "make {item}"
    for_each = ["x", "y"]
    estimate = "45s"

    [tool.makespan.tasks.test]
    run = "pytest"
    deps = ["build"]
"""


def test_pyproject_tool_makespan_works_like_a_task_file(tmp_path):
    loaded = load_text(tmp_path, PYPROJECT, "pyproject.toml")
    assert loaded.settings.workers == 3
    assert loaded.graph.names(range(3)) == ["build[x]", "build[y]", "test"]
    assert task(loaded, "build[y]").estimate == 45.0


def test_file_defaults_to_makespan_toml_in_the_current_directory(tmp_path, monkeypatch):
    write(tmp_path, PYPROJECT, "pyproject.toml")
    write(tmp_path, '[tasks.only]\nrun = "x"\n')
    monkeypatch.chdir(tmp_path)
    loaded = load()
    assert loaded.path.name == "makespan.toml"
    assert loaded.graph.names(range(len(loaded.graph))) == ["only"]


def test_file_falls_back_to_pyproject_with_tool_makespan(tmp_path, monkeypatch):
    write(tmp_path, PYPROJECT, "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    assert load().path.name == "pyproject.toml"


def test_a_directory_argument_is_searched_like_the_current_directory(tmp_path):
    write(tmp_path, PYPROJECT, "pyproject.toml")
    assert find_task_file(tmp_path).name == "pyproject.toml"
    assert load(tmp_path).path.name == "pyproject.toml"


def test_a_pyproject_without_tool_makespan_is_not_a_task_file(tmp_path, monkeypatch):
    write(tmp_path, '[project]\nname = "demo"\n', "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="no task file found") as caught:
        load()
    assert "makespan.toml" in caught.value.message
    assert "[tool.makespan]" in caught.value.message


def test_no_task_file_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="no task file found"):
        load()


def test_a_named_pyproject_without_the_table_is_named_in_the_error(tmp_path):
    error = load_error(tmp_path, '[project]\nname = "demo"\n', "pyproject.toml")
    assert error.file.endswith("pyproject.toml")
    assert "[tool.makespan]" in error.message


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"task file not found: .*nope\.toml"):
        load(tmp_path / "nope.toml")


# ---------------------------------------------------------------- bad input


def test_malformed_toml_gives_the_parsers_line_and_column(tmp_path):
    error = load_error(tmp_path, '[tasks.a]\nrun = "x"\nestimate = \n')
    assert error.file.endswith("makespan.toml")
    assert "malformed TOML" in error.message
    assert "line 3, column" in error.message


def test_every_error_from_the_file_names_the_file(tmp_path):
    error = load_error(tmp_path, '[tasks.a]\nrun = "x"\nkind = "gpu"\n')
    assert error.file == str(tmp_path / "makespan.toml")
    assert str(error).startswith(f"{tmp_path / 'makespan.toml'}: task 'a': field 'kind': ")


def test_an_unknown_task_key_suggests_the_close_one(tmp_path):
    error = load_error(tmp_path, '[tasks.a]\nrun = "x"\ndpes = []\n')
    assert (error.task, error.field) == ("a", "dpes")
    assert "did you mean 'deps'?" in error.message


def test_an_unknown_top_level_table_suggests_the_close_one(tmp_path):
    error = load_error(tmp_path, '[task.a]\nrun = "x"\n')
    assert error.field == "task"
    assert "did you mean 'tasks'?" in error.message


def test_an_unknown_dependency_suggests_the_close_task(tmp_path):
    error = load_error(tmp_path, """
        [tasks.build]
        run = "make"
        [tasks.test]
        run = "pytest"
        deps = ["biuld"]
    """)
    assert (error.task, error.field) == ("test", "deps")
    assert "'biuld'" in error.message
    assert "did you mean 'build'?" in error.message


def test_a_cycle_is_printed_as_a_chain(tmp_path):
    error = load_error(tmp_path, """
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
    assert (error.task, error.field) == ("a", "deps")
    assert "a -> b -> c -> a" in error.message


def test_a_task_depending_on_itself_is_named(tmp_path):
    error = load_error(tmp_path, '[tasks.a]\nrun = "x"\ndeps = ["a"]\n')
    assert (error.task, error.field) == ("a", "deps")
    assert "itself" in error.message


def test_a_for_each_depending_on_its_own_name_depends_on_itself(tmp_path):
    error = load_error(tmp_path, '[tasks.a]\nrun = "x"\nfor_each = [1, 2]\ndeps = ["a"]\n')
    assert (error.task, error.field) == ("a[1]", "deps")
    assert "itself" in error.message


def test_a_repeated_for_each_item_is_a_duplicate_name(tmp_path):
    error = load_error(tmp_path, '[tasks.a]\nrun = "x {item}"\nfor_each = ["p", "p"]\n')
    assert (error.task, error.field) == ("a[p]", "name")
    assert "duplicate" in error.message


def test_an_expansion_clashing_with_a_task_is_a_duplicate_name(tmp_path):
    error = load_error(tmp_path, """
        [tasks.a]
        run = "x {item}"
        for_each = ["p"]
        [tasks."a[p]"]
        run = "y"
    """)
    assert (error.task, error.field) == ("a[p]", "name")
    assert "duplicate" in error.message


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('kind = "gpu"', "kind", "unknown kind 'gpu'"),
        ('estimate = "-5s"', "estimate", ">= 0"),
        ("estimate = -5", "estimate", ">= 0"),
        ('estimate = "soon"', "estimate", "as a duration"),
        ('timeout = "-1m"', "timeout", ">= 0"),
        ('timeout = "0s"', "timeout", "longer than 0"),
        ('timeout = "later"', "timeout", "as a duration"),
        ('memory = "-1MB"', "memory", ">= 0"),
        ("memory = -1", "memory", ">= 0"),
        ('memory = "lots"', "memory", "as a size"),
        ("slots = 0", "slots", "at least 1"),
        ("retries = -1", "retries", ">= 0"),
        ("retries = true", "retries", "whole number"),
        ('deps = "build"', "deps", "list of strings"),
        ("inputs = [1]", "inputs", "list of strings"),
        ("cwd = 3", "cwd", "string"),
        ('env = "A=1"', "env", "table"),
        ("env = { A = true }", "env", "string or a number"),
        ("for_each = []", "for_each", "non-empty"),
        ("for_each = [true]", "for_each", "strings or numbers"),
    ],
)
def test_a_bad_field_value_names_task_and_field(tmp_path, line, field, message):
    error = load_error(tmp_path, f'[tasks.job]\nrun = "x"\n{line}\n')
    assert (error.task, error.field) == ("job", field)
    assert message in error.message


@pytest.mark.parametrize("run", ['""', '"   "', "[]", '[""]', '["ls", 1]', "3"])
def test_an_empty_or_malformed_run_is_rejected(tmp_path, run):
    error = load_error(tmp_path, f"[tasks.job]\nrun = {run}\n")
    assert (error.task, error.field) == ("job", "run")


def test_a_missing_run_is_named(tmp_path):
    error = load_error(tmp_path, '[tasks.job]\nestimate = "1s"\n')
    assert (error.task, error.field) == ("job", "run")
    assert "missing 'run'" in error.message


def test_a_file_without_tasks_is_rejected(tmp_path):
    error = load_error(tmp_path, "[settings]\nworkers = 2\n")
    assert error.field == "tasks"
    assert "no tasks" in error.message


def test_a_task_that_is_not_a_table_is_named(tmp_path):
    error = load_error(tmp_path, '[tasks]\njob = "make"\n')
    assert error.task == "job"
    assert "must be a table" in error.message


def test_an_integer_too_large_for_a_float_is_an_input_error(tmp_path):
    error = load_error(tmp_path, f'[tasks.job]\nrun = "x"\nestimate = {"9" * 400}\n')
    assert (error.task, error.field) == ("job", "estimate")


def test_an_unknown_ignore_code_is_bad_input(tmp_path):
    path = tmp_path / "makespan.toml"
    path.write_text('[tasks.t]\nrun = "x"\nignore = ["MS999", "MS30"]\n')
    with pytest.raises(InputError) as error:
        load(path)
    assert "task 't': field 'ignore': unknown finding code 'MS999'" in str(error.value)
