"""Teacher forward throughput and memory: salt-vla's VideoMAE vs transformers' VideoMAEModel (sdpa).

Both run the same random weights (one transformers ``save_pretrained`` directory, read by both) in the
same process; the JSON reports clips/s, peak memory, the largest output difference and the speed ratio
(ours / transformers) for each precision.

    # GPU (the figures in docs/performance.md): 16 x 224 x 224 clips, bfloat16
    python benchmarks/teacher_forward.py --device cuda --sizes base,large --batch 8 --save
    # CPU smoke run (tiny clip, float32)
    python benchmarks/teacher_forward.py --device cpu

Modes on CUDA: float32 weights under ``torch.autocast(bfloat16)`` (how the SALT engine calls a teacher),
bfloat16 weights, and bfloat16 weights with ``torch.compile`` (ours only; ``--no-compile`` skips it).
On CPU: float32 weights (``--compile`` adds a compiled run).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
# _common, and salt_vla with its plugins from a bare checkout (no pip install needed on a benchmark machine).
for path in (ROOT, ROOT / "plugins", ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
from _common import emit, parser, time_call  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _args() -> Any:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    p.add_argument("--sizes", default=None, help="comma-separated: small,base,large,huge (default: base,large on "
                                                  "cuda, small on cpu)")
    p.add_argument("--batch", type=int, default=None, help="clips per forward (default 8 on cuda, 2 on cpu)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default 16 on cuda, 4 on cpu)")
    p.add_argument("--image-size", type=int, default=None, help="pixels per side (default 224 on cuda, 64 on cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="also time ours under torch.compile (default: on for cuda, off for cpu)")
    args = p.parse_args()
    cuda = args.device == "cuda"
    args.sizes = (args.sizes or ("base,large" if cuda else "small")).split(",")
    args.batch = args.batch or (8 if cuda else 2)
    args.frames = args.frames or (16 if cuda else 4)
    args.image_size = args.image_size or (224 if cuda else 64)
    args.compile = cuda if args.compile is None else args.compile
    return args


def _save_transformers_weights(size: str, args: Any, directory: str) -> None:
    """Random transformers VideoMAE weights of ``size`` (with a final norm), saved with ``save_pretrained``."""
    from salt_vla_videomae.config import SIZES
    from transformers import VideoMAEConfig, VideoMAEModel

    s = SIZES[size]
    config = VideoMAEConfig(hidden_size=s.embed_dim, num_hidden_layers=s.depth, num_attention_heads=s.num_heads,
                            intermediate_size=s.mlp_dim, patch_size=s.patch, num_frames=args.frames,
                            image_size=args.image_size, use_mean_pooling=False)
    torch.manual_seed(0)
    VideoMAEModel(config).save_pretrained(directory)


def _transformers_model(directory: str, dtype: torch.dtype, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    from transformers import VideoMAEModel

    # attn_implementation= and .to(dtype) behave the same in transformers 4.4x-4.5x and 5.x.
    model = VideoMAEModel.from_pretrained(directory, attn_implementation="sdpa").to(device=device, dtype=dtype).eval()
    if model.config._attn_implementation != "sdpa":
        raise RuntimeError(f"transformers picked attention {model.config._attn_implementation!r}, not 'sdpa'.")

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(pixel_values=pixels).last_hidden_state

    return forward


def _our_model(size: str, directory: str, dtype: torch.dtype, device: str, compiled: bool
               ) -> Callable[[torch.Tensor], torch.Tensor]:
    from salt_vla_videomae.loading import CheckpointNote
    from salt_vla_videomae.teacher import create_videomae_teacher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckpointNote)
        teacher = create_videomae_teacher("videomae", size, pretrained=f"local-dir:{directory}",
                                          dtype=dtype, device=device, compile=compiled)
    return teacher.targets


@dataclass
class Mode:
    name: str
    precision: str  # compared with the transformers mode of the same precision
    ours: bool
    dtype: torch.dtype
    autocast: bool = False
    compiled: bool = False
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)


def _modes(args: Any) -> list[Mode]:
    if args.device == "cuda":
        modes = [Mode("transformers_autocast", "autocast", False, torch.float32, autocast=True),
                 Mode("ours_autocast", "autocast", True, torch.float32, autocast=True),
                 Mode("transformers_bf16", "bf16", False, torch.bfloat16),
                 Mode("ours_bf16", "bf16", True, torch.bfloat16)]
        return modes + ([Mode("ours_bf16_compiled", "bf16", True, torch.bfloat16, compiled=True)] if args.compile else [])
    modes = [Mode("transformers_fp32", "fp32", False, torch.float32), Mode("ours_fp32", "fp32", True, torch.float32)]
    return modes + ([Mode("ours_fp32_compiled", "fp32", True, torch.float32, compiled=True)] if args.compile else [])


def _bench_size(size: str, args: Any) -> dict[str, Any]:
    """Load every mode's model, then time them interleaved (one call each per round), so load changes on a
    shared machine hit all modes alike."""
    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else None
    generator = torch.Generator().manual_seed(0)
    video = torch.rand(args.batch, 3, args.frames, args.image_size, args.image_size, generator=generator)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    pixels = ((video - mean) / std).permute(0, 2, 1, 3, 4).contiguous()  # transformers: [B, T, C, H, W]
    video, pixels = video.to(args.device), pixels.to(args.device)
    modes = _modes(args)
    reference: dict[str, torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as directory:
        _save_transformers_weights(size, args, directory)
        for mode in modes:
            gc.collect()
            before = torch.cuda.memory_allocated() if cuda else 0
            if mode.ours:
                forward = _our_model(size, directory, mode.dtype, args.device, mode.compiled)
                inputs = video
            else:
                forward = _transformers_model(directory, mode.dtype, args.device)
                inputs = pixels if mode.autocast else pixels.to(mode.dtype)
            autocast = torch.autocast("cuda", torch.bfloat16) if mode.autocast else contextlib.nullcontext()

            def run(forward: Callable = forward, inputs: torch.Tensor = inputs, autocast: Any = autocast) -> Any:
                with autocast:
                    return forward(inputs)

            mode.forward = run
            if cuda:
                mode.figures["weights_gib"] = round((torch.cuda.memory_allocated() - before) / 2**30, 3)
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                start = torch.cuda.memory_allocated()
            output = run().float().cpu()  # first call: compiles when compiled
            if cuda:
                mode.figures["forward_peak_gib"] = round((torch.cuda.max_memory_allocated() - start) / 2**30, 3)
            if mode.ours:
                mode.figures["max_abs_diff_vs_transformers"] = float((output - reference[mode.precision]).abs().max())
            else:
                reference[mode.precision] = output
            mode.figures["output_abs_max"] = float(output.abs().max())
            time_call(run, warmup=args.warmup, repeat=1, sync=sync)
        for _ in range(args.repeat):
            for mode in modes:
                assert mode.forward is not None
                mode.times.append(time_call(mode.forward, warmup=0, repeat=1, sync=sync)["median_s"])
    results = {}
    for mode in modes:
        median = statistics.median(mode.times)
        mode.figures.update(clips_per_s=round(args.batch / median, 2), median_s=median, min_s=min(mode.times),
                            max_s=max(mode.times), repeat=len(mode.times))
        results[mode.name] = mode.figures
    for mode in modes:
        if mode.ours:
            base = results[next(m.name for m in modes if not m.ours and m.precision == mode.precision)]
            mode.figures["speedup_vs_transformers"] = round(mode.figures["clips_per_s"] / base["clips_per_s"], 3)
        print(f"{size} {mode.name}: {mode.figures['clips_per_s']} clips/s", file=sys.stderr)
    return results


def main() -> None:
    args = _args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    figures = {size: _bench_size(size, args) for size in args.sizes}
    emit("teacher_forward", figures, args, clip=[args.frames, args.image_size, args.image_size], batch=args.batch,
         device=args.device, transformers_version=transformers.__version__,
         note="random weights; speedup = ours clips/s / transformers clips/s at the same precision")


if __name__ == "__main__":
    main()
