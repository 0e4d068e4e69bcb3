"""The WSClean call for one calibrated group: image geometry from the data, options from config."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import staging
from ..settings import Imaging
from . import psf


@dataclass(frozen=True)
class Geometry:
    """Pixel size and image size from the group's restoring beam (`psf.predicted_beam`):
    ``pixels_per_beam`` pixels across its minor axis, the field of view covered."""

    scale_arcsec: float
    size: int
    uv_max: float  # longest unflagged baseline, wavelengths at the top frequency
    beam: psf.Beam  # the restoring beam WSClean is told to use


def image_geometry(ms: str, fov_deg: float, pixels_per_beam: float, robust: float) -> Geometry:
    """Pixels of at most 1/``pixels_per_beam`` of the restoring beam's minor axis (rounded down
    to 0.01"), whatever the declination and the antennas; the size covers ``fov_deg`` (a
    multiple of 64)."""
    beam, uv_max = psf.predicted_beam(ms, fov_deg, robust)
    scale = math.floor(100.0 * beam.minor_arcsec / pixels_per_beam) / 100.0
    size = int(math.ceil(fov_deg * 3600.0 / scale / 64.0)) * 64
    return Geometry(scale, size, uv_max, beam)


def command(ms: str, prefix: str, geom: Geometry, settings: Imaging) -> list[str]:
    """The WSClean command line: MFS over the band, Briggs weighting, auto-mask and auto-threshold,
    restoring with the group's own beam (`psf`).

    WSClean does not write its model back into the MS (that would be one more prediction and
    a write of the whole column, into the calibrated MS itself when nothing was subtracted).
    WSClean's temporary files go beside ``prefix`` (by default they land in the working
    directory, named after the MS, where parallel jobs would collide). Threads and memory
    are the job's, not the image's: `with_resources` adds them when it runs.
    """
    cmd = [
        "wsclean",
        "-name",
        prefix,
        "-size",
        str(geom.size),
        str(geom.size),
        "-scale",
        f"{geom.scale_arcsec}asec",
        "-weight",
        "briggs",
        str(settings.robust),
        "-niter",
        str(settings.niter),
        "-mgain",
        str(settings.mgain),
        "-auto-mask",
        str(settings.auto_mask),
        "-auto-threshold",
        str(settings.auto_threshold),
        "-beam-shape",
        f"{geom.beam.major_arcsec:.3f}asec",
        f"{geom.beam.minor_arcsec:.3f}asec",
        f"{geom.beam.pa_deg:.3f}deg",
        "-no-dirty",
        "-no-update-model-required",
        "-temp-dir",
        str(Path(prefix).parent),
    ]
    if settings.local_rms:
        cmd.append("-local-rms")
    if settings.baseline_averaging_s > 0:
        cmd += ["-baseline-averaging", f"{baseline_averaging_wavelengths(geom, settings.baseline_averaging_s):.3f}"]
    return cmd + [str(a) for a in settings.extra_args] + [ms]


def baseline_averaging_wavelengths(geom: Geometry, seconds: float) -> float:
    """WSClean's -baseline-averaging size: the uv distance (wavelengths) the longest baseline
    moves through in ``seconds`` of Earth rotation (shorter baselines average longer)."""
    return geom.uv_max * 2.0 * math.pi * seconds / 86400.0


def version() -> str:
    out = subprocess.run(["wsclean", "--version"], capture_output=True, text=True, check=False).stdout
    return next((line.strip() for line in out.splitlines() if "version" in line.lower()), "unknown")


def with_resources(cmd: list[str], threads: int, mem_gb: float) -> list[str]:
    """``cmd`` told to use ``threads`` threads and at most ``mem_gb`` GB."""
    return [cmd[0], "-j", str(threads), "-abs-mem", f"{mem_gb:.1f}", *cmd[1:]]


@dataclass(frozen=True)
class Job:
    """The job's threads and memory (GB) WSClean may use, and the log it writes to."""

    threads: int
    mem_gb: float
    log_path: Path | None = None


@contextmanager
def running(cmd: list[str], job: Job) -> Iterator[None]:
    """WSClean at work with the job's threads and memory (output appended to its log) while
    the with-block runs, which may use the other core but not WSClean's products; waited for
    at the end of the block. Raise naming the MS and the log on failure."""
    cmd, log_path = with_resources(cmd, job.threads, job.mem_gb), job.log_path
    with open(log_path or "/dev/null", "a") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield
        except BaseException:
            process.kill()
            raise
        finally:
            returncode = process.wait()
    if returncode != 0:
        note = staging.disk_space_note(Path(cmd[-1]).parent)
        raise RuntimeError(f"WSClean failed on {cmd[-1]} (exit {returncode}); see {log_path}{note}")
