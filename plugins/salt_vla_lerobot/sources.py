"""Where a LeRobot checkpoint comes from: a local directory or a Hub repository.

A SPEC source (``act:<source>``) is one of

- an existing directory (``outputs/train/act/checkpoints/last/pretrained_model``, ``~/ckpt``);
- ``local-dir:<path>``;
- a Hub id ``org/name`` (optionally ``hf-hub:org/name@revision``).

Hub ids are checked before anything is downloaded: a backslash or an extra path separator is how a
Windows path sneaks into a Hub id (LeRobot issue #2552), and it is refused with the corrected id.
"""

from __future__ import annotations

import os
from pathlib import Path

from salt_vla.weights import WeightSource, WeightSourceError, parse_source, resolve

CHECKPOINT_FILES = ("config.json", "model.safetensors", "*.json", "*.safetensors", "README.md")
"""What is fetched from a Hub repository: config, weights, processor configs and their statistics."""


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or (len(text) > 1 and text[1] == ":")  # C:\..., C:/...


def parse_checkpoint_source(source: str | os.PathLike[str]) -> WeightSource:
    """Parse a policy source into a :class:`~salt_vla.weights.WeightSource`.

    Raises:
        WeightSourceError: an empty source, a Hub id with backslashes or several ``/``, or a path that
            does not exist; the message gives the corrected spelling.
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str) or not source.strip():
        raise WeightSourceError(
            f"A LeRobot policy source is a directory or a Hub id 'org/name'; got {source!r}. "
            "Example: 'act:<org>/<repo>' or 'act:outputs/train/checkpoints/last/pretrained_model'."
        )
    text = source.strip()
    if text.startswith(("hf-hub:", "local-dir:")) or Path(text).expanduser().exists():
        return parse_source(text)
    if "\\" in text:
        fixed = text.replace("\\", "/")
        hint = f"'{fixed}'" if fixed.count("/") == 1 and not _looks_like_path(fixed) else "a path that exists"
        raise WeightSourceError(
            f"Policy source {text!r} contains a backslash and is not an existing directory. A Windows path "
            f"separator has turned a Hub id into a path (LeRobot issue #2552): write {hint}, or give a local "
            "directory as 'local-dir:<path>'."
        )
    if _looks_like_path(text) or text.count("/") != 1:
        if text.count("/") > 1 and not _looks_like_path(text):
            org, name = text.split("/")[:2]
            raise WeightSourceError(
                f"Policy source {text!r} is neither an existing directory nor a Hub id: a Hub id has exactly one "
                f"'/' ('{org}/{name}'). A sub-folder of a Hub repository is not a checkpoint source; download the "
                "repository and pass the local folder."
            )
        raise WeightSourceError(f"Policy source {text!r}: no such directory ({Path(text).expanduser().resolve()}).")
    return parse_source(f"hf-hub:{text}")


def checkpoint_dir(source: str | os.PathLike[str]) -> Path:
    """The local directory of a checkpoint, downloading a Hub repository (or reading it from the cache).

    Offline with nothing cached raises :class:`~salt_vla.weights.WeightSourceError` saying how to fix it.
    """
    parsed = parse_checkpoint_source(source)
    path = resolve(parsed, CHECKPOINT_FILES)
    if not path.is_dir():
        raise WeightSourceError(
            f"A LeRobot checkpoint is a directory (config.json, model.safetensors, policy_*processor.json); "
            f"{path} is a file. Pass the folder that holds it."
        )
    return path
