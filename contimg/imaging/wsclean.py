"""The WSClean call for one calibrated group: image geometry from the data, options from config."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from casacore.tables import table

from .. import staging
from ..geometry import C_LIGHT

PRODUCTS = ("image", "residual", "psf", "model")  # WSClean's outputs the workflow keeps


# The restoring beam's minor axis is never below ~0.9 / uv_max on DSA-110 data (0.92 with
# Briggs 0 on the demo); pixels are sized from 0.8 / uv_max to keep the margin.
BEAM_OVER_RESOLUTION = 0.8


@dataclass(frozen=True)
class Geometry:
    """Pixel size and image size: pixels of 1/``pixels_per_beam`` of the narrowest beam."""

    scale_arcsec: float
    size: int
    resolution_arcsec: float  # 1 / (longest baseline in wavelengths at the top frequency)


def image_geometry(ms: str, fov_deg: float, pixels_per_beam: float) -> Geometry:
    """Pixels of (0.8 / uv_max) / ``pixels_per_beam``, at most 1/``pixels_per_beam`` of the
    synthesised beam (checked again by the image QA); the size covers ``fov_deg`` (a multiple of 64)."""
    with table(ms, ack=False) as main:
        uvw = main.getcol("UVW")
        flags = main.getcol("FLAG_ROW") | (main.getcol("ANTENNA1") == main.getcol("ANTENNA2"))
    with table(f"{ms}/SPECTRAL_WINDOW", ack=False) as spw:
        top = max(float(np.max(spw.getcell("CHAN_FREQ", k))) for k in range(spw.nrows()))
    uv_max = float(np.hypot(uvw[~flags, 0], uvw[~flags, 1]).max()) * top / C_LIGHT
    resolution = math.degrees(1.0 / uv_max) * 3600.0
    scale = round(BEAM_OVER_RESOLUTION * resolution / pixels_per_beam, 2)
    size = int(math.ceil(fov_deg * 3600.0 / scale / 64.0)) * 64
    return Geometry(scale, size, resolution)


def command(ms: str, prefix: str, geom: Geometry, img_cfg: dict) -> list[str]:
    """The WSClean command line: MFS over the band, Briggs weighting, auto-mask and auto-threshold.

    WSClean does not write its model back into the MS (that would be one more prediction and
    a write of the whole column, into the calibrated MS itself when nothing was subtracted).
    WSClean's temporary files go beside ``prefix`` (by default they land in the working
    directory, named after the MS, where parallel jobs would collide). Threads and memory
    are the job's, not the image's: `with_resources` adds them when it runs.
    """
    cmd = ["wsclean", "-name", prefix, "-size", str(geom.size), str(geom.size), "-scale", f"{geom.scale_arcsec}asec",
           "-weight", "briggs", str(img_cfg["robust"]), "-niter", str(img_cfg["niter"]), "-mgain", str(img_cfg["mgain"]),
           "-auto-mask", str(img_cfg["auto_mask"]), "-auto-threshold", str(img_cfg["auto_threshold"]),
           "-no-dirty", "-no-update-model-required", "-temp-dir", str(Path(prefix).parent)]  # fmt: skip
    if img_cfg["local_rms"]:
        cmd.append("-local-rms")
    if img_cfg["baseline_averaging_s"] > 0:
        cmd += ["-baseline-averaging", f"{baseline_averaging_wavelengths(geom, img_cfg['baseline_averaging_s']):.3f}"]
    return cmd + [str(a) for a in img_cfg["extra_args"]] + [ms]


def baseline_averaging_wavelengths(geom: Geometry, seconds: float) -> float:
    """WSClean's -baseline-averaging size: the uv distance (wavelengths) the longest baseline
    moves through in ``seconds`` of Earth rotation (shorter baselines average longer)."""
    uv_max = 1.0 / math.radians(geom.resolution_arcsec / 3600.0)
    return uv_max * 2.0 * math.pi * seconds / 86400.0


def version() -> str:
    out = subprocess.run(["wsclean", "--version"], capture_output=True, text=True, check=False).stdout
    return next((line.strip() for line in out.splitlines() if "version" in line.lower()), "unknown")


def with_resources(cmd: list[str], threads: int, mem_gb: float) -> list[str]:
    """``cmd`` told to use ``threads`` threads and at most ``mem_gb`` GB."""
    return [cmd[0], "-j", str(threads), "-abs-mem", f"{mem_gb:.1f}", *cmd[1:]]


@contextmanager
def running(cmd: list[str], log_path: Path | None, threads: int, mem_gb: float) -> Iterator[None]:
    """WSClean at work with the job's threads and memory (output appended to ``log_path``)
    while the with-block runs, which may use the other core but not WSClean's products;
    waited for at the end of the block. Raise naming the MS and the log on failure."""
    cmd = with_resources(cmd, threads, mem_gb)
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
