"""Cost of a whisker step relative to a plain evaluation step, on the real SO-101 task.

A *plain evaluation step* is what the SO-101 evaluator does each control step: ``policy.act(obs)`` then
``task.step(action)`` (which renders the cameras the policy reads). A *whisker step* adds, before it:

- ``predict``: ``policy.predict_chunk(obs, num_samples=K, seed=...)``;
- ``simulate``: forward-simulating the K chunks in a copy of the state (L control steps each; identical
  samples of a deterministic policy are simulated once, ``distinct_samples`` says how many were not);
- ``draw``: rendering one frame with the current bundle, ghosts and the executed path.

The ratio is ``(plain + predict + simulate + draw) / plain`` with whiskers at every step; ``ratio_every_N``
amortises the extra over N steps (``salt-vla whiskers --every N``). Medians over the measured steps of
episode ``--seed``, after ``--warmup`` steps.

CPU here:  python benchmarks/whiskers_cost.py
GPU:       python benchmarks/whiskers_cost.py --build act --build-size default --device cuda --size 480x640
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import emit, parser

import salt_vla


def _size(text: str) -> tuple[int, int]:
    height, width = (int(v) for v in text.lower().split("x"))
    return height, width


def _timed(fn: Callable[..., Any], *args: Any, sync: Callable[[], None] | None = None, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    if sync:
        sync()
    return out, time.perf_counter() - start


def build_policy(args: Any, workdir: Path) -> tuple[Any, str]:
    """The policy to measure and its SPEC (a random-weight LeRobot checkpoint when ``--build`` is given)."""
    if args.build == "none":
        return salt_vla.create_policy(args.policy), args.policy
    from salt_vla_lerobot import builders

    build = {"act": builders.build_act, "smolvla": builders.build_smolvla}[args.build]
    directory = build(workdir / args.build, size=args.build_size, image_size=args.image_size)
    spec = f"{args.build}:{directory}"
    return salt_vla.create_policy(spec, device=args.device), f"{args.build} ({args.build_size}, random weights)"


def measure(policy: Any, samples: int, args: Any) -> dict[str, Any]:
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.rollout import seed_everything
    from salt_vla_whiskers.config import WhiskerConfig
    from salt_vla_whiskers.draw import WhiskerRenderer
    from salt_vla_whiskers.episode import chunk_seed, make_task
    from salt_vla_whiskers.simulate import ChunkSimulator

    sync = None
    if args.device.startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize
    config = WhiskerConfig(samples=samples, size=args.size, task=TaskConfig(image_size=args.image_size))
    task = make_task(policy, config)
    simulator = ChunkSimulator(task)
    renderer = WhiskerRenderer(task.model, size=args.size, camera=args.camera)
    seed_everything(args.seed)
    observation = task.reset(args.seed)
    if callable(getattr(policy, "bind", None)):
        policy.bind(task)
    policy.reset()
    times: dict[str, list[float]] = {"plain": [], "predict": [], "simulate": [], "draw": []}
    executed, ghosts = [task.ee_position()], []
    horizon = distinct = 0
    for t in range(args.warmup + args.steps):
        chunk, predict = _timed(policy.predict_chunk, observation, num_samples=samples,
                                seed=chunk_seed(args.seed, t), sync=sync)
        paths, simulate = _timed(simulator.simulate, chunk)
        _, draw = _timed(renderer.render, task.data, current=paths, ghosts=ghosts[:config.ghosts],
                         executed=np.asarray(executed))
        action, act = _timed(policy.act, observation, sync=sync)
        observation, step = _timed(task.step, action)
        plain = act + step
        executed.append(task.ee_position())
        ghosts.insert(0, paths)
        horizon = paths.shape[1] - 1
        distinct = max(distinct, len(np.unique(np.asarray(chunk).reshape(samples, -1), axis=0)))
        if t >= args.warmup:
            for name, value in zip(times, (plain, predict, simulate, draw)):
                times[name].append(value)
    renderer.close()
    task.close()
    ms = {f"{name}_ms": round(1000 * statistics.median(values), 3) for name, values in times.items()}
    plain = ms["plain_ms"]
    extra = ms["predict_ms"] + ms["simulate_ms"] + ms["draw_ms"]
    figures: dict[str, Any] = {
        "samples": samples,
        "distinct_samples": distinct,
        "horizon": horizon,
        **ms,
        "simulate_per_distinct_sample_ms": round(ms["simulate_ms"] / max(distinct, 1), 3),
        "whisker_step_ms": round(plain + extra, 3),
        "ratio": round((plain + extra) / plain, 2),
    }
    for every in args.every:
        figures[f"ratio_every_{every}"] = round((every * plain + extra) / (every * plain), 2)
    return figures


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--policy", default="scripted", metavar="SPEC", help="policy SPEC (ignored with --build)")
    p.add_argument("--build", default="none", choices=["none", "act", "smolvla"],
                   help="measure a random-weight LeRobot checkpoint built offline instead of --policy")
    p.add_argument("--build-size", default="tiny", choices=["tiny", "default"])
    p.add_argument("--device", default="cpu", help="device of a LeRobot policy")
    p.add_argument("--samples", type=int, nargs="+", default=[1, 4], help="chunks sampled per whisker step")
    p.add_argument("--size", type=_size, default=(240, 320), help="whisker frame HxW")
    p.add_argument("--image-size", type=_size, default=(96, 128), help="policy camera images HxW")
    p.add_argument("--camera", default="perspective")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=20, help="measured control steps")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--every", type=int, nargs="+", default=[5, 10], help="also report the ratio amortised over N")
    args = p.parse_args()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="whiskers_cost_") as tmp:
        policy, name = build_policy(args, Path(tmp))
        for samples in args.samples:
            figures[f"samples_{samples}"] = measure(policy, samples, args)
    emit("whiskers_cost", figures, args, policy=name, device=args.device, frame_size=list(args.size),
         image_size=list(args.image_size), camera=args.camera,
         units="*_ms: median milliseconds per control step; ratio: whisker step / plain evaluation step")


if __name__ == "__main__":
    main()
