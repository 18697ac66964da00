"""A run saved by two processes resumes in one, and one saved by one process resumes in two (DDP and FSDP)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from salt_vla.train.metrics import read_metrics

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, sys
    from salt_vla.config import from_dict
    from salt_vla.train import TrainConfig, train
    train(from_dict(TrainConfig, json.loads(sys.argv[1])), resume=True, allow_config_change=True)  # longer runs
""")


def _config(out_dir, steps: int, strategy: str) -> dict:
    return {
        "stage": "teacher",
        "data": {"dataset": "synthetic_physics", "args": {"num_videos": 16, "frames": 4, "size": 32},
                 "batch_size": 2, "num_workers": 0},
        "student": {"name": "vit_micro_patch8_t2", "args": {"depth": 2, "embed_dim": 48, "num_heads": 3,
                                                             "num_frames": 4, "img_size": 32}},
        "decoder": {"dim": 32, "depth": 1, "num_heads": 2},
        "optim": {"warmup_steps": 0},
        "run": {"steps": steps, "checkpoint_every": 2, "log_every": 1, "progress": False, "distributed": strategy,
                "out_dir": str(out_dir)},
    }


def _train(tmp_path, config: dict, processes: int, port: int) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    launcher = [sys.executable] if processes == 1 else [sys.executable, "-m", "torch.distributed.run",
                                                         "--nproc_per_node", str(processes), "--master_port", str(port)]
    run = subprocess.run([*launcher, str(script), json.dumps(config)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_checkpoints_resume_across_world_sizes(tmp_path):
    out = tmp_path / "run"
    _train(tmp_path, _config(out, 2, "ddp"), processes=2, port=29541)      # steps 1-2 by two DDP ranks
    _train(tmp_path, _config(out, 4, "ddp"), processes=1, port=0)          # resumed at 2 by one process
    _train(tmp_path, _config(out, 6, "fsdp"), processes=2, port=29542)     # resumed at 4 by two FSDP ranks
    rows = [row for row in read_metrics(out / "metrics.jsonl") if "train/loss" in row]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5, 6]  # never restarted, no step twice
    assert (out / "checkpoints" / "last" / "teacher").is_dir()


def test_optimizer_state_converts_between_index_and_name_keys():
    import torch

    from salt_vla.train.distributed import _parameter_names, optimizer_state_keyed

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    decay, no_decay = [model[0].weight], [model[0].bias, *model[1].parameters()]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}])
    model(torch.randn(2, 3)).square().sum().backward()
    optimizer.step()
    names = _parameter_names(model, optimizer)
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias"]
    by_index = optimizer.state_dict()
    by_name = optimizer_state_keyed(by_index, names, by_name=True)
    assert list(by_name["state"]) == names and by_name["param_groups"][1]["params"] == names[1:]
    assert optimizer_state_keyed(by_name, names, by_name=True) is by_name  # already by name
    back = optimizer_state_keyed(by_name, names, by_name=False)
    assert back["param_groups"] == by_index["param_groups"]
    for key, state in by_index["state"].items():
        assert back["state"][key].keys() == state.keys()
        for field, value in state.items():
            assert torch.equal(back["state"][key][field], value)
    optimizer.load_state_dict(back)  # what a one-process resume of an FSDP checkpoint does
    with pytest.raises(KeyError):
        optimizer_state_keyed(by_name, names[:2], by_name=False)  # another model's state is refused
