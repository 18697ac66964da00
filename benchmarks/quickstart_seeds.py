"""The README's main job over several seeds: wall and CPU time, and whether every seed reaches the same verdicts.

Each seed runs ``salt-vla quickstart --seed S --overwrite`` (``run_quickstart`` when ``--set`` changes the preset) in
its own process, so its wall time runs from the command's start to its exit and its CPU time, data-loader workers
included, is measured by ``wait4``; each seed gets a fresh directory. The JSON holds per-seed figures (timings, each claim's
margin, interval and verdict, the validation loss ratio, every probe accuracy), their mean and spread,
and, per claim, whether all seeds agree. "Same conclusion" means the same verdict for every claim.

    python benchmarks/quickstart_seeds.py --save                        # seeds 0 1 2, one after the other
    python benchmarks/quickstart_seeds.py --jobs 3 --cores-per-job 2    # in parallel, each pinned to 2 cores
    python benchmarks/quickstart_seeds.py --set student_steps=300 --seeds 5 6

Time the main job only on an otherwise idle machine (``--jobs 1``); parallel jobs share caches and memory
bandwidth. Tests never assert on these timings.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import emit, parser

ROOT = Path(__file__).resolve().parents[1]
RUNNER = """
import json, sys
from salt_vla.quickstart import run_quickstart
run_quickstart(sys.argv[1], preset=sys.argv[2], seed=int(sys.argv[3]), overrides=json.loads(sys.argv[4]),
               progress=False, overwrite=True)
"""


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "median": statistics.median(values)}


def _start(seed: int, args: Any, overrides: dict[str, Any], work: Path, cores: list[int] | None) -> tuple[Any, float]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "plugins"), env.get("PYTHONPATH")]))
    if cores is not None:
        env.update({name: str(len(cores)) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    log = open(work / f"seed{seed}.log", "w")
    out = str(work / f"seed{seed}")
    if overrides:  # the preset changed: only the Python API takes overrides
        command = [sys.executable, "-c", RUNNER, out, args.preset, str(seed), json.dumps(overrides)]
    else:  # the README's command itself (`salt-vla` is `python -m salt_vla`), timed from its start
        command = [sys.executable, "-m", "salt_vla", "quickstart", "--out", out, "--preset", args.preset, "--seed",
                   str(seed), "--overwrite"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores is not None else None)
    return process, time.perf_counter()


def _figures(seed: int, report: dict[str, Any], wall: float, cpu: float) -> dict[str, Any]:
    return {
        "seed": seed,
        "wall_s": wall,
        "cpu_s": cpu,
        "stage_s": report["seconds"],
        "claims": {c["claim"]: {k: c[k] for k in ("mean", "ci_low", "ci_high", "verdict", "holds")}
                   for c in report["claims"]},
        "validation_ratio": report["validation_per_clip"]["ratio"],
        "validation_ratio_ci": report["validation_per_clip"]["ratio_ci"],
        "trivial": report["validation_per_clip"]["trivial"],
        "trainer_mean_target_ratio": report["student"]["validation"].get("val/mean_target_ratio"),
        "teacher_mean_target_ratio": report["teacher"]["validation"].get("val/mean_target_ratio"),
        "probes": {encoder: {k: v["accuracy"] for k, v in per.items()} for encoder, per in report["probes"].items()},
        "comparisons": {other: {k: {f: v[f] for f in ("mean", "ci_low", "ci_high", "verdict")} for k, v in per.items()}
                        for other, per in report.get("comparisons", {}).items()},
        "test_videos": report["probe_set"]["test_videos"],
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="Preset field override (YAML value), repeatable.")
    p.add_argument("--jobs", type=int, default=1, help="seeds run at once")
    p.add_argument("--cores-per-job", type=int, default=0,
                   help="pin each job to this many cores (0: no pinning, all cores visible)")
    p.add_argument("--work", type=Path, help="where the runs go (default: a temporary directory, removed)")
    args = p.parse_args()
    overrides = {}
    for item in args.overrides:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)

    temporary = None if args.work else tempfile.TemporaryDirectory(prefix="quickstart_seeds-")
    work = args.work or Path(temporary.name)
    work.mkdir(parents=True, exist_ok=True)
    available = sorted(os.sched_getaffinity(0))
    pending, running, per_seed, failures = list(args.seeds), {}, [], {}
    slots = list(range(args.jobs))
    while pending or running:
        while pending and slots:
            slot = slots.pop(0)
            cores = None
            if args.cores_per_job:
                cores = available[slot * args.cores_per_job:(slot + 1) * args.cores_per_job]
                if len(cores) < args.cores_per_job:
                    raise SystemExit(f"--jobs {args.jobs} x --cores-per-job {args.cores_per_job} needs more than the "
                                     f"{len(available)} cores available.")
            seed = pending.pop(0)
            process, started = _start(seed, args, overrides, work, cores)
            running[process.pid] = (seed, slot, started)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        seed, slot, started = running.pop(pid)
        slots.append(slot)
        wall, cpu = time.perf_counter() - started, usage.ru_utime + usage.ru_stime
        if os.waitstatus_to_exitcode(status) != 0:
            failures[seed] = (work / f"seed{seed}.log").read_text()[-3000:]
            continue
        report = json.loads((work / f"seed{seed}" / "report.json").read_text())
        per_seed.append(_figures(seed, report, wall, cpu))
        print(f"seed {seed}: {wall:.0f} s wall, {cpu:.0f} s CPU; "
              + "; ".join(f"{k}: {v['verdict']} ({v['mean']:+.4f})" for k, v in per_seed[-1]["claims"].items()),
              file=sys.stderr, flush=True)
    per_seed.sort(key=lambda row: row["seed"])
    figures: dict[str, Any] = {"per_seed": per_seed, "failures": failures}
    if per_seed:
        claims = list(per_seed[0]["claims"])
        figures["wall_s"] = _spread([row["wall_s"] for row in per_seed])
        figures["cpu_s"] = _spread([row["cpu_s"] for row in per_seed])
        figures["validation_ratio"] = _spread([row["validation_ratio"] for row in per_seed])
        figures["claims"] = {name: {"verdicts": [row["claims"][name]["verdict"] for row in per_seed],
                                    "margin": _spread([row["claims"][name]["mean"] for row in per_seed])}
                             for name in claims}
        for summary in figures["claims"].values():
            summary["same_verdict"] = len(set(summary["verdicts"])) == 1
        figures["same_conclusion"] = all(s["same_verdict"] for s in figures["claims"].values()) and not failures
        encoders = per_seed[0]["probes"]
        figures["probes"] = {encoder: {key: _spread([row["probes"][encoder][key] for row in per_seed])
                                       for key in encoders[encoder]} for encoder in encoders}
    emit("quickstart_seeds", figures, args, preset=args.preset, overrides=overrides, seeds=args.seeds, jobs=args.jobs,
         runner="python API (run_quickstart)" if overrides else "salt-vla quickstart",
         cores_per_job=args.cores_per_job or len(available))
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
