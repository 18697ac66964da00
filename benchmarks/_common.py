"""Shared by every benchmark: machine description, timing helpers and JSON output.

A benchmark prints one JSON object (machine, date, versions, figures) and, with ``--save``, also
writes it to ``benchmarks/results/<name>-<machine>-<date>.json``. Tests never assert on timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Host, CPU, accelerator and library versions."""
    from salt_vla.quickstart import cpu_model

    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    for name in ("timm", "transformers", "mujoco", "lerobot", "av", "salt_vla"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", "unknown")
        except Exception:
            continue
    return info


def machine_tag(info: dict[str, Any]) -> str:
    if "gpu" in info:
        tag = info["gpu"].replace("NVIDIA ", "").split()[0].lower()
        return f"{tag}x{info.get('gpu_count', 1)}"
    return f"cpu{info.get('cpu_count', 0)}"


def time_call(fn: Callable[[], Any], *, warmup: int = 2, repeat: int = 5, sync: Callable[[], None] | None = None) -> dict[str, float]:
    """Median and spread of ``repeat`` timed calls after ``warmup`` untimed ones (seconds)."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeat": repeat}


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--save", action="store_true", help="also write benchmarks/results/<name>-<machine>-<date>.json")
    p.add_argument("--out", type=Path, help="write the JSON here (as well as to stdout)")
    return p


def emit(name: str, figures: dict[str, Any], args: argparse.Namespace | None = None, **context: Any) -> dict[str, Any]:
    """Print the benchmark's JSON and save it if asked. Returns the full record."""
    info = machine()
    record = {
        "benchmark": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        **context,
        "figures": figures,
    }
    text = json.dumps(record, indent=2, default=str)
    print(text)
    if args is not None and getattr(args, "save", False):
        RESULTS.mkdir(parents=True, exist_ok=True)
        day = record["date"][:10]
        (RESULTS / f"{name}-{machine_tag(info)}-{day}.json").write_text(text + "\n")
    if args is not None and getattr(args, "out", None):
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return record
