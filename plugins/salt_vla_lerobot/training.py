"""Train a LeRobot policy on a local LeRobotDataset with LeRobot's own training loop.

``train_policy(TrainSettings(dataset="data/so101", output_dir="runs/act", steps=20_000, device="cuda"))``
builds LeRobot's ``TrainPipelineConfig`` in Python (what ``lerobot-train --dataset.root=data/so101
--policy.type=act ...`` parses from its command line) and runs ``lerobot.scripts.lerobot_train.train`` on it
in a child process, so that:

- a wall-clock limit can stop it: LeRobot saves ``checkpoints/<step>/`` every ``save_freq`` steps and
  points ``checkpoints/last`` at the newest complete one, so a stopped run still yields that checkpoint;
- LeRobot's logging setup, seeding and accelerate state stay out of the caller (a script, a test);
- the GPU memory it held is released before an evaluation starts.

The checkpoint (``checkpoints/<step>/pretrained_model``) holds the model and its pre/post-processors; load
it with ``salt_vla.create_policy("act:<checkpoint>")``. LeRobot version differences live in
:mod:`salt_vla.lerobot_compat`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salt_vla import lerobot_compat

OFFLINE_DEFAULTS: dict[str, dict[str, Any]] = {"act": {"pretrained_backbone_weights": None}}
"""Policy config values that keep a fresh policy from downloading weights (ACT's ImageNet ResNet-18)."""


@dataclass(frozen=True)
class TrainSettings:
    """One LeRobot training run.

    Attributes:
        dataset: root directory of a LeRobotDataset (v3), e.g. from ``salt_vla_so101.recorder.record_dataset``.
        output_dir: new directory for LeRobot's run (it refuses an existing one).
        policy_type: LeRobot policy type (``"act"``, ``"smolvla"``, ...; ``"act_salt"``: ACT on a salt-vla encoder).
        policy: policy config fields (``chunk_size``, ``dim_model``, ``optimizer_lr``...), over
            :data:`OFFLINE_DEFAULTS`.
        steps: optimizer steps; batch_size: samples per step.
        device: ``"cpu"``, ``"cuda"``...; num_workers: dataloader worker processes.
        save_freq: steps between checkpoints (default: only after the last step).
        log_freq: steps between LeRobot's loss log lines.
        repo_id: the dataset's name in LeRobot's metadata (nothing is downloaded).
        image_transforms: the dataset's image augmentation as LeRobot's ``ImageTransformsConfig`` fields
            (:func:`salt_vla_lerobot.augmentation.image_transforms`; ``None``: none).
        episodes: train on these episode indices of the dataset only (``None``: all of them).
        lr_decay: let the learning rate fall by a cosine to this fraction of ``policy["optimizer_lr"]`` at the
            last step (``None``: the policy's preset, ACT's constant rate). The policy's whole network then
            shares one rate, so an ACT ``optimizer_lr_backbone`` must equal ``optimizer_lr``.
    """

    dataset: Path
    output_dir: Path
    policy_type: str = "act"
    policy: Mapping[str, Any] = field(default_factory=dict)
    steps: int = 10_000
    batch_size: int = 8
    device: str = "cpu"
    num_workers: int = 0
    seed: int = 0
    save_freq: int | None = None
    log_freq: int = 200
    repo_id: str = "local/dataset"
    image_transforms: Mapping[str, Any] | None = None
    episodes: tuple[int, ...] | None = None
    lr_decay: float | None = None

    def __post_init__(self) -> None:
        problems = [f"{name} must be >= {low}; got {value}" for name, value, low in (
            ("steps", self.steps, 1), ("batch_size", self.batch_size, 1), ("num_workers", self.num_workers, 0),
            ("log_freq", self.log_freq, 1), ("save_freq", self.save_freq or 1, 1))
            if value < low]
        if self.lr_decay is not None and not 0 <= self.lr_decay <= 1:
            problems.append(f"lr_decay must be a fraction of the learning rate in [0, 1]; got {self.lr_decay}")
        if self.episodes is not None and not self.episodes:
            problems.append("episodes is empty; give the episode indices to train on, or None for all")
        if not (Path(self.dataset) / "meta" / "info.json").is_file():
            problems.append(f"dataset {str(self.dataset)!r} is not a LeRobotDataset (no meta/info.json); record one "
                            "with `salt-vla record --out DIR` or salt_vla_so101.recorder.record_dataset")
        if problems:
            raise ValueError("Invalid TrainSettings: " + "; ".join(problems) + ".")


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_policy` produced.

    Attributes:
        checkpoint: ``<output_dir>/checkpoints/<step>/pretrained_model`` of the newest complete checkpoint.
        step: the optimizer step it was saved at (``< steps`` when the time limit stopped the run).
        wall_time_s: seconds the run took, start-up included.
        stopped_by_time_limit: whether the time limit ended the run before ``steps``.
    """

    checkpoint: Path
    step: int
    wall_time_s: float
    stopped_by_time_limit: bool

    def steps_per_s(self) -> float | None:
        """Training steps per second between the first and the last checkpoint (start-up excluded)."""
        return checkpoint_step_rate(self.checkpoint.parents[2])


def pipeline_config(settings: TrainSettings) -> Any:
    """LeRobot's ``TrainPipelineConfig`` for ``settings`` (no W&B, no Hub upload, no simulated env)."""
    policy = {**OFFLINE_DEFAULTS.get(settings.policy_type, {}), **settings.policy}
    policy_config = lerobot_compat.make_policy_config(settings.policy_type, device=settings.device, push_to_hub=False, **policy)
    schedule = {}
    if settings.lr_decay is not None:
        lr = policy_config.optimizer_lr
        backbone_lr = getattr(policy_config, "optimizer_lr_backbone", lr)
        if backbone_lr != lr:
            raise ValueError(f"lr_decay trains the whole policy at one rate, but its optimizer_lr_backbone "
                             f"({backbone_lr}) differs from optimizer_lr ({lr}); set both (e.g. policy="
                             "{'optimizer_lr': 1e-4, 'optimizer_lr_backbone': 1e-4}) or leave lr_decay out.")
        schedule = lerobot_compat.cosine_decay(lr, policy_config.optimizer_weight_decay, settings.steps,
                                               settings.lr_decay)
    return lerobot_compat.train_pipeline_config(
        settings.dataset, policy_config, repo_id=settings.repo_id, output_dir=Path(settings.output_dir),
        steps=settings.steps, batch_size=settings.batch_size, num_workers=settings.num_workers, seed=settings.seed,
        save_freq=settings.save_freq or settings.steps, log_freq=settings.log_freq,
        image_transforms=settings.image_transforms,
        episodes=list(settings.episodes) if settings.episodes is not None else None, **schedule,
    )


def last_checkpoint(output_dir: str | os.PathLike[str]) -> tuple[Path, int]:
    """``(pretrained_model directory, step)`` of the newest complete checkpoint of a LeRobot run.

    Raises:
        FileNotFoundError: the run saved no checkpoint (it failed, or was stopped before the first save).
    """
    last = Path(output_dir) / "checkpoints" / "last"
    model = last / "pretrained_model"
    if not (model / "config.json").is_file():
        saved = sorted(p.name for p in last.parent.iterdir()) if last.parent.is_dir() else []
        raise FileNotFoundError(
            f"No complete LeRobot checkpoint under {last.parent} (found: {saved or 'nothing'}). The run failed or "
            "was stopped before its first save: see its log, lower save_freq, or allow more time."
        )
    state = last.resolve() / "training_state" / "training_step.json"
    step = int(json.loads(state.read_text())["step"]) if state.is_file() else int(last.resolve().name)
    return model, step


def checkpoints(output_dir: str | os.PathLike[str]) -> list[tuple[int, Path, float]]:
    """``(step, pretrained_model directory, time saved)`` of every complete checkpoint of a LeRobot run, by step."""
    found = []
    root = Path(output_dir) / "checkpoints"
    for directory in root.iterdir() if root.is_dir() else ():
        model = directory / "pretrained_model"
        if directory.is_symlink() or not directory.name.isdigit() or not (model / "config.json").is_file():
            continue
        found.append((int(directory.name), model, (model / "config.json").stat().st_mtime))
    return sorted(found)


def checkpoint_step_rate(output_dir: str | os.PathLike[str]) -> float | None:
    """Optimizer steps per second of a LeRobot run, from the times its first and last checkpoints were written.

    This is the loop's own rate, data loading included and start-up excluded (``None`` with fewer than two
    checkpoints). The checkpoint writes between them are counted too: a few tenths of a second each.
    """
    saved = checkpoints(output_dir)
    if len(saved) < 2 or saved[-1][2] <= saved[0][2]:
        return None
    return (saved[-1][0] - saved[0][0]) / (saved[-1][2] - saved[0][2])


def measure_update_rate(settings: TrainSettings, *, steps: int = 30, warmup: int = 5) -> dict[str, float]:
    """The bare training step of ``settings``' run: LeRobot's policy, processors and optimizer, one resident batch.

    Builds what ``lerobot-train`` builds (``make_dataset``, ``make_policy``, ``make_pre_post_processors``,
    ``make_optimizer_and_scheduler``) in a child process, draws one batch of ``batch_size`` samples, moves
    and normalises it once, then times ``steps`` updates (forward, backward, gradient clipping, optimizer
    and scheduler step) on it after ``warmup`` untimed ones. Comparing :func:`checkpoint_step_rate` of a
    real run with this says how much of the loop's time goes to waiting for data.

    Returns:
        ``{"steps_per_s", "step_ms", "steps", "batch_size"}``.
    """
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measure_in_child, (settings, steps, warmup))


def _measure_in_child(settings: TrainSettings, steps: int, warmup: int) -> dict[str, float]:
    import torch
    from lerobot.datasets.factory import make_dataset
    from lerobot.optim.factory import make_optimizer_and_scheduler
    from lerobot.policies.factory import make_policy, make_pre_post_processors

    lerobot_compat.enable_column_queries()
    config = pipeline_config(settings)
    config.validate()
    dataset = make_dataset(config)
    policy = make_policy(config.policy, ds_meta=dataset.meta)
    preprocessor, _ = make_pre_post_processors(config.policy, dataset_stats=dataset.meta.stats)
    optimizer, scheduler = make_optimizer_and_scheduler(config, policy)
    loader = torch.utils.data.DataLoader(dataset, batch_size=settings.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(settings.seed))
    batch = preprocessor(next(iter(loader)))
    policy.train()
    parameters = [p for p in policy.parameters() if p.requires_grad]
    clip = float(getattr(config.optimizer, "grad_clip_norm", 0) or 0)
    cuda = torch.device(settings.device).type == "cuda"

    def update() -> None:
        loss, _ = policy.forward(batch)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        optimizer.zero_grad()
        if scheduler is not None:
            scheduler.step()
        float(loss.detach())  # LeRobot's loop reads the loss every step: the same synchronisation

    for _ in range(warmup):
        update()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        update()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    return {"steps_per_s": 1.0 / seconds, "step_ms": 1000.0 * seconds, "steps": steps,
            "batch_size": settings.batch_size}


def _die_with_parent() -> None:
    """On Linux, have the kernel stop this process when its parent dies: a killed run must not leave a trainer behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _train_in_child(settings: TrainSettings) -> None:
    _die_with_parent()
    lerobot_compat.enable_column_queries()
    lerobot_compat.run_training(pipeline_config(settings))


def train_policy(settings: TrainSettings, *, time_limit_s: float | None = None) -> TrainResult:
    """Train with LeRobot's trainer in a child process; return its newest checkpoint.

    Args:
        time_limit_s: stop the run after this many seconds and keep its newest checkpoint (the
            checkpoints every ``save_freq`` steps are what a stopped run keeps).

    Raises:
        FileExistsError: ``settings.output_dir`` exists (LeRobot would refuse it after its start-up).
        RuntimeError: the trainer failed (its traceback is in the log above), before the time limit.
    """
    if Path(settings.output_dir).exists():
        raise FileExistsError(f"Training output directory {str(settings.output_dir)!r} exists; LeRobot starts a run "
                              "in a new directory. Choose another one or delete it.")
    pipeline_config(settings)  # configuration errors surface here, before a process is started
    context = multiprocessing.get_context("spawn")  # fork would share CUDA and torch's thread pools
    child = context.Process(target=_train_in_child, args=(settings,), name="lerobot-train")
    start = time.perf_counter()
    child.start()
    try:
        child.join(time_limit_s)
    finally:  # the time limit, or an interrupt of this process: the child never outlives the call
        stopped = child.is_alive()
        if stopped:
            child.terminate()
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join()
    if not stopped and child.exitcode != 0:
        raise RuntimeError(f"LeRobot's trainer exited with code {child.exitcode}; its log above says why.")
    checkpoint, step = last_checkpoint(settings.output_dir)
    return TrainResult(checkpoint, step, time.perf_counter() - start, stopped)
