"""Checksums of files, and atomic writes."""

from __future__ import annotations

import hashlib
import json

import numpy as np

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


def test_save_npz_is_an_npz_that_numpy_reads(tmp_path):
    """save_npz writes what np.savez_compressed writes (deflated .npy members), at zlib's fastest level:
    np.load gives back every array with its dtype and shape."""
    import zipfile

    from robqunn.io import save_npz

    arrays = {
        "x": np.random.default_rng(0).random((5, 28, 28), dtype=np.float32),
        "y": np.arange(5),
        "name": np.str_("cnn"),
    }
    save_npz(tmp_path / "a.npz", **arrays)
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        assert sorted(z.namelist()) == ["name.npy", "x.npy", "y.npy"]
        assert {info.compress_type for info in z.infolist()} == {zipfile.ZIP_DEFLATED}
    with np.load(tmp_path / "a.npz", allow_pickle=False) as loaded:
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == np.asarray(value).dtype
