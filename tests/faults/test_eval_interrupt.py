"""An interrupted evaluation keeps its finished episodes, writes a partial report, and a re-run continues."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from salt_vla_so101.cli import eval_policy_command
from salt_vla_so101.evaluator import SO101Evaluator
from salt_vla_so101.policies import HoldPolicy

from salt_vla.evaluation import EvalReport, read_episode_log
from salt_vla.robot import SO101_ACTION_NAMES, Observation

from .conftest import interrupt_when

pytestmark = pytest.mark.sim

EVAL = ["--policy", "scripted", "--episodes", "8", "--no-video", "--max-steps", "120"]


def rows(out: Path) -> int:
    log = out / "episodes.jsonl"
    return len(read_episode_log(log)[1]) if log.is_file() else 0


def outcomes(report: EvalReport) -> list[dict]:
    return [{k: v for k, v in e.to_dict().items() if k != "wall_time_s"} for e in report.episodes]


def test_ctrl_c_keeps_the_finished_episodes_and_a_rerun_continues_to_the_same_report(tmp_path) -> None:
    out = tmp_path / "eval"
    stopped = interrupt_when(["eval-policy", *EVAL, "--out", str(out)], lambda: rows(out) >= 2)
    assert stopped.returncode != 0
    done = rows(out)
    assert 2 <= done < 8
    partial = json.loads((out / "report.json").read_text())
    assert partial["partial"] is True and partial["planned"] == 8 and partial["stopped"] == "interrupted"
    assert len(partial["episodes"]) == done == partial["aggregates"]["episodes"]
    assert f"**Partial: {done} of 8 episodes** (interrupted)" in (out / "report.md").read_text()
    assert f"stopped after {done} of 8 episodes (interrupted)" in stopped.stderr
    kept = (out / "episodes.jsonl").read_text()

    rerun = CliRunner().invoke(eval_policy_command, [*EVAL, "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    assert (out / "episodes.jsonl").read_text().startswith(kept)  # appended to, not redone
    assert rows(out) == 8
    final = EvalReport.read(out)
    assert not final.partial and json.loads((out / "report.json").read_text())["partial"] is False
    reference = SO101Evaluator(max_steps=120).evaluate("scripted", 8, progress=False)
    assert outcomes(final) == outcomes(reference)
    assert final.aggregates["outcome_counts"] == reference.aggregates["outcome_counts"]

    # Other settings do not continue (or overwrite) an unfinished log: one error naming each difference.
    (out / "episodes.jsonl").write_text(kept)
    other = CliRunner().invoke(eval_policy_command, [*EVAL[:-1], "100", "--out", str(out)])
    assert other.exit_code == 2  # bad input: other settings
    assert f"holds {done} of 8 episodes of an interrupted evaluation with other settings" in other.output
    assert "task.max_steps: log 120, now 100" in other.output


def test_kill_9_loses_only_the_running_episodes(tmp_path) -> None:
    out = tmp_path / "eval"
    process = subprocess.Popen([sys.executable, "-m", "salt_vla", "eval-policy", *EVAL, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while rows(out) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    assert process.wait() == -signal.SIGKILL
    done = rows(out)
    assert 2 <= done < 8 and not (out / "report.json").exists()  # no chance to write a report, but nothing lost

    rerun = CliRunner().invoke(eval_policy_command, [*EVAL, "--out", str(out)])
    assert rerun.exit_code == 0, rerun.output
    assert rows(out) == 8 and len(EvalReport.read(out).episodes) == 8


class InterruptedPolicy(HoldPolicy):
    """Holds still; ``error`` (Ctrl-C's KeyboardInterrupt, or a crash that is not the policy's) arrives in episode ``at``."""

    def __init__(self, at: int, error: BaseException) -> None:
        super().__init__()
        self.at, self.error, self.episode = at, error, -1

    def reset(self) -> None:
        super().reset()
        self.episode += 1

    def act(self, observation: Observation) -> np.ndarray:
        if self.episode == self.at:
            raise self.error
        return super().act(observation)


@pytest.mark.parametrize(("error", "stopped"), [(KeyboardInterrupt(), "interrupted"),
                                                (SystemExit("killed by the job scheduler"),
                                                 "SystemExit: killed by the job scheduler")])
def test_the_api_writes_the_partial_report_on_interrupt_or_crash(tmp_path, error, stopped) -> None:
    evaluator = SO101Evaluator(max_steps=5)
    with pytest.raises(type(error)):
        evaluator.evaluate(InterruptedPolicy(at=2, error=error), 4, out_dir=tmp_path, progress=False, name="hold")
    partial = EvalReport.read(tmp_path)
    assert partial.partial and partial.stopped == stopped and [e.seed for e in partial.episodes] == [0, 1]
    finished = evaluator.evaluate(HoldPolicy(), 4, out_dir=tmp_path, progress=False, name="hold")
    assert [e.seed for e in finished.episodes] == [0, 1, 2, 3] and not finished.partial


class WildPolicy(HoldPolicy):
    """Holds still, but asks the shoulder for 1e9 degrees at steps 2 and 4."""

    action_names: Sequence[str] = SO101_ACTION_NAMES

    def reset(self) -> None:
        super().reset()
        self.t = 0

    def act(self, observation: Observation) -> np.ndarray:
        action = np.array(super().act(observation), dtype=np.float64)
        self.t += 1
        if self.t in (2, 4):
            action[1] = 1e9
        return action


def test_out_of_range_actions_are_counted_and_reported(tmp_path) -> None:
    report = SO101Evaluator(max_steps=6).evaluate(WildPolicy(), 1, out_dir=tmp_path, progress=False)
    episode = report.episodes[0]
    assert episode.clipped_actions == 2 and episode.max_clip_excess == pytest.approx(1e9, rel=1e-3)
    assert report.aggregates["episodes_with_clipped_actions"] == 1
    assert "2 action(s) clipped, up to 1e+09 past the range" in (tmp_path / "report.md").read_text()


def test_a_sweep_never_writes_two_policies_into_one_directory(tmp_path) -> None:
    evaluator = SO101Evaluator(max_steps=3)
    with pytest.raises(ValueError, match="got the policy 'hold' more than once"):
        evaluator.sweep(["hold", "hold"], 1, out_dir=tmp_path, progress=False)
    evaluator.sweep([HoldPolicy(), HoldPolicy()], 1, out_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["HoldPolicy", "HoldPolicy_2"]


def test_a_line_torn_by_a_kill_is_dropped_before_the_log_is_continued(tmp_path) -> None:
    from salt_vla.evaluation import EpisodeLog, EpisodeResult

    identity = {"policy": "hold", "episodes": 3}
    log = EpisodeLog.open(tmp_path, identity, [0, 1, 2])
    log.append(EpisodeResult(seed=0, outcome="timeout", steps=5, max_height=0.0))
    log.close()
    with open(tmp_path / "episodes.jsonl", "a") as handle:
        handle.write('{"seed": 1, "outco')  # the process died mid-write

    continued = EpisodeLog.open(tmp_path, identity, [0, 1, 2])
    assert sorted(continued.done) == [0]
    continued.append(EpisodeResult(seed=1, outcome="timeout", steps=5, max_height=0.0))
    continued.close()
    assert [r.seed for r in read_episode_log(tmp_path / "episodes.jsonl")[1]] == [0, 1]
