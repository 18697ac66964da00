"""Latency of LeRobot policies through the salt-vla adapters: ``act()`` and ``predict_chunk()``.

Checkpoints with random weights are built offline (salt_vla_lerobot.builders), loaded with
``salt_vla.create_policy`` (all load-time checks included) and timed on one SO-101-sized observation:

- ``act_replan``: ``reset()`` then ``act()``: a full chunk inference, pre- and post-processing included;
- ``act_queued``: ``act()`` served from LeRobot's action queue;
- ``predict_chunk_1`` / ``predict_chunk_N``: one chunk, and ``N`` seeded samples in one batch;
- with ``--train-batch B``: ``train_step`` (forward, backward and an AdamW step on ``B`` preprocessed
  samples with random normalised target chunks; no data loading) and ``train_gflop_per_sample``
  (matmul/convolution FLOPs of forward + backward, counted by ``torch.utils.flop_counter``).

CPU here (tiny sizes):  python benchmarks/policy_latency.py
GPU (default sizes):    python benchmarks/policy_latency.py --size default --device cuda --families act smolvla pi0
ACT training step:      python benchmarks/policy_latency.py --size default --families act --image-size 96 128 --train-batch 64
Pi0/Pi0.5 need LeRobot >= 0.5 (Python >= 3.12); they are built at LeRobot's fixed size (about 3.5B).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import emit, parser, time_call

import salt_vla
from salt_vla.robot import SO101_CAMERAS, Observation

BUILDERS = {"act": "build_act", "smolvla": "build_smolvla", "pi0": "build_random_pi", "pi05": "build_random_pi"}


def build(family: str, directory: Path, size: str, image_size: tuple[int, int], chunk_size: int | None) -> Path:
    from salt_vla_lerobot import builders

    chunk = {"chunk_size": chunk_size, "n_action_steps": chunk_size} if chunk_size else {}
    if family in ("pi0", "pi05"):
        return builders.build_random_pi(directory, family=family, image_size=image_size, **chunk)
    return getattr(builders, BUILDERS[family])(directory, size=size, image_size=image_size, **chunk)


def observation(image_size: tuple[int, int]) -> Observation:
    rng = np.random.default_rng(0)
    images = {cam: rng.integers(0, 256, (*image_size, 3), dtype=np.uint8) for cam in SO101_CAMERAS}
    return Observation(images=images, state=rng.normal(0, 20, 6).astype(np.float32),
                       task="pick up the block and place it in the bowl")


def milliseconds(timing: dict[str, float]) -> dict[str, float]:
    """``time_call``'s seconds (``median_s``...) as milliseconds (``median_ms``...)."""
    return {(k[:-2] + "_ms" if k.endswith("_s") else k): (round(v * 1000, 3) if k.endswith("_s") else v)
            for k, v in timing.items()}


def train_step(policy: Any, obs: Observation, batch_size: int, args: Any, sync: Any) -> dict[str, Any]:
    """Time one optimizer step of the LeRobot model on ``batch_size`` copies of ``obs`` and count its FLOPs."""
    from salt_vla_lerobot.adapter import repeat_batch
    from torch.utils.flop_counter import FlopCounterMode

    batch = repeat_batch(policy.preprocess(obs), batch_size)
    shape = (batch_size, policy.chunk_size, len(policy.action_names))
    batch["action"] = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(args.device)
    batch["action_is_pad"] = torch.zeros(shape[:2], dtype=torch.bool, device=args.device)
    model = policy.policy
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def step() -> None:
        loss, _ = model.forward(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timing = time_call(step, warmup=args.warmup, repeat=args.repeat, sync=sync)
    with FlopCounterMode(display=False) as counter:
        model.forward(batch)[0].backward()
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    return {"train_batch": batch_size, "train_gflop_per_sample": round(counter.get_total_flops() / batch_size / 1e9, 2),
            "train_step": milliseconds(timing)}


def measure(family: str, args: Any, workdir: Path) -> dict[str, Any]:
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    image_size = tuple(args.image_size)
    start = time.perf_counter()
    directory = build(family, workdir / family, args.size, image_size, args.chunk_size)
    built = time.perf_counter() - start
    start = time.perf_counter()
    policy = salt_vla.create_policy(f"{family}:{directory}", device=args.device)
    loaded = time.perf_counter() - start
    obs = observation(image_size)

    def replan() -> None:
        policy.reset()
        policy.act(obs)

    def queued() -> None:
        policy.act(obs)

    timings = {
        "act_replan": time_call(replan, warmup=args.warmup, repeat=args.repeat, sync=sync),
        "predict_chunk_1": time_call(lambda: policy.predict_chunk(obs, seed=0), warmup=args.warmup,
                                     repeat=args.repeat, sync=sync),
        f"predict_chunk_{args.samples}": time_call(lambda: policy.predict_chunk(obs, num_samples=args.samples, seed=0),
                                                   warmup=args.warmup, repeat=args.repeat, sync=sync),
    }
    policy.reset()
    policy.act(obs)  # fills the queue
    if policy.n_action_steps > 1:
        timings["act_queued"] = time_call(queued, warmup=0, repeat=min(args.repeat, policy.n_action_steps - 1), sync=sync)
    info = policy.describe()
    training = train_step(policy, obs, args.train_batch, args, sync) if args.train_batch else {}
    return {
        "parameters": info["parameters"],
        "chunk_size": info["chunk_size"],
        "n_action_steps": info["n_action_steps"],
        "build_s": round(built, 2),
        "load_s": round(loaded, 2),
        **{name: milliseconds(t) for name, t in timings.items()},
        **training,
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=["act", "smolvla"], choices=sorted(BUILDERS))
    p.add_argument("--size", default="tiny", choices=["tiny", "default"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="task camera size (default 96 128 tiny, 240 320 default)")
    p.add_argument("--samples", type=int, default=8, help="num_samples of the batched predict_chunk")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--chunk-size", type=int, help="predicted chunk length (default: the builders' 10; Pi0's 50)")
    p.add_argument("--train-batch", type=int, default=0, help="also time a training step on this many samples")
    args = p.parse_args()
    args.image_size = args.image_size or ([96, 128] if args.size == "tiny" else [240, 320])
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="policy_latency_") as tmp:
        for family in args.families:
            figures[family] = measure(family, args, Path(tmp))
    emit("policy_latency", figures, args, size=args.size, device=args.device, image_size=args.image_size,
         units="*_ms: milliseconds per call over repeats; build_s/load_s: seconds")


if __name__ == "__main__":
    main()
