"""Training checkpoints: model directories plus everything needed to resume exactly.

``<run>/checkpoints/<tag>/`` (``tag`` is ``last`` or ``best``) holds one :mod:`salt_vla.hub` directory
per model (``student/`` and ``predictor/``, or ``teacher/`` in stage 1) and ``training_state/``:
``optimizer.pt`` (tensors and numbers only, read back with the weights-only loader), ``rng.pt`` (every
rank's torch/CUDA/NumPy/Python generator states) and ``state.json`` (step, epoch, batch position,
best metric). The whole tag directory is replaced atomically, so a process killed mid-save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from salt_vla import hub
from salt_vla.io import atomic_directory, recover_directory

STATE_DIR = "training_state"


@dataclass
class TrainingState:
    """Where a run stands: ``step`` optimizer steps done; the next batch is ``batch`` of ``epoch``."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    samples_seen: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    nonfinite_skipped: int = 0
    data_skipped: int = 0


def capture_rng() -> dict[str, Any]:
    """This process's generator states, as tensors and plain numbers (weights-only loadable)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss},
    }


def restore_rng(states: Mapping[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np_state = states["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    python = states["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))


def save_checkpoint(directory: str | Path, *, models: Mapping[str, tuple[nn.Module, Mapping[str, torch.Tensor]]],
                    optimizer_state: Mapping[str, Any], state: TrainingState, rng: list[dict[str, Any]],
                    metadata: Mapping[str, Any]) -> Path:
    """Write one checkpoint directory atomically.

    Args:
        models: ``name -> (module, full state dict)``; each becomes a :func:`salt_vla.hub.save_pretrained` directory.
        optimizer_state: the optimizer's full state dict.
        rng: one :func:`capture_rng` result per rank.
        metadata: stored in every model's ``config.json`` (training config, step, metrics).
    """
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        for name, (module, state_dict) in models.items():
            hub.save_pretrained(module, tmp / name, metadata=metadata, state_dict=state_dict)
        (tmp / STATE_DIR).mkdir()
        torch.save(dict(optimizer_state), tmp / STATE_DIR / "optimizer.pt")
        torch.save(rng, tmp / STATE_DIR / "rng.pt")
        (tmp / STATE_DIR / "state.json").write_text(json.dumps(asdict(state), indent=2) + "\n")
    return directory


@dataclass
class LoadedCheckpoint:
    path: Path
    models: dict[str, dict[str, torch.Tensor]]
    optimizer_state: dict[str, Any]
    state: TrainingState
    rng: list[dict[str, Any]]


def load_checkpoint(directory: str | Path, model_names: list[str]) -> LoadedCheckpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (never unpickling arbitrary objects)."""
    from safetensors.torch import load_file

    path = recover_directory(directory)
    if path is None:
        raise FileNotFoundError(f"No checkpoint at {directory}.")
    missing = [n for n in [*model_names, STATE_DIR] if not (path / n).is_dir()]
    if missing:
        raise FileNotFoundError(f"Checkpoint {path} lacks {', '.join(missing)}; it was not written by this trainer "
                                "or by the same stage.")
    models = {}
    for name in model_names:
        hub.read_config(path / name)
        models[name] = load_file(str(path / name / hub.WEIGHTS_FILE))
    state_dir = path / STATE_DIR
    return LoadedCheckpoint(
        path=path,
        models=models,
        optimizer_state=torch.load(state_dir / "optimizer.pt", map_location="cpu", weights_only=True),
        state=TrainingState(**json.loads((state_dir / "state.json").read_text())),
        rng=torch.load(state_dir / "rng.pt", map_location="cpu", weights_only=True),
    )
