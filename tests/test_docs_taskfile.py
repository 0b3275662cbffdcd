"""The examples in docs/taskfile.md are valid task files."""

import re
from pathlib import Path

import pytest

from makespan.taskfile import load

DOC = Path(__file__).parent.parent / "docs" / "taskfile.md"
EXAMPLES = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.DOTALL)


def test_the_doc_has_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_loads(tmp_path, example):
    name = "pyproject.toml" if "[tool.makespan" in example else "makespan.toml"
    (tmp_path / name).write_text(example)
    assert len(load(tmp_path / name).graph) > 0
