"""Write ``data/reference_metrics.json``: the metrics of the first 50 CPU steps of both stages (tiny configs).

Generated from the pre-refactor trainer (commit 9612118) with the version-stable ``trunc_normal_`` init of
commit 688fc7d cherry-picked onto it (the init changes the weights a seed builds; the loop must not change the
metrics), with::

    python tests/salt_vla/train/reference_metrics.py

``test_reference_metrics.py`` runs the same configurations and compares within :data:`REL_TOL`. Floats differ
by CPU: another vendor's or generation's vector kernels sum in another order. ``--measure-spread`` measures
that here by running the configurations under each of PyTorch's CPU kernel sets (``ATEN_CPU_CAPABILITY``:
default, AVX2, AVX-512), and writes ``data/reference_metrics_spread.json``; :data:`REL_TOL` is set well above it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "reference_metrics.json"
SPREAD = HERE / "data" / "reference_metrics_spread.json"
REL_TOL = 1e-5
"""Relative tolerance against the fixture: 40x the largest deviation measured across CPU kernel sets (2.4e-7,
``data/reference_metrics_spread.json``); an Intel Xeon's AMX/AVX-512 build deviated 6.7e-8 at the teacher's step 5."""
STEPS = 50
KEYS = ("train/loss", "train/grad_norm", "train/loss_set0", "train/loss_set1", "train/lr", "train/weight_decay",
        "val/loss", "val/mean_target_ratio", "val/std_ratio", "val/cosine")
TEACHER_CONFIG = {"embed_dim": 32, "depth": 1, "num_heads": 2, "patch_size": 8, "tubelet_size": 2, "num_frames": 4,
                  "img_size": 32}


def configs(root: Path, teacher_dir: Path) -> dict[str, dict[str, Any]]:
    """The two tiny runs: a stage-1 pixel teacher and a live-teacher stage-2 student, both with validation."""
    sys.path.insert(0, str(HERE))
    from conftest import TINY, merge

    common = {"data": {"val_args": {"seed": 7, "num_videos": 8}},
              "run": {"steps": STEPS, "log_every": 1, "val_every": 25, "val_batches": 1, "checkpoint_every": 0,
                      "device": "cpu"}}
    teacher = merge(TINY, {**common, "stage": "teacher"})
    teacher["run"]["out_dir"] = str(root / "teacher")
    salt = merge(TINY, {**common, "teacher": {"name": "checkpoint", "args": {"pretrained": str(teacher_dir)}}})
    salt["run"]["out_dir"] = str(root / "salt")
    return {"teacher": teacher, "salt": salt}


def run_all(root: Path) -> dict[str, list[dict[str, float]]]:
    """Metrics rows (``step`` and :data:`KEYS`) of both stages, trained in ``root``."""
    from salt_vla import hub
    from salt_vla.config import from_dict
    from salt_vla.models import VideoViT, VideoViTConfig
    from salt_vla.train import TrainConfig, train
    from salt_vla.train.metrics import read_metrics

    torch.manual_seed(0)
    teacher_dir = root / "frozen_teacher"
    hub.save_pretrained(VideoViT(VideoViTConfig(**TEACHER_CONFIG)), teacher_dir)
    out = {}
    for stage, config in configs(root, teacher_dir).items():
        run_dir = train(from_dict(TrainConfig, config)).out_dir
        out[stage] = [{k: row[k] for k in ("step", *KEYS) if k in row} for row in read_metrics(run_dir / "metrics.jsonl")]
    return out


def largest_deviation(metrics: dict[str, list[dict[str, float]]],
                      reference: dict[str, list[dict[str, float]]]) -> tuple[float, str]:
    """The largest relative deviation of ``metrics`` from ``reference`` over every stage, row and key, and where."""
    worst, where = 0.0, "nowhere"
    for stage, rows in reference.items():
        for got, expected in zip(metrics[stage], rows, strict=True):
            for key, value in expected.items():
                deviation = abs(got[key] - value) / max(abs(value), 1e-12)
                if deviation > worst:
                    worst, where = deviation, f"{stage} step {expected['step']} {key}"
    return worst, where


def measure_spread() -> dict[str, Any]:
    """Run the configurations under each CPU kernel set (a subprocess each) and compare them with the fixture."""
    reference = json.loads(FIXTURE.read_text())["metrics"]
    runs = {}
    for capability in ("default", "avx2", "avx512"):
        env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
        code = ("import json, sys, tempfile, torch; from pathlib import Path; torch.set_num_threads(1); "
                f"sys.path.insert(0, {str(HERE)!r}); from reference_metrics import run_all; "
                "d = tempfile.mkdtemp(); print(json.dumps(run_all(Path(d))))")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        deviation, where = largest_deviation(json.loads(done.stdout.strip().splitlines()[-1]), reference)
        runs[capability] = {"largest_relative_deviation": deviation, "where": where}
    from salt_vla.quickstart import cpu_model

    return {"torch": torch.__version__, "cpu_model": cpu_model(), "runs": runs}


if __name__ == "__main__":
    if "--measure-spread" in sys.argv:
        SPREAD.write_text(json.dumps(measure_spread(), indent=1) + "\n")
        print(SPREAD.read_text())
        raise SystemExit(0)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = run_all(Path(tmp))
    FIXTURE.write_text(json.dumps({"torch": torch.__version__, "steps": STEPS, "metrics": metrics}, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
