"""Typed configs: YAML + overrides, every problem reported at once."""

from __future__ import annotations

import pytest

from salt_vla.config import ConfigError, dump_yaml, from_dict, load_config
from salt_vla.train import TrainConfig


def test_yaml_with_overrides_and_scientific_notation(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("stage: teacher\noptim:\n  lr: 3e-4\n  warmup_steps: 10\n  betas: [0.9, 0.99]\nrun:\n  steps: 100\n")
    config = load_config(TrainConfig, path, ["optim.min_lr=1e-5", "data.args.num_videos=8", "run.out_dir=/tmp/x"])
    assert config.stage == "teacher" and config.optim.lr == 3e-4 and config.optim.min_lr == 1e-5
    assert config.optim.betas == (0.9, 0.99) and config.data.args == {"num_videos": 8}


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, {
            "optim": {"lr": "fast", "warmup_step": 10},
            "run": {"steps": 10, "precision": "bf61"},
            "stagee": "salt",
        })
    problems = info.value.problems
    assert any("optim.lr: expected a number, got 'fast'" in p for p in problems)
    assert any("optim.warmup_step: unknown key; did you mean 'warmup_steps'" in p for p in problems)
    assert any("run.precision: 'bf61' is not one of" in p and "did you mean 'bf16'" in p for p in problems)
    assert any("stagee: unknown key; did you mean 'stage'" in p for p in problems)
    # The range and consistency checks run in the same pass (a section with a mistyped field is skipped).
    assert "stage 'salt' needs targets: set teacher.name (live teacher) or data.latent_cache" in problems
    assert "optim.warmup_steps=500 exceeds run.steps=10" in problems
    assert len(problems) == 6


def test_semantic_checks_are_collected_too():
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, {"optim": {"lr": 1e-4, "min_lr": 1e-3, "warmup_steps": 50}, "run": {"steps": 10}})
    text = str(info.value)
    assert "min_lr=0.001 must lie in [0, lr=0.0001]" in text
    assert "stage 'salt' needs targets" in text
    assert "warmup_steps=50 exceeds run.steps=10" in text


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = from_dict(TrainConfig, {"teacher": {"name": "videomae_base"}, "optim": {"betas": [0.9, 0.95]}})
    path = tmp_path / "config.yaml"
    path.write_text(dump_yaml(config))
    assert load_config(TrainConfig, path) == config


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_config(TrainConfig, None, ["optim.lr"])
