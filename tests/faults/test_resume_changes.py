"""Resuming refuses a changed objective, and other changed settings unless --allow-config-change."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from salt_vla.cli import cli


def test_resume_refuses_another_cache_and_lists_other_changes(latent_caches, run_config, tmp_path) -> None:
    config = run_config("run", data={"latent_cache": str(latent_caches(0))}, run={"steps": 2})
    runner = CliRunner()
    assert runner.invoke(cli, ["train", str(config)]).exit_code == 0
    written = (tmp_path / "run" / "config.yaml").read_text()

    # Another teacher's cache: the checkpoint's weights learnt other targets. Refused even when changes are allowed.
    other = runner.invoke(cli, ["train", str(config), f"data.latent_cache={latent_caches(1)}", "optim.lr=2e-3",
                                "--allow-config-change"])
    assert other.exit_code == 2, other.output
    assert "changes what defines the model or its targets (2 changes)" in other.output
    assert "targets.teacher: was 'encoder_teacher-" in other.output
    assert "optim.lr: was 0.001, now 0.002" in other.output  # listed with it: every change in one message

    # The masks define the objective as well.
    masks = runner.invoke(cli, ["train", str(config), "masks.name=random_tube", "masks.args={ratio: 0.75}"])
    assert masks.exit_code == 2 and "masks.name: was 'multiblock_vjepa', now 'random_tube'" in masks.output, masks.output

    # Learning rate and length: listed and refused without the flag; config.yaml is left alone.
    changed = runner.invoke(cli, ["train", str(config), "optim.lr=2e-3", "run.steps=3"])
    assert changed.exit_code == 2, changed.output
    assert "with a changed configuration (2 changes)" in changed.output
    assert "optim.lr: was 0.001, now 0.002" in changed.output and "run.steps: was 2, now 3" in changed.output
    assert "--allow-config-change" in changed.output
    assert (tmp_path / "run" / "config.yaml").read_text() == written

    with pytest.warns(UserWarning, match=r"with 2 changed setting\(s\) \(--allow-config-change\): optim.lr: was"):
        allowed = runner.invoke(cli, ["train", str(config), "optim.lr=2e-3", "run.steps=3", "--allow-config-change"])
    assert allowed.exit_code == 0, allowed.output
    assert "Finished 3 steps" in allowed.output
    assert "lr: 0.002" in (tmp_path / "run" / "config.yaml").read_text()
