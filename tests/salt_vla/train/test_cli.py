"""`salt-vla train` from the command line: shipped example configs, --print-config, file modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from salt_vla.cli import cli
from salt_vla.configs import config_names, config_path

from .conftest import TINY

SHIPPED = ["ssv2_vitb_videomae", "ssv2_vitl_videomae", "video_folder_vitb"]


def flat_overrides(tree: dict, prefix: str = "") -> list[str]:
    """``{"run": {"steps": 2}}`` -> ``["run.steps=2"]`` (lists and scalars as YAML flow values)."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict) and value and key != "args":
            out += flat_overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}")
    return out


def test_shipped_configs_are_listed_and_print_resolved(tmp_path):
    assert config_names() == SHIPPED
    result = CliRunner().invoke(cli, ["train", "--print-config", "ssv2_vitl_videomae", "optim.lr=1e-4"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["student"]["name"] == "vit_large_patch16_t2" and printed["optim"]["lr"] == 1e-4
    assert printed["teacher"] == {"name": "videomae_base", "args": {"pretrained": "hf-hub:MCG-NJU/videomae-base"}}
    assert printed["run"]["precision"] == "auto" and printed["data"]["loader"] == "auto"  # defaults filled in
    assert not (tmp_path / "runs").exists()
    # a file works the same, and its resolved print is itself a valid config
    saved = tmp_path / "resolved.yaml"
    saved.write_text(result.output)
    again = CliRunner().invoke(cli, ["train", "--print-config", str(saved)])
    assert again.exit_code == 0 and yaml.safe_load(again.output) == printed


def test_unknown_config_names_the_shipped_ones():
    result = CliRunner().invoke(cli, ["train", "--print-config", "ssv2_vitb"])
    assert result.exit_code == 2
    assert "no shipped config has that name" in result.output and "ssv2_vitb_videomae" in result.output


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory) -> Path:
    """Three short videos laid out both as a video folder and as an SSv2 split."""
    import salt_vla
    from salt_vla.data.write import write_videos

    root = tmp_path_factory.mktemp("videos")
    source = salt_vla.create_dataset("synthetic_physics", num_videos=3, frames=8, size=64, video_frames=16)
    write_videos(source, root / "folder", progress=False)
    ssv2 = root / "ssv2"
    ssv2.mkdir()
    names = sorted(p.name for p in (root / "folder").glob("*.mp4"))
    for index, name in enumerate(names):
        (ssv2 / f"{index}.mp4").write_bytes((root / "folder" / name).read_bytes())
    split = [{"id": str(i), "label": "holding box", "template": "Holding [something]", "placeholders": ["box"]}
             for i in range(len(names))]
    (root / "train.json").write_text(json.dumps(split))
    (root / "labels.json").write_text(json.dumps({"Holding something": "7"}))
    return root


TINY_TEACHER = {"pretrained": None, "num_frames": 4, "image_size": 64}
TINY_STUDENT = {"depth": 1, "embed_dim": 48, "num_heads": 3, "num_frames": 4, "img_size": 64}


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_config_trains_two_steps_with_tiny_overrides(name, tiny_videos, tmp_path):
    shipped = yaml.safe_load(config_path(name).read_text())
    data_args = ({"root": str(tiny_videos / "folder")} if shipped["data"]["dataset"] == "video_folder" else
                 {"root": str(tiny_videos / "ssv2"), "split_json": str(tiny_videos / "train.json"),
                  "labels_json": str(tiny_videos / "labels.json"), "extension": ".mp4"})
    overrides = [
        *(f"data.args.{k}={json.dumps(v)}" for k, v in {**data_args, "frames": 4, "stride": 1, "size": 64}.items()),
        "data.val_args=null", "data.batch_size=2", "data.num_workers=0",
        f"student.args={json.dumps({**shipped['student'].get('args', {}), **TINY_STUDENT})}",
        f"teacher.args={json.dumps(TINY_TEACHER)}",
        *flat_overrides({"predictor": TINY["predictor"], "optim": {"warmup_steps": 1}}),
        f"run.out_dir={tmp_path / 'run'}", "run.steps=2", "run.log_every=1", "run.progress=false",
        "run.checkpoint_every=0",
    ]
    result = CliRunner().invoke(cli, ["train", name, *overrides], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Finished 2 steps" in result.output
    written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert written["student"]["name"] == shipped["student"]["name"]
    assert written["teacher"]["name"] == shipped["teacher"]["name"]
    assert written["data"]["dataset"] == shipped["data"]["dataset"]


@pytest.mark.slow
def test_run_directory_follows_the_umask(tmp_path):
    """Checkpoints, config and summary are readable by the group when the umask says so (not 0600/0700)."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "run": {**TINY["run"], "steps": 2, "checkpoint_every": 0,
                                                      "out_dir": str(tmp_path / "run")}}))
    result = subprocess.run([sys.executable, "-m", "salt_vla", "train-teacher", str(config)], capture_output=True, text=True,
                            timeout=300, preexec_fn=lambda: os.umask(0o002))
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    checked = [run / "config.yaml", run / "summary.json", run / "checkpoints" / "last",
               *(run / "checkpoints" / "last").rglob("*")]
    assert len(checked) > 5
    for path in checked:
        expected = 0o775 if path.is_dir() else 0o664
        assert path.stat().st_mode & 0o777 == expected, path


@pytest.mark.slow
def test_resumed_run_continues_the_same_wandb_run(tmp_path):
    """W&B in offline mode (no network): the resumed run logs under the id the first start stored."""
    pytest.importorskip("wandb")
    run = tmp_path / "run"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "run": {**TINY["run"], "steps": 2, "checkpoint_every": 2,
                                                      "out_dir": str(run), "wandb_project": "salt-vla-test"}}))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)}

    def train(*overrides: str) -> None:
        result = subprocess.run([sys.executable, "-m", "salt_vla", "train-teacher", str(config), *overrides],
                                capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr

    train()
    run_id = (run / "wandb_run_id").read_text().strip()
    train("run.steps=4", "--allow-config-change")  # resumes from checkpoints/last at step 2 (a longer run: a changed setting)
    offline_runs = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2 and all(name.endswith(f"-{run_id}") for name in offline_runs), offline_runs
    assert (run / "wandb_run_id").read_text().strip() == run_id
