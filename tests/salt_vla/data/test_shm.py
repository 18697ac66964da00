from __future__ import annotations

from pathlib import Path

import pytest
import torch

from salt_vla.data import SharedMemoryError, check_shared_memory, nbytes


def test_shared_memory_shortage_is_an_error_with_the_arithmetic(tmp_path: Path) -> None:
    batch = {"video": torch.zeros(2, 3, 4, 8, 8, dtype=torch.uint8), "latents": torch.zeros(2, 16, 8),
             "view": [None, None]}
    assert nbytes(batch) == 2 * 3 * 4 * 8 * 8 + 2 * 16 * 8 * 4
    fits = check_shared_memory(nbytes(batch), num_workers=4, path=tmp_path)
    assert fits["needed_gib"] < fits["free_gib"]
    with pytest.raises(SharedMemoryError, match=r"8 workers x 2 prefetched batches .* --shm-size"):
        check_shared_memory(1 << 50, num_workers=8, prefetch_factor=2, path=tmp_path)
    assert check_shared_memory(1 << 50, num_workers=0, path=tmp_path)["needed_gib"] == 0
