"""Training checkpoints: model directories plus everything needed to resume exactly.

``<run>/checkpoints/<tag>/`` (``tag`` is ``last`` or ``best``) holds one :mod:`salt_vla.hub` directory
per model (``student/`` and ``predictor/``, or ``teacher/`` in stage 1) and ``training_state/``:
``optimizer.pt`` (tensors and numbers only, read back with the weights-only loader), ``rng.pt`` (every
rank's torch/CUDA/NumPy/Python generator states), ``state.json`` (step, epoch, batch position,
best metric) and ``run.json`` (the resolved configuration and the identity of the targets, which a
resuming run compares with its own: :mod:`salt_vla.train.changes`). The whole tag directory is replaced atomically, so a process killed mid-save leaves the
previous checkpoint intact; :func:`recover_checkpoints` puts it back in place (and removes the killed save's
temporary directory) before a run looks for a checkpoint to resume from.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
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
RUN_FILE = "run.json"
TAGS = ("last", "best")


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
                    metadata: Mapping[str, Any], run: Mapping[str, Any] | None = None) -> Path:
    """Write one checkpoint directory atomically.

    Args:
        models: ``name -> (module, full state dict)``; each becomes a :func:`salt_vla.hub.save_pretrained` directory.
        optimizer_state: the optimizer's full state dict.
        rng: one :func:`capture_rng` result per rank.
        metadata: stored in every model's ``config.json`` (training config, step, metrics).
        run: ``{"config": ..., "targets": ...}`` for ``run.json`` (what a resume must not change).

    Raises:
        OSError: ``ENOSPC`` naming the checkpoint when the disk is full (the previous checkpoint is intact).
    """
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        for name, (module, state_dict) in models.items():
            hub.save_pretrained(module, tmp / name, metadata=metadata, state_dict=state_dict)
        (tmp / STATE_DIR).mkdir()
        torch.save(dict(optimizer_state), tmp / STATE_DIR / "optimizer.pt")
        torch.save(rng, tmp / STATE_DIR / "rng.pt")
        (tmp / STATE_DIR / "state.json").write_text(json.dumps(asdict(state), indent=2) + "\n")
        if run is not None:
            (tmp / STATE_DIR / RUN_FILE).write_text(json.dumps(run, indent=2, default=str) + "\n")
    return directory


def recover_checkpoints(checkpoint_dir: str | Path) -> list[str]:
    """Undo what a process killed during :func:`save_checkpoint` left behind; returns what was done.

    A kill between the two renames of the atomic swap leaves ``<tag>.old`` (the previous checkpoint) and no
    ``<tag>``: it is renamed back. A kill while the new checkpoint was still being written leaves a
    ``.<tag>.*.tmp`` directory: it is incomplete and removed. Call this before checking whether a checkpoint
    exists, so a run resumes instead of starting over (and overwriting the recovery copy).
    """
    directory = Path(checkpoint_dir)
    if not directory.is_dir():
        return []
    actions = []
    for tag in TAGS:
        path, old = directory / tag, directory / f"{tag}.old"
        if not old.is_dir():
            continue
        if path.exists():  # the kill came after the swap, during the clean-up: ``<tag>`` is the new checkpoint
            shutil.rmtree(old)
            actions.append(f"removed {old}, left over by a save killed after its swap")
        else:
            recover_directory(path)
            actions.append(f"restored {path} from {old.name} (a save was killed between its two renames)")
    for tmp in sorted(directory.glob(".*.tmp")):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            actions.append(f"removed {tmp}, an incomplete save of a killed process")
    return actions


@dataclass
class LoadedCheckpoint:
    path: Path
    models: dict[str, dict[str, torch.Tensor]]
    optimizer_state: dict[str, Any]
    state: TrainingState
    rng: list[dict[str, Any]]
    run: dict[str, Any] | None = None
    """``run.json``: ``{"config", "targets"}`` (``None`` for checkpoints of older versions)."""


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A ``training_state`` file holds objects other than tensors and numbers; the message names the file."""


def _load_tensors(file: Path) -> Any:
    """``torch.load`` with the weights-only loader; anything else in the file is refused, naming the file."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"{file} holds more than tensors and numbers, and is not loaded (loading it would run arbitrary code): "
            f"{str(error).splitlines()[0]} This trainer never writes such files; if you did not put it there, the "
            "checkpoint was tampered with. Delete the checkpoint, or restore it from a trusted copy."
        ) from error


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
        optimizer_state=_load_tensors(state_dir / "optimizer.pt"),
        state=TrainingState(**json.loads((state_dir / "state.json").read_text())),
        rng=_load_tensors(state_dir / "rng.pt"),
        run=json.loads((state_dir / RUN_FILE).read_text()) if (state_dir / RUN_FILE).is_file() else None,
    )
