"""Pi0 / Pi0.5 through the salt-vla adapter with LeRobot >= 0.5, offline, on SO-101 observations.

LeRobot fixes Pi0's sizes (PaliGemma gemma_2b + a gemma_300m action expert, about 3.5B parameters), so this
builds the real architecture with random weights (``salt_vla_lerobot.builders.build_random_pi``) and a
word-level tokenizer trained here in place of PaliGemma's Hub tokenizer. It then proves the path a trained
checkpoint takes: ``create_policy("pi0:<dir>")`` with all load-time checks, Pi0's own camera names mapped
onto the task's (the third camera left out, as LeRobot allows), ``act()`` on rendered SO-101 frames,
``predict_chunk()`` with several seeded noise samples, and a short evaluator episode. Random weights do not
solve the task: this checks plumbing, shapes, units and timing, not skill.

Needs Python >= 3.12, LeRobot >= 0.5 (``lerobot[pi]``), MuJoCo and the SO-101 assets. On the GPU machine:
    python examples/pi0_lerobot05_smoke.py --family pi0 --device cuda --out /tmp/pi0_smoke
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

PI0_CAMERAS = ("base_0_rgb", "left_wrist_0_rgb", "right_wrist_0_rgb")
CAMERA_MAP = {"base_0_rgb": "overhead_cam", "left_wrist_0_rgb": "wrist_cam", "right_wrist_0_rgb": None}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", choices=["pi0", "pi05"], default="pi0")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    p.add_argument("--out", type=Path, default=Path("/tmp/pi0_smoke"))
    p.add_argument("--image-size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    p.add_argument("--steps", type=int, default=5, help="act() steps in the simulator")
    p.add_argument("--samples", type=int, default=4, help="seeded predict_chunk samples")
    p.add_argument("--episodes", type=int, default=1, help="evaluator episodes (0 skips)")
    p.add_argument("--episode-steps", type=int, default=30, help="max_steps of those episodes")
    p.add_argument("--no-sim", action="store_true",
                   help="random SO-101-shaped observations instead of MuJoCo frames (no mujoco/so101 wheels needed)")
    return p.parse_args()


def timed(log: dict[str, Any], name: str, fn: Any) -> Any:
    start = time.perf_counter()
    result = fn()
    log["timings_s"][name] = round(time.perf_counter() - start, 3)
    print(f"[{name}] {log['timings_s'][name]:.2f} s", flush=True)
    return result


def main() -> None:
    args = parse()
    import lerobot
    import torch
    import transformers
    from salt_vla_lerobot.builders import build_random_pi, so101_stats

    import salt_vla
    from salt_vla import lerobot_compat
    from salt_vla.io import atomic_write_json
    from salt_vla.robot import SO101_CAMERAS, Observation

    log: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "lerobot": lerobot.__version__, "device": args.device, "family": args.family, "dtype": args.dtype,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "timings_s": {},
    }
    print(json.dumps(log), flush=True)
    if lerobot_compat.lerobot_version() < (0, 5, 0):
        raise SystemExit(f"LeRobot {lerobot.__version__} cannot run Pi0; install LeRobot >= 0.5 on Python >= 3.12.")

    directory = args.out / f"{args.family}_random"
    if not (directory / "config.json").is_file():
        timed(log, "build_and_save", lambda: build_random_pi(
            directory, family=args.family, cameras=PI0_CAMERAS, image_size=tuple(args.image_size), dtype=args.dtype,
            stats=so101_stats(PI0_CAMERAS)))
    policy = timed(log, "load_through_adapter",
                   lambda: salt_vla.create_policy(f"{args.family}:{directory}", device=args.device, camera_map=CAMERA_MAP))
    log["policy"] = policy.describe()
    print(json.dumps(log["policy"], default=str), flush=True)

    rng = np.random.default_rng(0)

    def synthetic() -> Observation:
        images = {cam: rng.integers(0, 256, (*args.image_size, 3), dtype=np.uint8) for cam in SO101_CAMERAS}
        return Observation(images=images, state=rng.normal(0, 20, 6).astype(np.float32),
                           task="pick up the block and place it in the bowl")

    if args.no_sim:
        step_fn, observation = (lambda action: synthetic()), synthetic()
    else:
        from salt_vla_so101.config import TaskConfig
        from salt_vla_so101.task import PickPlaceTask

        task = PickPlaceTask(TaskConfig(image_size=tuple(args.image_size)))
        step_fn, observation = task.step, task.reset(seed=0)
    policy.reset()
    actions = []
    for step in range(args.steps):
        action = timed(log, f"act_{step}", lambda obs=observation: policy.act(obs))
        assert action.shape == (6,) and np.isfinite(action).all(), action
        actions.append(action.tolist())
        observation = step_fn(action)
    log["actions"] = actions

    chunks = timed(log, f"predict_chunk_{args.samples}",
                   lambda: policy.predict_chunk(observation, num_samples=args.samples, seed=0))
    again = policy.predict_chunk(observation, num_samples=args.samples, seed=0)
    other = policy.predict_chunk(observation, num_samples=args.samples, seed=1)
    log["predict_chunk"] = {
        "shape": list(chunks.shape),
        "finite": bool(np.isfinite(chunks).all()),
        "same_seed_max_abs_diff": float(np.abs(chunks - again).max()),
        "other_seed_max_abs_diff": float(np.abs(chunks - other).max()),
        "spread_across_samples_per_dim": np.std(chunks, axis=0).mean(axis=0).round(3).tolist(),
        "range_per_dim": [[round(float(chunks[..., i].min()), 2), round(float(chunks[..., i].max()), 2)]
                          for i in range(chunks.shape[-1])],
    }
    assert chunks.shape == (args.samples, policy.chunk_size, 6), chunks.shape
    print(json.dumps(log["predict_chunk"]), flush=True)

    if args.episodes and not args.no_sim:
        from salt_vla_so101.config import TaskConfig

        evaluator = salt_vla.create_evaluator(
            "so101_pick_place", task=TaskConfig(image_size=tuple(args.image_size), max_steps=args.episode_steps))
        report = timed(log, "evaluate", lambda: evaluator.evaluate(policy, args.episodes, seed=0,
                                                                    out_dir=args.out / "eval"))
        log["evaluation"] = json.loads(report.to_json())
    atomic_write_json(args.out / "smoke_log.json", json.loads(json.dumps(log, default=str)))
    print(f"log written to {args.out / 'smoke_log.json'}")


if __name__ == "__main__":
    main()
