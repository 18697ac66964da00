"""The loop knows no stage: tasks own the objective, the registry supplies losses and schedules (plugins too)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

import salt_vla
import salt_vla.train.trainer as loop_module
from salt_vla import hub, plugins
from salt_vla.config import ConfigError, from_dict
from salt_vla.models import PredictionOutput, VideoViT, VideoViTConfig
from salt_vla.train import TrainConfig, Trainer, train
from salt_vla.train.metrics import read_metrics
from salt_vla.train.tasks import TaskParts, TrainBatch, TrainingTask, masked_prediction_metrics

from .conftest import TINY, merge

REPO = Path(__file__).resolve().parents[3]


def test_the_loop_module_names_no_stage_model_teacher_or_cache():
    source = Path(loop_module.__file__).read_text()
    words = set(re.findall(r"[A-Za-z_]+", source.replace("salt_vla", "")))
    forbidden = {"stage", "teacher", "student", "predictor", "cache", "cached", "latent", "latents", "pixel", "pixels",
                 "PixelMAE", "MaskedPredictor", "Predictor", "VideoViT", "LatentLoss", "WarmupCosine", "CosineRamp",
                 "salt", "isinstance"}
    found = {w for w in words if w in forbidden or w.lower() in {f.lower() for f in forbidden}}
    assert not found, f"the loop names {sorted(found)}"
    assert len(source.splitlines()) < 320


class _Counting:
    """A registered loss and schedule that count their calls (one plugin, registered through the plugin API)."""

    loss_calls = 0

    @salt_vla.hookimpl
    def register_losses(self, register):
        def build(scale: float = 1.0):
            def loss(prediction, target):
                _Counting.loss_calls += 1
                return scale * (prediction.float() - target.float()).abs().mean()
            return loss

        register("scaled_l1", build)

    @salt_vla.hookimpl
    def register_schedules(self, register):
        def halving(start: float, every: int, total_steps: int):
            return lambda step: start * 0.5 ** (min(step, total_steps) // every)

        register("halving", halving)


@pytest.mark.parametrize("stage", ["teacher", "salt"])
def test_both_stages_take_their_loss_and_schedules_from_the_registry(tmp_path, stage):
    teacher = {}
    if stage == "salt":
        hub.save_pretrained(VideoViT(VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2,
                                                    num_frames=4, img_size=32)), tmp_path / "frozen")
        teacher = {"teacher": {"name": "checkpoint", "args": {"pretrained": str(tmp_path / "frozen")}}}
    config = merge(TINY, {"stage": stage, **teacher, "loss": {"name": "scaled_l1", "args": {"scale": 2.0}},
                          "schedules": {"lr": {"name": "halving", "args": {"start": 1e-3, "every": 2}},
                                        "weight_decay": {"name": "constant", "args": {"value": 0.01}}},
                          "run": {"steps": 4, "checkpoint_every": 0, "out_dir": str(tmp_path / stage)}})
    with plugins.registered(_Counting(), "counting"):
        _Counting.loss_calls = 0
        result = train(from_dict(TrainConfig, config))
    rows = [r for r in read_metrics(result.out_dir / "metrics.jsonl") if "train/lr" in r]
    assert [r["train/lr"] for r in rows] == [1e-3, 1e-3, 5e-4, 5e-4]
    assert {r["train/weight_decay"] for r in rows} == {0.01}
    assert _Counting.loss_calls == 4 * 2  # every step, both mask sets


def test_unknown_registered_names_are_all_reported_when_the_config_loads():
    with pytest.raises(ConfigError) as info:
        from_dict(TrainConfig, merge(TINY, {"stage": "teacher", "loss": {"name": "l2"},
                                            "schedules": {"lr": {"name": "warmup_cosin"}}, "masks": {"name": "multiblok"}}))
    problems = info.value.problems
    assert any(p.startswith("loss.name: no loss named 'l2'") and "registered: cosine, l1" in p for p in problems)
    assert any("schedules.lr.name: no schedule named 'warmup_cosin'; did you mean 'warmup_cosine'?" in p for p in problems)
    assert any("masks.name: no masker named 'multiblok'; did you mean 'multiblock'?" in p for p in problems)
    assert len(problems) == 3


def test_old_loss_spelling_and_defaults_keep_todays_objectives(tmp_path):
    config = from_dict(TrainConfig, merge(TINY, {"loss": {"kind": "mse", "target_norm": "layer_norm"},
                                                 "data": {"latent_cache": "unused"}}))
    assert config.loss.name is None and config.schedules.lr is None
    stage1 = Trainer(from_dict(TrainConfig, merge(TINY, {"stage": "teacher", "run": {"out_dir": str(tmp_path)}})))
    assert stage1.task.objective == salt_vla.create_loss("mse", target_norm="layer_norm")
    assert stage1.lr_schedule == salt_vla.create_schedule("warmup_cosine", peak=1e-3, total_steps=6, warmup_steps=2,
                                                          min_value=1e-4, start_value=0.0)


PLUGIN = '''
import salt_vla

def _loss(weight=1.0):
    def loss(prediction, target):
        return weight * ((prediction.float() - target.float()) ** 2).mean()
    return loss

@salt_vla.hookimpl
def register_losses(register):
    register("weighted_mse", _loss)

@salt_vla.hookimpl
def register_schedules(register):
    register("steps_down", lambda start, total_steps: (lambda step: start / (1 + step)))
'''


def test_an_installed_plugins_loss_and_schedule_train_from_yaml_through_the_cli(tmp_path):
    site = tmp_path / "site"
    info = site / "yaml_plugin-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: yaml-plugin\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[salt_vla]\nyaml_plugin = salt_vla_yaml_plugin\n")
    (site / "salt_vla_yaml_plugin.py").write_text(textwrap.dedent(PLUGIN))
    config = merge(TINY, {"loss": {"name": "weighted_mse", "args": {"weight": 3.0}},
                          "schedules": {"lr": {"name": "steps_down", "args": {"start": 1e-3}}},
                          "run": {"steps": 2, "out_dir": str(tmp_path / "run")}})
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("SALT_VLA_PLUGINS", None)
    done = subprocess.run([sys.executable, "-m", "salt_vla", "train-teacher", str(tmp_path / "run.yaml")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "train/lr" in r]
    assert [r["train/lr"] for r in rows] == [1e-3, 5e-4]
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["loss"]["name"] == "weighted_mse"


class MeanIntensityTask:
    """A toy objective, added without touching the loop: the mean of an encoder's features at each target token
    regresses that tubelet's mean pixel intensity."""

    name = "mean_intensity"
    module_names = ("toy",)

    def build(self, context):
        student = context.config.student
        self.reduce_mean, self.objective = context.reduce_mean, salt_vla.create_loss("mse")
        model = salt_vla.create_encoder(student.name, **student.args)
        return TaskParts(model, context.train_set, context.val_set, model.grid(*context.clip_shape[1:]))

    def _tokens(self, video):
        from salt_vla.models.layers import patchify

        return patchify(video.float() / 255.0 if video.dtype == torch.uint8 else video.float(), (2, 8, 8))

    def _forward(self, model, batch, keep_outputs=False):
        pixels, features = self._tokens(batch.video), model(batch.video)
        output = PredictionOutput(loss=torch.zeros(()), per_set=[])
        for pair in batch.masks:
            index = pair.target.unsqueeze(-1)
            prediction = torch.gather(features, 1, index.expand(-1, -1, features.shape[-1])).mean(-1, keepdim=True)
            target = torch.gather(pixels, 1, index.expand(-1, -1, pixels.shape[-1])).mean(-1, keepdim=True)
            output.per_set.append(self.objective(prediction, target))
            if keep_outputs:
                output.predictions.append(prediction.detach())
                output.targets.append(target)
        output.loss = torch.stack(output.per_set).mean()
        return output

    def loss(self, model, batch):
        return self._forward(model, batch)

    def validate(self, model, batches):
        return masked_prediction_metrics((self._forward(model, b, keep_outputs=True) for b in batches), self.objective,
                                         self.reduce_mean)

    def split_state(self, model, full):
        return {"toy": (model, full)}

    def join_state(self, parts):
        return dict(parts["toy"])

    def targets_identity(self):
        return {"targets": "mean intensity"}


def test_a_new_task_trains_validates_checkpoints_and_resumes_without_touching_the_loop(tmp_path):
    assert isinstance(MeanIntensityTask(), TrainingTask)
    config = merge(TINY, {"stage": "teacher", "data": {"val_args": {"seed": 3, "num_videos": 4}},
                          "run": {"steps": 8, "val_every": 4, "val_batches": 1, "checkpoint_every": 4,
                                  "out_dir": str(tmp_path / "toy")}})
    reference = train(from_dict(TrainConfig, config), task=MeanIntensityTask())
    losses = [r["train/loss"] for r in read_metrics(reference.out_dir / "metrics.jsonl") if "train/loss" in r]
    assert losses[-1] < losses[0] and reference.val_metrics["val/loss"] >= 0
    assert (reference.last_checkpoint / "toy" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "toy" / "summary.json").read_text())["task"] == "mean_intensity"
    # Resuming the finished run with more steps continues from its checkpoint.
    longer = merge(config, {"run": {"steps": 10}})
    resumed = Trainer(from_dict(TrainConfig, longer), task=MeanIntensityTask(), allow_config_change=True)
    assert resumed.state.step == 8
    assert resumed.fit().state.step == 10


def test_typed_batches_reach_the_task(tmp_path):
    trainer = Trainer(from_dict(TrainConfig, merge(TINY, {"stage": "teacher", "run": {"out_dir": str(tmp_path)}})))
    batch = next(trainer._batches())
    assert isinstance(batch, TrainBatch) and batch.video.shape[0] == 4 and batch.latents is None


def test_checkpoints_of_the_previous_config_tree_still_resume_without_changes():
    from salt_vla.config import to_dict
    from salt_vla.train.changes import config_changes

    current = to_dict(from_dict(TrainConfig, merge(TINY, {"stage": "teacher"})))
    saved = json.loads(json.dumps(current))
    del saved["schedules"], saved["loss"]["name"], saved["loss"]["args"]  # what run.json held before this version
    assert config_changes(saved, current) == ([], [])
    current["loss"]["name"] = "mse"
    assert config_changes(saved, current)[0] == ["loss.name: was None, now 'mse'"]
