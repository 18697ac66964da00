"""benchmarks/salt_claims.py --preset tiny: the GPU preset's code path end to end, and its numbers agree with each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from salt_vla.cli import cli
from salt_vla.selection import fit_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_preset_runs_and_its_report_is_consistent(tmp_path):
    out = tmp_path / "claims.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "salt_claims.py"), "--preset", "tiny",
                             "--work-dir", str(tmp_path / "work"), "--out", str(out)],
                            capture_output=True, text=True, env={**os.environ}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(out.read_text())
    assert "NOT evidence" in record["label"] and record["machine"]["cpu_count"] and record["date"]
    figures = record["figures"]
    students, probes = figures["students"], figures["probes"]
    assert len(students) >= 3 and sum(len(s["checkpoints"]) for s in students.values()) >= 8
    assert {s["teacher"] for s in students.values()} >= {"multiblock_vjepa@0.1", "multiblock_vjepa@0.5",
                                                         "multiblock_vjepa@1", "random_tube@1"}
    # every student checkpoint was probed, and the pooled fit is the least-squares line through those numbers
    loss, accuracy = [], []
    for name, info in students.items():
        for checkpoint in info["checkpoints"]:
            loss.append(checkpoint["val_loss"])
            accuracy.append(probes[f"{name}@{checkpoint['step']}"]["time_arrow"]["accuracy"])
    report = figures["claims"]["loss_predicts_accuracy"]["time_arrow"]
    expected = fit_line(loss, accuracy)
    assert report["pooled"]["slope"] == pytest.approx(expected.slope)
    assert report["pooled"]["r2"] == pytest.approx(expected.r2)
    assert report["num_probed"] == len(loss) and any("step count" in note for note in report["notes"])
    # the claim tables quote the probes, with the test-set size, chance and a Wilson interval
    row = figures["claims"]["student_vs_teacher_vs_random"]["random_init"]["time_arrow"]
    assert row["accuracy"] == probes["random_init"]["time_arrow"]["accuracy"]
    assert row["interval"][0] <= row["accuracy"] <= row["interval"][1] and row["chance"] == 0.5
    assert row["num_test"] == round(0.3 * figures["preset"]["probe_videos"])  # test videos, not their two answers
    assert figures["model_sizes"]["student_encoder"] > 0
    # salt-vla select on the same real runs, fed the benchmark's probe accuracies, reproduces the pooled fit
    rows = [{"run": info["run"], "step": c["step"], "accuracy": probes[f"{name}@{c['step']}"]["time_arrow"]["accuracy"]}
            for name, info in students.items() for c in info["checkpoints"]]
    (tmp_path / "probes.json").write_text(json.dumps(rows))
    runs = [str(tmp_path / "work" / "runs" / info["run"]) for info in students.values()]
    result = CliRunner().invoke(cli, ["select", *runs, "--probe-json", str(tmp_path / "probes.json"),
                                      "--out", str(tmp_path / "select.json")])
    assert result.exit_code == 0, result.output
    selected = json.loads((tmp_path / "select.json").read_text())
    assert selected["pooled"] == pytest.approx(report["pooled"], nan_ok=True)
    assert selected["num_checkpoints"] == len(loss) and selected["num_runs"] == len(students)
