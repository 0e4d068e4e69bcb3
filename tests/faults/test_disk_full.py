"""The disk fills up during a run (the work area on a small tmpfs): the jobs that could not
write fail naming the cause, no half-written product is kept, and once space is freed a
plain re-run completes the night with products identical to an uninterrupted run."""

import os
import shutil
import subprocess

import pytest

from conftest import TINY_IMAGE_QA, assert_same_products, deploy, run
from contimg import fingerprint

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a tmpfs needs root")


def mount_tmpfs(path, size: str, remount: bool = False) -> None:
    options = f"remount,size={size}" if remount else f"size={size}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)


def test_a_full_disk_loses_nothing_and_the_run_resumes_once_space_is_freed(tmp_path, tiny_run):
    workdir = deploy(tmp_path, scale="tiny", image_qa=TINY_IMAGE_QA)
    work = workdir / "work"
    work.mkdir()
    mount_tmpfs(work, "60m")  # the raw night, its Measurement Sets and caltables fit; the images do not
    try:
        assert run(workdir, "inventory").returncode == 0
        first = run(workdir, "--keep-going")
        assert first.returncode != 0
        # Python says ENOSPC; WSClean crashes (SIGSEGV) and the workflow adds that the disk is full
        assert "No space left on device" in first.stderr or "MiB: is it full?" in first.stderr
        assert fingerprint.products(work) and not (work / "lightcurves").exists()
        assert_same_products(
            work, tiny_run / "work", partial=True
        )  # what is there is whole: as an uninterrupted run made it
        assert not [p for p in work.rglob(".*") if p.name != ".snakemake_timestamp"], "private copies left"

        mount_tmpfs(work, "400m", remount=True)  # space freed
        second = run(workdir)
        assert second.returncode == 0, second.stderr[-3000:]
        assert_same_products(work, tiny_run / "work")
    finally:
        subprocess.run(["umount", str(work)], check=False)
