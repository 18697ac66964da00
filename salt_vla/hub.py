"""Checkpoint directories and the Hugging Face Hub.

A checkpoint directory holds ``config.json`` (library, format version, model type, architecture
config, free-form metadata such as the training config and probe results), ``model.safetensors``
and a generated ``README.md`` model card. ``from_pretrained`` accepts ``hf-hub:org/repo[@revision]``,
``local-dir:path`` or a plain path; it never unpickles anything.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelHubMixin
from torch import nn

from salt_vla.io import atomic_directory
from salt_vla.weights import WeightSourceError, check_state_dict, parse_source, resolve

LIBRARY = "salt-vla"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded as asked; the message names the file or field."""


@dataclass(frozen=True)
class ModelType:
    """How to rebuild one model class from its config dict."""

    name: str
    cls: type[nn.Module]
    build: Callable[[dict[str, Any]], nn.Module]


_MODEL_TYPES: dict[str, ModelType] = {}


def register_model_type(name: str, cls: type[nn.Module], build: Callable[[dict[str, Any]], nn.Module]) -> None:
    """Give ``cls`` a checkpoint format: ``config.json``'s ``model_type`` is ``name``, ``build(config)`` rebuilds it.

    The model modules call this when imported, so this module never imports them (no import cycle).
    """
    _MODEL_TYPES[name] = ModelType(name, cls, build)


def _model_types() -> dict[str, ModelType]:
    import_module("salt_vla.models")  # the shipped classes register when imported (once; a no-op afterwards)
    return _MODEL_TYPES


def model_type_of_class(cls: type) -> str:
    for name, spec in _model_types().items():
        if issubclass(cls, spec.cls):
            return name
    raise CheckpointError(f"{cls.__name__} has no checkpoint format; saveable types: "
                          f"{', '.join(t.cls.__name__ for t in _model_types().values())}.")


def model_type_of(model: nn.Module) -> str:
    for name, spec in _model_types().items():
        if isinstance(model, spec.cls):  # FSDP2 wraps classes in subclasses (FSDPVideoViT)
            return name
    raise CheckpointError(f"{type(model).__name__} has no checkpoint format; saveable types: "
                          f"{', '.join(t.cls.__name__ for t in _model_types().values())}.")


def _hub_id(value: Any) -> str | None:
    """``"org/name"`` of an ``hf-hub:org/name[@rev]`` string, else ``None``."""
    if isinstance(value, str) and value.startswith("hf-hub:"):
        try:
            return parse_source(value).repo_id
        except WeightSourceError:
            return None
    return None


def _hub_ids(tree: Any) -> list[str]:
    """Every ``hf-hub:`` id in a JSON-like tree, in order, once each."""
    found: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop(0)
        if isinstance(node, Mapping):
            stack[:0] = list(node.values())
        elif isinstance(node, list | tuple):
            stack[:0] = list(node)
        elif (repo := _hub_id(node)) and repo not in found:
            found.append(repo)
    return found


def _probe_results(meta: Mapping[str, Any], dataset: str, model_name: str) -> list[Any]:
    """Probe accuracies as model-index results (``{"time_arrow": 0.9}`` or ``{"time_arrow": {"accuracy": ...}}``)."""
    from huggingface_hub import EvalResult

    results = []
    for probe, value in (meta.get("probes") or {}).items():
        accuracy = value.get("accuracy") if isinstance(value, Mapping) else value
        if not isinstance(accuracy, int | float) or isinstance(accuracy, bool):
            continue
        results.append(EvalResult(
            task_type="video-classification", task_name=f"{probe} linear probe on frozen features",
            dataset_type=dataset, dataset_name=f"{dataset} (probe test split)",
            metric_type="accuracy", metric_name=f"{probe} probe accuracy", metric_value=float(accuracy),
        ))
    return results


def model_card(config: Mapping[str, Any], name: str) -> Any:
    """The ``README.md`` of a checkpoint as a :class:`huggingface_hub.ModelCard`.

    Its metadata: ``library_name``, ``license`` (``metadata["license"]``, default ``apache-2.0``), ``tags``,
    ``datasets`` (``metadata["datasets"]``, else the ``hf-hub:`` ids in the training data's arguments),
    ``base_model`` (``metadata["base_model"]``, else the ``hf-hub:`` teacher of a distilled student) and the
    probe accuracies (``metadata["probes"]``) as model-index results.
    """
    from huggingface_hub import ModelCard, ModelCardData

    meta = config.get("metadata") or {}
    training = meta.get("training_config") or {}
    data = training.get("data") or {}
    dataset = str(data.get("dataset") or meta.get("dataset") or "unspecified")
    teacher = training.get("teacher") or {}
    teacher_ids = _hub_ids(teacher.get("args") or {})
    base_model = meta.get("base_model") or (teacher_ids[0] if teacher_ids else None)
    datasets = list(meta.get("datasets") or _hub_ids(data.get("args") or {}))
    tags = [LIBRARY, "video", "self-supervised", "salt", str(config["model_type"])]
    if base_model:
        tags.append("distillation")
    results = _probe_results(meta, dataset, name)
    card_data = ModelCardData(
        library_name=LIBRARY, license=meta.get("license", "apache-2.0"), tags=tags, datasets=datasets or None,
        base_model=base_model, model_name=name if results else None, eval_results=results or None,
    )
    lines = [
        f"# {name}", "",
        f"A `{config['model_type']}` checkpoint made with salt-vla {config['library_version']}"
        + (f", a student distilled from the frozen teacher [`{base_model}`](https://huggingface.co/{base_model})"
           if base_model else "") + ".", "",
        "```python", f"from salt_vla.models import {_model_types()[config['model_type']].cls.__name__}", "",
        f'model = {_model_types()[config["model_type"]].cls.__name__}.from_pretrained("<org>/{name}")  # or a local directory',
        "# or: salt_vla.hub.from_pretrained(\"hf-hub:<org>/" + name + "\")", "```", "",
        "## Architecture", "", "```json", json.dumps(config["config"], indent=2), "```",
    ]
    if data:
        lines += ["", "## Training data", "", f"`{dataset}` with `{json.dumps(data.get('args') or {}, default=str)}`."]
    for title, key in (("Training configuration", "training_config"), ("Probe results", "probes"),
                       ("Diagnostics", "diagnostics")):
        if key in meta:
            lines += ["", f"## {title}", "", "```json", json.dumps(meta[key], indent=2, default=str), "```"]
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def save_pretrained(model: nn.Module, directory: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None,
                    architecture: str | None = None, state_dict: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``README.md`` to ``directory`` atomically.

    ``metadata`` (JSON-serialisable: training config, probe results, ...) is stored in ``config.json`` and shown
    in the model card. ``state_dict`` replaces ``model.state_dict()`` (e.g. a full state dict gathered from a
    sharded model). An existing directory is replaced only once the new one is complete.
    """
    from safetensors.torch import save_file

    import salt_vla

    config = {
        "library": LIBRARY,
        "format_version": FORMAT_VERSION,
        "library_version": salt_vla.__version__,
        "model_type": model_type_of(model),
        "architecture": architecture,
        "config": model.config.to_dict(),  # type: ignore[attr-defined]
        "metadata": dict(metadata or {}),
    }
    directory = Path(directory)
    source = model.state_dict() if state_dict is None else state_dict
    state = {k: v.detach().contiguous().cpu() for k, v in source.items()}
    with atomic_directory(directory) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str) + "\n")
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt", "library": LIBRARY})
        (tmp / CARD_FILE).write_text(str(model_card(config, architecture or directory.name)))
    return directory


def read_config(directory: Path) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory, validated against this library's format."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        # Only the checkpoint's own file names are reported: the path may be any folder (/etc), and an error
        # message must not list what an arbitrary folder holds.
        present = [name for name in (WEIGHTS_FILE, CARD_FILE) if (directory / name).is_file()]
        found = f" (of its files it has only {', '.join(present)})" if present else ""
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}{found}, so it is not a salt-vla checkpoint directory: "
                              f"one holds {CONFIG_FILE}, {WEIGHTS_FILE} and {CARD_FILE}, as "
                              "salt_vla.hub.save_pretrained writes them. Give the path of such a directory, or "
                              "'hf-hub:org/name' for one on the Hub.")
    config = json.loads(path.read_text())
    if config.get("library") != LIBRARY:
        raise CheckpointError(f"{path}: field 'library' is {config.get('library')!r}, expected {LIBRARY!r}; this checkpoint "
                              "was written by another library.")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: field 'format_version' is {version!r}; this salt-vla reads formats up to "
                              f"{FORMAT_VERSION}. Upgrade salt-vla (it was written by salt-vla {config.get('library_version')}).")
    if config.get("model_type") not in _model_types():
        raise CheckpointError(f"{path}: field 'model_type' is {config.get('model_type')!r}; known: {', '.join(_model_types())}.")
    return config


def local_checkpoint_dir(source: str | os.PathLike[str]) -> Path:
    """Resolve a checkpoint source to a local directory (downloading config, weights and card from the Hub)."""
    path = resolve(parse_source(source), filenames=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE])
    if path.is_file():
        path = path.parent
    return path


def from_pretrained(source: str | os.PathLike[str], *, expected_type: str | None = None,
                    map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model saved by :func:`save_pretrained` from ``hf-hub:org/repo[@rev]``, ``local-dir:path`` or a path."""
    from safetensors.torch import load_file

    directory = local_checkpoint_dir(source)
    config = read_config(directory)
    if expected_type is not None and config["model_type"] != expected_type:
        raise CheckpointError(f"{directory / CONFIG_FILE}: field 'model_type' is {config['model_type']!r}, but a "
                              f"{expected_type!r} was asked for.")
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{directory} has {CONFIG_FILE} but no {WEIGHTS_FILE}.")
    try:
        model = _model_types()[config["model_type"]].build(dict(config["config"]))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{directory / CONFIG_FILE}: field 'config' does not describe a valid "
                              f"{config['model_type']}: {error}") from error
    state = load_file(str(weights), device=str(map_location))
    check_state_dict(model, state, what=f"{config['model_type']} from {directory}")
    model.load_state_dict(state)
    model.pretrained_metadata = config.get("metadata", {})  # type: ignore[attr-defined]
    return model


def commit_operations(directory: str | os.PathLike[str]) -> list[Any]:
    """The ``CommitOperationAdd`` list that :func:`push_to_hub` sends: every file of a valid checkpoint dir."""
    from huggingface_hub import CommitOperationAdd

    directory = Path(directory)
    read_config(directory)
    if not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{directory} has no {WEIGHTS_FILE}; nothing to push.")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [CommitOperationAdd(path_in_repo=p.relative_to(directory).as_posix(), path_or_fileobj=str(p)) for p in files]


def push_to_hub(directory: str | os.PathLike[str], repo_id: str, *, token: str | None = None, private: bool = False,
                revision: str | None = None, commit_message: str = "Upload salt-vla checkpoint") -> str:
    """Create ``repo_id`` if needed and upload the checkpoint directory as one commit. Returns the commit URL."""
    from huggingface_hub import HfApi

    import salt_vla

    parse_source(f"hf-hub:{repo_id}")  # validates the id (no path separators, one '/')
    operations = commit_operations(directory)
    api = HfApi(token=token, library_name=LIBRARY, library_version=salt_vla.__version__)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.create_commit(repo_id, operations=operations, commit_message=commit_message, revision=revision)
    except _connection_errors() as error:
        raise HubUnreachableError(f"Cannot push {directory} to hf-hub:{repo_id}: {_unreachable(error)}. Nothing was "
                                  "uploaded; run the same command again once the Hub can be reached.") from error
    return str(getattr(info, "commit_url", info))


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises when the Hub cannot be reached: requests' errors up to 0.x, httpx's from 1.0,
    the built-in ``ConnectionError`` for ``HF_HUB_OFFLINE`` (``OfflineModeIsEnabled``)."""
    found: list[type[BaseException]] = [ConnectionError]
    for module, names in (("requests", ("ConnectionError", "Timeout")), ("httpx", ("TransportError",))):
        try:
            imported = import_module(module)
        except ImportError:
            continue
        found += [getattr(imported, name) for name in names if hasattr(imported, name)]
    return tuple(found)


class HubUnreachableError(ConnectionError):
    """The Hugging Face Hub could not be reached (no network, or ``HF_HUB_OFFLINE`` set); the message says which."""


def _unreachable(error: BaseException) -> str:
    """Why the Hub was not reached, in one line (requests wraps urllib3's reason in a ``MaxRetryError`` repr)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set, and pushing needs the network (unset HF_HUB_OFFLINE)"
    reason: Any = error.args[0] if error.args else error
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError -> NameResolutionError, ...
    text = str(reason)
    if "): " in text or ">: " in text:  # "HTTPSConnection(host=..., port=443): Failed to resolve ..."
        text = text.split("): " if "): " in text else ">: ", 1)[1]
    return (f"the Hub at {constants.ENDPOINT} could not be reached ({text.strip()}); check the network, "
            "or HF_ENDPOINT / HTTPS_PROXY if you set them")


PULL_STAGE_PREFIX = ".salt-vla-pull."
"""Name prefix of the staging directory a pull into an existing folder builds in (removed when done)."""


def _pull_target_problem(directory: Path, files: list[Path], source_name: str) -> str | None:
    """Why :func:`pull` must not write ``files`` into ``directory``; ``None`` when it may.

    It may when ``directory`` does not exist, is empty, or holds only files identical to the checkpoint's
    (an interrupted pull, or the same checkpoint pulled before): nothing in it would be lost.
    """
    if not directory.exists():
        return None
    if not directory.is_dir():
        return f"{directory} is a file; a pull writes a checkpoint folder: give the path of a new or empty folder"
    names = {path.name: path for path in files}
    others = []
    for entry in directory.iterdir():
        if entry.name.startswith(PULL_STAGE_PREFIX):  # what an interrupted pull left behind
            continue
        if entry.name not in names or not entry.is_file() or not filecmp.cmp(entry, names[entry.name], shallow=False):
            others.append(entry)
    if not others:
        return None
    return (f"{directory.absolute()} is not empty: it holds {len(others)} "
            f"{'entry' if len(others) == 1 else 'entries'} that {'is' if len(others) == 1 else 'are'} not this "
            "checkpoint's files, and a pull never overwrites or deletes what a folder holds. Pull into a new or empty "
            f"folder (e.g. {directory / source_name}), or delete or move {directory} first if you mean to replace it")


def pull(repo_id: str, directory: str | os.PathLike[str], *, revision: str | None = None) -> Path:
    """Download a checkpoint repository into ``directory`` (works offline from the local cache).

    ``directory`` is created, or must be empty: a folder holding anything else is refused with
    :class:`FileExistsError` before anything is written, so nothing in it is lost. (A folder that already holds
    this checkpoint's files, complete or from an interrupted pull, is completed.) A new folder appears whole
    or not at all; into an existing empty one (such as ``.``) the files are moved, ``config.json`` last.
    """
    source = local_checkpoint_dir(f"hf-hub:{repo_id}" + (f"@{revision}" if revision else ""))
    read_config(source)
    files = sorted(path for path in source.iterdir() if path.is_file())
    directory = Path(directory)
    problem = _pull_target_problem(directory, files, repo_id.rpartition("/")[2])
    if problem:
        raise (NotADirectoryError if directory.exists() and not directory.is_dir() else FileExistsError)(problem)
    if not directory.exists():
        with atomic_directory(directory) as tmp:
            for path in files:
                shutil.copy2(path, tmp / path.name)
        return directory
    for leftover in directory.glob(f"{PULL_STAGE_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(dir=directory, prefix=PULL_STAGE_PREFIX, suffix=".tmp"))
    try:
        missing = [path for path in files if not (directory / path.name).exists()]
        for path in missing:
            shutil.copy2(path, stage / path.name)
            with open(stage / path.name, "rb") as handle:
                os.fsync(handle.fileno())
        for path in sorted(missing, key=lambda p: p.name == CONFIG_FILE):  # config.json last: then it is whole
            os.replace(stage / path.name, directory / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return directory


class HubMixin(ModelHubMixin, library_name=LIBRARY, license="apache-2.0", tags=[LIBRARY, "video", "salt"],
               repo_url="https://github.com/salt-vla/salt-vla",
               docs_url="https://github.com/salt-vla/salt-vla/tree/main/docs"):
    """``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` as methods of the public model classes.

    huggingface_hub's :class:`~huggingface_hub.ModelHubMixin` with this module's format: the directory is
    the one :func:`save_pretrained` writes (``config.json`` with the library, format version and model type,
    ``model.safetensors``, the model card), and loading goes through :func:`from_pretrained` with all its
    checks. ``VideoViT.from_pretrained("org/name")`` (a Hub id, with ``revision=``) or a local directory;
    ``model.push_to_hub("org/name")`` saves to a temporary directory and uploads it as one commit.
    ``model.pretrained_metadata`` (set by loading, or by ``save_pretrained(..., metadata=...)``) is stored
    in ``config.json`` and shown in the model card.
    """

    def save_pretrained(self, save_directory: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None,
                        **kwargs: Any) -> str | None:
        if metadata is not None:
            self.pretrained_metadata = dict(metadata)
        return super().save_pretrained(save_directory, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        save_pretrained(self, save_directory, metadata=getattr(self, "pretrained_metadata", None))  # type: ignore[arg-type]

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, map_location: str | torch.device = "cpu",
                         **_hub_kwargs: Any) -> Any:
        # huggingface_hub passes download options and config.json's fields as keyword arguments; the
        # checkpoint itself says how to build the model, so only the source and device are used.
        source = model_id if os.path.isdir(model_id) else f"hf-hub:{model_id}" + (f"@{revision}" if revision else "")
        return from_pretrained(source, expected_type=model_type_of_class(cls), map_location=map_location)


__all__ = ["CheckpointError", "HubMixin", "HubUnreachableError", "WeightSourceError", "commit_operations", "from_pretrained", "model_card",
           "pull", "push_to_hub", "read_config", "save_pretrained"]
