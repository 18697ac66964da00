"""Paired comparison: McNemar and Newcombe numbers against statsmodels and Newcombe's (1998) published examples,
invariants, seed checks, and ``salt-vla compare`` on reports of a real tiny SO-101 evaluation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salt_vla.evaluation import EpisodeResult, EvalReport, Outcome
from salt_vla.paired import (
    CAVEAT,
    PairedTable,
    compare_reports,
    mcnemar_exact,
    newcombe_paired_interval,
    write_comparison,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
tables = st.builds(PairedTable, *(st.integers(0, 40) for _ in range(4))).filter(lambda t: t.n > 0)


def _report(policy: str, outcomes: dict[int, Outcome], task: str = "so101_pick_place") -> EvalReport:
    rows = [EpisodeResult(seed=s, outcome=o, steps=100, max_height=0.0, picked=o is not Outcome.NEVER_PICKED_UP)
            for s, o in sorted(outcomes.items())]
    return EvalReport(policy=policy, task=task, episodes=rows)


@pytest.mark.parametrize(("table", "expected"), [
    # Newcombe (1998), Statistics in Medicine 17:2635, Table II, method 10 (4 decimals as published).
    (PairedTable(36, 12, 2, 0), (0.0569, 0.3404)),
    (PairedTable(18, 12, 2, 18), (0.0562, 0.3290)),
    (PairedTable(53, 0, 0, 1), (-0.0729, 0.0729)),
])
def test_newcombe_interval_matches_the_published_examples(table: PairedTable, expected: tuple[float, float]) -> None:
    low, high = newcombe_paired_interval(table)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)


@settings(max_examples=60, deadline=None)
@given(tables)
def test_newcombe_without_correlation_is_statsmodels_newcombe_interval(table: PairedTable) -> None:
    """Where the phi correction is 0 (0 <= ad - bc <= n/2, or an empty margin), method 10 is the independent
    samples hybrid score interval of the two margins, which statsmodels implements on its own."""
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    a, b, c, d = table.both, table.only_arm, table.only_baseline, table.neither
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins and not 0 <= a * d - b * c <= table.n / 2:
        with pytest.raises(AssertionError):  # the correlation moves the interval
            _assert_statsmodels_newcombe(table, proportion)
        return
    _assert_statsmodels_newcombe(table, proportion)


def _assert_statsmodels_newcombe(table: PairedTable, proportion) -> None:
    n = table.n
    low, high = proportion.confint_proportions_2indep(table.both + table.only_arm, n, table.both + table.only_baseline,
                                                      n, method="newcomb", compare="diff")
    assert newcombe_paired_interval(table) == pytest.approx((low, high), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60))
def test_mcnemar_exact_matches_statsmodels(only_arm: int, only_baseline: int) -> None:
    contingency = pytest.importorskip("statsmodels.stats.contingency_tables")
    result = contingency.mcnemar([[5, only_arm], [only_baseline, 7]], exact=True)
    assert mcnemar_exact(only_arm, only_baseline) == pytest.approx(result.pvalue, rel=1e-12, abs=1e-15)


def test_mcnemar_exact_known_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(4, 0) == pytest.approx(2 / 16)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact(-1, 2)


@settings(max_examples=200, deadline=None)
@given(tables)
def test_interval_invariants(table: PairedTable) -> None:
    low, high = newcombe_paired_interval(table)
    assert -1.0 <= low <= table.difference <= high <= 1.0
    swapped_low, swapped_high = newcombe_paired_interval(table.swapped())
    assert table.swapped().difference == -table.difference
    assert (swapped_low, swapped_high) == pytest.approx((-high, -low), abs=1e-12)
    p = mcnemar_exact(table.only_arm, table.only_baseline)
    assert 0.0 <= p <= 1.0
    assert p == mcnemar_exact(table.only_baseline, table.only_arm)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=30))
def test_comparison_of_reports_tabulates_the_pairs_and_swaps_sign(pairs: list[tuple[bool, bool]]) -> None:
    outcome = {True: Outcome.SUCCESS, False: Outcome.MISSED_GOAL}
    arm = _report("arm", {100 + i: outcome[x] for i, (x, _) in enumerate(pairs)})
    base = _report("base", {100 + i: outcome[y] for i, (_, y) in enumerate(pairs)})
    forward = compare_reports([base, arm], baseline="base").comparisons[0]
    backward = compare_reports([base, arm], baseline="arm").comparisons[0]
    assert forward.table == PairedTable.from_outcomes([x for x, _ in pairs], [y for _, y in pairs])
    assert forward.difference == pytest.approx(arm.success_rate - base.success_rate)
    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.p_value == forward.p_value
    assert forward.arm_wins == [100 + i for i, (x, y) in enumerate(pairs) if x and not y]


def test_reports_on_different_seeds_are_refused_naming_the_seeds() -> None:
    base = _report("base", {0: Outcome.SUCCESS, 1: Outcome.SUCCESS, 2: Outcome.TIMEOUT})
    arm = _report("arm", {0: Outcome.SUCCESS, 1: Outcome.SUCCESS, 7: Outcome.TIMEOUT})
    with pytest.raises(ValueError, match=r"'arm' lacks 2 and has extra 7"):
        compare_reports([base, arm])
    with pytest.raises(ValueError, match="different tasks"):
        compare_reports([base, _report("arm", {0: Outcome.SUCCESS}, task="other")])
    with pytest.raises(ValueError, match="Baseline 'nope'"):
        compare_reports([base, base], names=["a", "b"], baseline="nope")
    with pytest.raises(ValueError, match="more than one report"):
        compare_reports([base, base])


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Scripted and hold policies evaluated for real on the same 4 seeds (about 3 s)."""
    pytest.importorskip("mujoco")
    import salt_vla

    root = tmp_path_factory.mktemp("paired")
    evaluator = salt_vla.create_evaluator("so101_pick_place", image_size=(16, 24), max_steps=250)
    paths = {}
    for policy, seed in (("hold", 0), ("scripted", 0), ("shifted", 1)):
        report = evaluator.evaluate("scripted" if policy == "shifted" else policy, 4, seed, progress=False)
        paths[policy] = root / policy
        report.write(paths[policy])
    return paths


def test_compare_command_on_real_evaluation_reports(evaluated: dict, tmp_path) -> None:
    from click.testing import CliRunner

    from salt_vla.cli import cli

    scripted = EvalReport.read(evaluated["scripted"])
    hold = EvalReport.read(evaluated["hold"])
    assert scripted.count(Outcome.SUCCESS) == 4 and hold.count(Outcome.SUCCESS) == 0  # the real rollouts' results
    out = tmp_path / "compare"
    result = CliRunner().invoke(cli, ["compare", str(evaluated["hold"]), str(evaluated["scripted"]),
                                      "--name", "hold", "--name", "scripted", "--baseline", "hold", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "scripted - hold: +100.0 pp" in result.output
    document = json.loads((out / "compare.json").read_text())
    paired = document["paired"][0]
    assert paired["table"] == {"both": 0, "only_arm": 4, "only_baseline": 0, "neither": 0}
    assert paired["mcnemar_exact_p"] == pytest.approx(0.125)
    assert paired["difference_ci95"] == pytest.approx(list(newcombe_paired_interval(PairedTable(0, 4, 0, 0))))
    assert paired["arm_wins"] == [0, 1, 2, 3]
    assert [a["outcome_counts"]["never_picked_up"] for a in document["arms"]] == [4, 0]
    markdown = (out / "compare.md").read_text()
    assert "training-seed variance" in markdown and CAVEAT in markdown
    assert "| `scripted` | 0 | 4 | 0 | 0 | +100.0 pp |" in markdown
    assert (out / "compare.png").read_bytes().startswith(PNG_MAGIC)


def test_compare_command_refuses_reports_on_other_seeds(evaluated: dict, tmp_path) -> None:
    from click.testing import CliRunner

    from salt_vla.cli import cli

    result = CliRunner().invoke(cli, ["compare", str(evaluated["hold"]), str(evaluated["shifted"]),
                                      "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert "same seeds" in result.output and "lacks 0 and has extra 4" in result.output
    assert not (tmp_path / "c").exists()


def test_write_comparison_without_the_cli(tmp_path) -> None:
    base = _report("base", {s: Outcome.SUCCESS if s % 2 else Outcome.DROPPED_DURING_TRANSPORT for s in range(10)})
    arm = _report("arm", {s: Outcome.SUCCESS if s % 3 else Outcome.TIMEOUT for s in range(10)})
    paths = write_comparison(compare_reports([base, arm]), tmp_path)
    assert set(paths) == {"json", "markdown", "chart"}
    document = json.loads(paths["json"].read_text())
    assert document["baseline"] == "base" and document["seeds"] == list(range(10))
    assert document["paired"][0]["table"] == {"both": 3, "only_arm": 3, "only_baseline": 2, "neither": 2}
