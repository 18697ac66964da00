"""Where metrics go: JSONL always (``<out_dir>/metrics.jsonl``), TensorBoard and W&B when asked.

Only rank 0 writes. Each line is ``{"step": int, "time": seconds since start, "<group>/<name>": float, ...}``;
the same keys reach TensorBoard scalars and W&B.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

WANDB_ID_FILE = "wandb_run_id"
"""File in the run directory holding the W&B run id, so that a resumed run continues the same W&B run."""


def wandb_init_args(out_dir: Path, project: str, config: dict[str, Any] | None, *, resume: bool) -> dict[str, Any]:
    """Keyword arguments of ``wandb.init`` for the run in ``out_dir``.

    A resumed run reuses the id an earlier start stored there (its W&B charts continue); a fresh run, or a
    resume without a stored id, gets a new id, stored now (before ``wandb.init`` contacts anything).
    """
    import secrets
    import string

    from salt_vla.io import atomic_write_text

    id_file = out_dir / WANDB_ID_FILE
    run_id = id_file.read_text().strip() if resume and id_file.exists() else ""
    if not run_id:
        alphabet = string.ascii_lowercase + string.digits  # W&B's own id alphabet and length
        run_id = "".join(secrets.choice(alphabet) for _ in range(8))
        atomic_write_text(id_file, run_id + "\n")
    return {"project": project, "dir": str(out_dir), "config": config, "id": run_id, "resume": "allow"}


def json_safe(metrics: dict[str, Any]) -> dict[str, Any]:
    """Non-finite floats become ``None`` (JSON has no NaN)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


SUPERSEDED = "metrics.superseded.jsonl"
"""Lines of ``metrics.jsonl`` logged after the checkpoint a run resumed from, moved aside (appended) on resume."""


def _write_error(path: Path, error: OSError) -> OSError:
    """``error`` of an append to ``path``, naming it (a full disk says so, with the free space)."""
    import shutil

    from salt_vla.io import NoSpaceError, disk_full

    if disk_full(error, path.parent):
        try:
            free = f"{shutil.disk_usage(path.parent).free} bytes free"
        except OSError:
            free = "free space unknown"
        return NoSpaceError(errno.ENOSPC, f"No space left on device while appending to {path} ({free}). Free some "
                                          "space, then run the same command: it resumes from the last checkpoint.")
    return type(error)(error.errno, f"Could not write {path}: {error.strerror or error}. Check the disk and the "
                                    "permissions of the run directory, then run the same command: it resumes.")


def set_aside_lines_after(path: Path, step: int) -> int:
    """Keep in ``path`` (a ``metrics.jsonl``) the lines up to ``step``, the checkpoint a run resumes from; move
    the later ones (and a line torn by a crash) to :data:`SUPERSEDED` beside it, so the log's steps never go back.

    The resumed run logs those steps again; the moved lines stay readable. Returns how many were moved.
    """
    from salt_vla.io import atomic_write_text

    if not path.is_file():  # none yet (or a device, e.g. a test's /dev/full)
        return 0
    kept, moved = [], []
    for line in path.read_text().splitlines():
        row_step = _step_of(line)
        (kept if row_step is not None and row_step <= step else moved).append(line)
    if not moved:
        return 0
    superseded = path.parent / SUPERSEDED
    try:  # appended first: a crash in between leaves a line in both files, never in neither
        with open(superseded, "a") as handle:
            handle.write("".join(line + "\n" for line in moved))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        raise _write_error(superseded, error) from error
    try:
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    except OSError as error:
        raise _write_error(path, error) from error
    steps = [row_step for row_step in map(_step_of, moved) if row_step is not None]
    which = f" (steps {min(steps)}-{max(steps)})" if steps else ""
    warnings.warn(f"{path}: {len(moved)} line(s) logged after the checkpoint of step {step}{which} were moved to "
                  f"{superseded}; the resumed run logs those steps again.", stacklevel=2)
    return len(moved)


def _step_of(line: str) -> int | None:
    """The ``step`` of a ``metrics.jsonl`` line; ``None`` for a line torn by a crash."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) else None


class MetricSinks:
    """Fan one metrics dict out to JSONL (+ TensorBoard + Weights & Biases)."""

    def __init__(self, out_dir: Path, *, enabled: bool = True, tensorboard: bool = False,
                 wandb_project: str | None = None, config: dict[str, Any] | None = None,
                 resume_step: int | None = None) -> None:
        """``resume_step``: the step of the checkpoint a resumed run starts from (``None``: a fresh run, whose
        ``metrics.jsonl`` starts empty); the lines logged after it are set aside (:func:`set_aside_lines_after`)."""
        resume = resume_step is not None
        self.enabled = enabled
        self.start = time.perf_counter()
        self.path = out_dir / "metrics.jsonl"
        self._tb = self._wandb = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        if not resume and self.path.exists():
            self.path.unlink()
        if resume:
            set_aside_lines_after(self.path, resume_step)
        try:
            self._file = open(self.path, "a", buffering=1)  # line-buffered: a crash loses at most one line
        except OSError as error:
            raise _write_error(self.path, error) from error
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as error:
                raise RuntimeError("run.tensorboard=true needs the tensorboard package: pip install tensorboard") from error
            self._tb = SummaryWriter(str(out_dir / "tensorboard"))
        if wandb_project:
            try:
                import wandb
            except ImportError as error:
                raise RuntimeError("run.wandb_project needs the wandb package: pip install wandb") from error
            self._wandb = wandb.init(**wandb_init_args(out_dir, wandb_project, config, resume=resume))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        clean = json_safe({k: (None if v is None else float(v)) for k, v in metrics.items()})
        line = {"step": step, "time": round(time.perf_counter() - self.start, 3), **clean}
        try:
            self._file.write(json.dumps(line) + "\n")
        except OSError as error:
            raise _write_error(self.path, error) from error
        if self._tb is not None:
            for key, value in clean.items():
                if value is not None:
                    self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(clean, step=step)

    def log_line(self, file: str, line: str, echo: Callable[[str], Any] | None = None) -> None:
        """Append ``line`` to ``<out_dir>/<file>`` and show it (``echo``, e.g. a progress bar's ``write``; else stderr)."""
        if not self.enabled:
            return
        try:
            with open(self.path.parent / file, "a") as handle:
                handle.write(line + "\n")
        except OSError as error:
            raise _write_error(self.path.parent / file, error) from error
        (echo or (lambda text: print(text, file=sys.stderr, flush=True)))(line)

    def close(self) -> None:
        if not self.enabled:
            return
        try:
            self._file.close()
        except OSError as error:
            raise _write_error(self.path, error) from error
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def train_metrics(values: list[float], lr: float, wd: float, clips: int, seconds: float, data_wait: float,
                  state: Any, device: Any) -> dict[str, float]:
    """One training log line: ``values`` is ``[loss, grad_norm, loss_set_0, ...]`` averaged over the window of
    ``clips`` clips that took ``seconds`` (``data_wait`` of them waiting for data); ``state`` the run's position."""
    metrics = {
        "train/loss": values[0], "train/grad_norm": values[1],
        **{f"train/loss_set{i}": v for i, v in enumerate(values[2:])},
        "train/lr": lr, "train/weight_decay": wd,
        "train/clips_per_s": clips / max(seconds, 1e-9),
        "train/data_wait_fraction": data_wait / max(seconds, 1e-9),
        "train/epoch": float(state.epoch),
        "train/nonfinite_skipped": float(state.nonfinite_skipped),
        "data/skipped_videos": float(state.data_skipped),
    }
    if device.type == "cuda":
        import torch

        metrics["train/max_memory_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
    return metrics


def write_summary(out_dir: Path, task: str, state: Any, train: dict[str, float], val: dict[str, float],
                  learning: Any) -> None:
    """``<out_dir>/summary.json``: the task, how far the run got, its last metrics and its last learning verdict."""
    from salt_vla.io import atomic_write_json

    atomic_write_json(out_dir / "summary.json", {
        "task": task, "steps": state.step, "samples_seen": state.samples_seen, "best_metric": state.best_metric,
        "best_step": state.best_step, "nonfinite_skipped": state.nonfinite_skipped, "data_skipped": state.data_skipped,
        "train": json_safe(train), "val": json_safe(val),
        "learning": None if learning is None else {"status": learning.status, "line": learning.line},
    })


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a ``metrics.jsonl`` (a torn last line from a crash is ignored)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
