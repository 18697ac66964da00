"""Issue 34, round 2, through the command line: `pull` never deletes a folder's files; malformed YAML, a bad
`--dataset-arg`, `pull ... .` and an unreachable Hub are `Error:` blocks; bad input exits 2 in every command."""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import asdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from salt_vla import hub
from salt_vla.cli import cli
from salt_vla.models import VideoViT, VideoViTConfig

from .conftest import cli as run_cli

TINY = VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2, num_frames=4, img_size=32)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A real, tiny checkpoint directory (config.json, model.safetensors, README.md)."""
    return hub.save_pretrained(VideoViT(TINY), tmp_path / "ckpt")


@pytest.fixture
def local_hub(checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``org/micro`` served offline from a Hugging Face cache in ``tmp_path`` (huggingface_hub's real code)."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf"
    commit = "0" * 40
    shutil.copytree(checkpoint, cache / "models--org--micro" / "snapshots" / commit)
    (cache / "models--org--micro" / "refs").mkdir()
    (cache / "models--org--micro" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return "org/micro"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_pull_into_a_folder_holding_other_files_refuses_and_keeps_them(local_hub, checkpoint, tmp_path) -> None:
    target = tmp_path / "mine"
    (target / "data").mkdir(parents=True)
    (target / "notes.txt").write_text("my notes")
    (target / "README.md").write_text("my own readme")  # a name the checkpoint also has: still the user's file
    (target / "data" / "episode.bin").write_bytes(b"\x00" * 10)
    before = _files(target)

    result = CliRunner().invoke(cli, ["pull", local_hub, str(target)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {target} is not empty: it holds 3 entries that are not this checkpoint's "
                                    "files, and a pull never overwrites or deletes what a folder holds. Pull into a new "
                                    f"or empty folder (e.g. {target / 'micro'})"), result.output
    assert _files(target) == before  # nothing lost, nothing added

    result = CliRunner().invoke(cli, ["pull", local_hub, str(target / "micro")])  # the suggested fix works
    assert result.exit_code == 0, result.output
    assert _files(target / "micro") == _files(checkpoint)


def test_pull_into_an_empty_folder_or_the_current_one_and_again(local_hub, checkpoint, tmp_path, monkeypatch) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = CliRunner().invoke(cli, ["pull", local_hub, "."])  # was: "PosixPath('.') has an empty name"
    assert result.exit_code == 0, result.output
    assert _files(here) == _files(checkpoint)

    # An interrupted pull (one file moved in, the staging folder left) is completed by running it again, as is a
    # folder already holding this checkpoint.
    (here / "config.json").unlink()
    (here / ".salt-vla-pull.abc.tmp").mkdir()
    (here / ".salt-vla-pull.abc.tmp" / "config.json").write_text("{")
    for _ in range(2):
        result = CliRunner().invoke(cli, ["pull", local_hub, "."])
        assert result.exit_code == 0, result.output
        assert _files(here) == _files(checkpoint)

    (here / "results.csv").write_text("step,loss\n")
    result = CliRunner().invoke(cli, ["pull", local_hub, "."])
    assert result.exit_code == 2 and result.output.startswith(f"Error: {here} is not empty: it holds 1 entry"), \
        result.output
    assert (here / "results.csv").read_text() == "step,loss\n"


@pytest.mark.parametrize("command", ["train", "train-teacher", "cache"])
def test_malformed_yaml_in_a_config_file_is_an_error_block(command, tmp_path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("run:\n  steps: 4\ndata: {dataset: synthetic_physics, args: [1\n")
    extra = ["--out", str(tmp_path / "cache")] if command == "cache" else []
    result = CliRunner().invoke(cli, [command, str(config), *extra])
    assert result.exit_code == 2, result.output
    assert f"Error: 1 problem(s) in the configuration:\n  - {config} is not valid YAML: " in result.output
    assert "expected ',' or ']', but got '<stream end>' at line 4, column 1. Fix the file there" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "cache").exists()


def test_malformed_yaml_in_an_override_is_an_error_block(run_config) -> None:
    result = CliRunner().invoke(cli, ["train", str(run_config("run")), "optim.betas=[0.9"])
    assert result.exit_code == 2, result.output
    assert ("Error: 1 problem(s) in the command line:\n  - override 'optim.betas=[0.9': the value '[0.9' is not "
            "valid YAML (") in result.output
    assert "close the bracket or quote (e.g. optim.betas=[0.9,0.95])" in result.output


def test_probe_names_a_dataset_argument_the_dataset_does_not_take(checkpoint) -> None:
    result = CliRunner().invoke(cli, ["probe", str(checkpoint), "--dataset-arg", "bogus=1"])
    assert result.exit_code == 2, result.output  # was a TypeError traceback
    assert ("Error: Invalid value for --dataset-arg: bogus=1: dataset 'synthetic_physics' takes no argument 'bogus'"
            in result.output)
    result = CliRunner().invoke(cli, ["probe", str(checkpoint), "--dataset-arg", "size=[32"])
    assert result.exit_code == 2 and "'size=[32': the value '[32' is not valid YAML" in result.output, result.output


def test_a_push_that_cannot_reach_the_hub_says_so_in_one_line(checkpoint) -> None:
    with socket.socket() as free:  # a port nothing listens on: the connection is refused at once
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    result = run_cli("push", str(checkpoint), "org/micro",
                     env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{port}", "SALT_VLA_DEBUG": ""})
    assert result.returncode == 1, result.stderr  # a failure of the work (the network), not bad input
    assert result.stderr.startswith(f"Error: Cannot push {checkpoint} to hf-hub:org/micro: the Hub at "
                                    f"http://127.0.0.1:{port} could not be reached ("), result.stderr
    assert "Nothing was uploaded; run the same command again once the Hub can be reached." in result.stderr
    assert "MaxRetryError" not in result.stderr and "Traceback" not in result.stderr

    offline = CliRunner().invoke(cli, ["push", str(checkpoint), "org/micro"])  # the suite runs with HF_HUB_OFFLINE=1
    assert offline.exit_code == 1, offline.output
    assert "HF_HUB_OFFLINE is set, and pushing needs the network (unset HF_HUB_OFFLINE)" in offline.output


@pytest.mark.parametrize("args, message", [
    (["eval-policy", "--policy", "scriptd", "--episodes", "1"], "Error: No policy named 'scriptd'. Did you mean"),
    (["eval-policy", "--policy", "act:{tmp}/nowhere", "--episodes", "1"], "Error: Policy source '{tmp}/nowhere': no such"),
    (["record", "--episodes", "1"], "Error: Dataset directory '{tmp}/out' exists; LeRobot records into a new"),
])
def test_bad_input_to_the_policy_commands_exits_2(args, message, tmp_path) -> None:
    pytest.importorskip("mujoco")
    if args[0] == "record":
        pytest.importorskip("lerobot")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("mine")
    result = run_cli(*[a.format(tmp=tmp_path) for a in args], "--out", str(tmp_path / "out"),
                     env={"SALT_VLA_DEBUG": ""})
    assert result.returncode == 2, result.stderr  # was 1, the code of a failure of the work
    assert result.stderr.startswith(message.format(tmp=tmp_path)), result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["kept.txt"]


def test_quickstart_on_a_used_out_with_other_settings_exits_2(tmp_path) -> None:
    from salt_vla.quickstart import PRESETS

    out = tmp_path / "qs"
    out.mkdir()
    stored = json.dumps({"preset": asdict(PRESETS["cpu"]), "seed": 0})
    (out / "quickstart.json").write_text(stored)
    result = CliRunner().invoke(cli, ["quickstart", "--out", str(out), "--seed", "1"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {out} holds a quickstart run with other settings")
    assert [p.name for p in out.iterdir()] == ["quickstart.json"] and (out / "quickstart.json").read_text() == stored

    debug = CliRunner().invoke(cli, ["--debug", "quickstart", "--out", str(out), "--seed", "1"])
    assert debug.exit_code == 2 and "Traceback (most recent call last)" in debug.output  # --debug still shows it


def test_a_folder_that_is_not_a_checkpoint_is_described_not_listed(tmp_path) -> None:
    import salt_vla

    private = tmp_path / "private"
    private.mkdir()
    for name in ("id_ed25519", "passwords.txt", "model.safetensors"):
        (private / name).write_text("secret")
    with pytest.raises(hub.CheckpointError) as raised:
        salt_vla.create_encoder("vit_micro_patch8_t2", pretrained=str(private))
    message = str(raised.value)
    assert "id_ed25519" not in message and "passwords.txt" not in message  # was: every name in the folder (/etc)
    assert message == (f"{private} has no config.json (of its files it has only model.safetensors), so it is not a "
                       "salt-vla checkpoint directory: one holds config.json, model.safetensors and README.md, as "
                       "salt_vla.hub.save_pretrained writes them. Give the path of such a directory, or "
                       "'hf-hub:org/name' for one on the Hub.")
