"""Two gloo processes under torchrun average to the single-process loss and gradients on the same data."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from salt_vla import hub
from salt_vla.config import from_dict
from salt_vla.models import VideoViT, VideoViTConfig
from salt_vla.train import TrainConfig, Trainer
from salt_vla.train.distributed import unwrap

GLOBAL_BATCH = 8

# Shared by the torchrun workers and the single-process reference: one global batch, split by rank.
STEP = textwrap.dedent("""
    import torch
    from salt_vla.data import MaskCollate
    from salt_vla.masking import MaskBatch, MaskPair
    import salt_vla

    def global_batch(trainer, size):
        masker = salt_vla.create_masker(trainer.config.masks.name)
        samples = [trainer.train_set[i] for i in range(size)]
        return MaskCollate(masker, trainer.grid, seed=0)(samples)

    def rows(batch, start, stop):
        masks = MaskBatch(tuple(MaskPair(p.context[start:stop], p.target[start:stop]) for p in batch["masks"]),
                          batch["masks"].grid)
        return {**batch, "video": batch["video"][start:stop], "masks": masks}
""")


def _config(tmp_path, teacher_dir):
    return {
        "data": {"dataset": "synthetic_physics", "args": {"num_videos": 16, "frames": 4, "size": 32},
                 "batch_size": GLOBAL_BATCH // 2, "num_workers": 0},
        "student": {"name": "vit_micro_patch8_t2", "args": {"depth": 1, "embed_dim": 48, "num_heads": 3,
                                                             "num_frames": 4, "img_size": 32}},
        "predictor": {"dim": 32, "depth": 1, "num_heads": 2},
        "teacher": {"name": "checkpoint", "args": {"pretrained": str(teacher_dir)}},
        "optim": {"warmup_steps": 0},
        "run": {"steps": 1, "out_dir": str(tmp_path / "run"), "progress": False},
    }


def test_two_gloo_processes_match_one_process(tmp_path):
    torch.manual_seed(0)
    teacher_dir = tmp_path / "teacher"
    hub.save_pretrained(VideoViT(VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8, tubelet_size=2,
                                                num_frames=4, img_size=32)), teacher_dir)
    config = _config(tmp_path, teacher_dir)
    (tmp_path / "config.json").write_text(json.dumps(config))
    worker = tmp_path / "worker.py"
    worker.write_text(STEP + textwrap.dedent(f"""
        import json, torch, torch.distributed as dist
        from salt_vla.config import from_dict
        from salt_vla.train import TrainConfig, Trainer
        from salt_vla.train.distributed import unwrap

        trainer = Trainer(from_dict(TrainConfig, json.load(open({str(tmp_path / 'config.json')!r}))))
        assert trainer.info.world_size == 2 and trainer.info.enabled
        rank, half = trainer.info.rank, {GLOBAL_BATCH // 2}
        loss, _ = trainer.backward([rows(global_batch(trainer, {GLOBAL_BATCH}), rank * half, (rank + 1) * half)])
        dist.all_reduce(loss)
        if rank == 0:
            grads = {{n: p.grad for n, p in unwrap(trainer.model).named_parameters()}}
            torch.save({{"loss": loss / 2, "grads": grads}}, {str(tmp_path / 'ddp.pt')!r})
        dist.destroy_process_group()
    """))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
                          str(worker)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    namespace: dict = {}
    exec(STEP, namespace)
    single = Trainer(from_dict(TrainConfig, {**config, "data": {**config["data"], "batch_size": GLOBAL_BATCH},
                                            "run": {**config["run"], "out_dir": str(tmp_path / "single")}}))
    loss, _ = single.backward([namespace["global_batch"](single, GLOBAL_BATCH)])
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    torch.testing.assert_close(ddp["loss"], loss, rtol=1e-5, atol=1e-6)
    for name, param in unwrap(single.model).named_parameters():
        torch.testing.assert_close(ddp["grads"][name], param.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_fsdp_matches_ddp_and_writes_a_loadable_checkpoint(tmp_path):
    from salt_vla.train.metrics import read_metrics

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import json, sys
        from salt_vla.config import from_dict
        from salt_vla.train import TrainConfig, train
        train(from_dict(TrainConfig, json.loads(sys.argv[1])))
    """))
    losses = {}
    for port, strategy in ((29534, "fsdp"), (29535, "ddp")):
        config = {
            "stage": "teacher",
            "data": {"dataset": "synthetic_physics", "args": {"num_videos": 16, "frames": 4, "size": 32},
                     "batch_size": 2, "num_workers": 0},
            "student": {"name": "vit_micro_patch8_t2", "args": {"depth": 2, "embed_dim": 48, "num_heads": 3,
                                                                 "num_frames": 4, "img_size": 32}},
            "decoder": {"dim": 32, "depth": 1, "num_heads": 2},
            "optim": {"warmup_steps": 0},
            "run": {"steps": 3, "checkpoint_every": 2, "log_every": 1, "progress": False, "distributed": strategy,
                    "out_dir": str(tmp_path / strategy)},
        }
        run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                              str(port), str(script), json.dumps(config)], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        losses[strategy] = [row["train/loss"] for row in read_metrics(tmp_path / strategy / "metrics.jsonl")]
    assert losses["fsdp"] == [pytest.approx(v, rel=1e-5) for v in losses["ddp"]]
    teacher = hub.from_pretrained(tmp_path / "fsdp" / "checkpoints" / "last" / "teacher")
    reference = hub.from_pretrained(tmp_path / "ddp" / "checkpoints" / "last" / "teacher")
    for (name, a), b in zip(teacher.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
