"""Training data, caches, probes and statistics that used to be silently wrong (issue 34, round 2)."""

from __future__ import annotations

from click.testing import CliRunner

from salt_vla.cli import cli


def test_a_validation_cache_from_another_teacher_is_refused(latent_caches, run_config, tmp_path) -> None:
    data = {"latent_cache": str(latent_caches(0)), "val_args": {"num_videos": 8}}  # the same videos: a cache serves both
    run = {"val_every": 2, "steps": 2}
    other = run_config("other", data={**data, "val_latent_cache": str(latent_caches(1))}, run=run)
    result = CliRunner().invoke(cli, ["train", str(other), "stage=salt"])
    assert result.exit_code == 2, result.output
    assert f"Validation cache {latent_caches(1)} (data.val_latent_cache) does not match" in result.output
    assert "teacher: validation cache 'encoder_teacher-" in result.output
    assert f"teacher of the training cache {latent_caches(0)}" in result.output
    assert not (tmp_path / "other" / "checkpoints").exists()

    same = run_config("same", data={**data, "val_latent_cache": str(latent_caches(0))}, run=run)
    assert CliRunner().invoke(cli, ["train", str(same), "stage=salt"]).exit_code == 0
