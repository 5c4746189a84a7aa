"""Atomic file output and checksums.

Every artifact is written to a temporary file in the destination folder and moved into place only
when complete, so a crash or a validation error never leaves a half-written file that a later step
(Snakemake, DVC) would take for a finished one. Equal content gives equal bytes (no date or random
salt in a file), so that a rerun with the same inputs leaves every hash that DVC, MLflow and later files
record unchanged.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    A temporary file of ``path`` left by a killed writer (SIGKILL skips the cleanup below) is removed first:
    one job writes one path, so any such file is litter.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp{glob.escape(path.suffix)}"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; the file must get what open() would give it
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


NPZ_COMPRESSLEVEL = 1  # zlib's fastest: 4x faster than numpy's default (6), files 25% larger (adversarial sets)


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """Write a compressed .npz atomically: what np.savez_compressed writes (np.load reads it), at zlib
    level :data:`NPZ_COMPRESSLEVEL`, because a study writes hundreds of them.

    Equal arrays give equal bytes: ZipFile.open, unlike ZipFile.writestr, dates a member it names
    :data:`ZIP_EPOCH` (ZipInfo's default) rather than now, and gives it mode 0600 (tested).
    """
    with (
        atomic_path(path) as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=NPZ_COMPRESSLEVEL) as z,
    ):
        for name, array in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can hold: the usual fixed date
ZIP_MEMBER_MODE = 0o644
_UNIX = 3  # ZipInfo.create_system: what made the archive, else the platform's code (0 on Windows)


def normalize_zip(path: str | Path, edit: Callable[[str, bytes], bytes] | None = None) -> None:
    """Rewrite the zip archive ``path`` in place so that its bytes depend on its members' names and contents
    alone: members in name order, each dated :data:`ZIP_EPOCH`, of mode :data:`ZIP_MEMBER_MODE`, stored
    uncompressed. ``edit(name, data)`` may first replace a member's contents (a date that a writer put in one).

    For archives that a library writes its own way (Keras' .keras, whose members it dates now): call it on the
    temporary file of :func:`atomic_path`, so that the archive appears in place only once rewritten.
    """
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(members):
            data = members[name] if edit is None else edit(name, members[name])
            archive.writestr(_fixed_member(name), data)


def _fixed_member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.create_system = _UNIX
    info.external_attr = ZIP_MEMBER_MODE << 16
    return info


def save_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write a JSON file atomically (sorted keys, so equal content gives equal bytes)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return file_digests(path, "sha256")["sha256"]


def sha256_json(payload: Any) -> str:
    """Hex SHA-256 of ``payload`` as canonical JSON (keys sorted, no spaces): equal values give equal digests."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sha256_tree(root: str | Path, pattern: str = "*.py") -> str:
    """Hex SHA-256 of the files under ``root`` that match ``pattern``: each one's path relative to ``root``, in
    order, and its bytes."""
    root, digest = Path(root), hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_digests(path: str | Path, *algorithms: str) -> dict[str, str]:
    """Hex digests of a file's bytes for each hashlib ``algorithm``, in one read of the file.

    ``md5`` is the hash DVC records for a file output (``md5`` in dvc.lock).
    """
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}
