"""`salt-vla whiskers`: files and summary, the no-display message of --interactive, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner
from salt_vla_whiskers.cli import whiskers_command

from .conftest import LINUX_ONLY

TINY_ARGS = ["--steps", "6", "--every", "3", "--size", "64x80"]


def test_whiskers_writes_frames_video_metrics_and_plot(tmp_path) -> None:
    result = CliRunner().invoke(whiskers_command, ["--policy", "scripted", "--seed", "3", "--out", str(tmp_path),
                                                   "--samples", "2", *TINY_ARGS])
    assert result.exit_code == 0, result.output
    assert f"2 frames, whiskers.mp4, metrics.json and summary.png written to {tmp_path}" in result.output
    assert "mean spread 0 mm" in result.output
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["step_000000.png", "step_000003.png"]
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["seed"] == 3 and document["config"]["samples"] == 2 and document["config"]["size"] == [64, 80]


def test_whiskers_stop_once_success_settles_unless_full_episode(tmp_path) -> None:
    fast = ["--policy", "scripted", "--seed", "0", "--every", "100", "--size", "64x80"]
    result = CliRunner().invoke(whiskers_command, [*fast, "--out", str(tmp_path / "stopped")])
    assert result.exit_code == 0, result.output
    assert "3 frames" in result.output  # steps 0, 100 and 200 of the 214 the episode ran
    assert ("Success settled at step 214: the episode stopped there, as an evaluation's does (--full-episode "
            "runs all 400 steps).") in result.output
    assert json.loads((tmp_path / "stopped" / "metrics.json").read_text())["control_steps"] == 214
    full = CliRunner().invoke(whiskers_command, [*fast, "--full-episode", "--out", str(tmp_path / "full")])
    assert full.exit_code == 0, full.output
    assert "4 frames" in full.output and "Success settled" not in full.output
    document = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert document["control_steps"] == 400 and document["config"]["full_episode"] is True


@LINUX_ONLY
def test_interactive_without_a_display_says_so_and_still_writes_the_files(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = CliRunner().invoke(whiskers_command, ["--policy", "hold", "--out", str(tmp_path), "--interactive",
                                                   *TINY_ARGS])
    assert result.exit_code == 0, result.output
    assert "--interactive needs a display: no display (DISPLAY and WAYLAND_DISPLAY are unset" in result.output
    assert (tmp_path / "whiskers.mp4").exists()


def test_errors_name_the_value_and_the_choices(tmp_path) -> None:
    runner = CliRunner()
    result = runner.invoke(whiskers_command, ["--policy", "scriptd", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Did you mean 'scripted'?" in result.output
    result = runner.invoke(whiskers_command, ["--policy", "hold", "--out", str(tmp_path), "--size", "big"])
    assert result.exit_code == 2 and "expected HxW such as 240x320; got 'big'" in result.output
    result = runner.invoke(whiskers_command, ["--policy", "hold", "--out", str(tmp_path), "--camera", "side"])
    assert result.exit_code == 2 and "choose one of ['perspective', 'overhead_cam', 'wrist_cam']" in result.output
    result = runner.invoke(whiskers_command, ["--policy", "hold", "--out", str(tmp_path), "--samples", "0"])
    assert result.exit_code == 2 and "samples must be an int >= 1; got 0" in result.output
    assert not any(tmp_path.iterdir())


def test_the_salt_vla_program_has_the_command() -> None:
    env = {**os.environ, "SALT_VLA_PLUGINS": "so101,whiskers"}
    result = subprocess.run([sys.executable, "-m", "salt_vla", "whiskers", "--help"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--policy", "--seed", "--out", "--samples", "--every", "--steps", "--full-episode",
                   "--camera", "--size", "--interactive"):
        assert option in result.stdout
