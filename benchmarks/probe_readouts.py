"""Which blocks should the quickstart's linear probes read? Re-probe finished quickstart directories.

For each directory (a finished ``salt-vla quickstart --out DIR``), rebuilds the run's probe videos and labels from
its ``quickstart.json``, loads the trained student (``student/``), the same network at random initialisation (built
as the quickstart builds it) and the stage-1 teacher, and probes all three with features from the last ``k`` blocks
for every ``k`` asked. Per ``k`` it writes each probe's accuracy, the paired student-minus-other differences, and
the quickstart's claims 2 and 3 (each held-out video's score averaged over the motion probes, paired).

    python benchmarks/probe_readouts.py /tmp/qs/seed0 /tmp/qs/seed1 --layers 1 2 3 4 \\
        --out benchmarks/results/probe_readouts-cpu2-DATE.json

Probing only: nothing is trained, and the directories are read, never written.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import emit, parser  # noqa: E402


def _preset(settings: dict[str, Any]) -> Any:
    from salt_vla.quickstart import PRESETS, Preset

    fields = {key: tuple(value) if key == "probe_labels" else value for key, value in settings["preset"].items()
              if key in Preset.__dataclass_fields__}
    return replace(PRESETS["cpu"], **fields)


def _encoders(run: Path, seed: int, device: torch.device) -> dict[str, torch.nn.Module]:
    from salt_vla import hub
    from salt_vla.quickstart import random_init_like

    student = hub.from_pretrained(run / "student")
    random_init = random_init_like(student, seed)
    teacher = hub.from_pretrained(run / "runs" / "teacher" / "checkpoints" / "last" / "teacher").encoder
    return {name: model.to(device) for name, model in
            (("student", student), ("random_init", random_init), ("teacher", teacher))}


def probe_run(run: Path, layers: list[int], device: torch.device) -> dict[str, Any]:
    """Every probe of the three encoders of one quickstart directory, for each number of blocks in ``layers``."""
    from salt_vla.probes import paired_difference, probe_suite
    from salt_vla.quickstart import motion_score, probe_inputs

    if not (run / "report.json").is_file():
        raise SystemExit(f"{run} holds no finished quickstart run (no report.json).")
    settings = json.loads((run / "quickstart.json").read_text())
    preset, seed = _preset(settings), settings["seed"]
    clips, labels = probe_inputs(preset, seed)
    encoders = _encoders(run, seed, device)
    rows = {}
    for k in layers:
        results = {name: probe_suite(encoder, clips, labels, test_fraction=preset.probe_test_fraction,
                                     spatial_bins=preset.probe_bins, layers=k, device=device)
                   for name, encoder in encoders.items()}
        rows[str(k)] = {
            "accuracy": {name: {key: r.accuracy for key, r in per.items()} for name, per in results.items()},
            "student_minus": {other: {key: paired_difference(results["student"][key].scores,
                                                             results[other][key].scores).to_dict()
                                      for key in results["student"]} for other in ("random_init", "teacher")},
            "motion_claim": {other: paired_difference(motion_score(results["student"]),
                                                      motion_score(results[other])).to_dict()
                             for other in ("random_init", "teacher")},
        }
        claim = rows[str(k)]["motion_claim"]["random_init"]
        print(f"{run} seed {seed} layers {k}: student - random init (motion) {claim['mean']:+.3f} "
              f"[{claim['ci_low']:+.3f}, {claim['ci_high']:+.3f}]", file=sys.stderr, flush=True)
    return {"run": str(run), "seed": seed, "student_steps": preset.student_steps, "layers": rows}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+", help="finished quickstart directories")
    p.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    per_run = [probe_run(run, args.layers, device) for run in args.runs]
    summary = {str(k): {"verdicts": [row["layers"][str(k)]["motion_claim"]["random_init"]["verdict"]
                                     for row in per_run],
                        "margins": [round(row["layers"][str(k)]["motion_claim"]["random_init"]["mean"], 4)
                                    for row in per_run]}
               for k in args.layers}
    emit("probe_readouts", {"per_run": per_run, "motion_claim_vs_random_init": summary}, args,
         runs=[str(run) for run in args.runs], layers=args.layers)


if __name__ == "__main__":
    main()
