"""The `salt-vla eval-policy` and `salt-vla record` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from salt_vla_so101.cli import eval_policy_command, record_command

from salt_vla import lerobot_compat

pytestmark = [pytest.mark.sim, pytest.mark.lerobot]


def test_eval_policy_end_to_end_through_the_salt_vla_program(tmp_path) -> None:
    out = tmp_path / "report"
    env = {**os.environ, "SALT_VLA_PLUGINS": "so101"}
    result = subprocess.run(
        [sys.executable, "-m", "salt_vla", "eval-policy", "--policy", "hold", "--episodes", "2", "--seed", "5",
         "--max-steps", "20", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "`hold`" in result.stdout and f"Report written to {out}; open {out / 'report.html'}" in result.stdout
    assert "so101_pick_place hold" in result.stderr  # the progress bar
    document = json.loads((out / "report.json").read_text())
    assert [e["seed"] for e in document["episodes"]] == [5, 6]
    assert document["aggregates"]["outcome_counts"]["never_picked_up"] == 2
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "outcomes.png", "report.html", "eval_info.json",
                                               "episodes.jsonl", "videos"}  # the first 2 episodes of each outcome


def test_eval_policy_errors_list_the_choices(tmp_path) -> None:
    result = CliRunner().invoke(eval_policy_command, ["--policy", "scriptd", "--episodes", "1", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "Did you mean 'scripted'?" in result.output and "hold" in result.output
    result = CliRunner().invoke(eval_policy_command, ["--policy", "hold", "--image-size", "big", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "expected HxW" in result.output


def test_eval_policy_sweep_writes_one_table(tmp_path) -> None:
    result = CliRunner().invoke(eval_policy_command, [
        "--policy", "hold", "--policy", "random", "--episodes", "1", "--max-steps", "10", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "sweep.md").read_text()
    assert "`hold`" in table and "`random`" in table


@pytest.mark.parametrize("absent", [("mujoco", "gymnasium", "lerobot"), ("lerobot",)])
def test_record_names_every_extra_it_needs_in_one_install_line(tmp_path, monkeypatch, absent) -> None:
    """On the core install (nothing of either extra) and with the sim extra only, `salt-vla record` names both
    extras and one line installing them, not one extra now and the other on the next try."""
    for module in absent:
        monkeypatch.setitem(sys.modules, module, None)  # what the import system reports for an absent package
    result = CliRunner().invoke(record_command, ["--episodes", "1", "--out", str(tmp_path / "data")])
    assert result.exit_code == 1, result.output
    assert (f"salt-vla record needs the sim and lerobot extras: {', '.join(absent)} "
            f"{'is' if len(absent) == 1 else 'are'} not installed. Install them with: "
            'pip install "salt-vla[sim,lerobot]"') in result.output
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_record_command_writes_a_dataset(tmp_path) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(record_command, [
        "--policy", "scripted", "--episodes", "1", "--max-steps", "10", "--image-size", "16x16", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Saved 1 of 1 episodes" in result.output
    assert lerobot_compat.load_dataset(out).num_frames == 10
    again = CliRunner().invoke(record_command, ["--episodes", "1", "--out", str(out)])
    assert again.exit_code == 2 and "exists" in again.output


@pytest.mark.slow
def test_record_is_quiet_shows_progress_and_takes_task_and_attempts(tmp_path):
    out = tmp_path / "data"
    env = {**os.environ, "SALT_VLA_PLUGINS": "so101"}
    result = subprocess.run(
        [sys.executable, "-m", "salt_vla", "record", "--episodes", "2", "--max-steps", "8", "--image-size", "16x16",
         "--out", str(out), "--task", "put the cube in the bowl"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Saved 2 of 2 episodes" in result.stdout
    assert "record scripted" in result.stderr and "2/2" in result.stderr  # the progress bar
    assert "libx264" not in result.stderr and "Map:" not in result.stderr  # no encoder statistics, no datasets bars
    other = [line for line in result.stderr.replace("\r", "\n").splitlines() if line and "record scripted" not in line]
    assert other == [], result.stderr  # the bar is all there is
    dataset = lerobot_compat.load_dataset(out)
    assert {dataset[i]["task"] for i in (0, dataset.num_frames - 1)} == {"put the cube in the bowl"}

    capped = CliRunner().invoke(record_command, [
        "--policy", "hold", "--episodes", "1", "--max-steps", "4", "--image-size", "16x16", "--out", str(tmp_path / "c"),
        "--keep-only-successes", "--max-attempts", "2"])
    assert capped.exit_code == 1
    assert "Only 0 of 1 episodes succeeded in 2 attempts" in capped.output and "--max-attempts" in capped.output
    assert not (tmp_path / "c").exists()
    fewer = CliRunner().invoke(record_command, ["--episodes", "3", "--max-attempts", "2", "--out", str(tmp_path / "f")])
    assert fewer.exit_code == 2 and "--max-attempts 2 is fewer than --episodes 3" in fewer.output


def test_video_names_are_the_ones_the_docs_give(tmp_path):
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "evaluation.md").read_text()
    umask = os.umask(0o022)  # the report and the videos are readable by others, as a plain open() makes them
    try:
        result = CliRunner().invoke(eval_policy_command, ["--policy", "hold", "--episodes", "1", "--seed", "5",
                                                          "--max-steps", "3", "--image-size", "16x16", "--video",
                                                          "--out", str(tmp_path)])
    finally:
        os.umask(umask)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "videos").iterdir()] == ["episode_000005.mp4"]
    for written in ("videos/episode_000005.mp4", "report.json", "report.md", "outcomes.png"):
        assert (tmp_path / written).stat().st_mode & 0o777 == 0o644, written
    assert "`videos/episode_000005.mp4`" in docs and "episode_<seed>.mp4" not in docs
