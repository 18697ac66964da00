"""Typed configuration: dataclasses filled from YAML plus ``a.b.c=value`` command-line overrides.

Every problem is collected and reported at once (unknown keys with the closest valid name, wrong
types, missing required fields, and each dataclass's own ``validate()`` checks), so a run never dies
on the third typo after fixing the first two. :func:`to_dict` gives back a plain dict to write next
to a run's outputs.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """One or more configuration problems; ``problems`` lists them, the message shows them all."""

    def __init__(self, problems: Sequence[str], source: str = "configuration") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the {source}:\n{lines}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, path: str, problems: list[str]) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            trial: list[str] = []
            converted = _convert(value, option, path, trial)
            if not trial:
                return converted
        problems.append(f"{path}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
        return value
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{path}: {value!r} is not one of {', '.join(repr(a) for a in args)}{hint}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping of {tp.__name__} fields, got {value!r}")
            return value
        return _build(tp, value, path, problems)
    if origin in (list, Sequence) or tp in (list,):
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list, got {value!r}")
            return value
        item = args[0] if args else Any
        return [_convert(v, item, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: expected a list of {len(args)} values, got {value!r}")
            return value
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]", problems) for i, v in enumerate(value))
        if len(value) != len(args):
            problems.append(f"{path}: expected {len(args)} values, got {len(value)}: {value!r}")
            return value
        return tuple(_convert(v, a, f"{path}[{i}]", problems) for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a mapping, got {value!r}")
            return value
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            problems.append(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number, got {value!r}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string, got {value!r}")
        return value
    if tp is Path:
        return Path(value) if isinstance(value, (str, Path)) else value
    return value


def _build(cls: type[T], data: Mapping[str, Any], path: str, problems: list[str]) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
            problems.append(f"{path}.{key}: unknown key{hint}".lstrip("."))
    kwargs = {}
    for name, field in fields.items():
        where = f"{path}.{name}".lstrip(".")
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], where, problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append(f"{where}: required, but not given")
    try:
        instance = cls(**kwargs)
    except (TypeError, ValueError) as error:
        problems.append(f"{path or cls.__name__}: {error}")
        return None  # type: ignore[return-value]
    return instance


def _validate_tree(obj: Any, path: str, problems: list[str]) -> None:
    if not dataclasses.is_dataclass(obj):
        return
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            found = check()
        except (TypeError, ValueError, AttributeError):  # a field of the wrong type, already reported
            found = []
        problems.extend(f"{path}: {p}".lstrip(": ") if path else p for p in found)
    for field in dataclasses.fields(obj):
        _validate_tree(getattr(obj, field.name), f"{path}.{field.name}".lstrip("."), problems)


def from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "configuration") -> T:
    """Build ``cls`` from nested mappings, raising one :class:`ConfigError` with every problem found."""
    problems: list[str] = []
    instance = _build(cls, data, "", problems)
    if instance is not None:  # range checks too, in the same pass as type errors (those sections are skipped)
        _validate_tree(instance, "", problems)
    if problems:
        raise ConfigError(problems, source)
    return instance


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=3e-4"`` -> ``(["optim", "lr"], 0.0003)``; the value is parsed as YAML (lists, numbers, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError([f"override {text!r}: expected key.path=value"], "command line")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError([f"override {text!r}: the value {raw!r} is not valid YAML ({_yaml_problem(error)}); close "
                           "the bracket or quote (e.g. optim.betas=[0.9,0.95]), or quote the whole value "
                           f"('{key.strip()}=\"...\"') to give it as a string"], "command line") from None
    return key.strip().split("."), _yaml_number(value)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's problem in one line: ``"expected ',' or ']', but got '<stream end>' at line 1, column 5"``."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    context = getattr(error, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return (f"{context}: " if context else "") + f"{problem}{where}"


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _yaml_number(value: Any) -> Any:
    """PyYAML (YAML 1.1) reads ``3e-4`` as a string; read scientific notation as a float everywhere."""
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: _yaml_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml_number(v) for v in value]
    return value


def merge_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides to a nested dict (a new dict is returned)."""
    merged = _deep_copy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = merged
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError([f"override {text!r}: {key!r} is not a section"], "command line")
        node[keys[-1]] = value
    return merged


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Read ``cls`` from a YAML file (optional) with ``key.path=value`` overrides applied on top."""
    data: dict[str, Any] = {}
    source = "configuration"
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError([f"config file {str(path)!r} does not exist"])
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError([f"{path} is not valid YAML: {_yaml_problem(error)}. Fix the file there (an unclosed "
                               "bracket or quote, a tab in the indentation, a missing ':' are the usual causes)"]) from None
        if not isinstance(loaded, dict):
            raise ConfigError([f"{path}: the top level must be a mapping of sections, got {type(loaded).__name__}"])
        data = _yaml_number(loaded)
        source = f"config {path}"
    return from_dict(cls, merge_overrides(data, overrides), source=source + (" with overrides" if overrides else ""))


def to_dict(config: Any) -> Any:
    """Plain, YAML/JSON-friendly dict of a config dataclass (tuples become lists, paths strings)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
