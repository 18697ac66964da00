"""Evaluation reports: outcomes, Wilson intervals, aggregates, JSON round trips, report and sweep files."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salt_vla.evaluation import (
    EpisodeResult,
    EvalReport,
    Outcome,
    sweep_table,
    wilson_interval,
    write_sweep,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(seed: int, outcome: Outcome, *, steps: int = 100, height: float = 0.0, picked: bool | None = None,
         **extra) -> EpisodeResult:
    if picked is None:
        picked = outcome not in (Outcome.NEVER_PICKED_UP, Outcome.POLICY_ERROR)
    return EpisodeResult(seed=seed, outcome=outcome, steps=steps, max_height=height, picked=picked, **extra)


def _seed_log_report() -> EvalReport:
    """The ACT joint-space evaluation from the seed log: 22 successes, 2 never picked, 6 dropped."""
    rows = [_row(i, Outcome.SUCCESS, steps=140, height=0.2) for i in range(22)]
    rows += [_row(22 + i, Outcome.NEVER_PICKED_UP, steps=400) for i in range(2)]
    rows += [_row(24 + i, Outcome.DROPPED_DURING_TRANSPORT, steps=150, height=0.1) for i in range(6)]
    return EvalReport(policy="act:danbhf/act_joint_space_90pct", task="so101_pick_place", episodes=rows, wall_time_s=30.0)


def test_aggregates_match_the_seed_logs_numbers() -> None:
    a = _seed_log_report().aggregates
    assert a["episodes"] == 30
    assert a["success_rate"] == pytest.approx(22 / 30)
    assert a["pick_rate"] == pytest.approx(28 / 30)  # the log's 93.3%
    assert a["drop_rate"] == pytest.approx(6 / 28)  # the log's 21.4%: drops per picked episode
    assert a["outcome_counts"]["dropped_during_transport"] == 6
    assert a["mean_steps_success"] == pytest.approx(140)
    assert a["ik_failure_rate"] is None and a["mean_ik_error_mm"] is None
    assert a["episodes_per_minute"] == pytest.approx(60.0)
    low, high = a["success_ci95"]
    assert low < 22 / 30 < high


def test_ik_statistics_are_weighted_by_attempts() -> None:
    rows = [_row(0, Outcome.SUCCESS, ik_attempts=100, ik_failures=10, ik_error_mm=2.0),
            _row(1, Outcome.MISSED_GOAL, ik_attempts=300, ik_failures=90, ik_error_mm=6.0)]
    a = EvalReport("ee", "t", rows).aggregates
    assert a["ik_failure_rate"] == pytest.approx(100 / 400)
    assert a["mean_ik_error_mm"] == pytest.approx((200 + 1800) / 400)


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= successes <= trials"):
        wilson_interval(5, 3)


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_contains_the_rate_and_mirrors(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
    mirror_low, mirror_high = wilson_interval(n - k, n)
    assert low == pytest.approx(1 - mirror_high, abs=1e-12)
    assert high == pytest.approx(1 - mirror_low, abs=1e-12)


rows_strategy = st.lists(
    st.builds(
        EpisodeResult,
        seed=st.integers(0, 10_000),
        outcome=st.sampled_from(list(Outcome)),
        steps=st.integers(0, 1000),
        max_height=st.floats(0, 1, allow_nan=False),
        picked=st.booleans(),
        wall_time_s=st.floats(0, 100, allow_nan=False),
        message=st.text(max_size=20),
        unstable=st.booleans(),
        ik_attempts=st.integers(0, 50),
        ik_failures=st.integers(0, 50),
        ik_error_mm=st.floats(0, 100, allow_nan=False),
    ),
    max_size=12,
)


@settings(max_examples=50, deadline=None)
@given(rows_strategy)
def test_json_round_trip_recomputes_identical_aggregates(rows: list[EpisodeResult]) -> None:
    report = EvalReport("p", "t", rows, config={"x": [1, 2]}, wall_time_s=3.0)
    again = EvalReport.from_json(report.to_json())
    assert again.episodes == report.episodes
    assert again.aggregates == report.aggregates
    assert json.loads(report.to_json())["aggregates"] == json.loads(again.to_json())["aggregates"]


def test_bad_documents_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="schema"):
        EvalReport.from_json(json.dumps({"schema": "other"}))
    with pytest.raises(ValueError, match="Unknown episode fields"):
        EpisodeResult.from_dict({"seed": 0, "outcome": "success", "steps": 1, "max_height": 0.0, "colour": 1})
    with pytest.raises(ValueError, match="valid outcomes: success, never_picked_up"):
        Outcome.parse("crashed")
    assert Outcome.parse("TIMEOUT") is Outcome.TIMEOUT


def test_write_produces_json_markdown_and_chart(tmp_path) -> None:
    report = _seed_log_report()
    report.episodes.append(_row(30, Outcome.POLICY_ERROR, message="step 3: policy.act raised KeyError: 'x'"))
    paths = report.write(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.json", "report.md", "outcomes.png", "report.html",
                                                             "eval_info.json"}
    assert paths["chart"].read_bytes().startswith(PNG_MAGIC)
    document = json.loads(paths["json"].read_text())
    assert [e["seed"] for e in document["episodes"]] == list(range(31))
    assert document["aggregates"]["policy_errors"] == 1
    markdown = paths["markdown"].read_text()
    assert "73.3%" not in markdown and "71.0%" in markdown  # 22 / 31
    assert "![outcomes](outcomes.png)" in markdown and "KeyError" in markdown
    assert EvalReport.read(tmp_path / "out").aggregates == report.aggregates


def test_sweep_table_and_files(tmp_path) -> None:
    good = _seed_log_report()
    bad = EvalReport("act:ckpt/2000", "so101_pick_place", [_row(i, Outcome.NEVER_PICKED_UP) for i in range(30)])
    table = sweep_table([good, bad])
    lines = table.strip().splitlines()
    assert len(lines) == 4 and "`act:ckpt/2000`" in lines[3] and "0.0%" in lines[3]
    paths = write_sweep([good, bad], tmp_path)
    assert paths["chart"].read_bytes().startswith(PNG_MAGIC)
    rows = json.loads(paths["json"].read_text())["rows"]
    assert [r["policy"] for r in rows] == [good.policy, bad.policy]
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# Sweep: 2 policies, 30 episodes each, seeds 0-29\n")
    breakdown = markdown.split("## Outcomes per policy")[1]
    assert "| `act:danbhf/act_joint_space_90pct` | 22 (73.3%) | 2 (6.7%) | 6 (20.0%) | 0 (0.0%) |" in breakdown
    assert "| `act:ckpt/2000` | 0 (0.0%) | 30 (100.0%) |" in breakdown
    assert paths["html"].name == "sweep.html"
    with pytest.raises(ValueError, match="at least one"):
        write_sweep([], tmp_path)
