"""``salt-vla select``: does validation loss predict probe accuracy, and which checkpoint to keep."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("select")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--probe-json", "probe_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Probe accuracies: a JSON list (or {\"checkpoints\": [...]}) of {run, step, accuracy}, or a "
                   "`salt-vla probe --out` file of a checkpoint inside a run; repeatable.")
@click.option("--task", default="time_arrow", show_default=True, help="Which probe of `salt-vla probe` files to fit.")
@click.option("--metric", default="val/loss", show_default=True, help="Validation metric of metrics.jsonl to fit.")
@click.option("--bootstrap", type=int, default=2000, show_default=True, help="Resamples for the interval.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here.")
def select_command(run_dirs: tuple[Path, ...], probe_files: tuple[Path, ...], task: str, metric: str, bootstrap: int,
                   out_file: Path | None) -> None:
    """Fit probe accuracy against the student's validation loss over the checkpoints of RUN_DIRS (pooled,
    within-run, between-run) and name the checkpoint whose loss predicts the highest accuracy."""
    from salt_vla.io import atomic_write_json
    from salt_vla.selection import (
        attach_accuracies,
        format_report,
        json_safe,
        loss_accuracy_report,
        read_probe_json,
        run_checkpoints,
    )

    names = [run.name for run in run_dirs]
    if len(set(names)) != len(names):
        raise click.UsageError(f"Run directories must have distinct names (probe JSON matches on them): {names}.")
    if not probe_files:
        raise click.UsageError("Give --probe-json with the probe accuracy of >= 3 checkpoints.")
    accuracies: dict[tuple[str, int], float] = {}
    for file in probe_files:
        accuracies.update(read_probe_json(file, task=task))
    checkpoints = [c for run in run_dirs for c in run_checkpoints(run, metric=metric)]
    report = loss_accuracy_report(attach_accuracies(checkpoints, accuracies), bootstrap=bootstrap)
    click.echo(format_report(report))
    if out_file:
        atomic_write_json(out_file, json.loads(json.dumps(json_safe(report), default=str)))
