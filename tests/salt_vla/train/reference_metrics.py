"""Write ``data/reference_metrics.json``: the metrics of the first 50 CPU steps of both stages (tiny configs).

Generated from the pre-refactor trainer (commit 9612118) with the version-stable ``trunc_normal_`` init of
commit 688fc7d cherry-picked onto it (the init changes the weights a seed builds; the loop must not change the
metrics), with::

    python tests/salt_vla/train/reference_metrics.py

``test_reference_metrics.py`` runs the same configurations and asserts bit-identical values.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "reference_metrics.json"
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


if __name__ == "__main__":
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = run_all(Path(tmp))
    FIXTURE.write_text(json.dumps({"torch": torch.__version__, "steps": STEPS, "metrics": metrics}, indent=1) + "\n")
    print(f"wrote {FIXTURE}")
