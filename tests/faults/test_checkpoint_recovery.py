"""A training run killed while it saves a checkpoint resumes from the previous one; nothing is wiped."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from salt_vla.cli import cli
from salt_vla.train.metrics import read_metrics

from .conftest import script

# Kill the real CLI with SIGKILL inside the second save (step 4), between the two renames of the atomic swap:
# ``last`` is already ``last.old`` and the new checkpoint still the hidden ``.last.*.tmp`` directory. (A kill
# while the new checkpoint is being written leaves the same ``.tmp`` directory, next to an intact ``last``.)
KILL_BETWEEN_RENAMES = """
import os, signal, sys
real = os.replace
def replace(src, dst, *args, **kwargs):
    real(src, dst, *args, **kwargs)
    if str(dst).endswith("last.old"):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
from salt_vla.cli import main
sys.argv = ["salt-vla", "train-teacher", CONFIG]
main()
"""


def losses(run: Path) -> list[tuple[int, float]]:
    return [(row["step"], row["train/loss"]) for row in read_metrics(run / "metrics.jsonl") if "train/loss" in row]


def test_a_run_killed_between_the_renames_of_a_save_resumes_from_the_previous_checkpoint(run_config, tmp_path):
    config = run_config("run", stage="teacher")
    killed = script(KILL_BETWEEN_RENAMES.replace("CONFIG", repr(str(config))))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    checkpoints = tmp_path / "run" / "checkpoints"
    before = losses(tmp_path / "run")
    assert [step for step, _ in before] == [1, 2, 3, 4]  # step 4 was logged, then its save was killed
    assert sorted(p.name for p in checkpoints.iterdir() if not p.name.startswith(".")) == ["last.old"]
    assert [p for p in checkpoints.iterdir() if p.name.endswith(".tmp")]  # the killed save's directory

    with pytest.warns(UserWarning, match="Checkpoint recovery"):
        result = CliRunner().invoke(cli, ["train-teacher", str(config)])
    assert result.exit_code == 0, result.output
    assert "Finished 4 steps" in result.output
    state = json.loads((checkpoints / "last" / "training_state" / "state.json").read_text())
    assert state["step"] == 4
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last"]  # no .old, no .tmp left
    # Resumed from the step-2 checkpoint (not from 0): steps 3 and 4 again, with the very same losses; the first
    # run's lines of steps 3 and 4 are set aside (kept, readable), so the log's steps never go back.
    assert losses(tmp_path / "run") == before
    superseded = [(row["step"], row["train/loss"]) for row in read_metrics(tmp_path / "run" / "metrics.superseded.jsonl")]
    assert superseded == before[2:]


def test_recovery_keeps_the_newest_complete_checkpoint(tmp_path) -> None:
    from salt_vla.train.state import recover_checkpoints

    for name in ("last", "last.old", "best.old", ".last.abc.tmp"):  # killed during the clean-up of `last`'s swap,
        (tmp_path / name).mkdir()                                     # and between the renames of `best`'s
        (tmp_path / name / "marker").write_text(name)
    actions = recover_checkpoints(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "last"]
    assert (tmp_path / "last" / "marker").read_text() == "last"  # the swapped-in checkpoint, not the old one
    assert (tmp_path / "best" / "marker").read_text() == "best.old"
    assert len(actions) == 3 and recover_checkpoints(tmp_path) == []
