"""Weight sources and safe state-dict loading."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from salt_vla.weights import (
    StateDictMismatchError,
    WeightSourceError,
    check_state_dict,
    load_state_dict,
    parse_source,
    unwrap_state_dict,
)


def test_parse_sources(tmp_path):
    assert str(parse_source("hf-hub:MCG-NJU/videomae-base@v1")) == "hf-hub:MCG-NJU/videomae-base@v1"
    assert parse_source(f"local-dir:{tmp_path}").path == tmp_path
    assert parse_source(str(tmp_path)).kind == "local"
    with pytest.raises(WeightSourceError, match="write 'hf-hub:MCG-NJU/videomae-base'"):
        parse_source("MCG-NJU/videomae-base")
    with pytest.raises(WeightSourceError, match="backslashes"):
        parse_source("hf-hub:danbhf\\act_model")
    with pytest.raises(WeightSourceError, match="no such file"):
        parse_source("local-dir:/does/not/exist")


def test_pickle_only_with_opt_in_and_weights_only(tmp_path):
    torch.save({"model": {"w": torch.ones(2)}, "epoch": 3}, tmp_path / "ckpt.pth")
    with pytest.raises(WeightSourceError, match="allow_torch=True"):
        load_state_dict(tmp_path / "ckpt.pth")
    state = unwrap_state_dict(load_state_dict(tmp_path / "ckpt.pth", allow_torch=True))
    assert torch.equal(state["w"], torch.ones(2))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": torch.ones(1), "x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(WeightSourceError, match="weights-only loader"):
        load_state_dict(tmp_path / "evil.pth", allow_torch=True)


def test_directory_prefers_safetensors(tmp_path):
    save_file({"w": torch.zeros(3)}, str(tmp_path / "model.safetensors"))
    torch.save({"w": torch.ones(3)}, tmp_path / "pytorch_model.bin")
    assert torch.equal(load_state_dict(tmp_path)["w"], torch.zeros(3))


def test_unwrap_ddp_prefix():
    assert list(unwrap_state_dict({"module.a": torch.ones(1), "module.b": torch.ones(1)})) == ["a", "b"]


def test_mismatch_lists_everything_at_once():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    state = {"0.weight": torch.zeros(4, 3), "0.bias": torch.zeros(5), "2.weight": torch.zeros(1)}
    with pytest.raises(StateDictMismatchError) as info:
        check_state_dict(model, state, hint="try the base size")
    error = info.value
    assert error.missing == ["1.bias", "1.weight"] and error.unexpected == ["2.weight"]
    assert error.mismatched == [("0.bias", (5,), (4,))]
    assert "0.bias (5,) vs (4,)" in str(error) and "try the base size" in str(error)
