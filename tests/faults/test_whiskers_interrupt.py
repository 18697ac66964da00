"""An interrupted whisker run keeps what it recorded and drew, in metrics.json marked partial."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from salt_vla_so101.policies import HoldPolicy
from salt_vla_whiskers.visualizer import WhiskerVisualizer

from salt_vla.robot import Observation

from .conftest import interrupt_when

pytestmark = pytest.mark.sim


class CtrlCAtStep(HoldPolicy):
    """Holds still; Ctrl-C (KeyboardInterrupt) arrives while it acts at control step ``at``."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.t = at, 0

    def act(self, observation: Observation) -> np.ndarray:
        if self.t == self.at:
            raise KeyboardInterrupt
        self.t += 1
        return super().act(observation)


def test_ctrl_c_during_the_rollout_writes_the_recorded_predictions(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        WhiskerVisualizer(steps=10, every=2, size=(48, 64)).visualize(CtrlCAtStep(at=5), seed=0, out_dir=tmp_path,
                                                                     progress=False)
    document = json.loads((tmp_path / "metrics.json").read_text())
    assert document["partial"] is True and document["error"] == "step 5: interrupted"
    assert [row["step"] for row in document["steps"]] == [0, 2, 4]
    assert document["planned_steps"] == 10 and document["control_steps"] == 5
    assert (tmp_path / "summary.png").is_file()


def test_ctrl_c_while_drawing_keeps_the_frames_drawn(tmp_path: Path) -> None:
    out = tmp_path / "whiskers"
    frames = out / "frames"
    args = ["whiskers", "--policy", "hold", "--steps", "40", "--size", "48x64", "--out", str(out)]
    stopped = interrupt_when(args, lambda: frames.is_dir() and len(list(frames.glob("*.png"))) >= 2)
    assert stopped.returncode != 0
    document = json.loads((out / "metrics.json").read_text())
    drawn = len(list(frames.glob("step_*.png")))
    assert document["partial"] is True and len(document["steps"]) == 40
    assert document["error"].startswith("drawing interrupted after ") and document["error"].endswith(" of 40 frames")
    assert 2 <= drawn < 40 and not (out / "whiskers.mp4").exists()
    assert "marked partial. Re-run the same command for the whole episode" in stopped.stderr
