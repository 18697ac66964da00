"""Loss-predicts-accuracy: exact fits on known lines, pooled vs within-run, the checkpoint to keep, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from salt_vla.cli import cli
from salt_vla.selection import (
    CheckpointScore,
    fit_line,
    loss_accuracy_report,
    read_probe_json,
    run_checkpoints,
)


def test_fit_line_is_exact_on_a_line_and_matches_the_textbook_r2():
    fit = fit_line([1.0, 2.0, 3.0, 5.0], [0.9, 0.8, 0.7, 0.5])
    assert fit.slope == pytest.approx(-0.1) and fit.intercept == pytest.approx(1.0)
    assert fit.r2 == pytest.approx(1.0) and fit.residual_se == pytest.approx(0.0, abs=1e-12)
    x, y = [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 2.0, 5.0]
    fit = fit_line(x, y)
    # slope = Sxy / Sxx = 5.5 / 5 ; R^2 = Sxy^2 / (Sxx Syy) = 30.25 / (5 * 8.75)
    assert fit.slope == pytest.approx(1.1) and fit.intercept == pytest.approx(2.75 - 1.1 * 1.5)
    assert fit.r2 == pytest.approx(30.25 / 43.75)
    assert fit.residual_se == pytest.approx(((8.75 - 30.25 / 5) / 2) ** 0.5)
    with pytest.raises(ValueError):
        fit_line([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])


def test_pooled_and_within_run_differ_and_the_report_says_why():
    """Each run improves along its steps (within-run R^2 = 1), but across runs a lower loss goes with a
    lower accuracy: the pooled fit must not inherit the within-run R^2."""
    points = []
    for run, (loss0, acc0) in enumerate([(1.0, 0.55), (0.8, 0.50), (0.6, 0.45)]):
        for step in range(4):
            points.append(CheckpointScore(f"run{run}", 100 * step, loss0 - 0.02 * step, acc0 + 0.01 * step))
    report = loss_accuracy_report(points, bootstrap=200)
    for fit in report["within_run"].values():
        assert fit["r2"] == pytest.approx(1.0) and fit["slope"] == pytest.approx(-0.5)
    assert report["within_run_demeaned"]["r2"] == pytest.approx(1.0)
    assert report["pooled"]["slope"] > 0 and report["pooled"]["r2"] < 0.95
    assert report["between_run"]["slope"] == pytest.approx(0.25) and report["between_run"]["r2"] == pytest.approx(1.0)
    assert any("step count" in note for note in report["notes"])
    assert any("not negative" in note for note in report["notes"])
    assert not report["keep"]["extrapolated"]  # every checkpoint was probed


def test_the_kept_checkpoint_maximises_predicted_accuracy_including_unprobed_ones():
    generator = torch.Generator().manual_seed(0)
    losses = torch.linspace(0.5, 1.0, 9)
    points = [CheckpointScore(f"run{i % 3}", 10 * i, float(loss), float(0.9 - 0.4 * loss + 0.01 * noise))
              for i, (loss, noise) in enumerate(zip(losses, torch.randn(9, generator=generator)))]
    points.append(CheckpointScore("run0", 999, 0.4, None))  # never probed, lowest loss
    report = loss_accuracy_report(points, bootstrap=300)
    keep = report["keep"]
    assert (keep["run"], keep["step"]) == ("run0", 999)
    assert report["pooled"]["slope"] == pytest.approx(-0.4, abs=0.05)
    low, high = keep["bootstrap_interval"]
    assert low < keep["predicted_accuracy"] < high and high - low < 0.1
    assert keep["bootstrap_same_choice"] == 1.0  # a negative slope always keeps the lowest loss
    assert keep["extrapolated"] and any("extrapolation" in note for note in report["notes"])


def fake_run(root, name, val_losses, *, tags=None):
    """A run directory laid out as the trainer writes it (metrics.jsonl, checkpoints/<tag>/training_state)."""
    run = root / name
    run.mkdir()
    rows = [{"step": step, "time": 0.0, "val/loss": loss} for step, loss in val_losses.items()]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for tag, step in (tags or {str(step): step for step in val_losses}).items():
        state = run / "checkpoints" / tag / "training_state"
        state.mkdir(parents=True)
        (state / "state.json").write_text(json.dumps({"step": step}))
    return run


def test_run_checkpoints_reads_steps_and_losses(tmp_path):
    run = fake_run(tmp_path, "a", {10: 0.9, 20: 0.7}, tags={"10": 10, "20": 20, "last": 20})
    assert [(c.step, c.val_loss) for c in run_checkpoints(run)] == [(10, 0.9), (20, 0.7)]
    assert run_checkpoints(run)[1].path.endswith("20")
    broken = fake_run(tmp_path, "b", {10: 0.9}, tags={"10": 10, "last": 30})
    with pytest.raises(ValueError, match="30"):
        run_checkpoints(broken)


def test_select_cli(tmp_path):
    runs = [fake_run(tmp_path, name, {10: base, 20: base - 0.1, 30: base - 0.2}) for name, base in
            (("r1", 1.0), ("r2", 0.9), ("r3", 0.8))]
    probes = [{"run": name, "step": 10, "accuracy": 1.0 - base} for name, base in (("r1", 1.0), ("r2", 0.9), ("r3", 0.8))]
    probes += [{"run": "r1", "step": 30, "accuracy": 0.2}]  # accuracy = 1 - val loss throughout
    (tmp_path / "probes.json").write_text(json.dumps({"checkpoints": probes}))
    result = CliRunner().invoke(cli, ["select", *map(str, runs), "--probe-json", str(tmp_path / "probes.json"),
                                      "--bootstrap", "100", "--out", str(tmp_path / "select.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "select.json").read_text())
    assert report["num_checkpoints"] == 9 and report["num_probed"] == 4 and report["num_runs"] == 3
    assert report["keep"]["run"] == "r3" and report["keep"]["step"] == 30
    assert report["pooled"]["r2"] == pytest.approx(1.0) and report["pooled"]["slope"] == pytest.approx(-1.0)
    assert report["within_run"] == {"r1": None, "r2": None, "r3": None}  # < 3 probed points per run
    assert report["keep"]["predicted_accuracy"] == pytest.approx(0.4)
    assert "within-run" in result.output and "keep: r3 step 30" in result.output


def test_probe_command_output_is_read_as_a_checkpoint_accuracy(tmp_path):
    run = fake_run(tmp_path, "a", {10: 0.9, 20: 0.7}, tags={"10": 10, "last": 20})
    for tag, accuracy in (("10", 0.6), ("last", 0.7)):
        probe = {"checkpoint": str(run / "checkpoints" / tag / "student"), "dataset": "synthetic_physics",
                 "probes": {"time_arrow": {"accuracy": accuracy}, "direction": {"accuracy": 0.4}}}
        (tmp_path / f"probe_{tag}.json").write_text(json.dumps(probe))
    assert read_probe_json(tmp_path / "probe_last.json") == {("a", 20): 0.7}
    assert read_probe_json(tmp_path / "probe_10.json", task="direction") == {("a", 10): 0.4}
    with pytest.raises(KeyError, match="num_balls"):
        read_probe_json(tmp_path / "probe_10.json", task="num_balls")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"checkpoint": str(tmp_path), "probes": {"x": {"accuracy": 0.5}}}))
    with pytest.raises(ValueError, match="checkpoints"):
        read_probe_json(tmp_path / "elsewhere.json", task="x")
