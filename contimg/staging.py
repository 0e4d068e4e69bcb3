"""Private directories of a job: a product written under a private name and renamed into
place (readers and Snakemake never see half a Measurement Set), and scratch space.

A job killed mid-write (SIGKILL, a node lost) leaves its private directory behind; the
next job for the same product removes it before starting, so a crash costs no disk space
for long and leaves nothing that looks like a product.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_directory(final: Path):
    """Yield a fresh private path beside ``final``; on success rename it to ``final``, on
    any error (or interruption) remove it."""
    for stale in final.parent.glob(f".{final.name}.*.tmp"):  # left by a killed job
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def scratch_directory(path: Path):
    """Yield ``path`` as a fresh, empty directory (what a killed job left there is removed
    first), and remove it with everything in it when the block ends, however it ends."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def disk_space_note(path: str | os.PathLike) -> str:
    """'' or, when the file system holding ``path`` is (nearly) full, a sentence saying so:
    for errors of tools that crash instead of reporting ENOSPC (WSClean segfaults)."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return ""
    if usage.free >= max(256 << 20, usage.total // 100):
        return ""
    return (
        f"; the file system holding {path} has only {usage.free >> 20} MiB free of {usage.total >> 20} MiB: is it full?"
    )
