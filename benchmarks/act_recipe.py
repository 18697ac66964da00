"""ACT recipe ablations: several runs of ``examples/train_act_on_scripted_demos.py`` at once on one GPU, paired.

A plan (YAML, e.g. ``benchmarks/act_recipe/block1.yaml``) names datasets (recording flags of the example) and
arms (a dataset and training/evaluation flags). The runner

1. records each dataset once (``--record-only``), in the plan's order, with every core;
2. starts each arm as soon as its dataset exists (so training overlaps the next recording), all arms at once:
   one ACT run keeps an H100 about 30% busy, so several share the GPU;
3. gives every arm the same step count, with the plan's deadline as a safety net (an arm launched at ``t``
   gets ``deadline - t`` seconds, ``eval_reserve`` of them for its evaluations; its summary says whether the
   time limit stopped it);
4. compares every arm's evaluation with the baseline arm's on the same seeds (exact McNemar p, Newcombe
   interval: ``salt_vla.paired``), and writes into ``--results``: ``index.json`` (plan, machine, timings,
   GPU utilisation while the arms ran, each arm's success with its Wilson interval), one ``<arm>.json`` per arm
   (the example's summary: dataset, settings, steps, time per phase, loop rate vs bare step, outcome counts,
   per-episode outcomes) with its evaluation ``report.json`` files, and ``compare.{json,md,png}``.

    python benchmarks/act_recipe.py benchmarks/act_recipe/block1.yaml --work /tmp/act_recipe \\
        --results benchmarks/results/act_recipe-h100x1-2026-12-07

A second call with the same ``--work`` reuses finished recordings and arms (each arm's own phases are reused
by the example), so a stopped plan resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_act_on_scripted_demos.py"


@dataclass
class Plan:
    """What one GPU block runs (see the module docstring and ``benchmarks/act_recipe/*.yaml``)."""

    preset: str
    common: list[str]
    datasets: dict[str, list[str]]
    arms: dict[str, dict[str, Any]]
    baseline: str
    deadline_s: float | None = None
    eval_reserve_s: float = 0.0
    notes: str = ""

    @classmethod
    def read(cls, path: Path) -> Plan:
        raw = yaml.safe_load(path.read_text())
        plan = cls(**raw)
        problems = [f"arm {name!r} names dataset {arm.get('dataset')!r}, which the plan does not define"
                    for name, arm in plan.arms.items() if arm.get("dataset") not in plan.datasets]
        if plan.baseline not in plan.arms:
            problems.append(f"the baseline {plan.baseline!r} is not one of the arms {sorted(plan.arms)}")
        if problems:
            raise SystemExit(f"{path}: " + "; ".join(problems) + ".")
        return plan


def command(plan: Plan, out: Path, dataset: Path, flags: list[str]) -> list[str]:
    return [sys.executable, str(EXAMPLE), "--preset", plan.preset, "--out", str(out), "--dataset", str(dataset),
            *map(str, plan.common), *map(str, flags)]


class GpuMonitor(threading.Thread):
    """Samples ``nvidia-smi`` every ``period`` seconds (utilisation %, memory MiB) while the arms run."""

    def __init__(self, period: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.period, self.samples, self.stopped = period, [], threading.Event()

    def run(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
        while not self.stopped.wait(self.period):
            try:
                line = subprocess.run(query, capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
                util, memory = (float(v) for v in line.split(","))
            except (OSError, IndexError, ValueError, subprocess.SubprocessError):
                return  # no GPU here
            self.samples.append({"t": time.time(), "util": util, "memory_mib": memory})

    def summary(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        utils = [s["util"] for s in self.samples]
        return {"samples": len(utils), "mean_util": sum(utils) / len(utils), "max_util": max(utils),
                "max_memory_mib": max(s["memory_mib"] for s in self.samples)}


def run_plan(plan: Plan, work: Path, *, log: Any = print) -> dict[str, Any]:
    """Record, train and evaluate every arm of ``plan`` under ``work``; return the index (see the docstring)."""
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    ready = {name: threading.Event() for name in plan.datasets}
    timings: dict[str, Any] = {"datasets": {}, "arms": {}}
    failures: dict[str, str] = {}
    running: list[int] = [0]
    concurrency: list[tuple[float, int]] = []
    lock = threading.Lock()

    def record_all() -> None:
        for name, flags in plan.datasets.items():
            began = time.time()
            done = subprocess.run(command(plan, work / "recordings" / name, work / "datasets" / name,
                                          [*flags, "--record-only"]),
                                  stdout=open(work / f"record_{name}.log", "a"), stderr=subprocess.STDOUT)
            timings["datasets"][name] = {"start_s": round(began - start, 1), "wall_s": round(time.time() - began, 1)}
            if done.returncode:
                failures[f"dataset {name}"] = f"exit code {done.returncode}, see record_{name}.log"
            log(f"[{time.time() - start:6.0f} s] dataset {name}: exit {done.returncode}")
            ready[name].set()

    def run_arm(name: str, arm: dict[str, Any]) -> None:
        ready[arm["dataset"]].wait()
        if f"dataset {arm['dataset']}" in failures:
            failures[name] = f"its dataset {arm['dataset']!r} failed"
            return
        flags = list(map(str, arm.get("flags", [])))
        if plan.deadline_s:
            left = plan.deadline_s - (time.time() - start)
            flags += ["--time-budget", f"{max(left, 1):.0f}", "--eval-reserve", f"{plan.eval_reserve_s:.0f}"]
        began = time.time()
        with lock:
            running[0] += 1
            concurrency.append((began - start, running[0]))
        log(f"[{began - start:6.0f} s] arm {name} starts ({running[0]} running)")
        done = subprocess.run(command(plan, work / "arms" / name, work / "datasets" / arm["dataset"], flags),
                              stdout=open(work / f"arm_{name}.log", "a"), stderr=subprocess.STDOUT)
        with lock:
            running[0] -= 1
            concurrency.append((time.time() - start, running[0]))
        timings["arms"][name] = {"start_s": round(began - start, 1), "wall_s": round(time.time() - began, 1)}
        if done.returncode:
            failures[name] = f"exit code {done.returncode}, see arm_{name}.log"
        log(f"[{time.time() - start:6.0f} s] arm {name}: exit {done.returncode}")

    monitor = GpuMonitor()
    monitor.start()
    threads = [threading.Thread(target=record_all)]
    threads += [threading.Thread(target=run_arm, args=(name, arm)) for name, arm in plan.arms.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monitor.stopped.set()
    arms = {}
    for name in plan.arms:
        path = work / "arms" / name / "summary.json"
        arms[name] = json.loads(path.read_text()) if path.is_file() else None
    return {"plan": plan.__dict__, "machine": machine(), "wall_time_s": round(time.time() - start, 1),
            "timings": timings, "failures": failures, "max_concurrent_arms": max((n for _, n in concurrency), default=0),
            "concurrency": concurrency, "gpu": monitor.summary(), "gpu_samples": monitor.samples, "arms": arms}


def headline(summary: dict[str, Any] | None, key: str = "evaluation") -> dict[str, Any] | None:
    """An arm's ``key`` evaluation in brief: success rate, interval, step and outcome counts."""
    if not summary or key not in summary:
        return None
    e = summary[key]
    return {"success_rate": e["success_rate"], "success_ci95": e["success_ci95"], "episodes": e["episodes"],
            "seeds": e["seeds"], "outcome_counts": e["outcome_counts"],
            "checkpoint_step": e.get("checkpoint_step"), "stopped_by_time_limit":
            summary.get("training", {}).get("stopped_by_time_limit")}


def write_results(index: dict[str, Any], work: Path, results: Path) -> dict[str, Any]:
    """Copy each arm's summary and evaluation reports into ``results``; compare the arms with the baseline."""
    from salt_vla.evaluation import EvalReport
    from salt_vla.paired import compare_reports, write_comparison

    results.mkdir(parents=True, exist_ok=True)
    plan = index["plan"]
    reports, names = [], []
    brief = {}
    for name, summary in index["arms"].items():
        if summary is None:
            continue
        (results / f"{name}.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
        for report_dir in sorted((work / "arms" / name).glob("eval*/report.json")):
            shutil.copyfile(report_dir, results / f"{name}.{report_dir.parent.name}.report.json")
        brief[name] = {"evaluation": headline(summary)} if "evaluation" in summary else {}
        report = work / "arms" / name / "eval" / "report.json"
        if report.is_file():
            reports.append(EvalReport.read(report))
            names.append(name)
        # Extra evaluations of the arm on the same seeds: (summary key, brief key, name in the comparison).
        for key, brief_key, arm in (("evaluation_n_action_steps", "n_action_steps_{}", "{}@{}"),
                                    ("evaluation_checkpoints", "step_{}", "{}@step{}")):
            for value, variant in summary.get(key, {}).items():
                brief[name][brief_key.format(value)] = {k: variant[k] for k in ("success_rate", "success_ci95",
                                                                                "episodes")}
                reports.append(EvalReport.read(Path(variant["report_dir"]) / "report.json"))
                names.append(arm.format(name, value))
    index = {**{k: v for k, v in index.items() if k not in ("arms", "gpu_samples")}, "results": brief}
    if plan["baseline"] in names and len(names) > 1:
        comparison = compare_reports(reports, names=names, baseline=plan["baseline"])
        write_comparison(comparison, results)
        index["comparisons"] = {c.arm: {"difference": c.difference, "ci95": list(c.interval), "p_value": c.p_value,
                                        "paired_seeds": c.table.n} for c in comparison.comparisons}
    (results / "index.json").write_text(json.dumps(index, indent=1, default=str) + "\n")
    return index


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("plan", type=Path, help="the plan (YAML)")
    p.add_argument("--work", type=Path, required=True, help="working directory: datasets/, arms/, logs")
    p.add_argument("--results", type=Path, required=True, help="where index.json, <arm>.json and compare.* go")
    args = p.parse_args(argv)
    plan = Plan.read(args.plan)
    os.environ.setdefault("MUJOCO_GL", "egl")
    index = run_plan(plan, args.work, log=lambda line: print(line, flush=True))
    index = write_results(index, args.work, args.results)
    print(json.dumps(index.get("results"), indent=1))
    print(json.dumps(index.get("comparisons"), indent=1))
    return index


if __name__ == "__main__":
    main()
