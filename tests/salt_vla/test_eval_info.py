"""eval_info.json against the field names LeRobot's own evaluator writes, read from the installed LeRobot's source."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from salt_vla.eval_info import eval_info
from salt_vla.evaluation import EpisodeResult, EvalReport, Outcome

pytestmark = pytest.mark.lerobot


def _lerobot_eval_source() -> tuple[ast.Module, Path]:
    spec = importlib.util.find_spec("lerobot")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("LeRobot is not installed (the lerobot extra)")
    package = Path(next(iter(spec.submodule_search_locations)))
    for name in ("scripts/lerobot_eval.py", "scripts/eval.py"):  # renamed in LeRobot 0.4
        if (package / name).is_file():
            return ast.parse((package / name).read_text()), package / name
    raise AssertionError(f"no evaluation script under {package / 'scripts'}")


def _shape(node: ast.AST) -> Any:
    """The keys of a dict literal, recursively (dicts, comprehensions of dicts, typed-dict calls); None for a value."""
    if isinstance(node, ast.Dict):
        return {k.value: _shape(v) for k, v in zip(node.keys, node.values)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    if isinstance(node, ast.ListComp) and isinstance(node.elt, ast.Dict):
        return [_shape(node.elt)]
    if isinstance(node, ast.Call) and node.keywords and all(k.arg for k in node.keywords):
        return {k.arg: None for k in node.keywords}  # TaskMetrics(sum_rewards=..., ...)
    return None


def _function(module: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(module) if isinstance(n, ast.FunctionDef) and n.name == name)


def _assigned(function: ast.FunctionDef, target: str) -> Any:
    """The shape of the dict assigned to ``target`` (``info`` or ``groups_aggregated[...]``) in ``function``."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            written = node.targets[0]
            name = written.value if isinstance(written, ast.Subscript) else written
            if isinstance(name, ast.Name) and name.id == target:
                return _shape(node.value)
    raise AssertionError(f"{function.name} assigns no dict to {target}")


def _covers(document: Any, shape: Any, where: str = "eval_info") -> list[str]:
    """Keys of ``shape`` missing from ``document``."""
    if isinstance(shape, dict):
        if not isinstance(document, dict):
            return [f"{where} is not an object"]
        return [m for key, sub in shape.items()
                for m in ([f"{where}.{key}"] if key not in document else _covers(document[key], sub, f"{where}.{key}"))]
    if isinstance(shape, list):
        if not isinstance(document, list) or not document:
            return [f"{where} is not a non-empty list"]
        return [m for item in document for m in _covers(item, shape[0], f"{where}[]")]
    return []


def _report() -> EvalReport:
    episodes = [EpisodeResult(seed=10 + i, outcome=o, steps=50, max_height=0.1, picked=True,
                              video=f"runs/eval/videos/episode_{10 + i:06d}.mp4" if i < 2 else None)
                for i, o in enumerate([Outcome.SUCCESS, Outcome.DROPPED_DURING_TRANSPORT, Outcome.SUCCESS,
                                       Outcome.MISSED_GOAL])]
    return EvalReport("act:ckpt", "so101_pick_place", episodes, wall_time_s=8.0)


def test_eval_info_has_every_field_lerobot_eval_writes() -> None:
    module, path = _lerobot_eval_source()
    document = json.loads(json.dumps(eval_info(_report()), allow_nan=False))

    # What lerobot-eval writes to eval_info.json: eval_policy_all's return value.
    evaluate_all = _function(module, "eval_policy_all")
    returned = next(n.value for n in ast.walk(evaluate_all) if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict))
    assert set(_shape(returned)) <= set(document), path
    assert _covers(document["overall"], _assigned(evaluate_all, "overall_agg"), "overall") == []
    assert _covers(document["per_group"]["so101_pick_place"], _assigned(evaluate_all, "groups_aggregated"), "per_group") == []
    appended = next(n.args[0] for n in ast.walk(evaluate_all) if isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute) and n.func.attr == "append" and isinstance(n.args[0], ast.Dict))
    assert _covers(document["per_task"], [_shape(appended)], "per_task") == []
    metrics = next(_shape(n) for n in ast.walk(_function(module, "eval_one"))
                   if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "TaskMetrics")
    assert _covers(document["per_task"][0]["metrics"], metrics, "metrics") == []

    # The single-task layout of eval_policy (what LeRobot wrote before its multi-task evaluator).
    single = _assigned(_function(module, "eval_policy"), "info")
    assert {"per_episode", "aggregated"} <= set(single)
    assert _covers(document, single) == []

    # The values: percentages, one row per episode in order, the recorded videos.
    assert document["overall"]["pc_success"] == document["aggregated"]["pc_success"] == 50.0
    assert document["overall"]["n_episodes"] == 4
    assert document["per_task"][0]["metrics"]["successes"] == [True, False, True, False]
    assert [row["seed"] for row in document["per_episode"]] == [10, 11, 12, 13]
    assert [row["sum_reward"] for row in document["per_episode"]] == [1.0, 0.0, 1.0, 0.0]
    assert document["per_episode"][1]["outcome"] == "dropped_during_transport"
    assert document["video_paths"] == document["overall"]["video_paths"] == [
        "runs/eval/videos/episode_000010.mp4", "runs/eval/videos/episode_000011.mp4"]
    assert document["overall"]["eval_ep_s"] == pytest.approx(2.0)


def test_an_empty_report_writes_strict_json() -> None:
    document = eval_info(EvalReport("hold", "so101_pick_place", []))
    assert document["overall"]["pc_success"] is None and document["per_episode"] == []
    json.dumps(document, allow_nan=False)
