"""The main job end to end at toy size: every artefact is written and every number comes from the run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from salt_vla.quickstart import cpu_model, run_quickstart
from salt_vla.train.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[2]

TOY = {"size": 32, "frames": 4, "train_videos": 32, "val_videos": 16, "probe_videos": 24, "teacher_steps": 6,
       "student_steps": 6, "batch_size": 4, "num_workers": 0, "val_every": 3,
       "student_args": {"embed_dim": 48, "depth": 2, "num_heads": 3},
       "teacher_args": {"embed_dim": 48, "depth": 2, "num_heads": 3}, "probe_layers": 2,
       "decoder": {"dim": 32, "depth": 1, "num_heads": 2}, "predictor": {"dim": 32, "depth": 1, "num_heads": 2}}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    return out, run_quickstart(out, preset="cpu", overrides=TOY, progress=False)


@pytest.fixture
def toy_copy(toy_run, tmp_path):
    """A private copy of the finished toy directory (its run directories included)."""
    out, report = toy_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    return copy, report


def test_quickstart_writes_every_artefact(toy_run):
    out, report = toy_run
    for name in ("report.md", "report.json", "teacher_loss.png", "student_loss.png", "student/config.json",
                 "student/model.safetensors", "student/README.md", "quickstart.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text()) == report
    markdown = (out / "report.md").read_text()
    assert "## Claims" in markdown and "95% interval" in markdown and "Seeds: data 0" in markdown
    for claim in report["claims"]:
        assert claim["claim"] in markdown and claim["statement"] in markdown
    card = (out / "student" / "README.md").read_text()
    assert "time_arrow" in card and "training_config" not in card.split("## Probe results")[1][:20]


def test_report_numbers_come_from_the_run(toy_run):
    out, report = toy_run
    student_rows = read_metrics(out / "runs" / "student" / "metrics.jsonl")
    last_val = [row for row in student_rows if "val/loss" in row][-1]
    assert report["student"]["validation"]["val/loss"] == pytest.approx(last_val["val/loss"])
    assert report["student"]["validation"]["val/mean_target_ratio"] == pytest.approx(
        last_val["val/loss"] / last_val["val/mean_target_loss"], rel=1e-6)
    # TOY's 16 validation clips are the trainer's 4 validation batches with the same masks: the per-clip scoring
    # must reproduce the trainer's validation loss.
    per_clip = report["validation_per_clip"]
    assert per_clip["num_clips"] == TOY["val_videos"]
    assert per_clip["model_loss"] == pytest.approx(last_val["val/loss"], rel=1e-4)
    trivial, beat, random_init, teacher = per_clip["trivial"], *report["claims"]
    assert beat["mean"] == pytest.approx(per_clip[f"{trivial}_loss"] - per_clip["model_loss"], rel=1e-6)
    assert per_clip[f"{trivial}_loss"] == min(per_clip["constant_loss"], per_clip["per_position_loss"])
    probes, keys = report["probes"], ["time_arrow", "speed", "vertical", "bounces"]
    for claim, other in ((random_init, "random_init"), (teacher, "teacher")):
        # each video's score averaged over the motion probes, then over videos: the mean accuracy difference
        expected = sum(probes["student"][k]["accuracy"] - probes[other][k]["accuracy"] for k in keys) / len(keys)
        assert claim["mean"] == pytest.approx(expected)
        assert claim["ci_low"] <= claim["mean"] <= claim["ci_high"]
    for claim in report["claims"]:
        assert claim["holds"] == (claim["ci_low"] > 0)
    for encoder in ("student", "random_init", "teacher"):
        assert set(probes[encoder]) == set(keys)
        for result in probes[encoder].values():
            assert result["ci_low"] <= result["accuracy"] <= result["ci_high"]
            assert result["num_test"] == TOY["probe_videos"] // 2
    assert report["comparisons"]["random_init"]["time_arrow"]["mean"] == pytest.approx(
        probes["student"]["time_arrow"]["accuracy"] - probes["random_init"]["time_arrow"]["accuracy"])
    machine = report["machine"]
    assert machine == {"cpu": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    assert report["torch_version"] == torch.__version__
    markdown = (out / "report.md").read_text()
    assert f"This report is one draw: seed 0 on {machine['cpu']} ({machine['cpus']} CPUs" in markdown
    assert f"PyTorch {torch.__version__}" in markdown


def test_the_report_says_nothing_about_documented_runs(toy_run):
    """Its words come from report.json: another seed, CPU and build give other words, and no documented seed's
    verdict (the docs' "on seed 0 no difference was shown") appears in any report."""
    from salt_vla.quickstart import _markdown

    out, report = toy_run
    markdown = (out / "report.md").read_text()
    for documented in ("seeds 0-4", "seeds 1-4", "on seed 0"):
        assert documented not in markdown, documented
    xeon = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz"
    other = {**report, "seeds": {**report["seeds"], "train": 7}, "torch_version": "2.99.0+cpu",
             "machine": {"cpu": xeon, "cpus": 2, "torch_threads": 2}}
    words = _markdown(other)
    assert f"This report is one draw: seed 7 on {xeon} (2 CPUs, 2 PyTorch threads), PyTorch 2.99.0+cpu." \
        in words
    assert f"--preset {report['preset']}" in words
    older = {key: value for key, value in report.items() if key != "machine"}  # an earlier version's report
    assert "seed 0 on an unrecorded CPU, PyTorch" in _markdown(older)


def test_cpu_model_reads_proc_cpuinfo_and_falls_back_to_platform(tmp_path):
    import platform

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n"
                    "model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n")
    assert cpu_model(info) == "Intel(R) Xeon(R) CPU @ 2.20GHz"
    info.write_text("processor\t: 0\nHardware\t: BCM2835\n")  # no model name line (some ARM kernels)
    assert cpu_model(info) == (platform.processor() or platform.machine() or "unknown")
    assert cpu_model(tmp_path / "absent") == cpu_model(info)


def test_rerunning_a_finished_directory_reuses_it(toy_copy, capsys):
    out, report = toy_copy
    metrics = (out / "runs" / "student" / "metrics.jsonl").read_text()
    again = run_quickstart(out, preset="cpu", overrides=TOY)
    assert again["reused"] is True and {**again, "reused": False} == report
    assert "reusing its results" in capsys.readouterr().out
    assert (out / "runs" / "student" / "metrics.jsonl").read_text() == metrics  # nothing was trained again


def test_finished_training_runs_are_reused_and_report_their_last_validation(toy_copy, capsys):
    out, report = toy_copy
    (out / "report.json").unlink()  # interrupted after both stages finished
    again = run_quickstart(out, preset="cpu", overrides=TOY)
    printed = capsys.readouterr().out
    assert "teacher run" in printed and "salt run" in printed and printed.count("reusing it") == 2
    assert again["student"]["validation"] == report["student"]["validation"]
    assert again["teacher"]["steps"] == TOY["teacher_steps"] and again["student"]["steps"] == TOY["student_steps"]
    assert again["validation_per_clip"] == report["validation_per_clip"]
    assert again["probes"] == report["probes"] and again["reused"] is False


def test_a_directory_written_before_checkpoint_every_existed_is_still_reused(toy_copy):
    out, report = toy_copy
    settings = json.loads((out / "quickstart.json").read_text())
    del settings["preset"]["checkpoint_every"]  # quickstart.json as an earlier version wrote it
    (out / "quickstart.json").write_text(json.dumps(settings))
    again = run_quickstart(out, preset="cpu", overrides=TOY, progress=False)
    assert again["reused"] is True and again["claims"] == report["claims"]
    with pytest.raises(FileExistsError, match="other settings"):  # a changed value is still refused
        run_quickstart(out, preset="cpu", overrides={**TOY, "checkpoint_every": 2}, progress=False)


RUN_QUICKSTART = """
import json, sys
from salt_vla.quickstart import run_quickstart
run_quickstart(sys.argv[1], preset="cpu", overrides=json.loads(sys.argv[2]), progress=False)
"""


def test_a_killed_quickstart_resumes_stage_2_from_its_last_checkpoint(tmp_path, capsys):
    """A real process is killed (SIGKILL) once stage 2 has written a checkpoint; the same call then continues
    stage 2 from that checkpoint's step, not from step 0, reuses stage 1 and the cache, and finishes."""
    out = tmp_path / "quickstart"
    overrides = {**TOY, "student_steps": 20, "checkpoint_every": 4}
    steps, every = overrides["student_steps"], overrides["checkpoint_every"]
    state = out / "runs" / "student" / "checkpoints" / "last" / "training_state" / "state.json"
    process = subprocess.Popen([sys.executable, "-c", RUN_QUICKSTART, str(out), json.dumps(overrides)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not state.is_file():
            assert process.poll() is None, \
                f"the quickstart ended before its first stage-2 checkpoint: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no stage-2 checkpoint within 240 s"
            time.sleep(0.01)
    finally:
        process.kill()
        process.communicate()
    checkpoint = json.loads(state.read_text())["step"]  # the kill may have come a checkpoint or two later
    assert 0 < checkpoint < steps and checkpoint % every == 0
    assert not (out / "runs" / "student" / "summary.json").exists() and not (out / "report.json").exists()
    logged = [row["step"] for row in read_metrics(out / "runs" / "student" / "metrics.jsonl")]

    report = run_quickstart(out, preset="cpu", overrides=overrides)
    printed = capsys.readouterr().out
    assert (f"salt run in {out / 'runs' / 'student'}: resuming from its checkpoint at step {checkpoint} of "
            f"{steps}") in printed
    assert "teacher run" in printed and "finished earlier" in printed  # stage 1 was not trained again
    assert report["student"]["started_at_step"] == checkpoint and report["student"]["steps"] == steps
    assert report["teacher"]["started_at_step"] == report["teacher"]["steps"] == TOY["teacher_steps"]
    assert f"{steps} steps (resumed from its checkpoint at step {checkpoint} after an interruption)" in \
        (out / "report.md").read_text()
    rows = [row["step"] for row in read_metrics(out / "runs" / "student" / "metrics.jsonl")]
    # the killed process's rows are kept (appended to, not rewritten); the resumed run logged only later steps
    assert rows[:len(logged)] == logged and all(step > checkpoint for step in rows[len(logged):])
    assert rows[-1] == steps


def test_overwrite_starts_afresh_and_keeps_other_files(toy_copy, capsys):
    out, _ = toy_copy
    (out / "notes.txt").write_text("mine")
    (out / "runs" / "teacher" / "stale").write_text("from the earlier run")
    # Other settings too: the teacher's own masks and normalised targets reach the stage configurations.
    tube = {"name": "random_tube", "args": {"ratio": 0.75}}
    report = run_quickstart(out, preset="cpu", overrides={**TOY, "teacher_masks": tube, "target_norm": "layer_norm"},
                            overwrite=True)
    assert "reusing" not in capsys.readouterr().out
    assert report["reused"] is False and report["student"]["steps"] == TOY["student_steps"]
    assert not (out / "runs" / "teacher" / "stale").exists()  # the run directories were made anew
    assert (out / "notes.txt").read_text() == "mine"  # what is not the quickstart's own stays
    teacher, student = (yaml.safe_load((out / "runs" / stage / "config.yaml").read_text()) for stage in ("teacher", "student"))
    assert teacher["masks"] == tube and student["masks"]["name"] == "multiblock_vjepa"
    assert student["loss"]["target_norm"] == "layer_norm" and teacher["optim"]["fused"] is student["optim"]["fused"] is True
    assert teacher["data"]["args"]["physics"] == student["data"]["args"]["physics"] == {"radius": [0.12, 0.2]}
    assert report["preset_settings"]["physics"] == {"radius": [0.12, 0.2]}


def test_other_settings_are_refused_without_overwrite(toy_copy):
    out, _ = toy_copy
    with pytest.raises(FileExistsError, match="other settings"):
        run_quickstart(out, preset="cpu", overrides={**TOY, "student_steps": 7}, progress=False)
    result = subprocess.run([sys.executable, "-m", "salt_vla", "quickstart", "--out", str(out)], capture_output=True,
                            text=True, env={**os.environ}, timeout=300)
    assert result.returncode == 2 and "other settings" in result.stderr and "--overwrite" in result.stderr
    assert (out / "report.json").is_file()  # nothing was deleted


def test_probe_cli_on_the_student(toy_run, tmp_path):
    out, _ = toy_run
    env = {**os.environ}
    result = subprocess.run([sys.executable, "-m", "salt_vla", "probe", str(out / "student"), "--videos", "20",
                             "--out", str(tmp_path / "probe.json")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    probes = json.loads((tmp_path / "probe.json").read_text())["probes"]
    assert set(probes) == {"time_arrow", "num_balls", "direction"}
    assert all(0 <= p["ci_low"] <= p["accuracy"] <= p["ci_high"] <= 1 for p in probes.values())


def test_probe_layers_the_models_lack_are_refused_before_any_training(tmp_path):
    with pytest.raises(ValueError, match=r"probe_layers=3, but the student .* has 2 block\(s\); set probe_layers "
                                         r"between 1 and 2"):
        run_quickstart(tmp_path, preset="cpu", overrides={**TOY, "probe_layers": 3}, progress=False)
    assert not (tmp_path / "runs").exists()


def test_probes_read_the_preset_layers_and_the_report_says_so(toy_run):
    out, report = toy_run
    assert report["probe_set"]["layers"] == 2
    assert "Features: the last 2 blocks' tokens side by side, averaged over the whole frame per token frame" in \
        (out / "report.md").read_text()


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Unknown quickstart preset 'laptop'; choose one of cpu, gpu"):
        run_quickstart(tmp_path, preset="laptop")


def test_each_claim_says_holds_reversed_or_not_shown_as_its_interval_does():
    """A claim whose interval lies below zero is called reversed in words, not merely 'not shown'."""
    from types import SimpleNamespace

    from salt_vla.quickstart import _claims, claim_outcome

    generator = torch.Generator().manual_seed(0)
    trivial = 1.0 + 0.01 * torch.rand(200, generator=generator)
    noise = 0.2 * torch.rand(200, generator=generator)

    def probes(student: torch.Tensor, other: torch.Tensor) -> dict:
        return {"student": {"time_arrow": SimpleNamespace(scores=student)},
                "random_init": {"time_arrow": SimpleNamespace(scores=other)},
                "teacher": {"time_arrow": SimpleNamespace(scores=other)}}

    good, bad = torch.full((200,), 0.9) - noise / 10, torch.full((200,), 0.5) + noise / 10
    for model, student, other, verdict, opening in (
            (trivial - 0.1, good, bad, "positive", ("The student", "The trained student", "The student")),
            (trivial + 0.1, bad, good, "negative", ("REVERSED", "REVERSED", "The student reads the clips' motion "
                                                                            "(time arrow) less well")),
            (trivial + noise - 0.1, bad + noise - 0.1, bad, "inconclusive", ("NOT shown", "NOT shown", "No measurable"))):
        losses = {"model": model, "constant": trivial + 1, "per_position": trivial}
        _, claims = _claims(losses, probes(student, other))
        assert [c["verdict"] for c in claims] == [verdict] * 3
        assert [c["holds"] for c in claims] == [verdict == "positive"] * 3
        words = {"positive": ("holds", "student better"), "negative": ("reversed", "teacher better"),
                 "inconclusive": ("not shown", "no difference")}[verdict]
        assert [c["outcome"] for c in claims] == [words[0], words[0], words[1]]
        assert [claim_outcome({k: v for k, v in c.items() if k != "outcome"}) for c in claims] == \
            [c["outcome"] for c in claims]  # a report written before `outcome` existed reads the same
        assert all(c["statement"].startswith(start) for c, start in zip(claims, opening)), [c["statement"] for c in claims]


def test_the_motion_claims_average_each_video_over_the_motion_probes_only():
    """Claims 2 and 3 pair each held-out video's mean score over the motion probes; appearance (num_balls) is out."""
    from types import SimpleNamespace

    from salt_vla.quickstart import _claims

    generator = torch.Generator().manual_seed(1)
    videos = 300
    scores = {name: {key: torch.rand(videos, generator=generator).round() for key in
                     ("time_arrow", "speed", "bounces", "num_balls")} for name in ("student", "random_init", "teacher")}
    scores["student"]["num_balls"] = torch.zeros(videos)  # far worse on appearance: must not count
    probes = {name: {key: SimpleNamespace(scores=values) for key, values in per.items()} for name, per in scores.items()}
    losses = {"model": torch.ones(videos), "constant": torch.ones(videos) * 2, "per_position": torch.ones(videos) * 2}
    _, claims = _claims(losses, probes)
    for claim, other in zip(claims[1:], ("random_init", "teacher")):
        expected = sum(float((scores["student"][k] - scores[other][k]).mean()) for k in ("time_arrow", "speed", "bounces")) / 3
        assert claim["mean"] == pytest.approx(expected)
        assert claim["num_examples"] == videos
        assert "(time arrow, speed, bounces)" in claim["measure"] and "num balls" not in claim["measure"]


def test_probe_readouts_benchmark_rebuilds_the_runs_probes_and_claims(toy_run, tmp_path):
    """benchmarks/probe_readouts.py re-probes a finished directory: at the run's own layers it finds the report's
    accuracies and claims exactly (same clips, labels, encoders and split), and it never writes into the run."""
    out, report = toy_run
    before = sorted((path, path.stat().st_mtime_ns) for path in out.rglob("*"))
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "probe_readouts.py"), str(out), "--layers",
                             "1", "2", "--out", str(tmp_path / "readouts.json")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((tmp_path / "readouts.json").read_text())["figures"]["per_run"][0]
    assert set(run["layers"]) == {"1", "2"} and run["seed"] == 0
    at_run_layers = run["layers"]["2"]
    for encoder, probes in report["probes"].items():
        assert at_run_layers["accuracy"][encoder] == {key: probe["accuracy"] for key, probe in probes.items()}
    claims = {claim["claim"]: claim for claim in report["claims"]}
    assert at_run_layers["motion_claim"]["random_init"]["mean"] == pytest.approx(
        claims["beats the random-init encoder"]["mean"])
    assert at_run_layers["motion_claim"]["teacher"]["mean"] == pytest.approx(claims["vs the teacher"]["mean"])
    assert sorted((path, path.stat().st_mtime_ns) for path in out.rglob("*")) == before
