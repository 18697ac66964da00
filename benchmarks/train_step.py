"""SALT training-step throughput, memory and model FLOPs utilisation, through the real trainer's hot loop.

For each student size: a :class:`~salt_vla.train.Trainer` is built (synthetic clips, V-JEPA multi-block
masks, predictor depth 12 width 384, a VideoMAE teacher of the matching width), then its
``_optimizer_step`` is timed on one pinned-memory batch:

- ``cached``: the batch carries latents (what a latent-cache run feeds), so no teacher forward;
- ``live``: the teacher computes the targets inside the step.

FLOPs count only the tokens actually processed (each mask set's context through the student, context
plus targets through the predictor, the patch embedding of every tubelet; attention included; backward
= 2 x forward; the teacher's forward in live mode). MFU is relative to the dense bf16 peak of the GPU
(H100/H200 SXM: 989 TFLOP/s) and to a bf16 matmul measured in the same run. Host-device syncs in the
hot loop are counted with ``torch.cuda.set_sync_debug_mode``.

    python benchmarks/train_step.py --device cuda --sizes base,large --batch 64 --compile
    python benchmarks/train_step.py --device cpu --sizes micro --batch 4 --frames 8 --img 64   # CPU smoke
    torchrun --nproc_per_node 2 benchmarks/train_step.py --sizes base --modes cached   # DDP: global clips/s
    torchrun --nproc_per_node 2 benchmarks/train_step.py --sizes huge --modes cached --distributed fsdp

Under torchrun, ``--batch`` is per GPU and ``clips_per_s`` counts every rank's clips; rank 0 reports.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from _common import emit, parser  # noqa: E402

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
TEACHERS = {"micro": None, "tiny": "videomae_small", "small": "videomae_small", "base": "videomae_base",
            "large": "videomae_large", "huge": "videomae_huge"}


def block_flops(tokens: int, dim: int, mlp_ratio: float = 4.0) -> float:
    """Forward FLOPs of one pre-norm ViT block on ``tokens`` tokens (matmuls + attention scores/values)."""
    linear = 2 * tokens * dim * (3 * dim + dim + 2 * mlp_ratio * dim)
    attention = 2 * 2 * tokens * tokens * dim
    return linear + attention


def step_flops(model, masks, clip: tuple[int, int, int], batch: int, teacher_cfg=None) -> dict[str, float]:
    """Training FLOPs of one step (forward x 3) over the tokens processed, per component."""
    student, predictor = model.student, model.predictor
    s, p = student.config, predictor.config
    tubelet = s.tubelet_size * s.patch_size**2 * s.in_chans
    grid = student.grid(*clip)
    n = grid[0] * grid[1] * grid[2]
    out = {"patch_embed": 2 * n * tubelet * s.embed_dim, "student": 0.0, "predictor": 0.0}
    for pair in masks:
        kc, kt = pair.context.shape[1], pair.target.shape[1]
        out["student"] += s.depth * block_flops(kc, s.embed_dim, s.mlp_ratio)
        out["predictor"] += (p.depth * block_flops(kc + kt, p.dim, p.mlp_ratio) + 2 * kc * p.in_dim * p.dim
                             + 2 * kt * p.dim * p.out_dim)
    train = {k: 3 * v * batch for k, v in out.items()}
    if teacher_cfg is not None:
        train["teacher_forward"] = batch * (teacher_cfg["depth"] * block_flops(n, teacher_cfg["dim"])
                                            + 2 * n * tubelet * teacher_cfg["dim"])
    return train


def measured_matmul_peak(device: torch.device) -> float:
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (start.elapsed_time(end) / 1e3)


def build_trainer(size: str, args, mode: str, out_dir: Path):
    from salt_vla.config import from_dict
    from salt_vla.train import TrainConfig, Trainer

    student = "vit_micro_patch8_t2" if size == "micro" else f"vit_{size}_patch16_t2"
    teacher = TEACHERS[size]
    teacher_args = {"num_frames": args.frames, "image_size": args.img, "device": args.device}
    if args.device.startswith("cuda"):
        teacher_args["dtype"] = "bfloat16"  # live teachers run in bf16 weights, without autograd
    config = {
        # Under torchrun the trainer checks that the data fills one global batch (--batch on every rank).
        "data": {"dataset": "synthetic_physics", "args": {"num_videos": args.batch * int(os.environ.get("WORLD_SIZE", "1")),
                                                          "frames": args.frames, "size": args.img},
                 "batch_size": args.batch, "num_workers": 0},
        "student": {"name": student, "args": {"num_frames": args.frames, "img_size": args.img},
                    "grad_checkpointing": args.grad_checkpointing},
        "predictor": {"dim": 384, "depth": 12, "num_heads": 6},
        "teacher": {"name": teacher or "checkpoint",
                    "args": teacher_args if teacher else {"pretrained": str(out_dir / "micro_teacher")}},
        "masks": {"name": "multiblock_vjepa"},
        "optim": {"warmup_steps": 0},
        "run": {"steps": 10_000, "out_dir": str(out_dir / f"{size}-{mode}"), "progress": False, "device": args.device,
                "compile": args.compile, "log_every": 0, "val_every": 0, "checkpoint_every": 0,
                "distributed": args.distributed},
    }
    if not teacher:  # micro: a tiny stage-1-style teacher saved on the fly
        from salt_vla import hub
        from salt_vla.models import VideoViT, video_vit_config

        hub.save_pretrained(VideoViT(video_vit_config("vit_micro_patch8_t2", num_frames=args.frames, img_size=args.img)),
                            out_dir / "micro_teacher")
    return Trainer(from_dict(TrainConfig, config), resume=False)


def run(size: str, mode: str, args, out_dir: Path) -> dict:
    trainer = build_trainer(size, args, mode, out_dir)
    device = trainer.device
    base = trainer.base_train_set
    clips = torch.stack([base.item(i % len(base), epoch=0)["video"] for i in range(args.batch)])
    masker = __import__("salt_vla").create_masker("multiblock_vjepa")
    masks = masker(args.batch, trainer.grid, torch.Generator().manual_seed(0))
    batch = {"video": clips.pin_memory() if device.type == "cuda" else clips, "masks": masks.pin_memory()
             if device.type == "cuda" else masks, "skipped": torch.tensor(0)}
    teacher_cfg = None
    if mode == "cached":
        n = trainer.grid[0] * trainer.grid[1] * trainer.grid[2]
        latents = torch.randn(args.batch, n, trainer.task.teacher.latent_dim, dtype=torch.float16)
        batch["latents"] = latents.pin_memory() if device.type == "cuda" else latents
        trainer.task.teacher = None  # a cached run never holds the teacher
        if device.type == "cuda":
            torch.cuda.empty_cache()
    else:
        enc = trainer.task.teacher.encoder
        teacher_cfg = {"dim": trainer.task.teacher.latent_dim, "depth": len(getattr(enc, "blocks", []))}
    from salt_vla.train.distributed import unwrap

    model = unwrap(trainer.model)
    world = trainer.info.world_size
    flops = step_flops(model, masks, tuple(clips.shape[2:]), args.batch, teacher_cfg)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup):
        trainer._optimizer_step([batch])
    sync()
    syncs = 0
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer._optimizer_step([batch])
        if device.type == "cuda":
            torch.cuda.set_sync_debug_mode(0)
        sync()
        seconds = (time.perf_counter() - start) / args.steps
        syncs = sum("synchroniz" in str(w.message) for w in caught)
    if args.profile and device.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                trainer._optimizer_step([batch])
            torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60)
        print(table, file=sys.stderr, flush=True)
        if args.out:
            Path(args.out).with_suffix(f".{size}-{mode}.profile.txt").write_text(table)
    total_flops = sum(flops.values())
    result = {
        "size": size, "mode": mode, "batch": args.batch, "clip": list(clips.shape[1:]),
        "student_params_m": round(sum(p.numel() for p in model.student.parameters()) / 1e6, 1),
        "context_tokens": [p.context.shape[1] for p in masks], "target_tokens": [p.target.shape[1] for p in masks],
        "gpus": world, "distributed": args.distributed if world > 1 else "none",
        "step_s": seconds, "clips_per_s": world * args.batch / seconds,
        "model_tflop_per_step": total_flops / 1e12, "flops_split": {k: v / total_flops for k, v in flops.items()},
        "achieved_tflops": total_flops / seconds / 1e12,
        "host_syncs_per_step": syncs / args.steps,
    }
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = next((v for k, v in PEAK_BF16.items() if k in name), None)
        result["peak_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
        if peak:
            result["mfu"] = total_flops / seconds / peak  # per GPU
        result["mfu_vs_measured_matmul"] = total_flops / seconds / args.matmul_peak
    return result


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--sizes", default="base,large")
    p.add_argument("--modes", default="cached,live")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--img", type=int, default=224)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--distributed", default="ddp", choices=["ddp", "fsdp"], help="strategy under torchrun")
    p.add_argument("--profile", action="store_true", help="print the top CUDA kernels of a few steps (last run)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/salt_vla_train_step"))
    args = p.parse_args()

    rank = int(os.environ.get("RANK", "0"))
    if args.device.startswith("cuda") and "LOCAL_RANK" in os.environ:
        args.device = f"cuda:{os.environ['LOCAL_RANK']}"
    args.matmul_peak = measured_matmul_peak(torch.device(args.device)) if args.device.startswith("cuda") else None
    results = []
    for size in args.sizes.split(","):
        for mode in args.modes.split(","):
            try:
                results.append(run(size, mode, args, args.workdir))
            except torch.cuda.OutOfMemoryError as error:
                results.append({"size": size, "mode": mode, "error": f"OOM: {error}"[:300]})
                torch.cuda.empty_cache()
            if rank == 0:
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    speedups = {}
    for size in args.sizes.split(","):
        by_mode = {r["mode"]: r for r in results if r["size"] == size and "clips_per_s" in r}
        if {"cached", "live"} <= set(by_mode):
            speedups[size] = by_mode["cached"]["clips_per_s"] / by_mode["live"]["clips_per_s"]
    if rank != 0:
        return
    emit("train_step", {"runs": results, "cached_over_live_speedup": speedups,
                        "measured_bf16_matmul_tflops": args.matmul_peak / 1e12 if args.matmul_peak else None}, args,
         settings={k: str(v) for k, v in vars(args).items()}, world_size=int(os.environ.get("WORLD_SIZE", "1")))


if __name__ == "__main__":
    main()
