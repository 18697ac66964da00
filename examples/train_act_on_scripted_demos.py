"""The whole loop, end to end: scripted SO-101 demonstrations -> LeRobot's ACT training -> salt-vla evaluation.

1. record: the scripted expert (``salt_vla.create_policy("scripted")``) records successful episodes as a
   LeRobotDataset v3 (``salt_vla_so101.recorder.record_dataset``: both cameras, joint state, actions).
2. train: LeRobot's own training loop (``lerobot.scripts.lerobot_train.train``, what ``lerobot-train``
   runs) trains ACT on it (``salt_vla_lerobot.training.train_policy``); the checkpoint holds the model and
   its pre/post-processors. With a time limit, the newest checkpoint saved before it is used.
3. evaluate: the checkpoint is loaded through the ``act:`` adapter and evaluated by the SO-101 evaluator on
   seeds never recorded; the report (success rate with its Wilson 95% interval, outcome breakdown) is
   written to ``<out>/eval`` and summarised in ``<out>/summary.json``.

A phase whose output exists in ``--out`` is not run again (``--overwrite`` starts afresh).

Presets (every value can be overridden by its flag):

- ``--preset tiny``: CPU, under a minute: proves the loop runs, not that ACT learns.
      python examples/train_act_on_scripted_demos.py --preset tiny --out /tmp/act_tiny
- ``--preset cpu``: a 2-core CPU in one hour: 40 demonstrations at 64x80, ACT with a 256-wide transformer
  (ResNet-18 from scratch), batch 32; training gets what the hour leaves after recording and the evaluation
  (about 2,000 steps at 1.35 s a step). Expect few successes: on an H100, ACT needed 6,000 steps at batch 64
  to reach 38% (docs/policies.md).
      python examples/train_act_on_scripted_demos.py --preset cpu --out runs/act_cpu
- ``--preset gpu``: one H100 in 15 minutes: 100 demonstrations at 96x128, ACT's default architecture
  (ResNet-18 trained from scratch: no pretrained weights offline), batch 64, learning rate 1e-4; training
  gets what the 900 s budget leaves after recording and before the evaluation's 150 s reserve; 50 evaluation
  episodes in 4 worker processes, as trained and with ACT's temporal ensembling (coefficient 0.01).
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
                 save_freq=None, lr=None, chunk_size=10, n_action_steps=10, eval_episodes=1, eval_max_steps=40,
                 workers=1, time_budget=None, eval_reserve=0.0, eval_temporal_ensemble=None,
                 act=dict(dim_model=64, n_heads=2, dim_feedforward=128, n_encoder_layers=1, n_decoder_layers=1,
                          n_vae_encoder_layers=1, latent_dim=8)),
    "cpu": dict(episodes=40, image_size=(64, 80), steps=20_000, batch_size=32, device="cpu", num_workers=1,
                save_freq=250, lr=1e-4, chunk_size=50, n_action_steps=25, eval_episodes=40, eval_max_steps=None,
                workers=2, time_budget=3600.0, eval_reserve=720.0, eval_temporal_ensemble=None,
                act=dict(dim_model=256, n_heads=8, dim_feedforward=1024)),
    "gpu": dict(episodes=100, image_size=(96, 128), steps=30_000, batch_size=64, device="cuda", num_workers=14,
                save_freq=500, lr=1e-4, chunk_size=50, n_action_steps=25, eval_episodes=50, eval_max_steps=None,
                workers=4, time_budget=900.0, eval_reserve=150.0, eval_temporal_ensemble=0.01, act={}),
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--out", type=Path, required=True, help="working directory (dataset/, train/, eval/, summary.json)")
    p.add_argument("--episodes", type=int, help="scripted demonstrations to record (successes only)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="camera images, recorded and evaluated")
    p.add_argument("--fps", type=int, default=30, help="recording rate = control rate")
    p.add_argument("--steps", type=int, help="ACT optimizer steps (an upper bound under a time budget)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate of the transformer and the backbone (ACT's default 1e-5)")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--n-action-steps", type=int, help="actions executed per predicted chunk")
    p.add_argument("--device")
    p.add_argument("--num-workers", type=int, help="dataloader workers of the trainer")
    p.add_argument("--save-freq", type=int, help="steps between checkpoints (what a time-limited run keeps)")
    p.add_argument("--eval-episodes", type=int)
    p.add_argument("--eval-max-steps", type=int, help="shorter episodes for a quick check (default: the task's 400)")
    p.add_argument("--workers", type=int, help="evaluation worker processes (each a CUDA process on a GPU)")
    p.add_argument("--eval-temporal-ensemble", type=float, metavar="COEFF",
                   help="also evaluate with ACT's temporal ensembling (re-plan every step, weights exp(-COEFF * i))")
    p.add_argument("--time-budget", type=float,
                   help="seconds for the whole run: training stops at budget - elapsed - eval reserve")
    p.add_argument("--eval-reserve", type=float, help="seconds of the budget kept for the evaluation")
    p.add_argument("--seed", type=int, default=0, help="demonstrations use seeds seed.., evaluation seed+10000..")
    p.add_argument("--overwrite", action="store_true", help="delete --out first")
    args = p.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.image_size = tuple(args.image_size)
    return args


def record(args: argparse.Namespace, dataset: Path) -> dict[str, Any]:
    """Record ``args.episodes`` successful scripted episodes into a new LeRobotDataset at ``dataset``."""
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.recorder import record_dataset

    import salt_vla

    summary = record_dataset(salt_vla.create_policy("scripted"), args.episodes, dataset, seed=args.seed,
                             keep_only_successes=True, fps=args.fps, policy_name="scripted",
                             task=TaskConfig(image_size=args.image_size), repo_id="local/so101_scripted_demos")
    return {"saved": summary.saved, "attempted": summary.attempted}


def train_settings(args: argparse.Namespace, dataset: Path, output_dir: Path) -> Any:
    """The LeRobot ACT training run of ``args`` (a :class:`salt_vla_lerobot.training.TrainSettings`)."""
    from salt_vla_lerobot.training import TrainSettings

    policy = {"chunk_size": args.chunk_size, "n_action_steps": args.n_action_steps, **args.act}
    if args.lr:
        policy.update(optimizer_lr=args.lr, optimizer_lr_backbone=args.lr)
    return TrainSettings(dataset=dataset, output_dir=output_dir, policy_type="act", policy=policy, steps=args.steps,
                         batch_size=args.batch_size, device=args.device, num_workers=args.num_workers, seed=args.seed,
                         save_freq=args.save_freq, log_freq=max(1, min(200, args.steps // 10)),
                         repo_id="local/so101_scripted_demos")


def evaluate(args: argparse.Namespace, checkpoint: Path, out_dir: Path, temporal_ensemble: float | None = None) -> Any:
    """Evaluate the ACT checkpoint on seeds ``seed + 10000 ...`` (never recorded); writes the report to ``out_dir``.

    With ``temporal_ensemble``, the policy re-plans at every step and executes the weighted average of every
    chunk's prediction for that step (``salt_vla_lerobot.wrappers.TemporalEnsemble``).
    """
    import salt_vla

    overrides: dict[str, Any] = {"image_size": args.image_size, "control_hz": float(args.fps)}
    if args.eval_max_steps:
        overrides["max_steps"] = args.eval_max_steps
    evaluator = salt_vla.create_evaluator("so101_pick_place", **overrides)
    policy_kwargs: dict[str, Any] = {"device": args.device}
    name = "act (scripted demos)"
    if temporal_ensemble is not None:
        policy_kwargs["temporal_ensemble"] = temporal_ensemble
        name = f"act (scripted demos, temporal ensemble {temporal_ensemble:g})"
    return evaluator.evaluate(f"act:{checkpoint}", args.eval_episodes, seed=args.seed + 10_000, workers=args.workers,
                              out_dir=out_dir, policy_kwargs=policy_kwargs, name=name)


def evaluation_summary(report: Any, first_seed: int, report_dir: Path) -> dict[str, Any]:
    """The figures of one evaluation that ``summary.json`` keeps."""
    aggregates = report.aggregates
    return {"episodes": len(report.episodes), "first_seed": first_seed, "success_rate": aggregates["success_rate"],
            "success_ci95": aggregates["success_ci95"], "outcome_counts": aggregates["outcome_counts"],
            "wall_time_s": round(report.wall_time_s, 1), "report_dir": str(report_dir)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from salt_vla_lerobot.training import last_checkpoint, train_policy

    from salt_vla.io import atomic_write_json

    args = parse(argv)
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    dataset, train_dir, eval_dir = args.out / "dataset", args.out / "train", args.out / "eval"
    start = time.perf_counter()
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"preset": args.preset, "args": {k: v for k, v in vars(args).items() if k != "out"}}

    if not (dataset / "meta" / "info.json").is_file():
        summary["recording"] = record(args, dataset)
        timings["record_s"] = time.perf_counter() - start
    info = json.loads((dataset / "meta" / "info.json").read_text())
    summary["dataset"] = {"episodes": info["total_episodes"], "frames": info["total_frames"], "fps": info["fps"],
                          "image_size": list(args.image_size)}

    settings = train_settings(args, dataset, train_dir)
    if (train_dir / "checkpoints" / "last" / "pretrained_model" / "config.json").is_file():
        checkpoint, step = last_checkpoint(train_dir)
        summary["training"] = {"step": step, "reused": True}
    else:
        elapsed = time.perf_counter() - start
        limit = args.time_budget - elapsed - args.eval_reserve if args.time_budget else None
        if limit is not None and limit < 30:
            raise SystemExit(f"Only {limit:.0f} s of the {args.time_budget:.0f} s budget are left for training "
                             f"after {elapsed:.0f} s of recording; raise --time-budget or record fewer episodes.")
        result = train_policy(settings, time_limit_s=limit)
        checkpoint = result.checkpoint
        timings["train_s"] = result.wall_time_s
        summary["training"] = {"step": result.step, "steps_requested": args.steps, "time_limit_s": limit,
                               "stopped_by_time_limit": result.stopped_by_time_limit,
                               "samples_seen": result.step * args.batch_size}
    summary["checkpoint"] = str(checkpoint)

    eval_start = time.perf_counter()
    report = evaluate(args, checkpoint, eval_dir)
    summary["evaluation"] = evaluation_summary(report, args.seed + 10_000, eval_dir)
    if args.eval_temporal_ensemble is not None:
        ensemble_dir = args.out / "eval_temporal_ensemble"
        report = evaluate(args, checkpoint, ensemble_dir, temporal_ensemble=args.eval_temporal_ensemble)
        summary["evaluation_temporal_ensemble"] = {"coeff": args.eval_temporal_ensemble,
                                                   **evaluation_summary(report, args.seed + 10_000, ensemble_dir)}
    timings["eval_s"] = time.perf_counter() - eval_start
    timings["total_s"] = time.perf_counter() - start
    summary["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    atomic_write_json(args.out / "summary.json", json.loads(json.dumps(summary, default=str)))
    print(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
