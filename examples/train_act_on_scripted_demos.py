"""The whole loop, end to end: scripted SO-101 demonstrations -> LeRobot's ACT training -> salt-vla evaluation.

1. The scripted expert (``salt_vla.create_policy("scripted")``) records successful episodes as a LeRobot v3
   dataset (``salt_vla_so101.recorder.record_dataset``).
2. LeRobot's own trainer (``python -m lerobot.scripts.lerobot_train``, the ``lerobot-train`` CLI) trains ACT
   on it; the checkpoint holds the model and its pre/post-processors.
3. The trained checkpoint is loaded through the ``act:`` adapter and evaluated by the SO-101 evaluator; the
   report (success rate with its confidence interval, outcome breakdown) is printed and written to disk.

Presets (every value can be overridden by its flag):

- ``--preset tiny``: CPU, a few minutes: proves the loop runs, not that ACT learns.
      python examples/train_act_on_scripted_demos.py --preset tiny --out /tmp/act_tiny
- ``--preset gpu``: one H100, about 15 minutes: 80 demonstrations, ACT's default architecture.
      python examples/train_act_on_scripted_demos.py --preset gpu --out /tmp/act_gpu
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PRESETS = {
    "tiny": dict(episodes=2, steps=30, batch_size=4, device="cpu", eval_episodes=2, eval_max_steps=60,
                 image_size=(48, 64), chunk_size=10, n_action_steps=10, num_workers=0, workers=1,
                 act=dict(dim_model=64, n_heads=2, dim_feedforward=128, n_encoder_layers=1, n_decoder_layers=1,
                          n_vae_encoder_layers=1, latent_dim=8)),
    "gpu": dict(episodes=80, steps=20_000, batch_size=32, device="cuda", eval_episodes=50, eval_max_steps=None,
                image_size=(96, 128), chunk_size=50, n_action_steps=25, num_workers=8, workers=8, act={}),
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--out", type=Path, required=True, help="working directory (dataset/, train/, eval/)")
    p.add_argument("--episodes", type=int, help="scripted demonstrations to record (successes only)")
    p.add_argument("--steps", type=int, help="ACT optimizer steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device")
    p.add_argument("--eval-episodes", type=int)
    p.add_argument("--eval-max-steps", type=int, help="shorter episodes for a quick check (default: the task's)")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"))
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--n-action-steps", type=int)
    p.add_argument("--num-workers", type=int, help="dataloader workers of the trainer")
    p.add_argument("--workers", type=int, help="evaluation worker processes")
    p.add_argument("--seed", type=int, default=0, help="demonstrations use seeds seed.., evaluation seed+10000..")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--overwrite", action="store_true", help="delete --out first")
    args = p.parse_args()
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def record(args: argparse.Namespace, dataset: Path) -> None:
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.recorder import record_dataset

    import salt_vla

    expert = salt_vla.create_policy("scripted")
    record_dataset(expert, args.episodes, dataset, seed=args.seed, keep_only_successes=True, fps=args.fps,
                   task=TaskConfig(image_size=tuple(args.image_size), control_hz=args.fps))


def train(args: argparse.Namespace, dataset: Path, output: Path) -> Path:
    """Run LeRobot's trainer in a subprocess (its CLI is the same in LeRobot 0.4.4 and >= 0.5)."""
    flags = {
        "dataset.repo_id": "local/so101_scripted_demos", "dataset.root": dataset, "dataset.video_backend": "pyav",
        "policy.type": "act", "policy.device": args.device, "policy.push_to_hub": "false",
        "policy.pretrained_backbone_weights": "null",  # no torchvision download (offline GPU machine)
        "policy.chunk_size": args.chunk_size, "policy.n_action_steps": args.n_action_steps,
        "output_dir": output, "steps": args.steps, "batch_size": args.batch_size, "save_freq": args.steps,
        "log_freq": max(1, min(200, args.steps // 10)), "num_workers": args.num_workers, "seed": args.seed,
        "wandb.enable": "false",
        **{f"policy.{k}": v for k, v in args.act.items()},
    }
    command = [sys.executable, "-m", "lerobot.scripts.lerobot_train", *(f"--{k}={v}" for k, v in flags.items())]
    print("$", " ".join(command), flush=True)
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    subprocess.run(command, check=True, env=env)
    checkpoint = output / "checkpoints" / "last" / "pretrained_model"
    if not (checkpoint / "config.json").is_file():
        raise SystemExit(f"LeRobot's trainer finished but wrote no checkpoint at {checkpoint}.")
    return checkpoint


def evaluate(args: argparse.Namespace, checkpoint: Path, out_dir: Path) -> dict:
    from salt_vla_so101.config import TaskConfig

    import salt_vla

    policy = salt_vla.create_policy(f"act:{checkpoint}", device=args.device)
    print("policy:", json.dumps(policy.describe(), default=str), flush=True)
    overrides = {"image_size": tuple(args.image_size), "control_hz": args.fps}
    if args.eval_max_steps:
        overrides["max_steps"] = args.eval_max_steps
    evaluator = salt_vla.create_evaluator("so101_pick_place", task=TaskConfig(**overrides))
    report = evaluator.evaluate(policy, args.eval_episodes, seed=args.seed + 10_000, workers=args.workers,
                                out_dir=out_dir)
    report.write(out_dir)
    return json.loads(report.to_json())


def main() -> None:
    args = parse()
    if args.overwrite and args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    dataset, train_dir, eval_dir = args.out / "dataset", args.out / "train", args.out / "eval"

    start = time.perf_counter()
    if not (dataset / "meta" / "info.json").is_file():
        record(args, dataset)
    timings["record_s"] = time.perf_counter() - start

    start = time.perf_counter()
    checkpoint = train_dir / "checkpoints" / "last" / "pretrained_model"
    if not (checkpoint / "config.json").is_file():
        checkpoint = train(args, dataset, train_dir)
    timings["train_s"] = time.perf_counter() - start

    start = time.perf_counter()
    report = evaluate(args, checkpoint, eval_dir)
    timings["eval_s"] = time.perf_counter() - start

    info = json.loads((dataset / "meta" / "info.json").read_text())
    summary = {
        "preset": args.preset, "dataset_episodes": info.get("total_episodes"), "dataset_frames": info.get("total_frames"),
        "train_steps": args.steps, "batch_size": args.batch_size, "device": args.device,
        "timings_s": {k: round(v, 1) for k, v in timings.items()}, "checkpoint": str(checkpoint),
        "report": report, "report_dir": str(eval_dir),
    }
    from salt_vla.io import atomic_write_json

    atomic_write_json(args.out / "summary.json", summary)
    print(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
