"""Every run says whether it is learning: one line per validation, in learning.log, metrics and summary."""

from __future__ import annotations

import json
import math

from salt_vla.config import from_dict
from salt_vla.diagnostics import LEARNING_STATUSES, LearningMonitor
from salt_vla.train import TrainConfig, train
from salt_vla.train.metrics import read_metrics

HEALTHY = {"val/mean_target_ratio": 0.6, "val/std_ratio": 0.8, "val/effective_rank": 20.0,
           "val/target_effective_rank": 30.0}


def test_monitor_names_learning_plateau_diverging_and_collapsing():
    monitor = LearningMonitor()
    first = monitor.assess(100, {**HEALTHY, "val/loss": 1.0})
    assert first.status == "learning" and "0.6x the loss of predicting the mean target" in first.line
    better = monitor.assess(200, {**HEALTHY, "val/loss": 0.8})
    assert better.status == "learning" and "(-20.0% since step 100)" in better.line
    flat = monitor.assess(300, {**HEALTHY, "val/loss": 0.799})
    assert flat.status == "plateau" and flat.line.startswith("step 300: plateau: val/loss 0.799")
    up = monitor.assess(400, {**HEALTHY, "val/loss": 1.2})
    assert up.status == "diverging" and up.code == LEARNING_STATUSES.index("diverging")
    collapsed = monitor.assess(500, {**HEALTHY, "val/loss": 0.7, "val/std_ratio": 0.02, "val/effective_rank": 1.5})
    assert collapsed.status == "collapsing" and "prediction spread 0.02 of the targets', effective rank 1.5 of 30" in collapsed.line
    assert monitor.assess(600, {**HEALTHY, "val/loss": math.nan}).status == "diverging"


def test_a_first_validation_that_does_not_beat_the_mean_target_is_a_plateau():
    assert LearningMonitor().assess(10, {**HEALTHY, "val/loss": 1.0, "val/mean_target_ratio": 1.3}).status == "plateau"


def test_a_diverging_training_loss_is_named_at_the_next_validation():
    monitor = LearningMonitor(window=6)
    for loss in (1.0, 0.5, 0.5, 0.9, 1.2, 1.5):
        monitor.observe_train(loss)
    status = monitor.assess(60, {**HEALTHY, "val/loss": 0.5})
    assert status.status == "diverging" and "training loss diverging" in status.line


def test_every_validation_of_a_run_writes_its_line_to_log_metrics_and_summary(tmp_path, tiny_config, capsys):
    config = tiny_config(tmp_path / "run", stage="teacher", data={"val_args": {"seed": 7, "num_videos": 8}},
                         run={"steps": 4, "val_every": 2, "val_batches": 1})
    result = train(from_dict(TrainConfig, config))
    lines = (tmp_path / "run" / "learning.log").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["step 2", "step 4"]
    assert all(line.split(": ")[1] in LEARNING_STATUSES for line in lines)
    assert lines[-1] in capsys.readouterr().err
    codes = [row["learning/status"] for row in read_metrics(tmp_path / "run" / "metrics.jsonl") if "learning/status" in row]
    assert codes == [LEARNING_STATUSES.index(line.split(": ")[1]) for line in lines]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["learning"] == {"status": result.learning.status, "line": lines[-1]}


def test_a_noisy_but_falling_training_loss_is_not_called_diverging():
    """Seen on the quickstart with an MSE objective: single batches far below the trend made a falling loss 'diverge'."""
    from salt_vla.diagnostics import TrendDetector

    detector = TrendDetector(window=30)
    trends = [detector.update((1.0 - 0.01 * step) * (0.4 if step % 7 == 0 else 1.0)) for step in range(60)]
    assert [t.status for t in trends[30:]] == ["improving"] * 30
    rising = TrendDetector(window=30)
    trends = [rising.update((1.0 + 0.03 * max(0, step - 30)) * (0.4 if step % 7 == 0 else 1.0)) for step in range(60)]
    assert trends[-1].status == "diverging"
