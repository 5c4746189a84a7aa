"""Stage prepare: the seeded split of the digits, with its sha256 sidecar."""

from __future__ import annotations

import logging
from pathlib import Path

from robqunn.config import (
    DataParams,
)
from robqunn.data import prepare_dataset

logger = logging.getLogger(__name__)


def run(data: DataParams, seed: int, out: str | Path) -> dict:
    """Prepare the digits of the ``data`` section for ``seed``; returns the sidecar (with the sha256)."""
    dataset = prepare_dataset(data, seed)
    metadata = {"source": data.source.value, "idx_dir": str(data.idx_dir) if data.idx_dir else None, "seed": seed}
    sidecar = dataset.save(out, metadata)
    logger.info("prepared %d train / %d test digits -> %s", len(dataset.y_train), len(dataset.y_test), out)
    return sidecar
