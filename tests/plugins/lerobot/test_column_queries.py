"""ACT's action chunk served from a cached column (salt_vla.lerobot_compat.enable_column_queries)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

from .conftest import NO_LEROBOT

pytestmark = [pytest.mark.lerobot, pytest.mark.sim]
pytest.importorskip("lerobot", reason=NO_LEROBOT)
pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")

CHUNK = {"action": [i / 30 for i in range(12)], "observation.state": [-1 / 30, 0.0]}


@pytest.fixture(scope="module")
def image_dataset(tmp_path_factory: pytest.TempPathFactory):
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.expert import ScriptedExpert
    from salt_vla_so101.recorder import record_dataset

    root = tmp_path_factory.mktemp("frames") / "dataset"
    record_dataset(ScriptedExpert(), 2, root, task=TaskConfig(image_size=(16, 24), max_steps=20), frames="image",
                   progress=False)
    return root


def reader_of(dataset):
    return getattr(dataset, "reader", None) or dataset


def test_column_queries_return_lerobots_own_values(image_dataset) -> None:
    from salt_vla import lerobot_compat

    plain = lerobot_compat.load_dataset(image_dataset, delta_timestamps=CHUNK)
    assert type(reader_of(plain)).__name__ != "ColumnCachedReader"
    lerobot_compat.enable_column_queries()
    fast = lerobot_compat.load_dataset(image_dataset, delta_timestamps=CHUNK)
    assert type(reader_of(fast)).__name__ == "ColumnCachedReader"
    # Every frame, both episodes, chunk ends padded past the episode end, state with a past step.
    for index in range(plain.num_frames):
        expected, got = plain[index], fast[index]
        assert expected.keys() == got.keys()
        for key, value in expected.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == got[key].dtype and torch.equal(value, got[key]), (index, key)
            else:
                assert value == got[key], (index, key)


def test_the_reader_class_reaches_a_process_that_never_enabled_it(image_dataset, tmp_path) -> None:
    """LeRobot >= 0.5 spawns its dataloader workers: they unpickle the dataset without running our setup."""
    from salt_vla import lerobot_compat

    lerobot_compat.enable_column_queries()
    dataset = lerobot_compat.load_dataset(image_dataset, delta_timestamps=CHUNK)
    expected = dataset[5]["action"]
    assert "_salt_vla_columns" in vars(reader_of(dataset))  # the cache was filled...
    payload = tmp_path / "dataset.pkl"
    payload.write_bytes(pickle.dumps(dataset))
    assert "_salt_vla_columns" not in vars(reader_of(pickle.loads(payload.read_bytes())))  # ...and stays behind
    script = textwrap.dedent(f"""
        import pickle, torch
        dataset = pickle.loads(open({str(payload)!r}, "rb").read())
        reader = getattr(dataset, "reader", None) or dataset
        print(type(reader).__name__)
        torch.save(dataset[5]["action"], {str(tmp_path / "action.pt")!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "ColumnCachedReader"
    assert torch.equal(torch.load(tmp_path / "action.pt"), expected)
