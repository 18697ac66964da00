"""Atomic writes leave the previous version intact when the writer fails or is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from salt_vla.io import atomic_directory, atomic_write_json, atomic_write_text, recover_directory


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a" / "report.json"
    atomic_write_json(target, {"v": 1})
    atomic_write_json(target, {"v": 2})
    assert json.loads(target.read_text()) == {"v": 2}
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp files left


def test_nan_is_refused_before_anything_is_written(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_text(target, "old")
    with pytest.raises(ValueError):
        atomic_write_json(target, {"loss": float("nan")})
    assert target.read_text() == "old"


def test_failed_directory_build_keeps_previous(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "w").write_text("one")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "w").write_text("two")
            raise RuntimeError("disk full")
    assert (target / "w").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_kill_9_mid_directory_write_keeps_previous(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "w").write_text("one")
    code = textwrap.dedent(f"""
        import os, time
        from salt_vla.io import atomic_directory
        with atomic_directory({str(target)!r}) as tmp:
            (tmp / "w").write_text("two")
            print("ready", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (recover_directory(target) / "w").read_text() == "one"


def test_recover_after_crash_between_renames(tmp_path):
    target = tmp_path / "ckpt"
    old = tmp_path / "ckpt.old"
    old.mkdir()
    (old / "w").write_text("previous")
    assert (recover_directory(target) / "w").read_text() == "previous"
    assert recover_directory(tmp_path / "missing") is None


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_and_directories_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        file = atomic_write_text(tmp_path / "report.md", "hello")
        with atomic_directory(tmp_path / "ckpt") as tmp:
            (tmp / "weights.bin").write_bytes(b"w")
            os.close(os.open(tmp / "private.safetensors", os.O_CREAT | os.O_WRONLY, 0o600))  # as safetensors does
    finally:
        os.umask(old)
    assert file.stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "ckpt").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "ckpt" / "weights.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "ckpt" / "private.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_the_umask_is_read_without_changing_it():
    from salt_vla.io import current_umask

    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # unchanged by the read
    finally:
        os.umask(old)
