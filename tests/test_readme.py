"""The README keeps its contract: exactly two copy-paste commands, and an API tour that runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_exactly_two_commands_marked_for_ci():
    blocks = re.findall(r"<!-- ci:(\w+) -->\n```bash\n(.+?)\n```", README)
    assert [name for name, _ in blocks] == ["main", "test"]
    for _, command in blocks:
        assert "\n" not in command and command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert "salt-vla quickstart" in blocks[0][1] and "pytest" in blocks[1][1]


def test_api_tour_runs():
    tour = re.search(r"## API tour\n\n```python\n(.+?)\n```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(tour, "README.md", "exec"), namespace)
    assert namespace["loss"].ndim == 0 and namespace["loss"].requires_grad
    assert namespace["lr"](300) == 3e-4 and namespace["lr"](10_000) == 3e-5


def readme_commands() -> dict[str, list[str]]:
    """The `salt-vla ...` lines of the API tour's bash block, by subcommand (comments dropped)."""
    import shlex

    block = re.search(r"## API tour\n.+?```bash\n(.+?)\n```", README, re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("salt-vla ")]
    assert all(c[0] == "salt-vla" for c in commands)
    return {" ".join(c[1:3]) if c[1:3] == ["train", "--print-config"] else c[1]: c[1:] for c in commands}


def test_every_readme_command_is_one_this_test_runs():
    assert set(readme_commands()) == {"train --print-config", "train", "record", "eval-policy", "whiskers", "plugins"}


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.lerobot
def test_readme_commands_run(tmp_path, monkeypatch):
    """Each README command runs as written, in a directory holding what it names, with size flags appended to keep
    it to seconds (click and the config overrides take the last value given). Without CUDA, ``--device cpu`` is
    appended to the evaluation."""
    pytest.importorskip("mujoco")
    pytest.importorskip("lerobot")
    import json

    import torch
    import yaml
    from click.testing import CliRunner
    from salt_vla_lerobot.builders import build_act

    import salt_vla
    from salt_vla.cli import _add_plugin_commands, cli
    from salt_vla.data.write import write_videos

    _add_plugin_commands(cli)
    monkeypatch.chdir(tmp_path)
    commands = readme_commands()

    def run(name: str, *extra: str) -> str:
        result = CliRunner().invoke(cli, [*commands[name], *extra], catch_exceptions=False)
        assert result.exit_code == 0, (name, result.output)
        return result.output

    assert yaml.safe_load(run("train --print-config"))["student"]["name"] == "vit_base_patch16_t2"

    write_videos(salt_vla.create_dataset("synthetic_physics", num_videos=3, frames=4, size=64, video_frames=12),
                 tmp_path / "videos", progress=False)
    tiny = {"depth": 1, "embed_dim": 48, "num_heads": 3, "num_frames": 4, "img_size": 64}
    assert "Finished 2 steps" in run("train", "data.args.frames=4", "data.args.size=64", "data.batch_size=2",
                                     "data.num_workers=0", f"student.args={json.dumps(tiny)}",
                                     'teacher.args={"pretrained": null, "num_frames": 4, "image_size": 64}',
                                     "predictor.depth=1", "predictor.dim=32", "predictor.num_heads=2",
                                     "optim.warmup_steps=1", "run.steps=2", "run.progress=false")
    assert (tmp_path / "runs" / "my_videos" / "checkpoints" / "last").is_dir()

    assert "Saved 1 of 1 episodes" in run("record", "--episodes", "1", "--image-size", "16x16")

    build_act(tmp_path / "runs/act_cpu/train/checkpoints/last/pretrained_model", image_size=(16, 16), chunk_size=4)
    device = [] if torch.cuda.is_available() else ["--device", "cpu"]
    assert "Report written to eval" in run("eval-policy", "--episodes", "1", "--max-steps", "3",
                                            "--image-size", "16x16", *device)
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["config"]["policy"]["family"] == "act"

    run("whiskers", "--steps", "3", "--size", "32x32", "--image-size", "16x16")
    assert (tmp_path / "whiskers" / "metrics.json").is_file()
    assert "whiskers" in run("plugins")
