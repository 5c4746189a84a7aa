"""Checksums of files, and atomic writes."""

from __future__ import annotations

import hashlib
import json

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


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """SIGKILL skips atomic_path's cleanup; the next write of the same path removes the litter, and only it."""
    from robqunn.io import save_json

    target = tmp_path / "table.json"
    litter = tmp_path / ".table.json.abc123.tmp.json"
    litter.write_text("half")
    unrelated = tmp_path / ".other.json.abc123.tmp.json"
    unrelated.write_text("another job's")
    save_json(target, {"a": 1})
    assert not litter.exists() and unrelated.exists() and json.loads(target.read_text()) == {"a": 1}
