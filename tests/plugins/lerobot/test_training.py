"""LeRobot's own trainer through salt_vla_lerobot.training, and the train-ACT-on-scripted-demos example end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import salt_vla
from salt_vla.evaluation import Outcome

from .conftest import NO_LEROBOT

pytestmark = [pytest.mark.slow, pytest.mark.lerobot]
pytest.importorskip("lerobot", reason=NO_LEROBOT)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "train_act_on_scripted_demos.py"
POST_STATS = "policy_postprocessor_step_0_unnormalizer_processor.safetensors"


def load_example():
    spec = importlib.util.spec_from_file_location("train_act_on_scripted_demos", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The example's tiny preset: 1 scripted demonstration -> 10 ACT steps with LeRobot's trainer -> 1 episode."""
    pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
    out = tmp_path_factory.mktemp("act_tiny")
    return {"out": out, "summary": load_example().main(["--preset", "tiny", "--out", str(out)])}


@pytest.mark.sim
def test_example_tiny_preset_records_trains_and_evaluates(tiny_run):
    out, summary = tiny_run["out"], tiny_run["summary"]
    assert summary["dataset"]["episodes"] == 1 and summary["dataset"]["frames"] > 100  # one whole scripted success
    assert summary["training"]["step"] == 10 and not summary["training"]["stopped_by_time_limit"]
    checkpoint = Path(summary["checkpoint"])
    assert checkpoint == out / "train" / "checkpoints" / "last" / "pretrained_model"
    # LeRobot normalised with the recorded dataset's statistics, and the adapter loads what it trained.
    recorded = json.loads((out / "dataset" / "meta" / "stats.json").read_text())["action"]
    saved = load_file(checkpoint / POST_STATS)
    torch.testing.assert_close(saved["action.mean"], torch.tensor(recorded["mean"]), check_dtype=False)
    assert salt_vla.create_policy(f"act:{checkpoint}").describe()["chunk_size"] == 10
    evaluation = summary["evaluation"]
    assert evaluation["episodes"] == 1 and sum(evaluation["outcome_counts"].values()) == 1
    (row,) = json.loads((out / "eval" / "report.json").read_text())["episodes"]
    assert row["seed"] == 20_000 and Outcome(row["outcome"]) is not Outcome.POLICY_ERROR and row["message"] == ""
    assert json.loads((out / "summary.json").read_text())["evaluation"] == evaluation
    # The curve: every checkpoint (steps 5 and 10) on the validation seeds, which the reported figure never uses.
    curve = summary["curve"]
    assert list(curve) == ["5", "10"] and all(point["seeds"] == [30_000, 30_000] for point in curve.values())
    # The loop's own rate against the bare step of the same model, batch and processors.
    assert summary["bare_step"]["batch_size"] == 4 and summary["bare_step"]["steps_per_s"] > 0
    assert summary["training"]["fraction_of_bare_step_rate"] > 0
    assert summary["recording"]["frames"] == "image" and summary["dataset"]["bytes"] > 0


@pytest.mark.sim
def test_example_reuses_finished_phases(tiny_run):
    out = tiny_run["out"]
    summary = load_example().main(["--preset", "tiny", "--out", str(out), "--eval-max-steps", "5",
                                   "--eval-temporal-ensemble", "0.01"])
    assert summary["training"] == {"step": 10, "reused": True}
    assert set(summary["timings_s"]) == {"eval_s", "eval_temporal_ensemble_s", "validation_s", "total_s"}  # nothing recorded or trained again
    # The second evaluation re-plans every step through the temporal-ensembling wrapper, on the same seeds.
    ensemble = summary["evaluation_temporal_ensemble"]
    assert ensemble["coeff"] == 0.01 and ensemble["episodes"] == 1 and ensemble["seeds"] == [20_000, 20_000]
    report = json.loads((out / "eval_temporal_ensemble" / "report.json").read_text())
    assert report["policy"] == "act (scripted demos), temporal ensemble 0.01"
    assert [row["steps"] for row in report["episodes"]] == [5]


def test_evaluation_seeds_never_overlap_the_demonstrations():
    with pytest.raises(SystemExit, match=r"The demonstration seeds 0-42 overlap the evaluation seeds 40-139"):
        load_example().parse(["--preset", "gpu", "--out", "x", "--episodes", "11", "--eval-seed", "40"])


def test_settings_report_every_problem_at_once(tmp_path):
    from salt_vla_lerobot.training import TrainSettings

    with pytest.raises(ValueError) as error:
        TrainSettings(dataset=tmp_path, output_dir=tmp_path / "run", steps=0, batch_size=-1)
    text = str(error.value)
    assert "steps must be >= 1; got 0" in text and "batch_size must be >= 1; got -1" in text
    assert "is not a LeRobotDataset (no meta/info.json)" in text


def test_unknown_trainer_fields_list_the_valid_ones(tiny_run):
    from salt_vla import lerobot_compat

    policy = lerobot_compat.make_policy_config("act", device="cpu", push_to_hub=False)
    config = lerobot_compat.train_pipeline_config(tiny_run["out"] / "dataset", policy, repo_id="local/x", eval_freq=0, steps=3)
    assert config.steps == 3 and config.dataset.video_backend == "pyav"
    with pytest.raises(ValueError, match=r"no field\(s\) \['stepz'\]; valid fields: \[.*'steps'"):
        lerobot_compat.train_pipeline_config(tiny_run["out"] / "dataset", policy, repo_id="local/x", stepz=3)


def test_a_run_stopped_before_its_first_checkpoint_says_so(tiny_run, tmp_path):
    from salt_vla_lerobot.training import TrainSettings, last_checkpoint, train_policy

    settings = TrainSettings(dataset=tiny_run["out"] / "dataset", output_dir=tmp_path / "run", steps=5)
    with pytest.raises(FileNotFoundError, match="stopped before its first save"):
        train_policy(settings, time_limit_s=0.0)  # the child is stopped while it starts
    with pytest.raises(FileExistsError, match="exists; LeRobot starts a run in a new directory"):
        train_policy(TrainSettings(dataset=tiny_run["out"] / "dataset", output_dir=tiny_run["out"], steps=5))
    assert last_checkpoint(tiny_run["out"] / "train")[1] == 10
