"""examples/bridge_experiment.py --preset tiny runs end to end, writes the whole report, and re-runs on its output."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("lerobot")

pytestmark = [pytest.mark.slow, pytest.mark.sim, pytest.mark.lerobot]

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "bridge_experiment.py"


def _load():
    spec = importlib.util.spec_from_file_location("bridge_experiment", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bridge_tiny_end_to_end_and_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    bridge = _load()
    out = tmp_path / "bridge"
    report = bridge.main(["--preset", "tiny", "--out", str(out), "--quiet"])
    arms = list(bridge.ARMS)
    assert list(report["arms"]) == arms
    for arm in arms:
        row = report["arms"][arm]
        evaluation = row["evaluation"]
        assert evaluation["episodes"] == 2 and evaluation["seeds"] == [20_000, 20_001]
        low, high = evaluation["success_ci95"]
        assert 0.0 <= low <= evaluation["success_rate"] <= high <= 1.0
        assert sum(evaluation["outcome_counts"].values()) == 2
        assert row["step"] == 2 and sorted(row["curve"]) == ["1", "2"]
        assert Path(row["whiskers"]["frame"]).is_file()
    config = json.loads((out / "arms" / "salt_frozen" / "train" / "checkpoints" / "last" / "pretrained_model"
                         / "config.json").read_text())
    assert config["type"] == "act_salt" and config["freeze_encoder"] is True
    assert config["encoder"] == str((out / "student").resolve())
    random_config = json.loads((out / "arms" / "vit_random" / "train" / "checkpoints" / "last" / "pretrained_model"
                                / "config.json").read_text())
    assert random_config["freeze_encoder"] is False and random_config["encoder"] == "vit_micro_patch8_t2"
    assert random_config["encoder_config"]["embed_dim"] == 24
    assert [c["arm"] for c in report["paired"]["paired"]] == arms[1:]
    assert all(c["baseline"] == "act_resnet18" for c in report["paired"]["paired"])
    assert (out / "paired" / "compare.json").is_file()

    probes = report["probes"]
    assert probes["episodes"] == 4 and probes["frames"] > 20
    for encoder in ("random_vit", "teacher", "student"):
        for target in ("block_x_bin", "gripper_block_distance_bin"):
            result = probes[encoder][target]
            assert 0.0 <= result["accuracy_ci95"][0] <= result["accuracy"] <= result["accuracy_ci95"][1] <= 1.0
            assert 0.0 < result["chance"] <= 1.0 and result["num_train"] + result["num_test"] == probes["frames"]
    text = (out / "report.md").read_text()
    assert "training-seed variance" in text and "failed training run" in text
    assert "| `salt_finetuned` |" in text and "Linear probes" in text

    # Re-running on its own output reuses every phase: nothing is recorded or trained again.
    checkpoint = out / "arms" / "act_resnet18" / "train" / "checkpoints" / "last" / "pretrained_model" / "model.safetensors"
    stamp = checkpoint.stat().st_mtime_ns
    again = bridge.main(["--preset", "tiny", "--out", str(out), "--quiet"])
    assert checkpoint.stat().st_mtime_ns == stamp
    assert "train_act_resnet18_s" not in {k for k in again["timings_s"] if again["timings_s"][k] != report["timings_s"].get(k)}
    assert again["arms"]["salt_frozen"]["evaluation"] == report["arms"]["salt_frozen"]["evaluation"]
    assert again["probes"]["student"] == report["probes"]["student"]
