"""Seeded random streams: one study seed, an independent stream per purpose.

Never global seeding: each random choice asks for its own generator, keyed by the study seed and a
purpose string, so adding a new random choice does not shift the numbers of the existing ones.
"""

from __future__ import annotations

import zlib

import numpy as np


def rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose (e.g. "rotations") of one study seed."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def derived_seed(seed: int, purpose: str) -> int:
    """An integer seed for libraries that take one (Keras initializers, tf.data shuffling)."""
    return int(rng(seed, purpose).integers(2**31 - 1))
