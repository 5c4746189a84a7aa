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


def _zip_with(path, members: list[tuple[str, bytes]], date: tuple, mode: int) -> None:
    """A zip archive of ``members`` in the order given, each dated ``date`` with Unix mode ``mode``, deflated."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=date)
            info.external_attr = mode << 16
            z.writestr(info, data, zipfile.ZIP_DEFLATED)


def test_normalize_zip_gives_bytes_of_the_names_and_contents_alone(tmp_path):
    """Two archives of equal members, written in another order, at other dates, with other modes, become
    byte-identical; every member is kept, dated 1980-01-01, and edit changes only the contents."""
    import zipfile

    from robqunn.io import ZIP_EPOCH, normalize_zip

    members = [("config.json", b'{"a": 1}'), ("metadata.json", b"2026-01-01"), ("w.h5", bytes(range(256)) * 40)]
    _zip_with(tmp_path / "a.zip", members, (2026, 1, 2, 3, 4, 6), 0o600)
    _zip_with(tmp_path / "b.zip", members[::-1], (2027, 5, 6, 7, 8, 10), 0o755)
    assert (tmp_path / "a.zip").read_bytes() != (tmp_path / "b.zip").read_bytes()
    for name in ("a.zip", "b.zip"):
        normalize_zip(tmp_path / name, lambda member, data: b"undated" if member == "metadata.json" else data)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        assert z.namelist() == ["config.json", "metadata.json", "w.h5"]
        assert {info.date_time for info in z.infolist()} == {ZIP_EPOCH}
        assert z.read("metadata.json") == b"undated" and z.read("w.h5") == members[2][1]


def test_save_npz_bytes_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    """The same arrays saved a day apart (the clock moved) give the same bytes: no member is dated now."""
    import time

    from robqunn.io import save_npz

    arrays = {"x": np.arange(12, dtype=np.float32).reshape(3, 4), "name": np.str_("cnn")}
    save_npz(tmp_path / "a.npz", **arrays)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 86400)
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
