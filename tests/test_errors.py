"""One-line error messages that name the file, the task and the field (`makespan.errors`)."""

from makespan.errors import EXIT_BAD_INPUT, InputError, MakespanError, did_you_mean


def test_an_input_error_names_file_task_and_field_in_one_line():
    error = InputError("bad value", file="makespan.toml", task="build", field="kind")
    assert str(error) == "makespan.toml: task 'build': field 'kind': bad value"


def test_an_input_error_without_a_location_is_just_the_message():
    assert str(InputError("no task file found")) == "no task file found"


def test_located_adds_the_file_and_keeps_task_and_field():
    error = InputError("bad", task="a", field="deps").located("tasks.toml")
    assert (error.file, error.task, error.field) == ("tasks.toml", "a", "deps")
    assert str(error).startswith("tasks.toml: task 'a'")


def test_bad_input_carries_exit_code_2():
    assert InputError("x").exit_code == EXIT_BAD_INPUT == 2
    assert MakespanError("x").exit_code != EXIT_BAD_INPUT


def test_did_you_mean_suggests_a_close_name_only():
    assert did_you_mean("dpes", ["run", "deps"]) == " (did you mean 'deps'?)"
    assert did_you_mean("xyz", ["run", "deps"]) == ""
