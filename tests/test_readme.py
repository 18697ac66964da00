"""The README keeps its contract: exactly two copy-paste commands, and an API tour that runs."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_exactly_two_commands_marked_for_ci():
    blocks = re.findall(r"<!-- ci:(\w+) -->\n```bash\n(.+?)\n```", README)
    assert [name for name, _ in blocks] == ["main", "test"]
    for _, command in blocks:
        assert "\n" not in command and command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert "salt-vla quickstart" in blocks[0][1] and "pytest" in blocks[1][1]


def test_api_tour_runs():
    tour = re.search(r"## API tour\n\n```python\n(.+?)\n```", README, re.S).group(1)
    namespace: dict = {}
    exec(compile(tour, "README.md", "exec"), namespace)
    assert namespace["loss"].ndim == 0 and namespace["loss"].requires_grad
    assert namespace["lr"](300) == 3e-4 and namespace["lr"](10_000) == 3e-5
