"""Every difference between LeRobot 0.4.4 and LeRobot >= 0.5 that the adapters meet, in one place.

LeRobot 0.4.4 runs on Python 3.11 (what CI has); LeRobot >= 0.5 needs Python >= 3.12 and mainline
transformers 5.x. The calls the adapters make (``get_policy_class``, ``make_pre_post_processors``,
``PreTrainedConfig.from_pretrained``, ``predict_action_chunk``) kept their names; what differs:

- Pi0 / Pi0.5 in 0.4.4 need a transformers fork that only exists on git: building the model raises
  ``ValueError("An incorrect transformer version is used ...")``. We check before building (the
  fork's marker module) and translate the late failure too, into :class:`LeRobotVersionError`.
- Pi0 / Pi0.5 in >= 0.5 call transformers internals (``create_causal_mask``) whose signature changes between
  minor releases: LeRobot 0.6.1 declares ``transformers>=5.4.0,<5.6.0`` for its ``pi`` extra, and with 5.17
  the first ``act()`` fails with a ``TypeError`` deep in the model. We read the range LeRobot declares in its
  own package metadata and refuse at load time when the installed transformers is outside it.
- ``PreTrainedPolicy.from_pretrained`` loads non-strictly in both; the adapter checks the keys itself.
- The flow-matching policies take their noise as ``predict_action_chunk(batch, noise=...)`` in both
  (0.4.4 SmolVLA names it; >= 0.5 Pi0 forwards ``**kwargs`` to ``sample_actions(noise=...)``).
- Training: both run ``lerobot.scripts.lerobot_train.train(TrainPipelineConfig)``; the config's fields
  differ (0.4.4 ``eval_freq`` is ``env_eval_freq`` in >= 0.5, which also adds dataloader fields such as
  ``persistent_workers``), so :func:`train_pipeline_config` translates the renamed ones and refuses a
  field the installed version lacks, naming the ones it has.

Nothing here imports LeRobot at module level: :func:`require_lerobot` does, with the install hint.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
from collections.abc import Iterable
from functools import cache
from typing import Any

from salt_vla.extras import LeRobotMissingError  # re-exported; shared with the so101 recorder

INSTALL_HINT = 'pip install "salt-vla[lerobot]"'
FLOW_MATCHING_FAMILIES = frozenset({"smolvla", "pi0", "pi05"})
PI_FAMILIES = frozenset({"pi0", "pi05"})
OWN_FAMILIES = {"act_salt": "salt_vla_lerobot.act_salt"}
"""Policy types salt-vla adds to LeRobot, and the package whose import registers each."""
_PI_TRANSFORMERS_MARKER = "transformers.models.siglip.check"
_INCORRECT_TRANSFORMERS = "incorrect transformer version"


class LeRobotVersionError(RuntimeError):
    """The installed LeRobot (or its transformers) cannot run the requested policy family."""


def require_lerobot() -> Any:
    """Import and return the ``lerobot`` package, or raise :class:`LeRobotMissingError` with the fix."""
    try:
        return importlib.import_module("lerobot")
    except ImportError as error:
        raise LeRobotMissingError(
            f"LeRobot policies need the `lerobot` extra, which is not installed ({error}). "
            f"Install it with: {INSTALL_HINT}"
        ) from error


@cache
def lerobot_version() -> tuple[int, int, int]:
    """The installed LeRobot version as ``(major, minor, patch)`` (pre-release tags dropped)."""
    raw = str(getattr(require_lerobot(), "__version__", "0.0.0"))
    parts = []
    for piece in raw.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def version_text() -> str:
    return ".".join(map(str, lerobot_version()))


def _pi_unsupported(family: str, cause: str) -> LeRobotVersionError:
    import sys

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return LeRobotVersionError(
        f"{family} cannot run with LeRobot {version_text()} on Python {python}: {cause}. "
        f"Pi0 and Pi0.5 need LeRobot >= 0.5, which needs Python >= 3.12 (it uses mainline transformers 5.x): "
        f'on Python >= 3.12 run `pip install "lerobot[pi]>=0.5" "salt-vla[lerobot]"`. ACT and SmolVLA work with '
        f"LeRobot {version_text()}."
    )


def check_family_supported(family: str) -> None:
    """Raise :class:`LeRobotVersionError` early when ``family`` cannot be built with this LeRobot.

    LeRobot 0.4.4's Pi0/Pi0.5 build a 3B-parameter model before they notice the missing transformers
    fork; this check looks for the fork's marker module first, so the user waits for nothing.
    """
    if family not in PI_FAMILIES:
        return
    if lerobot_version() >= (0, 5, 0):
        check_transformers_declared(family, extra="pi")
        return
    try:
        marker = importlib.import_module(_PI_TRANSFORMERS_MARKER)
        ok = bool(marker.check_whether_transformers_replace_is_installed_correctly())
    except Exception:
        ok = False
    if not ok:
        raise _pi_unsupported(family, "its modeling code needs a transformers fork that only exists on git "
                                      "(LeRobot raises 'An incorrect transformer version is used')")


def declared_requirement(requirements: Iterable[str], extra: str, name: str = "transformers",
                         package: str = "lerobot") -> str | None:
    """The version range of ``name`` that ``package[extra]`` requires (e.g. ``">=5.4.0,<5.6.0"``), or None.

    ``requirements`` are the package's ``Requires-Dist`` lines; self-references such as
    ``lerobot[transformers-dep]; extra == "pi"`` are followed. None when the extra does not name ``name``.
    """
    from packaging.requirements import Requirement

    parsed = [Requirement(line) for line in requirements]
    seen: set[str] = set()
    pending = [extra]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in parsed:
            if requirement.marker is None or not requirement.marker.evaluate({"extra": current}):
                continue
            if requirement.name == name:
                return str(requirement.specifier)
            if requirement.name == package:
                pending.extend(requirement.extras)
    return None


def check_transformers_declared(family: str, extra: str, *, requirements: Iterable[str] | None = None,
                                installed: str | None = None) -> None:
    """Raise :class:`LeRobotVersionError` when transformers is outside the range ``lerobot[extra]`` declares.

    Args:
        requirements: LeRobot's ``Requires-Dist`` lines (default: the installed LeRobot's metadata).
        installed: the transformers version (default: the installed one).
    """
    from packaging.specifiers import SpecifierSet

    try:
        lines = list(requirements) if requirements is not None else importlib.metadata.requires("lerobot") or []
        installed = installed or importlib.metadata.version("transformers")
    except importlib.metadata.PackageNotFoundError as error:
        raise LeRobotVersionError(f"{family} needs transformers, which is not installed ({error}). Install it "
                                  f'with: pip install "lerobot[{extra}]"') from error
    wanted = declared_requirement(lines, extra)
    if wanted and not SpecifierSet(wanted).contains(installed, prereleases=True):
        raise LeRobotVersionError(
            f"{family} with LeRobot {version_text()} needs transformers{wanted} (what `lerobot[{extra}]` declares), "
            f"but transformers {installed} is installed: its model code calls transformers internals that change "
            f"between releases (with 5.17, create_causal_mask rejects `cache_position`). Fix: pip install "
            f'"transformers{wanted}" (and the tokenizers version it asks for).'
        )


def get_policy_class(family: str) -> type:
    """LeRobot's ``PreTrainedPolicy`` subclass for ``family`` (``"act"``, ``"act_salt"``, ``"smolvla"``, ``"pi0"``...)."""
    register_family(family)
    check_family_supported(family)
    from lerobot.policies.factory import get_policy_class as lerobot_get_policy_class

    try:
        return lerobot_get_policy_class(family)
    except ImportError as error:
        extra = "smolvla" if family == "smolvla" else ("pi" if family in PI_FAMILIES else family)
        raise LeRobotMissingError(
            f"LeRobot {version_text()} cannot import the {family!r} policy ({error}). Install its extra: "
            f'pip install "lerobot[{extra}]"'
        ) from error


def load_policy(policy_class: type, path: str, config: Any) -> Any:
    """``policy_class.from_pretrained(path, config=config)``, translating the Pi0 transformers failure."""
    try:
        return policy_class.from_pretrained(path, config=config)
    except ValueError as error:
        if _INCORRECT_TRANSFORMERS in str(error):
            raise _pi_unsupported(getattr(config, "type", "pi0"), str(error)) from error
        raise


def register_family(family: str) -> None:
    """Import what registers ``family``'s config class and processor steps with LeRobot.

    Reading ``config.json`` needs the config class registered (``lerobot.policies`` does that), and
    reading the processor JSON needs the family's custom steps (SmolVLA's and Pi0's newline steps), which
    LeRobot >= 0.5 registers only when ``lerobot.policies.<family>.processor_<family>`` is imported.
    salt-vla's own types (:data:`OWN_FAMILIES`) register when their package is imported.
    """
    require_lerobot()
    importlib.import_module("lerobot.policies")
    if family in OWN_FAMILIES:
        importlib.import_module(OWN_FAMILIES[family])
        return
    try:
        importlib.import_module(f"lerobot.policies.{family}.processor_{family}")
    except ImportError:  # no custom steps for this family in this version
        pass


def load_config(path: str, family: str) -> Any:
    """The policy's ``PreTrainedConfig`` subclass instance read from ``path/config.json``."""
    register_family(family)
    from lerobot.configs.policies import PreTrainedConfig

    return PreTrainedConfig.from_pretrained(path)


def load_processors(config: Any, path: str, *, device: str) -> tuple[Any, Any]:
    """The checkpoint's saved ``(preprocessor, postprocessor)``, with the device step set to ``device``.

    A checkpoint trained on a GPU saves ``device_processor: cuda``; overriding it is what lets the same
    directory run on a CPU-only machine (and the other way round).
    """
    register_family(str(config.type))
    from lerobot.policies.factory import make_pre_post_processors

    return make_pre_post_processors(
        config,
        pretrained_path=path,
        preprocessor_overrides={"device_processor": {"device": device}},
    )


def predict_action_chunk(policy: Any, batch: dict[str, Any], noise: Any | None) -> Any:
    """``policy.predict_action_chunk(batch)``, passing ``noise`` to flow-matching policies.

    Returns ``[B, L, A]`` *normalised* actions (the postprocessor is applied by the caller).
    """
    if noise is None:
        return policy.predict_action_chunk(batch)
    return policy.predict_action_chunk(batch, noise=noise)


# ------------------------------------------------------------------------------------------------ training

_RENAMED_TRAIN_FIELDS = {"eval_freq": "env_eval_freq"}
"""``TrainPipelineConfig`` fields by their LeRobot 0.4.4 name -> their name in LeRobot >= 0.5."""


def make_policy_config(family: str, **fields: Any) -> Any:
    """A fresh ``PreTrainedConfig`` of ``family`` (``"act"``, ...) with ``fields`` set (LeRobot's factory).

    Input/output features are left empty: LeRobot's trainer fills them from the dataset.
    """
    register_family(family)
    if family in OWN_FAMILIES:  # built directly: LeRobot's factory would hide the config's own error message
        from lerobot.configs.policies import PreTrainedConfig

        return PreTrainedConfig.get_choice_class(family)(**fields)
    from lerobot.policies.factory import make_policy_config as lerobot_make_policy_config

    return lerobot_make_policy_config(family, **fields)


def train_pipeline_config(
    dataset_root: str | os.PathLike[str], policy_config: Any, *, repo_id: str, **fields: Any
) -> Any:
    """LeRobot's ``TrainPipelineConfig``: train ``policy_config`` on the local dataset at ``dataset_root``.

    This is what ``lerobot-train --dataset.root=... --policy.type=...`` builds from its command line.
    Videos are decoded with PyAV (torchcodec needs a system FFmpeg). ``fields`` are other
    ``TrainPipelineConfig`` fields (``steps``, ``batch_size``, ``output_dir``...), by either version's name.

    Raises:
        ValueError: a field this LeRobot's ``TrainPipelineConfig`` does not have (all of them, with the valid names).
    """
    require_lerobot()
    from lerobot.configs.default import DatasetConfig
    from lerobot.configs.train import TrainPipelineConfig

    names = {f.name for f in dataclasses.fields(TrainPipelineConfig) if f.init}
    renamed = {**_RENAMED_TRAIN_FIELDS, **{new: old for old, new in _RENAMED_TRAIN_FIELDS.items()}}
    settings: dict[str, Any] = {}
    unknown = []
    for key, value in fields.items():
        name = key if key in names else renamed.get(key, key)
        if name in names:
            settings[name] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"LeRobot {version_text()}'s TrainPipelineConfig has no field(s) {unknown}; "
                         f"valid fields: {sorted(names)}.")
    dataset = DatasetConfig(repo_id=repo_id, root=str(dataset_root), video_backend="pyav")
    return TrainPipelineConfig(dataset=dataset, policy=policy_config, **settings)


def run_training(config: Any) -> None:
    """Run LeRobot's training loop (``lerobot.scripts.lerobot_train.train``) on a ``TrainPipelineConfig``.

    It writes ``<output_dir>/checkpoints/<step>/pretrained_model`` every ``save_freq`` steps and after
    the last one, and points ``checkpoints/last`` at the newest complete checkpoint.
    """
    require_lerobot()
    from lerobot.scripts.lerobot_train import train

    train(config)


def _query_owner() -> type:
    """The class whose ``_query_hf_dataset`` serves a sample's extra frames (LeRobot >= 0.5: ``DatasetReader``)."""
    try:
        from lerobot.datasets.dataset_reader import DatasetReader
    except ImportError:
        from lerobot.datasets.lerobot_dataset import LeRobotDataset as DatasetReader
    return DatasetReader


def enable_column_queries() -> None:
    """Serve ``delta_timestamps`` queries of numeric features (ACT's action chunk) from a cached column.

    LeRobot reads the chunk as ``hf_dataset[key][indices]``; with the ``datasets`` versions LeRobot installs that
    raises, and its fallback ``hf_dataset[indices][key]`` fetches whole rows: in a dataset whose frames are
    images every one of the chunk's rows decodes both camera images first (measured on an H200: 71 ms a sample
    for ACT's 50-action chunk, so 10 loader workers fed 2 steps/s to a 23 steps/s model).

    After this call every dataset reader built in this process is a :class:`ColumnCachedReader`, which reads
    each numeric column once (a ``[frames, ...]`` tensor per process) and indexes it; image and video
    features keep LeRobot's own path, and the values are LeRobot's (tested against its own query). The class
    travels with the dataset when LeRobot pickles it to spawned dataloader workers (LeRobot >= 0.5 spawns
    them), so the workers, which never ran this function, use it too.
    """
    owner = _query_owner()
    if getattr(owner.__init__, "_salt_vla_columns", False):
        return
    original_init = owner.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if type(self) is owner:
            self.__class__ = column_cached_reader()

    __init__._salt_vla_columns = True  # type: ignore[attr-defined]
    owner.__init__ = __init__


_COLUMN_CACHED: type | None = None


def column_cached_reader() -> type:
    """The installed LeRobot's dataset reader with numeric ``delta_timestamps`` queries served from columns."""
    global _COLUMN_CACHED
    if _COLUMN_CACHED is not None:
        return _COLUMN_CACHED
    import numpy as np
    import torch

    owner = _query_owner()

    def _query_hf_dataset(self: Any, query_indices: dict[str, list[int]]) -> dict:
        features = (getattr(self, "_meta", None) or self.meta).features
        numeric = {k: v for k, v in query_indices.items()
                   if features.get(k, {}).get("dtype") not in ("image", "video", "string")}
        rest = {k: v for k, v in query_indices.items() if k not in numeric}
        result = owner._query_hf_dataset(self, rest) if rest else {}
        cache = self.__dict__.setdefault("_salt_vla_columns", {})
        mapping = self._absolute_to_relative_idx
        for key, indices in numeric.items():
            if key not in cache:
                rows = self.hf_dataset.select_columns([key]).with_format("numpy")[:][key]
                cache[key] = torch.from_numpy(np.stack(rows) if rows.dtype == object else np.asarray(rows))
            result[key] = cache[key][indices if mapping is None else [mapping[i] for i in indices]]
        return result

    def __getstate__(self: Any) -> dict:
        state = self.__dict__.copy()
        state.pop("_salt_vla_columns", None)  # each process reads its own columns, nothing large is pickled
        return state

    _COLUMN_CACHED = type("ColumnCachedReader", (owner,), {
        "__module__": __name__, "__qualname__": "ColumnCachedReader",
        "_query_hf_dataset": _query_hf_dataset, "__getstate__": __getstate__,
        "__doc__": "LeRobot's dataset reader; numeric delta queries read a cached column (enable_column_queries).",
    })
    return _COLUMN_CACHED


def __getattr__(name: str) -> Any:
    # Unpickling a reader in a spawned dataloader worker looks the class up by name.
    if name == "ColumnCachedReader":
        return column_cached_reader()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
