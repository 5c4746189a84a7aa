"""A killed Snakemake leaves its lock; the next plain `snakemake` removes it when nothing holds it.

Snakemake locks a working folder with files in .snakemake/locks/ that name the files its run reads and writes,
and removes them when it ends. SIGKILL (an out-of-memory killer, a cluster's pre-emption, `kill -9`) leaves them,
and every later run stops with "Directory cannot be locked" until the user finds `snakemake --unlock`. Those
files cannot say whether their run still lives, so robqunn adds what can: every main Snakemake process of the
study holds a shared flock on .snakemake/robqunn.run.lock for its whole life, and the kernel drops a flock when
its process dies, however it dies. A process that can take the flock exclusively is therefore alone: any lock
files then present belong to a dead run, and it removes them before Snakemake looks (Snakemake parses the
Snakefile, which calls :func:`hold_and_clear_stale`, before it takes its own lock). A run that finds another
process alive leaves the lock files alone, and Snakemake's own check decides as before.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

RUN_LOCK = "robqunn.run.lock"  # in .snakemake/, beside Snakemake's own locks/
_held: list = []  # the open handle: closing it (or the process ending) drops the flock


def hold_and_clear_stale(snakemake_dir: str | Path = ".snakemake") -> list[Path]:
    """Hold the study's run flock (shared) for this process's life; if no other Snakemake process of the study
    lives, first remove the lock files a killed run left, and return them."""
    folder = Path(snakemake_dir)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / RUN_LOCK, "a+")  # noqa: SIM115 - held open on purpose, until the process ends
    stale = []
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # another run of the study is alive: its lock files are its own
    else:
        stale = sorted((folder / "locks").glob("*.lock"))
        for path in stale:
            path.unlink(missing_ok=True)
    fcntl.flock(handle, fcntl.LOCK_SH)  # from exclusive (or none) to shared: other runs may start beside it
    _held.append(handle)  # not inherited by the jobs it starts (Python's default), so it dies with this process
    return stale


def stale_lock_message(stale: list[Path]) -> str:
    """What a run that removed a dead run's lock files tells its user."""
    return (
        f"removed the lock a killed Snakemake left ({len(stale)} files in {stale[0].parent}): no other run of the "
        "study is alive; its unfinished jobs rerun (rerun-incomplete)"
    )
