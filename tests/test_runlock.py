"""robqunn.runlock: the lock files and unfinished outputs a killed Snakemake leaves are cleared by the next run,
never a live run's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from robqunn import runlock

HOLD = textwrap.dedent(
    """
    import sys, time
    from robqunn.runlock import hold_and_clear_stale
    print(len(hold_and_clear_stale(sys.argv[1]).locks), flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def snakemake_locks(folder: Path) -> list[Path]:
    locks = folder / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    for name in ("0.input.lock", "0.output.lock"):
        (locks / name).write_text("results/study/claims.csv\n")
    return sorted(locks.iterdir())


def run_holding(folder: Path, seconds: float) -> subprocess.Popen:
    """A process that takes the run flock as a Snakemake of the study does, prints how many stale files it removed,
    and lives ``seconds``."""
    return subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True)


def test_a_dead_runs_lock_is_removed_and_a_live_runs_kept(tmp_path):
    """With a live run holding the flock, its lock files stay; once it is SIGKILLed (the flock drops with the
    process), the next run removes them."""
    folder = tmp_path / ".snakemake"
    files = snakemake_locks(folder)
    alive = run_holding(folder, 600)
    try:
        assert alive.stdout.readline().strip() == "2"  # alone: the files were a dead run's (none alive)
        files = snakemake_locks(folder)  # the live run's own lock files
        second = run_holding(folder, 0)
        assert second.stdout.readline().strip() == "0" and second.wait(timeout=60) == 0
        assert all(path.exists() for path in files)
    finally:
        alive.kill()
        alive.wait(timeout=60)
    after = run_holding(folder, 0)
    assert after.stdout.readline().strip() == "2" and after.wait(timeout=60) == 0
    assert not any(path.exists() for path in files)


def test_the_run_keeps_its_flock_while_it_lives(tmp_path):
    """In the process that called it, the flock stays held (a shared one), so a later run sees it alive."""
    folder = tmp_path / ".snakemake"
    runlock.hold_and_clear_stale(folder)
    try:
        snakemake_locks(folder)
        other = run_holding(folder, 0)
        assert other.stdout.readline().strip() == "0" and other.wait(timeout=60) == 0
    finally:
        runlock._held.pop().close()


def test_a_dead_runs_unfinished_outputs_are_deleted_with_their_marks(tmp_path):
    """Outputs that a killed job had marked incomplete (Snakemake's own marks, a long name cut into pieces too) are
    deleted, file or folder, so that Snakemake reruns their jobs as --rerun-incomplete would; a mark naming a path
    outside the working folder deletes nothing there."""
    workdir = tmp_path / "study"
    folder = workdir / ".snakemake"
    outputs = [Path("results/radii/seed42/qunn-full-ent_rot.json"), Path("results/adversarial/seed42/pgd/cnn")]
    long_name = Path("results", *["d" * 50] * 5, "f.csv")  # its mark's name is longer than a file name may be
    outside = tmp_path / "outside.txt"
    for output in [*outputs, long_name]:
        (workdir / output).parent.mkdir(parents=True, exist_ok=True)
    (workdir / outputs[0]).write_text("{")
    (workdir / outputs[1]).mkdir()
    (workdir / outputs[1] / "eps0.1.npz").write_bytes(b"half")
    (workdir / long_name).write_text("a,b")
    outside.write_text("keep")
    for output in [*outputs, long_name, Path("../outside.txt")]:
        mark(folder, str(output))
    stale = runlock.hold_and_clear_stale(folder)
    try:
        assert sorted(stale.unfinished) == sorted([*outputs, long_name])
        assert not any((workdir / output).exists() for output in [*outputs, long_name])
        assert outside.read_text() == "keep"
        assert [p for p in (folder / "incomplete").rglob("*") if p.is_file()] == []
    finally:
        runlock._held.pop().close()


def mark(folder: Path, key: str) -> None:
    """Snakemake's own incomplete mark for output ``key``, at the path its file persistence gives it (URL-safe
    base64, cut into folder-sized pieces): a change of Snakemake's format fails this test."""
    from snakemake.persistence.file import FilePersistence

    persistence = object.__new__(FilePersistence)  # only its path arithmetic, not a store
    persistence._max_len = None
    (folder / "incomplete").mkdir(parents=True, exist_ok=True)
    path = Path(persistence._record_path(str(folder / "incomplete"), key))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"external_jobid": null}')
