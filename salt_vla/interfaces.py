"""The typed interfaces every salt-vla component is written against.

These are :class:`typing.Protocol` classes: an implementation never inherits from them, it only has
the right attributes and methods. Plugins return objects that satisfy them; the engine and the
evaluator only ever talk to these shapes.

Shape letters used throughout the library:

- ``B`` batch, ``C`` channels (3, RGB), ``T`` frames, ``H``/``W`` pixels
- ``N`` tokens of a full clip (``t' * h' * w'``), ``K`` kept (visible) tokens, ``D`` width
- ``L`` action-chunk length, ``A`` action dimension

Videos are ``float`` tensors ``[B, C, T, H, W]`` with values in ``[0, 1]`` unless a method says it
also accepts ``uint8``. Token indices are ``int64`` tensors indexing the flattened ``(t', h', w')``
grid in row-major order (time slowest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from salt_vla.grid import Grid  # re-exported: the interfaces are written against it

if TYPE_CHECKING:
    import numpy as np
    import torch

    from salt_vla.evaluation import EvalReport
    from salt_vla.masking import MaskBatch
    from salt_vla.robot import Observation


@runtime_checkable
class Encoder(Protocol):
    """A video encoder that turns clips into tokens, optionally only the kept ones.

    Students are Encoders; so is the encoder half of a stage-1 pixel teacher.
    """

    @property
    def embed_dim(self) -> int:
        """Token width ``D``."""
        ...

    @property
    def patch_size(self) -> tuple[int, int, int]:
        """Tubelet size ``(t, h, w)`` in frames and pixels."""
        ...

    def grid(self, frames: int, height: int, width: int) -> Grid:
        """Token grid for a clip of ``frames x height x width``; raises ``ValueError`` if not divisible."""
        ...

    def __call__(self, video: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``video: [B, C, T, H, W]``.

        ``keep: [B, K] int64`` selects the tokens that go through the transformer (the others are
        never computed). Returns ``[B, K, D]``, or ``[B, N, D]`` when ``keep`` is ``None``.
        """
        ...


@runtime_checkable
class Teacher(Protocol):
    """A frozen model whose per-token latents are the student's prediction targets."""

    @property
    def latent_dim(self) -> int:
        """Latent width ``D_t`` of :meth:`targets`."""
        ...

    @property
    def patch_size(self) -> tuple[int, int, int]:
        """Tubelet size ``(t, h, w)``; must equal the student's so the token grids line up."""
        ...

    def grid(self, frames: int, height: int, width: int) -> Grid:
        """Token grid for a clip of ``frames x height x width``."""
        ...

    def targets(self, video: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, N, D_t]`` for ``video: [B, C, T, H, W]`` (``[0, 1]`` floats), without autograd."""
        ...

    def fingerprint(self) -> str:
        """A string that changes whenever weights, target layer or preprocessing change.

        Stored in every latent cache so latents of different teachers can never be mixed.
        """
        ...


@runtime_checkable
class Masker(Protocol):
    """Draws context/target token index sets for a batch of clips."""

    def __call__(self, batch_size: int, grid: Grid, generator: torch.Generator) -> MaskBatch:
        """Return one or more ``(context [B, Kc], target [B, Kt])`` index pairs.

        Deterministic given ``generator``'s state; ``Kc``/``Kt`` are equal across the batch.
        """
        ...


@runtime_checkable
class Schedule(Protocol):
    """A value stepped during training: learning rate, weight decay, anything else."""

    def __call__(self, step: int) -> float:
        """The value at optimizer step ``step`` (0-based)."""
        ...


@runtime_checkable
class Loss(Protocol):
    """``loss(prediction [B, K, D], target [B, K, D]) -> scalar`` on target tokens; may define
    ``normalize_targets(target)`` (what the loss compares against, used by validation diagnostics)."""

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ...


@runtime_checkable
class Policy(Protocol):
    """A robot policy as the evaluator and the visualizers see it.

    Actions are in robot units (for SO-101 joint control: degrees for the five arm joints and
    the gripper opening in ``[0, 100]``), already post-processed (never normalised).
    """

    @property
    def action_names(self) -> Sequence[str]:
        """Names of the ``A`` action dimensions, in order."""
        ...

    @property
    def camera_names(self) -> Sequence[str]:
        """Task camera names the policy reads (after any camera mapping)."""
        ...

    def reset(self) -> None:
        """Clear internal state (action queues, history). Called at the start of every episode."""
        ...

    def act(self, observation: Observation) -> np.ndarray:
        """The next action ``[A]`` for ``observation``."""
        ...

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        """The whole predicted chunk, ``[num_samples, L, A]`` in robot units, without consuming it.

        Deterministic policies return identical samples; flow-matching policies draw
        ``num_samples`` noise samples (seeded by ``seed`` when given).
        """
        ...


@runtime_checkable
class PolicyEvaluator(Protocol):
    """Runs seeded episodes of a task and classifies every one of them."""

    def evaluate(self, policy: Policy, episodes: int, seed: int, **options: Any) -> EvalReport:
        """Evaluate ``policy`` on ``episodes`` seeded episodes (seeds ``seed, seed+1, ...``)."""
        ...


@runtime_checkable
class Visualizer(Protocol):
    """Turns a policy's rollout into pictures: frames, a video, metrics."""

    def visualize(
        self, policy: Policy, *, seed: int, out_dir: Path | None = None, **options: Any
    ) -> Mapping[str, Any]:
        """Roll ``policy`` out on episode ``seed`` and draw it.

        Returns at least ``{"frames": list of [H, W, 3] uint8 arrays, "metrics": list of dicts}``
        and, when ``out_dir`` is given, the paths of the files written there under ``"files"``.
        """
        ...
