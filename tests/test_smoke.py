from pathlib import Path

from makespan.cli import main

EXAMPLE = Path(__file__).parent.parent / "examples" / "devflow" / "makespan.toml"


def test_plan_runs_on_the_example(capsys):
    assert main(["plan", str(EXAMPLE), "--json"]) == 0
    assert '"critical_path"' in capsys.readouterr().out
