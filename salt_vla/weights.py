"""Where weights come from and how they are read and checked.

Weight sources are explicit strings (timm style):

- ``hf-hub:org/repo`` or ``hf-hub:org/repo@revision``: a Hugging Face Hub repository;
- ``local-dir:path``: a directory on disk;
- a plain path to an existing file or directory.

Reading never unpickles arbitrary objects: ``.safetensors`` is preferred; ``.bin``/``.pth``/``.pt``
files are read with ``torch.load(weights_only=True)``, and only when the caller allows it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".bin", ".pth", ".pt")


class WeightSourceError(ValueError):
    """A weight source string or file that cannot be used as given."""


class StateDictMismatchError(ValueError):
    """A state dict that does not fit a model; the message lists every problem at once."""

    def __init__(self, message: str, missing: Sequence[str], unexpected: Sequence[str],
                 mismatched: Sequence[tuple[str, tuple[int, ...], tuple[int, ...]]]) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


@dataclass(frozen=True)
class WeightSource:
    """A parsed weight source: ``kind`` is ``"hf-hub"`` (with ``repo_id``/``revision``) or ``"local"``."""

    kind: str
    repo_id: str | None = None
    revision: str | None = None
    path: Path | None = None

    def __str__(self) -> str:
        if self.kind == "hf-hub":
            return f"hf-hub:{self.repo_id}" + (f"@{self.revision}" if self.revision else "")
        return f"local-dir:{self.path}"


def parse_source(source: str | os.PathLike[str]) -> WeightSource:
    """Parse a weight source string; raise :class:`WeightSourceError` with the fix when ambiguous."""
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str) or not source.strip():
        raise WeightSourceError(f"A weight source must be a non-empty string; got {source!r}.")
    text = source.strip()
    if text.startswith("hf-hub:"):
        repo, _, revision = text[len("hf-hub:"):].partition("@")
        if repo.count("/") != 1 or "\\" in repo or any(not part for part in repo.split("/")):
            raise WeightSourceError(
                f"Hub id {repo!r} in {source!r} must look like 'org/name' (one '/', no backslashes)."
                " A Windows path mangled into a Hub id looks like this; for a local folder write 'local-dir:<path>'."
            )
        return WeightSource("hf-hub", repo_id=repo, revision=revision or None)
    if text.startswith("local-dir:"):
        path = Path(text[len("local-dir:"):]).expanduser()
        if not path.exists():
            raise WeightSourceError(f"{source!r}: no such file or directory: {path}.")
        return WeightSource("local", path=path)
    path = Path(text).expanduser()
    if path.exists():
        return WeightSource("local", path=path)
    looks_like_hub = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    hint = f" If you meant the Hub repository, write 'hf-hub:{text}'." if looks_like_hub else ""
    raise WeightSourceError(f"Weight source {source!r} is neither an existing path nor 'hf-hub:org/name'.{hint}")


def resolve(source: str | os.PathLike[str] | WeightSource, filenames: Sequence[str] | None = None) -> Path:
    """A local path for ``source``: the file or directory itself, or a Hub snapshot directory.

    ``filenames`` (fnmatch patterns) limits what is downloaded from the Hub. Offline with nothing
    cached raises :class:`WeightSourceError` saying how to fix it, not a network stack trace.
    """
    parsed = source if isinstance(source, WeightSource) else parse_source(source)
    if parsed.kind == "local":
        assert parsed.path is not None
        return parsed.path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(
            snapshot_download(parsed.repo_id, revision=parsed.revision, allow_patterns=list(filenames) if filenames else None)
        )
    except LocalEntryNotFoundError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub could not be reached"
        raise WeightSourceError(
            f"Cannot get {parsed}: {why} and it is not in the local Hugging Face cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}). Download it once with network access "
            f"(`huggingface-cli download {parsed.repo_id}`), or pass a local copy as 'local-dir:<path>'."
        ) from error
    except HfHubHTTPError as error:
        raise WeightSourceError(f"Cannot get {parsed} from the Hub: {error}") from error


def find_weight_file(directory: Path, *, allow_torch: bool = False) -> Path:
    """The single weight file in ``directory``: ``model.safetensors`` first, then any ``*.safetensors``,
    then (only with ``allow_torch``) ``pytorch_model.bin`` / ``*.pth`` / ``*.pt``."""
    preferred = directory / "model.safetensors"
    if preferred.is_file():
        return preferred
    safetensors = sorted(directory.glob("*.safetensors"))
    if len(safetensors) == 1:
        return safetensors[0]
    if len(safetensors) > 1:
        raise WeightSourceError(
            f"{directory} holds several safetensors files ({', '.join(p.name for p in safetensors)}); "
            "pass the file you mean as the weight source."
        )
    torch_files = sorted(p for suffix in TORCH_SUFFIXES for p in directory.glob(f"*{suffix}"))
    if torch_files and not allow_torch:
        raise WeightSourceError(
            f"{directory} has only PyTorch pickle files ({', '.join(p.name for p in torch_files)}). They are read with "
            "torch.load(weights_only=True) only if you allow it: pass allow_torch=True, or convert to safetensors."
        )
    if len(torch_files) == 1:
        return torch_files[0]
    if torch_files:
        raise WeightSourceError(f"{directory} holds several weight files ({', '.join(p.name for p in torch_files)}); pass one.")
    raise WeightSourceError(f"No weight file (model.safetensors, *.safetensors, *.bin, *.pth) in {directory}.")


def load_state_dict(path: str | os.PathLike[str], *, allow_torch: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` file, or a ``.bin``/``.pth``/``.pt`` file when ``allow_torch``.

    PyTorch files go through ``torch.load(weights_only=True)``: tensors and plain containers only, never
    arbitrary objects. A directory is searched with :func:`find_weight_file`.
    """
    path = Path(path)
    if path.is_dir():
        path = find_weight_file(path, allow_torch=allow_torch)
    if path.suffix in SAFETENSORS_SUFFIXES:
        from safetensors.torch import load_file

        return load_file(path)
    if path.suffix in TORCH_SUFFIXES:
        if not allow_torch:
            raise WeightSourceError(
                f"{path.name} is a PyTorch pickle file; it is read (with torch.load(weights_only=True)) only when you "
                "pass allow_torch=True. Prefer safetensors."
            )
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise WeightSourceError(
                f"{path} could not be read with the weights-only loader ({type(error).__name__}: {error}). It may hold "
                "arbitrary pickled objects, which salt-vla refuses to load."
            ) from error
        if not isinstance(loaded, Mapping):
            raise WeightSourceError(f"{path} holds a {type(loaded).__name__}, not a state dict.")
        return dict(loaded)
    raise WeightSourceError(f"Unknown weight file type {path.suffix!r} ({path}); expected .safetensors, .bin, .pth or .pt.")


def unwrap_state_dict(state: Mapping[str, object], wrappers: Sequence[str] = ("model", "module", "state_dict")) -> dict:
    """Strip wrapping dicts (``{"model": {...}, "optimizer": ...}``) and a DDP ``module.`` key prefix."""
    state = dict(state)
    while not any(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in wrappers if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = dict(inner)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def describe_mismatch(expected: Mapping[str, torch.Size | tuple[int, ...]], given: Mapping[str, torch.Tensor]
                      ) -> tuple[list[str], list[str], list[tuple[str, tuple, tuple]]]:
    """Missing, unexpected and shape-mismatched keys of ``given`` against ``expected`` shapes."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = sorted(
        (k, tuple(given[k].shape), tuple(expected[k])) for k in set(expected) & set(given)
        if tuple(given[k].shape) != tuple(expected[k])
    )
    return missing, unexpected, mismatched


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], *, what: str | None = None,
                     hint: str = "") -> None:
    """Raise one :class:`StateDictMismatchError` listing every missing, unexpected and mis-shaped key."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing, unexpected, mismatched = describe_mismatch(expected, state)
    if not (missing or unexpected or mismatched):
        return
    name = what or type(model).__name__
    lines = [f"The state dict does not fit {name}:"]

    def listing(title: str, items: Sequence[str]) -> None:
        if items:
            shown = ", ".join(items[:12]) + (f", ... ({len(items) - 12} more)" if len(items) > 12 else "")
            lines.append(f"  {title} ({len(items)}): {shown}")

    listing("missing", missing)
    listing("unexpected", unexpected)
    listing("shape mismatch (checkpoint vs model)", [f"{k} {tuple(a)} vs {tuple(b)}" for k, a, b in mismatched])
    if hint:
        lines.append(f"  {hint}")
    raise StateDictMismatchError("\n".join(lines), missing, unexpected, mismatched)


def hash_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the names, shapes and float32 values of every tensor (sorted by name): a weights identity.

    Values are hashed as float32, so one set of numbers has one hash whatever dtype holds it (bfloat16 weights
    read into float32 hash like the bfloat16 weights themselves).
    """
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        if tensor.is_meta:
            raise ValueError(f"Cannot hash weights on the meta device ({name}); load or initialise them first.")
        values = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}|{tuple(values.shape)}|".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes() if values.numel() else b"")
    return digest.hexdigest()


class ModuleHash:
    """:func:`hash_state_dict` of a module, recomputed only when a tensor is replaced or edited in place."""

    def __init__(self) -> None:
        self._cached: tuple[tuple, str] | None = None

    def __call__(self, module: torch.nn.Module) -> str:
        state = module.state_dict()
        signature = tuple((k, v.dtype, v.data_ptr(), v._version) for k, v in sorted(state.items()))
        if self._cached is None or self._cached[0] != signature:
            self._cached = (signature, hash_state_dict(state))
        return self._cached[1]
