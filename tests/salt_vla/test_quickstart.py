"""The main job end to end at toy size: every artefact is written and every number comes from the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from salt_vla.quickstart import run_quickstart
from salt_vla.train.metrics import read_metrics

TOY = {"size": 32, "frames": 4, "train_videos": 32, "val_videos": 16, "probe_videos": 24, "teacher_steps": 6,
       "student_steps": 6, "batch_size": 4, "num_workers": 0, "val_every": 3,
       "student_args": {"embed_dim": 48, "depth": 1, "num_heads": 3},
       "teacher_args": {"embed_dim": 48, "depth": 1, "num_heads": 3},
       "decoder": {"dim": 32, "depth": 1, "num_heads": 2}, "predictor": {"dim": 32, "depth": 1, "num_heads": 2}}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    return out, run_quickstart(out, preset="cpu", overrides=TOY, progress=False)


def test_quickstart_writes_every_artefact(toy_run):
    out, report = toy_run
    for name in ("report.md", "report.json", "teacher_loss.png", "student_loss.png", "student/config.json",
                 "student/model.safetensors", "student/README.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text()) == report
    markdown = (out / "report.md").read_text()
    assert "mean target" in markdown and "Time-arrow margin" in markdown and "Seeds: data 0" in markdown
    card = (out / "student" / "README.md").read_text()
    assert "time_arrow" in card and "training_config" not in card.split("## Probe results")[1][:20]


def test_report_numbers_come_from_the_run(toy_run):
    out, report = toy_run
    student_rows = read_metrics(out / "runs" / "student" / "metrics.jsonl")
    last_val = [row for row in student_rows if "val/loss" in row][-1]
    assert report["student"]["validation"]["val/loss"] == pytest.approx(last_val["val/loss"])
    assert report["student"]["validation"]["val/mean_target_ratio"] == pytest.approx(
        last_val["val/loss"] / last_val["val/mean_target_loss"], rel=1e-6)
    probes = report["probes"]
    assert report["time_arrow_margin"] == pytest.approx(
        probes["student"]["time_arrow"]["accuracy"] - probes["random_init"]["time_arrow"]["accuracy"])
    for encoder in ("student", "random_init", "teacher"):
        assert set(probes[encoder]) == {"time_arrow", "num_balls", "direction"}
        assert 0.0 <= probes[encoder]["time_arrow"]["accuracy"] <= 1.0


def test_probe_cli_on_the_student(toy_run, tmp_path):
    out, _ = toy_run
    env = {**os.environ}
    result = subprocess.run([sys.executable, "-m", "salt_vla", "probe", str(out / "student"), "--videos", "20",
                             "--out", str(tmp_path / "probe.json")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    probes = json.loads((tmp_path / "probe.json").read_text())["probes"]
    assert set(probes) == {"time_arrow", "num_balls", "direction"}


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown quickstart preset 'laptop'; choose one of cpu, gpu"):
        run_quickstart(tmp_path, preset="laptop")
