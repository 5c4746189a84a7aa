"""robqunn.runlock: the lock files a killed Snakemake leaves are removed by the next run, never a live run's."""

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
    print(len(hold_and_clear_stale(sys.argv[1])), flush=True)
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
