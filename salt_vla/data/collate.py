"""Batching dataset items, and drawing each batch's masks where the batch is made.

In a DataLoader worker, stacked tensors are allocated straight in shared memory (as PyTorch's own
``default_collate`` does), so a batch crosses to the main process without another copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import get_worker_info

from salt_vla.data.seeding import MASKS, derive_seed
from salt_vla.interfaces import Grid, Masker


def _stack(tensors: Sequence[torch.Tensor], what: str) -> torch.Tensor:
    shapes = {(tuple(t.shape), t.dtype) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"collate_clips: every sample's {what!r} must have one shape and dtype; got {sorted(map(str, shapes))}.")
    out = None
    if get_worker_info() is not None:
        first = tensors[0]
        storage = first.untyped_storage()._new_shared(len(tensors) * first.numel() * first.element_size())
        out = first.new(storage).resize_(len(tensors), *first.shape)
    return torch.stack(list(tensors), out=out)


def _labels(samples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    keys = set(samples[0]["label"])
    for position, sample in enumerate(samples):
        if set(sample["label"]) != keys:
            raise ValueError(
                f"collate_clips: sample {position} (index {sample['index']}) has labels {sorted(sample['label'])}; "
                f"the batch's first has {sorted(keys)}."
            )
    columns = {}
    for key in sorted(keys):
        values = [s["label"][key] for s in samples]
        integral = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        columns[key] = torch.tensor(values, dtype=torch.int64 if integral else torch.float32)
    return columns


def collate_clips(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch dataset items.

    Returns:
        ``video``: ``[B, C, T, H, W]`` uint8; ``index``: ``[B]`` int64; ``view``: list of ``B``
        :class:`~salt_vla.data.views.ViewParams`; ``label``: ``{name: [B]}`` (int64, or float32 when
        any value is a float); ``skipped``: ``[]`` int64, unreadable videos replaced in this batch;
        and ``latents``: ``[B, N, D]`` when the items carry cached latents.
    """
    if not samples:
        raise ValueError("collate_clips: empty batch.")
    batch: dict[str, Any] = {
        "video": _stack([s["video"] for s in samples], "video"),
        "index": torch.tensor([int(s["index"]) for s in samples], dtype=torch.int64),
        "view": [s["view"] for s in samples],
        "label": _labels(samples),
        "skipped": torch.tensor(sum(int(s.get("skipped", 0)) for s in samples), dtype=torch.int64),
    }
    with_latents = sum("latents" in s for s in samples)
    if with_latents not in (0, len(samples)):
        raise ValueError(f"collate_clips: {with_latents} of {len(samples)} samples carry latents; all or none must.")
    if with_latents:
        batch["latents"] = _stack([s["latents"] for s in samples], "latents")
    return batch


class MaskCollate:
    """``collate_clips`` plus ``batch["masks"]``, a :class:`~salt_vla.masking.MaskBatch` for the batch.

    The masks come from a generator seeded by ``(seed, the batch's sample indices)``: the same batch
    gets the same masks whichever worker builds it. Picklable, so it works with any DataLoader
    start method.

    Args:
        masker: a :class:`~salt_vla.interfaces.Masker`.
        grid: the token grid ``(t', h', w')`` of the clips.
        seed: >= 0.
    """

    def __init__(self, masker: Masker, grid: Grid, seed: int = 0) -> None:
        if len(tuple(grid)) != 3:
            raise ValueError(f"MaskCollate: grid must be (t', h', w'); got {grid!r}.")
        derive_seed(seed)  # validates
        self.masker = masker
        self.grid: Grid = tuple(int(g) for g in grid)  # type: ignore[assignment]
        self.seed = int(seed)

    def __repr__(self) -> str:
        return f"MaskCollate(masker={self.masker!r}, grid={self.grid}, seed={self.seed})"

    def masks(self, indices: Sequence[int]) -> Any:
        """The masks of the batch made of dataset items ``indices`` (the same whichever loader builds it)."""
        gen = torch.Generator().manual_seed(derive_seed(MASKS, self.seed, *(int(i) for i in indices)))
        return self.masker(len(indices), self.grid, gen)

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch = collate_clips(samples)
        batch["masks"] = self.masks(batch["index"].tolist())
        return batch
