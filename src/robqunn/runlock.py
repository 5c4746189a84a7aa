"""A killed Snakemake leaves its lock and its unfinished outputs; the next plain `snakemake` clears them, when no
other run of the study is alive.

Snakemake locks a working folder with files in .snakemake/locks/ that name the files its run reads and writes,
and marks each running job's outputs incomplete (.snakemake/incomplete/); it removes both when it ends. A kill
(SIGKILL from an out-of-memory killer or a cluster's pre-emption, or Ctrl-C landing as a job ends) can leave
them, and a later plain `snakemake --cores N` then stops with "Directory cannot be locked" or "The files below
seem to be incomplete" until the user finds `--unlock` and `--rerun-incomplete`. Those files cannot say whether
their run still lives, so robqunn adds what can: every main Snakemake process of the study holds a shared flock
on .snakemake/robqunn.run.lock for its whole life, and the kernel drops a flock when its process dies, however it
dies. A process that can take the flock exclusively is therefore alone: the lock files and incomplete marks then
present are a dead run's. It removes the lock files, and deletes the outputs marked incomplete with their marks,
which is what `--rerun-incomplete` does before it reruns their jobs; Snakemake then reruns them as missing. This
happens while Snakemake parses the Snakefile (:func:`hold_and_clear_stale`), before it looks at either. A run that
finds another process alive touches nothing, and Snakemake's own checks decide as before. (A flock is local to a
machine: two login nodes sharing one study folder over NFS are not seen by each other.)
"""

from __future__ import annotations

import fcntl
import shutil
from base64 import urlsafe_b64decode
from dataclasses import dataclass, field
from pathlib import Path

RUN_LOCK = "robqunn.run.lock"  # in .snakemake/, beside Snakemake's own locks/ and incomplete/
_held: list = []  # the open handle: closing it (or the process ending) drops the flock


@dataclass
class Stale:
    """What a dead run left and :func:`hold_and_clear_stale` removed."""

    locks: list[Path] = field(default_factory=list)
    unfinished: list[Path] = field(default_factory=list)  # outputs its killed jobs had marked incomplete

    def __bool__(self) -> bool:
        return bool(self.locks or self.unfinished)


def hold_and_clear_stale(snakemake_dir: str | Path = ".snakemake") -> Stale:
    """Hold the study's run flock (shared) for this process's life; if no other Snakemake process of the study
    lives, first remove the lock files and the unfinished outputs a killed run left, and return them."""
    folder = Path(snakemake_dir)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / RUN_LOCK, "a+")  # noqa: SIM115 - held open on purpose, until the process ends
    stale = Stale()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass  # another run of the study is alive: its lock files and marks are its own
    else:
        stale = Stale(_remove_locks(folder), _remove_unfinished(folder))
    fcntl.flock(handle, fcntl.LOCK_SH)  # from exclusive (or none) to shared: other runs may start beside it
    _held.append(handle)  # not inherited by the jobs it starts (Python's default), so it dies with this process
    return stale


def _remove_locks(folder: Path) -> list[Path]:
    locks = sorted((folder / "locks").glob("*.lock"))
    for path in locks:
        path.unlink(missing_ok=True)
    return locks


def _remove_unfinished(folder: Path) -> list[Path]:
    """Delete each output that an incomplete mark names (inside the working folder only), then the mark. A mark's
    path is the output's name in URL-safe base64, cut into folder-sized pieces, all but the last prefixed '@'
    (snakemake.persistence.file)."""
    marks, workdir, removed = folder / "incomplete", folder.resolve().parent, []
    for mark in sorted(marks.rglob("*")) if marks.is_dir() else []:
        if mark.is_dir() or mark.name == "migration_underway":
            continue
        encoded = "".join(part.removeprefix("@") for part in mark.relative_to(marks).parts)
        output = (workdir / urlsafe_b64decode(encoded).decode()).resolve()
        if output.is_relative_to(workdir) and output != workdir:
            if output.is_dir():
                shutil.rmtree(output)
            elif output.exists():
                output.unlink()
            removed.append(output.relative_to(workdir))
        mark.unlink()
    return removed


def stale_message(stale: Stale) -> str:
    """What a run that cleared a dead run's leftovers tells its user."""
    return (
        f"cleared what a killed Snakemake left ({len(stale.locks)} lock files, {len(stale.unfinished)} unfinished "
        "outputs, now rerun): no other run of the study is alive in this folder"
    )
