"""The trainer on tiny real models: exact resume after kill -9, cached = live, non-finite handling, checks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import salt_vla
from salt_vla import hub, plugins
from salt_vla.config import from_dict
from salt_vla.models import EncoderTeacher, VideoViT, VideoViTConfig
from salt_vla.train import NonFiniteLossError, TrainConfig, Trainer, train
from salt_vla.train.metrics import read_metrics

TEACHER_CONFIG = VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2, num_frames=4,
                                img_size=32)


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "teacher"
    hub.save_pretrained(VideoViT(TEACHER_CONFIG), path)
    return path


def losses(run_dir: Path) -> dict[int, float]:
    return {row["step"]: row["train/loss"] for row in read_metrics(run_dir / "metrics.jsonl") if "train/loss" in row}


def test_stage1_teacher_trains_and_checkpoints(tmp_path, tiny_config):
    result = train(from_dict(TrainConfig, tiny_config(tmp_path / "t1", stage="teacher")))
    assert result.state.step == 6
    teacher = salt_vla.create_teacher("checkpoint", pretrained=str(result.last_checkpoint / "teacher"))
    assert teacher.targets(torch.zeros(1, 3, 4, 32, 32, dtype=torch.uint8)).shape == (1, 32, 48)
    assert (tmp_path / "t1" / "config.yaml").read_text().startswith("stage: teacher")
    summary = json.loads((tmp_path / "t1" / "summary.json").read_text())
    assert summary["steps"] == 6 and "train/loss" in summary["train"]


def test_training_a_finished_run_again_trains_nothing_and_keeps_its_summary(tmp_path, tiny_config):
    config = from_dict(TrainConfig, tiny_config(tmp_path / "done", stage="teacher"))
    train(config)
    summary = (tmp_path / "done" / "summary.json").read_text()
    metrics = (tmp_path / "done" / "metrics.jsonl").read_text()
    again = train(config)
    assert again.state.step == 6 and again.train_metrics == {}
    assert (tmp_path / "done" / "summary.json").read_text() == summary  # the finished run's metrics, not empty ones
    assert "train/loss" in json.loads(summary)["train"]
    assert (tmp_path / "done" / "metrics.jsonl").read_text() == metrics


def test_resume_after_kill_9_continues_the_same_loss_sequence(tmp_path, tiny_config, teacher_dir):
    config = tiny_config(tmp_path / "full", teacher={"name": "checkpoint", "args": {"pretrained": str(teacher_dir)}},
                         run={"steps": 8, "checkpoint_every": 4})
    config["data"]["num_workers"] = 2
    reference = losses(train(from_dict(TrainConfig, config)).out_dir)

    killed = {**config, "run": {**config["run"], "out_dir": str(tmp_path / "killed")}}
    # A real SIGKILL at a known point: right after step 6 is logged (after the step-4 checkpoint).
    script = f"""
import json, os, signal
from salt_vla.config import from_dict
from salt_vla.train import TrainConfig, Trainer

class KilledAtStep6(Trainer):
    def _log(self, *args, **kwargs):
        metrics = super()._log(*args, **kwargs)
        if self.state.step == 6:
            os.kill(os.getpid(), signal.SIGKILL)
        return metrics

KilledAtStep6(from_dict(TrainConfig, json.loads({json.dumps(json.dumps(killed))}))).fit()
"""
    process = subprocess.run([sys.executable, "-c", script], timeout=300)
    assert process.returncode == -signal.SIGKILL
    assert max(losses(tmp_path / "killed")) == 6

    resumed = losses(train(from_dict(TrainConfig, killed)).out_dir)
    assert [resumed[s] for s in range(5, 9)] == [reference[s] for s in range(5, 9)]  # bit-identical


def test_cached_training_matches_live_teacher_training(tmp_path, tiny_config, teacher_dir):
    from salt_vla.cache import build_latent_cache

    live_config = tiny_config(tmp_path / "live", teacher={"name": "checkpoint", "args": {"pretrained": str(teacher_dir)}},
                              run={"steps": 4})
    live = losses(train(from_dict(TrainConfig, live_config)).out_dir)

    dataset = salt_vla.create_dataset("synthetic_physics", **live_config["data"]["args"])
    teacher = salt_vla.create_teacher("checkpoint", pretrained=str(teacher_dir))
    build_latent_cache(teacher, dataset, tmp_path / "cache", dtype="float16", batch_size=8, progress=False)
    cached_config = tiny_config(tmp_path / "cached", data={"latent_cache": str(tmp_path / "cache")}, run={"steps": 4})
    trainer = Trainer(from_dict(TrainConfig, cached_config))
    assert trainer.task.teacher is None  # the cached run never builds the teacher
    cached = losses(trainer.fit().out_dir)
    for step in live:
        assert cached[step] == pytest.approx(live[step], rel=2e-3), (step, cached[step], live[step])


def test_cache_of_another_grid_is_refused_before_training(tmp_path, tiny_config, teacher_dir):
    from salt_vla.cache import CacheMismatchError, build_latent_cache

    config = tiny_config(tmp_path / "run")
    dataset = salt_vla.create_dataset("synthetic_physics", **config["data"]["args"])
    teacher = salt_vla.create_teacher("checkpoint", pretrained=str(teacher_dir))
    build_latent_cache(teacher, dataset, tmp_path / "cache", progress=False)
    config["data"]["latent_cache"] = str(tmp_path / "cache")
    config["student"]["args"]["patch_size"] = 16
    with pytest.raises(CacheMismatchError, match="grid: cache \\[2, 4, 4\\], run \\[2, 2, 2\\]"):
        Trainer(from_dict(TrainConfig, config))


def test_teacher_student_grid_disagreement_is_an_error_before_step_one(tmp_path, tiny_config, teacher_dir):
    config = tiny_config(tmp_path / "run", teacher={"name": "checkpoint", "args": {"pretrained": str(teacher_dir)}})
    config["student"]["args"]["tubelet_size"] = 4
    with pytest.raises(ValueError, match="Teacher and student token grids disagree"):
        Trainer(from_dict(TrainConfig, config))


class _PoisonedTeacher(EncoderTeacher):
    """A real teacher whose targets turn NaN from its ``poison_at``-th call on."""

    def __init__(self, poison_at: int) -> None:
        super().__init__(VideoViT(TEACHER_CONFIG))
        self.calls, self.poison_at = 0, poison_at

    def targets(self, video):
        self.calls += 1
        out = super().targets(video).clone()
        return out * float("nan") if self.calls >= self.poison_at else out


class _PoisonPlugin:
    @salt_vla.hookimpl
    def register_teachers(self, register):
        register("poisoned", _PoisonedTeacher)


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_nonfinite_loss_stops_naming_step_and_checkpoint_or_is_skipped(tmp_path, tiny_config, mode):
    config = tiny_config(tmp_path / mode, teacher={"name": "poisoned", "args": {"poison_at": 5}},
                         run={"steps": 6, "checkpoint_every": 2, "on_nonfinite": mode})
    with plugins.registered(_PoisonPlugin(), "poison"):
        if mode == "stop":
            with pytest.raises(NonFiniteLossError, match=r"step 5\. Last good checkpoint: .*checkpoints/last"):
                train(from_dict(TrainConfig, config))
            state = json.loads((tmp_path / mode / "checkpoints/last/training_state/state.json").read_text())
            assert state["step"] == 4  # the poisoned update was never saved
        else:
            result = train(from_dict(TrainConfig, config))
            assert result.state.step == 6 and result.state.nonfinite_skipped == 2
            weights = hub.from_pretrained(result.last_checkpoint / "student").state_dict()
            assert all(torch.isfinite(w).all() for w in weights.values())


def test_validation_diagnostics_and_best_checkpoint(tmp_path, tiny_config, teacher_dir):
    config = tiny_config(tmp_path / "val", teacher={"name": "checkpoint", "args": {"pretrained": str(teacher_dir)}},
                         data={"val_args": {"seed": 7, "num_videos": 8}}, run={"steps": 4, "val_every": 2, "val_batches": 2})
    result = train(from_dict(TrainConfig, config))
    for key in ("val/loss", "val/mean_target_ratio", "val/std_ratio", "val/effective_rank", "val/cosine"):
        assert key in result.val_metrics
    assert result.best_checkpoint is not None
    best = hub.from_pretrained(result.best_checkpoint / "student")
    assert best.pretrained_metadata["training_config"]["run"]["steps"] == 4


def test_refuses_to_overwrite_without_resume(tmp_path, tiny_config):
    config = from_dict(TrainConfig, tiny_config(tmp_path / "t", stage="teacher", run={"steps": 2, "checkpoint_every": 0}))
    train(config)
    with pytest.raises(FileExistsError, match="choose another run.out_dir"):
        Trainer(config, resume=False)


def test_fit_stops_its_loader_workers_before_returning(tmp_path, tiny_config):
    """The persistent workers exit when ``fit`` ends, not at some later garbage collection (where PyTorch's shutdown
    waited out its 5 s join timeout, twice per quickstart)."""
    import multiprocessing

    config = from_dict(TrainConfig, tiny_config(tmp_path / "w", stage="teacher", data={"num_workers": 1}))
    trainer = Trainer(config)
    assert trainer.fit().state.step == 6
    assert multiprocessing.active_children() == []
    assert trainer.train_loader._iterator is None


@pytest.mark.parametrize("fused", [None, True])
def test_optim_fused_chooses_the_cpu_optimizer_kernel_and_both_train(tmp_path, tiny_config, fused):
    """``optim.fused: null`` keeps the per-parameter loop on CPU (the reference metrics' optimizer); ``true`` runs
    PyTorch's fused AdamW there (the quickstart's choice: its optimizer step is 2-4x faster at that size)."""
    config = from_dict(TrainConfig, tiny_config(tmp_path / "run", stage="teacher", optim={"fused": fused},
                                                run={"steps": 3}))
    trainer = Trainer(config)
    assert bool(trainer.optimizer.defaults["fused"]) is bool(fused)
    before = [p.detach().clone() for p in trainer.params]
    trainer.fit()
    assert all(torch.isfinite(p).all() for p in trainer.params)
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.params))
