"""Does the input pipeline keep the GPU busy? Training with real data loading vs. the same step on a resident batch.

Builds, in ``--workdir``: encoded H.264 videos (``write_videos``), their latent cache (a VideoMAE teacher of the
student's width, random weights, bf16) and a pre-decoded clip cache. Then, for each input path, runs the real
``Trainer.fit`` (DataLoader workers, pinned memory, non-blocking copies) and compares its clips/s with the
trainer's own ``_optimizer_step`` on one batch already in pinned memory:

    GPU idle fraction = 1 - (clips/s with the pipeline) / (clips/s on the resident batch)

Input paths: ``pinned`` (clip cache gathered by threads straight into pinned memory: the trainer's default when a
clip cache is given), ``clip_cache`` (the same cache through DataLoader worker processes) and ``decode`` (PyAV
decoding of the cached views on every step, DataLoader workers).

    python benchmarks/pipeline.py --device cuda --size base --batch 64 --workers 14 --videos 256
    python benchmarks/pipeline.py --device cpu --size micro --frames 8 --img 64 --batch 4 --videos 16 --steps 6
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins")]

from _common import emit, parser  # noqa: E402

TEACHER = {"micro": None, "small": "videomae_small", "base": "videomae_base", "large": "videomae_large"}


def prepare(args) -> tuple[Path, Path, Path]:
    """Encoded videos, latent cache and clip cache (reused when already there)."""
    import salt_vla
    from salt_vla.cache import build_clip_cache, build_latent_cache
    from salt_vla.data import write_videos

    videos, latents, clips = args.workdir / "videos", args.workdir / "latents", args.workdir / "clips"
    source = salt_vla.create_dataset("synthetic_physics", num_videos=args.videos, frames=args.frames * 2,
                                     size=args.img, stride=1, video_frames=args.frames * 2)
    if not videos.exists():
        write_videos(source, videos, codec="h264")
    dataset = salt_vla.create_dataset("video_folder", root=str(videos), frames=args.frames, stride=1, size=args.img)
    if TEACHER[args.size]:
        teacher = salt_vla.create_teacher(TEACHER[args.size], num_frames=args.frames, image_size=args.img,
                                          device=args.device, dtype="bfloat16" if args.device == "cuda" else "float32")
    else:
        from salt_vla.models import EncoderTeacher, VideoViT, video_vit_config

        teacher = EncoderTeacher(VideoViT(video_vit_config("vit_micro_patch8_t2", num_frames=args.frames,
                                                           img_size=args.img)))
    cache = build_latent_cache(teacher, dataset, latents, batch_size=32, device=args.device,
                               num_workers=args.workers, progress=False)
    build_clip_cache(dataset, clips, views_from=cache, num_workers=args.workers, progress=False)
    del teacher
    return videos, latents, clips


def config(args, path: str, videos: Path, latents: Path, clips: Path, steps: int) -> dict:
    student = "vit_micro_patch8_t2" if args.size == "micro" else f"vit_{args.size}_patch16_t2"
    return {
        "data": {"dataset": "video_folder", "args": {"root": str(videos), "frames": args.frames, "stride": 1,
                                                     "size": args.img},
                 "latent_cache": str(latents), "clip_cache": None if path == "decode" else str(clips),
                 "loader": "pinned_threads" if path == "pinned" else "dataloader", "loader_threads": args.threads,
                 "batch_size": args.batch, "num_workers": args.workers, "prefetch_factor": 4},
        "student": {"name": student, "args": {"num_frames": args.frames, "img_size": args.img}},
        "predictor": {"dim": 384, "depth": 12, "num_heads": 6},
        "optim": {"warmup_steps": 0},
        "run": {"steps": steps, "out_dir": str(args.workdir / f"run-{path}"), "log_every": steps // 2,
                "val_every": 0, "checkpoint_every": 0, "progress": False, "device": args.device,
                "compile": args.compile},
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", default="base", choices=sorted(TEACHER))
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--img", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--videos", type=int, default=256)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--steps", type=int, default=40, help="trained steps per path (the second half is measured)")
    p.add_argument("--paths", default="pinned,clip_cache,decode")
    p.add_argument("--threads", type=int, default=6, help="gathering threads of the pinned path")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/salt_vla_pipeline"))
    args = p.parse_args()

    from salt_vla.config import from_dict
    from salt_vla.train import TrainConfig, Trainer
    from salt_vla.train.metrics import read_metrics

    started = time.perf_counter()
    videos, latents, clips = prepare(args)
    prepared_s = time.perf_counter() - started
    figures = {"prepare_s": prepared_s, "paths": {}}
    for path in args.paths.split(","):
        trainer = Trainer(from_dict(TrainConfig, config(args, path, videos, latents, clips, args.steps)), resume=False)
        trainer.fit()
        rows = [r for r in read_metrics(Path(trainer.out_dir) / "metrics.jsonl") if "train/clips_per_s" in r]
        pipeline = rows[-1]  # the second half of the run: workers warm, compilation done
        # The same step on one batch resident in pinned memory: the upper bound the pipeline is measured against.
        batch = next(iter(trainer.train_loader))
        for _ in range(3):
            trainer._optimizer_step([batch])
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.steps // 2):
            trainer._optimizer_step([batch])
        if args.device == "cuda":
            torch.cuda.synchronize()
        resident = args.batch * (args.steps // 2) / (time.perf_counter() - start)
        figures["paths"][path] = {
            "clips_per_s_with_pipeline": pipeline["train/clips_per_s"],
            "clips_per_s_resident_batch": resident,
            "gpu_idle_fraction": max(0.0, 1 - pipeline["train/clips_per_s"] / resident),
            "host_data_wait_fraction": pipeline["train/data_wait_fraction"],
            "workers": 0 if path == "pinned" else args.workers, "threads": args.threads if path == "pinned" else 0,
            "batch": args.batch,
        }
        print(path, figures["paths"][path], file=sys.stderr, flush=True)
        del trainer
    emit("pipeline", figures, args, settings={k: str(v) for k, v in vars(args).items()})


if __name__ == "__main__":
    main()
