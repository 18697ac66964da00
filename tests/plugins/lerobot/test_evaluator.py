"""Tiny ACT and SmolVLA checkpoints complete SO-101 episodes in the real evaluator, and through the CLI."""

from __future__ import annotations

import json

import pytest

import salt_vla
from salt_vla.evaluation import Outcome
from salt_vla.robot import SO101_CAMERAS

from .conftest import IMAGE_SIZE, NO_LEROBOT

pytestmark = [pytest.mark.slow, pytest.mark.sim, pytest.mark.lerobot]
pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
pytest.importorskip("lerobot", reason=NO_LEROBOT)

MAX_STEPS = 10  # ACT's queue holds 4 actions: episodes end with actions left over, so reset() matters
OUTCOMES = {o.value for o in Outcome}


@pytest.fixture(scope="module")
def evaluator():
    return salt_vla.create_evaluator("so101_pick_place", image_size=IMAGE_SIZE, max_steps=MAX_STEPS)


def assert_ran_every_step(report, episodes: int, steps: int = MAX_STEPS) -> None:
    """One named outcome per episode, and the policy acted at every step (random weights never succeed early)."""
    assert len(report.episodes) == episodes
    for row in report.episodes:
        assert isinstance(row.outcome, Outcome) and row.outcome is not Outcome.POLICY_ERROR, row.message
        assert row.message == "" and not row.unstable and row.steps == steps
    assert sum(report.aggregates["outcome_counts"].values()) == episodes


@pytest.mark.parametrize("family", ["act", "smolvla"])
def test_tiny_policies_complete_episodes_in_the_evaluator(family, act_dir, smolvla_dir, evaluator, tmp_path):
    spec = f"{family}:{ {'act': act_dir, 'smolvla': smolvla_dir}[family]}"
    report = evaluator.evaluate(spec, episodes=2, seed=3, out_dir=tmp_path, progress=False)
    assert_ran_every_step(report, 2)
    assert [row.seed for row in report.episodes] == [3, 4] and report.policy == spec
    task = report.config["task"]
    assert task["cameras"] == list(SO101_CAMERAS) and task["render"] and task["image_size"] == list(IMAGE_SIZE)
    written = json.loads((tmp_path / "report.json").read_text())
    assert [row["outcome"] for row in written["episodes"]] == [row.outcome.value for row in report.episodes]
    assert set(written["aggregates"]["outcome_counts"]) == OUTCOMES


def test_a_mapped_depth_reading_policy_gets_exactly_its_cameras_rendered(tmp_path):
    """A checkpoint reading camera 'front' (RGB and depth), mapped onto overhead_cam: the evaluator renders
    overhead_cam with depth and nothing else, and the adapter finds both in every observation."""
    from salt_vla_lerobot.builders import build_act, so101_stats
    from salt_vla_so101.evaluator import SO101Evaluator

    cameras = ("front", "front_depth")
    directory = build_act(tmp_path / "rgbd", cameras=cameras, image_size=IMAGE_SIZE, chunk_size=4,
                          stats=so101_stats(cameras))
    policy = salt_vla.create_policy(f"act:{directory}", depth=True, camera_map={"front": "overhead_cam"})
    assert policy.camera_names == ("overhead_cam", "overhead_cam_depth")
    report = SO101Evaluator(image_size=IMAGE_SIZE, max_steps=6).evaluate(policy, episodes=1, progress=False)
    assert_ran_every_step(report, 1, steps=6)
    task = report.config["task"]
    assert task["cameras"] == ["overhead_cam"] and task["depth"] is True


def test_eval_policy_command_evaluates_an_act_checkpoint(act_dir, tmp_path):
    from click.testing import CliRunner
    from salt_vla_so101.cli import eval_policy_command

    out = tmp_path / "report"
    size = "x".join(map(str, IMAGE_SIZE))
    result = CliRunner().invoke(eval_policy_command, ["--policy", f"act:{act_dir}", "--episodes", "1", "--seed", "7",
                                                      "--max-steps", "6", "--image-size", size, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"`act:{act_dir}`" in result.output and f"Report written to {out}" in result.output
    document = json.loads((out / "report.json").read_text())
    (row,) = document["episodes"]
    assert row["seed"] == 7 and row["outcome"] in OUTCOMES - {"policy_error"} and row["steps"] == 6
