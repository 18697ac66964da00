"""examples/quickstart.ipynb runs headless (small settings) so it never rots."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel's ``tempfile`` directory, inside pytest's (which prunes old runs): the notebooks' ``mkdtemp``
    outputs (the bridge run alone is about 270 MB) must not pile up in the machine's /tmp, run after run."""
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    return private


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("SALT_VLA_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    private = _private_tmp(tmp_path, monkeypatch)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert list(private.glob("*/student/config.json"))  # the notebook's checkpoint went to the private directory
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "time-arrow accuracy" in outputs and "torch.Size([2, 96])" in outputs
    assert os.environ["SALT_VLA_NOTEBOOK_SMALL"] == "1"


BRIDGE = NOTEBOOK.parent / "bridge.ipynb"


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.lerobot
def test_bridge_notebook_executes(tmp_path, monkeypatch):
    pytest.importorskip("lerobot")
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("SALT_VLA_EXAMPLES", str(BRIDGE.parent))
    private = _private_tmp(tmp_path, monkeypatch)
    notebook = nbformat.read(BRIDGE, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "demos: 1 episodes" in outputs and "probe clips" in outputs
    assert "probe accuracy student" in outputs and "salt_finetuned" in outputs
    assert "# Bridge experiment (tiny preset)" in outputs
    assert list(private.glob("*/bridge"))  # the run went to the private directory, not the machine's /tmp
