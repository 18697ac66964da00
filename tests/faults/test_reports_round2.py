"""Evaluation reports that say what they are: the settings behind a paired comparison, partial and clipped-action
markers on every page, and a few videos per outcome by default (issue 34, round 2)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from salt_vla_so101.cli import eval_policy_command
from salt_vla_so101.evaluator import SO101Evaluator, video_seeds
from salt_vla_so101.policies import HoldPolicy

import salt_vla
from salt_vla import plugins
from salt_vla.cli import cli
from salt_vla.evaluation import EpisodeResult, EvalReport
from salt_vla.robot import SO101_ACTION_NAMES, Observation

pytestmark = pytest.mark.sim


def evaluate(out: Path, *options: str) -> Path:
    """``salt-vla eval-policy`` of the scripted expert on 2 short physics-only episodes into ``out``."""
    result = CliRunner().invoke(eval_policy_command, ["--policy", "scripted", "--episodes", "2", "--out", str(out),
                                                      "--no-video", *options])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same policy on the same seeds at 250 and 150 steps, and at another image size (about 2 s)."""
    root = tmp_path_factory.mktemp("reports")
    return {"250": evaluate(root / "s250", "--max-steps", "250"),
            "150": evaluate(root / "s150", "--max-steps", "150"),
            "image": evaluate(root / "image", "--max-steps", "250", "--image-size", "16x24")}


def compare(*args: str) -> object:
    return CliRunner().invoke(cli, ["compare", *args])


def test_compare_refuses_reports_made_under_other_settings_naming_each_difference(reports, tmp_path) -> None:
    recorded = json.loads((reports["250"] / "report.json").read_text())["config"]["settings"]
    assert recorded["task.max_steps"] == 250 and recorded["task.image_size"] == [240, 320]
    assert recorded["task.control_hz"] == 30.0 and recorded["task.cameras"] == []  # physics only: none rendered
    assert len(recorded["task.sha256"]) == 64 and len(recorded["thresholds.sha256"]) == 64

    out = tmp_path / "c"
    result = compare(str(reports["250"]), str(reports["150"]), "--name", "a", "--name", "b", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "different task settings" in result.output and "'b' vs 'a': task.max_steps: 150 vs 250" in result.output
    assert "--allow-different-settings" in result.output and not out.exists()
    other = compare(str(reports["250"]), str(reports["image"]), "--name", "a", "--name", "b", "--out", str(out))
    assert other.exit_code == 2 and "task.image_size: [16, 24] vs [240, 320]" in other.output

    allowed = compare(str(reports["250"]), str(reports["150"]), "--name", "a", "--name", "b", "--out", str(out),
                      "--allow-different-settings")
    assert allowed.exit_code == 0, allowed.output
    markdown = (out / "compare.md").read_text().splitlines()
    assert markdown[2].startswith("**Settings differ between the arms**") and "task.max_steps: 150 vs 250" in markdown[2]
    document = json.loads((out / "compare.json").read_text())
    assert document["settings"]["allowed_different_settings"] is True
    assert document["settings"]["differences"] == ["'b' vs 'a': task.max_steps: 150 vs 250"]


def test_reports_without_recorded_settings_are_compared_with_a_note(reports, tmp_path) -> None:
    # A report of this version's evaluator written before settings were recorded: derived from its task config.
    old = tmp_path / "old"
    old.mkdir()
    data = json.loads((reports["150"] / "report.json").read_text())
    del data["config"]["settings"]
    (old / "report.json").write_text(json.dumps(data))
    result = compare(str(reports["250"]), str(old), "--name", "a", "--name", "b", "--out", str(tmp_path / "c"))
    assert result.exit_code == 2 and "task.max_steps: 150 vs 250" in result.output

    # A report without any task config (another evaluator, an older schema): compared, with a note.
    data["config"] = {}
    (old / "report.json").write_text(json.dumps(data))
    out = tmp_path / "c2"
    result = compare(str(reports["250"]), str(old), "--name", "a", "--name", "b", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "settings of b could not be checked" in result.output
    assert "The settings of `b` could not be checked" in (out / "compare.md").read_text()
    assert json.loads((out / "compare.json").read_text())["settings"] == {
        "checked": False, "unchecked_arms": ["b"], "allowed_different_settings": False, "differences": []}
    assert EvalReport.read(old).config == {}


def test_compare_reports_api_refuses_and_allows(reports) -> None:
    from salt_vla.paired import compare_reports

    loaded = [EvalReport.read(reports["250"]), EvalReport.read(reports["150"])]
    with pytest.raises(ValueError, match=r"'b' vs 'a': task.max_steps: 150 vs 250"):
        compare_reports(loaded, names=["a", "b"])
    allowed = compare_reports(loaded, names=["a", "b"], allow_different_settings=True)
    assert allowed.settings_differences == ["'b' vs 'a': task.max_steps: 150 vs 250"]


class WildPolicy(HoldPolicy):
    """Holds still, but asks the shoulder for 1e9 degrees at every step."""

    action_names: Sequence[str] = SO101_ACTION_NAMES

    def act(self, observation: Observation) -> np.ndarray:
        action = np.array(super().act(observation), dtype=np.float64)
        action[1] = 1e9
        return action


class Stopped(HoldPolicy):
    """Holds still; Ctrl-C (KeyboardInterrupt) arrives in the second episode."""

    def __init__(self) -> None:
        super().__init__()
        self.episode = -1

    def reset(self) -> None:
        super().reset()
        self.episode += 1

    def act(self, observation: Observation) -> np.ndarray:
        if self.episode == 1:
            raise KeyboardInterrupt
        return super().act(observation)


def test_a_partial_evaluation_is_marked_in_report_html_and_eval_info(tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):
        SO101Evaluator(max_steps=5).evaluate(Stopped(), 3, out_dir=tmp_path, progress=False, name="hold")
    page = (tmp_path / "report.html").read_text()
    assert '<p class="partial" data-planned="3"><b>Partial: 1 of 3 episodes</b> (interrupted)' in page
    info = json.loads((tmp_path / "eval_info.json").read_text())
    assert info["partial"] is True and info["n_planned_episodes"] == 3 and info["stopped"] == "interrupted"
    assert info["overall"]["n_episodes"] == 1

    finished = SO101Evaluator(max_steps=5).evaluate(HoldPolicy(), 3, out_dir=tmp_path, progress=False, name="hold")
    assert not finished.partial and 'class="partial"' not in (tmp_path / "report.html").read_text()
    info = json.loads((tmp_path / "eval_info.json").read_text())
    assert info["partial"] is False and info["n_planned_episodes"] == 3 and info["stopped"] == ""


def test_clipped_actions_are_on_the_report_page_and_the_console(tmp_path) -> None:
    class Plugin:
        @salt_vla.hookimpl
        def register_policies(self, register):
            register("wild", lambda source=None, **kwargs: WildPolicy(), description="asks for 1e9 degrees")

    with plugins.registered(Plugin(), "wild_policy"):
        result = CliRunner().invoke(eval_policy_command, ["--policy", "wild", "--episodes", "1", "--max-steps", "300",
                                                          "--no-video", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| clipped actions |" in result.output and "| 300 in 1 episode |" in result.output
    page = (tmp_path / "report.html").read_text()
    assert '<td class="num" data-metric="clipped_actions">300 in 1 episode</td>' in page
    assert '<p class="note">300 action(s) clipped, up to 1e+09 past the range.' in page


def test_report_html_shows_a_few_videos_per_outcome_by_default(tmp_path) -> None:
    run = ["--policy", "hold", "--episodes", "3", "--max-steps", "20", "--image-size", "16x24"]
    result = CliRunner().invoke(eval_policy_command, [*run, "--out", str(tmp_path / "default")])
    assert result.exit_code == 0, result.output
    report = EvalReport.read(tmp_path / "default")
    assert [e.outcome.value for e in report.episodes] == ["never_picked_up"] * 3
    assert [Path(e.video).name if e.video else None for e in report.episodes] == [
        "episode_000000.mp4", "episode_000001.mp4", None]  # the first 2 of the outcome
    assert sorted(p.name for p in (tmp_path / "default" / "videos").iterdir()) == [
        "episode_000000.mp4", "episode_000001.mp4"]
    assert all(e.message == "" for e in report.episodes)  # the replays ended as the episodes did
    page = (tmp_path / "default" / "report.html").read_text()
    assert page.count('<video controls') == 2 and page.count("no video recorded") == 1
    assert report.config["video"] is None and report.config["videos_per_outcome"] == 2
    assert report.config["video_replay_s"] > 0

    for flag, videos in (("--no-video", 0), ("--video", 3)):
        result = CliRunner().invoke(eval_policy_command, [*run, flag, "--out", str(tmp_path / flag)])
        assert result.exit_code == 0, result.output
        assert sum(e.video is not None for e in EvalReport.read(tmp_path / flag).episodes) == videos
    result = CliRunner().invoke(eval_policy_command, [*run, "--videos-per-outcome", "1", "--out", str(tmp_path / "one")])
    assert [e.seed for e in EvalReport.read(tmp_path / "one").episodes if e.video] == [0]


def test_video_seeds_are_the_first_of_each_outcome() -> None:
    outcomes = ["timeout", "success", "success", "timeout", "success", "missed_goal", "timeout"]
    rows = [EpisodeResult(seed=10 + i, outcome=o, steps=5, max_height=0.0) for i, o in enumerate(outcomes)]
    assert video_seeds(rows[::-1], 2) == [10, 11, 12, 13, 15]
    assert video_seeds(rows, 0) == []
