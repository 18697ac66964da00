"""The whole loop, end to end: scripted SO-101 demonstrations -> LeRobot's ACT training -> salt-vla evaluation.

1. record: the scripted expert (``salt_vla.create_policy("scripted")``) records successful episodes as a
   LeRobotDataset v3 (``salt_vla_so101.recorder.record_dataset``: both cameras, joint state, actions), in
   ``--record-workers`` processes (the same dataset as a serial recording of the same seeds), with frames as
   lossless PNGs (``--frames image``: no video decoding per training sample) or H.264 videos.
2. bare step: the training step of this run (LeRobot's policy, processors and optimizer) timed on one
   resident batch (``salt_vla_lerobot.training.measure_update_rate``), so the loop's rate can be compared.
3. train: LeRobot's own training loop (``lerobot.scripts.lerobot_train.train``, what ``lerobot-train``
   runs) trains ACT on it (``salt_vla_lerobot.training.train_policy``); a checkpoint every ``--save-freq``
   steps. With a time budget, the newest checkpoint saved before it is used.
4. evaluate: the last checkpoint is loaded through the ``act:`` adapter and evaluated by the SO-101 evaluator on
   ``--eval-episodes`` evaluation seeds from ``--eval-seed`` (default 20000-20099, never recorded); then every
   checkpoint on ``--val-episodes`` validation seeds from ``--val-seed`` (30000...: the success-vs-step curve,
   never used to pick the reported checkpoint). ``<out>/summary.json`` (rewritten after every phase, so a
   stopped run keeps what it measured) holds the dataset, the timings, the loop's rate against the bare step,
   success with its Wilson interval per checkpoint and the outcome counts.

A phase whose output exists in ``--out`` is not run again (``--overwrite`` starts afresh). ``--dataset DIR``
records into (or reuses) a dataset outside ``--out``, so that several runs share one recording.

Recipe options (docs/policies.md measures them):

- ``--action-noise DEG``: noise-injected demonstrations (DART): the expert's executed joint actions are
  perturbed by a seeded AR(1) noise of DEG degrees (``--action-noise-correlation``), the dataset records its
  clean actions (``salt_vla_so101.noise``).
- ``--augment shift``: DrQ's random shift of every camera image during training (``--shift-pad`` pixels; LeRobot's
  own ``dataset.image_transforms``, see ``salt_vla_lerobot.augmentation``); ``--augment lerobot``: LeRobot's
  colour set.
- ``--lr-decay F``: the learning rate falls by a cosine to ``F`` times its start at the last step.
- ``--train-episodes N``: train on the dataset's first N episodes; ``--train-seed``: the trainer's seed.
- ``--eval-n-action-steps N [N ...]``: also evaluate the last checkpoint executing N actions per chunk.
- ``--eval-checkpoints STEP [STEP ...]``: also evaluate these checkpoints on the evaluation seeds (training
  steps as an ablation, paired on the same seeds; the reported figure stays the last checkpoint's).

Presets (every value can be overridden by its flag):

- ``--preset tiny``: CPU, about a minute: proves the loop runs, not that ACT learns.
      python examples/train_act_on_scripted_demos.py --preset tiny --out /tmp/act_tiny
- ``--preset cpu``: a 2-core CPU in one hour: 40 demonstrations at 64x80, ACT with a 256-wide transformer
  (ResNet-18 from scratch), batch 32; training gets what the hour leaves after recording and the evaluation.
  Expect few successes (docs/policies.md).
      python examples/train_act_on_scripted_demos.py --preset cpu --out runs/act_cpu
- ``--preset gpu``: one H100/H200 inside one 30-minute block: 200 noise-injected demonstrations (DART, 2
  degrees: +43.5 points of success over clean ones in block 1 of the recipe, docs/policies.md) at 96x128
  recorded by 16 processes, ACT's default architecture (ResNet-18 trained from scratch: no pretrained weights offline), batch
  64, learning rate 1e-4, until the 1,380 s budget leaves 330 s for the evaluation: 100 evaluation episodes of
  the last checkpoint, and the curve on 50 validation episodes per checkpoint.
      python examples/train_act_on_scripted_demos.py --preset gpu --out /tmp/act_gpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(episodes=1, image_size=(48, 64), steps=10, batch_size=4, device="cpu", num_workers=0,
                 save_freq=5, lr=None, chunk_size=10, n_action_steps=10, eval_episodes=1, val_episodes=1,
                 eval_max_steps=40, workers=1, record_workers=1, frames="image", bare_steps=2,
                 time_budget=None, eval_reserve=0.0, eval_temporal_ensemble=None,
                 act=dict(dim_model=64, n_heads=2, dim_feedforward=128, n_encoder_layers=1, n_decoder_layers=1,
                          n_vae_encoder_layers=1, latent_dim=8)),
    "cpu": dict(episodes=40, image_size=(64, 80), steps=20_000, batch_size=32, device="cpu", num_workers=1,
                save_freq=250, lr=1e-4, chunk_size=50, n_action_steps=25, eval_episodes=40, val_episodes=0,
                eval_max_steps=None, workers=2, record_workers=2, frames="image", bare_steps=5,
                time_budget=3600.0, eval_reserve=720.0, eval_temporal_ensemble=None,
                act=dict(dim_model=256, n_heads=8, dim_feedforward=1024)),
    "gpu": dict(episodes=200, image_size=(96, 128), steps=100_000, batch_size=64, device="cuda", num_workers=8,
                save_freq=2_000, lr=1e-4, chunk_size=50, n_action_steps=25, eval_episodes=100, val_episodes=50,
                eval_max_steps=None, workers=14, record_workers=16, frames="image", bare_steps=50,
                time_budget=1380.0, eval_reserve=330.0, eval_temporal_ensemble=None, act={}, action_noise=2.0),
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--out", type=Path, required=True, help="working directory (dataset/, train/, eval/, summary.json)")
    p.add_argument("--episodes", type=int, help="scripted demonstrations to record (successes only)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="camera images, recorded and evaluated")
    p.add_argument("--fps", type=int, default=30, help="recording rate = control rate")
    p.add_argument("--frames", choices=("image", "video"), help="how the dataset stores camera frames")
    p.add_argument("--record-workers", type=int, help="processes recording demonstrations at once")
    p.add_argument("--steps", type=int, help="ACT optimizer steps (an upper bound under a time budget)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate of the transformer and the backbone (ACT's default 1e-5)")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--n-action-steps", type=int, help="actions executed per predicted chunk")
    p.add_argument("--device")
    p.add_argument("--num-workers", type=int, help="dataloader workers of the trainer")
    p.add_argument("--save-freq", type=int, help="steps between checkpoints (the curve's points)")
    p.add_argument("--bare-steps", type=int, help="timed steps of the bare-step measurement (0 skips it)")
    p.add_argument("--eval-episodes", type=int, help="evaluation episodes of the last checkpoint")
    p.add_argument("--eval-seed", type=int, default=20_000, help="first evaluation seed (never recorded)")
    p.add_argument("--val-episodes", type=int, help="validation episodes per checkpoint (the curve; 0 skips it)")
    p.add_argument("--val-seed", type=int, default=30_000, help="first validation seed (never recorded)")
    p.add_argument("--eval-max-steps", type=int, help="shorter episodes for a quick check (default: the task's 400)")
    p.add_argument("--workers", type=int, help="evaluation worker processes (each a CUDA process on a GPU)")
    p.add_argument("--eval-temporal-ensemble", type=float, metavar="COEFF",
                   help="also evaluate with ACT's temporal ensembling (re-plan every step, weights exp(-COEFF * i))")
    p.add_argument("--time-budget", type=float,
                   help="seconds for the whole run: training stops at budget - elapsed - eval reserve (0: no limit)")
    p.add_argument("--eval-reserve", type=float, help="seconds of the budget kept for the evaluations")
    p.add_argument("--eval-videos", type=int, default=2, metavar="N",
                   help="videos of the first N evaluation episodes of each outcome, replayed at the end (0: none; "
                        "the other evaluations record none)")
    p.add_argument("--eval-n-action-steps", type=int, nargs="+", metavar="N", default=[],
                   help="also evaluate the last checkpoint executing N actions per predicted chunk (each N)")
    p.add_argument("--eval-checkpoints", type=int, nargs="+", metavar="STEP", default=[],
                   help="also evaluate the checkpoints of these steps on the evaluation seeds (multiples of --save-freq)")
    p.add_argument("--dataset", type=Path, help="record into (or reuse) this dataset directory instead of OUT/dataset")
    p.add_argument("--action-noise", type=float, metavar="DEG",
                   help="record noise-injected demonstrations (DART): executed arm joints perturbed by DEG degrees "
                        "(gpu preset: 2; 0: clean demonstrations)")
    p.add_argument("--action-noise-correlation", type=float, default=0.9, metavar="RHO",
                   help="AR(1) correlation of that noise between steps (0: white; 0.9: drifts of ~10 steps)")
    p.add_argument("--augment", choices=("none", "shift", "lerobot"),
                   help="image augmentation during training (shift: DrQ's random shift)")
    p.add_argument("--shift-pad", type=int, default=4, help="pixels of the random shift (--augment shift)")
    p.add_argument("--lr-decay", type=float, metavar="F",
                   help="cosine learning-rate decay to F times the start rate at the last step (default: constant)")
    p.add_argument("--train-episodes", type=int, metavar="N", help="train on the dataset's first N episodes only")
    p.add_argument("--train-seed", type=int, help="the trainer's seed (default: --seed)")
    p.add_argument("--record-only", action="store_true", help="record the dataset (if missing) and stop")
    p.add_argument("--seed", type=int, default=0, help="demonstrations use seeds seed, seed+1, ...")
    p.add_argument("--overwrite", action="store_true", help="delete --out first")
    args = p.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.image_size = tuple(args.image_size)
    if args.train_seed is None:
        args.train_seed = args.seed
    if args.train_episodes is not None and not 1 <= args.train_episodes <= args.episodes:
        raise SystemExit(f"--train-episodes must be in 1..{args.episodes} (the recorded episodes); "
                         f"got {args.train_episodes}.")
    wrong = [step for step in args.eval_checkpoints
             if step < 1 or step > args.steps or (step % args.save_freq and step != args.steps)]
    if wrong:
        raise SystemExit(f"--eval-checkpoints {wrong}: checkpoints are saved every --save-freq {args.save_freq} steps "
                         f"and after the last one ({args.steps}); choose steps among those.")
    check_seeds(args)
    return args


def demo_seed_range(args: argparse.Namespace) -> range:
    """Every seed the recording may try (successes only: up to ``3 * episodes + 10`` attempts)."""
    return range(args.seed, args.seed + 3 * args.episodes + 10)


def check_seeds(args: argparse.Namespace) -> None:
    """Refuse evaluation or validation seeds that the recording may use, or that overlap each other."""
    ranges = {"demonstration": demo_seed_range(args),
              "evaluation": range(args.eval_seed, args.eval_seed + args.eval_episodes),
              "validation": range(args.val_seed, args.val_seed + args.val_episodes)}
    names = list(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = ranges[a], ranges[b]
            if len(ra) and len(rb) and ra.start < rb.stop and rb.start < ra.stop:
                raise SystemExit(f"The {a} seeds {ra.start}-{ra.stop - 1} overlap the {b} seeds "
                                 f"{rb.start}-{rb.stop - 1}; choose --seed, --eval-seed and --val-seed apart.")


def record(args: argparse.Namespace, dataset: Path) -> dict[str, Any]:
    """Record ``args.episodes`` successful scripted episodes into a new LeRobotDataset at ``dataset``."""
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.recorder import record_dataset

    import salt_vla

    summary = record_dataset(salt_vla.create_policy("scripted"), args.episodes, dataset, seed=args.seed,
                             keep_only_successes=True, fps=args.fps, policy_name="scripted", frames=args.frames,
                             workers=args.record_workers, task=TaskConfig(image_size=args.image_size),
                             repo_id="local/so101_scripted_demos", action_noise=action_noise(args))
    return {"saved": summary.saved, "attempted": summary.attempted, "frames": args.frames,
            "workers": args.record_workers, "action_noise": summary.report.config["action_noise"],
            "wall_time_s": round(summary.report.wall_time_s, 1),
            "seeds": [r.seed for r in summary.report.episodes if r.outcome.value == "success"]}


def action_noise(args: argparse.Namespace) -> Any:
    """The recording's :class:`salt_vla_so101.noise.ActionNoise` (``None``: clean demonstrations)."""
    from salt_vla_so101.noise import ActionNoise

    if not args.action_noise:
        return None
    return ActionNoise(std=args.action_noise, correlation=args.action_noise_correlation)


def recording_file(dataset: Path) -> Path:
    """Where a dataset's recording summary is kept, beside it (so runs that reuse the dataset can report it)."""
    return dataset.parent / f"{dataset.name}.recording.json"


def train_settings(args: argparse.Namespace, dataset: Path, output_dir: Path) -> Any:
    """The LeRobot ACT training run of ``args`` (a :class:`salt_vla_lerobot.training.TrainSettings`)."""
    from salt_vla_lerobot.augmentation import image_transforms
    from salt_vla_lerobot.training import TrainSettings

    policy = {"chunk_size": args.chunk_size, "n_action_steps": args.n_action_steps, **args.act}
    if args.lr:
        policy.update(optimizer_lr=args.lr, optimizer_lr_backbone=args.lr)
    episodes = tuple(range(args.train_episodes)) if args.train_episodes else None
    return TrainSettings(dataset=dataset, output_dir=output_dir, policy_type="act", policy=policy, steps=args.steps,
                         batch_size=args.batch_size, device=args.device, num_workers=args.num_workers,
                         seed=args.train_seed, save_freq=args.save_freq, log_freq=max(1, min(200, args.steps // 10)),
                         repo_id="local/so101_scripted_demos", episodes=episodes, lr_decay=args.lr_decay,
                         image_transforms=image_transforms(args.augment or "none", args.image_size, pad=args.shift_pad))


def evaluate(args: argparse.Namespace, checkpoint: Path, out_dir: Path, *, seed: int, episodes: int,
             temporal_ensemble: float | None = None, n_action_steps: int | None = None,
             name: str = "act (scripted demos)", videos: int = 0) -> Any:
    """Evaluate the ACT checkpoint on seeds ``seed ... seed + episodes - 1``; writes the report to ``out_dir``.

    ``videos``: replay the first ``videos`` episodes of each outcome into videos at the end (0: none).

    With ``temporal_ensemble``, the policy re-plans at every step and executes the weighted average of every
    chunk's prediction for that step (``salt_vla_lerobot.wrappers.TemporalEnsemble``).
    """
    import salt_vla

    overrides: dict[str, Any] = {"image_size": args.image_size, "control_hz": float(args.fps)}
    if args.eval_max_steps:
        overrides["max_steps"] = args.eval_max_steps
    evaluator = salt_vla.create_evaluator("so101_pick_place", **overrides)
    policy_kwargs: dict[str, Any] = {"device": args.device}
    if temporal_ensemble is not None:
        policy_kwargs["temporal_ensemble"] = temporal_ensemble
        name = f"{name}, temporal ensemble {temporal_ensemble:g}"
    if n_action_steps is not None:
        policy_kwargs["n_action_steps"] = n_action_steps
        name = f"{name}, {n_action_steps} actions per chunk"
    video_options: dict[str, Any] = {"video": None, "videos_per_outcome": videos} if videos else {"video": False}
    return evaluator.evaluate(f"act:{checkpoint}", episodes, seed=seed, workers=args.workers, out_dir=out_dir,
                              **video_options,
                              policy_kwargs=policy_kwargs, name=name)


def evaluation_summary(report: Any, first_seed: int, report_dir: Path) -> dict[str, Any]:
    """The figures of one evaluation that ``summary.json`` keeps (``outcomes``: one per seed, in seed order)."""
    aggregates = report.aggregates
    return {"episodes": len(report.episodes), "seeds": [first_seed, first_seed + len(report.episodes) - 1],
            "success_rate": aggregates["success_rate"], "success_ci95": aggregates["success_ci95"],
            "outcome_counts": aggregates["outcome_counts"], "wall_time_s": round(report.wall_time_s, 1),
            "outcomes": [e.outcome.value for e in sorted(report.episodes, key=lambda e: e.seed)],
            "report_dir": str(report_dir)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from salt_vla_lerobot.training import (
        checkpoint_step_rate,
        checkpoints,
        last_checkpoint,
        measure_update_rate,
        train_policy,
    )

    from salt_vla.io import atomic_write_json

    args = parse(argv)
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    dataset, train_dir = args.dataset or args.out / "dataset", args.out / "train"
    start = time.perf_counter()
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"preset": args.preset, "args": {k: v for k, v in vars(args).items() if k != "out"},
                               "machine": machine()}

    def save() -> None:
        summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
        atomic_write_json(args.out / "summary.json", json.loads(json.dumps(summary, default=str)))

    if not (dataset / "meta" / "info.json").is_file():
        summary["recording"] = record(args, dataset)
        atomic_write_json(recording_file(dataset), summary["recording"])
        timings["record_s"] = time.perf_counter() - start
    elif recording_file(dataset).is_file():
        summary["recording"] = {**json.loads(recording_file(dataset).read_text()), "reused": str(dataset)}
    info = json.loads((dataset / "meta" / "info.json").read_text())
    summary["dataset"] = {"episodes": info["total_episodes"], "frames": info["total_frames"], "fps": info["fps"],
                          "image_size": list(args.image_size), "trained_on_episodes": args.train_episodes or
                          info["total_episodes"],
                          "bytes": sum(f.stat().st_size for f in dataset.rglob("*") if f.is_file())}
    save()
    if args.record_only:
        return summary

    settings = train_settings(args, dataset, train_dir)
    if (train_dir / "checkpoints" / "last" / "pretrained_model" / "config.json").is_file():
        checkpoint, step = last_checkpoint(train_dir)
        summary["training"] = {"step": step, "reused": True}
    else:
        if args.bare_steps:
            phase = time.perf_counter()
            summary["bare_step"] = measure_update_rate(settings, steps=args.bare_steps)
            timings["bare_step_s"] = time.perf_counter() - phase
            save()
        elapsed = time.perf_counter() - start
        limit = args.time_budget - elapsed - args.eval_reserve if args.time_budget else None
        if limit is not None and limit < 30:
            raise SystemExit(f"Only {limit:.0f} s of the {args.time_budget:.0f} s budget are left for training "
                             f"after {elapsed:.0f} s of recording; raise --time-budget or record fewer episodes.")
        result = train_policy(settings, time_limit_s=limit)
        checkpoint = result.checkpoint
        timings["train_s"] = result.wall_time_s
        rate = checkpoint_step_rate(train_dir)
        summary["training"] = {"step": result.step, "steps_requested": args.steps, "time_limit_s": limit,
                               "stopped_by_time_limit": result.stopped_by_time_limit,
                               "samples_seen": result.step * args.batch_size, "steps_per_s": rate}
        if rate and "bare_step" in summary:
            summary["training"]["fraction_of_bare_step_rate"] = rate / summary["bare_step"]["steps_per_s"]
    summary["checkpoint"] = str(checkpoint)
    save()

    eval_start = time.perf_counter()
    report = evaluate(args, checkpoint, args.out / "eval", seed=args.eval_seed, episodes=args.eval_episodes,
                      videos=args.eval_videos)
    summary["evaluation"] = {"checkpoint_step": last_checkpoint(train_dir)[1],
                             **evaluation_summary(report, args.eval_seed, args.out / "eval")}
    timings["eval_s"] = time.perf_counter() - eval_start
    save()
    def extra_evaluation(model: Path, directory: str, **options: Any) -> dict[str, Any]:
        """Evaluate ``model`` on the evaluation seeds into ``<out>/<directory>`` (no videos), timed as
        ``<directory>_s``; ``options`` go to :func:`evaluate`."""
        phase = time.perf_counter()
        report = evaluate(args, model, args.out / directory, seed=args.eval_seed, episodes=args.eval_episodes,
                          **options)
        timings[f"{directory}_s"] = time.perf_counter() - phase
        return evaluation_summary(report, args.eval_seed, args.out / directory)

    if args.eval_temporal_ensemble is not None:
        summary["evaluation_temporal_ensemble"] = {"coeff": args.eval_temporal_ensemble, **extra_evaluation(
            checkpoint, "eval_temporal_ensemble", temporal_ensemble=args.eval_temporal_ensemble)}
        save()
    for n in args.eval_n_action_steps:
        summary.setdefault("evaluation_n_action_steps", {})[str(n)] = extra_evaluation(
            checkpoint, f"eval_n_action_steps_{n}", n_action_steps=n)
        save()
    saved = {step: model for step, model, _ in checkpoints(train_dir)}
    missing = [step for step in args.eval_checkpoints if step not in saved]
    if missing:
        raise SystemExit(f"--eval-checkpoints {missing}: the run has no checkpoint of these steps (it has "
                         f"{sorted(saved)}); a time limit may have stopped it before.")
    for step in args.eval_checkpoints:
        summary.setdefault("evaluation_checkpoints", {})[str(step)] = extra_evaluation(
            saved[step], f"eval_step_{step:06d}", name=f"act (scripted demos) step {step}")
        save()
    if args.val_episodes:
        # The success-vs-step curve on validation seeds, newest checkpoint first (a stopped run keeps those).
        phase = time.perf_counter()
        curve = summary.setdefault("curve", {})
        for step, model, _ in reversed(checkpoints(train_dir)):
            if str(step) in curve:
                continue
            out = args.out / "validation" / f"step_{step:06d}"
            report = evaluate(args, model, out, seed=args.val_seed, episodes=args.val_episodes,
                              name=f"act (scripted demos) step {step}")
            curve[str(step)] = evaluation_summary(report, args.val_seed, out)
            timings["validation_s"] = time.perf_counter() - phase
            save()
        summary["curve"] = dict(sorted(curve.items(), key=lambda kv: int(kv[0])))
    timings["total_s"] = time.perf_counter() - start
    save()
    print(json.dumps(summary, indent=2, default=str))
    return summary


def machine() -> dict[str, Any]:
    """Where the run happened: host name, cores, GPU, versions and the date."""
    import datetime
    import os
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        from importlib.metadata import version

        lerobot = version("lerobot")
    except Exception:
        lerobot = None
    return {"host": platform.node(), "cpus": os.cpu_count(), "gpu": gpu, "python": platform.python_version(),
            "torch": torch.__version__, "lerobot": lerobot,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


if __name__ == "__main__":
    main()
