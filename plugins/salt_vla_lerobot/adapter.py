"""The :class:`~salt_vla.interfaces.Policy` adapter around a loaded LeRobot policy and its processors.

One step of :meth:`LeRobotPolicy.act`::

    Observation (uint8 [H, W, 3] images by task camera, state [S], task string)
      -> batch {"observation.images.<policy cam>": float [3, H, W] in [0, 1], "observation.state": [S], "task"}
      -> the checkpoint's preprocessor (batch dim, device, normalisation, tokenisation)
      -> LeRobot's select_action (its action queue, temporal ensembling if configured)  [1, A] normalised
      -> the checkpoint's postprocessor (unnormalisation, back to CPU)                 [1, A] robot units

:meth:`LeRobotPolicy.predict_chunk` runs ``predict_action_chunk`` instead, which leaves the queue alone,
and post-processes the whole chunk; flow-matching policies draw ``num_samples`` noise tensors (seeded).

A policy whose config asks for past observations (``observation_delta_indices`` of ``n`` steps, e.g. ``act_salt``
on a video encoder) gets them here, as LeRobot's dataset gave them in training: images ``[1, n, 3, H, W]`` and
state ``[1, n, S]``, oldest first. An observation joins the history the first time the adapter sees it, so
``predict_chunk`` then ``act`` on the same observation (whiskers), or ``predict_chunk`` alone at every step
(temporal ensembling), both advance it by one frame; an episode's first frames are padded with its first
observation, as LeRobot pads the start of an episode.

Build one with :func:`salt_vla_lerobot.loading.load_lerobot_policy` or ``salt_vla.create_policy("act:...")``.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from salt_vla import lerobot_compat
from salt_vla.robot import Observation
from salt_vla_lerobot.checks import ACTION_KEY, DEPTH_SUFFIX, IMAGE_PREFIX, STATE_KEY


class ImageResizeWarning(UserWarning):
    """A task camera renders at a different size than the policy was trained on; frames are resized."""


@dataclass(frozen=True)
class ImageInput:
    """One image input of the policy: its feature key, the task camera feeding it, its ``(C, H, W)``."""

    key: str
    camera: str
    shape: tuple[int, int, int]
    depth: bool = False


class LeRobotPolicy:
    """A LeRobot ``PreTrainedPolicy`` with its saved pre/post-processors, as a salt-vla ``Policy``.

    Args:
        policy: the loaded LeRobot policy (in eval mode, on ``device``).
        preprocessor, postprocessor: the checkpoint's ``PolicyProcessorPipeline`` pair.
        family: ``"act"``, ``"smolvla"``, ``"pi0"`` or ``"pi05"``.
        source: where it was loaded from (for messages).
        camera_map: policy camera -> task camera (``None``: left out, LeRobot pads it).
        action_names: names of the ``A`` action dimensions in robot units.
        device: torch device the model runs on.
    """

    def __init__(
        self,
        policy: Any,
        preprocessor: Any,
        postprocessor: Any,
        *,
        family: str,
        source: str,
        camera_map: Mapping[str, str | None],
        action_names: Sequence[str],
        device: str,
    ) -> None:
        self.policy = policy
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.family = family
        self.source = source
        self.device = device
        self.camera_map = dict(camera_map)
        self._action_names = tuple(action_names)
        config = policy.config
        self.chunk_size = int(config.chunk_size)
        self.n_action_steps = int(config.n_action_steps)
        self.stochastic = family in lerobot_compat.FLOW_MATCHING_FAMILIES
        self.inputs = self._image_inputs(config.input_features)
        state = config.input_features.get(STATE_KEY)
        self.state_dim = int(state.shape[0]) if state is not None else None
        self.frames = observation_frames(config)
        self._history: deque[dict[str, torch.Tensor]] = deque(maxlen=self.frames)
        self._last_seen: Observation | None = None
        self._warned_sizes: set[str] = set()

    def _image_inputs(self, features: Mapping[str, Any]) -> list[ImageInput]:
        inputs = []
        for key, feature in features.items():
            if not key.startswith(IMAGE_PREFIX):
                continue
            name = key[len(IMAGE_PREFIX):]
            depth = name.endswith(DEPTH_SUFFIX)
            base = name[: -len(DEPTH_SUFFIX)] if depth else name
            camera = self.camera_map.get(base, base)
            if camera is None:
                continue
            inputs.append(ImageInput(key, camera, tuple(int(d) for d in feature.shape), depth))
        return inputs

    # --------------------------------------------------------------------------------------- Policy API

    @property
    def action_names(self) -> tuple[str, ...]:
        return self._action_names

    @property
    def camera_names(self) -> tuple[str, ...]:
        """Task cameras read, in the policy's input order: ``<camera>`` for RGB, ``<camera>_depth`` for depth.

        This is the SO-101 task's convention (the evaluator renders exactly these, depth only for the
        ``_depth`` names).
        """
        return tuple(dict.fromkeys(i.camera + (DEPTH_SUFFIX if i.depth else "") for i in self.inputs))

    @property
    def depth_cameras(self) -> tuple[str, ...]:
        """Task cameras whose depth map the policy reads."""
        return tuple(dict.fromkeys(i.camera for i in self.inputs if i.depth))

    def reset(self) -> None:
        """Clear LeRobot's action queue (and ACT's temporal ensembler) and the observation history.

        Call at every episode start."""
        self.policy.reset()
        self._history.clear()
        self._last_seen = None

    @torch.no_grad()
    def act(self, observation: Observation) -> np.ndarray:
        """The next action ``[A]`` (float32, robot units), from LeRobot's own action queue."""
        batch = self.preprocess(observation)
        action = self.postprocessor(self.policy.select_action(batch))
        return self._to_numpy(action)[0]

    @torch.no_grad()
    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        """The full predicted chunk ``[num_samples, L, A]`` in robot units; the action queue is untouched.

        ACT is deterministic: its samples are identical. Flow-matching policies draw one noise tensor per
        sample, from ``seed`` when given (the same seed gives the same samples on any device) and from
        torch's global generator otherwise.
        """
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int; got {num_samples!r}.")
        batch = self.preprocess(observation)
        if self.stochastic:
            noise = self.noise(num_samples, seed) if seed is not None else None
            chunk = lerobot_compat.predict_action_chunk(self.policy, repeat_batch(batch, num_samples), noise)
        else:
            chunk = lerobot_compat.predict_action_chunk(self.policy, batch, None).expand(num_samples, -1, -1)
        return self._to_numpy(self.postprocessor(chunk))

    # --------------------------------------------------------------------------------------- helpers

    def noise(self, num_samples: int, seed: int) -> torch.Tensor:
        """Flow-matching noise ``[num_samples, L, max_action_dim]`` from a CPU generator seeded with ``seed``."""
        config = self.policy.config
        shape = (num_samples, self.chunk_size, int(config.max_action_dim))
        generator = torch.Generator().manual_seed(int(seed))
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device)

    def to_batch(self, observation: Observation) -> dict[str, Any]:
        """The raw (unprocessed) LeRobot batch for ``observation``: float CHW images in ``[0, 1]``, state, task."""
        if not isinstance(observation, Observation):
            raise TypeError(f"{self.family} policy expects a salt_vla.robot.Observation; got {type(observation).__name__}.")
        batch: dict[str, Any] = {"task": observation.task}
        for image_input in self.inputs:
            batch[image_input.key] = self._image(observation, image_input)
        if self.state_dim is not None:
            state = np.asarray(observation.state, dtype=np.float32)
            if state.shape != (self.state_dim,):
                raise ValueError(
                    f"{self.family}:{self.source} reads a {self.state_dim}-dimensional state; the observation's state has "
                    f"shape {state.shape}."
                )
            batch[STATE_KEY] = torch.from_numpy(state.copy())
        return batch

    def preprocess(self, observation: Observation) -> dict[str, Any]:
        """``observation`` through the checkpoint's preprocessor: the batch the model sees (on ``device``)."""
        batch = self.to_batch(observation)
        if self.frames > 1:
            batch = self._with_history(observation, batch)
        return self.preprocessor(batch)

    def _with_history(self, observation: Observation, batch: dict[str, Any]) -> dict[str, Any]:
        """``batch`` with every tensor replaced by the last ``frames`` of it, ``[1, frames, ...]``, oldest first."""
        current = {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}
        if observation is not self._last_seen:
            self._history.append(current)
            self._last_seen = observation
        steps = list(self._history)
        steps = [steps[0]] * (self.frames - len(steps)) + steps
        return {**batch, **{key: torch.stack([step[key] for step in steps])[None] for key in current}}

    def _image(self, observation: Observation, image_input: ImageInput) -> torch.Tensor:
        source = observation.depth if image_input.depth else observation.images
        kind = "depth map" if image_input.depth else "image"
        if image_input.camera not in source:
            raise KeyError(
                f"{self.family}:{self.source} reads the {kind} of task camera {image_input.camera!r} (for "
                f"{image_input.key}); the observation has {kind}s of {sorted(source) or 'no camera'}. Render that "
                "camera in the task, or change camera_map."
            )
        array = np.asarray(source[image_input.camera])
        if image_input.depth:  # [H, W] metres -> [C, H, W]
            tensor = torch.from_numpy(array.astype(np.float32, copy=True))[None].expand(image_input.shape[0], -1, -1)
        else:  # [H, W, 3] uint8 -> [3, H, W] float in [0, 1]
            tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)
        height, width = image_input.shape[1:]
        if tuple(tensor.shape[1:]) != (height, width):
            if image_input.key not in self._warned_sizes:
                self._warned_sizes.add(image_input.key)
                warnings.warn(
                    f"Task camera {image_input.camera!r} renders {tensor.shape[1]}x{tensor.shape[2]} but "
                    f"{image_input.key} was trained at {height}x{width}; frames are resized (bilinear). Render the "
                    f"task at {height}x{width} to evaluate what was trained.",
                    ImageResizeWarning,
                    stacklevel=4,
                )
            tensor = F.interpolate(tensor[None], size=(height, width), mode="bilinear", antialias=True,
                                   align_corners=False)[0]
        return tensor.contiguous()

    @staticmethod
    def _to_numpy(action: Any) -> np.ndarray:
        if isinstance(action, Mapping):  # a postprocessor configured to return a dict
            action = action[ACTION_KEY]
        return action.detach().to("cpu", torch.float32).numpy()

    def describe(self) -> dict[str, Any]:
        """What was loaded, for logs and reports."""
        return {
            "family": self.family,
            "source": self.source,
            "device": self.device,
            "lerobot": lerobot_compat.version_text(),
            "chunk_size": self.chunk_size,
            "n_action_steps": self.n_action_steps,
            "observation_frames": self.frames,
            "stochastic": self.stochastic,
            "camera_map": self.camera_map,
            "inputs": {i.key: {"camera": i.camera, "shape": list(i.shape), "depth": i.depth} for i in self.inputs},
            "action_names": list(self.action_names),
            "parameters": sum(p.numel() for p in self.policy.parameters()),
        }

    def __repr__(self) -> str:
        return (f"LeRobotPolicy({self.family}:{self.source}, device={self.device}, chunk={self.chunk_size}, "
                f"cameras={self.camera_map})")


def observation_frames(config: Any) -> int:
    """Observation steps a policy reads: ``len(config.observation_delta_indices)`` (1 when it has none).

    Raises:
        ValueError: indices other than consecutive steps up to the present (``[-n + 1, ..., 0]``).
    """
    indices = getattr(config, "observation_delta_indices", None)
    if not indices:
        return 1
    frames = len(indices)
    if list(indices) != list(range(1 - frames, 1)):
        raise ValueError(f"The policy reads observations at steps {list(indices)}; salt-vla's adapter keeps consecutive "
                         "steps up to the present only ([-n + 1, ..., 0]).")
    return frames


def repeat_batch(batch: Mapping[str, Any], n: int) -> dict[str, Any]:
    """Repeat every batch-of-one entry ``n`` times (tensors along dim 0, one-element lists)."""
    if n == 1:
        return dict(batch)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == 1:
            out[key] = value.repeat(n, *([1] * (value.ndim - 1)))
        elif isinstance(value, list) and len(value) == 1:
            out[key] = value * n
        else:
            out[key] = value
    return out
