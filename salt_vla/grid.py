"""The token grid type, shared by the interfaces and the masks (no imports: neither depends on the other)."""

from __future__ import annotations

Grid = tuple[int, int, int]
"""Token grid ``(t', h', w')`` of a clip after tubelet patching."""
