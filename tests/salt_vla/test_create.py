"""Typed factories: each ``create_<kind>`` says what it returns, and the built-ins satisfy that protocol."""

from __future__ import annotations

import typing

import pytest
import torch

import salt_vla
from salt_vla import interfaces
from salt_vla.hookspecs import Register
from salt_vla.names import ENCODERS, LATENT_DTYPES, LOSSES


@pytest.mark.parametrize(("factory", "protocol"), [
    (salt_vla.create_encoder, interfaces.Encoder), (salt_vla.create_teacher, interfaces.Teacher),
    (salt_vla.create_masker, interfaces.Masker), (salt_vla.create_schedule, interfaces.Schedule),
    (salt_vla.create_loss, interfaces.Loss), (salt_vla.create_evaluator, interfaces.PolicyEvaluator),
    (salt_vla.create_visualizer, interfaces.Visualizer), (salt_vla.create_policy, interfaces.Policy),
])
def test_factories_are_annotated_with_their_protocol(factory, protocol):
    assert typing.get_type_hints(factory)["return"] is protocol


def test_built_ins_satisfy_the_protocols_their_factories_promise():
    encoder = salt_vla.create_encoder("vit_micro_patch8_t2", depth=1)
    assert isinstance(encoder, interfaces.Encoder)
    loss = salt_vla.create_loss("smooth_l1")
    assert isinstance(loss, interfaces.Loss) and float(loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))) == 0.0
    assert isinstance(salt_vla.create_schedule("constant", value=1.0), interfaces.Schedule)


def test_each_name_list_has_one_source():
    assert set(ENCODERS) <= set(salt_vla.list_names("encoder"))
    assert set(LOSSES) <= set(salt_vla.list_names("loss"))
    from salt_vla.cache import LATENT_DTYPES as cache_dtypes
    from salt_vla.models import REGISTERED
    from salt_vla.objectives import LOSS_KINDS

    assert list(REGISTERED) == list(ENCODERS) and LOSS_KINDS == tuple(LOSSES) and cache_dtypes is LATENT_DTYPES


def test_register_is_a_typed_protocol_plugins_can_annotate_with():
    hints = typing.get_type_hints(Register.__call__)
    assert hints["name"] is str and hints["return"] is type(None) and "description" in hints
    assert salt_vla.Register is Register
