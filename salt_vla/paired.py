"""Paired comparison of policies evaluated on the same episode seeds.

The task layout of an episode is a function of its seed alone, so two policies evaluated on the same seeds
meet the same block and bowl positions: each seed is a pair. Comparing the pairs, instead of two success
rates as if they came from unrelated samples, removes the layout-to-layout spread from the comparison.

For each arm against a chosen baseline arm, :func:`compare_reports` tabulates the pairs into

=================  ============================
``both``           both succeeded
``only_arm``       the arm succeeded, the baseline failed
``only_baseline``  the baseline succeeded, the arm failed
``neither``        both failed
=================  ============================

and computes

- the paired difference in success rate, ``(only_arm - only_baseline) / n``;
- its 95% confidence interval by Newcombe's method 10 for paired proportions (the hybrid score interval:
  the two arms' Wilson intervals combined with a correction for their correlation ``phi``), see
  :func:`newcombe_paired_interval`;
- the exact McNemar p-value: a two-sided binomial test (p = 1/2) of ``only_arm`` among the discordant pairs,
  see :func:`mcnemar_exact`.

What it does not cover: each arm is one trained policy. The seeds vary the task layout, not the training,
so the interval and the p-value say whether *these two checkpoints* differ on this task distribution; with
one training run per arm they ignore training-seed variance, and a difference can come from the luck of
one training run rather than from what distinguishes the arms (an encoder, a recipe).

``write_comparison(comparison, out_dir)`` writes ``compare.json``, ``compare.md`` and ``compare.png``;
``salt-vla compare REPORT_DIR... --baseline NAME --out DIR`` does the same from report directories.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salt_vla.evaluation import (
    Z_95,
    EvalReport,
    Outcome,
    _pct,
    _png,
    evaluation_settings,
    settings_differences,
    wilson_interval,
)
from salt_vla.io import atomic_write_bytes, atomic_write_json, atomic_write_text

SCHEMA = "salt_vla.paired_comparison/1"
CAVEAT = (
    "Each arm is a single trained policy: the seeds vary the task layout, not the training. The intervals and "
    "p-values compare these particular checkpoints; with one training run per arm they ignore training-seed "
    "variance, so a difference may come from one run's luck rather than from what distinguishes the arms. "
    "Repeat the training with other seeds before crediting a difference to the method."
)


@dataclass(frozen=True)
class PairedTable:
    """The 2x2 table of paired outcomes of an arm against a baseline (success or not, per seed)."""

    both: int
    only_arm: int
    only_baseline: int
    neither: int

    def __post_init__(self) -> None:
        if min(self.both, self.only_arm, self.only_baseline, self.neither) < 0:
            raise ValueError(f"PairedTable counts must be non-negative; got {self}.")

    @classmethod
    def from_outcomes(cls, arm: Sequence[bool], baseline: Sequence[bool]) -> PairedTable:
        """Tabulate per-seed successes (``arm[i]`` and ``baseline[i]`` are the same seed)."""
        if len(arm) != len(baseline):
            raise ValueError(f"Paired outcomes need equal lengths; got {len(arm)} and {len(baseline)}.")
        pairs = list(zip(map(bool, arm), map(bool, baseline)))
        return cls(both=pairs.count((True, True)), only_arm=pairs.count((True, False)),
                   only_baseline=pairs.count((False, True)), neither=pairs.count((False, False)))

    @property
    def n(self) -> int:
        return self.both + self.only_arm + self.only_baseline + self.neither

    @property
    def difference(self) -> float:
        """Arm success rate minus baseline success rate (0 for an empty table)."""
        return (self.only_arm - self.only_baseline) / self.n if self.n else 0.0

    def swapped(self) -> PairedTable:
        """The same pairs with the roles of arm and baseline exchanged."""
        return PairedTable(self.both, self.only_baseline, self.only_arm, self.neither)


def mcnemar_exact(only_arm: int, only_baseline: int) -> float:
    """Exact McNemar test: two-sided binomial p-value of the discordant pairs under p = 1/2.

    ``min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``; 1.0 without discordant pairs.
    """
    if only_arm < 0 or only_baseline < 0:
        raise ValueError(f"mcnemar_exact needs non-negative counts; got {only_arm} and {only_baseline}.")
    discordant = only_arm + only_baseline
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, k) for k in range(min(only_arm, only_baseline) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def newcombe_paired_interval(table: PairedTable, z: float = Z_95) -> tuple[float, float]:
    """Newcombe's method 10 interval (95% for the default ``z``) for the paired difference in success rate.

    With ``p1`` and ``p2`` the arm's and the baseline's success rates, ``(l1, u1)`` and ``(l2, u2)`` their
    Wilson intervals and ``d = p1 - p2``::

        low  = d - sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
        high = d + sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)

    where ``phi = C / sqrt((a+b)(c+d)(a+c)(b+d))`` estimates the correlation of the paired outcomes, with
    ``C = ad - bc - n/2`` when ``ad - bc > n/2``, ``0`` when ``0 <= ad - bc <= n/2`` and ``ad - bc`` when negative
    (``a`` both, ``b`` only arm, ``c`` only baseline, ``d`` neither), and ``phi = 0`` when a margin is empty.
    This is the form Newcombe (1998, Statistics in Medicine 17:2635) tabulates for method 10. ``(-1, 1)`` for
    an empty table.
    """
    n = table.n
    if n == 0:
        return -1.0, 1.0
    a, b, c, d = table.both, table.only_arm, table.only_baseline, table.neither
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z)
    l2, u2 = wilson_interval(a + c, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    if margins == 0:
        phi = 0.0
    else:
        corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
        phi = corrected / math.sqrt(margins)
    diff = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, diff - below), min(1.0, diff + above)


@dataclass
class ArmComparison:
    """One arm against the baseline: the paired table, the difference with its interval, the McNemar p-value."""

    arm: str
    baseline: str
    table: PairedTable
    arm_wins: list[int]
    """Seeds where the arm succeeded and the baseline did not."""
    baseline_wins: list[int]
    """Seeds where the baseline succeeded and the arm did not."""

    @property
    def difference(self) -> float:
        return self.table.difference

    @property
    def interval(self) -> tuple[float, float]:
        return newcombe_paired_interval(self.table)

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.table.only_arm, self.table.only_baseline)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "arm": self.arm,
            "baseline": self.baseline,
            "table": {"both": self.table.both, "only_arm": self.table.only_arm,
                      "only_baseline": self.table.only_baseline, "neither": self.table.neither},
            "difference": self.difference,
            "difference_ci95": [low, high],
            "ci_method": "newcombe_paired_method_10",
            "mcnemar_exact_p": self.p_value,
            "arm_wins": self.arm_wins,
            "baseline_wins": self.baseline_wins,
        }


@dataclass
class PairedComparison:
    """Several evaluation reports on the same seeds, each arm compared with ``baseline`` pair by pair."""

    names: list[str]
    reports: list[EvalReport]
    baseline: str
    seeds: list[int]
    settings_differences: list[str] = field(default_factory=list)
    """Outcome-changing settings that differ from the baseline's, by arm (``"'b': task.max_steps: 150 vs 250"``);
    non-empty only when the comparison was allowed despite them."""
    unchecked: list[str] = field(default_factory=list)
    """Arms whose reports recorded no settings (written before they were): their settings were not checked."""

    def settings_notes(self) -> list[str]:
        """What compare.md says at its top about the arms' settings (nothing when they were checked and agree)."""
        notes = []
        if self.settings_differences:
            notes.append("**Settings differ between the arms**; the comparison was allowed anyway "
                         "(`--allow-different-settings`), so a difference may come from the settings rather than "
                         "the policies: " + "; ".join(f"`{d}`" for d in self.settings_differences) + ".")
        if self.unchecked:
            notes.append("The settings of " + ", ".join(f"`{n}`" for n in self.unchecked) + " could not be checked: "
                         "their reports recorded none (written before salt-vla recorded them). Make sure every arm "
                         "ran with the same --max-steps, --image-size and task config.")
        return notes

    @property
    def comparisons(self) -> list[ArmComparison]:
        """One :class:`ArmComparison` per arm other than the baseline, in the reports' order."""
        outcomes = {name: _successes_by_seed(r) for name, r in zip(self.names, self.reports)}
        base = outcomes[self.baseline]
        out = []
        for name in self.names:
            if name == self.baseline:
                continue
            arm = outcomes[name]
            table = PairedTable.from_outcomes([arm[s] for s in self.seeds], [base[s] for s in self.seeds])
            out.append(ArmComparison(name, self.baseline, table,
                                     arm_wins=[s for s in self.seeds if arm[s] and not base[s]],
                                     baseline_wins=[s for s in self.seeds if base[s] and not arm[s]]))
        return out

    def arm_rows(self) -> list[dict[str, Any]]:
        """Each arm's success rate, Wilson 95% interval and outcome counts."""
        rows = []
        for name, report in zip(self.names, self.reports):
            a = report.aggregates
            rows.append({"name": name, "policy": report.policy, "episodes": a["episodes"],
                         "successes": a["outcome_counts"][Outcome.SUCCESS.value], "success_rate": a["success_rate"],
                         "success_ci95": a["success_ci95"], "outcome_counts": a["outcome_counts"],
                         "settings": evaluation_settings(report.config)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "task": self.reports[0].task,
            "baseline": self.baseline,
            "seeds": self.seeds,
            "settings": {"checked": not self.unchecked, "unchecked_arms": self.unchecked,
                         "allowed_different_settings": bool(self.settings_differences),
                         "differences": self.settings_differences},
            "arms": self.arm_rows(),
            "paired": [c.to_dict() for c in self.comparisons],
            "caveat": CAVEAT,
        }

    def to_markdown(self, *, chart: str | None = "compare.png") -> str:
        n = len(self.seeds)
        span = f"seeds {self.seeds[0]}-{self.seeds[-1]}" if self.seeds else "no seeds"
        lines = [f"# Paired comparison on `{self.reports[0].task}`: {len(self.names)} arms, {n} paired episodes ({span})",
                 "", *[line for note in self.settings_notes() for line in (note, "")],
                 f"Baseline: `{self.baseline}`.", "", "## Arms", "",
                 "| arm | policy | success | 95% CI (Wilson) |", "| --- | --- | --- | --- |"]
        for row in self.arm_rows():
            low, high = row["success_ci95"]
            lines.append(f"| `{row['name']}` | `{row['policy']}` | {row['successes']}/{row['episodes']} "
                         f"({_pct(row['success_rate'])}) | {_pct(low)} - {_pct(high)} |")
        lines += ["", f"## Paired differences against `{self.baseline}`", "",
                  "Difference = arm success rate - baseline success rate on the same seeds; 95% CI by Newcombe's "
                  "method 10 for paired proportions; p = exact McNemar test (two-sided binomial test on the "
                  "discordant pairs).", "",
                  "| arm | both | arm only | baseline only | neither | difference | 95% CI | McNemar p |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for c in self.comparisons:
            low, high = c.interval
            t = c.table
            lines.append(f"| `{c.arm}` | {t.both} | {t.only_arm} | {t.only_baseline} | {t.neither} | "
                         f"{_signed_pct(c.difference)} | {_signed_pct(low)} to {_signed_pct(high)} | {c.p_value:.4g} |")
        if chart:
            lines += ["", f"![paired comparison]({chart})"]
        outcomes = [o.value for o in Outcome]
        lines += ["", "## Outcomes per arm", "", "| arm | " + " | ".join(outcomes) + " |",
                  "|" + " --- |" * (len(outcomes) + 1)]
        for row in self.arm_rows():
            cells = [str(row["outcome_counts"][o]) for o in outcomes]
            lines.append(f"| `{row['name']}` | " + " | ".join(cells) + " |")
        lines += ["", "## Discordant seeds", ""]
        for c in self.comparisons:
            lines.append(f"- `{c.arm}` succeeded where `{c.baseline}` failed: {_seed_list(c.arm_wins)}; "
                         f"the reverse: {_seed_list(c.baseline_wins)}.")
        lines += ["", "## What this does not cover", "", CAVEAT, "",
                  "The p-values are not corrected for comparing several arms with one baseline.", ""]
        return "\n".join(lines)


def _signed_pct(value: float) -> str:
    return f"{100 * value:+.1f} pp"


def _seed_list(seeds: Sequence[int]) -> str:
    return ", ".join(map(str, seeds)) if seeds else "none"


def _successes_by_seed(report: EvalReport) -> dict[int, bool]:
    return {e.seed: e.outcome is Outcome.SUCCESS for e in report.episodes}


def compare_reports(reports: Sequence[EvalReport], *, names: Sequence[str] | None = None,
                    baseline: str | None = None, allow_different_settings: bool = False) -> PairedComparison:
    """Pair the episodes of ``reports`` by seed and compare every arm with ``baseline``.

    Args:
        reports: evaluation reports of the same task on the same seeds (at least two).
        names: a name per report (default: each report's ``policy``); names must be distinct.
        baseline: the name of the baseline arm (default: the first).
        allow_different_settings: pair reports whose outcome-changing settings (max steps, image size, control
            rate, task config, outcome thresholds: :func:`salt_vla.evaluation.evaluation_settings`) differ from
            the baseline's; the comparison records the differences and ``compare.md`` names them at its top.

    Raises:
        ValueError: fewer than two reports, duplicate names or seeds, an unknown baseline, reports of
            different tasks, reports whose seeds differ (the message names the seeds each one lacks), or
            reports made under other settings than the baseline's (each difference named).

    Reports that recorded no settings (written before they were recorded) are paired, with a note that their
    settings could not be checked (:attr:`PairedComparison.unchecked`).
    """
    reports = list(reports)
    if len(reports) < 2:
        raise ValueError(f"A paired comparison needs at least two reports; got {len(reports)}.")
    names = list(names) if names is not None else [r.policy for r in reports]
    if len(names) != len(reports):
        raise ValueError(f"Got {len(names)} names for {len(reports)} reports; give one name per report.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"Arm name(s) {', '.join(map(repr, repeated))} given to more than one report; "
                         "name each arm distinctly (salt-vla compare: --name once per report).")
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise ValueError(f"Baseline {baseline!r} is not one of the arms: {', '.join(map(repr, names))}.")
    tasks = sorted({r.task for r in reports})
    if len(tasks) > 1:
        raise ValueError(f"Reports of different tasks cannot be paired: {', '.join(map(repr, tasks))}.")
    for name, report in zip(names, reports):
        seeds = [e.seed for e in report.episodes]
        twice = sorted({s for s in seeds if seeds.count(s) > 1})
        if twice:
            raise ValueError(f"Report {name!r} holds seed(s) {_seed_list(twice)} more than once.")
    reference = {e.seed for e in reports[0].episodes}
    problems = []
    for name, report in zip(names[1:], reports[1:]):
        seeds = {e.seed for e in report.episodes}
        if seeds != reference:
            problems.append(f"{name!r} lacks {_seed_list(sorted(reference - seeds))} and has extra "
                            f"{_seed_list(sorted(seeds - reference))}")
    if problems:
        raise ValueError(f"Reports must be evaluated on the same seeds to be paired; compared with {names[0]!r}: "
                         + "; ".join(problems) + ". Re-evaluate on the same --seed and --episodes.")
    base_config = reports[names.index(baseline)].config
    unchecked = [n for n, r in zip(names, reports) if evaluation_settings(r.config) is None]
    if baseline in unchecked:  # nothing to check the others against
        unchecked = list(names)
    differences = [f"{name!r} vs {baseline!r}: {line}" for name, report in zip(names, reports)
                   if name != baseline and name not in unchecked and baseline not in unchecked
                   for line in settings_differences(report.config, base_config)]
    if differences and not allow_different_settings:
        raise ValueError(
            "Reports made under different task settings cannot be paired (their outcomes differ for reasons other "
            "than the policies): " + "; ".join(differences) + ". Re-evaluate with the same settings, or pass "
            "--allow-different-settings (allow_different_settings=True) to compare them anyway; compare.md then "
            "names the differences at its top.")
    return PairedComparison(names=names, reports=reports, baseline=baseline, seeds=sorted(reference),
                            settings_differences=differences, unchecked=unchecked)


def comparison_chart_png(comparison: PairedComparison) -> bytes:
    """Left: each arm's success rate with its Wilson 95% interval. Right: each arm's paired difference from the
    baseline with its Newcombe 95% interval (PNG bytes)."""
    from matplotlib.figure import Figure

    rows = comparison.arm_rows()
    pairs = comparison.comparisons
    figure = Figure(figsize=(max(7.0, 1.2 * len(rows) + 5), 3.8), layout="constrained")
    rates, differences = figure.subplots(1, 2, gridspec_kw={"width_ratios": [len(rows), max(len(pairs), 1)]})
    values = [r["success_rate"] for r in rows]
    errors = [[max(0.0, r["success_rate"] - r["success_ci95"][0]) for r in rows],
              [max(0.0, r["success_ci95"][1] - r["success_rate"]) for r in rows]]
    colours = ["#757575" if r["name"] == comparison.baseline else "#1565c0" for r in rows]
    rates.bar(range(len(rows)), values, yerr=errors, capsize=4, color=colours)
    rates.set_xticks(range(len(rows)), [f"{r['name']}\n{r['successes']}/{r['episodes']}" for r in rows],
                     rotation=20, ha="right", fontsize=8)
    rates.set_ylim(0, 1.05)
    rates.set_ylabel("success rate (Wilson 95% CI)")
    rates.set_title("Success per arm (grey: baseline)", fontsize=10)
    for i, c in enumerate(pairs):
        low, high = c.interval
        differences.errorbar([i], [c.difference], yerr=[[c.difference - low], [high - c.difference]], fmt="o",
                             capsize=5, color="#1565c0")
        differences.annotate(f"p={c.p_value:.3g}", (i, high), xytext=(0, 4), textcoords="offset points",
                             ha="center", fontsize=8)
    differences.axhline(0.0, color="#757575", linewidth=1, linestyle="--")
    differences.set_xticks(range(len(pairs)), [c.arm for c in pairs], rotation=20, ha="right", fontsize=8)
    differences.set_xlim(-0.6, max(len(pairs), 1) - 0.4)
    differences.set_ylim(-1.1, 1.15)
    differences.set_ylabel(f"difference vs {comparison.baseline}")
    differences.set_title("Paired difference (Newcombe 95% CI, McNemar p)", fontsize=10)
    return _png(figure)


def write_comparison(comparison: PairedComparison, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``compare.json``, ``compare.md`` and ``compare.png`` into ``out_dir`` (atomically).

    Returns the paths by kind: ``{"json", "markdown", "chart"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "json": atomic_write_json(out / "compare.json", comparison.to_dict()),
        "chart": atomic_write_bytes(out / "compare.png", comparison_chart_png(comparison)),
        "markdown": atomic_write_text(out / "compare.md", comparison.to_markdown(chart="compare.png")),
    }
