"""Evaluation reports: per-episode outcomes, aggregates with confidence intervals, report files.

Every evaluated episode ends in exactly one :class:`Outcome`. An :class:`EvalReport` holds the
per-episode rows (:class:`EpisodeResult`) and computes the aggregates from them, so a report read
back from ``report.json`` recomputes the same numbers. ``report.write(out_dir)`` writes

- ``report.json``: machine-readable, ``{"schema", "policy", "task", "config", "aggregates", "episodes"}``;
- ``report.md``: aggregates and per-episode tables for humans;
- ``outcomes.png``: a bar chart of the outcome counts;
- ``report.html``: one page to look at and share, videos grouped by outcome (:mod:`salt_vla.report_html`);
- ``eval_info.json``: the rows and success percentage in LeRobot's ``lerobot-eval`` layout (:mod:`salt_vla.eval_info`).

With an output directory the evaluator also appends each finished episode to ``episodes.jsonl``
(:class:`EpisodeLog`) as it completes. An interrupted or crashed evaluation writes the report of the
episodes done, marked ``partial``; re-running the same command continues from the log, and its final
report holds the same episodes as an uninterrupted run's.

Several reports (a checkpoint sweep) become one table with :func:`sweep_table` / :func:`write_sweep`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from salt_vla.io import atomic_write_bytes, atomic_write_json, atomic_write_text

SCHEMA = "salt_vla.eval_report/1"
EPISODES_FILE = "episodes.jsonl"
EPISODES_SCHEMA = "salt_vla.eval_episodes/1"
SWEEP_SCHEMA = "salt_vla.eval_sweep/1"
Z_95 = 1.959963984540054


class Outcome(str, Enum):
    """How an episode ended (the failure taxonomy)."""

    SUCCESS = "success"
    """The block ended in the goal and the gripper let go of it."""
    NEVER_PICKED_UP = "never_picked_up"
    """The block was never lifted by the gripper."""
    DROPPED_DURING_TRANSPORT = "dropped_during_transport"
    """The block was lifted, then fell out of the gripper away from the goal."""
    MISSED_GOAL = "missed_goal"
    """The block was lifted and released (or placed) on purpose, but did not end in the goal."""
    TIMEOUT = "timeout"
    """The episode ran out of steps with the block still held."""
    POLICY_ERROR = "policy_error"
    """The policy raised, or returned a malformed or non-finite action; the message says which."""

    @classmethod
    def parse(cls, value: str | Outcome) -> Outcome:
        """``"success"`` or ``"SUCCESS"`` -> :attr:`SUCCESS`; an unknown value lists the valid ones."""
        if isinstance(value, Outcome):
            return value
        for outcome in cls:
            if value in (outcome.value, outcome.name):
                return outcome
        raise ValueError(f"Unknown outcome {value!r}; valid outcomes: {', '.join(o.value for o in cls)}.")


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for the default ``z``).

    Well-behaved at 0 and ``trials`` successes, unlike the normal approximation. ``(0.0, 1.0)`` for
    zero trials.
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval needs 0 <= successes <= trials; got {successes} of {trials}.")
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass
class EpisodeResult:
    """One evaluated episode.

    Attributes:
        seed: the episode seed (the task layout is a function of it alone).
        outcome: the :class:`Outcome`.
        steps: control steps taken.
        max_height: highest lift of the block above its resting height, metres.
        picked: whether the gripper ever lifted the block (feeds the pick rate).
        wall_time_s: seconds the episode took.
        message: the policy's error, or the physics-instability reason, or ``""``.
        unstable: physics went wrong (NaN state, MuJoCo warnings, a launched block); see ``message``.
        ik_attempts: end-effector actions converted by IK (0 for joint-space policies).
        ik_failures: conversions whose remaining error exceeded the IK tolerance.
        ik_error_mm: mean remaining IK position error over the attempts, millimetres.
        clipped_actions: steps whose action lay outside the joints' control ranges (clipped before use).
        max_clip_excess: the furthest such an action reached past its range, in the action's units.
        video: path of the episode's MP4, when one was written.
    """

    seed: int
    outcome: Outcome
    steps: int
    max_height: float
    picked: bool = False
    wall_time_s: float = 0.0
    message: str = ""
    unstable: bool = False
    ik_attempts: int = 0
    ik_failures: int = 0
    ik_error_mm: float = 0.0
    clipped_actions: int = 0
    max_clip_excess: float = 0.0
    video: str | None = None

    def __post_init__(self) -> None:
        self.outcome = Outcome.parse(self.outcome)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["outcome"] = self.outcome.value
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> EpisodeResult:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(row) - known)
        if unknown:
            raise ValueError(f"Unknown episode fields {unknown}; expected a subset of {sorted(known)}.")
        return cls(**row)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class EvalReport:
    """All episodes of one evaluation, and the aggregates computed from them.

    Attributes:
        policy: the policy SPEC or a description (``"scripted"``, ``"act:org/repo"``).
        task: the evaluator/task name (``"so101_pick_place"``).
        episodes: per-episode rows, in seed order.
        config: the evaluation's settings (task config, thresholds, ...), JSON-friendly.
        wall_time_s: seconds for the whole evaluation (with parallel workers: less than the episodes' sum).
        created: ISO-8601 UTC time the report was made.
        planned: episodes the evaluation was asked for (``None``: as many as it holds).
        stopped: why a partial evaluation stopped (``"interrupted"``, or the error), else ``""``.
    """

    policy: str
    task: str
    episodes: list[EpisodeResult]
    config: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    planned: int | None = None
    stopped: str = ""

    @property
    def partial(self) -> bool:
        """Fewer episodes than planned: the evaluation was interrupted or crashed (re-run it to continue)."""
        return self.planned is not None and len(self.episodes) < self.planned

    # ------------------------------------------------------------------ aggregates

    def count(self, outcome: Outcome | str) -> int:
        outcome = Outcome.parse(outcome)
        return sum(e.outcome is outcome for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.count(Outcome.SUCCESS) / len(self.episodes) if self.episodes else 0.0

    @property
    def aggregates(self) -> dict[str, Any]:
        """Success rate with its Wilson 95% interval, pick and drop rates, outcome counts, means, IK, time.

        ``drop_rate`` is drops per picked episode; ``ik_failure_rate`` and ``mean_ik_error_mm`` are
        ``None`` for policies that never used IK (joint-space actions).
        """
        n = len(self.episodes)
        successes = self.count(Outcome.SUCCESS)
        picked = sum(e.picked for e in self.episodes)
        low, high = wilson_interval(successes, n)
        attempts = sum(e.ik_attempts for e in self.episodes)
        failures = sum(e.ik_failures for e in self.episodes)
        ik_error = sum(e.ik_error_mm * e.ik_attempts for e in self.episodes) / attempts if attempts else None
        episode_time = sum(e.wall_time_s for e in self.episodes)
        return {
            "episodes": n,
            "success_rate": self.success_rate,
            "success_ci95": [low, high],
            "pick_rate": picked / n if n else 0.0,
            "drop_rate": self.count(Outcome.DROPPED_DURING_TRANSPORT) / picked if picked else 0.0,
            "outcome_counts": {o.value: self.count(o) for o in Outcome},
            "mean_steps_success": _mean([e.steps for e in self.episodes if e.outcome is Outcome.SUCCESS]),
            "mean_max_height": _mean([e.max_height for e in self.episodes]),
            "ik_failure_rate": failures / attempts if attempts else None,
            "mean_ik_error_mm": ik_error,
            "unstable_episodes": sum(e.unstable for e in self.episodes),
            "clipped_actions": sum(e.clipped_actions for e in self.episodes),
            "episodes_with_clipped_actions": sum(e.clipped_actions > 0 for e in self.episodes),
            "policy_errors": self.count(Outcome.POLICY_ERROR),
            "wall_time_s": self.wall_time_s,
            "episode_time_s": episode_time,
            "episodes_per_minute": 60.0 * n / self.wall_time_s if self.wall_time_s > 0 else None,
        }

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "policy": self.policy,
            "task": self.task,
            "created": self.created,
            "wall_time_s": self.wall_time_s,
            "partial": self.partial,
            "planned": self.planned,
            "stopped": self.stopped,
            "config": self.config,
            "aggregates": self.aggregates,
            "episodes": [e.to_dict() for e in self.episodes],
        }

    def to_json(self, *, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"Not a salt-vla evaluation report: schema {data.get('schema')!r}, expected {SCHEMA!r}.")
        return cls(
            policy=data["policy"],
            task=data["task"],
            episodes=[EpisodeResult.from_dict(row) for row in data["episodes"]],
            config=data.get("config", {}),
            wall_time_s=data.get("wall_time_s", 0.0),
            created=data.get("created", ""),
            planned=data.get("planned"),
            stopped=data.get("stopped", ""),
        )

    @classmethod
    def from_json(cls, text: str) -> EvalReport:
        """Inverse of :meth:`to_json` (the aggregates are recomputed, not trusted)."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EvalReport:
        """Load ``report.json`` (or the directory holding it)."""
        path = Path(path)
        return cls.from_json((path / "report.json" if path.is_dir() else path).read_text())

    # ------------------------------------------------------------------ human-readable output

    def to_markdown(self, *, chart: str | None = "outcomes.png") -> str:
        a = self.aggregates
        low, high = a["success_ci95"]
        lines = [
            f"# Evaluation: `{self.policy}` on `{self.task}`",
            "",
            f"{a['episodes']} episodes, {self.created}, {_fmt(self.wall_time_s, 1)} s wall time.",
            "",
            *([f"**Partial: {a['episodes']} of {self.planned} episodes** ({self.stopped or 'stopped early'}). "
               "Re-run the same command to continue from `episodes.jsonl`.", ""] if self.partial else []),
            "| metric | value |",
            "| --- | --- |",
            f"| success rate | {_pct(a['success_rate'])} (95% CI {_pct(low)} - {_pct(high)}) |",
            f"| pick rate | {_pct(a['pick_rate'])} |",
            f"| drop rate (of picked) | {_pct(a['drop_rate'])} |",
            f"| mean steps of successes | {_fmt(a['mean_steps_success'], 1)} |",
            f"| mean max block height | {_fmt(a['mean_max_height'], 3, ' m')} |",
            f"| IK failure rate | {_pct(a['ik_failure_rate'])} |",
            f"| mean IK error | {_fmt(a['mean_ik_error_mm'], 2, ' mm')} |",
            f"| unstable episodes | {a['unstable_episodes']} |",
            f"| episodes with clipped actions | {a['episodes_with_clipped_actions']} ({a['clipped_actions']} steps) |",
            f"| episodes per minute | {_fmt(a['episodes_per_minute'], 1)} |",
            "",
            "## Outcomes",
            "",
            "| outcome | episodes | share |",
            "| --- | --- | --- |",
        ]
        n = max(a["episodes"], 1)
        lines += [f"| {name} | {count} | {_pct(count / n)} |" for name, count in a["outcome_counts"].items()]
        if chart:
            lines += ["", f"![outcomes]({chart})"]
        lines += ["", "## Episodes", "", "| seed | outcome | steps | max height (m) | picked | time (s) | note |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for e in self.episodes:
            note = e.message.replace("|", "\\|").replace("\n", " ")
            if e.unstable:
                note = f"UNSTABLE: {note}"
            if e.clipped_actions:
                note = f"{e.clipped_actions} action(s) clipped, up to {e.max_clip_excess:.3g} past the range. {note}".strip()
            lines.append(f"| {e.seed} | {e.outcome.value} | {e.steps} | {e.max_height:.3f} | {'yes' if e.picked else 'no'} "
                         f"| {e.wall_time_s:.2f} | {note} |")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``report.json``, ``report.md``, ``outcomes.png``, ``report.html`` and ``eval_info.json`` (atomically).

        The one place report files are written, partial reports included. Returns the paths by kind:
        ``{"json", "markdown", "chart", "html", "eval_info"}``.
        """
        from salt_vla.eval_info import write_eval_info
        from salt_vla.report_html import write_report_html

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": atomic_write_json(out / "report.json", self.to_dict()),
            "chart": atomic_write_bytes(out / "outcomes.png", outcome_chart_png(self)),
        }
        paths["markdown"] = atomic_write_text(out / "report.md", self.to_markdown(chart="outcomes.png"))
        paths["html"] = write_report_html(self, out)
        paths["eval_info"] = write_eval_info(self, out)
        return paths

    def _repr_html_(self) -> str:
        """The summary table, outcome chart and episodes by outcome, for a notebook cell."""
        from salt_vla.report_html import notebook_html

        return notebook_html(self)


class EpisodeLog:
    """``<out_dir>/episodes.jsonl``: a header naming the evaluation, then one row per finished episode.

    Rows are appended (and flushed to disk) as episodes finish, so an interrupted or killed evaluation loses
    at most the episodes still running. :meth:`open` reads back the rows of an unfinished evaluation with
    the same ``identity`` (policy, task, settings, seeds), which the evaluator then skips. A finished log is
    started afresh: re-running a completed evaluation evaluates again (the policy may have changed).
    """

    def __init__(self, path: Path, done: dict[int, EpisodeResult]) -> None:
        self.path = path
        self.done = done
        """Episodes read back from an earlier, interrupted run, by seed."""
        self._file = open(path, "a", encoding="utf-8")

    @classmethod
    def open(cls, out_dir: str | os.PathLike[str], identity: dict[str, Any], seeds: Sequence[int]) -> EpisodeLog:
        """The log of the evaluation ``identity`` in ``out_dir``, with the rows of an interrupted run read back.

        Raises:
            ValueError: ``out_dir`` holds an unfinished evaluation with other settings (it is not overwritten).
        """
        path = Path(out_dir) / EPISODES_FILE
        identity = json.loads(json.dumps(identity))
        done: dict[int, EpisodeResult] = {}
        if path.is_file():
            header, rows = read_episode_log(path)
            logged = header.get("identity", {}) if header else {}
            finished = len({r.seed for r in rows}) >= int(logged.get("episodes", 0) or 0)
            if header is not None and logged != identity and not finished:
                changed = _changes(logged, identity)
                raise ValueError(
                    f"{path} holds {len(rows)} of {logged.get('episodes')} episodes of an interrupted evaluation with "
                    f"other settings ({'; '.join(changed)}). Re-run with the original settings to continue it, "
                    f"choose another output directory, or delete {path.name} to start over."
                )
            if header is not None and logged == identity and not finished:
                wanted = set(seeds)
                done = {r.seed: r for r in rows if r.seed in wanted}
        # Rewritten from what was read: a fresh log, or the continued one without a line torn by a kill.
        lines = [json.dumps({"schema": EPISODES_SCHEMA, "identity": identity})]
        lines += [json.dumps(done[seed].to_dict(), allow_nan=False) for seed in sorted(done)]
        atomic_write_text(path, "\n".join(lines) + "\n")
        return cls(path, done)

    def append(self, result: EpisodeResult) -> None:
        """Add one finished episode (durable once this returns)."""
        self._file.write(json.dumps(result.to_dict(), allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _changes(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """``"key.sub: log A, now B"`` for every difference (nested dicts compared key by key)."""
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += _changes(old, new, f"{prefix}{key}.")
        elif old != new:
            out.append(f"{prefix}{key}: log {old!r}, now {new!r}")
    return out


def read_episode_log(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, list[EpisodeResult]]:
    """The header and the episode rows of an ``episodes.jsonl`` (a torn last line from a kill is ignored)."""
    header: dict[str, Any] | None = None
    rows: list[EpisodeResult] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if data.get("schema") == EPISODES_SCHEMA:
            header = data
        else:
            rows.append(EpisodeResult.from_dict(data))
    return header, rows


# ---------------------------------------------------------------------- settings that change outcomes

PER_POLICY_TASK_KEYS = ("cameras", "render", "depth")
"""Task fields the evaluator sets from what each policy reads (not the user's settings)."""
NAMED_TASK_SETTINGS = ("max_steps", "image_size", "control_hz")


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()


def evaluation_settings(config: dict[str, Any]) -> dict[str, Any] | None:
    """The settings of an evaluation that change its outcomes, flat, from its report's ``config``.

    ``{"task.max_steps", "task.image_size", "task.control_hz", "task.cameras" (rendered; [] for physics only),
    "task.sha256" (the whole task config but the cameras the policy reads), "thresholds.sha256"}``; the
    ``settings`` the evaluator recorded when there are some, else derived from ``config["task"]`` (reports
    written before settings were recorded); ``None`` for a report without a task config (they cannot be checked).
    """
    if isinstance(config.get("settings"), dict):
        return config["settings"]
    task = config.get("task")
    if not isinstance(task, dict):
        return None
    settings: dict[str, Any] = {f"task.{k}": task[k] for k in NAMED_TASK_SETTINGS if k in task}
    settings["task.cameras"] = list(task.get("cameras", [])) if task.get("render", True) else []
    settings["task.sha256"] = _sha256({k: v for k, v in task.items() if k not in PER_POLICY_TASK_KEYS})
    if isinstance(config.get("thresholds"), dict):
        settings["thresholds.sha256"] = _sha256(config["thresholds"])
    return settings


def settings_differences(config: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """``"task.max_steps: 250 vs 150"`` for each outcome-changing setting of ``config`` that differs from
    ``reference``'s (both reports' ``config``); a differing hash is named by the fields behind it when the
    configs hold them. Cameras are left out: the evaluator renders what each policy reads."""
    mine, theirs = evaluation_settings(config) or {}, evaluation_settings(reference) or {}
    out = []
    for key in sorted(set(mine) | set(theirs)):
        if key == "task.cameras" or mine.get(key) == theirs.get(key):
            continue
        section = key.split(".")[0]
        if key.endswith(".sha256") and isinstance(config.get(section), dict) and isinstance(reference.get(section), dict):
            # Named by the fields behind it (those named above already are; per-policy cameras are not settings).
            mine_section, their_section = config[section], reference[section]
            differing = [k for k in sorted(set(mine_section) | set(their_section)) if k not in PER_POLICY_TASK_KEYS
                         and (k not in mine_section or k not in their_section or mine_section[k] != their_section[k])]
            if differing:
                out += [f"{section}.{k}: {_setting(mine_section, k)} vs {_setting(their_section, k)}"
                        for k in differing if f"{section}.{k}" not in mine]
                continue
        out.append(f"{key}: {_setting(mine, key)} vs {_setting(theirs, key)}")
    return out


def _setting(values: dict[str, Any], key: str) -> str:
    return json.dumps(values[key]) if key in values else "not recorded"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _fmt(value: float | None, digits: int, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


def outcome_chart_png(report: EvalReport) -> bytes:
    """A bar chart (PNG bytes) of the outcome counts of ``report``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    counts = report.aggregates["outcome_counts"]
    figure = Figure(figsize=(7, 3.2))
    axes = figure.subplots()
    colours = ["#2e7d32" if name == Outcome.SUCCESS.value else "#c62828" for name in counts]
    bars = axes.bar(range(len(counts)), list(counts.values()), color=colours)
    axes.bar_label(bars)
    axes.set_xticks(range(len(counts)), [name.replace("_", "\n") for name in counts], fontsize=8)
    axes.set_ylabel("episodes")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    low, high = report.aggregates["success_ci95"]
    axes.set_title(f"{report.policy}: success {_pct(report.success_rate)} (95% CI {_pct(low)} - {_pct(high)})", fontsize=10)
    axes.margins(y=0.15)
    return _png(figure)


# ---------------------------------------------------------------------- sweeps

_SWEEP_COLUMNS = ("policy", "episodes", "success", "95% CI", "pick", "drop", "steps (succ.)", "max h (m)", "IK fail",
                  "clipped actions")


def clipped_summary(aggregates: dict[str, Any]) -> str:
    """``"300 in 1 episode"`` (actions outside the joints' ranges, clipped before use), or ``"0"``."""
    count, episodes = aggregates["clipped_actions"], aggregates["episodes_with_clipped_actions"]
    return f"{count} in {episodes} episode{'s' if episodes != 1 else ''}" if count else "0"


def sweep_rows(reports: Sequence[EvalReport]) -> list[dict[str, Any]]:
    """One row of aggregates per report (the machine-readable sweep table)."""
    return [{"policy": r.policy, "partial": r.partial, "planned": r.planned, **r.aggregates} for r in reports]


def sweep_table(reports: Sequence[EvalReport]) -> str:
    """A Markdown table comparing reports (e.g. checkpoints), one row each, in the given order."""
    lines = ["| " + " | ".join(_SWEEP_COLUMNS) + " |", "|" + " --- |" * len(_SWEEP_COLUMNS)]
    for row in sweep_rows(reports):
        low, high = row["success_ci95"]
        episodes = str(row["episodes"])
        if row["partial"]:
            episodes = f"{episodes} of {row['planned']} (partial)"
        cells = [f"`{row['policy']}`", episodes, _pct(row["success_rate"]), f"{_pct(low)} - {_pct(high)}",
                 _pct(row["pick_rate"]), _pct(row["drop_rate"]), _fmt(row["mean_steps_success"], 1),
                 _fmt(row["mean_max_height"], 3), _pct(row["ik_failure_rate"]), clipped_summary(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sweep_chart_png(reports: Sequence[EvalReport]) -> bytes:
    """Success rate per report with Wilson 95% error bars, successes/episodes under each bar (PNG bytes)."""
    from matplotlib.figure import Figure

    rows = sweep_rows(reports)
    figure = Figure(figsize=(max(4.0, 0.9 * len(rows) + 2), 3.6))
    axes = figure.subplots()
    rates = [r["success_rate"] for r in rows]
    errors = [[max(0.0, r["success_rate"] - r["success_ci95"][0]) for r in rows],
              [max(0.0, r["success_ci95"][1] - r["success_rate"]) for r in rows]]
    axes.bar(range(len(rows)), rates, yerr=errors, capsize=4, color="#1565c0")
    for i, row in enumerate(rows):
        axes.annotate(_pct(row["success_rate"]), (i, row["success_ci95"][1]), xytext=(0, 3), textcoords="offset points",
                      ha="center", fontsize=8)
    labels = [f"{r['policy']}\n{r['outcome_counts'][Outcome.SUCCESS.value]}/{r['episodes']} episodes" for r in rows]
    axes.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=8)
    axes.set_ylim(0, 1.12)
    axes.set_ylabel("success rate (95% CI)")
    axes.set_title(f"Success rate per policy, {_episode_counts(rows)}", fontsize=10)
    return _png(figure)


def _episode_counts(rows: Sequence[dict[str, Any]]) -> str:
    counts = sorted({r["episodes"] for r in rows})
    return f"{counts[0]} episodes each" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} episodes"


def outcome_breakdown_table(reports: Sequence[EvalReport]) -> str:
    """A Markdown table of the outcome counts (and shares) of each report, one row each."""
    outcomes = [o.value for o in Outcome]
    lines = ["| policy | " + " | ".join(outcomes) + " |", "|" + " --- |" * (len(outcomes) + 1)]
    for row in sweep_rows(reports):
        n = max(row["episodes"], 1)
        cells = [f"{row['outcome_counts'][o]} ({_pct(row['outcome_counts'][o] / n)})" for o in outcomes]
        lines.append(f"| `{row['policy']}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sweep_markdown(reports: Sequence[EvalReport], *, chart: str | None = "sweep.png") -> str:
    """``sweep.md``: the comparison table, the chart and the outcome breakdown per policy."""
    rows = sweep_rows(reports)
    seeds = sorted({e.seed for r in reports for e in r.episodes})
    span = f", seeds {seeds[0]}-{seeds[-1]}" if seeds else ""
    lines = [f"# Sweep: {len(rows)} policies, {_episode_counts(rows)}{span}", "", sweep_table(reports)]
    if chart:
        lines += [f"![success rates]({chart})", ""]
    lines += ["## Outcomes per policy", "", outcome_breakdown_table(reports)]
    return "\n".join(lines)


def write_sweep(reports: Sequence[EvalReport], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``sweep.json``, ``sweep.md`` (tables), ``sweep.png`` and ``sweep.html`` into ``out_dir`` (atomically).

    ``sweep.html`` links each policy's ``report.html`` and videos found in the subdirectories of ``out_dir``.
    """
    from salt_vla.report_html import write_sweep_html

    if not reports:
        raise ValueError("write_sweep needs at least one report.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {"schema": SWEEP_SCHEMA, "rows": sweep_rows(reports)}
    return {
        "json": atomic_write_json(out / "sweep.json", document),
        "chart": atomic_write_bytes(out / "sweep.png", sweep_chart_png(reports)),
        "markdown": atomic_write_text(out / "sweep.md", sweep_markdown(reports)),
        "html": write_sweep_html(reports, out),
    }
