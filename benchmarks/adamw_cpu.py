"""AdamW step time on CPU for the quickstart's encoder: the per-parameter loop, ``foreach`` and the fused kernel.

    python benchmarks/adamw_cpu.py --save

Gradients are random and fixed; only ``optimizer.step()`` is timed (median of repeats after warm-up).
"""

from __future__ import annotations

import torch
from _common import emit, parser, time_call

import salt_vla


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=50, help="optimizer steps per timed call")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = salt_vla.create_encoder("vit_micro_patch8_t2", embed_dim=96, depth=4, num_heads=3, num_frames=8,
                                    img_size=48)
    params = list(model.parameters())
    for param in params:
        param.grad = torch.randn_like(param)
    figures = {"tensors": len(params), "parameters": sum(p.numel() for p in params), "threads": args.threads}
    for name, kwargs in (("loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        optimizer = torch.optim.AdamW(params, lr=1e-3, **kwargs)

        def steps(optimizer: torch.optim.Optimizer = optimizer) -> None:
            for _ in range(args.steps):
                optimizer.step()

        timing = time_call(steps, warmup=1, repeat=5)
        figures[name] = {"ms_per_step": 1000 * timing["median_s"] / args.steps,
                         "min_ms_per_step": 1000 * timing["min_s"] / args.steps}
    figures["loop_over_fused"] = figures["loop"]["ms_per_step"] / figures["fused"]["ms_per_step"]
    emit("adamw_cpu", figures, args)


if __name__ == "__main__":
    main()
