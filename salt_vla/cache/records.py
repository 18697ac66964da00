"""Fixed-size records: the byte layout of one cache entry, and the latent codecs.

A shard is a plain file of records laid end to end, so entry ``j`` of a shard starts at byte
``j * record_bytes`` and any NumPy can map it (``np.memmap(path, dtype=layout.numpy_dtype())``).
A record holds one or more named fields in order, each starting at a multiple of 64 bytes, the
whole record padded with zeros to a multiple of 64 bytes. Storage types:

- ``float16``: IEEE half; ``bfloat16``: the upper 16 bits of a float32 (stored as ``<u2``);
- ``float8_e4m3fn``: OCP FP8 E4M3 (max 448), stored as ``u1`` next to a float32 scale per token;
- ``uint8``, ``float32``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from salt_vla.names import LATENT_DTYPES  # the latent storage choices of build_latent_cache (re-exported)

ALIGNMENT = 64
STORAGE: dict[str, tuple[str, torch.dtype]] = {
    # storage name: (NumPy dtype of the raw bytes, torch dtype they are viewed as)
    "float16": ("<f2", torch.float16),
    "bfloat16": ("<u2", torch.bfloat16),
    "float8_e4m3fn": ("u1", torch.float8_e4m3fn),
    "uint8": ("u1", torch.uint8),
    "float32": ("<f4", torch.float32),
}
FP8_MAX = 448.0


@dataclass(frozen=True)
class Field:
    """One named array of a record: ``dtype`` is a key of :data:`STORAGE`, ``shape`` its shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(STORAGE[self.dtype][0]).itemsize


def _align(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


@dataclass(frozen=True)
class RecordLayout:
    """The fields of a record, each starting at a multiple of :data:`ALIGNMENT` bytes."""

    fields: tuple[Field, ...]

    @property
    def offsets(self) -> tuple[int, ...]:
        out, offset = [], 0
        for f in self.fields:
            out.append(offset)
            offset = _align(offset + f.nbytes)
        return tuple(out)

    @property
    def record_bytes(self) -> int:
        return _align(self.offsets[-1] + self.fields[-1].nbytes)

    def numpy_dtype(self) -> np.dtype:
        """The structured NumPy dtype of one record (offsets and padding included)."""
        return np.dtype({
            "names": [f.name for f in self.fields],
            "formats": [(STORAGE[f.dtype][0], f.shape) for f in self.fields],
            "offsets": list(self.offsets),
            "itemsize": self.record_bytes,
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_bytes": self.record_bytes,
            "fields": [{"name": f.name, "dtype": f.dtype, "numpy": STORAGE[f.dtype][0], "shape": list(f.shape),
                        "offset": offset} for f, offset in zip(self.fields, self.offsets)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RecordLayout:
        layout = cls(tuple(Field(f["name"], f["dtype"], tuple(f["shape"])) for f in data["fields"]))
        if layout.to_dict() != dict(data):
            raise ValueError(f"record layout {dict(data)} is not the one its fields give: {layout.to_dict()}.")
        return layout

    def pack(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Records ``[B]`` from per-field arrays ``[B, *shape]`` (padding bytes are zero)."""
        count = len(next(iter(arrays.values())))
        records = np.zeros(count, dtype=self.numpy_dtype())
        for f in self.fields:
            records[f.name] = arrays[f.name]
        return records

    def unpack(self, record: torch.Tensor) -> dict[str, torch.Tensor]:
        """Field tensors viewing one record's bytes (``[record_bytes]`` uint8, e.g. read from a shard)."""
        return {
            f.name: record[offset: offset + f.nbytes].view(STORAGE[f.dtype][1]).view(f.shape)
            for f, offset in zip(self.fields, self.offsets)
        }


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """The raw bytes of a CPU tensor of a :data:`STORAGE` type as the NumPy storage dtype."""
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view("<u2")
    if tensor.dtype == torch.float8_e4m3fn:
        return tensor.view(torch.uint8).numpy()
    return tensor.numpy()


class LatentCodec:
    """Encodes teacher latents ``[B, N, D]`` into record fields, and decodes them.

    ``float8_e4m3`` scales each token by its max magnitude / 448 (stored as float32) before rounding,
    so the format's 3 mantissa bits are spent on the token's own range.
    """

    def __init__(self, dtype: str, num_tokens: int, dim: int) -> None:
        if dtype not in LATENT_DTYPES:
            raise ValueError(f"Unknown latent dtype {dtype!r}; choose one of {LATENT_DTYPES}.")
        self.dtype = dtype
        if dtype == "float8_e4m3":
            fields = (Field("latents", "float8_e4m3fn", (num_tokens, dim)), Field("scale", "float32", (num_tokens,)))
        else:
            fields = (Field("latents", dtype, (num_tokens, dim)),)
        self.layout = RecordLayout(fields)

    @property
    def read_dtype(self) -> torch.dtype:
        """What :meth:`decode` returns: the stored dtype, or bfloat16 for fp8 (range of float32)."""
        return torch.float16 if self.dtype == "float16" else torch.bfloat16

    def encode(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """``latents: [B, N, D]`` float -> field tensors (on ``latents``' device)."""
        if self.dtype == "float16":
            return {"latents": latents.to(torch.float16)}
        if self.dtype == "bfloat16":
            return {"latents": latents.to(torch.bfloat16)}
        scale = latents.abs().amax(dim=-1).float().clamp_min(1e-12) / FP8_MAX
        quantized = (latents.float() / scale.unsqueeze(-1)).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
        return {"latents": quantized, "scale": scale}

    def decode(self, fields: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Field tensors (``[..., N, D]`` latents) -> latents in :attr:`read_dtype`."""
        latents = fields["latents"]
        if self.dtype != "float8_e4m3":
            return latents
        return (latents.float() * fields["scale"].unsqueeze(-1)).to(self.read_dtype)


def fidelity_stats(reference: torch.Tensor, stored: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-record error sums of ``stored`` against ``reference`` (both ``[B, N, D]``), as float64 arrays ``[B]``.

    Merged by :func:`merge_fidelity` into the relative error and cosine reported in metadata.
    """
    ref, got = reference.float(), stored.float()
    err = got - ref
    cosine = torch.nn.functional.cosine_similarity(got, ref, dim=-1, eps=1e-12)
    out = {
        "sq_err": err.square().sum(dim=(1, 2)),
        "sq_ref": ref.square().sum(dim=(1, 2)),
        "cos_sum": cosine.sum(dim=1),
        "max_abs_err": err.abs().amax(dim=(1, 2)),
    }
    return {k: v.double().cpu().numpy() for k, v in out.items()}


def sum_fidelity(parts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Add up fidelity sums (``sq_err``, ``sq_ref``, ``cos_sum``, ``tokens``; ``max_abs_err`` takes the max)."""
    total = {"sq_err": 0.0, "sq_ref": 0.0, "cos_sum": 0.0, "tokens": 0, "max_abs_err": 0.0}
    for part in parts:
        for key in ("sq_err", "sq_ref", "cos_sum", "tokens"):
            total[key] += part[key]
        total["max_abs_err"] = max(total["max_abs_err"], part["max_abs_err"])
    return total


def merge_fidelity(parts: Sequence[Mapping[str, float]], dtype: str) -> dict[str, Any]:
    """The metadata ``fidelity`` block: stored latents against the teacher's float32 output."""
    total = sum_fidelity(parts)
    return {
        "dtype": dtype,
        "reference": "the teacher's output as float32",
        "relative_error": math.sqrt(total["sq_err"] / total["sq_ref"]) if total["sq_ref"] else 0.0,
        "cosine": total["cos_sum"] / total["tokens"] if total["tokens"] else 1.0,
        "max_abs_error": total["max_abs_err"],
        "tokens": int(total["tokens"]),
    }
