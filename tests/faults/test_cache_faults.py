"""A damaged or mismatched latent cache is refused before training, with every problem in one message."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from salt_vla.cli import cli


def test_a_flipped_byte_in_a_shard_stops_training_naming_the_shard(latent_caches, run_config, tmp_path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(latent_caches(0), cache)
    shard = cache / "shards" / "00000.bin"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit: same size, so only the checksum can tell
    shard.write_bytes(bytes(data))
    config = run_config("run", data={"latent_cache": str(cache)})

    result = CliRunner().invoke(cli, ["train", str(config)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ")
    assert "1 shard(s) failed their checksum: shards/00000.bin" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before the first step

    # The documented escape hatch for caches too large to hash at every start: skip the check.
    skipped = CliRunner().invoke(cli, ["train", str(config), "data.skip_cache_verify=true", "run.steps=1"])
    assert skipped.exit_code == 0, skipped.output


def test_every_mismatch_of_cache_and_run_is_listed_at_once(latent_caches, run_config) -> None:
    config = run_config("run", data={"latent_cache": str(latent_caches(0)), "latent_dtype": "bfloat16",
                                     "latent_teacher": "encoder_teacher-0123"},
                        student={"args": {"patch_size": 16}})
    result = CliRunner().invoke(cli, ["train", str(config), "data.args.num_videos=6"])
    assert result.exit_code == 2, result.output
    assert "does not match (5 differences)" in result.output
    for line in ("dataset.num_videos: cache 8, run 6", "grid: cache [2, 4, 4], run [2, 2, 2]",
                 "dtype: cache 'float16', run 'bfloat16'", "teacher: cache 'encoder_teacher-"):
        assert line in result.output, line

