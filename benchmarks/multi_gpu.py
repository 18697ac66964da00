"""Multi-GPU scaling of the SALT training step: one process against N under torchrun, same per-GPU batch.

Runs ``benchmarks/train_step.py`` (cached latents, resident batch) once with one process and once with
``--gpus`` processes under ``torchrun`` (DDP), and, with ``--fsdp-size``, once more with FSDP for a student too
large for DDP; writes one JSON with each run's figures and the DDP scaling efficiency
``clips/s(N) / (N * clips/s(1))`` per size. ``--cpu`` runs the same commands with gloo on CPU at a tiny size
(checks the commands and the bookkeeping, measures nothing about GPUs).

    python benchmarks/multi_gpu.py --gpus 2 --sizes base,large --batch 64 --fsdp-size huge --fsdp-batch 32 --save
    python benchmarks/multi_gpu.py --cpu --save          # 2 gloo processes, micro size
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import emit, parser

TRAIN_STEP = Path(__file__).resolve().parent / "train_step.py"


def launch(processes: int, step_args: list[str], *, port: int) -> dict[str, Any]:
    """One ``train_step.py`` run with ``processes`` ranks (torchrun when more than one); its JSON record."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        launcher = [sys.executable] if processes == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", str(port)]
        command = [*launcher, str(TRAIN_STEP), *step_args, "--out", str(out)]
        env = {**os.environ, "NCCL_NVLS_ENABLE": "0"}  # NVLink multicast stays off on the lent machines
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        record = json.loads(out.read_text())
    record["launch"] = " ".join(["torchrun", "--nproc_per_node", str(processes)] if processes > 1 else ["python"]) \
        + " benchmarks/train_step.py " + " ".join(step_args)
    return record


def efficiency(one: dict[str, Any], many: dict[str, Any], processes: int) -> dict[str, float]:
    """Per size: ``clips/s`` of ``many`` ranks over ``processes`` times that of one (1.0 = perfect scaling)."""
    single = {r["size"]: r["clips_per_s"] for r in one["figures"]["runs"] if "clips_per_s" in r}
    return {r["size"]: r["clips_per_s"] / (processes * single[r["size"]])
            for r in many["figures"]["runs"] if "clips_per_s" in r and r["size"] in single}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--gpus", type=int, default=2, help="processes of the multi-process runs")
    p.add_argument("--sizes", default="base,large")
    p.add_argument("--batch", type=int, default=64, help="per-GPU batch (the same in every run)")
    p.add_argument("--fsdp-size", help="also run FSDP for this student (e.g. huge) with --fsdp-batch per GPU")
    p.add_argument("--fsdp-batch", type=int, default=32)
    p.add_argument("--cpu", action="store_true", help="gloo on CPU, micro size: checks the commands only")
    args = p.parse_args()
    common = ["--modes", "cached"]
    if args.cpu:
        args.sizes, args.batch, args.fsdp_size, args.fsdp_batch = "micro", 2, "micro", 2
        common += ["--device", "cpu", "--frames", "8", "--img", "64", "--steps", "3", "--warmup", "1"]
    ddp = [*common, "--sizes", args.sizes, "--batch", str(args.batch)]
    runs = {"one": launch(1, ddp, port=29561), "ddp": launch(args.gpus, ddp, port=29562)}
    if args.fsdp_size:
        runs["fsdp"] = launch(args.gpus, [*common, "--sizes", args.fsdp_size, "--batch", str(args.fsdp_batch),
                                          "--distributed", "fsdp"], port=29563)
    emit("multi_gpu", {"processes": args.gpus, "ddp_scaling_efficiency": efficiency(runs["one"], runs["ddp"], args.gpus),
                       "runs": runs}, args, settings={k: str(v) for k, v in vars(args).items()})


if __name__ == "__main__":
    main()
