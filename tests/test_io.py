"""Checksums of files."""

from __future__ import annotations

import hashlib

from robqunn.io import file_digests, sha256_file


def test_file_digests_match_hashlib(tmp_path):
    """Several digests from one read equal hashlib's on the whole bytes (more than one 1 MiB block)."""
    data = bytes(range(256)) * 5000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_digests(path, "sha256", "md5") == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
