"""Build registered things by name: ``create_<kind>(name, **kwargs)`` and ``list_plugins``."""

from __future__ import annotations

from typing import Any

from salt_vla.interfaces import Encoder, Loss, Masker, Policy, PolicyEvaluator, Schedule, Teacher, Visualizer
from salt_vla.plugins import registry
from salt_vla.registry import Entry, check_kind


def create(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Build the ``kind`` registered as ``name`` with ``kwargs``.

    Raises:
        UnknownNameError: no such name; the message lists the available names and the closest match.
        DuplicateNameError: two plugins registered the name; the message names both.
    """
    return registry().get(check_kind(kind), name).factory(**kwargs)


def list_plugins(kind: str | None = None, pattern: str = "*") -> list[Entry]:
    """Registered entries, optionally of one ``kind``, with names matching the fnmatch ``pattern``.

    >>> [e.name for e in list_plugins("schedule", "warmup_*")]
    ['warmup_cosine']
    """
    return registry().entries(kind, pattern)


def list_names(kind: str, pattern: str = "*") -> list[str]:
    """Sorted names of ``kind`` matching ``pattern`` (``list_names("encoder", "vit_base*")``)."""
    return registry().names(check_kind(kind), pattern)


def create_encoder(name: str, /, **kwargs: Any) -> Encoder:
    """A video encoder (student), e.g. ``create_encoder("vit_base_patch16_t2")``."""
    return create("encoder", name, **kwargs)


def create_teacher(name: str, /, **kwargs: Any) -> Teacher:
    """A frozen teacher, e.g. ``create_teacher("videomae_base", pretrained="hf-hub:MCG-NJU/videomae-base")``."""
    return create("teacher", name, **kwargs)


def create_masker(name: str, /, **kwargs: Any) -> Masker:
    """A masker, e.g. ``create_masker("multiblock_vjepa")``."""
    return create("masker", name, **kwargs)


def create_schedule(name: str, /, **kwargs: Any) -> Schedule:
    """A schedule, e.g. ``create_schedule("warmup_cosine", peak=3e-4, total_steps=10_000, min_value=3e-5)``."""
    return create("schedule", name, **kwargs)


def create_loss(name: str, /, **kwargs: Any) -> Loss:
    """A latent-prediction objective, e.g. ``create_loss("l1")``."""
    return create("loss", name, **kwargs)


def create_dataset(name: str, /, **kwargs: Any) -> Any:
    """A video dataset, e.g. ``create_dataset("synthetic_physics", num_videos=64)``."""
    return create("dataset", name, **kwargs)


def create_evaluator(name: str, /, **kwargs: Any) -> PolicyEvaluator:
    """A policy evaluator (a task), e.g. ``create_evaluator("so101_pick_place")``."""
    return create("evaluator", name, **kwargs)


def create_visualizer(name: str, /, **kwargs: Any) -> Visualizer:
    """A visualizer, e.g. ``create_visualizer("whiskers")``."""
    return create("visualizer", name, **kwargs)


def parse_policy_spec(spec: str) -> tuple[str, str | None]:
    """Split ``"act:org/repo"`` into ``("act", "org/repo")``; a bare ``"scripted"`` gives ``("scripted", None)``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"A policy SPEC is 'family' or 'family:source' (e.g. 'act:runs/act_cpu/train/checkpoints/last/pretrained_model' or 'act:<org>/<repo>'); got {spec!r}.")
    family, sep, source = spec.strip().partition(":")
    if sep and not source:
        raise ValueError(f"Policy SPEC {spec!r} has an empty source after ':'; write '{family}:<hub id or path>'.")
    return family, (source if sep else None)


def create_policy(spec: str, /, **kwargs: Any) -> Policy:
    """A policy from a SPEC: ``"scripted"``, ``"random"``, ``"act:<hub id or path>"``, ``"smolvla:..."``."""
    family, source = parse_policy_spec(spec)
    return registry().get("policy", family).factory(source=source, **kwargs)
