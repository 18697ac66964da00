"""Smaller faults: one pass of config problems, a misspelt plugin name, the step of a non-finite loss."""

from __future__ import annotations

from click.testing import CliRunner

from salt_vla.cli import cli

from .conftest import cli as run_cli


def test_type_and_range_errors_of_a_config_arrive_in_one_list(run_config) -> None:
    result = CliRunner().invoke(cli, ["train", str(run_config("run")), "run.steps=ten", "optim.min_lr=1",
                                      "data.batch_size=0"])
    assert result.exit_code == 2, result.output
    assert "3 problem(s)" in result.output
    for problem in ("run.steps: expected an integer, got 'ten'", "optim: min_lr=1.0 must lie in [0, lr=0.001]",
                    "data: batch_size must be >= 1, got 0"):
        assert problem in result.output, problem


def test_a_misspelt_plugin_name_in_salt_vla_plugins_is_reported() -> None:
    result = run_cli("plugins", "--kind", "evaluator", env={"SALT_VLA_PLUGINS": "so101,whiskrs"})
    assert result.returncode == 0, result.stderr
    assert ("warning: SALT_VLA_PLUGINS=so101,whiskrs names plugins that are not installed: whiskrs "
            "(did you mean 'whiskers'?)") in result.stderr
    assert "so101_pick_place" in result.stdout
