"""The CLI prints the library's errors as one `Error:` block (exit 2 bad input, 1 failure); --debug shows more."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from salt_vla.cli import cli

from .conftest import cli as run_cli


def test_the_real_program_prints_an_error_block_and_the_traceback_only_when_asked(tmp_path) -> None:
    offline = {"HF_HUB_OFFLINE": "1", "SALT_VLA_DEBUG": ""}
    plain = run_cli("pull", "nobody/nothing", str(tmp_path / "out"), env=offline)
    assert plain.returncode == 2, plain.stderr
    assert plain.stderr.startswith("Error: Cannot get hf-hub:nobody/nothing: HF_HUB_OFFLINE is set")
    assert "run with --debug or SALT_VLA_DEBUG=1 for the traceback" in plain.stderr
    assert "Traceback" not in plain.stderr

    flag = CliRunner().invoke(cli, ["--debug", "pull", "nobody/nothing", str(tmp_path / "out")])
    assert flag.exit_code == 2
    assert "Traceback (most recent call last)" in flag.output and "WeightSourceError" in flag.output
    variable = CliRunner(env={"SALT_VLA_DEBUG": "1"}).invoke(cli, ["pull", "nobody/nothing", str(tmp_path / "out")])
    assert variable.exit_code == 2 and "Traceback (most recent call last)" in variable.output


def test_training_errors_are_error_blocks_with_the_exit_code_of_their_kind(run_config, tmp_path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["train", str(run_config("run")), f"data.latent_cache={tmp_path / 'nowhere'}"])
    assert missing.exit_code == 2, missing.output
    assert missing.output.startswith(f"Error: {tmp_path / 'nowhere'} is not a salt-vla cache: metadata.json is missing.")
    assert "(FileNotFoundError; run with --debug" in missing.output

    probe = runner.invoke(cli, ["probe", str(tmp_path / "no_checkpoint")])
    assert probe.exit_code == 2 and probe.output.startswith("Error: "), probe.output
    assert "Traceback" not in probe.output


def test_a_pickle_payload_in_training_state_is_refused_naming_the_file(run_config, tmp_path) -> None:
    config = run_config("run", stage="teacher", run={"steps": 2})
    runner = CliRunner()
    assert runner.invoke(cli, ["train-teacher", str(config)]).exit_code == 0
    rng = tmp_path / "run" / "checkpoints" / "last" / "training_state" / "rng.pt"
    torch.save({"payload": subprocess.Popen}, rng)  # an object the weights-only loader must not build

    result = runner.invoke(cli, ["train-teacher", str(config), "run.steps=2"])
    assert result.exit_code == 2, result.output
    assert f"Error: {rng} holds more than tensors and numbers, and is not loaded" in result.output


@pytest.mark.skipif(shutil.which("unshare") is None or not sys.platform.startswith("linux"),
                    reason="needs unshare to mount a tiny tmpfs without root")
def test_a_full_disk_while_checkpointing_says_so_and_names_the_checkpoint(tmp_path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    code = f"""
import torch
from salt_vla.io import atomic_directory
with atomic_directory({str(disk / 'checkpoints' / 'last')!r}) as tmp:
    torch.save({{"exp_avg": torch.zeros(1 << 18)}}, tmp / "optimizer.pt")  # 1 MiB on a 256 KiB disk
"""
    mount = f"mount -t tmpfs -o size=256k none {disk} || exit 77; exec {sys.executable} -c \"$0\""
    result = subprocess.run(["unshare", "-rm", "sh", "-c", mount, code], capture_output=True, text=True, timeout=120)
    if result.returncode == 77 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"salt_vla.io.NoSpaceError: [Errno 28] No space left on device while writing {disk}/checkpoints/last")
    assert "unexpected pos" in last  # torch's own words, kept after the explanation
