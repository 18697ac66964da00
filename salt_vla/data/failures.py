"""Unreadable videos: skip with a warning, substitute deterministically, abort when most fail.

A corrupt or truncated file must not kill a multi-day run, and must not go unnoticed either. When an
item's video cannot be decoded, :class:`FailureTracker` warns (:class:`CorruptVideoWarning`), counts
the skip, and the item is served from a substitute video drawn from ``(seed, epoch, index,
attempt)``, so the substitute does not depend on worker assignment. If more than
``max_failure_fraction`` of the videos tried so far have failed (after ``min(20, len)`` tries), the
dataset is broken rather than dirty (wrong root, missing codec): :class:`DatasetFailureError` stops
the run and shows the first errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

from salt_vla.data.decode import VideoDecodeError
from salt_vla.data.seeding import SUBSTITUTE, generator, randint

T = TypeVar("T")

MAX_ATTEMPTS = 16
"""Videos tried for one item (the original and its substitutes) before giving up."""


class CorruptVideoWarning(UserWarning):
    """A video could not be decoded and was replaced by another one."""


class DatasetFailureError(RuntimeError):
    """Most videos of a dataset fail to decode: the dataset, not one file, is broken."""


class FailureTracker:
    """Counts decode attempts and failures of one dataset in one process.

    Attributes:
        skipped: items served from a substitute video so far (in this process; collated batches
            carry an exact per-batch count under ``"skipped"``).
    """

    def __init__(self, name: str, max_failure_fraction: float = 0.5, min_checks: int = 20, keep: int = 5) -> None:
        if not 0.0 < max_failure_fraction <= 1.0:
            raise ValueError(f"max_failure_fraction must be in (0, 1]; got {max_failure_fraction}.")
        self.name = name
        self.max_failure_fraction = max_failure_fraction
        self.min_checks = min_checks
        self.keep = keep
        self.attempts = 0
        self.failures = 0
        self.skipped = 0
        self.first_errors: list[str] = []
        self._known_bad: dict[int, VideoDecodeError] = {}

    def load(self, index: int, size: int, seed: int, epoch: int, load: Callable[[int, int], T]) -> tuple[T, int]:
        """``load(candidate, attempt)`` for ``index``, then for substitutes until one succeeds.

        Returns the result and the number of videos skipped for it. Only :class:`VideoDecodeError`
        counts as a skip; any other exception is a bug and propagates.
        """
        candidate = index
        for attempt in range(MAX_ATTEMPTS):
            self.attempts += 1
            try:
                if candidate in self._known_bad:  # decoding a bad file fails the same way every time
                    raise self._known_bad[candidate]
                result = load(candidate, attempt)
            except VideoDecodeError as error:
                self._known_bad[candidate] = error
                self.failures += 1
                if len(self.first_errors) < self.keep and str(error) not in self.first_errors:
                    self.first_errors.append(str(error))
                self._check(size)
                substitute = randint(generator(SUBSTITUTE, seed, epoch, index, attempt), 0, size - 1)
                warnings.warn(
                    f"{self.name}: skipping unreadable video {candidate} for item {index} ({error}); "
                    f"using video {substitute} instead.", CorruptVideoWarning, stacklevel=2,
                )
                candidate = substitute
                continue
            if attempt:
                self.skipped += 1
            return result, attempt
        raise DatasetFailureError(
            f"{self.name}: item {index} and {MAX_ATTEMPTS - 1} substitutes all failed to decode. "
            f"First errors:\n  " + "\n  ".join(self.first_errors)
        )

    def _check(self, size: int) -> None:
        if self.attempts >= min(self.min_checks, size) and self.failures > self.max_failure_fraction * self.attempts:
            raise DatasetFailureError(
                f"{self.name}: {self.failures} of the {self.attempts} videos read so far failed to decode "
                f"(more than {self.max_failure_fraction:.0%}); the dataset looks broken (wrong root or "
                f"extension, missing codec, truncated copy). First errors:\n  " + "\n  ".join(self.first_errors)
            )
