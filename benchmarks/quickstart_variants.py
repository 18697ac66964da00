"""Quickstart design search: each named variant of the preset over the same seeds, one JSON per variant.

A variant is a set of :class:`~salt_vla.quickstart.Preset` overrides; ``benchmarks/quickstart_variants.yaml`` holds
the ones tried for the quickstart-evidence issue. Each variant runs through ``quickstart_seeds.py`` (so its JSON
has the per-seed claims, verdicts, probe accuracies and paired comparisons), and a summary table counts, per
variant, the seeds on which each claim holds.

    python benchmarks/quickstart_variants.py --seeds 0 1 2 3 --jobs 4 --cores-per-job 2 --work /tmp/search
    python benchmarks/quickstart_variants.py --only base tube90 --set device=cuda

Search on any machine; confirm the chosen preset with ``quickstart_seeds.py`` on the machine it is for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from _common import emit, parser

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--variants", type=Path, default=HERE / "quickstart_variants.yaml")
    p.add_argument("--only", nargs="+", help="run only these variants")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set", dest="common", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every variant (YAML value), e.g. device=cuda")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--cores-per-job", type=int, default=0)
    p.add_argument("--work", type=Path, required=True, help="per-variant JSONs and logs go here")
    args = p.parse_args()
    variants: dict[str, dict[str, Any]] = yaml.safe_load(args.variants.read_text())
    unknown = sorted(set(args.only or ()) - set(variants))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; {args.variants} defines {', '.join(variants)}.")
    args.work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    for name, overrides in variants.items():
        if args.only and name not in args.only:
            continue
        out = args.work / f"{name}.json"
        if not out.is_file():  # finished variants are kept: a rerun continues the search
            sets = [f"{key}={json.dumps(value)}" for key, value in (overrides or {}).items()]
            command = [sys.executable, str(HERE / "quickstart_seeds.py"), "--preset", args.preset, "--seeds",
                       *map(str, args.seeds), "--jobs", str(args.jobs), "--cores-per-job", str(args.cores_per_job),
                       "--work", str(args.work / name), "--out", str(out),
                       *[f"--set={item}" for item in [*sets, *args.common]]]
            print(f"variant {name}: {' '.join(sets) or '(the preset)'}", file=sys.stderr, flush=True)
            subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
        if not out.is_file():
            summary[name] = {"overrides": overrides, "failed": True}
            continue
        record = json.loads(out.read_text())
        if record["seeds"] != args.seeds or record["preset"] != args.preset:
            raise SystemExit(f"{out} holds variant {name!r} for preset {record['preset']!r}, seeds {record['seeds']}, "
                             f"not {args.preset!r}, {args.seeds}: use another --work, or remove the file to rerun it.")
        figures = record["figures"]
        summary[name] = {
            "overrides": overrides,
            "ran_on": {key: record["machine"].get(key) for key in ("gpu", "cpu", "torch")} | {"date": record["date"],
                                                                                            "all_overrides": record["overrides"]},
            "seeds": [row["seed"] for row in figures["per_seed"]],
            "failures": sorted(figures["failures"]),
            "holds": {claim: sum(v == "positive" for v in s["verdicts"]) for claim, s in figures.get("claims", {}).items()},
            "margins": {claim: s["margin"]["mean"] for claim, s in figures.get("claims", {}).items()},
            "wall_s": figures.get("wall_s", {}).get("median"),
        }
        row = summary[name]
        print(f"{name:>20}: " + "; ".join(f"{c} {n}/{len(row['seeds'])}" for c, n in row["holds"].items()),
              file=sys.stderr, flush=True)
    emit("quickstart_variants", summary, args, preset=args.preset, seeds=args.seeds, common=args.common)


if __name__ == "__main__":
    main()
