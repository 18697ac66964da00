"""Both stages' first 50 CPU steps reproduce, bit for bit, the metrics of the trainer before the task split.

The fixture ``data/reference_metrics.json`` was written by ``reference_metrics.py`` (same directory) at commit
9612118, the last commit before :mod:`salt_vla.train.tasks` existed, with torch 2.10.0 on CPU and one thread.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_both_stages_reproduce_the_pre_refactor_metrics(tmp_path, one_thread):
    sys.path.insert(0, str(HERE))
    try:
        from reference_metrics import FIXTURE, run_all
    finally:
        sys.path.remove(str(HERE))
    reference = json.loads(FIXTURE.read_text())
    if reference["torch"] != torch.__version__:
        pytest.skip(f"fixture recorded with torch {reference['torch']}; this is {torch.__version__}")
    metrics = run_all(tmp_path)
    for stage in ("teacher", "salt"):
        assert len(metrics[stage]) == len(reference["metrics"][stage]) == 52  # 50 train rows, 2 validations
        for got, expected in zip(metrics[stage], reference["metrics"][stage]):
            assert got == expected, (stage, got["step"])  # exact floats, every key
