"""Checkpoint selection by validation loss: does the student's loss predict its probe accuracy?

Probing every checkpoint is expensive; the student's validation loss is logged for free. If, across
checkpoints and runs, probe accuracy is a linear function of validation loss, the loss alone can choose
the checkpoint to keep. :func:`loss_accuracy_report` fits ``accuracy = intercept + slope * loss`` by
least squares and reports R^2, slope and intercept:

- **pooled**: every probed checkpoint of every run;
- **within-run**: one fit per run, and one on run-demeaned values (the within-run relation pooled over
  runs). Inside one run both loss and accuracy follow the step count, so a high within-run R^2 alone
  shows only that both improve with training, not that loss predicts accuracy;
- **between-run**: run means against run means (needs >= 3 runs).

The checkpoint to keep is the one (probed or not) whose validation loss the pooled fit maps to the
highest accuracy (ties: the lower loss), with the residual standard error and a bootstrap 95% interval
of its predicted accuracy (the line refitted on resamples with replacement: of runs, each with all its probed
checkpoints, when there are several runs, since checkpoints of one run are correlated; of checkpoints, with a note
saying the interval is too narrow, when there is one), and how often the bootstrap picks the same checkpoint.

Run directories are read as the trainer writes them: ``<run>/metrics.jsonl`` and
``<run>/checkpoints/<tag>/training_state/state.json`` (the step of each checkpoint; tags such as ``last``
and ``best`` that hold the same step count once).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

WITHIN_RUN_CAVEAT = ("Within one run, validation loss and probe accuracy both follow the step count, so a high "
                     "within-run R^2 alone does not show that loss predicts accuracy; the pooled and between-run fits "
                     "(runs that differ in teacher, masking or learning rate) are the evidence.")


@dataclass(frozen=True)
class LinearFit:
    """Least-squares line ``y = intercept + slope * x`` and how well it fits."""

    n: int
    slope: float
    intercept: float
    r2: float
    residual_se: float

    def predict(self, x: float) -> float:
        return self.intercept + self.slope * x

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_line(x: Sequence[float], y: Sequence[float], *, parameters: int = 2) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x`` (float64). R^2 is ``1 - SS_res / SS_tot`` (NaN when ``y`` is
    constant); the residual standard error divides by ``n - parameters``: ``n - 2`` for a line, ``n - runs - 1``
    for values demeaned per run (each run's mean is a fitted parameter too); NaN when that is not positive."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"Need >= 2 paired values to fit a line; got {len(x)} and {len(y)}.")
    xs, ys = torch.tensor(list(x), dtype=torch.float64), torch.tensor(list(y), dtype=torch.float64)
    dx = xs - xs.mean()
    sxx = float(dx.pow(2).sum())
    if sxx == 0:
        raise ValueError("All x values are equal; a line cannot be fitted.")
    slope = float((dx * (ys - ys.mean())).sum()) / sxx
    intercept = float(ys.mean()) - slope * float(xs.mean())
    residuals = ys - (intercept + slope * xs)
    ss_res, ss_tot = float(residuals.pow(2).sum()), float((ys - ys.mean()).pow(2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else math.nan
    se = math.sqrt(ss_res / (len(xs) - parameters)) if len(xs) > parameters else math.nan
    return LinearFit(len(xs), slope, intercept, r2, se)


@dataclass(frozen=True)
class CheckpointScore:
    """One checkpoint: its run, step, validation loss and (when probed) probe accuracy."""

    run: str
    step: int
    val_loss: float
    accuracy: float | None = None
    path: str | None = None


def run_checkpoints(run_dir: str | Path, *, metric: str = "val/loss") -> list[CheckpointScore]:
    """Checkpoints of a training run with the validation ``metric`` logged at their step.

    Raises:
        FileNotFoundError: no ``metrics.jsonl`` or no checkpoint. ValueError: a checkpoint's step has no ``metric``.
    """
    from salt_vla.train.metrics import read_metrics
    from salt_vla.train.state import STATE_DIR

    run_dir = Path(run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise FileNotFoundError(f"{run_dir / 'metrics.jsonl'} not found; is {run_dir} a training run directory?")
    logged = {row["step"]: row[metric] for row in read_metrics(run_dir / "metrics.jsonl") if row.get(metric) is not None}
    steps: dict[int, Path] = {}
    for state_file in sorted((run_dir / "checkpoints").glob(f"*/{STATE_DIR}/state.json")):
        step = int(json.loads(state_file.read_text())["step"])
        directory = state_file.parent.parent
        if step not in steps or directory.name.isdigit():  # prefer a step-named copy over last / best
            steps[step] = directory
    if not steps:
        raise FileNotFoundError(f"No checkpoints under {run_dir / 'checkpoints'}.")
    missing = sorted(step for step in steps if step not in logged)
    if missing:
        raise ValueError(f"{run_dir}: no {metric!r} logged at checkpoint step(s) {missing}; validate at every "
                         f"checkpoint (run.val_every dividing run.checkpoint_every).")
    return [CheckpointScore(run_dir.name, step, float(logged[step]), None, str(path)) for step, path in sorted(steps.items())]


def attach_accuracies(checkpoints: Sequence[CheckpointScore],
                      accuracies: Mapping[tuple[str, int], float]) -> list[CheckpointScore]:
    """``checkpoints`` with ``accuracy`` filled from ``{(run, step): accuracy}`` where known."""
    return [CheckpointScore(c.run, c.step, c.val_loss, accuracies.get((c.run, c.step), c.accuracy), c.path)
            for c in checkpoints]


def _fit_or_none(x: Sequence[float], y: Sequence[float], parameters: int = 2) -> dict[str, Any] | None:
    try:
        return fit_line(x, y, parameters=parameters).to_dict()
    except ValueError:
        return None


def loss_accuracy_report(checkpoints: Sequence[CheckpointScore], *, bootstrap: int = 2000,
                         seed: int = 0) -> dict[str, Any]:
    """Pooled, within-run and between-run fits of accuracy on validation loss, and the checkpoint to keep.

    ``checkpoints`` without an accuracy are not fitted but are candidates for selection.
    """
    probed = [c for c in checkpoints if c.accuracy is not None]
    if len(probed) < 3:
        raise ValueError(f"Need >= 3 probed checkpoints to fit accuracy against loss; got {len(probed)}.")
    pooled = fit_line([c.val_loss for c in probed], [c.accuracy for c in probed])
    runs: dict[str, list[CheckpointScore]] = {}
    for c in probed:
        runs.setdefault(c.run, []).append(c)
    within = {run: _fit_or_none([c.val_loss for c in items], [c.accuracy for c in items]) if len(items) >= 3 else None
              for run, items in runs.items()}  # two points always fit a line exactly
    means = {run: (sum(c.val_loss for c in items) / len(items), sum(c.accuracy for c in items) / len(items))
             for run, items in runs.items()}
    demeaned = _fit_or_none([c.val_loss - means[c.run][0] for c in probed], [c.accuracy - means[c.run][1] for c in probed],
                            parameters=len(runs) + 1)  # the slope and one mean per run
    between = _fit_or_none([m[0] for m in means.values()], [m[1] for m in means.values()]) if len(runs) >= 3 else None

    def choose(fit: LinearFit) -> CheckpointScore:
        return max(checkpoints, key=lambda c: (fit.predict(c.val_loss), -c.val_loss))

    chosen = choose(pooled)
    # Checkpoints of one run are correlated (they share its teacher, seed and trajectory): with several runs the
    # bootstrap resamples runs, each with all its probed checkpoints (a cluster bootstrap); with one it can only
    # resample checkpoints, and a note says what that interval misses.
    names = list(runs)
    unit = "runs" if len(names) >= 2 else "checkpoints"
    generator = torch.Generator().manual_seed(seed)
    predictions, same = [], 0
    for _ in range(bootstrap):
        if unit == "runs":
            picks = torch.randint(0, len(names), (len(names),), generator=generator).tolist()
            sample = [c for i in picks for c in runs[names[i]]]
        else:
            sample = [probed[i] for i in torch.randint(0, len(probed), (len(probed),), generator=generator).tolist()]
        try:
            fit = fit_line([c.val_loss for c in sample], [c.accuracy for c in sample])
        except ValueError:  # a resample with one distinct loss
            continue
        predictions.append(fit.predict(chosen.val_loss))
        same += choose(fit) == chosen
    interval = None
    if predictions:
        ordered = torch.tensor(predictions, dtype=torch.float64)
        interval = [float(ordered.quantile(0.025)), float(ordered.quantile(0.975))]
    notes = [WITHIN_RUN_CAVEAT]
    if pooled.slope >= 0:
        notes.append("The pooled slope is not negative: lower validation loss does not predict higher accuracy here, "
                     "so loss is not a usable selection signal for these runs.")
    probed_losses = [c.val_loss for c in probed]
    extrapolated = not min(probed_losses) <= chosen.val_loss <= max(probed_losses)
    if extrapolated:
        notes.append(f"The kept checkpoint's validation loss {chosen.val_loss:.4g} is outside the probed range "
                     f"[{min(probed_losses):.4g}, {max(probed_losses):.4g}]: its predicted accuracy is an extrapolation; "
                     "probe it.")
    if len(runs) < 3:
        notes.append(f"Only {len(runs)} run(s): no between-run fit; the pooled fit is dominated by training progress.")
    if unit == "checkpoints":
        notes.append("One run: the bootstrap resamples its checkpoints as if they were independent, but checkpoints of "
                     "one run are correlated, so the interval is too narrow. With several runs it resamples runs.")
    elif len(runs) < 5:
        notes.append(f"The bootstrap resamples runs, and {len(runs)} runs allow few distinct resamples: the interval "
                     "is rough.")
    return {
        "num_checkpoints": len(checkpoints), "num_probed": len(probed), "num_runs": len(runs),
        "pooled": pooled.to_dict(), "within_run": within, "within_run_demeaned": demeaned, "between_run": between,
        "keep": {**asdict(chosen), "predicted_accuracy": pooled.predict(chosen.val_loss),
                 "residual_se": pooled.residual_se, "bootstrap_interval": interval,
                 "bootstrap_same_choice": same / len(predictions) if predictions else None,
                 "bootstrap_resamples": len(predictions), "bootstrap_unit": unit, "extrapolated": extrapolated},
        "checkpoints": [{**asdict(c), "predicted_accuracy": pooled.predict(c.val_loss)} for c in checkpoints],
        "notes": notes,
    }


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (e.g. R^2 of a constant accuracy) as ``None``, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def format_report(report: Mapping[str, Any]) -> str:
    """Plain-text summary of :func:`loss_accuracy_report`."""

    def line(fit: Mapping[str, Any] | None) -> str:
        if fit is None:
            return "n/a (fewer than 3 points, or one loss value)"
        return f"R^2 {fit['r2']:.3f}, slope {fit['slope']:+.4f}, intercept {fit['intercept']:.4f} (n={fit['n']})"

    keep = report["keep"]
    interval = keep["bootstrap_interval"]
    lines = [f"{report['num_probed']} probed of {report['num_checkpoints']} checkpoints, {report['num_runs']} run(s)",
             f"pooled:              {line(report['pooled'])}",
             f"within-run, demeaned: {line(report['within_run_demeaned'])}",
             f"between-run (means):  {line(report['between_run'])}"]
    lines += [f"  within {run}: {line(fit)}" for run, fit in report["within_run"].items()]
    lines.append(f"keep: {keep['run']} step {keep['step']} (val loss {keep['val_loss']:.4f}), predicted accuracy "
                 f"{keep['predicted_accuracy']:.3f} +- {keep['residual_se']:.3f} (residual SE)"
                 + (f", bootstrap 95% [{interval[0]:.3f}, {interval[1]:.3f}] resampling "
                    f"{keep.get('bootstrap_unit', 'checkpoints')}, same choice in "
                    f"{keep['bootstrap_same_choice']:.0%} of resamples" if interval else ""))
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def _checkpoint_identity(checkpoint: str | Path) -> tuple[str, int]:
    """``(run name, step)`` of ``<run>/checkpoints/<tag>[/<model>]`` from its ``training_state/state.json``."""
    from salt_vla.train.state import STATE_DIR

    path = Path(checkpoint)
    for directory in (path, path.parent):
        state = directory / STATE_DIR / "state.json"
        if state.is_file() and directory.parent.name == "checkpoints":
            return directory.parent.parent.name, int(json.loads(state.read_text())["step"])
    raise ValueError(f"{checkpoint} is not inside a training run's checkpoints/<tag>/ directory.")


def read_probe_json(path: str | Path, *, task: str = "time_arrow") -> dict[tuple[str, int], float]:
    """``{(run, step): accuracy}`` from a probe JSON file.

    Accepted: a list (or ``{"checkpoints": [...]}``) of ``{run, step, accuracy}``, or the output of
    ``salt-vla probe CHECKPOINT --out FILE`` (``{"checkpoint": ..., "probes": {task: {"accuracy": ...}}}``) for a
    checkpoint inside a run, whose ``task`` accuracy is used.
    """
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict) and "probes" in data and "checkpoint" in data:
        if task not in data["probes"]:
            raise KeyError(f"{path}: no {task!r} probe; it has {sorted(data['probes'])} (choose with --task).")
        return {_checkpoint_identity(data["checkpoint"]): float(data["probes"][task]["accuracy"])}
    rows = data["checkpoints"] if isinstance(data, dict) else data
    out = {}
    for row in rows:
        if row.get("accuracy") is not None:
            out[(Path(str(row["run"])).name, int(row["step"]))] = float(row["accuracy"])
    return out
