"""Loading LeRobot policies across versions.

The calls the adapters make (``get_policy_class``, ``make_pre_post_processors``, ``PreTrainedConfig.from_pretrained``,
``predict_action_chunk``) kept their names between LeRobot 0.4.4 and >= 0.5; what differs:

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
- Processor steps of SmolVLA and Pi0 register only when their ``processor_<family>`` module is imported (>= 0.5).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable
from typing import Any

from salt_vla.lerobot_compat.versions import (
    LeRobotMissingError,
    LeRobotVersionError,
    lerobot_version,
    require_lerobot,
    version_text,
)

FLOW_MATCHING_FAMILIES = frozenset({"smolvla", "pi0", "pi05"})
PI_FAMILIES = frozenset({"pi0", "pi05"})
OWN_FAMILIES: dict[str, str] = {}
"""Policy types salt-vla's plugins add to LeRobot -> the module whose import registers each
(filled by :func:`register_own_family`; the lerobot plugin registers ``act_salt``)."""
_PI_TRANSFORMERS_MARKER = "transformers.models.siglip.check"
_INCORRECT_TRANSFORMERS = "incorrect transformer version"


def register_own_family(family: str, module: str) -> None:
    """Declare a policy type added to LeRobot by a salt-vla plugin: importing ``module`` registers its config class.

    Loading a checkpoint of that type then imports ``module`` first, as LeRobot's own families import theirs.
    """
    OWN_FAMILIES[family] = module


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


